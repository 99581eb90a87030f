//! One queue on a real PostgreSQL server (started here, on a free loopback
//! port, in a temporary directory): `restyle serve --workers 0` takes the
//! jobs, two `restyle worker` processes run them; every job runs exactly once.
//!
//! Needs PostgreSQL's server programs (Debian: `postgresql`, found under
//! /usr/lib/postgresql/*/bin); without them the test says so and passes,
//! unless RESTYLE_REQUIRE_ALL_TESTS=1.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use restyle_test_support::http::is_final;
use restyle_test_support::process::{rss, Api, Proc};
use restyle_test_support::soak::{
    by_state, starts_in_logs, Dice, Soak, SOAK_DISK, SOAK_SERVE_FLAGS,
};
use restyle_test_support::{full_soaks, require_or_skip};

/// The operator's token on the servers these tests start.
const OPERATOR: &str = "operator-token-for-tests";

/// The directory holding initdb, pg_ctl and postgres (the newest version).
fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file())
        .collect();
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A throwaway PostgreSQL cluster, stopped when dropped.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

impl Cluster {
    /// PostgreSQL refuses to run as root: then the cluster belongs to the
    /// `postgres` user that Debian's package creates.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start(bin: PathBuf, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Self {
            bin,
            dir: dir.to_owned(),
            port,
            as_postgres: is_root(),
        };
        if cluster.as_postgres {
            let ok = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(dir)
                .status()
                .unwrap();
            assert!(
                ok.success(),
                "cannot give {} to the postgres user",
                dir.display()
            );
        }
        let data = dir.join("pgdata");
        let out = cluster
            .command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            dir.display()
        );
        let out = cluster
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-o", &options, "start"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default()
        );
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D"])
            .arg(self.dir.join("pgdata"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// A throwaway PostgreSQL cluster and a `restyle serve --workers 0` that queues its jobs
/// there, in temporary directories.
struct Queue {
    /// The server.
    server: Proc,
    /// The server's address.
    api_url: String,
    /// The database's address, for `restyle worker --database`.
    database: String,
    /// Where the server's data and every process's log go.
    logs: tempfile::TempDir,
    /// Stopped when dropped, after the server.
    _cluster: Cluster,
    _cluster_dir: tempfile::TempDir,
}

impl Queue {
    /// The queue and its server, started with `flags`; `None` (the test skipped, or
    /// failed in CI) where PostgreSQL is not installed.
    fn start(flags: &[&str]) -> Option<Self> {
        let Some(bin) = postgres_bin() else {
            require_or_skip(
                "the PostgreSQL tests",
                "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)",
            );
            return None;
        };
        let cluster_dir = tempfile::tempdir().unwrap();
        let cluster = Cluster::start(bin, cluster_dir.path());
        let database = cluster.url();
        let logs = tempfile::tempdir().unwrap();
        let mut all = vec!["--database", &database, "--workers", "0"];
        all.extend_from_slice(flags);
        let (server, api_url) = Proc::serve_in(logs.path(), &all);
        Some(Self {
            server,
            api_url,
            database,
            logs,
            _cluster: cluster,
            _cluster_dir: cluster_dir,
        })
    }

    /// `restyle worker --name NAME FLAGS` on this queue, logging to `NAME.log`.
    fn worker(&self, name: &str, flags: &[&str]) -> Proc {
        let mut all = vec!["worker", "--database", &self.database, "--name", name];
        all.extend_from_slice(flags);
        Proc::start(&all, &self.logs.path().join(format!("{name}.log")))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_postgres_queue_and_run_every_job_exactly_once() {
    // The operator's token: only the operator sees which worker ran a job.
    let Some(queue) = Queue::start(&["--admin-token", OPERATOR]) else {
        return;
    };
    let mut workers: Vec<Proc> = ["w1", "w2"]
        .iter()
        .map(|name| {
            let p = queue.worker(name, &[]);
            assert!(p.first_line.contains("taking jobs"), "{}", p.first_line);
            p
        })
        .collect();

    let api = Api::operator(&queue.api_url, OPERATOR);
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(api.submit(if i % 2 == 0 { 48 } else { 32 }, 6).await);
    }
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        let job = api
            .wait_for(id, Duration::from_secs(180), |j| j["state"] == "done")
            .await;
        assert_eq!(job["attempts"], 1, "taken once: {job}");
        api.check_result(&job).await;
        let worker = job["worker"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        *by_worker.entry(worker).or_default() += 1;
    }
    assert_eq!(by_worker.values().sum::<usize>(), ids.len());
    assert!(
        by_worker.keys().all(|w| w == "w1" || w == "w2"),
        "{by_worker:?}"
    );
    assert_eq!(by_worker.len(), 2, "both workers took jobs: {by_worker:?}");

    // The workers' own logs agree: each job started once, in one of them.
    for w in &mut workers {
        assert!(w.terminate(Duration::from_secs(30)).success());
    }
    let logs: String = workers.iter().map(|w| w.log_text()).collect();
    for id in &ids {
        let starts = logs
            .lines()
            .filter(|l| l.contains("job started") && l.contains(id.as_str()))
            .count();
        assert_eq!(starts, 1, "job {id} started {starts} times:\n{logs}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_paints_fast_pictures_in_painting_processes() {
    let Some(queue) = Queue::start(&["--admin-token", OPERATOR]) else {
        return;
    };
    let worker = queue.worker("w1", &[]);
    let api = Api::operator(&queue.api_url, OPERATOR);
    // Two paintings with masks at 1024 px: more work than the instant lane takes, so
    // the worker paints it.
    let upload = restyle_test_support::jpeg(1200, 1000);
    let mut form = reqwest::multipart::Form::new();
    for field in ["content", "style", "style_2", "mask_1", "mask_2"] {
        form = form.part(
            field,
            restyle_test_support::http::file(upload.clone(), &format!("{field}.jpg")),
        );
    }
    let form = form.text("size", "1024").text("method", "fast");
    let id = api.submit_form_ok(form).await;
    let job = api.wait_for(&id, Duration::from_secs(300), is_final).await;
    assert_eq!(job["state"], "done", "{job}");
    let by = job["worker"].as_str().unwrap_or_default();
    assert!(by.starts_with("w1"), "the worker painted it: {job}");
    let painters = restyle_test_support::process::children(worker.child.id());
    assert!(
        !painters.is_empty(),
        "the worker painted the fast picture in a process of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_goes_to_another_worker() {
    // The operator's token: only the operator sees which worker ran a job.
    let Some(queue) = Queue::start(&["--admin-token", OPERATOR]) else {
        return;
    };
    // A short lease: a silent worker's job is taken back after 2 seconds.
    let worker = |name: &str| queue.worker(name, &["--lease-seconds", "2"]);
    let mut doomed = worker("doomed");
    let api = Api::operator(&queue.api_url, OPERATOR);
    let id = api.submit(48, 60).await;
    api.wait_for(&id, Duration::from_secs(120), |j| {
        j["state"] == "running" && j["step"].as_u64() >= Some(5)
    })
    .await;
    doomed.kill();
    let heir = worker("heir");
    let job = api
        .wait_for(&id, Duration::from_secs(180), |j| j["state"] == "done")
        .await;
    assert_eq!(job["attempts"], 2, "{job}");
    assert_eq!(job["worker"], "heir/0");
    api.check_result(&job).await;
    assert!(
        heir.log_text()
            .contains("re-queued jobs whose worker went silent"),
        "{}",
        heir.log_text()
    );
}

/// Soak on PostgreSQL: 300 tiny submissions with random cancels and
/// deletes, two workers, one killed with SIGKILL halfway; images in the
/// database. Every accepted job is accounted for, none started more often
/// than it was interrupted; the images stay within --max-disk. Prints its
/// figures. That is the full soak (RESTYLE_FULL_SOAKS=1); by default and in
/// CI, 24 submissions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_postgres_two_workers_one_killed() {
    // Half the submissions, then a worker killed, then a quarter twice.
    let quarter = if full_soaks("the PostgreSQL soak") {
        75
    } else {
        6
    };
    let submitted = 4 * quarter;
    let started = std::time::Instant::now();
    let Some(queue) = Queue::start(&SOAK_SERVE_FLAGS) else {
        return;
    };
    let worker = |name: &str| queue.worker(name, &["--lease-seconds", "2"]);
    let (mut doomed, survivor) = (worker("w1"), worker("w2"));
    let api = Api::new(&queue.api_url);
    let mut dice = Dice::new(11);
    let mut soak = Soak::default();
    soak.round(&api, 2 * quarter, &mut dice).await;
    let doomed_peak = rss(doomed.child.id()).1;
    doomed.kill();
    // Until now the survivor shared the work; measure its memory once it has
    // run jobs alone for a while, then check the rest leave it flat.
    soak.round(&api, quarter, &mut dice).await;
    soak.settle(&api, &soak.accepted, Duration::from_secs(1200))
        .await;
    let (warm_rss, _) = rss(survivor.child.id());
    soak.round(&api, quarter, &mut dice).await;
    let jobs = soak
        .settle(&api, &soak.accepted, Duration::from_secs(1200))
        .await;
    let (end_rss, survivor_peak) = rss(survivor.child.id());
    let server_peak = rss(queue.server.child.id()).1;
    let disk_end = api.disk_bytes().await;
    let all_logs = doomed.log_text() + &survivor.log_text();

    let mut rerun = 0;
    for (id, job) in &jobs {
        let attempts = job["attempts"].as_u64().unwrap() as usize;
        assert_eq!(starts_in_logs(&all_logs, id), attempts, "job {id}: {job}");
        if attempts > 1 {
            rerun += 1;
        }
    }
    let states = by_state(&jobs);
    // Straight to standard error, past the harness's capture: CI shows the figures.
    let _ = writeln!(
        std::io::stderr(),
        "soak (PostgreSQL, 2 workers, 1 killed): {submitted} submitted, {} accepted, {} refused, \
         {} cancel requests, {} deleted; final states {states:?}; {rerun} jobs re-run; \
         peak RSS: killed worker {} MiB, surviving worker {} MiB, server {} MiB; \
         surviving worker RSS warm {} MiB, at the end {} MiB; images peak {} KiB, at the end {} KiB; {:.0} s",
        soak.accepted.len(),
        soak.refused,
        soak.cancels,
        soak.deleted.len(),
        doomed_peak >> 20,
        survivor_peak >> 20,
        server_peak >> 20,
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
        rerun <= 1,
        "only the killed worker's job runs again: {rerun}"
    );
    assert!(
        states.get("done").copied().unwrap_or(0) > submitted / 3,
        "{states:?}"
    );
    assert!(soak.peak_disk <= SOAK_DISK, "disk within --max-disk");
    assert!(
        end_rss <= warm_rss + (100 << 20),
        "memory grew: {warm_rss} -> {end_rss}"
    );
}
