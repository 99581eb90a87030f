//! A job whose worker dies in the middle of it (here: SIGKILL, as an
//! out-of-memory abort would) is tried `--max-attempts` times (2 by
//! default), then ends `failed` with the reason; the server keeps serving.

use std::time::Duration;

use restyle_test_support::process::{Api, Proc};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_kills_its_worker_twice_ends_failed_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let serve = |n: usize| Proc::serve(&["--data", data], &dir.path().join(format!("{n}.log")));

    let (mut server, mut url) = serve(1);
    // One submitter (one key) throughout: the job is visible to it only.
    let submitter = Api::new(&url);
    let id = submitter.submit(48, 1000).await;
    for attempt in 1..=2 {
        let job = submitter
            .at(&url)
            .wait_for(&id, Duration::from_secs(120), |j| {
                j["state"] == "running" && j["step"].as_u64() >= Some(1)
            })
            .await;
        assert_eq!(job["attempts"], attempt, "{job}");
        server.kill();
        (server, url) = serve(attempt + 1);
    }
    let api = submitter.at(&url);
    let job = api
        .wait_for(&id, Duration::from_secs(60), |j| j["state"] != "queued")
        .await;
    assert_eq!(job["state"], "failed", "not run a third time: {job}");
    assert_eq!(job["attempts"], 2, "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(
        error.contains("stopped in the middle of this job 2 times"),
        "{error}"
    );

    // The next job runs as usual.
    let next = api.submit(32, 3).await;
    let done = api
        .wait_for(&next, Duration::from_secs(120), |j| j["state"] == "done")
        .await;
    assert_eq!(done["attempts"], 1);
    api.check_result(&done).await;
    drop(server);
}
