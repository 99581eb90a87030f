//! `restyle CONTENT STYLE... -o OUT`: a picture, by either method. The flags become one
//! [`Request`] (the library checks it, with the words every front end uses); this file loads
//! the files it names, and turns progress into a bar or JSON lines.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use restyle::{io, Mask};
use restyle_request::{Init, Inputs, Limits, Method, Painted, Pictures, Plan, Request};
use serde_json::json;

use crate::args::TransferArgs;
use crate::common::{configure_threads, interrupt_flag, load_image, peak_rss_bytes, positive};
use crate::outputs::OutputPlan;
use crate::report::{format_duration, Reporter};

/// The flags as a request; `--init FILE` names a picture (its path returned beside).
fn request_of(args: &TransferArgs) -> (Request, Option<PathBuf>) {
    let run = &args.run;
    let (init, init_path) = match args.init.as_deref() {
        None => (Init::Content, None),
        Some(word) => match Init::from_word(word) {
            Some(init) => (init, None),
            None => (Init::Image, Some(PathBuf::from(word))),
        },
    };
    let request = Request {
        method: args.method,
        styles: args.styles.len(),
        style_blend_weights: args.style_blend_weights.clone(),
        masks: args.masks.as_ref().map(Vec::len),
        style_masks: args.style_masks.as_ref().map(Vec::len),
        keep: args.keep.is_some(),
        seamless: args.seamless,
        size: run.size,
        strength: args.strength,
        preserve_colors: args.preserve_colors,
        init,
        iterations: run.iterations,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        style_scale: args.style_scale,
        content_layers: args.content_layers.clone(),
        style_layers: args.style_layers.clone(),
        optimizer: run.optimizer,
        learning_rate: run.learning_rate,
        lbfgs_history: args.lbfgs_history,
        seed: run.seed,
        scales: args.scales,
        start_size: args.start_size,
        refine_iterations: args.refine_iterations,
        tile: args.tile,
        tile_size: args.tile_size,
        tile_overlap: args.tile_overlap,
        stop_tolerance: args.stop_tolerance,
        vgg_weights: run.vgg_weights.clone(),
        max_memory: args.max_memory.clone(),
    };
    (request, init_path)
}

/// Every file the run reads.
fn input_paths<'a>(args: &'a TransferArgs, init_path: Option<&'a Path>) -> Vec<&'a Path> {
    let content = args.content.as_deref().expect("clap requires CONTENT");
    let masks = [&args.masks, &args.style_masks]
        .into_iter()
        .flatten()
        .flatten();
    std::iter::once(content)
        .chain(args.styles.iter().map(PathBuf::as_path))
        .chain(masks.chain(&args.keep).map(PathBuf::as_path))
        .chain(init_path)
        .chain(args.run.vgg_weights.as_deref())
        .collect()
}

/// The sizes of the pictures the flags name, from their headers.
fn input_sizes(args: &TransferArgs, init_path: Option<&Path>) -> Result<Inputs> {
    let limits = io::ImageLimits::default();
    let size = |path: &Path, role: &str| {
        io::image_dimensions(path, limits).with_context(|| format!("cannot use the {role} image"))
    };
    let masks = [&args.masks, &args.style_masks]
        .into_iter()
        .flatten()
        .flatten();
    Ok(Inputs {
        content: size(
            args.content.as_deref().expect("clap requires CONTENT"),
            "content",
        )?,
        styles: args
            .styles
            .iter()
            .map(|p| size(p, "style"))
            .collect::<Result<_>>()?,
        masks: masks
            .chain(&args.keep)
            .map(|p| size(p, "mask"))
            .collect::<Result<_>>()?,
        init: init_path.map(|p| size(p, "--init")).transpose()?,
    })
}

/// The pictures the flags name, loaded.
fn load_pictures(args: &TransferArgs, plan: &Plan, init_path: Option<&Path>) -> Result<Pictures> {
    let content = load_image(
        args.content.as_deref().expect("clap requires CONTENT"),
        "content",
    )?;
    let paintings = args
        .styles
        .iter()
        .map(|p| load_image(p, "style"))
        .collect::<Result<_>>()?;
    let mut pictures = Pictures::new(plan, content, paintings);
    let mask = |path: &Path| load_image(path, "mask").map(|image| Mask::from_image(&image));
    for (style, path) in pictures.styles.iter_mut().zip(args.masks.iter().flatten()) {
        style.mask = Some(mask(path)?);
    }
    for (style, path) in pictures
        .styles
        .iter_mut()
        .zip(args.style_masks.iter().flatten())
    {
        style.style_mask = Some(mask(path)?);
    }
    pictures.keep = args.keep.as_deref().map(mask).transpose()?;
    pictures.init = init_path.map(|p| load_image(p, "--init")).transpose()?;
    Ok(pictures)
}

pub fn run(args: TransferArgs) -> Result<()> {
    let (request, init_path) = request_of(&args);
    let mut plan = request.check(&Limits::default())?;
    let save_every = match args.save_every {
        Some(_) if plan.method == Method::Fast => {
            bail!("save_every applies to method gatys; method fast paints in one pass")
        }
        every => every.map(|n| positive("save_every", n, 1)).transpose()?,
    };
    // Tiles count as steps too: plan the names for the most a run can take.
    let settings = &plan.settings;
    let max_tiles = settings
        .tiling
        .and_then(|t| t.tiles(settings.size, settings.size))
        .map_or(1, |tiles| tiles.len());
    let total_steps = settings.scales.long_edges(plan.size).len() * settings.iterations * max_tiles;
    let output = args.output.clone().expect("clap requires --output");
    let outputs = OutputPlan::new(&output, save_every, total_steps);
    outputs.check(
        &input_paths(&args, init_path.as_deref()),
        args.run.overwrite,
    )?;
    configure_threads(&args.run)?;
    let estimated_peak = plan.fit(&input_sizes(&args, init_path.as_deref())?)?;
    let started = Instant::now();
    let pictures = load_pictures(&args, &plan, init_path.as_deref())?;
    if plan.method == Method::Fast {
        let painted = plan.paint(&pictures, None, &mut restyle::Silent)?;
        return finish(&args, &outputs, &painted, started, estimated_peak, false);
    }
    plan.check_pictures(&pictures)?;
    let net = plan.network()?;
    let interrupted = interrupt_flag();
    let total_steps = plan
        .settings
        .total_steps(pictures.content.width(), pictures.content.height());
    let mut reporter = Reporter::new(
        total_steps,
        args.run.quiet,
        args.run.json,
        Some(&outputs),
        interrupted.clone(),
    );
    let result = plan.paint(&pictures, Some(&net), &mut reporter);
    reporter.finish();
    let painted = result?;
    if let Some(e) = reporter.error.take() {
        return Err(e.context("stopped: could not save an intermediate image"));
    }
    let stopped = interrupted.load(Ordering::SeqCst);
    finish(&args, &outputs, &painted, started, estimated_peak, stopped)?;
    if stopped {
        std::process::exit(130);
    }
    Ok(())
}

/// Saves the picture and says so.
fn finish(
    args: &TransferArgs,
    outputs: &OutputPlan,
    painted: &Painted,
    started: Instant,
    estimated_peak: usize,
    interrupted: bool,
) -> Result<()> {
    io::save_image(&painted.image, &outputs.output).context("cannot save the result")?;
    let elapsed = started.elapsed();
    let (width, height) = (painted.image.width(), painted.image.height());
    let path = outputs.output.display();
    if args.run.json {
        let mut done = json!({
            "event": "done",
            "method": args.method.name(),
            "path": path.to_string(),
            "width": width,
            "height": height,
            "seconds": elapsed.as_secs_f64(),
            "peak_rss_bytes": peak_rss_bytes(),
            "estimated_peak_bytes": estimated_peak,
        });
        match &painted.losses {
            Some(losses) => {
                done["steps"] = json!(painted.steps);
                done["loss"] = json!(losses.total());
                done["interrupted"] = json!(interrupted);
            }
            None => done["network_seconds"] = json!(painted.network.as_secs_f64()),
        }
        println!("{done}");
    } else if !args.run.quiet {
        match &painted.losses {
            Some(_) => eprintln!(
                "wrote {path} ({width}x{height}, {}{} steps, {})",
                if painted.stopped {
                    "partial result after "
                } else {
                    ""
                },
                painted.steps,
                format_duration(elapsed)
            ),
            None => eprintln!(
                "wrote {path} ({width}x{height}, fast: networks {:.2} s, {} in all)",
                painted.network.as_secs_f64(),
                format_duration(elapsed)
            ),
        }
    }
    Ok(())
}
