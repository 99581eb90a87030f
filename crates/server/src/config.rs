//! Command-line options of `restyle serve` and `restyle worker`, and the
//! settled configuration they turn into.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::limits::Limits;
use crate::storage::{ImageLocation, StoreConfig};
use crate::wire::pace::Pace;
use crate::wire::WireLimits;

/// `restyle serve`: the web page, the JSON API and (by default) one worker.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Jobs run at once in this process (0: API only, for separate `restyle worker`s).
    /// One job already uses every core.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub workers: usize,
    /// Fast (`method=fast`) pictures painted at once, out of the queue's turn, each in a
    /// process of its own limited to --max-job-memory and 384 MiB; each takes about a
    /// second of every core. A submission that finds them all busy waits 3 s for one,
    /// then gets a 503
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub instant_jobs: u16,
    /// The program that paints fast pictures, each in a process of its own limited to
    /// --max-job-memory and a margin, run as `PROGRAM instant-painter` (default: this
    /// executable); `in-process` paints them in the server's own process
    #[arg(long, value_name = "PROGRAM", hide = true)]
    pub instant_painter: Option<PathBuf>,
    /// The least time a fast picture is given before its painting process is killed
    /// (default 20 s), so that a test of a hung process need not wait that long
    #[arg(long, value_name = "SECONDS", hide = true)]
    pub painter_deadline_seconds: Option<u64>,
    /// Require this token (as `Authorization: Bearer TOKEN`, or once as
    /// `?token=TOKEN` on the page) for everything but the static files;
    /// for servers reachable beyond localhost
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RESTYLE_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// The operator's token: whoever sends it (as a bearer token, or through
    /// the token form at /token) sees every job and which worker ran it.
    /// Without it, `--token` is the operator's
    #[arg(
        long,
        value_name = "TOKEN",
        env = "RESTYLE_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    /// The address people use, e.g. https://restyle.example.org/: its host
    /// name is accepted in the Host header (besides IP addresses and
    /// localhost), and https makes cookies Secure
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Seconds a client has to send a request's headers (and the longest an
    /// idle connection stays open)
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub header_timeout: u64,
    /// Seconds a whole request body (an upload) may take
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub body_timeout: u64,
    /// Slowest upload, in kilobytes a second (averaged, after the first 10 s)
    #[arg(long, value_name = "KB/S", default_value_t = 16)]
    pub min_upload_rate: u64,
    /// Most connections open at once (at most the process's file limit less
    /// a reserve); when all are taken, the oldest idle one is closed
    #[arg(long, value_name = "N", default_value_t = 512)]
    pub max_connections: usize,
    /// Largest request (all uploads together), in megabytes
    #[arg(long, value_name = "MB", default_value_t = 25)]
    pub max_upload_mb: u64,
    /// Largest uploaded image, in megapixels (width x height)
    #[arg(long, value_name = "MP", default_value_t = 30.0)]
    pub max_megapixels: f64,
    /// Most jobs waiting in the queue; further submissions are refused (503)
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_queue: u64,
    /// Largest output a job may ask for (long edge, pixels)
    #[arg(long, value_name = "PX", default_value_t = 1024)]
    pub max_size: usize,
    /// Most optimisation steps a job may ask for
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub max_iterations: usize,
    /// Memory one job may need (`4G`, `800M`), estimated before it is
    /// accepted; larger jobs are refused (422) with the size that fits
    /// (default: the memory available at start divided by --workers)
    #[arg(long, value_name = "SIZE")]
    pub max_job_memory: Option<String>,
    /// Longest clip a video job may send (seconds); longer ones are
    /// refused (422) before they are stored
    #[arg(long, value_name = "SECONDS", default_value_t = crate::limits::DEFAULT_MAX_VIDEO_SECONDS)]
    pub max_video_seconds: f64,
    /// Connections kept for short requests (health, the page, the API's
    /// reads and deletes): event streams and uploads together hold at most
    /// --max-connections less these; beyond, they get a 503
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub reserved_connections: usize,
    /// Request bodies (uploads) held in memory at once, all clients
    /// together (`256M`); an upload beyond it gets a 503
    #[arg(long, value_name = "SIZE", default_value = "256M")]
    pub upload_memory: String,
    #[command(flatten)]
    pub fair: FairArgs,
    #[command(flatten)]
    pub retention: RetentionArgs,
}

/// What one client may hold or do (a client is its key, or its address
/// for requests without one); beyond a limit, 429 with `Retry-After`.
#[derive(Args, Debug, Clone)]
pub struct FairArgs {
    /// Event streams (`/api/jobs/ID/events`) one client may hold open
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_streams_per_client: usize,
    /// Event streams open on one job
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_streams_per_job: usize,
    /// An event stream ends after this long (`10min`); browsers reconnect
    #[arg(long, value_name = "DURATION", default_value = "10min")]
    pub stream_lifetime: String,
    /// Submissions one client may be sending at once
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_uploads_per_client: usize,
    /// Jobs one client may have queued and running
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_jobs_per_client: u64,
    /// Fast (`method=fast`) pictures one client may ask for in a minute
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub max_instant_per_minute: usize,
    /// Share of --max-disk one client's images may take (0.25: a quarter);
    /// beyond it that client's own oldest results are deleted first
    #[arg(long, value_name = "FRACTION", default_value_t = 0.25)]
    pub max_disk_share: f64,
}

impl FairArgs {
    pub fn resolve(&self) -> anyhow::Result<crate::fair::FairLimits> {
        let stream_lifetime = humantime::parse_duration(&self.stream_lifetime).map_err(|e| {
            anyhow::anyhow!(
                "--stream-lifetime: `{}` is not a duration (try 10min): {e}",
                self.stream_lifetime
            )
        })?;
        if !(self.max_disk_share > 0.0 && self.max_disk_share <= 1.0) {
            anyhow::bail!("--max-disk-share must be a fraction above 0, at most 1");
        }
        if self.max_streams_per_client == 0
            || self.max_streams_per_job == 0
            || self.max_uploads_per_client == 0
            || self.max_jobs_per_client == 0
            || self.max_instant_per_minute == 0
            || stream_lifetime.is_zero()
        {
            anyhow::bail!(
                "the per-client limits (--max-streams-per-client, ...) must be at least 1"
            );
        }
        Ok(crate::fair::FairLimits {
            streams_per_client: self.max_streams_per_client,
            streams_per_job: self.max_streams_per_job,
            stream_lifetime,
            uploads_per_client: self.max_uploads_per_client,
            jobs_per_client: self.max_jobs_per_client,
            instant_per_minute: self.max_instant_per_minute,
            disk_share: self.max_disk_share,
        })
    }
}

/// `restyle worker`: takes jobs from a shared PostgreSQL queue.
#[derive(Args, Debug, Clone)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Jobs run at once in this process
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub workers: usize,
    /// Name shown in the job's record and logs (default: host name and process id)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Memory one job may need here (`4G`, `800M`): a job the server
    /// accepted that needs more ends `failed`, with the reason, instead of
    /// running this machine out of memory (default: the memory available at
    /// start divided by --workers)
    #[arg(long, value_name = "SIZE")]
    pub max_job_memory: Option<String>,
    /// The program that paints fast pictures, as for `restyle serve` (default: this
    /// executable); `in-process` paints them in the worker's own process
    #[arg(long, value_name = "PROGRAM", hide = true)]
    pub instant_painter: Option<PathBuf>,
}

impl WorkerArgs {
    /// Where fast pictures are painted (see [`painter_program`]).
    pub fn painter_program(&self) -> anyhow::Result<Option<PathBuf>> {
        painter_program(self.instant_painter.as_deref())
    }

    pub fn job_memory(&self) -> anyhow::Result<usize> {
        job_memory(self.max_job_memory.as_deref(), self.workers)
    }
}

/// `--max-job-memory`, or what this machine has available now shared by
/// its `workers` (4 GiB where that cannot be read).
fn job_memory(max_job_memory: Option<&str>, workers: usize) -> anyhow::Result<usize> {
    match max_job_memory {
        Some(text) => restyle::memory::parse_bytes(text).ok_or_else(|| {
            anyhow::anyhow!("--max-job-memory: `{text}` is not a size (try 4G or 800M)")
        }),
        None => {
            Ok(restyle::memory::available_bytes().map_or(4 << 30, |bytes| bytes / workers.max(1)))
        }
    }
}

/// Where jobs and images are kept.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Data directory: the SQLite database and the images (default:
    /// $XDG_DATA_HOME/restyle, or ~/.local/share/restyle)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The job queue: sqlite://PATH (default: DATA/restyle.db) or
    /// postgres://USER@HOST:PORT/DB, shared by several machines
    #[arg(
        long,
        value_name = "URL",
        env = "RESTYLE_DATABASE",
        hide_env_values = true
    )]
    pub database: Option<String>,
    /// Keep images in this directory (shared by every worker) instead of the
    /// default: DATA/images with SQLite, the database itself with PostgreSQL
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// A running job whose worker has been silent this long is given to
    /// another worker (PostgreSQL; with SQLite the server re-queues at start)
    #[arg(long, value_name = "SECONDS", default_value_t = 30, hide = true)]
    pub lease_seconds: u64,
    /// A job whose worker stopped in the middle of it (crashed, killed, out
    /// of memory) this many times ends `failed` instead of running again
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_attempts: u32,
}

impl StoreArgs {
    /// Settles defaults, creating the data directory when it is used.
    pub fn resolve(&self) -> anyhow::Result<StoreConfig> {
        let data = match &self.data {
            Some(d) => d.clone(),
            None => default_data_dir()?,
        };
        let database_url = match &self.database {
            Some(url) => url.clone(),
            None => {
                std::fs::create_dir_all(&data).map_err(|e| {
                    anyhow::anyhow!("cannot create the data directory {}: {e}", data.display())
                })?;
                format!("sqlite://{}?mode=rwc", data.join("restyle.db").display())
            }
        };
        let is_postgres =
            database_url.starts_with("postgres:") || database_url.starts_with("postgresql:");
        if !is_postgres && !database_url.starts_with("sqlite:") {
            anyhow::bail!(
                "--database must be a sqlite:// or postgres:// URL, not `{database_url}`"
            );
        }
        let images = match (&self.images, is_postgres) {
            (Some(dir), _) => ImageLocation::Directory(dir.clone()),
            (None, true) => ImageLocation::Database,
            (None, false) => ImageLocation::Directory(data.join("images")),
        };
        Ok(StoreConfig {
            database_url,
            images,
            lease: Duration::from_secs(self.lease_seconds.max(1)),
            max_attempts: if self.max_attempts == 0 {
                anyhow::bail!("--max-attempts must be at least 1");
            } else {
                self.max_attempts
            },
        })
    }
}

/// `$XDG_DATA_HOME/restyle`, else `~/.local/share/restyle`.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("restyle"));
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/restyle")),
        None => anyhow::bail!("no home directory: give a data directory with --data"),
    }
}

/// `--instant-painter`'s word for painting fast pictures in the server's own process.
pub const IN_PROCESS: &str = "in-process";

/// Where fast pictures are painted, from `--instant-painter`: `None` in this process, else
/// the program run as their painting processes ([`crate::painter`]).
fn painter_program(instant_painter: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    match instant_painter {
        Some(p) if p.as_os_str() == IN_PROCESS => Ok(None),
        Some(p) => Ok(Some(p.to_owned())),
        None => std::env::current_exe().map(Some).map_err(|e| {
            anyhow::anyhow!("cannot find this executable to paint fast pictures: {e}")
        }),
    }
}

impl ServeArgs {
    /// Where fast pictures are painted (see [`painter_program`]).
    pub fn painter_program(&self) -> anyhow::Result<Option<PathBuf>> {
        painter_program(self.instant_painter.as_deref())
    }

    pub fn limits(&self) -> anyhow::Result<Limits> {
        if !(self.max_megapixels.is_finite() && self.max_megapixels > 0.0) {
            anyhow::bail!("--max-megapixels must be a number > 0");
        }
        if self.max_upload_mb == 0 || self.max_size < 32 || self.max_iterations == 0 {
            anyhow::bail!(
                "--max-upload-mb and --max-iterations must be at least 1, --max-size at least 32"
            );
        }
        // Workers decode uploads with the library's default limits: a larger
        // image would be accepted here and fail in every worker.
        let worker_pixels = restyle::io::ImageLimits::default().max_pixels;
        if self.max_megapixels * 1e6 > worker_pixels as f64 {
            anyhow::bail!(
                "--max-megapixels {} is more than workers decode ({} megapixels)",
                self.max_megapixels,
                worker_pixels / 1_000_000
            );
        }
        Ok(Limits {
            max_upload_bytes: (self.max_upload_mb * 1024 * 1024) as usize,
            max_pixels: (self.max_megapixels * 1e6) as u64,
            max_queue: self.max_queue,
            max_size: self.max_size,
            max_iterations: self.max_iterations,
            max_job_memory: self.job_memory()?,
            max_video_seconds: if self.max_video_seconds.is_finite() && self.max_video_seconds > 0.0
            {
                self.max_video_seconds
            } else {
                anyhow::bail!("--max-video-seconds must be a number of seconds > 0");
            },
        })
    }

    fn job_memory(&self) -> anyhow::Result<usize> {
        job_memory(self.max_job_memory.as_deref(), self.workers)
    }
}

/// `restyle serve`'s retention options.
#[derive(Args, Debug, Clone)]
pub struct RetentionArgs {
    /// Finished jobs (done, failed, cancelled) are deleted, with their
    /// images, this long after they finished (`7d`, `12h`, `30min`)
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub keep: String,
    /// Most bytes the images may take (`2G`, `500M`); beyond it the oldest
    /// finished jobs are deleted, and submissions refused while queued and
    /// running jobs alone fill it
    #[arg(long, value_name = "SIZE", default_value = "5G")]
    pub max_disk: String,
    /// Keep a finished job's photo and painting (by default only the
    /// result of a done job is kept)
    #[arg(long)]
    pub keep_uploads: bool,
    /// Seconds between sweeps
    #[arg(long, value_name = "SECONDS", default_value_t = 10, hide = true)]
    pub sweep_seconds: u64,
}

/// The retention policy, settled.
#[derive(Clone, Copy, Debug)]
pub struct Retention {
    pub keep: Duration,
    pub max_disk: u64,
    pub keep_uploads: bool,
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            keep: Duration::from_secs(30 * 86_400),
            max_disk: 5 << 30,
            keep_uploads: false,
            every: Duration::from_secs(10),
        }
    }
}

impl RetentionArgs {
    pub fn resolve(&self) -> anyhow::Result<Retention> {
        let keep = humantime::parse_duration(&self.keep).map_err(|e| {
            anyhow::anyhow!(
                "--keep: `{}` is not a duration (try 7d or 12h): {e}",
                self.keep
            )
        })?;
        let max_disk = restyle::memory::parse_bytes(&self.max_disk).ok_or_else(|| {
            anyhow::anyhow!(
                "--max-disk: `{}` is not a size (try 2G or 500M)",
                self.max_disk
            )
        })?;
        Ok(Retention {
            keep,
            max_disk: max_disk as u64,
            keep_uploads: self.keep_uploads,
            every: Duration::from_secs(self.sweep_seconds.max(1)),
        })
    }
}

/// How long a stop waits for requests under way (a slow upload) before
/// closing their connections.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

impl ServeArgs {
    /// The limits on the wire: timeouts, upload pace, connections.
    pub fn wire_limits(&self) -> anyhow::Result<WireLimits> {
        if self.header_timeout == 0 || self.body_timeout == 0 || self.max_connections == 0 {
            anyhow::bail!(
                "--header-timeout, --body-timeout and --max-connections must be at least 1"
            );
        }
        let limits = self.limits()?;
        let upload_memory = restyle::memory::parse_bytes(&self.upload_memory).ok_or_else(|| {
            anyhow::anyhow!(
                "--upload-memory: `{}` is not a size (try 256M)",
                self.upload_memory
            )
        })?;
        Ok(WireLimits {
            reserved_connections: self.reserved_connections,
            // At least one upload of the largest size (counted twice over) fits.
            upload_memory: upload_memory.max(2 * limits.max_upload_bytes),
            header_timeout: Duration::from_secs(self.header_timeout),
            body: Pace {
                grace: Duration::from_secs(10).min(Duration::from_secs(self.body_timeout)),
                min_rate: self.min_upload_rate.saturating_mul(1000),
                total: Duration::from_secs(self.body_timeout),
            },
            max_body: limits.max_upload_bytes,
            max_connections: self.max_connections,
            shutdown_grace: SHUTDOWN_GRACE,
        })
    }
}
