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
use crate::fair::Client;
use crate::jobs::{now_ms, JobId, JobState};
use crate::storage::{ImageKind, Result, Store};

/// Refuses a submission of `incoming` bytes of images that would not fit
/// in the budget, after deleting what may be deleted: first the submitting
/// client's own oldest results while it is over its `share` (bytes), then
/// anyone's, the largest user's oldest first.
pub async fn admit(
    store: &Store,
    retention: &Retention,
    incoming: u64,
    (client, share): (&Client, u64),
) -> Result<(), ApiError> {
    let mut own = 0;
    let mut finished = Vec::new();
    for (id, done) in store.jobs_of_client(client.as_str()).await? {
        let bytes = store.image_bytes(Some(&id)).await?;
        own += bytes;
        if done {
            finished.push((id, bytes));
        }
    }
    for (id, bytes) in finished {
        if own + incoming <= share || share >= retention.max_disk {
            break;
        }
        if store.delete(&id).await? {
            tracing::info!(job = %id, bytes, "deleted: its client is over its disk share");
        }
        own = own.saturating_sub(bytes);
    }
    // A share of the whole budget is the budget's own check, below.
    if share < retention.max_disk && own + incoming > share {
        return Err(crate::fair::refused(
            "disk_share",
            std::time::Duration::from_secs(30),
            format!(
                "your queued and running jobs' images would take {} of this server's disk; one client may take {} (wait for a job to finish)",
                format_size(own + incoming),
                format_size(share)
            ),
        ));
    }
    let mut used = store.image_bytes(None).await? + incoming;
    enforce_budget(store, retention, &mut used).await?;
    if used > retention.max_disk {
        return Err(ApiError::StorageFull(format!(
            "the server's image storage is full ({} of {} would be in use by queued and running jobs); try again later",
            format_size(used),
            format_size(retention.max_disk)
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
    // A video job's work folder, should its worker have left one (it died mid-run).
    match tokio::fs::remove_dir_all(store.work_dir(id)).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// A size for messages: whole KiB below a MiB, so that a small budget
/// does not read "0 MiB of 0 MiB".
fn format_size(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{} KiB", bytes.div_ceil(1024))
    } else {
        restyle::memory::format_bytes(bytes as usize)
    }
}

/// Deletes finished jobs while `used` exceeds the budget: the oldest of
/// the client whose finished results take the most, each time, so a
/// client flooding the server evicts its own results before anyone else's.
async fn enforce_budget(store: &Store, retention: &Retention, used: &mut u64) -> Result<()> {
    if *used <= retention.max_disk {
        return Ok(());
    }
    // Each client's finished jobs, oldest first, and what they take.
    let mut clients: std::collections::HashMap<
        String,
        (u64, std::collections::VecDeque<(JobId, u64)>),
    > = Default::default();
    for job in store.finished(i64::MAX, false).await? {
        let bytes = store.image_bytes(Some(&job.id)).await?;
        // Jobs from before clients were kept count as one client each.
        let client = job.client.unwrap_or_else(|| format!("job:{}", job.id));
        let entry = clients.entry(client).or_default();
        entry.0 += bytes;
        entry.1.push_back((job.id, bytes));
    }
    while *used > retention.max_disk {
        let Some(largest) = clients
            .iter()
            .filter(|(_, (_, jobs))| !jobs.is_empty())
            .max_by_key(|(_, (bytes, _))| *bytes)
            .map(|(client, _)| client.clone())
        else {
            break;
        };
        let entry = clients.get_mut(&largest).expect("present");
        let (id, bytes) = entry.1.pop_front().expect("not empty");
        entry.0 -= bytes;
        if store.delete(&id).await? {
            tracing::info!(job = %id, bytes, "deleted: over the disk budget");
        }
        *used = used.saturating_sub(bytes);
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
