//! A real browser on the page: headless Chromium, driven through
//! chromedriver's WebDriver HTTP API, uploads two images through the form,
//! watches the progress appear, and downloads the result.
//!
//! Needs `chromium` and `chromedriver` (Debian: `chromium`,
//! `chromium-driver`); without them the test says so and passes, unless
//! RESTYLE_REQUIRE_ALL_TESTS=1. With RESTYLE_SCREENSHOTS=DIR it also saves
//! screenshots of the pages there.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use restyle_test_support::{full_soaks, png, require_or_skip, TestServer};
use serde_json::{json, Value};

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session.
struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status();
        let value: Value = response.json().await.unwrap();
        assert!(status.is_success(), "WebDriver {path}: {status} {value}");
        value["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// Chooses `path` in the file input `css` (WebDriver types a file's path into it).
    async fn choose_file(&self, css: &str, path: &Path) {
        let input = self.find(css).await;
        self.post(
            &format!("/element/{input}/value"),
            json!({ "text": path.to_str().unwrap() }),
        )
        .await;
    }

    /// Clicks the element `css`.
    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.post(&format!("/element/{element}/click"), json!({}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .post("/element", json!({ "using": "css selector", "value": css }))
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned()
    }

    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    async fn current_url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_owned()
    }

    async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// A PNG of the window, saved under RESTYLE_SCREENSHOTS if set.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("RESTYLE_SCREENSHOTS") else {
            return;
        };
        let b64 = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let path = Path::new(&dir).join(name);
        std::fs::write(&path, base64_decode(b64.as_str().unwrap())).unwrap();
        eprintln!("saved {}", path.display());
    }

    /// Polls `script` until it returns true.
    async fn wait_until(&self, what: &str, timeout: Duration, script: &str) {
        let start = Instant::now();
        while self.script(script).await != Value::Bool(true) {
            assert!(start.elapsed() < timeout, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .expect("base64 from chromedriver")
}

async fn start_browser(downloads: &Path, profile: &Path) -> Option<(Driver, Browser)> {
    start_browser_with(downloads, profile, &[]).await
}

/// Chromium with `flags` besides the usual ones.
async fn start_browser_with(
    downloads: &Path,
    profile: &Path,
    flags: &[&str],
) -> Option<(Driver, Browser)> {
    let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = find_program(&["chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        require_or_skip(
            "the browser test",
            "chromium and chromedriver are not both installed (apt-get install chromium chromium-driver)",
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let start = Instant::now();
    loop {
        let ready = match http.get(format!("{}/status", driver.url)).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .is_some_and(|v| v["value"]["ready"] == true),
            Err(_) => false,
        };
        if ready {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "chromedriver did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile_flag = format!("--user-data-dir={}", profile.display());
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        // The live mode's camera: Chromium's test pattern, allowed without asking.
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        &profile_flag,
    ];
    args.extend_from_slice(flags);
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": args,
            "prefs": {
                "download.default_directory": downloads,
                "download.prompt_for_download": false,
                "download.directory_upgrade": true
            }
        }
    }}});
    let r = http
        .post(format!("{}/session", driver.url))
        .json(&capabilities)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let session = v["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {v}"))
        .to_owned();
    let browser = Browser {
        http,
        base: format!("{}/session/{session}", driver.url),
    };
    // Let headless Chromium save downloads where the test looks.
    browser
        .post(
            "/goog/cdp/execute",
            json!({ "cmd": "Browser.setDownloadBehavior", "params": { "behavior": "allow", "downloadPath": downloads } }),
        )
        .await;
    Some((driver, browser))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_uploads_two_images_watches_progress_and_downloads_the_result() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    // Small limits so that the form's choices are a small, quick job.
    let s = TestServer::start(&["--max-size", "48", "--max-iterations", "40"]).await;
    let content = tmp.path().join("photo.png");
    let style = tmp.path().join("painting.png");
    std::fs::write(&content, png(64, 48)).unwrap();
    std::fs::write(&style, png(64, 64)).unwrap();

    browser.resize(1280, 1000).await;
    browser.goto(&s.url("/")).await;
    browser.choose_file("#content", &content).await;
    browser.choose_file("#style", &style).await;
    browser
        .wait_until(
            "both previews",
            Duration::from_secs(10),
            "return [...document.querySelectorAll('[data-drop=content] .preview, [data-drop=style] .preview')].every(i => !i.hidden && i.complete && i.naturalWidth > 0)",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('input[name=style_preset]:checked') === null")
            .await,
        true,
        "an uploaded painting replaces the shipped choice"
    );
    browser.screenshot("browser-form.png").await;
    submit_and_open_the_job_page(&browser).await;
    // The optimisation starts from the fast picture this browser painted and sent with the
    // job (the server painted none): the job page says so.
    browser
        .wait_until(
            "the job's settings",
            Duration::from_secs(10),
            "return document.body.textContent.includes('optimised from the fast picture sent with it')",
        )
        .await;
    // Progress appears: the bar moves and the step count shows.
    browser
        .wait_until(
            "progress",
            Duration::from_secs(120),
            "const s = document.querySelector('#step').textContent; \
             return /^[1-9][0-9]* of 40$/.test(s) && document.querySelector('#bar').value > 0",
        )
        .await;
    browser.screenshot("browser-progress.png").await;
    browser
        .wait_until(
            "the download button",
            Duration::from_secs(180),
            "return !document.querySelector('#download').hidden",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('#state').textContent")
            .await,
        "Done"
    );
    browser.screenshot("browser-done.png").await;

    browser.click("#download").await;
    let start = Instant::now();
    let file = loop {
        let done: Vec<PathBuf> = std::fs::read_dir(&downloads)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "png"))
            .collect();
        if let Some(f) = done.first() {
            break f.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no download arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let img = image::open(&file).expect("the download is a valid image");
    assert_eq!((img.width(), img.height()), (48, 36));
    assert!(file
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("restyle-"));

    // The gallery lists it, on a phone-sized screen too.
    browser.resize(390, 844).await;
    browser.goto(&s.url("/")).await;
    assert_eq!(
        browser
            .script("return document.querySelectorAll('.job-card').length")
            .await,
        1
    );
    browser.screenshot("browser-phone.png").await;
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

/// A flat-coloured PNG.
fn flat_png(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::ImageBuffer::from_pixel(w, h, image::Rgb(rgb))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_paints_where_the_second_painting_goes() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "48", "--max-iterations", "40"]).await;
    let photo = tmp.path().join("photo.png");
    let red = tmp.path().join("red.png");
    let blue = tmp.path().join("blue.png");
    // A grey photo with soft stripes (a flat one gives the style nothing to move).
    let mut bytes = Vec::new();
    image::ImageBuffer::from_fn(64, 48, |x, y| {
        let v = (128.0 + 30.0 * ((x + y) as f32 * 0.3).sin()) as u8;
        image::Rgb([v, v, v])
    })
    .write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    std::fs::write(&photo, bytes).unwrap();
    std::fs::write(&red, flat_png(40, 40, [217, 38, 25])).unwrap();
    std::fs::write(&blue, flat_png(40, 40, [25, 64, 217])).unwrap();

    browser.resize(1280, 1400).await;
    browser.goto(&s.url("/")).await;
    for (css, path) in [("#content", &photo), ("#style", &red), ("#style_2", &blue)] {
        browser.choose_file(css, path).await;
    }
    browser
        .wait_until(
            "the photo to paint on",
            Duration::from_secs(10),
            "return !document.querySelector('#paint-area').hidden && document.querySelector('#paint-canvas').width > 0",
        )
        .await;
    // The "Painting 2" brush (the default), wide: three strokes down the
    // right half of the photo, with the mouse.
    browser
        .script("document.querySelector('#brush-size').value = 15; document.querySelector('#paint-canvas').scrollIntoView({ block: 'center' }); return true")
        .await;
    let canvas = browser.find("#paint-canvas").await;
    let rect = browser
        .script("const r = document.querySelector('#paint-canvas').getBoundingClientRect(); return [r.width, r.height]")
        .await;
    let (w, h) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
    let origin = json!({ ELEMENT: canvas });
    let mut moves = Vec::new();
    for fx in [0.65, 0.8, 0.95] {
        // Offsets from the canvas's centre.
        let x = ((fx - 0.5) * w) as i64;
        moves.extend([
            json!({ "type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": (-0.45 * h) as i64 }),
            json!({ "type": "pointerDown", "button": 0 }),
            json!({ "type": "pointerMove", "duration": 150, "origin": origin, "x": x, "y": (0.45 * h) as i64 }),
            json!({ "type": "pointerUp", "button": 0 }),
        ]);
    }
    browser
        .post(
            "/actions",
            json!({ "actions": [{ "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" }, "actions": moves }] }),
        )
        .await;
    // The overlay is blue on the right, clear on the left.
    let painted = browser
        .script(
            "const c = document.querySelector('#paint-canvas'); \
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
             const at = (fx, fy) => d[4 * (Math.floor(fy * c.height) * c.width + Math.floor(fx * c.width)) + 3]; \
             return [at(0.8, 0.5), at(0.1, 0.5)]",
        )
        .await;
    assert!(painted[0].as_u64().unwrap() > 200, "{painted}");
    assert_eq!(painted[1].as_u64().unwrap(), 0, "{painted}");
    browser.screenshot("browser-regions.png").await;
    submit_and_open_the_job_page(&browser).await;
    browser
        .wait_until(
            "the result",
            Duration::from_secs(300),
            "return document.querySelector('#state').textContent === 'Done' || document.querySelector('#state').textContent === 'Failed'",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('#state').textContent")
            .await,
        "Done"
    );
    browser.screenshot("browser-regions-done.png").await;
    // Mean colours of the result's left and right thirds, read in the page.
    let means = browser
        .script(
            "return new Promise((done) => { const i = new Image(); i.onload = () => { \
               const c = document.createElement('canvas'); c.width = i.naturalWidth; c.height = i.naturalHeight; \
               const x = c.getContext('2d'); x.drawImage(i, 0, 0); \
               const d = x.getImageData(0, 0, c.width, c.height).data; \
               const L = [0, 0, 0, 0], R = [0, 0, 0, 0]; \
               for (let p = 0; p < c.width * c.height; p++) { \
                 const X = p % c.width; const s = X < c.width / 3 ? L : X >= 2 * c.width / 3 ? R : null; \
                 if (!s) continue; for (let k = 0; k < 3; k++) s[k] += d[4 * p + k]; s[3]++; } \
               done([L.map((v) => v / L[3]), R.map((v) => v / R[3])]); }; \
             i.src = document.querySelector('#live').src; })",
        )
        .await;
    let channel = |side: usize, c: usize| means[side][c].as_f64().unwrap();
    // Painting 1 (red) where nothing was painted, painting 2 (blue) where it was.
    eprintln!("result: left third {}, right third {}", means[0], means[1]);
    assert!(channel(0, 0) > channel(0, 2) + 40.0, "left {}", means[0]);
    assert!(channel(1, 2) > channel(1, 0) + 40.0, "right {}", means[1]);
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_asks_for_an_instant_picture_and_sees_it() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "64", "--max-iterations", "40"]).await;
    let content = tmp.path().join("photo.png");
    std::fs::write(&content, png(64, 48)).unwrap();

    browser.resize(1280, 1000).await;
    // `?server`: the server's instant lane, which browsers that cannot paint use.
    browser.goto(&s.url("/?server")).await;
    browser.choose_file("#content", &content).await;
    // A shipped painting (the first is chosen), and "Instant".
    browser.click("input[name=method][value=fast]").await;
    assert_eq!(
        browser
            .script("return document.querySelector('select[name=iterations]').disabled")
            .await,
        true,
        "the optimisation's settings are off for an instant picture"
    );
    browser.screenshot("browser-instant-form.png").await;
    submit_and_open_the_job_page(&browser).await;
    // The picture itself is shown: the result, loaded, at the size asked for.
    browser
        .wait_until(
            "the instant picture",
            Duration::from_secs(60),
            "const i = document.querySelector('#live'); \
             return i.src.includes('/result') && i.complete && i.naturalWidth === 64 && i.naturalHeight === 48",
        )
        .await;
    assert_eq!(
        browser
            .script("return document.querySelector('#state').textContent")
            .await,
        "Done"
    );
    assert_eq!(
        browser
            .script("return document.querySelector('#caption').textContent")
            .await,
        "64 × 48 px, instant, painted on the server"
    );
    browser.screenshot("browser-instant-done.png").await;
    // The server stored the job (what the browser-painted test checks is absent).
    assert!(stored_bytes(&s).await > 0);
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

/// Clicks "Paint it" and waits for the browser's `round`th picture.
async fn submit_and_wait_for_browser_picture(browser: &Browser, round: u64) {
    browser.click("#submit").await;
    browser
        .wait_until(
            "the browser's picture",
            // WebGPU on a software adapter (the WebGPU test) takes tens of seconds.
            Duration::from_secs(300),
            &format!(
                "const e = document.querySelector('#form-error'); \
                 if (e && !e.hidden) throw new Error(e.textContent); \
                 return window.restyleBrowser.painted === {round}"
            ),
        )
        .await;
}

/// What the server's images take on disk: 0 while no job reached it.
async fn stored_bytes(s: &TestServer) -> u64 {
    let health: Value = s
        .client
        .get(s.url("/api/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    health["disk_bytes"].as_u64().unwrap()
}

/// An example image resized (Lanczos3), as a PNG file in `dir`.
fn example_png(dir: &Path, example: &str, w: u32, h: u32) -> (PathBuf, Vec<u8>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/images");
    let img = image::open(root.join(example)).unwrap().to_rgb8();
    let img = image::imageops::resize(&img, w, h, image::imageops::FilterType::Lanczos3);
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    let path = dir.join(example.replace('/', "-")).with_extension("png");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// The browser's picture (`window.restyleBrowser.last`) as RGB bytes.
async fn browser_picture(browser: &Browser) -> image::RgbImage {
    let url = browser
        .script(
            "return new Promise((done) => { const r = new FileReader(); \
             r.onload = () => done(r.result); r.readAsDataURL(window.restyleBrowser.last.blob); })",
        )
        .await;
    let b64 = url.as_str().unwrap().split_once(',').unwrap().1;
    image::load_from_memory(&base64_decode(b64))
        .unwrap()
        .to_rgb8()
}

/// The onnxruntime-web files the page has fetched (`ort.mjs`, `ort.webgpu.wasm`, ...).
async fn runtime_files(browser: &Browser) -> Vec<String> {
    let names = browser
        .script(
            "return [...new Set(performance.getEntriesByType('resource') \
               .map((e) => new URL(e.name).pathname.split('/').pop()) \
               .filter((n) => n.startsWith('ort.')))].sort()",
        )
        .await;
    serde_json::from_value(names).unwrap()
}

/// restyle's own fast picture (`restyle --method fast`'s code) of a photo and a painting.
fn native_picture(
    photo: &[u8],
    painting: &[u8],
    size: usize,
    color: restyle::ColorMode,
) -> image::RgbImage {
    use restyle::io::{decode_image, ImageLimits};
    let decode =
        |bytes: &[u8]| decode_image(bytes, Path::new("x.png"), ImageLimits::default()).unwrap();
    let model = restyle_fast::FastStyle::embedded().unwrap();
    let styles = [restyle::StyleImage::new(decode(painting), 1.0)];
    restyle_fast::paint(&model, &decode(photo), size, &styles, 1.0, color, None)
        .unwrap()
        .image
        .to_rgb8()
}

/// (largest, mean) difference in 8-bit levels, and the share of values more than 2 apart.
fn difference(a: &image::RgbImage, b: &image::RgbImage) -> (u8, f64, f64) {
    assert_eq!(a.dimensions(), b.dimensions());
    let d: Vec<u8> = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .collect();
    let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
    let over = d.iter().filter(|&&v| v > 2).count() as f64 / d.len() as f64;
    (*d.iter().max().unwrap(), mean, over)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_paints_the_instant_picture_itself_as_restyle_does_and_uploads_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "200", "--max-iterations", "40"]).await;
    // Sizes that make both pictures resampled: the photo to 200x150 (Lanczos3), the
    // painting's centre 240x240 to the style network's 256x256 (Catmull-Rom).
    let (photo, photo_bytes) = example_png(tmp.path(), "content/tubingen.jpg", 300, 225);
    let (painting, painting_bytes) = example_png(tmp.path(), "style/starry_night.jpg", 300, 240);

    browser.resize(1280, 1000).await;
    browser.goto(&s.url("/")).await;
    fill_instant_form(&browser, &photo, &painting, 200).await;
    submit_and_wait_for_browser_picture(&browser, 1).await;
    assert!(
        browser.current_url().await.ends_with('/'),
        "no job page opens"
    );
    let where_ = browser
        .script("return document.querySelector('#instant-where').textContent")
        .await;
    assert!(
        where_
            .as_str()
            .unwrap()
            .starts_with("Painted in your browser (WebAssembly), 200 × 150 px"),
        "{where_}"
    );
    eprintln!("the page says: {where_}");
    // No WebGPU adapter in this browser: the WebGPU runtime was not even fetched.
    assert_eq!(
        runtime_files(&browser).await,
        ["ort.mjs", "ort.wasm"],
        "the runtime this page fetched"
    );
    browser.screenshot("browser-painted-here.png").await;
    let ours = browser_picture(&browser).await;
    let native = native_picture(&photo_bytes, &painting_bytes, 200, restyle::ColorMode::None);
    let (max, mean, over) = difference(&ours, &native);
    eprintln!("browser vs restyle --method fast, 200x150: max {max} levels, mean {mean:.4}, share over 2 levels {over:.5}");
    // Measured: max 1, mean 0.0002 (both round the same float picture; the resampling
    // and the colour maths are restyle's, written in JavaScript, in f64 instead of f32).
    assert!(max <= 3 && mean < 0.01, "max {max}, mean {mean}");
    // Nothing reached the server: no job, no image stored.
    assert_eq!(
        stored_bytes(&s).await,
        0,
        "an instant job reached the server"
    );

    // With the page's API blocked, the picture still comes (the photo's colours kept now).
    browser
        .post(
            "/goog/cdp/execute",
            json!({ "cmd": "Network.enable", "params": {} }),
        )
        .await;
    browser
        .post(
            "/goog/cdp/execute",
            json!({ "cmd": "Network.setBlockedURLs", "params": { "urls": ["*/api/*"] } }),
        )
        .await;
    let blocked = browser
        .script("return fetch('/api/health').then(() => 'reached', () => 'blocked')")
        .await;
    assert_eq!(blocked, "blocked", "the API is blocked for the page");
    browser
        .script("document.querySelector('input[name=preserve_colors]').checked = true; return true")
        .await;
    submit_and_wait_for_browser_picture(&browser, 2).await;
    let ours = browser_picture(&browser).await;
    let native = native_picture(
        &photo_bytes,
        &painting_bytes,
        200,
        restyle::ColorMode::Luminance,
    );
    let (max, mean, _) = difference(&ours, &native);
    eprintln!("browser vs restyle, colours kept: max {max} levels, mean {mean:.4}");
    assert!(
        max <= 3 && mean < 0.01,
        "colours kept: max {max}, mean {mean}"
    );
    assert_eq!(stored_bytes(&s).await, 0);

    // What the form does not offer, through fast.js itself: part of the way from the
    // photo's own style (strength 0.6), the painting recoloured to the photo's colours.
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let script = format!(
        "const f = await import('/assets/web/fast.js'); \
         const blob = async (b) => new Blob([Uint8Array.from(atob(b), (c) => c.charCodeAt(0))]); \
         const p = await window.restyleBrowser.painter(); \
         const picture = await p.paint({{ photo: await f.decode(await blob('{}')), size: 200, \
           styles: [{{ image: await f.decode(await blob('{}')) }}], strength: 0.6, color: 'histogram' }}); \
         const c = new OffscreenCanvas(picture.width, picture.height); \
         c.getContext('2d').putImageData(f.toRgba(picture), 0, 0); \
         const png = await c.convertToBlob({{ type: 'image/png' }}); \
         return await new Promise((done) => {{ const r = new FileReader(); r.onload = () => done(r.result); r.readAsDataURL(png); }});",
        b64(&photo_bytes),
        b64(&painting_bytes)
    );
    let url = browser
        .script(&format!("return (async () => {{ {script} }})()"))
        .await;
    let png = base64_decode(url.as_str().unwrap().split_once(',').unwrap().1);
    let ours = image::load_from_memory(&png).unwrap().to_rgb8();
    let native = {
        use restyle::io::{decode_image, ImageLimits};
        let decode =
            |b: &[u8]| decode_image(b, Path::new("x.png"), ImageLimits::default()).unwrap();
        let model = restyle_fast::FastStyle::embedded().unwrap();
        let styles = [restyle::StyleImage::new(decode(&painting_bytes), 1.0)];
        let photo = decode(&photo_bytes);
        restyle_fast::paint(
            &model,
            &photo,
            200,
            &styles,
            0.6,
            restyle::ColorMode::Histogram,
            None,
        )
        .unwrap()
        .image
        .to_rgb8()
    };
    let (max, mean, _) = difference(&ours, &native);
    eprintln!(
        "browser vs restyle, strength 0.6 and histogram colours: max {max} levels, mean {mean:.4}"
    );
    assert!(
        max <= 3 && mean < 0.01,
        "strength and histogram: max {max}, mean {mean}"
    );
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

/// What makes headless Chromium offer WebGPU without a GPU: with it, Chromium 156 (Debian)
/// gives the page SwiftShader, the software Vulkan in Chromium's own package.
const WEBGPU_FLAGS: &[&str] = &["--enable-unsafe-webgpu"];

/// The WebGPU adapter the page is offered ("vendor architecture"), or None.
async fn webgpu_adapter(browser: &Browser) -> Option<String> {
    browser
        .script(
            "if (!navigator.gpu) return null; \
             return navigator.gpu.requestAdapter().then( \
               (a) => a ? [a.info.vendor, a.info.architecture].join(' ') : null, () => null)",
        )
        .await
        .as_str()
        .map(str::to_owned)
}

/// Sends the page's form and waits until the job's page opens (failing on the form's error).
async fn submit_and_open_the_job_page(browser: &Browser) {
    browser.click("#submit").await;
    let start = Instant::now();
    while !browser.current_url().await.contains("/jobs/") {
        let error = browser.script("const e = document.querySelector('#form-error'); return (!e || e.hidden) ? null : e.textContent").await;
        assert!(error.is_null(), "the form says: {error}");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the job page did not open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Uploads a photo and a painting through the page's form and picks "Instant" at `size`.
async fn fill_instant_form(browser: &Browser, photo: &Path, painting: &Path, size: u32) {
    for (css, path) in [("#content", photo), ("#style", painting)] {
        browser.choose_file(css, path).await;
    }
    browser.click("input[name=method][value=fast]").await;
    browser
        .script(&format!(
            "document.querySelector('select[name=size]').value = '{size}'; return true"
        ))
        .await;
}

async fn instant_where(browser: &Browser) -> String {
    let v = browser
        .script("return document.querySelector('#instant-where').textContent")
        .await;
    v.as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_paints_with_webgpu_where_it_is_offered_and_falls_back_to_webassembly() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) =
        start_browser_with(&downloads, &tmp.path().join("profile"), WEBGPU_FLAGS).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "200", "--max-iterations", "40"]).await;
    browser.resize(1280, 1000).await;
    browser.goto(&s.url("/")).await;
    let Some(adapter) = webgpu_adapter(&browser).await else {
        require_or_skip(
            "the WebGPU browser test",
            "headless Chromium offers no WebGPU adapter, even with --enable-unsafe-webgpu",
        );
        let _ = browser.call(reqwest::Method::DELETE, "", None).await;
        return;
    };
    eprintln!("WebGPU adapter: {adapter}");
    let (photo, photo_bytes) = example_png(tmp.path(), "content/tubingen.jpg", 300, 225);
    let (painting, painting_bytes) = example_png(tmp.path(), "style/starry_night.jpg", 300, 240);
    let native = native_picture(&photo_bytes, &painting_bytes, 200, restyle::ColorMode::None);

    // An adapter is offered: the page paints with WebGPU, unasked.
    fill_instant_form(&browser, &photo, &painting, 200).await;
    submit_and_wait_for_browser_picture(&browser, 1).await;
    let where_ = instant_where(&browser).await;
    eprintln!("the page says: {where_}");
    assert!(
        where_.starts_with("Painted in your browser (WebGPU), 200 × 150 px")
            && where_.contains(&adapter),
        "{where_}"
    );
    assert_eq!(
        runtime_files(&browser).await,
        ["ort.webgpu.mjs", "ort.webgpu.wasm"],
        "with WebGPU the page fetches its runtime only"
    );
    let ours = browser_picture(&browser).await;
    let (max, mean, over) = difference(&ours, &native);
    eprintln!("WebGPU vs restyle --method fast, 200x150: max {max} levels, mean {mean:.4}, share over 2 levels {over:.5}");
    // Measured on SwiftShader: max 1, mean 0.0001, as close as WebAssembly (its shaders
    // run the same f32 sums on the CPU). The same bound as WebAssembly's; a real GPU may
    // round differently (fused multiply-adds, another order of sums) and is not tested here.
    assert!(max <= 3 && mean < 0.01, "WebGPU: max {max}, mean {mean}");
    assert_eq!(stored_bytes(&s).await, 0, "nothing reached the server");

    // WebGPU that fails to paint (a lost device, say): WebAssembly, and the page says why.
    let backend = browser
        .script(
            "return window.restyleBrowser.painter().then((p) => { \
               p.transformer.run = () => Promise.reject(new Error('the GPU went away')); \
               return p.backend; })",
        )
        .await;
    assert_eq!(backend, "webgpu");
    submit_and_wait_for_browser_picture(&browser, 2).await;
    let where_ = instant_where(&browser).await;
    eprintln!("the page says: {where_}");
    assert!(
        where_.starts_with("Painted in your browser (WebAssembly), 200 × 150 px")
            && where_.contains("WebGPU failed to paint (the GPU went away)"),
        "{where_}"
    );
    let ours = browser_picture(&browser).await;
    let (max, mean, _) = difference(&ours, &native);
    eprintln!("after the fallback: max {max} levels, mean {mean:.4}");
    assert!(max <= 3 && mean < 0.01, "fallback: max {max}, mean {mean}");

    // `?backend=wasm` keeps to WebAssembly, for tests and timings.
    browser.goto(&s.url("/?backend=wasm")).await;
    fill_instant_form(&browser, &photo, &painting, 200).await;
    submit_and_wait_for_browser_picture(&browser, 1).await;
    let where_ = instant_where(&browser).await;
    assert!(
        where_.starts_with("Painted in your browser (WebAssembly), 200 × 150 px")
            && !where_.contains("WebGPU"),
        "{where_}"
    );
    assert_eq!(runtime_files(&browser).await, ["ort.mjs", "ort.wasm"]);

    // WebGPU's runtime that does not load (blocked here): WebAssembly, and the page says so.
    for (cmd, params) in [
        ("Network.enable", json!({})),
        (
            "Network.setBlockedURLs",
            json!({ "urls": ["*/ort.webgpu.wasm"] }),
        ),
    ] {
        browser
            .post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await;
    }
    browser.goto(&s.url("/")).await;
    fill_instant_form(&browser, &photo, &painting, 200).await;
    submit_and_wait_for_browser_picture(&browser, 1).await;
    let where_ = instant_where(&browser).await;
    eprintln!("the page says: {where_}");
    assert!(
        where_.starts_with("Painted in your browser (WebAssembly), 200 × 150 px")
            && where_.contains("WebGPU failed to load ("),
        "{where_}"
    );
    let ours = browser_picture(&browser).await;
    let (max, mean, _) = difference(&ours, &native);
    assert!(max <= 3 && mean < 0.01, "fallback: max {max}, mean {mean}");
    assert_eq!(stored_bytes(&s).await, 0, "nothing reached the server");

    // The live camera's worker paints with WebGPU too: in the full run only, as a frame on
    // SwiftShader takes tens of seconds (about 110 s in all here) and Chromium closes the page
    // only when the one in flight is done. The worker's WebAssembly path is tested in
    // `the_served_page_paints_the_camera_live_in_a_worker`.
    if full_soaks("the WebGPU test's live camera") {
        browser
            .post(
                "/goog/cdp/execute",
                json!({ "cmd": "Network.setBlockedURLs", "params": { "urls": [] } }),
            )
            .await;
        let started = Instant::now();
        browser.goto(&s.url("/")).await;
        browser.click("#camera-start").await;
        browser
            .wait_until(
                "a live frame painted with WebGPU",
                Duration::from_secs(300),
                "const f = document.querySelector('#camera-fps').textContent; \
                 if (f.startsWith('The camera could not')) throw new Error(f); \
                 const l = window.restyleBrowser.live; \
                 return !!l && l.frames >= 1 && l.backend === 'webgpu' && f.endsWith('(WebGPU)')",
            )
            .await;
        eprintln!(
            "live: a frame painted with WebGPU in the worker after {:.0?}",
            started.elapsed()
        );
        browser.click("#camera-stop").await;
    }

    assert_eq!(stored_bytes(&s).await, 0, "nothing reached the server");
    browser
        .http
        .delete(&browser.base)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .expect("the browser closes");
    s.stop().await;
}

/// A plain static host for `dir` on 127.0.0.1 (no COOP/COEP headers, as most send none).
async fn static_host(dir: PathBuf) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move |uri: Uri| {
        let dir = dir.clone();
        async move {
            let path = match uri.path().trim_start_matches('/') {
                "" => "index.html".to_owned(),
                p if !p.contains("..") => p.to_owned(),
                _ => return StatusCode::NOT_FOUND.into_response(),
            };
            let kind = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js" | "mjs") => "text/javascript",
                Some("wasm") => "application/wasm",
                Some("css") => "text/css",
                Some("svg") => "image/svg+xml",
                Some("json") => "application/json",
                Some("jpg") => "image/jpeg",
                _ => "application/octet-stream",
            };
            match std::fs::read(dir.join(&path)) {
                Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
                Err(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, task)
}

/// Starts the live camera (Chromium's fake one) on the page and waits for painted frames;
/// returns the snapshot's size. `owner` is the page's object holding `live`.
async fn live_camera_paints(browser: &Browser, owner: &str) -> (u64, u64) {
    browser.click("#camera-start").await;
    browser
        .wait_until(
            "live frames",
            Duration::from_secs(120),
            &format!(
                "const f = document.querySelector('#camera-fps').textContent; \
                 if (f.startsWith('The camera could not')) throw new Error(f); \
                 return !!{owner}.live && {owner}.live.frames >= 3"
            ),
        )
        .await;
    browser.click("#camera-snapshot").await;
    browser
        .wait_until(
            "the snapshot",
            Duration::from_secs(30),
            "const i = document.querySelector('#camera-picture'); return i.complete && i.naturalWidth > 0",
        )
        .await;
    let size = browser
        .script("const i = document.querySelector('#camera-picture'); return [i.naturalWidth, i.naturalHeight]")
        .await;
    browser.click("#camera-stop").await;
    (size[0].as_u64().unwrap(), size[1].as_u64().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_site_paints_in_the_browser_with_no_server_and_runs_the_live_camera() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let site = tmp.path().join("site");
    let args = restyle_server::browser::SiteArgs {
        dir: site.clone(),
        overwrite: false,
    };
    let written = restyle_server::browser::write_site(&args).unwrap();
    for runtime in ["ort.wasm", "ort.webgpu.wasm"] {
        assert!(written.iter().any(|p| p.ends_with(runtime)), "{runtime}");
    }
    assert!(
        restyle_server::browser::write_site(&args).is_err(),
        "an existing site is not replaced without --overwrite"
    );
    let (url, host) = static_host(site).await;
    let (photo, photo_bytes) = example_png(tmp.path(), "content/chelsea.png", 240, 180);
    let preset = restyle_server::styles::find("the_scream").unwrap();

    browser.resize(1280, 1000).await;
    browser.goto(&format!("{url}/")).await;
    browser.choose_file("#content", &photo).await;
    browser
        .click("input[name=style_preset][value=the_scream]")
        .await;
    browser
        .script("document.querySelector('select[name=size]').value = '256'; return true")
        .await;
    browser.click("#submit").await;
    browser
        .wait_until(
            "the site's picture",
            Duration::from_secs(120),
            "const e = document.querySelector('#form-error'); \
             if (e && !e.hidden) throw new Error(e.textContent); \
             return window.restyleSite.painted === 1",
        )
        .await;
    let where_ = browser
        .script("return document.querySelector('#instant-where').textContent")
        .await;
    eprintln!("the site says: {where_}");
    // No COOP/COEP from this host: one thread.
    assert!(where_.as_str().unwrap().contains("1 thread)"), "{where_}");
    browser.screenshot("browser-site.png").await;
    let url = browser
        .script(
            "return new Promise((done) => { const r = new FileReader(); \
             r.onload = () => done(r.result); r.readAsDataURL(window.restyleSite.last.blob); })",
        )
        .await;
    let b64 = url.as_str().unwrap().split_once(',').unwrap().1;
    let ours = image::load_from_memory(&base64_decode(b64))
        .unwrap()
        .to_rgb8();
    let native = native_picture(&photo_bytes, preset.jpeg, 256, restyle::ColorMode::None);
    let (max, mean, _) = difference(&ours, &native);
    eprintln!("static site vs restyle --method fast, 256x192: max {max} levels, mean {mean:.4}");
    // The shipped painting is a JPEG, which Chromium and the image crate decode with
    // different decoders (chroma upsampling, IDCT): measured max 1, mean 0.18, against
    // 0.0002 from PNGs above.
    assert!(max <= 3 && mean < 0.5, "max {max}, mean {mean}");

    let (w, h) = live_camera_paints(&browser, "window.restyleSite").await;
    assert_eq!(
        (w, h),
        (320, 240),
        "the fake camera is 4:3, painted 320 wide"
    );
    browser.screenshot("browser-site-live.png").await;
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    host.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_page_paints_the_camera_live_in_a_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&[]).await;
    browser.resize(1280, 1000).await;
    browser.goto(&s.url("/")).await;
    let (w, h) = live_camera_paints(&browser, "window.restyleBrowser").await;
    assert_eq!((w, h), (320, 240));
    let frames = browser
        .script("return window.restyleBrowser.live.frames")
        .await;
    eprintln!("live: {frames} frames painted");
    assert_eq!(stored_bytes(&s).await, 0, "nothing reached the server");
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

/// Strokes down the paint canvas at these fractions of its width, with the brush chosen.
async fn strokes(browser: &Browser, brush: &str, columns: &[f64]) {
    browser
        .script(&format!(
            "document.querySelector('input[name=brush][value=\"{brush}\"]').checked = true; return true"
        ))
        .await;
    let canvas = browser.find("#paint-canvas").await;
    let rect = browser
        .script("const r = document.querySelector('#paint-canvas').getBoundingClientRect(); return [r.width, r.height]")
        .await;
    let (w, h) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
    let origin = json!({ ELEMENT: canvas });
    let mut moves = Vec::new();
    for fx in columns {
        let x = ((fx - 0.5) * w) as i64;
        moves.extend([
            json!({ "type": "pointerMove", "duration": 0, "origin": origin, "x": x, "y": (-0.45 * h) as i64 }),
            json!({ "type": "pointerDown", "button": 0 }),
            json!({ "type": "pointerMove", "duration": 150, "origin": origin, "x": x, "y": (0.45 * h) as i64 }),
            json!({ "type": "pointerUp", "button": 0 }),
        ]);
    }
    browser
        .post(
            "/actions",
            json!({ "actions": [{ "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" }, "actions": moves }] }),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_paints_regions_and_keeps_a_part_as_restyle_does() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let Some((_driver, browser)) = start_browser(&downloads, &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "160", "--max-iterations", "40"]).await;
    let (photo, photo_bytes) = example_png(tmp.path(), "content/tubingen.jpg", 200, 150);
    let (first, first_bytes) = example_png(tmp.path(), "style/starry_night.jpg", 120, 100);
    let (second, second_bytes) = example_png(tmp.path(), "style/the_scream.jpg", 100, 120);

    browser.resize(1280, 1400).await;
    browser.goto(&s.url("/")).await;
    for (css, path) in [
        ("#content", &photo),
        ("#style", &first),
        ("#style_2", &second),
    ] {
        browser.choose_file(css, path).await;
    }
    browser
        .wait_until(
            "the photo to paint on",
            Duration::from_secs(10),
            "return !document.querySelector('#paint-area').hidden && document.querySelector('#paint-canvas').width > 0",
        )
        .await;
    browser
        .script("document.querySelector('#brush-size').value = 12; document.querySelector('#paint-canvas').scrollIntoView({ block: 'center' }); return true")
        .await;
    // Painting 2 on the right, the photo kept down the left edge, painting 1 between.
    strokes(&browser, "2", &[0.7, 0.85]).await;
    strokes(&browser, "keep", &[0.05]).await;
    browser.click("input[name=method][value=fast]").await;
    browser
        .script("document.querySelector('select[name=size]').value = '160'; return true")
        .await;
    submit_and_wait_for_browser_picture(&browser, 1).await;
    browser.screenshot("browser-regions-here.png").await;
    let ours = browser_picture(&browser).await;
    assert_eq!(
        stored_bytes(&s).await,
        0,
        "an instant job reached the server"
    );

    // The masks the page made, as PNGs: restyle paints with the same ones.
    let masks = browser
        .script(
            "const d = new FormData(); \
             return window.restyleRegions.append(d).then(() => Promise.all(['mask_1', 'mask_2', 'keep'].map((n) => \
               new Promise((done) => { const r = new FileReader(); r.onload = () => done(r.result); r.readAsDataURL(d.get(n)); }))))",
        )
        .await;
    use restyle::io::{decode_image, ImageLimits};
    let decode =
        |bytes: &[u8]| decode_image(bytes, Path::new("x.png"), ImageLimits::default()).unwrap();
    let mask = |i: usize| {
        let b64 = masks[i].as_str().unwrap().split_once(',').unwrap().1;
        restyle::Mask::from_image(&decode(&base64_decode(b64)))
    };
    let model = restyle_fast::FastStyle::embedded().unwrap();
    let photo_image = decode(&photo_bytes);
    let styles = [
        restyle::StyleImage {
            mask: Some(mask(0)),
            ..restyle::StyleImage::new(decode(&first_bytes), 1.0)
        },
        restyle::StyleImage {
            mask: Some(mask(1)),
            ..restyle::StyleImage::new(decode(&second_bytes), 1.0)
        },
    ];
    let native = restyle_fast::paint_regions(&photo_image, &styles, Some(&mask(2)), |styles| {
        restyle_fast::paint(
            &model,
            &photo_image,
            160,
            styles,
            1.0,
            restyle::ColorMode::None,
            None,
        )
    })
    .unwrap()
    .image
    .to_rgb8();
    let (max, mean, _) = difference(&ours, &native);
    eprintln!(
        "browser vs restyle, two paintings and a kept part: max {max} levels, mean {mean:.4}"
    );
    assert!(max <= 3 && mean < 0.01, "max {max}, mean {mean}");
    // And the regions are there: the kept edge is the photo.
    let photo_small = photo_image.resized(160, 120).to_rgb8();
    let left: Vec<u8> = (0..120)
        .flat_map(|y| ours.get_pixel(1, y).0.to_vec())
        .zip((0..120).flat_map(|y| photo_small.get_pixel(1, y).0.to_vec()))
        .map(|(a, b)| a.abs_diff(b))
        .collect();
    assert!(
        left.iter().map(|&d| d as u32).sum::<u32>() / (left.len() as u32) < 3,
        "the kept edge is the photo"
    );
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_sends_a_clip_and_plays_the_painted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ffmpeg = Command::new("ffmpeg").arg("-version").output();
    if !ffmpeg.is_ok_and(|o| o.status.success()) {
        require_or_skip("a clip from the page", "ffmpeg is not on PATH");
        return;
    }
    let Some((_driver, browser)) =
        start_browser(&tmp.path().join("downloads"), &tmp.path().join("profile")).await
    else {
        return;
    };
    let s = TestServer::start(&["--max-size", "96"]).await;
    // WebM (VP9, Opus) in; the painted clip comes back as MP4 (H.264, its Opus sound copied).
    let clip = tmp.path().join("clip.webm");
    let made = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x64:rate=10",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440", "-t", "1"])
        .args([
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "libopus",
            "-shortest",
        ])
        .arg(&clip)
        .status()
        .unwrap();
    assert!(made.success());

    browser.resize(1280, 1000).await;
    browser.goto(&s.url("/")).await;
    browser.choose_file("#content", &clip).await;
    browser
        .wait_until(
            "the clip's preview",
            Duration::from_secs(10),
            "const v = document.querySelector('[data-drop=content] video.preview'); return !!v && v.readyState >= 1",
        )
        .await;
    browser
        .script("document.querySelector('input[name=method][value=fast]').click(); return null")
        .await;
    submit_and_open_the_job_page(&browser).await;
    // Frames are counted, and the painted clip plays where the picture would be.
    browser
        .wait_until(
            "the painted clip",
            Duration::from_secs(180),
            "const v = document.querySelector('#clip'); \
             return !!v && v.readyState >= 1 && document.querySelector('#live').hidden",
        )
        .await;
    assert_eq!(
        browser
            .script("return [document.querySelector('#step').textContent, Math.round(document.querySelector('#clip').duration)]")
            .await,
        json!(["10 of 10", 1])
    );
    assert_eq!(
        browser
            .script("return document.querySelector('.facts dt').textContent")
            .await,
        "Frame"
    );
    browser.screenshot("browser-clip.png").await;
    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    s.stop().await;
}
