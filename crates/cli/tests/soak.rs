//! Soak on SQLite: 300 tiny submissions with random cancels and deletes, the
//! server killed with SIGKILL and restarted twice along the way. Every
//! accepted job ends done, failed (with a reason), cancelled or deleted;
//! none is lost or started more often than it was interrupted; memory and
//! disk stay flat. Prints its figures. That is the full soak
//! (RESTYLE_FULL_SOAKS=1); by default and in CI, 24 submissions.

use std::io::Write as _;
use std::time::{Duration, Instant};

use restyle_test_support::full_soaks;
use restyle_test_support::process::{rss, Api, Proc};
use restyle_test_support::soak::{
    by_state, starts_in_logs, Dice, Soak, SOAK_DISK, SOAK_SERVE_FLAGS,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_sqlite_two_kills() {
    // Three rounds of submissions, the server killed after the first two.
    let per_round = if full_soaks("the SQLite soak") {
        100
    } else {
        8
    };
    let submitted = 3 * per_round;
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let serve = |n: usize| {
        let mut flags = vec!["--data", data];
        flags.extend_from_slice(&SOAK_SERVE_FLAGS);
        Proc::serve(&flags, &dir.path().join(format!("serve{n}.log")))
    };
    let mut dice = Dice::new(9);
    let mut soak = Soak::default();
    let mut logs = String::new();
    let mut peaks = Vec::new();
    let (mut server, mut url) = serve(1);
    // One submitter (one key) throughout: its jobs are visible to it only.
    let submitter = Api::new(&url);
    for round in 1..=3 {
        soak.round(&submitter.at(&url), per_round, &mut dice).await;
        if round < 3 {
            peaks.push(rss(server.child.id()).1);
            server.kill();
            logs.push_str(&server.log_text());
            (server, url) = serve(round + 1);
        }
    }
    let api = submitter.at(&url);
    // Memory of the last process once half the jobs are through (warm),
    // and once all are.
    let half = soak.accepted.len() / 2;
    let mut jobs = soak
        .settle(&api, &soak.accepted[..half], Duration::from_secs(900))
        .await;
    let (warm_rss, _) = rss(server.child.id());
    jobs.extend(
        soak.settle(&api, &soak.accepted[half..], Duration::from_secs(900))
            .await,
    );
    let (end_rss, end_peak) = rss(server.child.id());
    peaks.push(end_peak);
    logs.push_str(&server.log_text());
    let disk_end = api.disk_bytes().await;

    let mut rerun = 0;
    for (id, job) in &jobs {
        let attempts = job["attempts"].as_u64().unwrap() as usize;
        assert_eq!(starts_in_logs(&logs, id), attempts, "job {id}: {job}");
        if attempts > 1 {
            rerun += 1;
        }
    }
    let states = by_state(&jobs);
    // Straight to standard error, past the harness's capture: CI shows the figures.
    let _ = writeln!(
        std::io::stderr(),
        "soak (SQLite): {submitted} submitted, {} accepted, {} refused, {} cancel requests, {} deleted; \
         final states {states:?}; {rerun} jobs re-run after the 2 kills; \
         peak RSS per process {:?} MiB; RSS warm {} MiB, at the end {} MiB; \
         images peak {} KiB, at the end {} KiB; {:.0} s",
        soak.accepted.len(),
        soak.refused,
        soak.cancels,
        soak.deleted.len(),
        peaks.iter().map(|p| p >> 20).collect::<Vec<_>>(),
        warm_rss >> 20,
        end_rss >> 20,
        soak.peak_disk >> 10,
        disk_end >> 10,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(soak.accepted.len() + soak.refused, submitted);
    assert_eq!(
        jobs.len() + soak.deleted.len(),
        soak.accepted.len(),
        "every job accounted for"
    );
    assert!(
        rerun <= 2,
        "only a job running at a kill runs again: {rerun}"
    );
    assert!(
        states.get("done").copied().unwrap_or(0) > submitted / 3,
        "{states:?}"
    );
    assert!(soak.peak_disk <= SOAK_DISK, "disk within --max-disk");
    assert!(
        end_rss <= warm_rss + (100 << 20),
        "memory grew: {warm_rss} -> {end_rss} bytes"
    );
}
