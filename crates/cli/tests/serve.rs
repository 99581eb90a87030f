//! `restyle serve` as a process: killed with SIGKILL mid-job it loses
//! nothing; stopped with SIGTERM it puts the running job back in the queue;
//! with a file limit of 128, a slowloris of 130 connections does not keep
//! `/api/health` from answering; `restyle site` writes its static site once.

use std::time::Duration;

use restyle_test_support::process::{Api, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let api = api.at(&url);
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
    let job = api.at(&url).job(&id).await;
    assert_eq!(job["state"], "queued", "{job}");
    assert_eq!(job["position"], 0);
    assert!(job["step"].as_u64() > Some(0), "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_128_files_health_answers_through_a_slowloris_of_130() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (_server, url) = Proc::serve_with_file_limit(
        128,
        &[
            "--data",
            data.to_str().unwrap(),
            "--workers",
            "0",
            "--header-timeout",
            "3",
        ],
        &dir.path().join("serve.log"),
    );
    let address = url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..130 {
        let mut c = tokio::net::TcpStream::connect(&address).await.unwrap();
        let _ = c
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            .await;
        slow.push(c);
    }
    for _ in 0..5 {
        let fresh = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let r = fresh
            .get(format!("{url}/api/health"))
            .send()
            .await
            .expect("health answers");
        assert_eq!(r.status(), 200);
    }
    // The slow ones are closed by the server.
    for (i, c) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "slow connection {i} is still open");
    }
}

#[test]
fn site_writes_a_static_site_once_and_refuses_to_overwrite_it() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("public");
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_restyle"))
            .arg("site")
            .arg(&site)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(first.status.success(), "{first:?}");
    for file in [
        "index.html",
        "fast.js",
        "ort.wasm",
        "style.onnx",
        "styles.json",
    ] {
        assert!(site.join(file).is_file(), "{file}");
    }
    // The runtime is written unpacked, as a static host serves it.
    let wasm = std::fs::read(site.join("ort.wasm")).unwrap();
    assert_eq!(&wasm[..4], b"\0asm");
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.starts_with("restyle: error: ")
            && stderr.contains("already exists")
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert!(run(&["--overwrite"]).status.success());
}
