//! Running the real `restyle serve` and `restyle worker` processes.
#![allow(dead_code)]

pub mod soak;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::{ImageBuffer, Rgb};
use serde_json::Value;

/// A `restyle` process, killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    /// What it printed first on standard output.
    pub first_line: String,
}

impl Proc {
    /// Starts `restyle ARGS`, logging to `log`; waits for its first line.
    pub fn start(args: &[&str], log: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_restyle"));
        command.args(args);
        Self::spawn(command, args, log)
    }

    /// `restyle serve ARGS` with the process's file limit set to `files`
    /// (through the shell's `ulimit`); returns it and its URL.
    pub fn serve_with_file_limit(files: u32, args: &[&str], log: &Path) -> (Self, String) {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_restyle"))
            .args(&all);
        let p = Self::spawn(command, &all, log);
        let url = p.first_line.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{}", p.first_line);
        (p, url)
    }

    fn spawn(mut command: Command, args: &[&str], log: &Path) -> Self {
        let err = std::fs::File::create(log).unwrap();
        let mut child = command
            .env("RESTYLE_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("restyle starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            !line.is_empty(),
            "restyle {args:?} printed nothing: {}",
            std::fs::read_to_string(log).unwrap()
        );
        Self {
            child,
            log: log.to_owned(),
            first_line: line.trim().to_owned(),
        }
    }

    /// `restyle serve ARGS` on a free loopback port; returns it and its URL.
    pub fn serve(args: &[&str], log: &Path) -> (Self, String) {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let p = Self::start(&all, log);
        let url = p.first_line.rsplit(' ').next().unwrap().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{}", p.first_line);
        (p, url)
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "no exit within {limit:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        Rgb([
            (x * 255 / w) as u8,
            (y * 255 / h) as u8,
            ((x * 7 + y * 13) % 256) as u8,
        ])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .unwrap();
    bytes
}

/// A submitter key issued by the server at `url` (its page sets it as a
/// cookie), asked for with `extra` headers (a token). Plain blocking HTTP:
/// called while a test builds its clients, once each.
pub fn issued_key(url: &str, extra: &[(&'static str, &str)]) -> String {
    use std::io::Read;
    let address = url.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(address).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_owned();
    for (name, value) in extra {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    let start = answer
        .find("restyle_key=")
        .unwrap_or_else(|| panic!("the page issues a key: {answer:.200}"))
        + "restyle_key=".len();
    answer[start..].split(';').next().unwrap().trim().to_owned()
}

pub struct Api {
    pub url: String,
    pub client: reqwest::Client,
    /// The submitter key it sends.
    pub key: String,
}

impl Api {
    /// A client with its own submitter key: it sees the jobs it submits.
    pub fn new(url: &str) -> Self {
        Self::with_headers(url, &[])
    }

    /// The operator (`--admin-token TOKEN`): sees every job and its worker.
    pub fn operator(url: &str, token: &str) -> Self {
        Self::with_headers(url, &[("authorization", &format!("Bearer {token}"))])
    }

    /// The same client (the same key) on another server address.
    pub fn at(&self, url: &str) -> Self {
        Self {
            url: url.to_owned(),
            client: self.client.clone(),
            key: self.key.clone(),
        }
    }

    fn with_headers(url: &str, extra: &[(&'static str, &str)]) -> Self {
        let key = issued_key(url, extra);
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-restyle-key", key.parse().unwrap());
        for (name, value) in extra {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap();
            headers.insert(name, value.parse().unwrap());
        }
        Self {
            url: url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .default_headers(headers)
                .build()
                .unwrap(),
            key,
        }
    }

    pub async fn submit(&self, size: u32, iterations: u32) -> String {
        self.try_submit(size, iterations)
            .await
            .unwrap_or_else(|status| panic!("refused with {status}"))
    }

    /// Submits a small job: its id, or the status it was refused with.
    pub async fn try_submit(&self, size: u32, iterations: u32) -> Result<String, u16> {
        let form = reqwest::multipart::Form::new()
            .part(
                "content",
                reqwest::multipart::Part::bytes(png(48, 36)).file_name("photo.png"),
            )
            .part(
                "style",
                reqwest::multipart::Part::bytes(png(40, 40)).file_name("painting.png"),
            )
            .text("size", size.to_string())
            .text("iterations", iterations.to_string());
        let r = self
            .client
            .post(format!("{}/api/jobs", self.url))
            .multipart(form)
            .send()
            .await
            .unwrap();
        if r.status() != 201 {
            return Err(r.status().as_u16());
        }
        Ok(r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned())
    }

    /// What the images take, as the health check reports it.
    pub async fn disk_bytes(&self) -> u64 {
        let health: Value = self
            .client
            .get(format!("{}/api/health", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        health["disk_bytes"]
            .as_u64()
            .expect("disk_bytes in the health check")
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self
            .client
            .get(format!("{}/api/jobs/{id}", self.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    pub async fn wait_for(
        &self,
        id: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(start.elapsed() < timeout, "timed out waiting; job is {job}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The result, checked to be a PNG of the job's size.
    pub async fn check_result(&self, job: &Value) {
        let url = format!(
            "{}{}",
            self.url,
            job["result_url"].as_str().expect("a result")
        );
        let bytes = self
            .client
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let img = image::load_from_memory(&bytes).expect("a valid image");
        assert_eq!(
            (img.width() as u64, img.height() as u64),
            (
                job["width"].as_u64().unwrap(),
                job["height"].as_u64().unwrap()
            )
        );
    }
}

/// Says that a test is skipped and why, straight to standard error (past the
/// test harness's capture, so that it shows when the test passes); when
/// every test must run (`RESTYLE_REQUIRE_ALL_TESTS=1`, as in CI), fails instead.
pub fn skip(reason: &str) {
    assert!(!required(), "RESTYLE_REQUIRE_ALL_TESTS=1, but {reason}");
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}

/// Whether tests that need outside programs must run (CI) rather than skip.
pub fn required() -> bool {
    std::env::var("RESTYLE_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1")
}
