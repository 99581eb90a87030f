//! A clip painted frame by frame: decode, carry the previous painted frame along the flow,
//! paint, encode; checkpoints that make a stopped run resumable.
//!
//! Frames are streamed: what is held at any time is a few frames and the method's working
//! memory, whatever the clip's length. Video outputs (mp4, mov, mkv, webm) are written in
//! segments of a couple of seconds into a work folder beside the output (`.NAME.restyle/`),
//! then joined without re-encoding, with the input's sound, into the output. A stopped run
//! (Ctrl-C) joins the segments done, so the output plays; `resume` continues from the last
//! segment with the same request. A PNG sequence is resumed from its last frame. GIF and WebP
//! outputs are written in one go.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use restyle::{
    ColorMode, Flow, Image, Init, Mask, Settings, StyleImage, StyleTargetCache, TemporalTarget,
    Vgg19,
};
use restyle_fast::{FastStyle, SteadyStatistics, StyleVector, MIN_CONTENT_SIZE};
use restyle_flow::Gray;
use restyle_request::{
    BudgetSource, Method as StillMethod, Pictures, Plan as StillPlan, RequestError,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ffmpeg::{Container, EncodeSetup, Ffmpeg, Span};
use crate::frames::{
    open_source, probe_source, FrameSink, FrameSource, OutputKind, RgbFrame, SourceInfo,
};
use crate::temporal::{gray_of, keep_strokes, Carry, Steadiness};

/// How each frame is painted.
#[derive(Clone, Debug)]
pub enum Method {
    /// The fast network (`restyle-fast`), `strength` of the way from the frame's own style.
    Fast { strength: f32 },
    /// Gatys et al.'s optimisation with `settings` (their size is the request's); frames after
    /// the first take at most `later_iterations` steps, starting from the previous painted
    /// frame carried along the flow.
    Gatys {
        settings: Box<Settings>,
        later_iterations: usize,
    },
}

/// The long edge a clip is painted at when no size is asked for: the clip's own, at most this.
pub const DEFAULT_FAST_SIZE: usize = 1280;
pub const DEFAULT_GATYS_SIZE: usize = 384;
/// Steps of the optimisation after the first frame (which takes the settings' iterations).
/// Measured on the shared clip at 384 px (6 frames): 10 steps flicker and keep the style as 15
/// do (warping error 0.15 of frame by frame, style loss 0.85 against 0.83).
pub const DEFAULT_LATER_ITERATIONS: usize = 10;
/// Frames a second of a PNG sequence when none is given.
pub const DEFAULT_SEQUENCE_FPS: (u32, u32) = (25, 1);

/// Everything a video run is told.
#[derive(Clone, Debug)]
pub struct VideoRequest {
    pub input: PathBuf,
    pub output: PathBuf,
    /// The paintings, their shares, and optionally their regions (masks) in the frame.
    pub styles: Vec<StyleImage>,
    pub method: Method,
    /// Long edge of the painted frames; `None`: the clip's own, up to the method's default.
    pub size: Option<usize>,
    pub span: Span,
    pub color: ColorMode,
    /// A part of every frame left as it is (white: kept).
    pub keep: Option<Mask>,
    pub steadiness: Steadiness,
    /// A PNG sequence's frame rate.
    pub sequence_fps: (u32, u32),
    /// The `ffmpeg` program; `None`: from PATH.
    pub ffmpeg: Option<PathBuf>,
    /// Continue a stopped run of the same request.
    pub resume: bool,
    /// Replace an existing output.
    pub overwrite: bool,
    /// Memory the run may use; `None`: what the system has available.
    pub max_memory: Option<u64>,
}

/// What [`plan`] found, checked before any frame is painted.
pub struct Plan {
    pub width: usize,
    pub height: usize,
    pub fps: (u32, u32),
    /// Frames to paint, when known.
    pub frames: Option<u64>,
    /// The input's sound codec, if it has sound.
    pub audio: Option<String>,
    pub output: OutputKind,
    pub memory_bytes: u64,
    ffmpeg: Option<Ffmpeg>,
    source: SourceInfo,
}

/// One frame done.
pub struct FrameProgress<'a> {
    /// Frames done, this one included (counting those a resumed run found done).
    pub done: usize,
    pub total: Option<usize>,
    /// This run's painting speed so far.
    pub frames_per_second: f64,
    pub eta: Option<Duration>,
    pub picture: &'a Image,
}

/// Told after every frame; [`Flow::Stop`] ends the run after it (the output then holds the
/// frames done and plays).
pub trait VideoObserver {
    fn on_frame(&mut self, progress: &FrameProgress<'_>) -> Flow;
    /// Asked during a frame's optimisation steps, so that a long frame can be stopped too (the
    /// frame then ends with its picture so far).
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct VideoOutcome {
    pub frames: usize,
    pub width: usize,
    pub height: usize,
    pub stopped: bool,
    /// Frames a resumed run found done.
    pub resumed_from: usize,
    pub seconds: f64,
}

/// Checks `request` before any work: the files, ffmpeg, the sizes and the memory.
pub fn plan(request: &VideoRequest) -> Result<Plan> {
    if request.styles.is_empty() {
        return Err(Error::Request("at least one style image is needed".into()));
    }
    let output = OutputKind::from_path(&request.output)?;
    if same_file(&request.input, &request.output) {
        return Err(Error::Request(format!(
            "the output {} is the input: restyle never overwrites its input",
            request.output.display()
        )));
    }
    for s in [request.span.start, request.span.duration]
        .into_iter()
        .flatten()
    {
        if !(s.is_finite() && s >= 0.0) {
            return Err(Error::Request(format!(
                "start and duration are seconds >= 0, not {s}"
            )));
        }
    }
    if request.span.duration == Some(0.0) {
        return Err(Error::Request(
            "duration must be more than 0 seconds".into(),
        ));
    }
    if let Method::Fast { strength } = request.method {
        if !(0.0..=1.0).contains(&strength) {
            return Err(Error::Request(format!(
                "strength must be between 0 and 1, not {strength}"
            )));
        }
    }
    let ffmpeg = match Ffmpeg::find(request.ffmpeg.as_deref()) {
        Ok(f) => Some(f),
        Err(e) if request.ffmpeg.is_some() || output.needs_ffmpeg() => {
            return Err(match e {
                // A path given is named by its own error.
                Error::FfmpegMissing(_) if request.ffmpeg.is_none() => {
                    Error::FfmpegMissing(format!(
                        "writing {} needs ffmpeg, which is not on PATH: {}",
                        request.output.display(),
                        crate::ffmpeg::INSTALL_HINT
                    ))
                }
                e => e,
            });
        }
        Err(_) => None,
    };
    if let OutputKind::Video(Container::WebP) = output {
        if request.resume {
            return Err(Error::Request(
                "resume continues .mp4, .mov, .mkv, .webm and PNG-sequence outputs; a .webp is written in one go".into(),
            ));
        }
    }
    if output == OutputKind::Gif && request.resume {
        return Err(Error::Request(
            "resume continues .mp4, .mov, .mkv, .webm and PNG-sequence outputs; a .gif is written in one go".into(),
        ));
    }
    check_output_free(request, &output)?;
    let source = probe_source(&request.input, ffmpeg.as_ref(), request.sequence_fps)?;
    let info = &source.info;
    let default_size = match request.method {
        Method::Fast { .. } => DEFAULT_FAST_SIZE,
        Method::Gatys { .. } => DEFAULT_GATYS_SIZE,
    };
    let long_edge = request
        .size
        .unwrap_or_else(|| info.width.max(info.height).min(default_size));
    let (mut width, mut height) = restyle::fit_long_edge(info.width, info.height, long_edge);
    if let OutputKind::Video(c) = &output {
        if c.needs_even_size() {
            width -= width % 2;
            height -= height % 2;
        }
    }
    if width.min(height) < MIN_CONTENT_SIZE.max(16) {
        return Err(Error::Request(format!(
            "the frames at size {long_edge} would be {width}x{height}: at least 16 pixels a side are needed"
        )));
    }
    let fps = info.fps;
    let frames = match (request.span.duration, info.frames) {
        (Some(d), Some(n)) => Some(n.min((d * info.fps_f64()).round() as u64)),
        (Some(d), None) => Some((d * info.fps_f64()).round() as u64),
        (None, n) => n.map(|n| {
            let skipped = (request.span.start.unwrap_or(0.0) * info.fps_f64()).round() as u64;
            n.saturating_sub(skipped)
        }),
    };
    if frames == Some(0) {
        return Err(Error::Request(format!(
            "{} has no frames after start {}",
            request.input.display(),
            request.span.start.unwrap_or(0.0)
        )));
    }
    let memory_bytes = frame_memory_bytes(request, width, height);
    let budget = match request.max_memory {
        Some(b) => Some(b),
        None => restyle::memory::available_bytes().map(|b| b as u64),
    };
    if let Some(budget) = budget {
        if memory_bytes > budget {
            let mut fits = long_edge;
            while fits > 16 && {
                let (w, h) = restyle::fit_long_edge(info.width, info.height, fits);
                frame_memory_bytes(request, w, h) > budget
            } {
                fits = fits * 9 / 10;
            }
            return Err(Error::Request(format!(
                "a {width}x{height} frame needs about {} and {} {} available: at most size {fits} fits",
                restyle::memory::format_bytes(memory_bytes as usize),
                if request.max_memory.is_some() { "max_memory allows" } else { "this machine has" },
                restyle::memory::format_bytes(budget as usize)
            )));
        }
    }
    Ok(Plan {
        width,
        height,
        fps,
        frames,
        audio: info.audio.clone(),
        output,
        memory_bytes,
        ffmpeg,
        source,
    })
}

/// What painting one frame holds at most: the method's working memory, a few frames in and
/// out, the flow's pyramids and fields, and the painted frame's carried copy.
pub fn frame_memory_bytes(request: &VideoRequest, width: usize, height: usize) -> u64 {
    let pixels = (width * height) as u64;
    let threads = rayon::current_num_threads();
    let method = match &request.method {
        Method::Fast { .. } => {
            restyle_fast::memory_bytes(width, height, threads) as u64
                // The style images as decoded, and the networks' weights.
                + request
                    .styles
                    .iter()
                    .map(|s| restyle::memory::decoded_image_bytes(s.image.width(), s.image.height()) as u64)
                    .sum::<u64>()
                + (8 << 20)
        }
        Method::Gatys { settings, .. } => {
            let mut s = (**settings).clone();
            s.size = width.max(height);
            let styles: Vec<(usize, usize)> = request
                .styles
                .iter()
                .map(|s| (s.image.width(), s.image.height()))
                .collect();
            restyle::memory::estimate(&s, (width, height), &styles).total() as u64
        }
    };
    // Frames: the input (8-bit and float) and the one read ahead (float), their greys, the
    // painted picture, the previous one (also 8-bit while it is written beside the next
    // painting) and its carried copy (float RGB, 12 bytes a pixel);
    // the flow: the carry in use (a field of 8 bytes and the reliability) and the next one
    // being worked out (two fields, the reliability, and the pyramids of two grey frames,
    // about 4 bytes a pixel each, all levels).
    let frames = pixels * (2 * 3 + 5 * 12 + 2 * 4);
    let flow = pixels * ((8 + 4) + (2 * 8 + 4 + 2 * 6 * 4));
    method + frames + flow
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Refuses to replace an existing output unless asked (`overwrite`, or `resume` of ours).
fn check_output_free(request: &VideoRequest, output: &OutputKind) -> Result<()> {
    let exists = match output {
        OutputKind::PngSequence(pattern) => crate::frames::numbered(pattern, 1).exists(),
        _ => request.output.exists(),
    };
    if exists && !request.overwrite && !request.resume {
        return Err(Error::Request(format!(
            "{} already exists: overwrite (-y) replaces it, resume continues a stopped run",
            request.output.display()
        )));
    }
    let dir = parent_of(&request.output);
    if !dir.is_dir() {
        return Err(Error::Request(format!(
            "cannot write {}: the folder {} does not exist",
            request.output.display(),
            dir.display()
        )));
    }
    Ok(())
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The work folder of an output: segments, the last painted frame and the run's state.
pub fn work_dir(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().replace('%', "_"))
        .unwrap_or_default();
    parent_of(output).join(format!(".{name}.restyle"))
}

/// A segment of the work folder (what a run killed outright loses at most, and what a
/// resumed one starts after) closes once it holds this many frames and took this long to
/// paint: each costs an encoder started and flushed and a checkpoint saved (with 50-frame
/// segments, 1.5% of a 5 s clip's time at 640 px). Ctrl-C closes one at once.
const SEGMENT_FRAMES: usize = 50;
const SEGMENT_SECONDS: f64 = 20.0;

/// What a work folder remembers of a run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct State {
    /// The request that made it, in words: a resumed run must be the same.
    request: String,
    frames_done: usize,
    segments: Vec<String>,
}

/// The request in words, for comparing a resumed run with the one that made the work folder.
fn fingerprint(request: &VideoRequest, plan: &Plan) -> String {
    let styles: Vec<String> = request
        .styles
        .iter()
        .map(|s| {
            format!(
                "{}x{}:{:016x}:{}:{}",
                s.image.width(),
                s.image.height(),
                fnv(s.image.tensor().as_slice()),
                s.weight,
                s.mask.as_ref().map_or(0, |m| fnv(m.as_slice()))
            )
        })
        .collect();
    let input = std::fs::metadata(&request.input)
        .map(|m| (m.len(), m.modified().ok()))
        .ok();
    format!(
        "input {} {:?}; {}x{} at {:?}; span {:?}; method {:?}; colour {:?}; keep {}; steady {:?}; styles {}",
        request.input.display(),
        input,
        plan.width,
        plan.height,
        plan.fps,
        request.span,
        request.method_summary(),
        request.color,
        request.keep.as_ref().map_or(0, |m| fnv(m.as_slice())),
        request.steadiness,
        styles.join(",")
    )
}

impl VideoRequest {
    fn method_summary(&self) -> String {
        match &self.method {
            Method::Fast { strength } => format!("fast {strength}"),
            Method::Gatys {
                settings,
                later_iterations,
            } => format!(
                "gatys {} {} {} {} {} {:?} {:?} {later_iterations}",
                settings.iterations,
                settings.content_weight,
                settings.style_weight,
                settings.tv_weight,
                settings.style_scale,
                settings.content_layers,
                settings.style_layers
            ),
        }
    }
}

/// FNV-1a over the values' bits: a fingerprint of a picture (no cryptography needed, and no
/// crate does this smaller).
fn fnv(values: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for v in values {
        for b in v.to_bits().to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Paints the clip `request` asks for; `plan` is [`plan`]'s for it.
pub fn stylize_video(
    request: &VideoRequest,
    plan: Plan,
    observer: &mut dyn VideoObserver,
) -> Result<VideoOutcome> {
    let started = Instant::now();
    // Every frame frees and allocates the same buffers (a frame, its flows, the network's
    // layers): kept in the process rather than mapped afresh, their pages are not faulted and
    // zeroed again every frame (measured: that halved the time of the steady blend's work).
    let _kept = restyle_engine::allocator::keep_freed_memory_during_run();
    let (width, height) = (plan.width, plan.height);
    let work = work_dir(&request.output);
    let fingerprint = fingerprint(request, &plan);
    let resumable = matches!(
        plan.output,
        OutputKind::Video(Container::H264 | Container::WebM) | OutputKind::PngSequence(_)
    );
    // A run starts from what a stopped one left, or afresh.
    let mut state = State {
        request: fingerprint.clone(),
        frames_done: 0,
        segments: Vec::new(),
    };
    let mut previous_painted: Option<Image> = None;
    if request.resume {
        let text = std::fs::read_to_string(work.join("state.json")).map_err(|e| Error::Resume {
            path: work.clone(),
            detail: format!("{e} (was the run started with this output?)"),
        })?;
        let found: State = serde_json::from_str(&text).map_err(|e| Error::Resume {
            path: work.clone(),
            detail: e.to_string(),
        })?;
        if found.request != fingerprint {
            return Err(Error::Resume {
                path: work.clone(),
                detail: "it was made by another request (input, styles, size or settings differ): run without resume and with overwrite to start afresh".into(),
            });
        }
        state = found;
        if state.frames_done > 0 {
            let last = restyle::io::load_image(
                &work.join("last.png"),
                restyle::io::ImageLimits::default(),
            )?;
            previous_painted = Some(last);
        }
    } else if resumable {
        // A fresh run: a stale work folder of this output goes.
        let _ = std::fs::remove_dir_all(&work);
    }
    if resumable {
        std::fs::create_dir_all(&work).map_err(|e| Error::Output {
            path: work.clone(),
            detail: e.to_string(),
        })?;
    }
    let ffmpeg = plan.ffmpeg.clone();
    let resumed_from = state.frames_done;
    // A resumed run decodes from the frame before the first it paints: the flow needs it.
    let skip = resumed_from.saturating_sub(1);
    let mut source = open_source(
        &request.input,
        plan.source,
        ffmpeg.as_ref(),
        request.span,
        skip,
        (width, height),
    )?;

    let mut painter = Painter::new(request)?;
    let mut frame = RgbFrame::new(width, height);
    let mut previous_gray = None;
    if resumed_from > 0 {
        if !source.next_into(&mut frame)? {
            return Err(Error::Resume {
                path: work.clone(),
                detail: "the clip has no frames after those already painted".into(),
            });
        }
        previous_gray = Some(gray_of(&frame.to_image()));
    }
    let steady = request.steadiness;
    // One frame is read ahead: the flow from the frame being painted to the next one needs
    // only input frames, so it is worked out on a thread of its own while the frame is
    // painted, in the gaps the network leaves in the two cores.
    let mut upcoming = read_frame(&mut source, &mut frame)?;
    let mut carry = match (&previous_gray, &upcoming, &previous_painted) {
        (Some(previous), Some((_, gray)), Some(_)) if steady.enabled => {
            Some(Carry::between(previous, gray, steady.flow))
        }
        _ => None,
    };
    drop(previous_gray);

    let temp_output = parent_of(&request.output).join(format!(
        ".{}.partial",
        request
            .output
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut sink: Option<FrameSink> = None;
    // Whether the last painted frame is still to be written: it is converted and written
    // beside the next frame's painting.
    let mut unwritten = false;
    let mut segment_frames = 0;
    let mut segment_started = Instant::now();
    let total = plan.frames.map(|n| n as usize);
    let mut done = resumed_from;
    let mut stopped = false;
    let painting_started = Instant::now();
    let sinks = SinkMaker {
        output: &plan.output,
        ffmpeg: ffmpeg.as_ref(),
        work: &work,
        temp_output: &temp_output,
        setup: EncodeSetup {
            container: Container::H264,
            width,
            height,
            fps: plan.fps,
        },
    };
    while let Some((photo, gray)) = upcoming.take() {
        if unwritten && sink.is_none() {
            sink = Some(sinks.open(&mut state, done - 1)?);
        }
        // While the network paints this frame, a thread of its own does what needs only the
        // frames around it, in the gaps the network leaves in the cores: the previous painted
        // frame carried onto this one (first: the painting waits for it), the previous frame
        // written, the next frame read, and the flow from this frame to the next.
        let (carried_tx, carried_rx) = std::sync::mpsc::sync_channel(1);
        let (picture, beside) = std::thread::scope(|scope| {
            let beside = scope.spawn(|| -> Result<_> {
                let carried = match (&carry, &previous_painted) {
                    (Some(c), Some(p)) => Some(c.carried(p, &photo)),
                    _ => None,
                };
                let _ = carried_tx.send(carried);
                if std::mem::take(&mut unwritten) {
                    let last = previous_painted.as_ref().expect("painted");
                    sink.as_mut()
                        .expect("opened")
                        .write(&RgbFrame::from_image(last))?;
                }
                let next = read_frame(&mut source, &mut frame)?;
                let next_carry = next
                    .as_ref()
                    .filter(|_| steady.enabled)
                    .map(|(_, following)| Carry::between(&gray, following, steady.flow));
                Ok((next, next_carry))
            });
            let carried = || carried_rx.recv().ok().flatten();
            let picture = painter.paint(&photo, carry.as_ref(), carried, observer);
            let beside = beside
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (picture, beside)
        });
        let picture = picture?;
        (upcoming, carry) = beside?;
        done += 1;
        segment_frames += 1;
        let checkpoint = match &plan.output {
            OutputKind::PngSequence(_) => true,
            OutputKind::Video(Container::H264 | Container::WebM) => {
                segment_frames >= SEGMENT_FRAMES
                    && segment_started.elapsed().as_secs_f64() >= SEGMENT_SECONDS
            }
            _ => false,
        };
        previous_painted = Some(picture);
        let elapsed = painting_started.elapsed().as_secs_f64();
        let painted_here = done - resumed_from;
        let fps = painted_here as f64 / elapsed.max(1e-9);
        let progress = FrameProgress {
            done,
            total,
            frames_per_second: fps,
            eta: total
                .map(|t| Duration::from_secs_f64(t.saturating_sub(done) as f64 / fps.max(1e-9))),
            picture: previous_painted.as_ref().expect("just painted"),
        };
        let flow = observer.on_frame(&progress);
        let saving = (checkpoint || flow == Flow::Stop) && resumable;
        if saving || flow == Flow::Stop || upcoming.is_none() {
            // Written now: what is saved, or left, holds every frame painted.
            if sink.is_none() {
                sink = Some(sinks.open(&mut state, done - 1)?);
            }
            let out = RgbFrame::from_image(previous_painted.as_ref().expect("painted"));
            sink.as_mut().expect("opened").write(&out)?;
        } else {
            unwritten = true;
        }
        if saving {
            if let Some(sink) = sink.take() {
                sink.finish()?;
            }
            segment_frames = 0;
            segment_started = Instant::now();
            state.frames_done = done;
            save_checkpoint(&work, &state, previous_painted.as_ref().expect("painted"))?;
        }
        if flow == Flow::Stop {
            stopped = true;
            break;
        }
    }
    if done == resumed_from && done == 0 {
        return Err(Error::Decode {
            path: request.input.clone(),
            detail: "no frames could be read".into(),
        });
    }
    if let Some(sink) = sink.take() {
        sink.finish()?;
        if resumable {
            state.frames_done = done;
            save_checkpoint(&work, &state, previous_painted.as_ref().expect("painted"))?;
        }
    }
    // The output appears whole or not at all.
    match &plan.output {
        OutputKind::Video(Container::H264 | Container::WebM) => {
            let container = match plan.output {
                OutputKind::Video(c) => c,
                _ => unreachable!(),
            };
            join_segments(
                ffmpeg.as_ref().expect("planned"),
                &work,
                &state.segments,
                &temp_output,
                container,
                plan.audio
                    .as_deref()
                    .map(|codec| (request.input.as_path(), request.span, codec)),
                &request.output,
            )?;
            rename(&temp_output, &request.output)?;
        }
        OutputKind::Video(_) | OutputKind::Gif => rename(&temp_output, &request.output)?,
        OutputKind::PngSequence(_) => {}
    }
    if !stopped && resumable {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(VideoOutcome {
        frames: done,
        width,
        height,
        stopped,
        resumed_from,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The next frame of `source` and its grey, or `None` at the end.
fn read_frame(source: &mut FrameSource, frame: &mut RgbFrame) -> Result<Option<(Image, Gray)>> {
    if !source.next_into(frame)? {
        return Ok(None);
    }
    let photo = frame.to_image();
    let gray = gray_of(&photo);
    Ok(Some((photo, gray)))
}

/// Opens where painted frames go: a new segment of the work folder (H.264 and WebM, which a
/// stopped run can resume), the partial output (other formats), or the PNG sequence.
struct SinkMaker<'a> {
    output: &'a OutputKind,
    ffmpeg: Option<&'a Ffmpeg>,
    work: &'a Path,
    temp_output: &'a Path,
    /// The encoder's frame size and rate (the container is the output's).
    setup: EncodeSetup,
}

impl SinkMaker<'_> {
    /// A sink whose first frame is the clip's frame `written + 1` (counted from 1).
    fn open(&self, state: &mut State, written: usize) -> Result<FrameSink> {
        let encode = |path: &Path, container: Container| -> Result<FrameSink> {
            let setup = EncodeSetup {
                container,
                ..self.setup
            };
            Ok(FrameSink::Ffmpeg(
                self.ffmpeg.expect("planned").encode(path, &setup)?,
            ))
        };
        match self.output {
            OutputKind::Video(container @ (Container::H264 | Container::WebM)) => {
                let extension = if *container == Container::WebM {
                    "webm"
                } else {
                    "mkv"
                };
                let name = format!("segment-{:05}.{extension}", state.segments.len());
                state.segments.push(name.clone());
                encode(&self.work.join(&name), *container)
            }
            OutputKind::Video(container) => encode(self.temp_output, *container),
            OutputKind::Gif => FrameSink::gif(self.temp_output, self.setup.fps),
            OutputKind::PngSequence(pattern) => Ok(FrameSink::pngs(pattern, written + 1)),
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| {
        let _ = std::fs::remove_file(from);
        Error::Output {
            path: to.to_path_buf(),
            detail: e.to_string(),
        }
    })
}

fn save_checkpoint(work: &Path, state: &State, last: &Image) -> Result<()> {
    let failed = |e: String| Error::Output {
        path: work.to_path_buf(),
        detail: e,
    };
    restyle::io::save_image(last, &work.join("last.png"))?;
    let text = serde_json::to_string_pretty(state).map_err(|e| failed(e.to_string()))?;
    restyle::io::write_atomically(&work.join("state.json"), text.as_bytes())
        .map_err(|e| failed(e.to_string()))
}

/// The segments joined without re-encoding, with the sound of `sound` (copied; re-encoded to
/// Opus for WebM when it is not Opus or Vorbis already).
fn join_segments(
    ffmpeg: &Ffmpeg,
    work: &Path,
    segments: &[String],
    temp_output: &Path,
    container: Container,
    sound: Option<(&Path, Span, &str)>,
    output: &Path,
) -> Result<()> {
    let list: String = segments.iter().map(|s| format!("file '{s}'\n")).collect();
    let list_path = work.join("segments.txt");
    std::fs::write(&list_path, list).map_err(|e| Error::Output {
        path: list_path.clone(),
        detail: e.to_string(),
    })?;
    ffmpeg.join(&list_path, temp_output, container, sound, output)
}

/// Paints frames with the request's method, holding on to the frames before.
struct Painter<'r> {
    request: &'r VideoRequest,
    kind: PainterKind,
}

enum PainterKind {
    Fast {
        model: Box<FastStyle>,
        /// Per region (or one for all styles): its style vector, and the statistics carried
        /// from frame to frame.
        styles: Vec<(StyleVector, SteadyStatistics)>,
    },
    Gatys {
        net: Vgg19,
        first_frame: bool,
        /// The paintings' Gram matrices, measured at the first frame: the same for every frame.
        style_targets: StyleTargetCache,
    },
}

impl<'r> Painter<'r> {
    fn new(request: &'r VideoRequest) -> Result<Painter<'r>> {
        let kind = match &request.method {
            Method::Fast { .. } => PainterKind::Fast {
                model: Box::new(FastStyle::embedded()?),
                styles: Vec::new(),
            },
            Method::Gatys { settings, .. } => {
                let deepest = settings
                    .deepest_layer()
                    .ok_or_else(|| Error::Request("no content or style layer".into()))?;
                PainterKind::Gatys {
                    net: Vgg19::embedded_up_to(deepest),
                    first_frame: true,
                    style_targets: StyleTargetCache::default(),
                }
            }
        };
        Ok(Painter { request, kind })
    }

    fn paint(
        &mut self,
        photo: &Image,
        carry: Option<&Carry>,
        carried: impl FnOnce() -> Option<Image>,
        observer: &mut dyn VideoObserver,
    ) -> Result<Image> {
        let request = self.request;
        let steady = request.steadiness;
        let picture = match &mut self.kind {
            PainterKind::Fast { model, styles } => {
                let Method::Fast { strength } = request.method else {
                    unreachable!("a fast painter")
                };
                if styles.is_empty() {
                    // The style vectors from the first frame painted, then fixed: a style that
                    // followed each frame's own would flicker.
                    let groups: Vec<Vec<StyleImage>> =
                        if request.styles.iter().all(|s| s.mask.is_none()) {
                            vec![request.styles.clone()]
                        } else {
                            request.styles.iter().map(|s| vec![s.clone()]).collect()
                        };
                    for group in groups {
                        let v = restyle_fast::style_of(
                            model,
                            photo,
                            photo,
                            &group,
                            strength,
                            request.color,
                        )?;
                        styles.push((v, SteadyStatistics::default()));
                    }
                }
                let keep = if steady.enabled {
                    steady.statistics
                } else {
                    0.0
                };
                let regions = request.styles.iter().any(|s| s.mask.is_some());
                let mut fresh = Vec::new();
                for (vector, statistics) in styles.iter_mut() {
                    let t = model.stylize_steady(photo.tensor(), vector, statistics, keep)?;
                    fresh.push(match request.color {
                        ColorMode::Luminance => restyle::color::recombine(&t, photo),
                        _ => Image::from_tensor(t),
                    });
                }
                let carried = carried();
                let mut layers = Vec::new();
                for (i, mut picture) in fresh.into_iter().enumerate() {
                    if let (Some(c), Some(carried)) = (carry, &carried) {
                        let blended = c.blend(&picture, carried, steady.blend);
                        picture = keep_strokes(&blended, &picture, steady.strokes);
                    }
                    let mask = if regions {
                        request.styles[i].mask.clone()
                    } else {
                        None
                    };
                    layers.push((picture, mask));
                }
                let picture = if regions {
                    restyle_fast::paint::blend(photo, &layers)
                } else {
                    layers.pop().expect("one picture").0
                };
                match &request.keep {
                    Some(keep) => {
                        restyle_fast::paint::blend(&picture, &[(photo.clone(), Some(keep.clone()))])
                    }
                    None => picture,
                }
            }
            PainterKind::Gatys {
                net,
                first_frame,
                style_targets,
            } => {
                let Method::Gatys {
                    settings,
                    later_iterations,
                } = &request.method
                else {
                    unreachable!("a Gatys painter")
                };
                let carried = carried();
                let mut s = (**settings).clone();
                s.size = photo.width().max(photo.height());
                s.color = request.color;
                s.keep = request.keep.clone();
                if let (Some(c), Some(carried)) = (carry, &carried) {
                    s.init = Init::Image(carried.clone());
                    s.iterations = *later_iterations;
                    if steady.enabled {
                        s.temporal = Some(TemporalTarget {
                            carried: carried.clone(),
                            reliability: c.reliability_mask(),
                            weight: steady.temporal_weight,
                        });
                    }
                } else if !*first_frame {
                    // Frame by frame (steadiness off): every frame as the first.
                    s.init = settings.init.clone();
                }
                *first_frame = false;
                let mut stop = |_: &restyle::Progress<'_>| {
                    if observer.should_stop() {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                };
                let outcome = restyle::stylize_cached(
                    net,
                    photo,
                    &request.styles,
                    &s,
                    style_targets,
                    &mut stop,
                )?;
                outcome.image
            }
        };
        Ok(picture)
    }
}

impl VideoRequest {
    /// A request with every option at its default: the clip's own size (up to the method's
    /// default), all of it, steady, no style yet.
    pub fn new(input: PathBuf, output: PathBuf, method: Method) -> VideoRequest {
        VideoRequest {
            input,
            output,
            styles: Vec::new(),
            method,
            size: None,
            span: Span::default(),
            color: ColorMode::None,
            keep: None,
            steadiness: Steadiness::default(),
            sequence_fps: DEFAULT_SEQUENCE_FPS,
            ffmpeg: None,
            resume: false,
            overwrite: false,
            max_memory: None,
        }
    }

    /// A request for `input` to `output` as the one still-picture request `plan` says (the
    /// method and its settings, the paintings with their shares and regions, the colours, the
    /// memory asked for), `pictures` loaded for it (their photo is unused: the frames come
    /// from the clip). `later_iterations`: the steps of each frame after the first (Gatys).
    /// The rest of a clip's options keep their defaults.
    pub fn planned(
        input: PathBuf,
        output: PathBuf,
        plan: &StillPlan,
        pictures: Pictures,
        later_iterations: Option<i64>,
    ) -> std::result::Result<VideoRequest, RequestError> {
        let method = match (plan.method, later_iterations) {
            (StillMethod::Fast, Some(_)) => {
                return Err(RequestError::Invalid(
                    "later_iterations applies to method gatys; method fast paints in one pass"
                        .into(),
                ))
            }
            (StillMethod::Fast, None) => Method::Fast {
                strength: plan.strength,
            },
            (StillMethod::Gatys, Some(n)) if n < 0 => {
                return Err(RequestError::Invalid(format!(
                    "later_iterations must be at least 0, not {n}"
                )))
            }
            (StillMethod::Gatys, later) => Method::Gatys {
                settings: Box::new(plan.settings.clone()),
                later_iterations: later.map_or(DEFAULT_LATER_ITERATIONS, |n| n as usize),
            },
        };
        plan.check_pictures(&pictures)?;
        Ok(VideoRequest {
            styles: pictures.styles,
            color: plan.color,
            keep: pictures.keep,
            max_memory: match &plan.budget {
                Some((bytes, BudgetSource::Asked)) => Some(*bytes as u64),
                _ => None,
            },
            ..VideoRequest::new(input, output, method)
        })
    }
}
