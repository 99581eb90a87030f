//! Video jobs: a clip sent as `content` to `POST /api/jobs` (MP4, MOV, MKV, WebM or an
//! animated GIF, told apart by its bytes) is painted frame by frame by [`restyle_video`], steady
//! from frame to frame, its sound copied, into an MP4 (H.264) that the job page plays.
//!
//! A clip is checked before anything is stored, with ffprobe (through the video crate's ffmpeg
//! module), never by what the client says: it must be a clip ffmpeg reads, at most
//! `--max-video-seconds` long, its frames within `--max-megapixels`; the painted frame's whole
//! pipeline must fit `--max-job-memory` (the video crate's per-frame estimate, the one the CLI
//! checks), and the clip, the result and the work folder the disk budget. A server without
//! ffmpeg refuses clips (415) and says so. The request is the one request of still pictures
//! ([`restyle_request`]), turned into a clip's by [`VideoRequest::planned`] as the CLI does.
//!
//! A job's steps are its frames. The worker paints in a work folder inside the job's image
//! folder ([`Store::work_dir`]): the clip, the painted segments and the run's checkpoint, so
//! that a job stopped by a shutdown resumes from its last segment (about two seconds) when a
//! worker takes it again; a cancel or a delete stops it after the current frame.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restyle::io::{self, ImageLimits, OutputType};
use restyle::{Flow, Image};
use restyle_request::{Init, Method, Pictures};
use restyle_video::frames::probe_source;
use restyle_video::{
    FrameProgress, VideoObserver, VideoRequest, DEFAULT_FAST_SIZE, DEFAULT_GATYS_SIZE,
    DEFAULT_LATER_ITERATIONS, DEFAULT_SEQUENCE_FPS,
};
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::events::Hub;
use crate::fair::Client;
use crate::jobs::{Chunk, Clip, JobId, JobRecord, JobSettings, JobState};
use crate::limits::{operator, Limits};
use crate::pool::{
    record_progress, set_once, WorkerPool, CANCELLED, GONE, PREVIEW_EVERY, PROGRESS_EVERY, RUN,
    SHUTDOWN,
};
use crate::state::AppState;
use crate::storage::{ImageKind, NewJob, ProgressUpdate, Store};
use crate::submission::{created, painting, refused, Form};
use crate::viewer::Viewer;

/// What the disk budget counts for a clip's painted result before it exists: bytes per painted
/// pixel and frame. H.264 at the video crate's quality (CRF 18) took 0.12 on painted frames
/// (big_buck_bunny_5s.mp4, fast, 384x216, 132 frames with its sound: 1.27 MB); 0.2 leaves room.
const RESULT_BYTES_PER_PIXEL: f64 = 0.2;

/// The painted clip in the work folder, before it is stored as the job's result.
pub(crate) const PAINTED: &str = "painted.mp4";

/// A clip's media type from its first bytes, or `None` if it is not a clip.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        Some(if &bytes[8..12] == b"qt  " {
            "video/quicktime"
        } else {
            "video/mp4"
        })
    } else if bytes.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        // Matroska and WebM share their container; the header names which.
        let head = &bytes[..bytes.len().min(64)];
        Some(if head.windows(4).any(|w| w == b"webm") {
            "video/webm"
        } else {
            "video/x-matroska"
        })
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else {
        None
    }
}

/// Whether an upload is a clip (by its bytes).
pub fn is_clip(bytes: &[u8]) -> bool {
    sniff(bytes).is_some()
}

/// The clip's file in a job's work folder: its name says what it is (a GIF is read without
/// ffmpeg; ffmpeg reads the others by their content).
pub(crate) fn clip_path(work: &Path, bytes: &[u8]) -> PathBuf {
    let extension = match sniff(bytes) {
        Some("image/gif") => "gif",
        Some("video/webm") => "webm",
        Some("video/x-matroska") => "mkv",
        Some("video/quicktime") => "mov",
        _ => "mp4",
    };
    work.join(format!("clip.{extension}"))
}

/// A clip `bytes` long served whole, or the part a `Range: bytes=A-B` header asks for (206;
/// 416 for a range beyond its end). One range at a time: what players ask for.
pub fn ranged(bytes: Vec<u8>, request: &HeaderMap, mut headers: HeaderMap) -> Response {
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    let len = bytes.len() as u64;
    let Some(range) = request
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .filter(|v| !v.contains(','))
    else {
        return (headers, bytes).into_response();
    };
    let (first, last) = match range.trim().split_once('-') {
        // The last N bytes.
        Some(("", n)) => match n.parse::<u64>() {
            Ok(n) if n > 0 => (len.saturating_sub(n), len.saturating_sub(1)),
            _ => (u64::MAX, 0),
        },
        Some((a, "")) => (a.parse().unwrap_or(u64::MAX), len.saturating_sub(1)),
        Some((a, b)) => match (a.parse::<u64>(), b.parse::<u64>()) {
            (Ok(a), Ok(b)) => (a, b.min(len.saturating_sub(1))),
            _ => (u64::MAX, 0),
        },
        None => (u64::MAX, 0),
    };
    if first > last || first >= len {
        headers.insert(
            header::CONTENT_RANGE,
            HeaderValue::from_str(&format!("bytes */{len}")).expect("ascii"),
        );
        return (StatusCode::RANGE_NOT_SATISFIABLE, headers).into_response();
    }
    headers.insert(
        header::CONTENT_RANGE,
        HeaderValue::from_str(&format!("bytes {first}-{last}/{len}")).expect("ascii"),
    );
    let part = bytes[first as usize..=last as usize].to_vec();
    (StatusCode::PARTIAL_CONTENT, headers, part).into_response()
}

/// The long edge a clip is painted at when the form asks for none: the clip's own, at most
/// the method's default for clips and the server's `--max-size`.
fn default_size(method: Method, width: usize, height: usize, limits: &Limits) -> usize {
    let method_default = match method {
        Method::Fast => DEFAULT_FAST_SIZE,
        Method::Gatys => DEFAULT_GATYS_SIZE,
    };
    width.max(height).min(method_default).min(limits.max_size)
}

/// The video crate's request for a job's clip: the job's one request with its painting,
/// `memory` (bytes) the budget `who` allows.
fn video_request(
    settings: &JobSettings,
    style: Image,
    clip: PathBuf,
    output: PathBuf,
    memory: usize,
    who: &str,
) -> Result<VideoRequest, ApiError> {
    let plan = settings
        .plan(Some((memory, operator(who))))
        .map_err(refused)?;
    let frame_unused = Image::filled(1, 1, [0.0; 3]); // the frames come from the clip
    let pictures = Pictures::new(&plan, frame_unused, vec![style]);
    // Frames after the first start from the one before: fewer steps, never more than the first's.
    let later_iterations = (settings.method == Method::Gatys)
        .then(|| settings.iterations.min(DEFAULT_LATER_ITERATIONS) as i64);
    let planned =
        VideoRequest::planned(clip, output, &plan, pictures, later_iterations).map_err(refused)?;
    Ok(VideoRequest {
        size: Some(settings.size),
        overwrite: true,
        max_memory: Some(memory as u64),
        ..planned
    })
}

/// The video crate's error in words for the client: the server's folders left out.
fn told(error: &restyle_video::Error, work: &Path) -> String {
    let folder = format!("{}{}", work.display(), std::path::MAIN_SEPARATOR);
    error
        .to_string()
        .replace(&folder, "")
        .replace(&work.display().to_string(), "the job's folder")
}

/// Why a clip is refused, as the API says it.
fn refusal(error: &restyle_video::Error, work: &Path) -> ApiError {
    use restyle_video::Error as E;
    match error {
        E::FfmpegMissing(_) | E::Spawn { .. } => ApiError::UnsupportedImage(format!(
            "this server cannot paint clips: {}",
            told(error, work)
        )),
        E::NotAVideo { .. } | E::Decode { .. } | E::Image(_) => {
            ApiError::Unprocessable(format!("the content clip: {}", told(error, work)))
        }
        _ => ApiError::Unprocessable(told(error, work)),
    }
}

/// A clip that passed the checks.
struct CheckedClip {
    settings: JobSettings,
    width: usize,
    height: usize,
    frames: u64,
}

/// Probes the clip at `path` and checks it against the limits and the memory (blocking).
fn check_clip(
    path: &Path,
    mut settings: JobSettings,
    size_asked: bool,
    style: Image,
    limits: &Limits,
) -> Result<CheckedClip, ApiError> {
    let work = path.parent().expect("in the work folder");
    let ffmpeg = restyle_video::Ffmpeg::find(None).map_err(|e| refusal(&e, work))?;
    let source =
        probe_source(path, Some(&ffmpeg), DEFAULT_SEQUENCE_FPS).map_err(|e| refusal(&e, work))?;
    let info = &source.info;
    let fps = info.fps_f64();
    let seconds = info
        .duration
        .or_else(|| info.frames.map(|n| n as f64 / fps))
        .filter(|s| s.is_finite())
        .ok_or_else(|| {
            ApiError::Unprocessable("the content clip's length cannot be read".into())
        })?;
    // A clip of exactly the limit may measure a frame longer.
    if seconds > limits.max_video_seconds + 1.0 / fps.max(1.0) {
        return Err(ApiError::Unprocessable(format!(
            "the clip is {seconds:.1} s long; this server paints clips of at most {} s (max_video_seconds)",
            limits.max_video_seconds
        )));
    }
    let pixels = (info.width * info.height) as u64;
    if pixels > limits.max_pixels {
        return Err(ApiError::TooLarge(format!(
            "the clip's frames are {}x{}, more than this server's {:.0} megapixels",
            info.width,
            info.height,
            limits.max_pixels as f64 / 1e6
        )));
    }
    if !size_asked {
        settings.size = default_size(settings.method, info.width, info.height, limits);
    }
    let output = work.join(PAINTED);
    let request = video_request(
        &settings,
        style,
        path.to_path_buf(),
        output,
        limits.max_job_memory,
        "this server",
    )?;
    let plan = restyle_video::plan(&request).map_err(|e| refusal(&e, work))?;
    let frames = plan
        .frames
        .unwrap_or_else(|| (seconds * fps).round().max(1.0) as u64);
    settings.clip = Some(Clip {
        frames,
        seconds,
        frames_per_second: fps,
        sound: plan.audio.is_some(),
        chunk: None,
    });
    Ok(CheckedClip {
        settings,
        width: plan.width,
        height: plan.height,
        frames,
    })
}

/// `POST /api/jobs` with a clip as `content`: checked, stored and queued (the client's shares
/// were checked by [`crate::api::create`] before the form was read).
pub async fn create(
    state: &AppState,
    viewer: &Viewer,
    client: &Client,
    form: Form,
) -> Result<Response, ApiError> {
    let limits = state.limits;
    if !form.regions.used().is_empty() {
        return Err(ApiError::Unprocessable(
            "a clip is painted with one painting: the regions (style_2, masks, keep) are for pictures".into(),
        ));
    }
    if form.request.init != Init::Content {
        return Err(ApiError::Unprocessable(
            "init is for pictures: a clip's first frame starts from the frame itself".into(),
        ));
    }
    let clip = form.content.expect("a clip was sniffed");
    let (style, preset, shipped) = painting(form.style, form.preset)?;
    let size_asked = form.request.size.is_some();
    let request = restyle_request::Request {
        styles: 1,
        ..form.request
    };
    let plan = request.check(&limits.request()).map_err(refused)?;
    let settings = JobSettings::of_plan(&plan, preset, Default::default());

    let id = JobId::random();
    let work = state.store.work_dir(&id);
    let path = clip_path(&work, &clip);
    // Probing and decoding take memory and a core: a few submissions at a time.
    let permit = state
        .decoding
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let checked = {
        let (work, path) = (work.clone(), path.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // The painting as a picture's is: its header read, cleaned of metadata.
            let header = crate::upload::header(&style, "style", &limits)?;
            let style = if shipped {
                style
            } else {
                crate::upload::clean(&style, header, "style")?
            };
            let image = io::decode_image(&style, Path::new("style"), ImageLimits::default())
                .map_err(|e| ApiError::Unprocessable(format!("the style image: {e}")))?;
            std::fs::create_dir_all(&work)
                .and_then(|()| std::fs::write(&path, &clip))
                .map_err(|e| ApiError::Internal(format!("cannot keep the clip: {e}")))?;
            let checked = check_clip(&path, settings, size_asked, image, &limits);
            // The worker that takes the job writes its own copy (it may be another machine's).
            let _ = std::fs::remove_dir_all(&work);
            if let Some(job_folder) = work.parent() {
                let _ = std::fs::remove_dir(job_folder); // if nothing else is in it
            }
            Ok::<_, ApiError>((checked?, clip, style))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    };
    let (checked, clip, style) = checked?;
    let stored = store_clip_job(state, viewer, client, &id, checked, clip, style).await;
    if stored.is_err() {
        let _ = state.store.delete_images(&id).await;
    }
    stored
}

/// Counts a checked clip against the disk budgets, stores it and queues it.
async fn store_clip_job(
    state: &AppState,
    viewer: &Viewer,
    client: &Client,
    id: &JobId,
    checked: CheckedClip,
    clip: Vec<u8>,
    style: Vec<u8>,
) -> Result<Response, ApiError> {
    let limits = state.limits;
    let CheckedClip {
        settings,
        width,
        height,
        frames,
    } = checked;
    // The clip twice (the upload, and the work folder's copy), the painting, and the result
    // twice (the work folder's, then stored); a clip in chunks four times (the chunks' too,
    // and the joined pictures before the sound).
    let result = (width * height) as f64 * frames as f64 * RESULT_BYTES_PER_PIXEL;
    let copies = if crate::chunks::to_conduct(&settings).is_some() {
        4
    } else {
        2
    };
    let incoming = 2 * clip.len() as u64 + style.len() as u64 + copies * result as u64;
    let share = state.fair.disk_share(state.retention.max_disk);
    let admission = state.admission.lock().await;
    crate::retention::admit(&state.store, &state.retention, incoming, (client, share)).await?;
    let store = &state.store;
    store.put_image(id, ImageKind::Content, clip).await?;
    store.put_image(id, ImageKind::Style, style).await?;
    let owner = viewer.owner();
    let new = NewJob {
        id,
        owner: owner.as_deref(),
        client: client.as_str(),
        settings: &settings,
        total_steps: frames as usize,
        width,
        height,
    };
    if !store.insert(new, limits.max_queue).await? {
        return Err(ApiError::QueueFull(limits.max_queue));
    }
    drop(admission);
    tracing::info!(job = %id, width, height, frames, "video job queued");
    if let Some(pool) = &state.workers {
        pool.wake();
    }
    state.hub.notify(id);
    Ok(created(id, viewer))
}

/// Reports a video run's frames to the queue, and stops it when asked.
struct ClipObserver {
    store: Store,
    hub: Hub,
    handle: Handle,
    id: JobId,
    worker: String,
    stop: Arc<AtomicU8>,
    total: u64,
    started: Instant,
    last_progress: Option<Instant>,
    last_preview: Option<Instant>,
}

impl VideoObserver for ClipObserver {
    fn on_frame(&mut self, p: &FrameProgress<'_>) -> Flow {
        let total = p.total.map_or(self.total, |t| t as u64).max(p.done as u64);
        let last = p.done as u64 == total;
        let now = Instant::now();
        let due = |since: Option<Instant>, every| since.is_none_or(|t: Instant| now - t >= every);
        if self.stop.load(Ordering::SeqCst) == RUN
            && (due(self.last_progress, PROGRESS_EVERY) || last)
        {
            self.last_progress = Some(now);
            // The frame just painted is the live view.
            let preview = (due(self.last_preview, PREVIEW_EVERY) && !last)
                .then(|| io::encode_image(p.picture, OutputType::Png).ok())
                .flatten();
            if preview.is_some() {
                self.last_preview = Some(now);
            }
            let update = ProgressUpdate {
                step: p.done as i64,
                total_steps: total as i64,
                eta_ms: p.eta.map(|d| d.as_millis() as i64),
                elapsed_ms: self.started.elapsed().as_millis() as i64,
                loss: None,
                checkpoint: preview.as_ref().map(|_| p.done as i64),
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
        if self.should_stop() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn should_stop(&mut self) -> bool {
        self.stop.load(Ordering::SeqCst) != RUN
    }
}

/// Everything a run needs, read from the store: the clip in the work folder and the request.
async fn prepare(pool: &WorkerPool, job: &JobRecord, work: &Path) -> Result<VideoRequest, String> {
    let chunk = job.settings.clip.as_ref().and_then(|c| c.chunk.clone());
    // A chunk paints its parent's clip.
    let images = match &chunk {
        Some(c) => c
            .parent
            .parse()
            .map_err(|_| "a chunk of no job".to_owned())?,
        None => job.id.clone(),
    };
    let images = &images;
    let load = |kind: ImageKind| async move {
        match pool.store.get_image(images, kind).await {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("the {} is missing", kind.as_str())),
            Err(e) => Err(format!("cannot read the {}: {e}", kind.as_str())),
        }
    };
    let style = load(ImageKind::Style).await?;
    // A worker on another machine (images in PostgreSQL) has no copy of the clip yet.
    let content = load(ImageKind::Content).await?;
    let path = clip_path(work, &content);
    let settings = job.settings.clone();
    let (work, memory) = (work.to_path_buf(), pool.job_memory);
    tokio::task::spawn_blocking(move || {
        if !path.is_file() {
            std::fs::create_dir_all(&work)
                .and_then(|()| std::fs::write(&path, &content))
                .map_err(|e| format!("cannot write the clip to the work folder: {e}"))?;
        }
        let style = io::decode_image(&style, Path::new("the style image"), ImageLimits::default())
            .map_err(|e| e.to_string())?;
        let output = work.join(PAINTED);
        let mut request = video_request(
            &settings,
            style,
            path,
            output.clone(),
            memory,
            "this worker",
        )
        .map_err(|e| e.to_string())?;
        if let (Some(c), Some(clip)) = (&chunk, &settings.clip) {
            request.span = crate::chunks::span(c, clip.frames_per_second);
        }
        // A run that was stopped (a shutdown) continues from its last segment.
        request.resume = restyle_video::work_dir(&output)
            .join("state.json")
            .is_file();
        Ok(request)
    })
    .await
    .map_err(|e| format!("internal error: {e}"))?
}

/// Paints video job `job` on this worker: progress in frames, the painted clip stored as
/// its result (a long clip's job has its chunks painted, see [`crate::chunks`]).
pub async fn run_job(
    pool: &WorkerPool,
    worker: &str,
    job: JobRecord,
    shutdown: watch::Receiver<bool>,
) {
    if let Some(chunks) = crate::chunks::to_conduct(&job.settings) {
        return conduct(pool, worker, job, chunks, shutdown).await;
    }
    let id = job.id.clone();
    let work = pool.store.work_dir(&id);
    let request = match prepare(pool, &job, &work).await {
        Ok(r) => r,
        Err(reason) => {
            tracing::warn!(job = %id, %reason, "video job failed before it started");
            pool.end(worker, &id, JobState::Failed, Some(&reason), 0)
                .await;
            let _ = tokio::fs::remove_dir_all(&work).await;
            return;
        }
    };
    let stop = Arc::new(AtomicU8::new(RUN));
    pool.running
        .lock()
        .unwrap()
        .insert(id.clone(), stop.clone());
    let [heartbeat, watcher] = pool.watch(&id, worker, &stop, shutdown).await;
    let mut observer = ClipObserver {
        store: pool.store.clone(),
        hub: pool.hub.clone(),
        handle: Handle::current(),
        id: id.clone(),
        worker: worker.to_owned(),
        stop: stop.clone(),
        total: job.total_steps.max(1) as u64,
        started: Instant::now(),
        last_progress: None,
        last_preview: None,
    };
    let work_dir = work.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut request = request;
        let outcome = restyle_video::plan(&request)
            .and_then(|plan| restyle_video::stylize_video(&request, plan, &mut observer));
        match outcome {
            // A checkpoint this request did not make (another version's): start afresh.
            Err(restyle_video::Error::Resume { .. }) if request.resume => {
                request.resume = false;
                restyle_video::plan(&request)
                    .and_then(|plan| restyle_video::stylize_video(&request, plan, &mut observer))
            }
            other => other,
        }
        .map_err(|e| told(&e, &work_dir))
    })
    .await;
    heartbeat.abort();
    watcher.abort();
    pool.running.lock().unwrap().remove(&id);

    let reason = stop.load(Ordering::SeqCst);
    let finished = match result {
        Err(panic) => {
            tracing::error!(job = %id, error = %panic, "the video run panicked");
            Some((
                JobState::Failed,
                Some("internal error: the run crashed".to_owned()),
                0,
            ))
        }
        Ok(_) if reason == GONE => {
            tracing::info!(job = %id, "video job deleted while running");
            let _ = pool.store.delete_images(&id).await;
            None
        }
        Ok(Err(e)) => {
            tracing::warn!(job = %id, error = %e, "video job failed");
            Some((JobState::Failed, Some(e), 0))
        }
        Ok(Ok(outcome)) if outcome.stopped && reason == SHUTDOWN => {
            tracing::info!(job = %id, frames = outcome.frames, "shutting down: video job back in the queue, to resume from its last segment");
            let _ = pool.store.requeue(&id, worker).await;
            pool.hub.notify(&id);
            return; // its work folder stays: the next run continues it
        }
        Ok(Ok(outcome)) if outcome.stopped => {
            tracing::info!(job = %id, frames = outcome.frames, "video job cancelled");
            Some((JobState::Cancelled, None, outcome.frames as i64))
        }
        Ok(Ok(outcome)) => {
            let frames = outcome.frames as i64;
            match tokio::fs::read(work.join(PAINTED)).await {
                Ok(bytes) => match pool.store.put_image(&id, ImageKind::Result, bytes).await {
                    Ok(()) => {
                        tracing::info!(job = %id, frames, seconds = outcome.seconds, "video job done");
                        Some((JobState::Done, None, frames))
                    }
                    Err(e) => Some((
                        JobState::Failed,
                        Some(format!("cannot store the result: {e}")),
                        frames,
                    )),
                },
                Err(e) => Some((
                    JobState::Failed,
                    Some(format!("cannot read the painted clip: {e}")),
                    frames,
                )),
            }
        }
    };
    let _ = tokio::fs::remove_dir_all(&work).await;
    if let Some((state, error, frames)) = finished {
        pool.end(worker, &id, state, error.as_deref(), frames).await;
    }
}

/// Has a long clip's job painted in chunks ([`crate::chunks`]): queues them as jobs of their
/// own (once: a conductor that restarts finds them), paints those no other slot has taken,
/// waits for the others (the job's progress: their frames), then joins them with the clip's
/// sound into the job's result. A cancel or delete of the job removes its chunks.
pub(crate) async fn conduct(
    pool: &WorkerPool,
    worker: &str,
    job: JobRecord,
    chunks: Vec<Chunk>,
    shutdown: watch::Receiver<bool>,
) {
    let id = job.id.clone();
    let stop = Arc::new(AtomicU8::new(RUN));
    pool.running
        .lock()
        .unwrap()
        .insert(id.clone(), stop.clone());
    let [heartbeat, watcher] = pool.watch(&id, worker, &stop, shutdown.clone()).await;
    let outcome = conduct_run(pool, worker, &job, chunks, &stop, shutdown).await;
    heartbeat.abort();
    watcher.abort();
    pool.running.lock().unwrap().remove(&id);
    let work = pool.store.work_dir(&id);
    let reason = stop.load(Ordering::SeqCst);
    let ids: Vec<JobId> = (0..job.settings.clip.as_ref().map_or(0, |c| {
        crate::chunks::split(c.frames, c.frames_per_second).len()
    }))
        .map(|i| crate::chunks::chunk_id(&id, i))
        .collect();
    let drop_chunks = || async {
        for chunk in &ids {
            pool.interrupt(chunk, false);
            let _ = pool.store.delete(chunk).await;
            let _ = tokio::fs::remove_dir_all(pool.store.work_dir(chunk)).await;
        }
    };
    match outcome {
        _ if reason == SHUTDOWN => {
            tracing::info!(job = %id, "shutting down: the clip's job back in the queue; its chunks stay");
            let _ = pool.store.requeue(&id, worker).await;
            pool.hub.notify(&id);
            return;
        }
        _ if reason == GONE => {
            drop_chunks().await;
            let _ = pool.store.delete_images(&id).await;
        }
        _ if reason == CANCELLED => {
            drop_chunks().await;
            pool.end(worker, &id, JobState::Cancelled, None, job.step)
                .await;
        }
        Ok(frames) => {
            drop_chunks().await;
            tracing::info!(job = %id, frames, "clip joined from its chunks");
            pool.end(worker, &id, JobState::Done, None, frames as i64)
                .await;
        }
        Err(reason) => {
            drop_chunks().await;
            tracing::warn!(job = %id, %reason, "clip in chunks failed");
            pool.end(worker, &id, JobState::Failed, Some(&reason), job.step)
                .await;
        }
    }
    let _ = tokio::fs::remove_dir_all(&work).await;
}

/// The conductor's work; the frames of the joined clip.
async fn conduct_run(
    pool: &WorkerPool,
    worker: &str,
    job: &JobRecord,
    chunks: Vec<Chunk>,
    stop: &Arc<AtomicU8>,
    shutdown: watch::Receiver<bool>,
) -> Result<u64, String> {
    let clip = job.settings.clip.clone().expect("a clip's job");
    let parent = job.id.clone();
    let mut ids = Vec::new();
    for chunk in chunks.iter() {
        let child = crate::chunks::chunk_id(&parent, chunk.index);
        if pool
            .store
            .get(&child)
            .await
            .map_err(|e| e.to_string())?
            .is_none()
        {
            let settings = JobSettings {
                clip: Some(Clip {
                    frames: chunk.warm_up + chunk.frames,
                    chunk: Some(Chunk {
                        parent: parent.to_string(),
                        ..chunk.clone()
                    }),
                    ..clip.clone()
                }),
                ..job.settings.clone()
            };
            let client = format!("chunk:{parent}");
            let new = NewJob {
                id: &child,
                owner: None,
                client: &client,
                settings: &settings,
                total_steps: (chunk.warm_up + chunk.frames) as usize,
                width: job.width.max(0) as usize,
                height: job.height.max(0) as usize,
            };
            // Part of a job already accepted: not refused for a full queue.
            pool.store
                .insert(new, u64::MAX)
                .await
                .map_err(|e| e.to_string())?;
        }
        ids.push(child);
    }
    // Other slots take the chunks now.
    for _ in &ids {
        pool.wake();
    }
    tracing::info!(job = %parent, chunks = ids.len(), "clip painted in chunks");
    // The clip's progress is its chunks' frames, reported while this worker paints one too.
    let reporter = {
        let (store, hub, ids, parent, worker, stop) = (
            pool.store.clone(),
            pool.hub.clone(),
            ids.clone(),
            parent.clone(),
            worker.to_owned(),
            stop.clone(),
        );
        let total = clip.frames;
        tokio::spawn(async move {
            loop {
                let mut frames = 0;
                for child in &ids {
                    if let Ok(Some(record)) = store.get(child).await {
                        frames += record.step.max(0) as u64;
                    }
                }
                let update = ProgressUpdate {
                    step: frames.min(total) as i64,
                    total_steps: total as i64,
                    eta_ms: None,
                    elapsed_ms: 0,
                    loss: None,
                    checkpoint: None,
                };
                match store.progress(&parent, &worker, &update).await {
                    Ok(Some(true)) => set_once(&stop, CANCELLED),
                    Ok(None) => set_once(&stop, GONE),
                    _ => {}
                }
                hub.notify(&parent);
                tokio::time::sleep(PROGRESS_EVERY).await;
            }
        })
    };
    let painted = paint_chunks(pool, worker, &ids, stop, shutdown).await;
    reporter.abort();
    painted?;
    join_chunks(pool, job, &ids, chunks).await
}

/// Waits for every chunk to be painted, painting those still queued here.
async fn paint_chunks(
    pool: &WorkerPool,
    worker: &str,
    ids: &[JobId],
    stop: &Arc<AtomicU8>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    loop {
        if stop.load(Ordering::SeqCst) != RUN {
            return Err("stopped".into());
        }
        let mut done = 0;
        let mut waiting = false;
        for child in ids {
            let Some(record) = pool.store.get(child).await.map_err(|e| e.to_string())? else {
                return Err("a chunk of the clip was deleted".into());
            };
            match record.state {
                JobState::Done => done += 1,
                JobState::Failed | JobState::Cancelled => {
                    return Err(format!(
                        "a chunk of the clip {}: {}",
                        record.state.as_str(),
                        record.error.unwrap_or_default()
                    ))
                }
                JobState::Running => waiting = true,
                JobState::Queued => {
                    // Painted here: a slot that waits would be a slot lost (or, alone, a
                    // deadlock).
                    if let Ok(Some(taken)) = pool.store.claim_queued(child, worker).await {
                        Box::pin(run_job(pool, worker, taken, shutdown.clone())).await;
                    }
                    waiting = true;
                }
            }
        }
        if done == ids.len() {
            return Ok(());
        }
        if waiting {
            tokio::time::sleep(PROGRESS_EVERY).await;
        }
    }
}

/// Joins the painted chunks, with the clip's sound, into the job's result; the frames.
async fn join_chunks(
    pool: &WorkerPool,
    job: &JobRecord,
    ids: &[JobId],
    chunks: Vec<Chunk>,
) -> Result<u64, String> {
    let parent = &job.id;
    let work = pool.store.work_dir(parent);
    tokio::fs::create_dir_all(&work)
        .await
        .map_err(|e| e.to_string())?;
    let content = pool
        .store
        .get_image(parent, ImageKind::Content)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the clip is missing")?;
    let clip_file = clip_path(&work, &content);
    tokio::fs::write(&clip_file, &content)
        .await
        .map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    for (i, child) in ids.iter().enumerate() {
        let bytes = pool
            .store
            .get_image(child, ImageKind::Result)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("a chunk's painting is missing")?;
        let path = work.join(format!("chunk-{i}.mp4"));
        tokio::fs::write(&path, bytes)
            .await
            .map_err(|e| e.to_string())?;
        files.push(path);
    }
    let (width, height) = (job.width.max(0) as usize, job.height.max(0) as usize);
    let output = work.join(PAINTED);
    let joined = {
        let work = work.clone();
        let output = output.clone();
        tokio::task::spawn_blocking(move || {
            let joined = || {
                let ffmpeg = restyle_video::Ffmpeg::find(None)?;
                let info = ffmpeg.probe(&clip_file)?;
                let parts: Vec<(&Path, &Chunk)> = files
                    .iter()
                    .map(|f| f.as_path())
                    .zip(chunks.iter())
                    .collect();
                crate::chunks::join(
                    &ffmpeg,
                    &parts,
                    (width, height, info.fps),
                    (&clip_file, info.audio.as_deref()),
                    &work,
                    &output,
                )
            };
            joined().map_err(|e| told(&e, &work))
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let bytes = tokio::fs::read(&output).await.map_err(|e| e.to_string())?;
    pool.store
        .put_image(parent, ImageKind::Result, bytes)
        .await
        .map_err(|e| format!("cannot store the result: {e}"))?;
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_told_by_their_bytes() {
        let mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00";
        let mov = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00";
        let webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm";
        let mkv = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x88matroska";
        for (bytes, kind) in [
            (&mp4[..], Some("video/mp4")),
            (&mov[..], Some("video/quicktime")),
            (&webm[..], Some("video/webm")),
            (&mkv[..], Some("video/x-matroska")),
            (&b"GIF89a\x01\x00"[..], Some("image/gif")),
            (&b"\x89PNG\r\n\x1a\n"[..], None),
            (&b"\xff\xd8\xff\xe0"[..], None),
            (&b"ftyp"[..], None),
            (&b""[..], None),
        ] {
            assert_eq!(sniff(bytes), kind, "{bytes:?}");
        }
        let work = Path::new("/w");
        assert_eq!(clip_path(work, &mov[..]), Path::new("/w/clip.mov"));
        assert_eq!(clip_path(work, b"GIF87a"), Path::new("/w/clip.gif"));
    }

    #[test]
    fn a_player_gets_the_range_it_asks_for() {
        let bytes: Vec<u8> = (0..100).collect();
        let ask = |range: Option<&str>| {
            let mut request = HeaderMap::new();
            if let Some(r) = range {
                request.insert(header::RANGE, HeaderValue::from_str(r).unwrap());
            }
            let response = ranged(bytes.clone(), &request, HeaderMap::new());
            let range = response
                .headers()
                .get(header::CONTENT_RANGE)
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), range)
        };
        assert_eq!(ask(None), (200, None));
        assert_eq!(ask(Some("bytes=0-9")), (206, Some("bytes 0-9/100".into())));
        assert_eq!(
            ask(Some("bytes=90-")),
            (206, Some("bytes 90-99/100".into()))
        );
        assert_eq!(
            ask(Some("bytes=-10")),
            (206, Some("bytes 90-99/100".into()))
        );
        assert_eq!(
            ask(Some("bytes=50-500")),
            (206, Some("bytes 50-99/100".into()))
        );
        assert_eq!(ask(Some("bytes=100-")), (416, Some("bytes */100".into())));
        assert_eq!(ask(Some("bytes=9-2")), (416, Some("bytes */100".into())));
        assert_eq!(ask(Some("bytes=x-y")), (416, Some("bytes */100".into())));
        // Several ranges at once: the whole clip, as a server may answer.
        assert_eq!(ask(Some("bytes=0-1,5-6")), (200, None));
    }

    #[test]
    fn a_server_without_ffmpeg_says_so_and_no_folder_is_told() {
        let work = Path::new("/srv/restyle/images/ab/video");
        let missing = restyle_video::Error::FfmpegMissing(format!(
            "ffmpeg is not on PATH: {}",
            restyle_video::ffmpeg::INSTALL_HINT
        ));
        let e = refusal(&missing, work);
        assert_eq!(e.status().as_u16(), 415);
        assert!(
            e.to_string()
                .starts_with("this server cannot paint clips: ffmpeg is not on PATH"),
            "{e}"
        );
        let broken = restyle_video::Error::NotAVideo {
            path: work.join("clip.mp4"),
            detail: format!("{}: Invalid data", work.join("clip.mp4").display()),
        };
        let e = refusal(&broken, work);
        assert_eq!(e.status().as_u16(), 422);
        assert_eq!(
            e.to_string(),
            "the content clip: clip.mp4 is not a video restyle can read: clip.mp4: Invalid data"
        );
    }
}
