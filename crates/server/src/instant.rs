//! The fast method on the server: the picture painted in one pass of the feed-forward
//! network ([`restyle_fast`]), in about a second.
//!
//! A fast job (`method=fast`) never waits behind an optimisation in the queue: the
//! instant lane claims it from the queue the moment it is stored and paints it in one of the
//! painting processes ([`crate::painter`]): an out-of-memory kill ends that job `failed`,
//! not the server. The lane runs at most `--instant-jobs` pictures at once (each uses every core
//! for its second); a submission that finds every slot taken waits up to
//! [`ADMIT_WAIT`] for one (a burst of a few is served in turn), then gets a 503 with
//! `Retry-After: 1`: its job is not stored. Refusing beats queueing it further: an
//! instant picture that comes after a long wait is no longer instant, and a client can
//! retry in a second, or ask for `method=gatys` instead.
//!
//! A fast job that is more work than [`INSTANT_MAX_WORK`] (large uploads, a large size,
//! two paintings) is not instant: it waits in the queue, and a worker paints it (in a
//! painting process too), so that one large picture never holds the lane for seconds.
//!
//! A Gatys job that starts from the fast picture (`init=fast`) gets it the same way, at
//! once if a slot is free, as its first preview (the job page shows it within about a
//! second, then the optimisation forming over it). Should no slot be free, or the process
//! stop, the worker that runs the job paints the picture itself: every job is in the
//! queue and in the database first, so a restart loses nothing (a fast job left running
//! is re-queued and painted by a worker like any other).

use std::sync::Arc;
use std::time::Duration;

use restyle_fast::FastStyle;
use tokio::sync::{OnceCell, OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::events::Hub;
use crate::fast_picture;
use crate::jobs::{JobId, JobSettings, JobState};
use crate::painter::Painters;
use crate::regions::StoredRegions;
use crate::storage::{ImageKind, ProgressUpdate, Store};

/// How long a fast submission waits for a free slot before it is refused.
pub const ADMIT_WAIT: Duration = Duration::from_secs(3);

/// The most work ([`fast_picture::work`]) a fast job may be for the instant lane: a 1024 px
/// square in one painting, with its uploads. One that is more (a 1024 px picture in two
/// paintings, with masks) is painted by a worker in the queue's turn instead, so that it
/// never holds an instant slot for seconds while other clients' small pictures are refused.
pub const INSTANT_MAX_WORK: u64 = 64_000_000;

/// Whether a fast job of `work` ([`fast_picture::work`]) is painted by the instant lane (else
/// by a worker, in the queue's turn).
pub fn is_instant(work: u64) -> bool {
    work <= INSTANT_MAX_WORK
}

/// Where fast pictures are painted: in processes of their own ([`crate::painter`], what
/// `restyle serve` does), or in this process (a server embedded in a program that has no
/// `instant-painter` subcommand, such as the tests'), the network loaded once, on first use.
pub struct FastPainter {
    how: Painting,
}

enum Painting {
    InProcess(OnceCell<Arc<FastStyle>>),
    Processes(Arc<Painters>),
}

impl Default for FastPainter {
    /// In this process.
    fn default() -> Self {
        Self {
            how: Painting::InProcess(OnceCell::new()),
        }
    }
}

impl FastPainter {
    /// Pictures painted by `painters`, out of this process.
    pub fn in_processes(painters: Arc<Painters>) -> Self {
        Self {
            how: Painting::Processes(painters),
        }
    }

    /// The painting processes, if pictures are painted out of this process.
    pub fn painters(&self) -> Option<&Arc<Painters>> {
        match &self.how {
            Painting::Processes(p) => Some(p),
            Painting::InProcess(_) => None,
        }
    }

    async fn model(cell: &OnceCell<Arc<FastStyle>>) -> Result<Arc<FastStyle>, String> {
        cell.get_or_try_init(|| async {
            tokio::task::spawn_blocking(FastStyle::embedded)
                .await
                .map_err(|e| format!("internal error: {e}"))?
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .await
        .cloned()
    }

    /// The fast picture (PNG) of a job's photo and painting at its size, with its
    /// `regions` (see [`fast_picture::paint_now`]).
    pub async fn paint(
        &self,
        content: Vec<u8>,
        style: Vec<u8>,
        regions: StoredRegions,
        settings: &JobSettings,
    ) -> Result<Vec<u8>, String> {
        let cell = match &self.how {
            Painting::Processes(painters) => {
                return painters.paint(content, style, regions, settings).await
            }
            Painting::InProcess(cell) => cell,
        };
        let model = Self::model(cell).await?;
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || {
            fast_picture::paint_now(&model, &content, &style, regions, &settings)
        })
        .await
        .map_err(|e| format!("internal error: the fast picture crashed: {e}"))?
    }
}

/// At most `slots` fast pictures painted at once in this process, out of the queue's turn.
pub struct InstantLane {
    store: Store,
    hub: Hub,
    painter: Arc<FastPainter>,
    permits: Arc<Semaphore>,
    /// The name the lane holds jobs under while it paints them.
    worker: String,
}

impl InstantLane {
    pub fn new(
        store: Store,
        hub: Hub,
        painter: Arc<FastPainter>,
        slots: usize,
        process: &str,
    ) -> Self {
        Self {
            store,
            hub,
            painter,
            permits: Arc::new(Semaphore::new(slots)),
            worker: format!("{process}/instant"),
        }
    }

    /// A slot for a fast job, waiting up to [`ADMIT_WAIT`]; a 503 when none frees up.
    pub async fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        match tokio::time::timeout(ADMIT_WAIT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(closed)) => Err(ApiError::Internal(closed.to_string())),
            Err(_) => Err(ApiError::InstantBusy),
        }
    }

    /// A slot if one is free now (a Gatys job's starting picture can also come later,
    /// from its worker).
    pub fn try_admit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Paints the stored, queued fast job `id` now, in the background: takes it from
    /// the queue (unless a worker took it first), stores its result and ends it.
    pub fn run_fast_job(
        self: &Arc<Self>,
        id: JobId,
        content: Vec<u8>,
        style: Vec<u8>,
        permit: OwnedSemaphorePermit,
    ) {
        let lane = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let job = match lane.store.claim_queued(&id, &lane.worker).await {
                Ok(Some(job)) => job,
                Ok(None) => return, // deleted, cancelled, or taken by a worker
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "cannot take the fast job; a worker will");
                    return;
                }
            };
            lane.hub.notify(&id);
            let started = std::time::Instant::now();
            let outcome = async {
                let regions = StoredRegions::load(&lane.store, &id).await?;
                let painter = &lane.painter;
                painter.paint(content, style, regions, &job.settings).await
            }
            .await;
            let elapsed_ms = started.elapsed().as_millis() as i64;
            finish_fast_job(
                &lane.store,
                &lane.hub,
                &id,
                &lane.worker,
                outcome,
                elapsed_ms,
            )
            .await;
        });
    }

    /// Paints the starting picture of the Gatys job `id` now, in the background, and
    /// shows it as the job's preview (unless its worker got there first).
    pub fn show_starting_picture(
        self: &Arc<Self>,
        id: JobId,
        content: Vec<u8>,
        style: Vec<u8>,
        settings: JobSettings,
        permit: OwnedSemaphorePermit,
    ) {
        let lane = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let no_regions = StoredRegions::default();
            match lane
                .painter
                .paint(content, style, no_regions, &settings)
                .await
            {
                Ok(png) => {
                    if let Err(e) = store_starting_picture(&lane.store, &lane.hub, &id, png).await {
                        tracing::warn!(job = %id, error = %e, "cannot store the fast picture");
                    }
                }
                // The worker paints it again and fails the job with the reason.
                Err(e) => tracing::warn!(job = %id, error = %e, "no fast picture"),
            }
        });
    }
}

/// Stores a Gatys job's starting picture and shows it as its preview. Only the first
/// one stored counts (the lane's and the worker's are the same picture).
pub async fn store_starting_picture(
    store: &Store,
    hub: &Hub,
    id: &JobId,
    png: Vec<u8>,
) -> Result<(), crate::storage::StorageError> {
    if store.get_image(id, ImageKind::Fast).await?.is_some() {
        return Ok(());
    }
    store.put_image(id, ImageKind::Fast, png).await?;
    if store.bump_preview(id).await? {
        hub.notify(id);
    } else if store.get(id).await?.is_none() {
        // Deleted while it was painted: nothing may outlive the job.
        store.delete_images(id).await?;
    }
    Ok(())
}

/// Ends a fast job `worker` holds with its painted picture, or with why there is none.
pub async fn finish_fast_job(
    store: &Store,
    hub: &Hub,
    id: &JobId,
    worker: &str,
    outcome: Result<Vec<u8>, String>,
    elapsed_ms: i64,
) {
    let (state, error) = match outcome {
        Ok(png) => match store.put_image(id, ImageKind::Result, png).await {
            Ok(()) => (JobState::Done, None),
            Err(e) => (
                JobState::Failed,
                Some(format!("cannot store the result: {e}")),
            ),
        },
        Err(reason) => (JobState::Failed, Some(reason)),
    };
    let step = i64::from(state == JobState::Done);
    let update = ProgressUpdate {
        step,
        total_steps: 1,
        eta_ms: None,
        elapsed_ms,
        loss: None,
        checkpoint: None,
    };
    let recorded = async {
        store.progress(id, worker, &update).await?;
        store
            .finish(id, worker, state, error.as_deref(), step)
            .await
    };
    match recorded.await {
        Ok(true) => tracing::info!(job = %id, state = state.as_str(), elapsed_ms, "fast job ended"),
        Ok(false) => {
            // Deleted (or taken over) meanwhile: a deleted job's images go too.
            if matches!(store.get(id).await, Ok(None)) {
                let _ = store.delete_images(id).await;
            }
        }
        Err(e) => tracing::error!(job = %id, error = %e, "cannot record the end of a fast job"),
    }
    hub.notify(id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::painter::{picture_deadline, DEADLINE_BASE};

    #[test]
    fn the_largest_instant_picture_is_given_about_half_a_minute_more() {
        let lane = picture_deadline(DEADLINE_BASE, INSTANT_MAX_WORK);
        assert_eq!(lane, DEADLINE_BASE + Duration::from_secs(32));
    }
}
