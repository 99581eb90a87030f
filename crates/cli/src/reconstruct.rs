//! `restyle reconstruct CONTENT STYLE -o GRID`: Gatys et al.'s figure 1.

use std::time::Instant;

use anyhow::{Context, Result};
use restyle::reconstruct::{reconstruct, reconstruction_grid, ReconstructSettings};
use restyle::{io, OptimizerKind, OptimizerSettings};
use restyle_request::{load_network, RequestError};
use serde_json::json;

use crate::args::ReconstructArgs;
use crate::common::{configure_threads, interrupt_flag, load_image, positive};
use crate::outputs::OutputPlan;
use crate::report::{format_duration, Reporter};

pub const DEFAULT_SIZE: i64 = 256;
pub const DEFAULT_ITERATIONS: i64 = 300;

pub fn run(args: ReconstructArgs) -> Result<()> {
    let run = &args.run;
    let mut blocks = Vec::new();
    for &b in &args.layers {
        blocks.push(positive("--layers", b, 1)?);
    }
    let settings = ReconstructSettings {
        size: positive("--size", run.size.unwrap_or(DEFAULT_SIZE), 1)?,
        iterations: positive(
            "--iterations",
            run.iterations.unwrap_or(DEFAULT_ITERATIONS),
            0,
        )?,
        blocks,
        cumulative: args.cumulative,
        optimizer: OptimizerSettings {
            kind: run.optimizer.unwrap_or(OptimizerKind::Lbfgs),
            learning_rate: run.learning_rate,
            lbfgs_history: restyle::DEFAULT_LBFGS_HISTORY,
        },
        seed: run.seed.unwrap_or(0),
    };
    settings.validate().map_err(RequestError::from)?;
    let plan = OutputPlan::new(&args.output, None, 0);
    let mut inputs = vec![args.content.as_path(), args.style.as_path()];
    if let Some(w) = &run.vgg_weights {
        inputs.push(w);
    }
    plan.check(&inputs, run.overwrite)?;
    configure_threads(run)?;
    let content = load_image(&args.content, "content")?;
    let style = load_image(&args.style, "style")?;
    let net = load_network(
        run.vgg_weights.as_deref(),
        settings.deepest_layer().expect("validated"),
    )?;

    let interrupted = interrupt_flag();
    let total = 2 * settings.blocks.len() * settings.iterations;
    let mut reporter = Reporter::new(total, run.quiet, run.json, None, interrupted);
    let started = Instant::now();
    let result = reconstruct(&net, &content, &style, &settings, &mut reporter);
    reporter.finish();
    let reconstructions = result.map_err(RequestError::from)?;
    let grid = reconstruction_grid(&content, &style, &reconstructions);
    io::save_image(&grid, &plan.output).context("cannot save the grid")?;
    reporter.json_event(json!({
        "event": "done",
        "path": plan.output.display().to_string(),
        "width": grid.width(),
        "height": grid.height(),
        "seconds": started.elapsed().as_secs_f64(),
        "interrupted": reconstructions.stopped,
    }));
    if !run.quiet && !run.json {
        eprintln!(
            "wrote {} ({}x{}, {})",
            plan.output.display(),
            grid.width(),
            grid.height(),
            format_duration(started.elapsed())
        );
    }
    Ok(())
}
