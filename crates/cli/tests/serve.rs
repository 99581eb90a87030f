//! `restyle serve` as a process: killed with SIGKILL mid-job it loses
//! nothing; stopped with SIGTERM it puts the running job back in the queue.

mod support;

use std::time::Duration;

use support::{Api, Proc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_sigkill_mid_job_a_restarted_server_finishes_every_job() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (mut first, url) = Proc::serve(&["--data", data], &dir.path().join("first.log"));
    let api = Api::new(&url);
    let long = api.submit(48, 60).await;
    let queued = [api.submit(48, 6).await, api.submit(32, 4).await];

    // Kill it once the first job has run a while and saved a preview.
    api.wait_for(&long, Duration::from_secs(120), |j| {
        j["state"] == "running" && j["step"].as_u64() >= Some(8) && j["preview_url"].is_string()
    })
    .await;
    for id in &queued {
        assert_eq!(api.job(id).await["state"], "queued");
    }
    first.kill();

    let (second, url) = Proc::serve(&["--data", data], &dir.path().join("second.log"));
    let api = Api::new(&url);
    let job = api
        .wait_for(&long, Duration::from_secs(180), |j| j["state"] == "done")
        .await;
    assert_eq!(job["attempts"], 2, "run again after the restart: {job}");
    assert_eq!(job["step"], 60);
    api.check_result(&job).await;
    let log = second.log_text();
    assert!(log.contains("re-queued jobs interrupted"), "{log}");
    assert!(
        log.contains("resuming from the last preview"),
        "resumed, not restarted: {log}"
    );
    for id in &queued {
        let job = api
            .wait_for(id, Duration::from_secs(120), |j| j["state"] == "done")
            .await;
        assert_eq!(job["attempts"], 1, "{job}");
        api.check_result(&job).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_the_running_job_waits_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let (mut server, url) = Proc::serve(&["--data", data], &dir.path().join("first.log"));
    let api = Api::new(&url);
    let id = api.submit(48, 400).await;
    api.wait_for(&id, Duration::from_secs(120), |j| {
        j["state"] == "running" && j["preview_url"].is_string()
    })
    .await;
    let status = server.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status:?}: {}", server.log_text());
    assert!(
        server.log_text().contains("job back in the queue"),
        "{}",
        server.log_text()
    );

    // With no workers the job stays as the stop left it: queued, with its progress.
    let (_second, url) = Proc::serve(
        &["--data", data, "--workers", "0"],
        &dir.path().join("second.log"),
    );
    let job = Api::new(&url).job(&id).await;
    assert_eq!(job["state"], "queued", "{job}");
    assert_eq!(job["position"], 0);
    assert!(job["step"].as_u64() > Some(0), "{job}");
}
