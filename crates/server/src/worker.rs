//! The worker pool: each slot claims the oldest queued job, runs
//! [`restyle::stylize`] on a blocking thread, and reports through the
//! library's observer: progress to the database (a few times a second), a
//! preview image every few seconds (the live view, and where a re-queued
//! job resumes), change notices to live streams; and it stops the run
//! (`Flow::Stop`) when the job is cancelled or deleted or the process shuts
//! down (then the job goes back to the queue). A fast job that reaches a
//! worker (the instant lane did not take it, or the process stopped while it
//! painted) is painted here, and a job that starts from the fast picture gets
//! it here if the lane has not stored it ([`crate::instant`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use restyle::io::{self, ImageLimits, OutputType};
use restyle::{stylize, Flow, Image, Init, Observer, Progress, Settings, StyleImage, Vgg19};
use tokio::runtime::Handle;
use tokio::sync::{watch, Notify, OnceCell};
use tokio::task::JoinHandle;

use crate::events::Hub;
use crate::instant::{self, FastPainter};
use crate::limits::Limits;
use crate::submission::refused;
use restyle_request::{Init as Start, Inputs, Method};

use crate::jobs::{JobId, JobRecord, JobSettings, JobState};
use crate::regions::StoredRegions;
use crate::storage::{Dialect, ImageKind, ProgressUpdate, Store};

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

/// Several worker slots in one process, sharing one network.
pub struct WorkerPool {
    pub(crate) store: Store,
    pub(crate) hub: Hub,
    painter: Arc<FastPainter>,
    name: String,
    /// Memory one job may need here (see [`fits_here`]).
    pub(crate) job_memory: usize,
    net: OnceCell<Arc<Vgg19>>,
    wake: Notify,
    /// Stop flags of the runs in this process, for a cancel to reach at once.
    pub(crate) running: Mutex<HashMap<JobId, Arc<AtomicU8>>>,
}

impl WorkerPool {
    /// Starts `slots` workers named `name/0`, `name/1`, ...; they stop when
    /// `shutdown` turns true (a running job goes back to the queue). A job
    /// estimated to need more than `job_memory` fails instead of running.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        store: Store,
        hub: Hub,
        painter: Arc<FastPainter>,
        name: String,
        slots: usize,
        job_memory: usize,
        shutdown: watch::Receiver<bool>,
    ) -> (Arc<Self>, Vec<JoinHandle<()>>) {
        let pool = Arc::new(Self {
            store,
            hub,
            painter,
            name,
            job_memory,
            net: OnceCell::new(),
            wake: Notify::new(),
            running: Mutex::new(HashMap::new()),
        });
        let handles = (0..slots)
            .map(|slot| {
                let pool = pool.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { pool.slot_loop(slot, shutdown).await })
            })
            .collect();
        (pool, handles)
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

    async fn network(&self) -> Arc<Vgg19> {
        self.net
            .get_or_init(|| async {
                let deepest = Settings::default().deepest_layer().expect("default layers");
                let net = tokio::task::spawn_blocking(move || Vgg19::embedded_up_to(deepest))
                    .await
                    .expect("network loads");
                Arc::new(net)
            })
            .await
            .clone()
    }

    async fn slot_loop(self: Arc<Self>, slot: usize, mut shutdown: watch::Receiver<bool>) {
        let worker = format!("{}/{slot}", self.name);
        let poll = match self.store.dialect() {
            Dialect::Sqlite => Duration::from_secs(5),
            Dialect::Postgres => Duration::from_secs(1),
        };
        let mut last_sweep: Option<Instant> = None;
        tracing::info!(%worker, "worker ready");
        while !*shutdown.borrow() {
            // Jobs of workers that died are given to the living.
            if self.store.dialect() == Dialect::Postgres
                && last_sweep.is_none_or(|t| t.elapsed() > self.store.lease() / 2)
            {
                last_sweep = Some(Instant::now());
                let before = crate::jobs::now_ms() - self.store.lease().as_millis() as i64;
                match self.store.requeue_stale(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(%worker, jobs = n, "re-queued jobs whose worker went silent")
                    }
                    Err(e) => {
                        tracing::warn!(%worker, error = %e, "cannot check for silent workers")
                    }
                }
            }
            match self.store.claim(&worker).await {
                Ok(Some(job)) => {
                    self.run(&worker, job, shutdown.clone()).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%worker, error = %e, "cannot take a job from the queue");
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(%worker, "worker stopped");
    }

    async fn run(&self, worker: &str, job: JobRecord, shutdown: watch::Receiver<bool>) {
        let id = job.id.clone();
        self.hub.notify(&id);
        tracing::info!(%worker, job = %id, attempt = job.attempts, "job started");
        if job.settings.clip.is_some() {
            return crate::video::run_job(self, worker, job, shutdown).await;
        }
        if job.settings.method == Method::Fast {
            return self.run_fast(worker, &job).await;
        }
        let prepared = match self.prepare(&job).await {
            Ok(p) => p,
            Err(reason) => {
                tracing::warn!(job = %id, %reason, "job failed before it started");
                self.end(worker, &id, JobState::Failed, Some(&reason), 0)
                    .await;
                return;
            }
        };
        let net = self.network().await;
        let stop = Arc::new(AtomicU8::new(RUN));
        self.running
            .lock()
            .unwrap()
            .insert(id.clone(), stop.clone());
        let [heartbeat, watcher] = self.watch(&id, worker, &stop, shutdown).await;

        let mut observer = JobObserver {
            store: self.store.clone(),
            hub: self.hub.clone(),
            handle: Handle::current(),
            id: id.clone(),
            worker: worker.to_owned(),
            stop: stop.clone(),
            offset: prepared.offset,
            last_progress: None,
            last_preview: None,
            last_step: prepared.offset as i64,
        };
        let Prepared {
            content,
            styles,
            settings,
            offset,
        } = prepared;
        let result = tokio::task::spawn_blocking(move || {
            let outcome = stylize(&net, &content, &styles, &settings, &mut observer);
            (outcome, observer.last_step)
        })
        .await;
        heartbeat.abort();
        watcher.abort();
        self.running.lock().unwrap().remove(&id);

        let reason = stop.load(Ordering::SeqCst);
        match result {
            Err(panic) => {
                tracing::error!(job = %id, error = %panic, "the run panicked");
                self.end(
                    worker,
                    &id,
                    JobState::Failed,
                    Some("internal error: the run crashed"),
                    0,
                )
                .await;
            }
            Ok((_, _)) if reason == GONE => {
                tracing::info!(job = %id, "job deleted while running");
                let _ = self.store.delete_images(&id).await;
            }
            Ok((Err(e), step)) => {
                tracing::warn!(job = %id, error = %e, "job failed");
                self.end(worker, &id, JobState::Failed, Some(&e.to_string()), step)
                    .await;
            }
            Ok((Ok(outcome), step)) if outcome.stopped && reason == SHUTDOWN => {
                tracing::info!(job = %id, step, "shutting down: job back in the queue, to resume from its preview");
                let _ = self.store.requeue(&id, worker).await;
                self.hub.notify(&id);
            }
            Ok((Ok(outcome), step)) if outcome.stopped => {
                tracing::info!(job = %id, step, "job cancelled");
                self.end(worker, &id, JobState::Cancelled, None, step).await;
            }
            Ok((Ok(outcome), _)) => {
                let steps = (offset + outcome.steps) as i64;
                let png = tokio::task::spawn_blocking(move || {
                    io::encode_image(&outcome.image, OutputType::Png)
                })
                .await;
                match png {
                    Ok(Ok(bytes)) => {
                        match self.store.put_image(&id, ImageKind::Result, bytes).await {
                            Ok(()) => {
                                tracing::info!(job = %id, steps, "job done");
                                self.end(worker, &id, JobState::Done, None, steps).await;
                            }
                            Err(e) => {
                                let reason = format!("cannot store the result: {e}");
                                self.end(worker, &id, JobState::Failed, Some(&reason), steps)
                                    .await;
                            }
                        }
                    }
                    _ => {
                        self.end(
                            worker,
                            &id,
                            JobState::Failed,
                            Some("cannot encode the result"),
                            steps,
                        )
                        .await
                    }
                }
            }
        }
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

    /// Paints a fast job (in a second: cancels and shutdowns wait for it).
    async fn run_fast(&self, worker: &str, job: &JobRecord) {
        let started = Instant::now();
        let outcome = async {
            let load = |kind: ImageKind| async move {
                match self.store.get_image(&job.id, kind).await {
                    Ok(Some(bytes)) => Ok(bytes),
                    Ok(None) => Err(format!("the {} image is missing", kind.as_str())),
                    Err(e) => Err(format!("cannot read the {} image: {e}", kind.as_str())),
                }
            };
            let (content, style) = (
                load(ImageKind::Content).await?,
                load(ImageKind::Style).await?,
            );
            let regions = StoredRegions::load(&self.store, &job.id).await?;
            fits_here(&job.settings, &content, &style, &regions, self.job_memory)?;
            self.painter
                .paint(content, style, regions, &job.settings)
                .await
        }
        .await;
        let elapsed = started.elapsed().as_millis() as i64;
        instant::finish_fast_job(&self.store, &self.hub, &job.id, worker, outcome, elapsed).await;
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

    /// Loads a job's images and settings; a job that was interrupted resumes
    /// from its last preview when its run has a single scale.
    async fn prepare(&self, job: &JobRecord) -> Result<Prepared, String> {
        let load = |kind: ImageKind| async move {
            match self.store.get_image(&job.id, kind).await {
                Ok(Some(bytes)) => Ok(Some(bytes)),
                Ok(None) => Ok(None),
                Err(e) => Err(format!("cannot read the {} image: {e}", kind.as_str())),
            }
        };
        let content = load(ImageKind::Content)
            .await?
            .ok_or("the content image is missing")?;
        let style = load(ImageKind::Style)
            .await?
            .ok_or("the style image is missing")?;
        let regions = StoredRegions::load(&self.store, &job.id).await?;
        // Before anything is decoded or painted (the fast picture too).
        fits_here(&job.settings, &content, &style, &regions, self.job_memory)?;
        let preview = if job.checkpoint_step > 0 {
            load(ImageKind::Preview).await?
        } else {
            None
        };
        // The picture a `Start::Fast` job starts from: the instant lane's, or painted now.
        let fast = match job.settings.init {
            Start::Fast => Some(match load(ImageKind::Fast).await? {
                Some(png) => png,
                None => {
                    let png = self
                        .painter
                        .paint(
                            content.clone(),
                            style.clone(),
                            StoredRegions::default(),
                            &job.settings,
                        )
                        .await?;
                    let shown = instant::store_starting_picture(
                        &self.store,
                        &self.hub,
                        &job.id,
                        png.clone(),
                    );
                    if let Err(e) = shown.await {
                        tracing::warn!(job = %job.id, error = %e, "cannot store the fast picture");
                    }
                    png
                }
            }),
            // The picture the submission sent, stored with the job.
            Start::Image => Some(
                load(ImageKind::Fast)
                    .await?
                    .ok_or("the picture the job starts from is missing")?,
            ),
            Start::Content | Start::Noise => None,
        };
        let mut settings = job.settings.to_settings();
        let checkpoint = job.checkpoint_step.max(0) as usize;
        let id = job.id.clone();
        tokio::task::spawn_blocking(move || {
            let decode = |bytes: &[u8], role: &str| {
                io::decode_image(bytes, std::path::Path::new(role), ImageLimits::default())
                    .map_err(|e| e.to_string())
            };
            let content = decode(&content, "the content image")?;
            let style = decode(&style, "the style image")?;
            let styles = regions.styles(style, &mut settings)?;
            if let Some(png) = fast {
                settings.init = Init::Image(decode(&png, "the fast picture")?);
            }
            let mut offset = 0;
            let single_scale = settings.plan(content.width(), content.height()).len() == 1
                && settings.tiling.is_none();
            if let (Some(preview), true) =
                (preview, single_scale && checkpoint < settings.iterations)
            {
                if let Ok(image) = decode(&preview, "the preview") {
                    settings.init = Init::Image(image);
                    settings.iterations -= checkpoint;
                    offset = checkpoint;
                    tracing::info!(job = %id, step = checkpoint, "resuming from the last preview");
                }
            }
            Ok(Prepared {
                content,
                styles,
                settings,
                offset,
            })
        })
        .await
        .map_err(|e| format!("internal error: {e}"))?
    }
}

struct Prepared {
    content: Image,
    /// The painting, and the second one if the job has one (with their masks).
    styles: Vec<StyleImage>,
    settings: Settings,
    /// Steps done by earlier runs (the run resumes after them).
    offset: usize,
}

/// Whether a job fits the memory this worker allows a job: the one estimate
/// the submission was checked with ([`restyle_request::Plan::fit`], from the stored
/// images' headers, before any is decoded), against this worker's budget.
/// A `restyle worker` may have less than the server that accepted the job,
/// and a server may have restarted with less; running out of memory would
/// take this process's other jobs down with it.
fn fits_here(
    job: &JobSettings,
    content: &[u8],
    style: &[u8],
    regions: &StoredRegions,
    budget: usize,
) -> Result<(), String> {
    let inputs = stored_inputs(content, style, &regions.images)?;
    let mut plan = job
        .plan(Some((budget, crate::limits::operator("this worker"))))
        .map_err(|e| e.to_string())?;
    plan.fit(&inputs)
        .map(|_| ())
        .map_err(|e| refused(e).to_string())
}

/// A stored job's inputs, by their size as decoded, from their headers alone.
pub fn stored_inputs(
    content: &[u8],
    style: &[u8],
    regions: &[(ImageKind, Vec<u8>)],
) -> Result<Inputs, String> {
    // Stored images passed the submission's checks: no pixel limit here.
    let limits = Limits {
        max_pixels: u64::MAX,
        ..Limits::default()
    };
    let size = |bytes: &[u8], role: &str| {
        crate::upload::header(bytes, role, &limits)
            .map(|h| (h.width, h.height))
            .map_err(|e| e.to_string())
    };
    let mut inputs = Inputs {
        content: size(content, "content")?,
        styles: vec![size(style, "style")?],
        masks: Vec::new(),
        init: None,
    };
    for (kind, bytes) in regions {
        let dims = size(bytes, kind.as_str())?;
        match kind {
            ImageKind::Style2 => inputs.styles.push(dims),
            _ => inputs.masks.push(dims),
        }
    }
    Ok(inputs)
}

pub(crate) fn set_once(flag: &AtomicU8, why: u8) {
    let _ = flag.compare_exchange(RUN, why, Ordering::SeqCst, Ordering::SeqCst);
}

/// The library's observer for one job, on the blocking thread.
struct JobObserver {
    store: Store,
    hub: Hub,
    handle: Handle,
    id: JobId,
    worker: String,
    stop: Arc<AtomicU8>,
    offset: usize,
    last_progress: Option<Instant>,
    last_preview: Option<Instant>,
    last_step: i64,
}

impl Observer for JobObserver {
    fn on_step(&mut self, p: &Progress<'_>) -> Flow {
        let step = (self.offset + p.step) as i64;
        let total = (self.offset + p.total_steps) as i64;
        self.last_step = step;
        let now = Instant::now();
        let due = |last: Option<Instant>, every| {
            last.is_none_or(|t: Instant| now.duration_since(t) >= every)
        };
        if self.stop.load(Ordering::SeqCst) == RUN
            && (due(self.last_progress, PROGRESS_EVERY) || step == total)
        {
            self.last_progress = Some(now);
            // The preview shows this step; the last step's image is the result.
            let preview = (due(self.last_preview, PREVIEW_EVERY) && step < total)
                .then(|| io::encode_image(&p.image(), OutputType::Png).ok())
                .flatten();
            if preview.is_some() {
                self.last_preview = Some(now);
            }
            let update = ProgressUpdate {
                step,
                total_steps: total,
                eta_ms: p.eta.map(|d| d.as_millis() as i64),
                elapsed_ms: p.elapsed.as_millis() as i64,
                loss: Some(p.losses.total()),
                checkpoint: preview.as_ref().map(|_| step),
            };
            let answer = self.handle.block_on(async {
                if let Some(bytes) = preview {
                    self.store
                        .put_image(&self.id, ImageKind::Preview, bytes)
                        .await?;
                }
                self.store.progress(&self.id, &self.worker, &update).await
            });
            match answer {
                Ok(Some(false)) => {}
                Ok(Some(true)) => set_once(&self.stop, CANCELLED),
                Ok(None) => set_once(&self.stop, GONE),
                Err(e) => tracing::warn!(job = %self.id, error = %e, "cannot record progress"),
            }
            self.hub.notify(&self.id);
        }
        self.on_targets()
    }

    /// Between style images and tiles while targets are measured: a cancel,
    /// a delete or a shutdown stops the run there too.
    fn on_targets(&mut self) -> Flow {
        if self.stop.load(Ordering::SeqCst) == RUN {
            Flow::Continue
        } else {
            Flow::Stop
        }
    }
}
