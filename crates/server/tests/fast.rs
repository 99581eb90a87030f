//! The fast method through the API: `method=fast` jobs painted at once beside a
//! long optimisation, `init=fast` jobs showing the fast picture first, bad values,
//! and a restart.

use std::time::Duration;

use reqwest::multipart::Form;
use restyle::{ColorMode, Image, StyleImage};
use restyle_test_support::http::{error_of, file, small_fast_job, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;

/// The fast picture of `content` in `style` at `size`, computed here with the library,
/// as 8-bit RGB (what a PNG holds).
fn expected_picture(content: &[u8], style: &[u8], size: usize) -> image::RgbImage {
    let decode = |b: &[u8]| Image::from_dynamic(&image::load_from_memory(b).unwrap());
    let model = restyle_fast::FastStyle::embedded().unwrap();
    let styles = [StyleImage::new(decode(style), 1.0)];
    let painted = restyle_fast::paint(
        &model,
        &decode(content),
        size,
        &styles,
        1.0,
        ColorMode::None,
        None,
    )
    .unwrap();
    painted.image.to_rgb8()
}

/// The largest difference between two pictures' 8-bit channel values.
fn max_difference(a: &image::RgbImage, b: &image::RgbImage) -> u8 {
    assert_eq!(a.dimensions(), b.dimensions());
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap()
}

async fn fetch_png(s: &TestServer, url: &str) -> image::RgbImage {
    let r = s.client.get(s.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    image::load_from_memory(&r.bytes().await.unwrap())
        .unwrap()
        .to_rgb8()
}

/// A Gatys job long enough to hold the only worker for the whole test.
async fn occupy_the_worker(s: &TestServer) -> String {
    let id = s.submit_ok(small_job(48, 1000)).await;
    s.wait_for(&id, Duration::from_secs(120), |j| j["state"] == "running")
        .await;
    id
}

// The engine's results may differ in the last bit with how rows are split between
// threads; one 8-bit level covers that (a wrong input, size or colour mode differs by tens).
const LEVELS: u8 = 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fast_job_is_painted_while_a_long_optimisation_holds_the_worker() {
    let s = TestServer::start(&["--workers", "1"]).await;
    let long = occupy_the_worker(&s).await;

    let (content, style) = (png(48, 36), png(40, 40));
    let form = Form::new()
        .part("content", file(content.clone(), "photo.png"))
        .part("style", file(style.clone(), "painting.png"))
        .text("size", "64")
        .text("method", "fast");
    let id = s.submit_ok(form).await;
    let done = s
        .wait_for(&id, Duration::from_secs(120), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    // It did not wait for the optimisation ahead of it in the queue.
    let other = s.job(&long).await;
    assert_eq!(other["state"], "running", "{other}");
    assert_eq!(done["settings"]["method"], "fast");
    assert_eq!(
        (done["step"].as_u64(), done["total_steps"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        (done["width"].as_u64(), done["height"].as_u64()),
        (Some(64), Some(48))
    );

    let result = fetch_png(&s, done["result_url"].as_str().unwrap()).await;
    let expected = expected_picture(&content, &style, 64);
    let diff = max_difference(&result, &expected);
    assert!(
        diff <= LEVELS,
        "the result differs from the fast picture by {diff} levels"
    );
    // And it is a painting, not the photo scaled.
    let photo = Image::from_dynamic(&image::load_from_memory(&content).unwrap())
        .resized(64, 48)
        .to_rgb8();
    assert!(max_difference(&result, &photo) > 40);

    assert!(s.job_page(&id).await.contains("Fast (one pass)"));
    s.client
        .post(s.url(&format!("/api/jobs/{long}/cancel")))
        .send()
        .await
        .unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refined_job_shows_the_fast_picture_while_it_waits_then_refines_it() {
    let s = TestServer::start(&["--workers", "1"]).await;
    let long = occupy_the_worker(&s).await;

    let (content, style) = (png(48, 36), png(40, 40));
    let form = Form::new()
        .part("content", file(content.clone(), "photo.png"))
        .part("style", file(style.clone(), "painting.png"))
        .text("size", "48")
        .text("iterations", "6")
        .text("method", "gatys")
        .text("init", "fast");
    let id = s.submit_ok(form).await;
    let waiting = s
        .wait_for(&id, Duration::from_secs(60), |j| {
            j["preview_url"].is_string()
        })
        .await;
    // Still behind the long job, and already showing the fast picture.
    assert_eq!(waiting["state"], "queued", "{waiting}");
    assert_eq!(waiting["settings"]["init"], "fast");
    let preview = fetch_png(&s, waiting["preview_url"].as_str().unwrap()).await;
    let fast = expected_picture(&content, &style, 48);
    let diff = max_difference(&preview, &fast);
    assert!(
        diff <= LEVELS,
        "the preview differs from the fast picture by {diff} levels"
    );

    s.client
        .post(s.url(&format!("/api/jobs/{long}/cancel")))
        .send()
        .await
        .unwrap();
    let done = s
        .wait_for(&id, Duration::from_secs(300), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["step"], 6);
    let result = fetch_png(&s, done["result_url"].as_str().unwrap()).await;
    assert_eq!(result.dimensions(), (48, 36));
    // Six steps of the optimisation moved the picture away from where it started.
    assert!(max_difference(&result, &fast) > LEVELS);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_refined_job_survives_a_restart_and_starts_from_its_fast_picture() {
    // No workers: the job waits, with its fast picture, until the server stops.
    let first = TestServer::start(&["--workers", "0"]).await;
    let form = small_job(48, 4)
        .text("method", "gatys")
        .text("init", "fast");
    let id = first.submit_ok(form).await;
    first
        .wait_for(&id, Duration::from_secs(60), |j| {
            j["preview_url"].is_string()
        })
        .await;
    let second = first.restart(&["--workers", "1"]).await;
    let done = second
        .wait_for(&id, Duration::from_secs(300), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["step"], 4);
    assert_eq!(done["settings"]["init"], "fast");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_starts_from_the_picture_sent_with_it() {
    // The page's "Gatys" sends the fast picture the browser painted as `init`: the server
    // paints nothing for it, shows it at once, and the optimisation starts from it.
    let first = TestServer::start(&["--workers", "0"]).await;
    let start = png(48, 36);
    let form = small_job(48, 4).part("init", file(start.clone(), "start.png"));
    let id = first.submit_ok(form).await;
    let job = first.job(&id).await;
    assert_eq!(job["settings"]["init"], "image", "{job}");
    assert!(job["preview_url"].is_string(), "shown at once: {job}");
    let preview = first
        .client
        .get(first.url(&format!("/api/jobs/{id}/preview")))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    let shown = image::load_from_memory(&preview.bytes().await.unwrap()).unwrap();
    let sent = image::load_from_memory(&start).unwrap();
    assert_eq!(
        shown.to_rgb8(),
        sent.to_rgb8(),
        "the picture sent, pixel for pixel"
    );
    // Not a picture, or with the fast method: refused in the request's words.
    let broken = small_job(48, 4).part("init", file(b"not a picture".to_vec(), "start.png"));
    let (status, message) = error_of(first.submit(broken).await).await;
    assert_eq!(status, 415, "{message}");
    let fast = small_fast_job(48).part("init", file(png(48, 36), "start.png"));
    let (status, message) = error_of(first.submit(fast).await).await;
    assert_eq!(status, 422, "{message}");
    assert!(
        message.contains("init applies to method gatys"),
        "{message}"
    );
    let second = first.restart(&["--workers", "1"]).await;
    let done = second
        .wait_for(&id, Duration::from_secs(300), |j| {
            j["state"] != "queued" && j["state"] != "running"
        })
        .await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["step"], 4);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_methods_and_pictures_the_fast_method_cannot_make_are_refused() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-job-memory",
        "40M",
        "--max-iterations",
        "20",
    ])
    .await;
    let cases: [(Form, u16, &str); 5] = [
        (
            small_job(48, 5).text("method", "quick"),
            400,
            "method must be gatys or fast",
        ),
        (
            small_job(48, 5).text("method", "instant"),
            400,
            "not `instant`",
        ),
        (
            small_job(48, 5).text("init", "photo"),
            400,
            "init must be content, noise or fast",
        ),
        (
            Form::new()
                .part("content", file(png(48, 36), "photo.png"))
                .part("style", file(png(20, 20), "tiny.png"))
                .text("method", "fast"),
            422,
            "at least 32x32",
        ),
        (
            Form::new()
                .part("content", file(png(48, 36), "photo.png"))
                .part("style", file(png(40, 40), "painting.png"))
                .text("size", "1024")
                .text("method", "fast"),
            422,
            "at most size ",
        ),
    ];
    for (form, status, needle) in cases {
        let (got, message) = error_of(s.submit(form).await).await;
        assert_eq!(got, status, "{message}");
        assert!(message.contains(needle), "`{message}` lacks `{needle}`");
    }
    // A fast job needs no steps: the default of 55, over this server's 20, is no reason
    // to refuse it.
    let form = Form::new()
        .part("content", file(png(48, 36), "photo.png"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("method", "fast");
    let id = s.submit_ok(form).await;
    s.client
        .delete(s.url(&format!("/api/jobs/{id}")))
        .send()
        .await
        .unwrap();
    let list: Value = s
        .client
        .get(s.url("/api/jobs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["jobs"].as_array().unwrap().len(),
        0,
        "nothing was stored"
    );
    s.stop().await;
}
