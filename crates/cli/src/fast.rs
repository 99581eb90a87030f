//! `restyle CONTENT STYLE... -o OUT --method fast`: the picture painted in one pass of
//! Ghiasi et al.'s feed-forward network (`restyle-fast`), at the requested size; and the
//! same picture as the starting point of a Gatys optimisation (`--init fast`).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use restyle::{fit_long_edge, io, memory, ColorMode, Image, StyleImage, Tiling};
use restyle_fast::{check_style, paint, FastStyle, FastTiling, MIN_CONTENT_SIZE};
use serde_json::json;

use crate::args::{MethodArg, TransferArgs, DEFAULT_SIZE};
use crate::common::{blend_weights, configure_threads, load_image, peak_rss_bytes, positive};
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
    if !(0.0..=1.0).contains(&strength) {
        bail!("--strength must be between 0 and 1, not {strength}");
    }
    let blend = blend_weights(args.style_blend_weights.as_deref(), args.styles.len())?;
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

/// Refuses, from the images' sizes alone, a picture that would not fit in memory. In tiles,
/// the normalisation statistics are measured at the largest size that fits (the picture's
/// own when it fits whole: then the tiles match it closely; see restyle_fast::tiles).
fn check_memory(
    args: &TransferArgs,
    size: usize,
    mut tiling: Option<&mut FastTiling>,
) -> Result<()> {
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
    let photo = w0 as u64 * h0 as u64 * 12;
    if let Some(t) = tiling.as_deref_mut() {
        let (w, h) = fit_long_edge(w0, h0, size);
        let picture = w as u64 * h as u64 * 28; // as FastTiling::memory_bytes counts it
        let whole = |long_edge: usize| {
            let (w, h) = fit_long_edge(w0, h0, long_edge);
            restyle_fast::memory_bytes(w, h, threads) + photo + picture
        };
        let mut statistics = size;
        while statistics > MIN_CONTENT_SIZE && whole(statistics) > budget {
            statistics = statistics * 9 / 10;
        }
        t.statistics_size = statistics;
    }
    let tiling = tiling.as_deref();
    // The decoded photo (RGB f32) stays alive beside the picture.
    let needed = |long_edge: usize| {
        let (w, h) = fit_long_edge(w0, h0, long_edge);
        let run = match tiling {
            Some(t) => t.memory_bytes(w, h, threads),
            None => restyle_fast::memory_bytes(w, h, threads),
        };
        run + photo
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
    let advice = if tiling.is_some() {
        ""
    } else {
        "; --tile paints it in tiles, in less"
    };
    bail!(
        "a {size} px fast picture needs about {} and {source} {} available: at most {fits} px fits{advice}",
        memory::format_bytes(needed(size) as usize),
        memory::format_bytes(budget as usize)
    )
}

/// [`paint`], with the size the user asked for named when the picture would be too small.
fn painted(
    model: &FastStyle,
    photo: &Image,
    size: usize,
    styles: &[StyleImage],
    strength: f32,
    color: ColorMode,
    tiling: Option<&FastTiling>,
) -> Result<restyle_fast::Painted> {
    let (w, h) = fit_long_edge(photo.width(), photo.height(), size);
    if w.min(h) < MIN_CONTENT_SIZE {
        bail!("the content image at --size {size} is {w}x{h}: the fast method needs at least {MIN_CONTENT_SIZE} pixels a side");
    }
    Ok(paint(model, photo, size, styles, strength, color, tiling)?)
}

/// The fast picture `--init fast` starts a Gatys run from, at the run's output size.
pub fn initial_image(photo: &Image, styles: &[StyleImage], size: usize) -> Result<Image> {
    let model = FastStyle::embedded()?;
    Ok(painted(&model, photo, size, styles, 1.0, ColorMode::None, None)?.image)
}

pub fn run(args: TransferArgs) -> Result<()> {
    let job = plan(&args)?;
    configure_threads(&args.run)?;
    let mut tiling = match args.tile {
        // Statistics from the whole picture at 1024 px at most (see restyle_fast::tiles).
        true => Some(FastTiling {
            tiling: Tiling {
                tile: positive("--tile-size", args.tile_size.unwrap_or(1024), 32)?,
                overlap: positive("--tile-overlap", args.tile_overlap, 8)?,
            },
            ..FastTiling::default()
        }),
        false => None,
    };
    check_memory(&args, job.size, tiling.as_mut())?;
    let started = Instant::now();
    let photo = load_image(
        args.content.as_deref().expect("clap requires CONTENT"),
        "content",
    )?;
    let mut styles = Vec::new();
    for (path, &weight) in args.styles.iter().zip(&job.blend) {
        let image = load_image(path, "style")?;
        check_style(&image).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        styles.push(StyleImage::new(image, weight));
    }
    let model = FastStyle::embedded()?;
    let painted = crate::regions::paint_fast(&args, &photo, &styles, |styles| {
        painted(
            &model,
            &photo,
            job.size,
            styles,
            job.strength,
            job.color,
            tiling.as_ref(),
        )
    })?;
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
