//! The worker pool as the rest of the server reaches it: a wake-up for its idle slots, the
//! stop flags of the jobs it runs (a cancel or a delete reaches a run at once), and what
//! every run shares, a picture's ([`crate::worker`]) or a clip's ([`crate::video`]): why it
//! was asked to stop, the watch that asks it, and the record of its end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::futures::Notified;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::events::Hub;
use crate::jobs::{JobId, JobState};
use crate::storage::{ImageKind, ProgressUpdate, Store};

/// Progress goes to the database at most this often.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_millis(400);
/// A preview image is saved at most this often.
pub(crate) const PREVIEW_EVERY: Duration = Duration::from_secs(2);

/// Why a run was asked to stop.
pub(crate) const RUN: u8 = 0;
pub(crate) const CANCELLED: u8 = 1;
pub(crate) const SHUTDOWN: u8 = 2;
/// The job was deleted, or given to another worker.
pub(crate) const GONE: u8 = 3;

/// Sets a run's stop flag to `why`, unless it was asked to stop already.
pub(crate) fn set_once(flag: &AtomicU8, why: u8) {
    let _ = flag.compare_exchange(RUN, why, Ordering::SeqCst, Ordering::SeqCst);
}

/// Records a run's progress (and its preview, if any) from its blocking thread, stops the run
/// if the store says the job was cancelled, deleted or given to another worker, and tells the
/// job's watchers. A picture's run and a clip's both report this way.
pub(crate) fn record_progress(
    store: &Store,
    hub: &Hub,
    handle: &Handle,
    (id, worker): (&JobId, &str),
    stop: &AtomicU8,
    update: &ProgressUpdate,
    preview: Option<Vec<u8>>,
) {
    let answer = handle.block_on(async {
        if let Some(bytes) = preview {
            store.put_image(id, ImageKind::Preview, bytes).await?;
        }
        store.progress(id, worker, update).await
    });
    match answer {
        Ok(Some(false)) => {}
        Ok(Some(true)) => set_once(stop, CANCELLED),
        Ok(None) => set_once(stop, GONE),
        Err(e) => tracing::warn!(job = %id, error = %e, "cannot record progress"),
    }
    hub.notify(id);
}

/// The workers in one process.
pub struct WorkerPool {
    pub(crate) store: Store,
    pub(crate) hub: Hub,
    /// Memory one job may need here (see [`crate::worker`]).
    pub(crate) job_memory: usize,
    wake: Notify,
    /// Stop flags of the runs in this process, for a cancel to reach at once.
    pub(crate) running: Mutex<HashMap<JobId, Arc<AtomicU8>>>,
}

impl WorkerPool {
    pub(crate) fn new(store: Store, hub: Hub, job_memory: usize) -> Self {
        Self {
            store,
            hub,
            job_memory,
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// A job was queued: an idle slot takes it now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops a run in this process at once (the database says why).
    pub fn interrupt(&self, id: &JobId, cancelled: bool) {
        if let Some(flag) = self.running.lock().unwrap().get(id) {
            let _ = flag.compare_exchange(
                RUN,
                if cancelled { CANCELLED } else { GONE },
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }

    /// Ready when [`Self::wake`] is called (an idle slot waits on it).
    pub(crate) fn woken(&self) -> Notified<'_> {
        self.wake.notified()
    }

    /// Watches a run of job `id` that `stop` stops: a cancel or delete that came while the
    /// job was being prepared (asked of the database once now), then heartbeats that prove
    /// this worker alive while a step (or the style targets, before the first step) takes
    /// long and bring cancels, and the process's shutdown. Both tasks end when aborted.
    pub(crate) async fn watch(
        &self,
        id: &JobId,
        worker: &str,
        stop: &Arc<AtomicU8>,
        mut shutdown: watch::Receiver<bool>,
    ) -> [JoinHandle<()>; 2] {
        match self.store.heartbeat(id, worker).await {
            Ok(Some(true)) => set_once(stop, CANCELLED),
            Ok(None) => set_once(stop, GONE),
            Ok(Some(false)) | Err(_) => {}
        }
        let heartbeat = {
            let (store, id, worker, stop) = (
                self.store.clone(),
                id.clone(),
                worker.to_owned(),
                stop.clone(),
            );
            let every = (store.lease() / 4).max(Duration::from_millis(500));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match store.heartbeat(&id, &worker).await {
                        Ok(Some(false)) => {}
                        Ok(Some(true)) => set_once(&stop, CANCELLED),
                        Ok(None) => set_once(&stop, GONE),
                        Err(e) => tracing::warn!(job = %id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let watcher = {
            let stop = stop.clone();
            tokio::spawn(async move {
                let _ = shutdown.wait_for(|&s| s).await;
                set_once(&stop, SHUTDOWN);
            })
        };
        [heartbeat, watcher]
    }

    /// Records the end of a run; if the job vanished meanwhile, its images go too.
    pub(crate) async fn end(
        &self,
        worker: &str,
        id: &JobId,
        state: JobState,
        error: Option<&str>,
        step: i64,
    ) {
        match self.store.finish(id, worker, state, error, step).await {
            Ok(true) => {}
            Ok(false) => {
                if matches!(self.store.get(id).await, Ok(None)) {
                    let _ = self.store.delete_images(id).await;
                }
            }
            Err(e) => tracing::error!(job = %id, error = %e, "cannot record the end of a job"),
        }
        self.hub.notify(id);
    }
}
