//! Fair shares, on loopback: one client holding event streams by the
//! hundred, flooding submissions, fast pictures or the disk cannot lock
//! out, starve or evict another. Bounded: every wait has a limit, every
//! connection is closed at the end.

use std::time::Duration;

use restyle_test_support::http::{client_with_key, file, small_fast_job, small_job};
use restyle_test_support::{png, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn address(s: &TestServer) -> String {
    s.url.trim_start_matches("http://").to_owned()
}

/// Opens `GET path` with `key` on a raw connection and reads the answer's
/// head; the connection is returned open (a stream keeps it busy).
async fn open(s: &TestServer, path: &str, key: &str) -> (TcpStream, u16, String) {
    let mut c = TcpStream::connect(address(s)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Restyle-Key: {key}\r\n\r\n");
    c.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    // The head, and for an error its small body.
    while !String::from_utf8_lossy(&head).contains("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut byte))
            .await
            .expect("the server answers")
            .unwrap();
        assert!(
            n > 0,
            "closed unanswered: {}",
            String::from_utf8_lossy(&head)
        );
        head.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    if status != 200 {
        // A small JSON error body: read until it is whole.
        while !String::from_utf8_lossy(&head).trim_end().ends_with('}') {
            match tokio::time::timeout(Duration::from_secs(2), c.read(&mut byte)).await {
                Ok(Ok(n)) if n > 0 => head.extend_from_slice(&byte[..n]),
                _ => break,
            }
        }
    }
    (c, status, String::from_utf8_lossy(&head).into_owned())
}

/// The `limit` a 429's JSON body names.
fn limit_of(answer: &str) -> String {
    let body = &answer[answer.find('{').unwrap()..=answer.rfind('}').unwrap()];
    let v: Value = serde_json::from_str(body).unwrap();
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    v["limit"].as_str().unwrap().to_owned()
}

/// A fresh client on a new connection each time (no pooled connection
/// can help it through).
fn fresh(key: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert("x-restyle-key", key.parse().unwrap());
    }
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_by_the_hundred_lock_nobody_out() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-connections",
        "48",
        "--reserved-connections",
        "16",
        "--max-streams-per-client",
        "4",
        "--max-streams-per-job",
        "3",
    ])
    .await;
    let attacker = s.new_key().await;
    let a = client_with_key(Some(&attacker));
    let submit = |c: reqwest::Client| {
        let url = s.url("/api/jobs");
        async move {
            let r = c
                .post(url)
                .multipart(small_job(32, 5))
                .send()
                .await
                .unwrap();
            let body: Value = r.json().await.unwrap();
            body["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned()
        }
    };
    let (j1, j2) = (submit(a.clone()).await, submit(a.clone()).await);
    // One job: three streams, the fourth refused for the job's cap.
    let mut held = Vec::new();
    for _ in 0..3 {
        let (c, status, _) = open(&s, &format!("/api/jobs/{j1}/events"), &attacker).await;
        assert_eq!(status, 200);
        held.push(c);
    }
    let (_, status, answer) = open(&s, &format!("/api/jobs/{j1}/events"), &attacker).await;
    assert_eq!(status, 429, "{answer}");
    assert!(answer.to_lowercase().contains("retry-after:"), "{answer}");
    assert_eq!(limit_of(&answer), "streams_per_job");
    // The client's cap: one more on another job, then 429s, by the hundred.
    let (c, status, _) = open(&s, &format!("/api/jobs/{j2}/events"), &attacker).await;
    assert_eq!(status, 200);
    held.push(c);
    for _ in 0..100 {
        let (c, status, answer) = open(&s, &format!("/api/jobs/{j2}/events"), &attacker).await;
        assert_eq!(status, 429, "{answer}");
        assert_eq!(limit_of(&answer), "streams_per_client");
        held.push(c);
    }
    // Many clients (one key each) fill every place long-lived requests may take.
    let mut full = false;
    for _ in 0..40 {
        let key = s.new_key().await;
        let id = submit(client_with_key(Some(&key))).await;
        for _ in 0..3 {
            let (c, status, answer) = open(&s, &format!("/api/jobs/{id}/events"), &key).await;
            match status {
                200 => held.push(c),
                503 => {
                    assert!(answer.to_lowercase().contains("retry-after:"), "{answer}");
                    full = true;
                }
                other => panic!("{other}: {answer}"),
            }
        }
        if full {
            break;
        }
    }
    assert!(full, "long-lived requests reached their cap");
    // Short requests still answer, each on a new connection: health, the
    // page, the attacker's own reads and its DELETE.
    let b = fresh(Some(&attacker));
    for _ in 0..3 {
        let r = fresh(None).get(s.url("/api/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = fresh(None).get(s.url("/")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = b
        .get(s.url(&format!("/api/jobs/{j1}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = b
        .delete(s.url(&format!("/api/jobs/{j1}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    drop(held);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_has_only_so_many_jobs_queued_and_running() {
    let s = TestServer::start(&["--workers", "0", "--max-jobs-per-client", "2"]).await;
    let first = s.submit_ok(small_job(32, 5)).await;
    s.submit_ok(small_job(32, 5)).await;
    let r = s.submit(small_job(32, 5)).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["limit"], "jobs_per_client", "{body}");
    // Someone else is not held back.
    let other = client_with_key(Some(&s.new_key().await));
    let r = other
        .post(s.url("/api/jobs"))
        .multipart(small_job(32, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // Requests without a key count by their address, though each is given a fresh key.
    let anonymous = client_with_key(None);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = anonymous
            .post(s.url("/api/jobs"))
            .multipart(small_job(32, 5))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 429]);
    // A cancelled job frees its place.
    let r = s.cancel(&first).await;
    assert_eq!(r.status(), 200);
    s.submit_ok(small_job(32, 5)).await;
    s.stop().await;
}

/// A fast job at a small size.
fn fast_job() -> reqwest::multipart::Form {
    small_fast_job(32)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_pictures_are_counted_by_the_minute() {
    let s = TestServer::start(&["--workers", "0", "--max-instant-per-minute", "2"]).await;
    s.submit_ok(fast_job()).await;
    s.submit_ok(fast_job()).await;
    // Refused before its images are decoded: a photo cut in half (its
    // header reads, its pixels do not) gets the 429, not a 422.
    let mut cut = png(48, 36);
    cut.truncate(cut.len() / 2);
    let form = reqwest::multipart::Form::new()
        .part("content", file(cut, "cut.png"))
        .part("style", file(png(40, 40), "painting.png"))
        .text("size", "32")
        .text("method", "fast");
    let r = s.submit(form).await;
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=61).contains(&wait), "{wait}");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["limit"], "instant_per_minute", "{body}");
    let other = client_with_key(Some(&s.new_key().await));
    let r = other
        .post(s.url("/api/jobs"))
        .multipart(fast_job())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooder_evicts_its_own_results_and_nobody_elses() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-disk",
        "120K",
        "--max-disk-share",
        "0.5",
        "--max-instant-per-minute",
        "1000",
    ])
    .await;
    // A well-behaved client's one result.
    let kept = s.submit_ok(fast_job()).await;
    s.wait_for(&kept, Duration::from_secs(60), |j| j["state"] == "done")
        .await;
    // A flooder's fast jobs, one after another, each finished before the
    // next (a bigger photo: more bytes each).
    let flooder = client_with_key(Some(&s.new_key().await));
    let mut theirs = Vec::new();
    for _ in 0..12 {
        let form = reqwest::multipart::Form::new()
            .part("content", file(png(160, 120), "photo.png"))
            .part("style", file(png(40, 40), "painting.png"))
            .text("size", "160")
            .text("method", "fast");
        let r = flooder
            .post(s.url("/api/jobs"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        match status {
            201 => theirs.push(body["id"].as_str().unwrap().to_owned()),
            429 => assert_eq!(body["limit"], "disk_share", "{body}"),
            other => panic!("{other}: {body}"),
        }
        if let Some(id) = theirs.last() {
            let url = s.url(&format!("/api/jobs/{id}"));
            for _ in 0..600 {
                let job: Value = flooder
                    .get(&url)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if job["state"] == "done" || job["error"].is_string() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let health = s.health().await;
    assert!(theirs.len() >= 3, "the flooder got some through: {health}");
    // The well-behaved client's result is still there; the flooder's first is not.
    let r = s.get(&format!("/api/jobs/{kept}/result")).await;
    assert_eq!(r.status(), 200, "{health}");
    let r = flooder
        .get(s.url(&format!("/api/jobs/{}", theirs[0])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the flooder's oldest went first: {health}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_submissions_do_not_overshoot_the_disk_budget() {
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-disk",
        "100K",
        "--max-disk-share",
        "1",
        "--max-queue",
        "1000",
    ])
    .await;
    let photo = png(120, 90);
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let url = s.url("/api/jobs");
        let photo = photo.clone();
        let key = s.new_key().await;
        tasks.push(tokio::spawn(async move {
            let form = reqwest::multipart::Form::new()
                .part("content", file(photo, "photo.png"))
                .part("style", file(png(40, 40), "painting.png"))
                .text("size", "32")
                .text("iterations", "5");
            let r = client_with_key(Some(&key))
                .post(url)
                .multipart(form)
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 507),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&507),
        "the budget was reached: {statuses:?}"
    );
    let health = s.health().await;
    assert!(
        health["disk_bytes"].as_u64().unwrap() <= 100 * 1024,
        "{health}"
    );
    s.stop().await;
}
