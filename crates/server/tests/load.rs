//! A load test on loopback: 100 submissions at once against a queue that
//! holds 60. Each must be accepted (201) or refused with 503 and a
//! message; none may be lost (every accepted id is in the queue, nothing
//! else is). Bounded: 100 requests, one minute at most.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use restyle_test_support::http::small_job;
use restyle_test_support::TestServer;
use serde_json::Value;

const SUBMISSIONS: usize = 100;
const QUEUE: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_submissions_are_each_accepted_or_refused_and_none_is_lost() {
    // No workers, so the queue only fills: the refusals are deterministic.
    // One client: its own shares (uploads at once, jobs queued) are lifted.
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-queue",
        &QUEUE.to_string(),
        "--max-uploads-per-client",
        "1000",
        "--max-jobs-per-client",
        "1000",
    ])
    .await;
    let mut key = reqwest::header::HeaderMap::new();
    key.insert("x-restyle-key", s.new_key().await.parse().unwrap());
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .default_headers(key)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let tasks: Vec<_> = (0..SUBMISSIONS)
        .map(|_| {
            let (client, url) = (client.clone(), s.url("/api/jobs"));
            tokio::spawn(async move {
                let t = Instant::now();
                let r = client
                    .post(url)
                    .multipart(small_job(48, 5))
                    .send()
                    .await
                    .expect("an answer");
                let status = r.status().as_u16();
                let body: Value = r.json().await.expect("a JSON body");
                (status, body, t.elapsed())
            })
        })
        .collect();
    let mut accepted = BTreeSet::new();
    let mut refused = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (status, body, latency) = tokio::time::timeout(Duration::from_secs(60), task)
            .await
            .expect("bounded")
            .unwrap();
        latencies.push(latency);
        match status {
            201 => assert!(
                accepted.insert(body["id"].as_str().unwrap().to_owned()),
                "ids are unique"
            ),
            503 => {
                assert!(
                    body["error"].as_str().unwrap().contains("queue is full"),
                    "{body}"
                );
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    let wall = started.elapsed();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "load: {SUBMISSIONS} concurrent submissions (48x36 + 40x40 PNG each) in {:.2} s ({:.0}/s): \
         {} accepted (201), {refused} refused (503); latency p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        wall.as_secs_f64(),
        SUBMISSIONS as f64 / wall.as_secs_f64(),
        accepted.len(),
        pct(50).as_secs_f64() * 1e3,
        pct(95).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    assert_eq!(accepted.len() + refused, SUBMISSIONS);
    assert_eq!(accepted.len(), QUEUE, "the queue fills exactly");

    let list: Value = client
        .get(s.url("/api/jobs?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let stored: BTreeSet<String> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored, accepted, "exactly the accepted jobs are queued");
    let mut positions: Vec<u64> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["position"].as_u64().unwrap())
        .collect();
    positions.sort();
    assert_eq!(
        positions,
        (0..QUEUE as u64).collect::<Vec<_>>(),
        "each has its own place in the queue"
    );
    let dirs = std::fs::read_dir(s.data.path().join("images"))
        .unwrap()
        .count();
    assert_eq!(dirs, QUEUE, "refused submissions left no images");
    s.stop().await;
}
