//! Fairness soak, on loopback against the real `restyle serve`: one abusive
//! client (600 event streams, stalled uploads, a flood of fast pictures and
//! of 1024 px jobs with big masks) and three well-behaved ones at once. The
//! well-behaved clients' jobs all finish, their page and API answers stay
//! quick (p95 under 200 ms), their results are never evicted, the server's
//! peak memory stays within its documented bound, and it never restarts.
//! Prints its figures. That is the full soak (RESTYLE_FULL_SOAKS=1), about
//! two minutes; by default and in CI the abuser's optimisations are 512 px
//! (the neighbours wait for the one running: a quarter of the time), it
//! opens 100 streams and 3 stalled uploads, and floods for 5 s after the
//! neighbours are done.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use restyle_test_support::process::{rss, Api, Proc};
use restyle_test_support::{full_soaks, png};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `--max-job-memory` of the soak's server.
const JOB_MEMORY: u64 = 1800 << 20;
/// `--upload-memory`.
const UPLOAD_MEMORY: u64 = 256 << 20;
/// What the server holds besides its jobs and uploads: code, the VGG and
/// fast networks' weights, two decodes under way (README, "What the server
/// promises").
const BASE: u64 = 512 << 20;

fn part(bytes: Vec<u8>, name: &str) -> reqwest::multipart::Part {
    reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned())
}

/// A status for every refusal the abuser met, by status code.
#[derive(Default)]
struct Tally(Mutex<std::collections::BTreeMap<u16, usize>>);

impl Tally {
    fn add(&self, status: u16) {
        *self.0.lock().unwrap().entry(status).or_default() += 1;
    }
    fn text(&self) -> String {
        format!("{:?}", self.0.lock().unwrap())
    }
}

/// Opens `GET path` on a raw connection and returns it with its status (the
/// connection stays open: a stream holds it).
async fn open_stream(address: &str, path: &str, key: &str) -> Option<(TcpStream, u16)> {
    let mut c = TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Restyle-Key: {key}\r\n\r\n");
    c.write_all(request.as_bytes()).await.ok()?;
    let mut head = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(10), c.read(&mut head))
        .await
        .ok()?
        .ok()?;
    let text = String::from_utf8_lossy(&head[..n]).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    Some((c, status))
}

/// Starts an upload that declares 24 MB and stops after the first one.
async fn stalled_upload(address: &str, key: &str) -> Option<TcpStream> {
    let mut c = TcpStream::connect(address).await.ok()?;
    let head = format!(
        "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Restyle-Key: {key}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {}\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"content\"; filename=\"a.png\"\r\n\r\n",
        24 << 20
    );
    c.write_all(head.as_bytes()).await.ok()?;
    c.write_all(&vec![0u8; 1 << 20]).await.ok()?;
    Some(c)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fairness_soak_one_abuser_three_neighbours() {
    let (size, streams, stalled, tail) = if full_soaks("the fairness soak") {
        ("1024", 600, 10, 15)
    } else {
        ("512", 100, 3, 5)
    };
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (server, url) = Proc::serve(
        &[
            "--data",
            data.to_str().unwrap(),
            "--workers",
            "1",
            "--max-job-memory",
            "1800M",
            "--upload-memory",
            "256M",
            // A 1024 px job in tens of seconds on two cores, not minutes.
            "--max-iterations",
            "3",
            "--max-disk",
            "200M",
            "--sweep-seconds",
            "1",
        ],
        &dir.path().join("serve.log"),
    );
    let pid = server.child.id();
    let address = url.trim_start_matches("http://").to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let abuser = Api::new(&url);
    let key = abuser.key.clone();
    let big_photo = png(2000, 1500);
    let big_mask = png(2000, 1500);
    let refusals = Arc::new(Tally::default());

    // The abuser's first job, for its streams: 1024 px (full) with two big masks.
    let gatys_form = {
        let (photo, mask) = (big_photo.clone(), big_mask.clone());
        move || {
            reqwest::multipart::Form::new()
                .part("content", part(photo.clone(), "photo.png"))
                .part("style", part(png(300, 300), "painting.png"))
                .part("mask_1", part(mask.clone(), "mask.png"))
                .part("keep", part(mask.clone(), "keep.png"))
                .text("size", size)
                .text("iterations", "3")
        }
    };
    let first = abuser
        .client
        .post(format!("{url}/api/jobs"))
        .multipart(gatys_form())
        .send()
        .await
        .unwrap();
    let first_status = first.status().as_u16();
    let first: Value = first.json().await.unwrap();
    assert_eq!(first_status, 201, "{first}");
    let target = first["id"].as_str().unwrap().to_owned();

    // Event streams, held open.
    let mut held = Vec::new();
    let stream_statuses = Tally::default();
    for _ in 0..streams {
        if let Some((c, status)) =
            open_stream(&address, &format!("/api/jobs/{target}/events"), &key).await
        {
            stream_statuses.add(status);
            held.push(c);
        }
    }
    // Stalled uploads.
    for _ in 0..stalled {
        if let Some(c) = stalled_upload(&address, &key).await {
            held.push(c);
        }
    }
    // Floods: fast pictures at 1024 px, and jobs like the first.
    let mut floods = Vec::new();
    for fast in [true, false] {
        let (api, stop, refusals) = (abuser.at(&url), stop.clone(), refusals.clone());
        let (photo, gatys_form) = (big_photo.clone(), gatys_form.clone());
        floods.push(tokio::spawn(async move {
            let mut sent = 0;
            while !stop.load(Ordering::SeqCst) {
                let form = if fast {
                    reqwest::multipart::Form::new()
                        .part("content", part(photo.clone(), "photo.png"))
                        .part("style", part(png(300, 300), "painting.png"))
                        .text("size", "1024")
                        .text("method", "fast")
                } else {
                    gatys_form()
                };
                let r = api
                    .client
                    .post(format!("{}/api/jobs", api.url))
                    .multipart(form)
                    .send()
                    .await;
                sent += 1;
                match r {
                    Ok(r) if r.status() == 429 => {
                        refusals.add(429);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Ok(r) => refusals.add(r.status().as_u16()),
                    Err(_) => refusals.add(0),
                }
            }
            sent
        }));
    }

    // Three well-behaved clients: a small optimisation and a fast picture
    // each, and the page and the API read every 100 ms until both are done.
    let mut neighbours = Vec::new();
    for n in 0..3 {
        let api = Api::new(&url);
        neighbours.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            let form = |method: &str| {
                let form = reqwest::multipart::Form::new()
                    .part("content", part(png(64, 48), "photo.png"))
                    .part("style", part(png(64, 64), "painting.png"))
                    .text("size", "64")
                    .text("method", method.to_owned());
                // Steps are the optimisation's (a fast job is refused with them).
                match method {
                    "gatys" => form.text("iterations", "3"),
                    _ => form,
                }
            };
            for method in ["gatys", "fast"] {
                // A busy instant lane is a 503 with Retry-After: 1; try again.
                for attempt in 0.. {
                    let r = api
                        .client
                        .post(format!("{}/api/jobs", api.url))
                        .multipart(form(method))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    let body: Value = r.json().await.unwrap();
                    if status == 201 {
                        ids.push(body["id"].as_str().unwrap().to_owned());
                        break;
                    }
                    assert!(status == 503 && attempt < 30, "client {n}: {status} {body}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            let mut latencies = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(150);
            loop {
                let mut done = 0;
                for path in ["/".to_owned(), "/api/health".to_owned()]
                    .into_iter()
                    .chain(ids.iter().map(|id| format!("/api/jobs/{id}")))
                {
                    let t = Instant::now();
                    let r = api
                        .client
                        .get(format!("{}{path}", api.url))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status();
                    let body = r.bytes().await.unwrap();
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    assert_eq!(status, 200, "client {n}: {path}");
                    if path.starts_with("/api/jobs/") {
                        let job: Value = serde_json::from_slice(&body).unwrap();
                        assert!(
                            !matches!(job["state"].as_str(), Some("failed" | "cancelled")),
                            "client {n}: {job}"
                        );
                        done += usize::from(job["state"] == "done");
                    }
                }
                if done == ids.len() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "client {n}'s jobs did not finish"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (api, ids, latencies, Instant::now())
        }));
    }
    let mut peak_sampled = 0;
    let mut finished = Vec::new();
    for n in neighbours {
        while !n.is_finished() {
            peak_sampled = peak_sampled.max(rss(pid).0);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        finished.push(n.await.unwrap());
    }
    let neighbours_done = started.elapsed();
    // The abuser keeps going a while: the neighbours' results must stay.
    tokio::time::sleep(Duration::from_secs(tail)).await;
    stop.store(true, Ordering::SeqCst);
    let mut sent = 0;
    for f in floods {
        sent += f.await.unwrap();
    }
    let mut latencies = Vec::new();
    for (api, ids, l, _) in &finished {
        for id in ids {
            let r = api
                .client
                .get(format!("{}/api/jobs/{id}/result", api.url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "a neighbour's result was evicted");
        }
        latencies.extend_from_slice(l);
    }
    let (_, peak) = rss(pid);
    let mut server = server;
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died: {}",
        server.log_text()
    );
    let log = server.log_text();
    assert_eq!(
        log.matches("restyle serve started").count(),
        1,
        "started once"
    );
    let p95 = percentile(latencies.clone(), 0.95);
    let bound = 2 * JOB_MEMORY + UPLOAD_MEMORY + BASE;
    let _ = writeln!(
        std::io::stderr(),
        "fairness soak: {:.0} s in all, neighbours done after {:.0} s; abuser streams {}, \
         submissions {sent} ({}); neighbours' page and API: {} requests, p50 {:.1} ms, \
         p95 {:.1} ms, max {:.1} ms; server peak RSS {} MiB (sampled {} MiB), bound {} MiB",
        started.elapsed().as_secs_f64(),
        neighbours_done.as_secs_f64(),
        stream_statuses.text(),
        refusals.text(),
        latencies.len(),
        percentile(latencies.clone(), 0.5),
        p95,
        percentile(latencies.clone(), 1.0),
        peak >> 20,
        peak_sampled >> 20,
        bound >> 20
    );
    assert!(p95 < 200.0, "p95 {p95:.1} ms");
    assert!(peak <= bound, "peak {} MiB", peak >> 20);
    drop(held);
    server.kill();
}
