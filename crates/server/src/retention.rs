//! How long finished jobs are kept and how much disk the images may take.
//!
//! A sweeper runs every few seconds in `restyle serve`: it drops the files a
//! finished job no longer needs (the preview always; the uploads unless
//! `--keep-uploads`; everything of a failed or cancelled job), deletes jobs
//! finished longer ago than `--keep`, and, while the images take more than
//! `--max-disk`, deletes the oldest finished jobs. Submissions are refused
//! (507) while the jobs that cannot be deleted (queued and running) fill the
//! budget. On PostgreSQL every `restyle serve` sweeps; the sweeps are
//! idempotent, so several at once do no harm.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Retention;
use crate::error::ApiError;
use crate::jobs::{now_ms, JobId, JobState};
use crate::storage::{ImageKind, Result, Store};

/// Refuses a submission of `incoming` bytes of images that would not fit
/// in the budget, after deleting what may be deleted.
pub async fn admit(store: &Store, retention: &Retention, incoming: u64) -> Result<(), ApiError> {
    let mut used = store.image_bytes(None).await? + incoming;
    enforce_budget(store, retention, &mut used).await?;
    if used > retention.max_disk {
        return Err(ApiError::StorageFull(format!(
            "the server's image storage is full ({} of {} would be in use by queued and running jobs); try again later",
            restyle::memory::format_bytes(used as usize),
            restyle::memory::format_bytes(retention.max_disk as usize)
        )));
    }
    Ok(())
}

/// Drops the files a finished job no longer needs.
pub async fn drop_files(
    store: &Store,
    id: &JobId,
    state: JobState,
    retention: &Retention,
) -> Result<()> {
    let mut kinds = vec![ImageKind::Preview, ImageKind::Fast];
    if state != JobState::Done {
        kinds.push(ImageKind::Result);
    }
    if !retention.keep_uploads {
        kinds.extend([ImageKind::Content, ImageKind::Style]);
        kinds.extend(crate::regions::KINDS);
    }
    for kind in kinds {
        store.delete_image(id, kind).await?;
    }
    Ok(())
}

/// Deletes the oldest finished jobs while `used` exceeds the budget.
async fn enforce_budget(store: &Store, retention: &Retention, used: &mut u64) -> Result<()> {
    if *used <= retention.max_disk {
        return Ok(());
    }
    for job in store.finished(i64::MAX, false).await? {
        let bytes = store.image_bytes(Some(&job.id)).await?;
        if store.delete(&job.id).await? {
            tracing::info!(job = %job.id, bytes, "deleted: over the disk budget");
        }
        *used = used.saturating_sub(bytes);
        if *used <= retention.max_disk {
            break;
        }
    }
    Ok(())
}

/// What one sweep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Jobs whose spare files were dropped.
    pub trimmed: usize,
    /// Jobs deleted for their age.
    pub expired: usize,
    /// Image bytes in use after the sweep.
    pub used: u64,
}

/// One sweep. `since_ms`: jobs finished since then are trimmed (earlier
/// ones were by earlier sweeps).
pub async fn sweep(store: &Store, retention: &Retention, since_ms: i64) -> Result<Sweep> {
    let mut report = Sweep::default();
    for job in store.finished(since_ms, true).await? {
        drop_files(store, &job.id, job.state, retention).await?;
        report.trimmed += 1;
    }
    let keep_ms = i64::try_from(retention.keep.as_millis()).unwrap_or(i64::MAX);
    for job in store
        .finished(now_ms().saturating_sub(keep_ms), false)
        .await?
    {
        if store.delete(&job.id).await? {
            report.expired += 1;
        }
    }
    report.used = store.image_bytes(None).await?;
    enforce_budget(store, retention, &mut report.used).await?;
    Ok(report)
}

/// Sweeps every `retention.every` until `shutdown` turns true.
pub fn start(
    store: Store,
    retention: Retention,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Jobs finished by another process may carry a slightly earlier
        // time than this clock: each sweep looks back a minute further.
        const SLACK_MS: i64 = 60_000;
        let mut since = i64::MIN;
        loop {
            let started = now_ms();
            match sweep(&store, &retention, since).await {
                Ok(report) => {
                    since = started - SLACK_MS;
                    if report.expired > 0 {
                        tracing::info!(jobs = report.expired, "deleted jobs past --keep");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "retention sweep failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(retention.every) => {}
                _ = shutdown.wait_for(|&s| s) => return,
            }
        }
    })
}
