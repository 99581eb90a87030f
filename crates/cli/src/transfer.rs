//! `restyle CONTENT STYLE... -o OUT`: a style transfer.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use restyle::{io, memory, stylize, Init, ScaleSchedule, Settings, StopRule, StyleImage, Tiling};
use serde_json::json;

use crate::args::{MethodArg, TransferArgs, DEFAULT_ITERATIONS, DEFAULT_SIZE};
use crate::common::{
    configure_threads, interrupt_flag, load_image, load_network, parse_layers, peak_rss_bytes,
    positive,
};
use crate::flags::in_flag_terms;
use crate::outputs::OutputPlan;
use crate::report::{format_duration, Reporter};

/// What to do, fully checked, before anything expensive happens.
struct Job {
    settings: Settings,
    plan: OutputPlan,
    content: std::path::PathBuf,
    styles: Vec<(std::path::PathBuf, f32)>,
    init_path: Option<std::path::PathBuf>,
    /// `--init fast`: start from the fast method's picture.
    init_fast: bool,
}

fn plan(args: &TransferArgs) -> Result<Job> {
    let run = &args.run;
    let content = args.content.clone().expect("clap requires CONTENT");
    let output = args.output.clone().expect("clap requires --output");
    let size = positive("--size", run.size.unwrap_or(DEFAULT_SIZE), 1)?;
    let iterations = positive(
        "--iterations",
        run.iterations.unwrap_or(DEFAULT_ITERATIONS),
        0,
    )?;
    let save_every = args
        .save_every
        .map(|n| positive("--save-every", n, 1))
        .transpose()?;
    let blend = match &args.style_blend_weights {
        Some(w) if w.len() != args.styles.len() => bail!(
            "--style-blend-weights has {} value(s) but {} style image(s) were given",
            w.len(),
            args.styles.len()
        ),
        Some(w) => w.clone(),
        None => vec![1.0; args.styles.len()],
    };
    let (init, init_path) = match args.init.as_str() {
        "content" | "image" => (Init::Content, None),
        "noise" | "random" => (Init::Noise, None),
        "fast" => (Init::Content, None), // replaced once the images are loaded
        path => (Init::Content, Some(Path::new(path).to_path_buf())), // replaced once loaded
    };
    let settings = Settings {
        size,
        iterations,
        content_weight: args.content_weight,
        style_weight: args.style_weight,
        tv_weight: args.tv_weight,
        style_scale: args.style_scale,
        content_layers: parse_layers(&args.content_layers, "--content-layers")?,
        style_layers: parse_layers(&args.style_layers, "--style-layers")?,
        init,
        optimizer: run.optimizer,
        learning_rate: run.learning_rate,
        lbfgs_history: args.lbfgs_history,
        seed: run.seed,
        color: args.preserve_colors,
        // The tile size is settled once the budget is known (see `fit_memory`).
        tiling: if args.tile {
            Some(Tiling {
                tile: positive(
                    "--tile-size",
                    args.tile_size.unwrap_or(memory::MAX_AUTO_TILE as i64),
                    64,
                )?,
                overlap: positive("--tile-overlap", args.tile_overlap, 0)?,
            })
        } else {
            None
        },
        stop: stop_rule(args.stop_tolerance)?,
        // The masks are loaded with the images (see `regions::apply`).
        keep: None,
        seamless: args.seamless,
        temporal: None,
        scales: ScaleSchedule {
            start_size: args
                .start_size
                .map(|s| positive("--start-size", s, 1))
                .transpose()?,
            scales: args
                .scales
                .map(|n| positive("--scales", n, 1))
                .transpose()?,
            refine_iterations: args
                .refine_iterations
                .map(|n| positive("--refine-iterations", n, 1))
                .transpose()?,
        },
    };
    // Validate everything but the images now, so mistakes show at once.
    settings.validate().map_err(in_flag_terms)?;
    settings
        .validate_style_weights(&blend)
        .map_err(in_flag_terms)?;

    // Tiles count as steps too: plan the names for the most a run can take.
    let total_steps = settings.scales.long_edges(size).len() * iterations * max_tiles(&settings);
    let plan = OutputPlan::new(&output, save_every, total_steps);
    let mut inputs: Vec<&Path> = vec![&content];
    inputs.extend(args.styles.iter().map(|p| p.as_path()));
    if let Some(p) = &init_path {
        inputs.push(p);
    }
    inputs.extend(crate::regions::mask_paths(args));
    if let Some(w) = &run.weights {
        inputs.push(w);
    }
    plan.check(&inputs, run.overwrite)?;
    Ok(Job {
        settings,
        plan,
        content,
        styles: args.styles.iter().cloned().zip(blend).collect(),
        init_path,
        init_fast: args.init == "fast",
    })
}

/// `--stop-tolerance`: 0 turns the stopping rule off.
fn stop_rule(tolerance: f64) -> Result<Option<StopRule>> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        bail!("--stop-tolerance must be a number >= 0, not {tolerance}");
    }
    Ok((tolerance > 0.0).then_some(StopRule {
        tolerance,
        ..StopRule::default()
    }))
}

/// Checks, from the images' sizes alone, that the run fits in memory, and
/// picks the tile size for `--tile` when none was given (the library's
/// [`memory::fit`]). Returns the estimated peak.
fn fit_memory(job: &mut Job, args: &TransferArgs) -> Result<usize> {
    let budget = match &args.max_memory {
        Some(text) => memory::parse_bytes(text).ok_or_else(|| {
            anyhow::anyhow!("--max-memory: `{text}` is not a size (try 6G or 800M)")
        })?,
        None => match memory::available_bytes() {
            Some(bytes) => bytes,
            None => return Ok(0), // unknown: nothing to check against
        },
    };
    let limits = io::ImageLimits::default();
    let content =
        io::image_dimensions(&job.content, limits).context("cannot use the content image")?;
    let mut styles = Vec::new();
    for (path, _) in &job.styles {
        styles.push(io::image_dimensions(path, limits).context("cannot use the style image")?);
    }
    let auto_tile = args.tile_size.is_none();
    let refused = match memory::fit(&mut job.settings, content, &styles, budget, auto_tile) {
        Ok(fit) => return Ok(fit.needed),
        Err(refused) => refused,
    };
    let source = if args.max_memory.is_some() {
        "--max-memory allows"
    } else {
        "this machine has"
    };
    let advice = match (refused.tile, refused.largest_fitting) {
        (Some(tile), _) => format!("even in tiles of {tile} px; try a smaller --tile-size"),
        (None, Some(px)) => format!("at most {px} px fits; use --tile to render larger in tiles"),
        (None, None) => "not even the smallest size fits".to_string(),
    };
    bail!(
        "a {} px result needs about {} and {source} {} available: {advice}",
        refused.size,
        memory::format_bytes(refused.needed),
        memory::format_bytes(refused.budget)
    )
}

/// An upper bound on the tiles of any scale (1 without tiling).
fn max_tiles(settings: &Settings) -> usize {
    settings
        .tiling
        .and_then(|t| t.tiles(settings.size, settings.size))
        .map_or(1, |tiles| tiles.len())
}

pub fn run(args: TransferArgs) -> Result<()> {
    crate::regions::check_flags(&args)?;
    crate::fast::check_method_flags(&args)?;
    if args.method == MethodArg::Fast {
        return crate::fast::run(args);
    }
    let mut job = plan(&args)?;
    configure_threads(&args.run)?;
    let estimated_peak = fit_memory(&mut job, &args)?;
    let content = load_image(&job.content, "content")?;
    let mut styles = Vec::new();
    for (path, weight) in &job.styles {
        styles.push(StyleImage::new(load_image(path, "style")?, *weight));
    }
    crate::regions::apply(&args, &mut styles, &mut job.settings)?;
    if let Some(path) = &job.init_path {
        job.settings.init = Init::Image(load_image(path, "--init")?);
    }
    if job.init_fast {
        let painted = crate::fast::initial_image(&content, &styles, job.settings.size)?;
        job.settings.init = Init::Image(painted);
    }
    let deepest = job.settings.deepest_layer().expect("validated");
    let net = load_network(args.run.weights.as_deref(), deepest)?;

    let interrupted = interrupt_flag();
    let total_steps = job.settings.total_steps(content.width(), content.height());
    let mut reporter = Reporter::new(
        total_steps,
        args.run.quiet,
        args.run.json,
        Some(&job.plan),
        interrupted.clone(),
    );
    let started = Instant::now();
    let result = stylize(&net, &content, &styles, &job.settings, &mut reporter);
    reporter.finish();
    let outcome = result.map_err(in_flag_terms)?;
    if let Some(e) = reporter.error.take() {
        return Err(e.context("stopped: could not save an intermediate image"));
    }
    io::save_image(&outcome.image, &job.plan.output).context("cannot save the result")?;
    let elapsed = started.elapsed();
    reporter.json_event(json!({
        "event": "done",
        "path": job.plan.output.display().to_string(),
        "steps": outcome.steps,
        "width": outcome.image.width(),
        "height": outcome.image.height(),
        "loss": outcome.losses.total(),
        "seconds": elapsed.as_secs_f64(),
        "interrupted": interrupted.load(Ordering::SeqCst),
        "peak_rss_bytes": peak_rss_bytes(),
        "estimated_peak_bytes": estimated_peak,
    }));
    if !args.run.quiet && !args.run.json {
        let what = if outcome.stopped {
            "partial result after"
        } else {
            ""
        };
        eprintln!(
            "wrote {} ({}x{}, {what}{} steps, {})",
            job.plan.output.display(),
            outcome.image.width(),
            outcome.image.height(),
            outcome.steps,
            format_duration(elapsed)
        );
    }
    if interrupted.load(Ordering::SeqCst) {
        std::process::exit(130);
    }
    Ok(())
}
