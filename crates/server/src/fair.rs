//! Fair shares: what one client may hold or do, so that no single client
//! can lock out, starve or evict the others while staying inside every
//! other limit.
//!
//! A client is its key (the submitter key a request carries, see
//! [`crate::viewer`]), or its address for a request without one (an IPv6
//! address counts by its /64, the block one machine usually gets). Beyond
//! a limit the answer is 429 with `Retry-After` and
//! `{"error": "...", "limit": "<name>"}` naming the limit:
//!
//! | limit | default | flag |
//! | --- | --- | --- |
//! | `streams_per_client`: event streams open at once | 16 | `--max-streams-per-client` |
//! | `streams_per_job`: event streams of one job | 4 | `--max-streams-per-job` |
//! | `uploads_per_client`: submissions being received at once | 2 | `--max-uploads-per-client` |
//! | `jobs_per_client`: jobs queued and running | 8 | `--max-jobs-per-client` |
//! | `instant_per_minute`: fast pictures a minute | 20 | `--max-instant-per-minute` |
//! | `disk_share`: share of `--max-disk` | 0.25 | `--max-disk-share` |
//!
//! An event stream ends after `--stream-lifetime` (10 min; a browser's
//! `EventSource` reconnects by itself), so a stream cannot hold its place
//! for ever.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::ApiError;
use crate::jobs::JobId;
use crate::viewer::Viewer;

/// The per-client limits, settled.
#[derive(Clone, Copy, Debug)]
pub struct FairLimits {
    pub streams_per_client: usize,
    pub streams_per_job: usize,
    pub stream_lifetime: Duration,
    pub uploads_per_client: usize,
    pub jobs_per_client: u64,
    pub instant_per_minute: usize,
    /// Share of the disk budget one client's images may take (0..=1).
    pub disk_share: f64,
}

impl Default for FairLimits {
    fn default() -> Self {
        Self {
            streams_per_client: 16,
            streams_per_job: 4,
            stream_lifetime: Duration::from_secs(600),
            uploads_per_client: 2,
            jobs_per_client: 8,
            instant_per_minute: 20,
            disk_share: 0.25,
        }
    }
}

/// Who a request counts against: `key:` and the key's hash, or `ip:` and
/// the address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Client(Arc<str>);

impl Client {
    /// The client of a request with `viewer` (before a key is issued to
    /// it) from `peer`.
    pub fn of(viewer: &Viewer, peer: Option<SocketAddr>) -> Self {
        match viewer.owner() {
            Some(owner) => Self(format!("key:{owner}").into()),
            None => Self::address(peer.map(|p| p.ip())),
        }
    }

    /// The client for a request without a key.
    pub fn address(ip: Option<IpAddr>) -> Self {
        let text = match ip.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V4(v4)) => format!("ip:{v4}"),
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            None => "ip:unknown".to_owned(),
        };
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The peer's address, put in each request's extensions by the listener.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// A 429 for `limit`, to be tried again after `retry_after`.
pub fn refused(limit: &'static str, retry_after: Duration, message: String) -> ApiError {
    ApiError::Limited {
        limit,
        retry_after: retry_after.as_secs().max(1),
        message,
    }
}

#[derive(Default)]
struct Counts {
    streams: HashMap<Client, usize>,
    job_streams: HashMap<JobId, usize>,
    uploads: HashMap<Client, usize>,
    /// Submissions under way, counted against the job quota until stored.
    submitting: HashMap<Client, u64>,
}

/// The running counts behind the limits, shared by every request.
pub struct Fairness {
    pub limits: FairLimits,
    counts: Mutex<Counts>,
    instant: Mutex<HashMap<Client, VecDeque<Instant>>>,
    failed_tokens: Mutex<HashMap<Client, VecDeque<Instant>>>,
}

/// Wrong tokens an address may send in a minute before it gets 429s.
pub const FAILED_TOKENS_PER_MINUTE: usize = 10;
/// How long the answer to a wrong token waits: guessing is slow even
/// below [`FAILED_TOKENS_PER_MINUTE`].
pub const FAILED_TOKEN_DELAY: Duration = Duration::from_millis(500);

/// Counts one event of `client` in a sliding minute; `Err(wait)` when
/// `limit` events already happened in it.
fn in_window(
    all: &Mutex<HashMap<Client, VecDeque<Instant>>>,
    client: &Client,
    limit: usize,
) -> Result<(), (usize, Duration)> {
    const MINUTE: Duration = Duration::from_secs(60);
    let now = Instant::now();
    let mut all = all.lock().unwrap();
    // Forget clients with nothing in the window (bounded memory).
    if all.len() > 4096 {
        all.retain(|_, times| times.back().is_some_and(|t| now - *t < MINUTE));
    }
    let times = all.entry(client.clone()).or_default();
    while times.front().is_some_and(|t| now - *t >= MINUTE) {
        times.pop_front();
    }
    if times.len() >= limit {
        return Err((times.len(), MINUTE.saturating_sub(now - times[0])));
    }
    times.push_back(now);
    Ok(())
}

fn take<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, usize>, key: &K) {
    *map.entry(key.clone()).or_default() += 1;
}

fn give_back<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Fairness {
    pub fn new(limits: FairLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            counts: Mutex::default(),
            instant: Mutex::default(),
            failed_tokens: Mutex::default(),
        })
    }

    /// A place for an event stream of `job`, held until the guard drops.
    pub fn open_stream(
        self: &Arc<Self>,
        client: &Client,
        job: &JobId,
    ) -> Result<StreamPlace, ApiError> {
        let mut c = self.counts.lock().unwrap();
        let (mine, theirs) = (
            c.streams.get(client).copied().unwrap_or(0),
            c.job_streams.get(job).copied().unwrap_or(0),
        );
        if mine >= self.limits.streams_per_client {
            return Err(refused(
                "streams_per_client",
                Duration::from_secs(10),
                format!(
                    "you have {mine} event streams open; this server allows {} per client (close one first)",
                    self.limits.streams_per_client
                ),
            ));
        }
        if theirs >= self.limits.streams_per_job {
            return Err(refused(
                "streams_per_job",
                Duration::from_secs(10),
                format!(
                    "this job has {theirs} event streams open; this server allows {} per job",
                    self.limits.streams_per_job
                ),
            ));
        }
        take(&mut c.streams, client);
        take(&mut c.job_streams, job);
        Ok(StreamPlace {
            fair: self.clone(),
            client: client.clone(),
            job: job.clone(),
        })
    }

    /// A place for one submission being received and checked, held until
    /// the guard drops; it also counts against the client's job quota.
    pub fn start_upload(self: &Arc<Self>, client: &Client) -> Result<UploadPlace, ApiError> {
        let mut c = self.counts.lock().unwrap();
        let mine = c.uploads.get(client).copied().unwrap_or(0);
        if mine >= self.limits.uploads_per_client {
            return Err(refused(
                "uploads_per_client",
                Duration::from_secs(5),
                format!(
                    "you are already sending {mine} submissions; this server takes {} at once per client",
                    self.limits.uploads_per_client
                ),
            ));
        }
        take(&mut c.uploads, client);
        *c.submitting.entry(client.clone()).or_default() += 1;
        Ok(UploadPlace {
            fair: self.clone(),
            client: client.clone(),
        })
    }

    /// Refuses a job when the client's `stored` queued and running jobs,
    /// with its other submissions under way, reach the quota.
    pub fn check_jobs(&self, client: &Client, stored: u64) -> Result<(), ApiError> {
        let others = {
            let c = self.counts.lock().unwrap();
            c.submitting
                .get(client)
                .copied()
                .unwrap_or(1)
                .saturating_sub(1)
        };
        let held = stored + others;
        if held >= self.limits.jobs_per_client {
            return Err(refused(
                "jobs_per_client",
                Duration::from_secs(30),
                format!(
                    "you have {held} jobs queued or running; this server allows {} per client (wait for one to finish, or cancel one)",
                    self.limits.jobs_per_client
                ),
            ));
        }
        Ok(())
    }

    /// Counts one fast picture for `client`, refusing it beyond the
    /// minute's allowance (a sliding window of the last 60 s).
    pub fn take_instant(&self, client: &Client) -> Result<(), ApiError> {
        in_window(&self.instant, client, self.limits.instant_per_minute).map_err(|(n, wait)| {
            refused(
                "instant_per_minute",
                wait + Duration::from_millis(999),
                format!(
                    "you have had {n} fast pictures in the last minute; this server paints {} a minute per client",
                    self.limits.instant_per_minute
                ),
            )
        })
    }

    /// Counts a wrong token from `client` (its address), refusing it
    /// beyond [`FAILED_TOKENS_PER_MINUTE`].
    pub fn token_failed(&self, client: &Client) -> Result<(), ApiError> {
        in_window(&self.failed_tokens, client, FAILED_TOKENS_PER_MINUTE).map_err(|(n, wait)| {
            refused(
                "failed_tokens_per_minute",
                wait + Duration::from_millis(999),
                format!(
                    "{n} wrong tokens from your address in the last minute; this server allows {FAILED_TOKENS_PER_MINUTE}"
                ),
            )
        })
    }

    /// Bytes of the disk budget one client may fill.
    pub fn disk_share(&self, max_disk: u64) -> u64 {
        (max_disk as f64 * self.limits.disk_share.clamp(0.0, 1.0)) as u64
    }
}

/// An open event stream's place.
pub struct StreamPlace {
    fair: Arc<Fairness>,
    client: Client,
    job: JobId,
}

impl Drop for StreamPlace {
    fn drop(&mut self) {
        let mut c = self.fair.counts.lock().unwrap();
        give_back(&mut c.streams, &self.client);
        give_back(&mut c.job_streams, &self.job);
    }
}

/// A submission's place while it is received and checked.
pub struct UploadPlace {
    fair: Arc<Fairness>,
    client: Client,
}

impl Drop for UploadPlace {
    fn drop(&mut self) {
        let mut c = self.fair.counts.lock().unwrap();
        give_back(&mut c.uploads, &self.client);
        let n = c.submitting.entry(self.client.clone()).or_default();
        *n = n.saturating_sub(1);
        if *n == 0 {
            c.submitting.remove(&self.client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(n: u8) -> Client {
        Client::address(Some(IpAddr::from([10, 0, 0, n])))
    }

    #[test]
    fn streams_are_capped_per_client_and_per_job_and_given_back() {
        let fair = Fairness::new(FairLimits {
            streams_per_client: 3,
            streams_per_job: 2,
            ..FairLimits::default()
        });
        let (a, b) = (JobId::random(), JobId::random());
        let _first = fair.open_stream(&client(1), &a).unwrap();
        let _second = fair.open_stream(&client(1), &a).unwrap();
        let e = fair.open_stream(&client(2), &a).err().unwrap();
        assert!(matches!(
            e,
            ApiError::Limited {
                limit: "streams_per_job",
                ..
            }
        ));
        let third = fair.open_stream(&client(1), &b).unwrap();
        let e = fair.open_stream(&client(1), &b).err().unwrap();
        assert!(matches!(
            e,
            ApiError::Limited {
                limit: "streams_per_client",
                ..
            }
        ));
        assert_eq!(e.status().as_u16(), 429);
        drop(third);
        assert!(fair.open_stream(&client(1), &b).is_ok());
        assert!(
            fair.open_stream(&client(2), &b).is_ok(),
            "others are not counted"
        );
    }

    #[test]
    fn fast_pictures_are_counted_by_the_minute() {
        let fair = Fairness::new(FairLimits {
            instant_per_minute: 2,
            ..FairLimits::default()
        });
        fair.take_instant(&client(1)).unwrap();
        fair.take_instant(&client(1)).unwrap();
        let e = fair.take_instant(&client(1)).unwrap_err();
        assert!(matches!(
            e,
            ApiError::Limited { limit: "instant_per_minute", retry_after, .. } if (1..=60).contains(&retry_after)
        ));
        fair.take_instant(&client(2)).unwrap();
    }

    #[test]
    fn submissions_under_way_count_against_the_job_quota() {
        let fair = Fairness::new(FairLimits {
            jobs_per_client: 3,
            uploads_per_client: 2,
            ..FairLimits::default()
        });
        let first = fair.start_upload(&client(1)).unwrap();
        let _second = fair.start_upload(&client(1)).unwrap();
        assert!(fair.start_upload(&client(1)).is_err(), "two at once");
        fair.check_jobs(&client(1), 1).unwrap();
        assert!(
            fair.check_jobs(&client(1), 2).is_err(),
            "2 stored + 1 other"
        );
        drop(first);
        fair.check_jobs(&client(1), 1).unwrap();
    }

    #[test]
    fn an_ipv6_client_is_its_64_block() {
        let a = Client::address(Some("2001:db8:1:2::5".parse().unwrap()));
        let b = Client::address(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_eq!(a, b);
        let mapped = Client::address(Some("::ffff:10.0.0.1".parse().unwrap()));
        assert_eq!(mapped, client(1));
    }
}
