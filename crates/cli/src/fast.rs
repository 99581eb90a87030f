//! `restyle CONTENT STYLE... -o OUT --method fast`: the picture painted in one pass of
//! Ghiasi et al.'s feed-forward network (`restyle-fast`), at the requested size; and the
//! same picture as the starting point of a Gatys optimisation (`--init fast`).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use restyle::fast::{self, FastError, FastStyle, MIN_CONTENT_SIZE};
use restyle::{fit_long_edge, io, memory, ColorMode, Image, StyleImage};
use serde_json::json;

use crate::args::{MethodArg, TransferArgs, DEFAULT_SIZE};
use crate::common::{configure_threads, load_image, peak_rss_bytes, positive};
use crate::outputs::OutputPlan;
use crate::report::format_duration;

/// What the fast method needs besides the images, checked before anything is loaded.
struct FastJob {
    size: usize,
    strength: f32,
    blend: Vec<f32>,
    color: ColorMode,
    plan: OutputPlan,
}

/// Flags that belong to one method only are refused with the other, rather than ignored.
pub fn check_method_flags(args: &TransferArgs) -> Result<()> {
    match args.method {
        MethodArg::Gatys if args.strength.is_some() => {
            bail!("--strength applies to --method fast; for Gatys use --style-weight")
        }
        MethodArg::Fast => {
            let gatys_only = [
                ("--iterations", args.run.iterations.is_some()),
                ("--save-every", args.save_every.is_some()),
                ("--scales", args.scales.is_some()),
                ("--start-size", args.start_size.is_some()),
                ("--refine-iterations", args.refine_iterations.is_some()),
                ("--tile", args.tile),
                ("--init", args.init != "content"),
                ("--weights", args.run.weights.is_some()),
            ];
            if let Some((flag, _)) = gatys_only.iter().find(|(_, set)| *set) {
                bail!("{flag} applies to --method gatys; --method fast paints in one pass");
            }
            Ok(())
        }
        MethodArg::Gatys => Ok(()),
    }
}

fn plan(args: &TransferArgs) -> Result<FastJob> {
    check_method_flags(args)?;
    let size = positive("--size", args.run.size.unwrap_or(DEFAULT_SIZE), 1)?;
    let strength = args.strength.unwrap_or(1.0);
    let blend = match &args.style_blend_weights {
        Some(w) if w.len() != args.styles.len() => bail!(
            "--style-blend-weights has {} value(s) but {} style image(s) were given",
            w.len(),
            args.styles.len()
        ),
        Some(w) => w.clone(),
        None => vec![1.0; args.styles.len()],
    };
    fast::check_settings(strength, &blend).map_err(in_flag_terms)?;
    let output = args.output.clone().expect("clap requires --output");
    let plan = OutputPlan::new(&output, None, 0);
    let content = args.content.as_deref().expect("clap requires CONTENT");
    let mut inputs = vec![content];
    inputs.extend(args.styles.iter().map(|p| p.as_path()));
    plan.check(&inputs, args.run.overwrite)?;
    let color = args.preserve_colors;
    Ok(FastJob {
        size,
        strength,
        blend,
        color,
        plan,
    })
}

/// Refuses, from the images' sizes alone, a picture that would not fit in memory.
fn check_memory(args: &TransferArgs, size: usize) -> Result<()> {
    let budget = match &args.max_memory {
        Some(text) => memory::parse_bytes(text).ok_or_else(|| {
            anyhow::anyhow!("--max-memory: `{text}` is not a size (try 6G or 800M)")
        })?,
        None => match memory::available_bytes() {
            Some(bytes) => bytes,
            None => return Ok(()),
        },
    } as u64;
    let content = args.content.as_deref().expect("clap requires CONTENT");
    let (w0, h0) = io::image_dimensions(content, io::ImageLimits::default())
        .context("cannot use the content image")?;
    let threads = rayon::current_num_threads();
    // The decoded photo (RGB f32) stays alive beside the picture.
    let needed = |long_edge: usize| {
        let (w, h) = fit_long_edge(w0, h0, long_edge);
        restyle_fast::memory_bytes(w, h, threads) + w0 as u64 * h0 as u64 * 12
    };
    if needed(size) <= budget {
        return Ok(());
    }
    let mut fits = size;
    while fits > MIN_CONTENT_SIZE && needed(fits) > budget {
        fits = fits * 9 / 10;
    }
    let source = if args.max_memory.is_some() {
        "--max-memory allows"
    } else {
        "this machine has"
    };
    bail!(
        "a {size} px fast picture needs about {} and {source} {} available: at most {fits} px fits",
        memory::format_bytes(needed(size) as usize),
        memory::format_bytes(budget as usize)
    )
}

/// The fast picture `--init fast` starts a Gatys run from, at the run's output size.
pub fn initial_image(photo: &Image, styles: &[StyleImage], size: usize) -> Result<Image> {
    restyle::fast::initial_image(photo, styles, size).map_err(in_flag_terms)
}

/// The library's refusals in the command line's terms.
fn in_flag_terms(error: FastError) -> anyhow::Error {
    match error {
        FastError::ContentTooSmall {
            size,
            width,
            height,
            min,
        } => anyhow::anyhow!(
            "the content image at --size {size} is {width}x{height}: the fast method needs at least {min} pixels a side"
        ),
        FastError::Strength(s) => anyhow::anyhow!("--strength must be between 0 and 1, not {s}"),
        FastError::BlendWeights => {
            anyhow::anyhow!("--style-blend-weights must be numbers >= 0 with a positive sum")
        }
        other => other.into(),
    }
}

pub fn run(args: TransferArgs) -> Result<()> {
    let job = plan(&args)?;
    configure_threads(&args.run)?;
    check_memory(&args, job.size)?;
    let started = Instant::now();
    let photo = load_image(
        args.content.as_deref().expect("clap requires CONTENT"),
        "content",
    )?;
    let mut styles = Vec::new();
    for (path, &weight) in args.styles.iter().zip(&job.blend) {
        let image = load_image(path, "style")?;
        fast::check_style(&image)
            .map_err(|e| anyhow::anyhow!("style image {} {e}", path.display()))?;
        styles.push(StyleImage { image, weight });
    }
    let model = FastStyle::embedded()?;
    let painted = fast::paint(&model, &photo, job.size, &styles, job.strength, job.color)
        .map_err(in_flag_terms)?;
    io::save_image(&painted.image, &job.plan.output).context("cannot save the result")?;
    let elapsed = started.elapsed();
    if args.run.json {
        println!(
            "{}",
            json!({
                "event": "done",
                "method": "fast",
                "path": job.plan.output.display().to_string(),
                "width": painted.image.width(),
                "height": painted.image.height(),
                "network_seconds": painted.network.as_secs_f64(),
                "seconds": elapsed.as_secs_f64(),
                "peak_rss_bytes": peak_rss_bytes(),
            })
        );
    } else if !args.run.quiet {
        eprintln!(
            "wrote {} ({}x{}, fast: networks {:.2} s, {} in all)",
            job.plan.output.display(),
            painted.image.width(),
            painted.image.height(),
            painted.network.as_secs_f64(),
            format_duration(elapsed)
        );
    }
    Ok(())
}
