//! The disk stays within `--max-disk` whatever is submitted and cancelled;
//! finished jobs drop the files they no longer need and go after `--keep`.

use std::path::Path;
use std::time::{Duration, Instant};

use restyle_test_support::http::small_job;
use restyle_test_support::TestServer;
use serde_json::Value;

/// Bytes of the files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            _ => e.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

const BUDGET: u64 = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disk_stays_under_budget_through_200_submit_and_cancel_cycles() {
    let budget = BUDGET.to_string();
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--max-disk",
        &budget,
        "--max-queue",
        "1000",
        // One client: its own shares (jobs queued, disk) are lifted.
        "--max-jobs-per-client",
        "1000",
        "--max-disk-share",
        "1",
    ])
    .await;
    let images = s.data.path().join("images");
    let mut peak = 0;
    for cycle in 0..200 {
        let id = s.submit_ok(small_job(48, 5)).await;
        peak = peak.max(bytes_under(&images));
        let r = s.cancel(&id).await;
        assert_eq!(r.status(), 200, "cycle {cycle}");
        let used = bytes_under(&images);
        peak = peak.max(used);
        assert!(used <= BUDGET, "cycle {cycle}: {used} bytes of images");
    }
    println!("200 submit/cancel cycles: peak {peak} bytes of images (budget {BUDGET})");
    assert!(peak > 0, "uploads were stored while queued");
    assert_eq!(bytes_under(&images), 0, "a cancelled job keeps no files");

    // Submissions that stay queued fill the budget, then are refused with
    // 507; what is stored never exceeds it.
    let mut accepted = 0;
    let refused = loop {
        let r = s.submit(small_job(48, 5)).await;
        if r.status() != 201 {
            break r;
        }
        accepted += 1;
        assert!(bytes_under(&images) <= BUDGET);
        assert!(accepted < 1000, "never refused");
    };
    assert_eq!(refused.status(), 507);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("storage is full"),
        "{body}"
    );
    assert!(
        accepted > 3,
        "{accepted} accepted before the budget was full"
    );
    let health = s.health().await;
    assert!(health["disk_bytes"].as_u64().unwrap() <= BUDGET, "{health}");
    assert_eq!(health["max_disk_bytes"], BUDGET);
    s.stop().await;
}

async fn files_of(s: &TestServer, id: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(s.data.path().join("images").join(id))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Polls `check` every 100 ms until it holds, or panics after `limit`.
async fn eventually<F: std::future::Future<Output = bool>>(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_keep_only_their_result_then_go_after_keep() {
    let s = TestServer::start(&["--keep", "4s", "--sweep-seconds", "1"]).await;
    let (id, _) = s
        .submit_until_done(small_job(48, 3), Duration::from_secs(120))
        .await;
    eventually(
        Duration::from_secs(20),
        "uploads and preview dropped",
        || async { files_of(&s, &id).await == ["result"] },
    )
    .await;
    let result = s.get(&format!("/api/jobs/{id}/result")).await;
    assert_eq!(result.status(), 200);
    let content = s.get(&format!("/api/jobs/{id}/content")).await;
    assert_eq!(content.status(), 404, "the upload is gone");

    eventually(Duration::from_secs(30), "the job expired", || async {
        let r = s.get(&format!("/api/jobs/{id}")).await;
        r.status() == 404
    })
    .await;
    assert!(!s.data.path().join("images").join(&id).exists());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_budget_the_oldest_finished_jobs_go_first() {
    // Uploads kept: finished jobs weigh on the disk until the budget is hit.
    let budget = BUDGET.to_string();
    let s = TestServer::start(&[
        "--workers",
        "0",
        "--keep-uploads",
        "--max-disk",
        &budget,
        "--max-queue",
        "1000",
        // One client: its own shares (jobs queued, disk) are lifted.
        "--max-jobs-per-client",
        "1000",
        "--max-disk-share",
        "1",
    ])
    .await;
    let mut ids = Vec::new();
    for _ in 0..60 {
        let r = s.submit(small_job(48, 5)).await;
        if r.status() != 201 {
            assert_eq!(r.status(), 507);
            break;
        }
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let cancel = s.cancel(&id).await;
        assert_eq!(cancel.status(), 200);
        ids.push(id);
        assert!(bytes_under(&s.data.path().join("images")) <= BUDGET);
    }
    assert_eq!(ids.len(), 60, "finished jobs make room for new ones");
    let first = s.get(&format!("/api/jobs/{}", ids[0])).await;
    assert_eq!(first.status(), 404, "the oldest went");
    let last = s.get(&format!("/api/jobs/{}", ids[59])).await;
    assert_eq!(last.status(), 200, "the newest stayed");
    s.stop().await;
}
