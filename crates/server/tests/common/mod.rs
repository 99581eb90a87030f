//! Shared by the server's integration tests: an in-process server on a free
//! loopback port, small test images, and a few API helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use clap::Parser;
use image::{ImageBuffer, Rgb};
use restyle_server::{ServeArgs, Server};
use serde_json::Value;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

pub struct TestServer {
    pub server: Option<Server>,
    pub url: String,
    /// A client with its own submitter key (`X-Restyle-Key`).
    pub client: reqwest::Client,
    /// That key.
    pub key: String,
    pub data: tempfile::TempDir,
}

/// A fresh submitter key, issued by the server at `url` (its page sets it
/// as a cookie); `token`: the bearer token a server that needs one asks for.
pub async fn issued_key(url: &str, token: Option<&str>) -> String {
    let mut request = client_with_key(None).get(format!("{url}/"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("restyle_key="))
        .unwrap_or_else(|| panic!("the page issues a key: {}", r.status()));
    cookie.split(';').next().unwrap().to_owned()
}

/// A client that sends `key` as its submitter key (none: no key).
pub fn client_with_key(key: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert("x-restyle-key", key.parse().unwrap());
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl TestServer {
    /// A server with its own data directory; `extra` are `restyle serve` flags.
    pub async fn start(extra: &[&str]) -> Self {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().to_str().unwrap().to_owned();
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data", &dir];
        args.extend_from_slice(extra);
        let server = Server::start(Cli::parse_from(args).serve)
            .await
            .expect("the server starts");
        let url = format!("http://{}", server.addr());
        // A server with a token issues a key to whoever brings it.
        let token = extra
            .iter()
            .position(|a| *a == "--admin-token" || *a == "--token")
            .map(|i| extra[i + 1]);
        let key = issued_key(&url, token).await;
        Self {
            server: Some(server),
            url,
            client: client_with_key(Some(&key)),
            key,
            data,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Another submitter key this server issued.
    pub async fn new_key(&self) -> String {
        issued_key(&self.url, None).await
    }

    pub async fn submit(&self, form: reqwest::multipart::Form) -> reqwest::Response {
        self.client
            .post(self.url("/api/jobs"))
            .multipart(form)
            .send()
            .await
            .unwrap()
    }

    /// Submits and expects 201; returns the id.
    pub async fn submit_ok(&self, form: reqwest::multipart::Form) -> String {
        let r = self.submit(form).await;
        let status = r.status();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self
            .client
            .get(self.url(&format!("/api/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// The job's page (`/jobs/{id}`), which must answer 200.
    pub async fn job_page(&self, id: &str) -> String {
        let page = self
            .client
            .get(self.url(&format!("/jobs/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }

    /// Polls until `done(job)`, or panics after `timeout`.
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

    /// Stops this server and starts another on the same data directory, for the
    /// same submitter; `extra` are the new server's flags.
    pub async fn restart(mut self, extra: &[&str]) -> Self {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
        let dir = self.data.path().to_str().unwrap().to_owned();
        let mut args = vec!["serve", "--listen", "127.0.0.1:0", "--data", &dir];
        args.extend_from_slice(extra);
        let server = Server::start(Cli::parse_from(args).serve)
            .await
            .expect("the server starts again");
        self.url = format!("http://{}", server.addr());
        self.server = Some(server);
        self
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop().await.unwrap();
        }
    }
}

/// A smooth, colourful picture, PNG-encoded.
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

pub fn file(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
}

/// A small job: a 48x36 photo, a 40x40 painting, the given size and steps.
/// A fast job: a small photo and painting, one pass (the optimisation's fields are refused).
pub fn small_fast_job(size: u32) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("content", file(png(48, 36), "photo.png"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("size", size.to_string())
        .text("method", "fast")
}

pub fn small_job(size: u32, iterations: u32) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .part("content", file(png(48, 36), "photo.png"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("size", size.to_string())
        .text("iterations", iterations.to_string())
}

/// The `job` events of a stream, until it ends (or `timeout`).
pub async fn read_events(
    client: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Vec<(String, Value)> {
    use futures_util::StreamExt;
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while let Ok(Some(chunk)) = tokio::time::timeout_at(deadline, stream.next()).await {
        buffer.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::from("message");
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = n.trim().to_owned();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if !data.is_empty() {
                events.push((
                    name,
                    serde_json::from_str(&data).unwrap_or(Value::String(data)),
                ));
            }
        }
    }
    events
}

/// Whether tests that need outside programs must run (CI) rather than skip.
pub fn required() -> bool {
    std::env::var("RESTYLE_REQUIRE_ALL_TESTS").is_ok_and(|v| v == "1")
}
