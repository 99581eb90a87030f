//! Where jobs and images are kept: one [`Store`] over sqlx's `Any` driver,
//! so SQLite (the default, one machine) and PostgreSQL (a queue shared by
//! several machines) run the same queries. The two differ only in their
//! schema and in how a worker claims a job ([`sqlite`], [`postgres`]).
//!
//! Every state change is one conditional `UPDATE` (a worker only touches a
//! job it holds, a cancel only a job that is not finished), so concurrent
//! servers and workers never step on each other.
//!
//! Images (the uploads, the live preview, the result) live in a directory
//! (the default with SQLite, or a directory every worker mounts) or in the
//! database itself (the default with PostgreSQL).

mod disk;
pub mod error;
pub mod postgres;
pub mod schema;
pub mod sqlite;

pub use disk::FinishedJob;

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::jobs::{now_ms, JobId, JobRecord, JobSettings, JobState};

pub use error::{Result, StorageError};

/// Where images live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageLocation {
    Directory(PathBuf),
    Database,
}

/// A storage configuration, settled.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub database_url: String,
    pub images: ImageLocation,
    pub lease: Duration,
    /// Runs a job may start before it ends `failed`.
    pub max_attempts: u32,
}

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// The images a job has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// The photo, as uploaded (already checked by decoding).
    Content,
    /// The painting, as uploaded.
    Style,
    /// The image as it stands (PNG), saved every few seconds: the live view,
    /// and where a re-queued job resumes.
    Preview,
    /// The finished image (PNG).
    Result,
    /// A second painting (see [`crate::regions`]).
    Style2,
    /// Where the first painting goes (grey: weights).
    Mask1,
    /// Where the second painting goes.
    Mask2,
    /// The part kept as the photo.
    Keep,
    /// The fast method's picture (PNG) a Gatys job starts from: shown until the
    /// optimisation's first preview replaces it.
    Fast,
}

impl ImageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Content => "content",
            ImageKind::Style => "style",
            ImageKind::Preview => "preview",
            ImageKind::Result => "result",
            ImageKind::Style2 => "style_2",
            ImageKind::Mask1 => "mask_1",
            ImageKind::Mask2 => "mask_2",
            ImageKind::Keep => "keep",
            ImageKind::Fast => "fast",
        }
    }
}

/// What a cancel request did.
#[derive(Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// A queued job: cancelled at once.
    Cancelled,
    /// A running job: its worker stops after the current step.
    Requested,
    /// Already done, failed or cancelled.
    AlreadyFinal(JobState),
    NotFound,
}

/// A new job, ready to be queued.
pub struct NewJob<'a> {
    pub id: &'a JobId,
    /// The submitter's key hash ([`crate::viewer::owner_of`]).
    pub owner: Option<&'a str>,
    /// Whom the job counts against ([`crate::fair::Client`]).
    pub client: &'a str,
    pub settings: &'a JobSettings,
    pub total_steps: usize,
    pub width: usize,
    pub height: usize,
}

/// Whose jobs a listing shows.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every job (the operator).
    All,
    /// The jobs stored with this owner.
    Owner(&'a str),
}

/// Progress a worker reports.
pub struct ProgressUpdate {
    pub step: i64,
    pub total_steps: i64,
    pub eta_ms: Option<i64>,
    pub elapsed_ms: i64,
    pub loss: Option<f64>,
    /// A new preview was saved, showing this step.
    pub checkpoint: Option<i64>,
}

#[derive(Clone, Debug)]
enum Images {
    Directory(PathBuf),
    Database,
}

/// Jobs and images.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    images: Images,
    lease: Duration,
    max_attempts: u32,
}

const COLUMNS: &str = "id, seq, state, settings, created_ms, started_ms, finished_ms, step, total_steps, eta_ms, \
     elapsed_ms, loss, error, cancel_requested, worker, heartbeat_ms, attempts, checkpoint_step, preview_version, \
     width, height, owner";

impl Store {
    /// Connects, creating the schema (and the image directory) if needed.
    pub async fn connect(config: &StoreConfig) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let dialect = if config.database_url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else {
            Dialect::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match dialect {
                Dialect::Sqlite => 4,
                Dialect::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(30))
            .connect(&config.database_url)
            .await?;
        match dialect {
            Dialect::Sqlite => sqlite::prepare(&pool).await?,
            Dialect::Postgres => postgres::prepare(&pool).await?,
        }
        let images = match &config.images {
            ImageLocation::Directory(dir) => {
                std::fs::create_dir_all(dir)?;
                Images::Directory(dir.clone())
            }
            ImageLocation::Database => Images::Database,
        };
        Ok(Self {
            pool,
            dialect,
            images,
            lease: config.lease,
            max_attempts: config.max_attempts,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// How long a running job's worker may be silent before the job is
    /// given to another.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Queues a job unless `max_queue` jobs already wait; `false` if refused.
    /// The job's images must be stored first: a worker may take it at once.
    pub async fn insert(&self, job: NewJob<'_>, max_queue: u64) -> Result<bool> {
        let settings = serde_json::to_string(job.settings).expect("settings serialise");
        let done = sqlx::query(
            "INSERT INTO jobs (id, state, settings, created_ms, total_steps, width, height, owner, client) \
             SELECT $1, 'queued', $2, $3, $4, $5, $6, $8, $9 \
             WHERE (SELECT COUNT(*) FROM jobs WHERE state = 'queued') < $7",
        )
        .bind(job.id.as_str())
        .bind(settings)
        .bind(now_ms())
        .bind(job.total_steps as i64)
        .bind(job.width as i64)
        .bind(job.height as i64)
        .bind(max_queue.min(i64::MAX as u64) as i64)
        .bind(job.owner)
        .bind(job.client)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| decode(&r)).transpose()
    }

    /// Queued jobs ahead of the job with queue number `seq`.
    pub async fn position(&self, seq: i64) -> Result<u64> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = 'queued' AND seq < $1")
                .bind(seq)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// The newest `limit` jobs of `scope`, newest first, each with its queue
    /// position. A row that cannot be read is left out (and logged), so one
    /// bad row does not hide every other job.
    pub async fn list(
        &self,
        limit: i64,
        scope: Scope<'_>,
    ) -> Result<Vec<(JobRecord, Option<u64>)>> {
        let rows = match scope {
            Scope::All => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM jobs ORDER BY seq DESC LIMIT $1"
                ))
                .bind(limit)
                .fetch_all(&self.pool)
                .await?
            }
            Scope::Owner(owner) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE owner = $2 ORDER BY seq DESC LIMIT $1"
                ))
                .bind(limit)
                .bind(owner)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let jobs: Vec<JobRecord> = rows
            .iter()
            .filter_map(|row| match decode(row) {
                Ok(job) => Some(job),
                Err(e) => {
                    tracing::warn!(error = %e, "left an unreadable job out of a listing");
                    None
                }
            })
            .collect();
        let queued: Vec<i64> =
            sqlx::query("SELECT seq FROM jobs WHERE state = 'queued' ORDER BY seq")
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("seq"))
                .collect::<Result<_, _>>()?;
        Ok(jobs
            .into_iter()
            .map(|j| {
                let pos = (j.state == JobState::Queued)
                    .then(|| queued.partition_point(|&s| s < j.seq) as u64);
                (j, pos)
            })
            .collect())
    }

    /// The secret called `name`, made (`fresh`) by the first process to ask
    /// and the same for every process on this database ever after.
    pub async fn secret(&self, name: &str, fresh: String) -> Result<String> {
        sqlx::query(
            "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(fresh)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query("SELECT value FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?
            .try_get("value")?)
    }

    /// A client's jobs that are queued or running.
    pub async fn active_jobs_of(&self, client: &str) -> Result<u64> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM jobs WHERE client = $1 AND state IN ('queued', 'running')",
        )
        .bind(client)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// Jobs in each state, for logs and tests.
    pub async fn count(&self, state: JobState) -> Result<u64> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state = $1")
            .bind(state.as_str())
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(n.max(0) as u64)
    }

    /// Takes the next queued job for `worker`, if any: the job of the client
    /// whose last job started longest ago (or never), then the oldest, so a
    /// client that queued many jobs gets one run in turn with everyone
    /// else's instead of all of them ahead of the next client's. No two workers get
    /// the same job. Each claim counts as an attempt (a worker that dies
    /// mid-run cannot count its own death); a queued job that has had its
    /// `max_attempts` ends `failed` here instead of running again.
    pub async fn claim(&self, worker: &str) -> Result<Option<JobRecord>> {
        let pick = match self.dialect {
            Dialect::Sqlite => sqlite::PICK_NEXT,
            Dialect::Postgres => postgres::PICK_NEXT,
        };
        let now = now_ms();
        let given_up = sqlx::query(
            "UPDATE jobs SET state = 'failed', finished_ms = $2, eta_ms = NULL, worker = NULL, \
             error = 'the worker stopped in the middle of this job ' || CAST(attempts AS TEXT) || \
             ' times (it crashed, ran out of memory or was killed); it will not be tried again' \
             WHERE state = 'queued' AND attempts >= $1",
        )
        .bind(i64::from(self.max_attempts))
        .bind(now)
        .execute(&self.pool)
        .await?;
        if given_up.rows_affected() > 0 {
            tracing::warn!(
                jobs = given_up.rows_affected(),
                "failed jobs whose worker stopped mid-run too often"
            );
        }
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', worker = $1, heartbeat_ms = $2, started_ms = $2, \
             attempts = attempts + 1, cancel_requested = 0, eta_ms = NULL \
             WHERE id = ({pick}) AND state = 'queued' RETURNING {COLUMNS}"
        ))
        .bind(worker)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode(&r)).transpose()
    }

    /// Takes the queued job `id` for `worker` out of turn (the instant lane's fast
    /// pictures, which take a second); like [`Store::claim`] otherwise.
    pub async fn claim_queued(&self, id: &JobId, worker: &str) -> Result<Option<JobRecord>> {
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', worker = $1, heartbeat_ms = $2, started_ms = $2, \
             attempts = attempts + 1, cancel_requested = 0, eta_ms = NULL \
             WHERE id = $3 AND state = 'queued' RETURNING {COLUMNS}"
        ))
        .bind(worker)
        .bind(now_ms())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| decode(&r)).transpose()
    }

    /// A new picture to show for an unfinished job (its fast picture, stored as
    /// [`ImageKind::Fast`]): streams and pages see a new preview version. `false` if
    /// the job is gone or finished.
    pub async fn bump_preview(&self, id: &JobId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET preview_version = preview_version + 1 \
             WHERE id = $1 AND state IN ('queued', 'running')",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a worker's progress. `None` if the job is no longer this
    /// worker's (deleted, or given to another); else whether a cancel was asked.
    pub async fn progress(
        &self,
        id: &JobId,
        worker: &str,
        p: &ProgressUpdate,
    ) -> Result<Option<bool>> {
        let row = sqlx::query(
            "UPDATE jobs SET step = $3, total_steps = $4, eta_ms = $5, elapsed_ms = $6, loss = $7, heartbeat_ms = $8, \
             checkpoint_step = COALESCE($9, checkpoint_step), \
             preview_version = preview_version + (CASE WHEN $9 IS NULL THEN 0 ELSE 1 END) \
             WHERE id = $1 AND worker = $2 AND state = 'running' RETURNING cancel_requested",
        )
        .bind(id.as_str())
        .bind(worker)
        .bind(p.step)
        .bind(p.total_steps)
        .bind(p.eta_ms)
        .bind(p.elapsed_ms)
        .bind(p.loss.filter(|l| l.is_finite()))
        .bind(now_ms())
        .bind(p.checkpoint)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>("cancel_requested").map(|c| c != 0))
            .transpose()
            .map_err(Into::into)
    }

    /// Tells the queue this worker is alive; like [`Store::progress`].
    pub async fn heartbeat(&self, id: &JobId, worker: &str) -> Result<Option<bool>> {
        let row = sqlx::query(
            "UPDATE jobs SET heartbeat_ms = $3 WHERE id = $1 AND worker = $2 AND state = 'running' \
             RETURNING cancel_requested",
        )
        .bind(id.as_str())
        .bind(worker)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| r.try_get::<i64, _>("cancel_requested").map(|c| c != 0))
            .transpose()
            .map_err(Into::into)
    }

    /// Ends a job this worker holds; `false` if it no longer holds it.
    pub async fn finish(
        &self,
        id: &JobId,
        worker: &str,
        state: JobState,
        error: Option<&str>,
        step: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = $3, error = $4, finished_ms = $5, eta_ms = NULL, \
             step = CASE WHEN $6 > step THEN $6 ELSE step END \
             WHERE id = $1 AND worker = $2 AND state = 'running'",
        )
        .bind(id.as_str())
        .bind(worker)
        .bind(state.as_str())
        .bind(error)
        .bind(now_ms())
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts a job this worker holds back in the queue, at its old place
    /// (its preview stays, so it resumes from there). An orderly stop is
    /// not the job's fault: the attempt is given back.
    pub async fn requeue(&self, id: &JobId, worker: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', worker = NULL, eta_ms = NULL, attempts = attempts - 1 \
             WHERE id = $1 AND worker = $2 AND state = 'running'",
        )
        .bind(id.as_str())
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Re-queues running jobs whose worker has been silent since `before_ms`
    /// (all running jobs when `before_ms` is `i64::MAX`). Returns how many.
    pub async fn requeue_stale(&self, before_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', worker = NULL, eta_ms = NULL \
             WHERE state = 'running' AND (heartbeat_ms IS NULL OR heartbeat_ms < $1)",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn cancel(&self, id: &JobId) -> Result<CancelOutcome> {
        let queued = sqlx::query(
            "UPDATE jobs SET state = 'cancelled', finished_ms = $2 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id.as_str())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if queued.rows_affected() == 1 {
            return Ok(CancelOutcome::Cancelled);
        }
        let running =
            sqlx::query("UPDATE jobs SET cancel_requested = 1 WHERE id = $1 AND state = 'running'")
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
        if running.rows_affected() == 1 {
            return Ok(CancelOutcome::Requested);
        }
        Ok(match self.get(id).await? {
            Some(job) => CancelOutcome::AlreadyFinal(job.state),
            None => CancelOutcome::NotFound,
        })
    }

    /// Removes a job and its images; a worker running it stops at its next
    /// report. `false` if there was no such job.
    pub async fn delete(&self, id: &JobId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        self.delete_images(id).await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn put_image(&self, id: &JobId, kind: ImageKind, bytes: Vec<u8>) -> Result<()> {
        match &self.images {
            Images::Directory(root) => {
                let dir = root.join(id.as_str());
                let path = dir.join(kind.as_str());
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&dir)?;
                    restyle::io::write_atomically(&path, &bytes)
                })
                .await
                .map_err(|e| std::io::Error::other(e.to_string()))??;
            }
            Images::Database => {
                sqlx::query(
                    "INSERT INTO images (job_id, kind, data) VALUES ($1, $2, $3) \
                     ON CONFLICT (job_id, kind) DO UPDATE SET data = excluded.data",
                )
                .bind(id.as_str())
                .bind(kind.as_str())
                .bind(bytes)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    pub async fn get_image(&self, id: &JobId, kind: ImageKind) -> Result<Option<Vec<u8>>> {
        match &self.images {
            Images::Directory(root) => {
                let path = image_path(root, id, kind);
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Images::Database => {
                let row = sqlx::query("SELECT data FROM images WHERE job_id = $1 AND kind = $2")
                    .bind(id.as_str())
                    .bind(kind.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get::<Vec<u8>, _>("data")).transpose()?)
            }
        }
    }

    /// Where a video job's files are worked on (its clip, the painted segments, the result
    /// before it is stored; see [`crate::video`]): inside the job's image folder when images
    /// are kept in a folder, so that they count against the disk budget like its images and
    /// go with them; with images in the database, a folder of this machine's temporary one.
    pub fn work_dir(&self, id: &JobId) -> PathBuf {
        match &self.images {
            Images::Directory(root) => root.join(id.as_str()).join("video"),
            Images::Database => std::env::temp_dir().join("restyle-video").join(id.as_str()),
        }
    }

    pub async fn delete_images(&self, id: &JobId) -> Result<()> {
        match &self.images {
            Images::Directory(root) => {
                match tokio::fs::remove_dir_all(root.join(id.as_str())).await {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                    _ => Ok(()),
                }
            }
            Images::Database => {
                sqlx::query("DELETE FROM images WHERE job_id = $1")
                    .bind(id.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// Image directories whose job is gone (a crash between storing the
    /// uploads and queueing the job): removed at start.
    pub async fn sweep_orphans(&self) -> Result<usize> {
        let Images::Directory(root) = &self.images else {
            return Ok(0);
        };
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(root).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.parse::<JobId>().ok()) else {
                continue;
            };
            let age = entry
                .metadata()
                .await?
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok());
            // Young directories may belong to a submission under way.
            if age.is_some_and(|a| a > Duration::from_secs(600)) && self.get(&id).await?.is_none() {
                tokio::fs::remove_dir_all(entry.path()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// `root/ID/KIND`: both parts are checked values (a hex id, a fixed name).
fn image_path(root: &Path, id: &JobId, kind: ImageKind) -> PathBuf {
    root.join(id.as_str()).join(kind.as_str())
}

fn decode(row: &AnyRow) -> Result<JobRecord> {
    let id: String = row.try_get("id")?;
    let state: String = row.try_get("state")?;
    let settings: String = row.try_get("settings")?;
    Ok(JobRecord {
        id: id
            .parse()
            .map_err(|_| StorageError::Corrupt(format!("bad job id `{id}`")))?,
        seq: row.try_get("seq")?,
        state: JobState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("job {id}: bad state `{state}`")))?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StorageError::Corrupt(format!("job {id}: {e}")))?,
        created_ms: row.try_get("created_ms")?,
        started_ms: row.try_get("started_ms")?,
        finished_ms: row.try_get("finished_ms")?,
        step: row.try_get("step")?,
        total_steps: row.try_get("total_steps")?,
        eta_ms: row.try_get("eta_ms")?,
        elapsed_ms: row.try_get("elapsed_ms")?,
        loss: row.try_get("loss")?,
        error: row.try_get("error")?,
        cancel_requested: row.try_get::<i64, _>("cancel_requested")? != 0,
        worker: row.try_get("worker")?,
        heartbeat_ms: row.try_get("heartbeat_ms")?,
        attempts: row.try_get("attempts")?,
        checkpoint_step: row.try_get("checkpoint_step")?,
        preview_version: row.try_get("preview_version")?,
        width: row.try_get("width")?,
        height: row.try_get("height")?,
        owner: row.try_get("owner")?,
    })
}
