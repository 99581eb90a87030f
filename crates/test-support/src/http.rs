//! Clients of a restyle server: jobs submitted and waited for, errors and
//! event streams read.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::png;

/// A client that sends `key` as its submitter key (none: no key), follows
/// no redirects, and gives up on a request after a minute.
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

/// Job `id` as the server at `url` reports it (`GET /api/jobs/{id}`, which
/// must answer 200).
pub async fn job(client: &reqwest::Client, url: &str, id: &str) -> Value {
    let r = client
        .get(format!("{url}/api/jobs/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Whether job `job` has ended: done, failed or cancelled.
pub fn is_final(job: &Value) -> bool {
    ["done", "failed", "cancelled"]
        .iter()
        .any(|state| job["state"] == *state)
}

/// Polls job `id` until `done(job)`, or panics after `timeout`.
pub async fn wait_for(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let job = job(client, url, id).await;
        if done(&job) {
            return job;
        }
        assert!(start.elapsed() < timeout, "timed out waiting; job is {job}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An error answer's status and body, checked to have the one shape every
/// error has: JSON, with a non-empty `error` message.
pub async fn error_body(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("application/json"), "{status}: {kind}");
    let body: Value = r.json().await.expect("errors are JSON");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "an `error` message: {body}"
    );
    (status, body)
}

/// An error answer's status and message (see [`error_body`]).
pub async fn error_of(r: reqwest::Response) -> (u16, String) {
    let (status, body) = error_body(r).await;
    (status, body["error"].as_str().unwrap().to_owned())
}

/// Submits `form` as a job to the server at `url`.
pub async fn submit(
    client: &reqwest::Client,
    url: &str,
    form: reqwest::multipart::Form,
) -> reqwest::Response {
    client
        .post(format!("{url}/api/jobs"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Submits `form` and expects 201; returns the id.
pub async fn submit_ok(
    client: &reqwest::Client,
    url: &str,
    form: reqwest::multipart::Form,
) -> String {
    let r = submit(client, url, form).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// The memory a refusal says a job needs ("needs about 1.8 GiB"), in bytes.
pub fn needed_memory(error: &str) -> Option<u64> {
    let rest = error.split("needs about ").nth(1)?;
    let mut words = rest.split_whitespace();
    let number: f64 = words.next()?.parse().ok()?;
    let unit = match words.next()?.trim_end_matches([',', ':', ';']) {
        "KiB" => 1u64 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    Some((number * unit as f64) as u64)
}

/// An uploaded file's part of a form.
pub fn file(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
}

/// A small job: a 48x36 photo, a 40x40 painting, the given size and steps.
/// A fast job: a small photo and painting, one pass (the optimisation's fields are refused
/// with it).
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

/// The events of a stream (`text/event-stream`) at `url`, by name, until
/// it ends (or `timeout`).
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
