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

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use restyle::io::{self, ImageLimits, OutputType};
use restyle::{stylize, Flow, Image, Init, Observer, Progress, Settings, StyleImage, Vgg19};
use tokio::runtime::Handle;
use tokio::sync::{watch, OnceCell};
use tokio::task::JoinHandle;

use crate::events::Hub;
use crate::instant::{self, FastPainter};
use crate::limits::Limits;
use crate::pool::{
    record_progress, WorkerPool, GONE, PREVIEW_EVERY, PROGRESS_EVERY, RUN, SHUTDOWN,
};
use crate::submission::refused;
use restyle_request::{Init as Start, Inputs, Method};

use crate::jobs::{JobId, JobRecord, JobSettings, JobState};
use crate::regions::StoredRegions;
use crate::storage::{Dialect, ImageKind, ProgressUpdate, Store};

/// Starts `slots` workers named `name/0`, `name/1`, ...; they stop when `shutdown` turns
/// true (a running job goes back to the queue). A job estimated to need more than
/// `job_memory` fails instead of running.
#[allow(clippy::too_many_arguments)]
pub fn start(
    store: Store,
    hub: Hub,
    painter: Arc<FastPainter>,
    name: String,
    slots: usize,
    job_memory: usize,
    shutdown: watch::Receiver<bool>,
) -> (Arc<WorkerPool>, Vec<JoinHandle<()>>) {
    let pool = Arc::new(WorkerPool::new(store, hub, job_memory));
    let shared = Arc::new(Slots {
        pool: pool.clone(),
        painter,
        name,
        net: OnceCell::new(),
    });
    let handles = (0..slots)
        .map(|slot| {
            let shared = shared.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move { shared.slot_loop(slot, shutdown).await })
        })
        .collect();
    (pool, handles)
}

/// What the slots of one pool share beyond the pool: the network, loaded once; the
/// painter of fast pictures; the name they take jobs under.
struct Slots {
    pool: Arc<WorkerPool>,
    painter: Arc<FastPainter>,
    name: String,
    net: OnceCell<Arc<Vgg19>>,
}

impl Slots {
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
        let poll = match self.pool.store.dialect() {
            Dialect::Sqlite => Duration::from_secs(5),
            Dialect::Postgres => Duration::from_secs(1),
        };
        let mut last_sweep: Option<Instant> = None;
        tracing::info!(%worker, "worker ready");
        while !*shutdown.borrow() {
            // Jobs of workers that died are given to the living.
            if self.pool.store.dialect() == Dialect::Postgres
                && last_sweep.is_none_or(|t| t.elapsed() > self.pool.store.lease() / 2)
            {
                last_sweep = Some(Instant::now());
                let before = crate::jobs::now_ms() - self.pool.store.lease().as_millis() as i64;
                match self.pool.store.requeue_stale(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::warn!(%worker, jobs = n, "re-queued jobs whose worker went silent")
                    }
                    Err(e) => {
                        tracing::warn!(%worker, error = %e, "cannot check for silent workers")
                    }
                }
            }
            match self.pool.store.claim(&worker).await {
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
                _ = self.pool.woken() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        tracing::info!(%worker, "worker stopped");
    }

    async fn run(&self, worker: &str, job: JobRecord, shutdown: watch::Receiver<bool>) {
        let id = job.id.clone();
        self.pool.hub.notify(&id);
        tracing::info!(%worker, job = %id, attempt = job.attempts, "job started");
        if job.settings.clip.is_some() {
            return crate::video::run_job(&self.pool, worker, job, shutdown).await;
        }
        if job.settings.method == Method::Fast {
            return self.run_fast(worker, &job).await;
        }
        let prepared = match self.prepare(&job).await {
            Ok(p) => p,
            Err(reason) => {
                tracing::warn!(job = %id, %reason, "job failed before it started");
                self.pool
                    .end(worker, &id, JobState::Failed, Some(&reason), 0)
                    .await;
                return;
            }
        };
        let net = self.network().await;
        let stop = Arc::new(AtomicU8::new(RUN));
        self.pool
            .running
            .lock()
            .unwrap()
            .insert(id.clone(), stop.clone());
        let [heartbeat, watcher] = self.pool.watch(&id, worker, &stop, shutdown).await;

        let mut observer = JobObserver {
            store: self.pool.store.clone(),
            hub: self.pool.hub.clone(),
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
        self.pool.running.lock().unwrap().remove(&id);

        let reason = stop.load(Ordering::SeqCst);
        match result {
            Err(panic) => {
                tracing::error!(job = %id, error = %panic, "the run panicked");
                self.pool
                    .end(
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
                let _ = self.pool.store.delete_images(&id).await;
            }
            Ok((Err(e), step)) => {
                tracing::warn!(job = %id, error = %e, "job failed");
                self.pool
                    .end(worker, &id, JobState::Failed, Some(&e.to_string()), step)
                    .await;
            }
            Ok((Ok(outcome), step)) if outcome.stopped && reason == SHUTDOWN => {
                tracing::info!(job = %id, step, "shutting down: job back in the queue, to resume from its preview");
                let _ = self.pool.store.requeue(&id, worker).await;
                self.pool.hub.notify(&id);
            }
            Ok((Ok(outcome), step)) if outcome.stopped => {
                tracing::info!(job = %id, step, "job cancelled");
                self.pool
                    .end(worker, &id, JobState::Cancelled, None, step)
                    .await;
            }
            Ok((Ok(outcome), _)) => {
                let steps = (offset + outcome.steps) as i64;
                let png = tokio::task::spawn_blocking(move || {
                    io::encode_image(&outcome.image, OutputType::Png)
                })
                .await;
                match png {
                    Ok(Ok(bytes)) => {
                        match self
                            .pool
                            .store
                            .put_image(&id, ImageKind::Result, bytes)
                            .await
                        {
                            Ok(()) => {
                                tracing::info!(job = %id, steps, "job done");
                                self.pool
                                    .end(worker, &id, JobState::Done, None, steps)
                                    .await;
                            }
                            Err(e) => {
                                let reason = format!("cannot store the result: {e}");
                                self.pool
                                    .end(worker, &id, JobState::Failed, Some(&reason), steps)
                                    .await;
                            }
                        }
                    }
                    _ => {
                        self.pool
                            .end(
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

    /// Paints a fast job (in a second: cancels and shutdowns wait for it).
    async fn run_fast(&self, worker: &str, job: &JobRecord) {
        let started = Instant::now();
        let outcome = async {
            let (content, style, regions) = self.pictures_that_fit(job).await?;
            self.painter
                .paint(content, style, regions, &job.settings)
                .await
        }
        .await;
        let elapsed = started.elapsed().as_millis() as i64;
        instant::finish_fast_job(
            &self.pool.store,
            &self.pool.hub,
            &job.id,
            worker,
            outcome,
            elapsed,
        )
        .await;
    }

    /// A job's photo, painting and regions, once its settings are known to fit this worker's
    /// memory with them (checked before anything is decoded).
    async fn pictures_that_fit(
        &self,
        job: &JobRecord,
    ) -> Result<(Vec<u8>, Vec<u8>, StoredRegions), String> {
        let content = self.required_image(&job.id, ImageKind::Content).await?;
        let style = self.required_image(&job.id, ImageKind::Style).await?;
        let regions = StoredRegions::load(&self.pool.store, &job.id).await?;
        fits_here(
            &job.settings,
            &content,
            &style,
            &regions,
            self.pool.job_memory,
        )?;
        Ok((content, style, regions))
    }

    /// A job's stored image of `kind`, if it has one.
    async fn image(&self, id: &JobId, kind: ImageKind) -> Result<Option<Vec<u8>>, String> {
        self.pool
            .store
            .get_image(id, kind)
            .await
            .map_err(|e| format!("cannot read the {} image: {e}", kind.as_str()))
    }

    /// A job's stored image of `kind`, which it must have.
    async fn required_image(&self, id: &JobId, kind: ImageKind) -> Result<Vec<u8>, String> {
        self.image(id, kind)
            .await?
            .ok_or_else(|| format!("the {} image is missing", kind.as_str()))
    }

    /// Loads a job's images and settings; a job that was interrupted resumes
    /// from its last preview when its run has a single scale.
    async fn prepare(&self, job: &JobRecord) -> Result<Prepared, String> {
        // Before anything is decoded or painted (the fast picture too).
        let (content, style, regions) = self.pictures_that_fit(job).await?;
        let preview = if job.checkpoint_step > 0 {
            self.image(&job.id, ImageKind::Preview).await?
        } else {
            None
        };
        // The picture a `Start::Fast` job starts from: the instant lane's, or painted now.
        let fast = match job.settings.init {
            Start::Fast => Some(match self.image(&job.id, ImageKind::Fast).await? {
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
                        &self.pool.store,
                        &self.pool.hub,
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
                self.image(&job.id, ImageKind::Fast)
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
            record_progress(
                &self.store,
                &self.hub,
                &self.handle,
                (&self.id, &self.worker),
                &self.stop,
                &update,
                preview,
            );
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
