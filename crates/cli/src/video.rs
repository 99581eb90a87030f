//! `restyle video IN STYLE... -o OUT`: a clip painted frame by frame, steady from frame to frame,
//! with its sound (`restyle-video`). This file turns flags into a request, progress into a bar or
//! JSON lines, and Ctrl-C into a clean stop that leaves a playable clip.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::Path;

use restyle::{Flow, Image, Mask};
use restyle_request::{Limits, Pictures, Request as StillRequest};
use restyle_video::{
    plan, stylize_video, FrameProgress, Span, Steadiness, VideoObserver, VideoRequest,
};
use serde_json::json;

use crate::args::VideoArgs;
use crate::common::{configure_threads_count, interrupt_flag, load_image, peak_rss_bytes};
use crate::report::format_duration;

/// The flags a still picture has too, as the one request (checked by the library, in the
/// words every front end uses).
fn still_request(args: &VideoArgs) -> StillRequest {
    StillRequest {
        method: args.method,
        styles: args.styles.len(),
        style_blend_weights: args.style_blend_weights.clone(),
        masks: args.masks.as_ref().map(Vec::len),
        keep: args.keep.is_some(),
        size: args.size,
        strength: args.strength,
        preserve_colors: args.preserve_colors,
        iterations: args.iterations,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        max_memory: args.max_memory.clone(),
        ..StillRequest::default()
    }
}

/// What only a clip has.
fn check_video_flags(args: &VideoArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.temporal_blend) {
        bail!(
            "temporal_blend must be between 0 and 1, not {}",
            args.temporal_blend
        );
    }
    if !(args.temporal_weight.is_finite() && args.temporal_weight >= 0.0) {
        bail!(
            "temporal_weight must be a number >= 0, not {}",
            args.temporal_weight
        );
    }
    if let Some(fps) = args.fps {
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            bail!("fps must be a number between 0 and 1000, not {fps}");
        }
    }
    Ok(())
}

fn request(args: &VideoArgs) -> Result<VideoRequest> {
    let plan = still_request(args).check(&Limits::default())?;
    check_video_flags(args)?;
    let paintings = args
        .styles
        .iter()
        .map(|p| load_image(p, "style"))
        .collect::<Result<_>>()?;
    let content = Image::filled(1, 1, [0.0; 3]); // the frames come from the clip
    let mut pictures = Pictures::new(&plan, content, paintings);
    let mask = |path: &Path| load_image(path, "mask").map(|image| Mask::from_image(&image));
    for (style, path) in pictures.styles.iter_mut().zip(args.masks.iter().flatten()) {
        style.mask = Some(mask(path)?);
    }
    pictures.keep = args.keep.as_deref().map(mask).transpose()?;
    let planned = VideoRequest::planned(
        args.input.clone(),
        args.output.clone(),
        &plan,
        pictures,
        args.later_iterations,
    )?;
    let fps = args.fps.map_or(restyle_video::DEFAULT_SEQUENCE_FPS, |f| {
        ((f * 1000.0).round() as u32, 1000)
    });
    Ok(VideoRequest {
        size: args.size.map(|s| s as usize),
        span: Span {
            start: args.start,
            duration: args.duration,
        },
        steadiness: Steadiness {
            enabled: !args.frame_by_frame,
            blend: args.temporal_blend,
            temporal_weight: args.temporal_weight,
            flow: args.flow,
            ..Steadiness::default()
        },
        sequence_fps: fps,
        ffmpeg: args.ffmpeg.clone(),
        resume: args.resume,
        overwrite: args.overwrite,
        ..planned
    })
}

/// A bar (frames, frames a second, time left) or JSON lines; Ctrl-C asks for a stop.
struct Reporter {
    bar: Option<ProgressBar>,
    json: bool,
    interrupted: Arc<AtomicBool>,
}

impl VideoObserver for Reporter {
    fn on_frame(&mut self, p: &FrameProgress<'_>) -> Flow {
        if let Some(bar) = &self.bar {
            if let Some(total) = p.total {
                bar.set_length(total as u64);
            }
            bar.set_position(p.done as u64);
            bar.set_message(format!(
                "{:.1} frames/s{}",
                p.frames_per_second,
                p.eta
                    .map(|eta| format!(", {} left", format_duration(eta)))
                    .unwrap_or_default()
            ));
        }
        if self.json {
            println!(
                "{}",
                json!({
                    "event": "frame",
                    "frame": p.done,
                    "total": p.total,
                    "frames_per_second": p.frames_per_second,
                    "eta_s": p.eta.map(|d| d.as_secs_f64()),
                })
            );
        }
        if self.should_stop() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn should_stop(&mut self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }
}

pub fn run(args: VideoArgs) -> Result<()> {
    let request = request(&args)?;
    configure_threads_count(args.threads)?;
    let plan = plan(&request)?;
    let (width, height, total) = (plan.width, plan.height, plan.frames);
    let interrupted = interrupt_flag();
    let bar = (!args.quiet && !args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30.cyan/blue}] frame {pos}/{len} {msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    });
    let mut reporter = Reporter {
        bar,
        json: args.json,
        interrupted,
    };
    let outcome = stylize_video(&request, plan, &mut reporter)
        .with_context(|| format!("cannot paint {}", args.input.display()));
    if let Some(bar) = &reporter.bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    let seconds = outcome.seconds;
    if args.json {
        println!(
            "{}",
            json!({
                "event": "done",
                "path": args.output.display().to_string(),
                "frames": outcome.frames,
                "width": width,
                "height": height,
                "stopped": outcome.stopped,
                "resumed_from": outcome.resumed_from,
                "seconds": seconds,
                "peak_rss_bytes": peak_rss_bytes(),
            })
        );
    } else if !args.quiet {
        let painted = outcome.frames - outcome.resumed_from;
        eprintln!(
            "wrote {} ({} frames, {width}x{height}; {painted} painted in {}, {:.2} frames/s)",
            args.output.display(),
            outcome.frames,
            format_duration(Duration::from_secs_f64(seconds)),
            painted as f64 / seconds.max(1e-9)
        );
    }
    if outcome.stopped {
        eprintln!(
            "restyle: stopped after {} frames; {} plays what was painted, and the same command with --resume continues",
            outcome.frames,
            args.output.display()
        );
        // As a stopped picture does: the clip so far is written, and the exit says it was cut.
        std::process::exit(130);
    }
    Ok(())
}
