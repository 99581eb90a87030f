//! `restyle video IN STYLE... -o OUT`: a clip painted frame by frame, steady from frame to frame,
//! with its sound (`restyle-video`). This file turns flags into a request, progress into a bar or
//! JSON lines, and Ctrl-C into a clean stop that leaves a playable clip.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use restyle::{memory, Flow, Mask, Settings, StyleImage};
use restyle_video::{
    plan, stylize_video, FrameProgress, Method, Span, Steadiness, VideoObserver, VideoRequest,
    DEFAULT_LATER_ITERATIONS,
};
use serde_json::json;

use crate::args::{FlowArg, MethodArg, VideoArgs};
use crate::common::{
    blend_weights, configure_threads_count, interrupt_flag, load_image, peak_rss_bytes,
};
use crate::report::format_duration;

/// Flags that belong to one method only are refused with the other, rather than ignored.
fn check_method_flags(args: &VideoArgs) -> Result<()> {
    let gatys_only = [
        ("--iterations", args.iterations.is_some()),
        ("--later-iterations", args.later_iterations.is_some()),
        ("--content-weight", args.content_weight.is_some()),
        ("--style-weight", args.style_weight.is_some()),
        ("--tv-weight", args.tv_weight.is_some()),
    ];
    match args.method {
        MethodArg::Fast => {
            if let Some((flag, _)) = gatys_only.iter().find(|(_, set)| *set) {
                bail!("{flag} applies to --method gatys; --method fast paints in one pass");
            }
        }
        MethodArg::Gatys => {
            if args.strength.is_some() {
                bail!("--strength applies to --method fast; for Gatys use --style-weight");
            }
        }
    }
    if !(0.0..=1.0).contains(&args.temporal_blend) {
        bail!(
            "--temporal-blend must be between 0 and 1, not {}",
            args.temporal_blend
        );
    }
    if !(args.temporal_weight.is_finite() && args.temporal_weight >= 0.0) {
        bail!(
            "--temporal-weight must be a number >= 0, not {}",
            args.temporal_weight
        );
    }
    if let Some(fps) = args.fps {
        if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
            bail!("--fps must be a number between 0 and 1000, not {fps}");
        }
    }
    if let Some(masks) = &args.masks {
        if masks.len() != args.styles.len() {
            bail!(
                "--masks has {} mask(s) but {} style image(s) were given: give one per style image, in order",
                masks.len(),
                args.styles.len()
            );
        }
    }
    if args.size == Some(0) {
        bail!("--size must be at least 1, not 0");
    }
    Ok(())
}

fn request(args: &VideoArgs) -> Result<VideoRequest> {
    check_method_flags(args)?;
    let weights = blend_weights(args.style_blend_weights.as_deref(), args.styles.len())?;
    let max_memory = match &args.max_memory {
        Some(text) => Some(memory::parse_bytes(text).ok_or_else(|| {
            anyhow::anyhow!("--max-memory: `{text}` is not a size (try 2G or 800M)")
        })? as u64),
        None => None,
    };
    let method = match args.method {
        MethodArg::Fast => Method::Fast {
            strength: args.strength.unwrap_or(1.0),
        },
        MethodArg::Gatys => {
            let defaults = Settings::default();
            let settings = Settings {
                iterations: args.iterations.unwrap_or(defaults.iterations),
                content_weight: args.content_weight.unwrap_or(defaults.content_weight),
                style_weight: args.style_weight.unwrap_or(defaults.style_weight),
                tv_weight: args.tv_weight.unwrap_or(defaults.tv_weight),
                ..defaults
            };
            settings.validate()?;
            Method::Gatys {
                settings: Box::new(settings),
                later_iterations: args.later_iterations.unwrap_or(DEFAULT_LATER_ITERATIONS),
            }
        }
    };
    let mut styles = Vec::new();
    for (i, (path, &weight)) in args.styles.iter().zip(&weights).enumerate() {
        let image = load_image(path, "style")?;
        if args.method == MethodArg::Fast {
            restyle_fast::check_style(&image)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        let mut style = StyleImage::new(image, weight);
        if let Some(masks) = &args.masks {
            style.mask = Some(load_mask(&masks[i], "--masks")?);
        }
        styles.push(style);
    }
    let keep = args
        .keep
        .as_ref()
        .map(|p| load_mask(p, "--keep"))
        .transpose()?;
    let fps = args.fps.map_or(restyle_video::DEFAULT_SEQUENCE_FPS, |f| {
        ((f * 1000.0).round() as u32, 1000)
    });
    Ok(VideoRequest {
        styles,
        size: args.size,
        span: Span {
            start: args.start,
            duration: args.duration,
        },
        color: args.preserve_colors,
        keep,
        steadiness: Steadiness {
            enabled: !args.frame_by_frame,
            blend: args.temporal_blend,
            temporal_weight: args.temporal_weight,
            flow: match args.flow {
                FlowArg::Ultrafast => restyle_flow::Preset::UltraFast,
                FlowArg::Fast => restyle_flow::Preset::Fast,
                FlowArg::Medium => restyle_flow::Preset::Medium,
            },
            ..Steadiness::default()
        },
        sequence_fps: fps,
        ffmpeg: args.ffmpeg.clone(),
        resume: args.resume,
        overwrite: args.overwrite,
        max_memory,
        ..VideoRequest::new(args.input.clone(), args.output.clone(), method)
    })
}

fn load_mask(path: &std::path::Path, flag: &str) -> Result<Mask> {
    let mask = Mask::from_image(&load_image(path, "mask")?);
    if mask.as_slice().iter().all(|&v| v <= 0.0) {
        bail!("{flag}: {} is all black: it marks nothing", path.display());
    }
    Ok(mask)
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
