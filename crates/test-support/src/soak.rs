//! The soak tests' driver: many tiny submissions with random cancels and
//! deletes, against whatever processes the test runs (restarting or
//! killing them between rounds), then every job accounted for. How many:
//! [`crate::full_soaks`].

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::Api;

/// The `restyle serve` flags of a soak: room for every submission in the queue, a
/// 20 MB disk budget ([`SOAK_DISK`]), and the per-client shares lifted, since a soak
/// submits as one client throughout.
pub const SOAK_SERVE_FLAGS: [&str; 8] = [
    "--max-queue",
    "1000",
    "--max-disk",
    "20M",
    "--max-jobs-per-client",
    "1000",
    "--max-disk-share",
    "1",
];

/// The disk budget of [`SOAK_SERVE_FLAGS`], in bytes: the images must stay within it.
pub const SOAK_DISK: u64 = 20 << 20;

/// A small, seeded generator (xorshift64*): the same choices every run.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// A number in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// What the soak did and saw.
#[derive(Default, Debug)]
pub struct Soak {
    /// The ids of the jobs accepted, in the order they were submitted.
    pub accepted: Vec<String>,
    /// Submissions refused (503: the queue is full; 507: the disk is).
    pub refused: usize,
    /// Cancel requests sent.
    pub cancels: usize,
    /// The jobs deleted.
    pub deleted: HashSet<String>,
    /// Largest `disk_bytes` the health check reported.
    pub peak_disk: u64,
}

impl Soak {
    /// Submits `n` tiny jobs; after each, one earlier job may be cancelled
    /// (1 in 5) or deleted (1 in 10).
    pub async fn round(&mut self, api: &Api, n: usize, dice: &mut Dice) {
        for _ in 0..n {
            let size = [32, 40, 48][dice.below(3)];
            let iterations = 2 + dice.below(4) as u32;
            match api.try_submit(size, iterations).await {
                Ok(id) => self.accepted.push(id),
                Err(status) => {
                    assert!(status == 503 || status == 507, "refused with {status}");
                    self.refused += 1;
                }
            }
            let roll = dice.below(10);
            let live: Vec<&String> = self
                .accepted
                .iter()
                .filter(|id| !self.deleted.contains(*id))
                .collect();
            if live.is_empty() {
                continue;
            }
            let target = live[dice.below(live.len())].clone();
            let url = format!("{}/api/jobs/{target}", api.url);
            if roll < 2 {
                let r = api
                    .client
                    .post(format!("{url}/cancel"))
                    .send()
                    .await
                    .unwrap();
                // 409: it had finished already.
                assert!(
                    r.status() == 200 || r.status() == 409,
                    "cancel: {}",
                    r.status()
                );
                self.cancels += 1;
            } else if roll == 2 {
                let r = api.client.delete(&url).send().await.unwrap();
                assert_eq!(r.status(), 204, "delete");
                self.deleted.insert(target);
            }
            self.peak_disk = self.peak_disk.max(api.disk_bytes().await);
        }
    }

    /// Waits until the accepted jobs `ids` (in queue order) are final (or
    /// deleted) and checks each: deleted jobs are gone, failed ones say why.
    /// Returns the jobs by id.
    pub async fn settle(
        &self,
        api: &Api,
        ids: &[String],
        limit: Duration,
    ) -> HashMap<String, Value> {
        let start = Instant::now();
        let mut jobs = HashMap::new();
        for id in ids {
            let url = format!("{}/api/jobs/{id}", api.url);
            loop {
                let r = api.client.get(&url).send().await.unwrap();
                if self.deleted.contains(id) {
                    assert_eq!(r.status(), 404, "deleted job {id} is gone");
                    break;
                }
                assert_eq!(r.status(), 200, "job {id} was lost");
                let job: Value = r.json().await.unwrap();
                if matches!(job["state"].as_str(), Some("done" | "failed" | "cancelled")) {
                    if job["state"] == "failed" {
                        assert!(job["error"].is_string(), "failed without a reason: {job}");
                    }
                    jobs.insert(id.clone(), job);
                    break;
                }
                if start.elapsed() > limit {
                    let health = api.client.get(format!("{}/api/health", api.url)).send();
                    let health = health.await.unwrap().text().await.unwrap();
                    panic!("not finished within {limit:?}: {job}; health: {health}");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        jobs
    }
}

/// Counts of jobs by state, for the printed figures.
pub fn by_state(jobs: &HashMap<String, Value>) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for job in jobs.values() {
        *counts
            .entry(job["state"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    counts
}

/// How many times each job was started, from the processes' logs.
pub fn starts_in_logs(logs: &str, id: &str) -> usize {
    logs.lines()
        .filter(|l| l.contains("job started") && l.contains(id))
        .count()
}
