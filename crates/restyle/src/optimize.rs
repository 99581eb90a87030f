//! The driver loop: step the optimiser, check the numbers, report, repeat.

use std::time::Instant;

use restyle_engine::Tensor;
use restyle_optim::{Adam, Lbfgs, Optimizer};

use crate::objective::StyleObjective;
use crate::progress::{Flow, Observer, Progress};
use crate::{Error, OptimizerKind, Result};

/// Adam's default step, in pixel units (0..1).
pub const DEFAULT_ADAM_LEARNING_RATE: f32 = 0.02;

/// How to optimise.
#[derive(Clone, Copy, Debug)]
pub struct OptimizerSettings {
    pub kind: OptimizerKind,
    /// Adam's step size, or L-BFGS's first-step scale; `None` for the default.
    pub learning_rate: Option<f32>,
    pub lbfgs_history: usize,
}

impl OptimizerSettings {
    fn build(&self) -> Box<dyn Optimizer> {
        match self.kind {
            OptimizerKind::Lbfgs => {
                let mut lbfgs = Lbfgs::new(self.lbfgs_history);
                lbfgs.first_step = self.learning_rate.unwrap_or(1.0);
                Box::new(lbfgs)
            }
            // Pixels stay in 0..1, where they will be saved.
            OptimizerKind::Adam => Box::new(
                Adam::new(self.learning_rate.unwrap_or(DEFAULT_ADAM_LEARNING_RATE)).with_clamp(0.0, 1.0),
            ),
        }
    }
}

/// Step counts and time over a run made of one or more stages.
pub(crate) struct RunClock {
    started: Instant,
    done: usize,
    total: usize,
    stages: usize,
}

impl RunClock {
    pub fn new(total_steps: usize, stages: usize) -> Self {
        Self { started: Instant::now(), done: 0, total: total_steps, stages }
    }
}

/// How a stage ended.
pub(crate) struct StageEnd {
    pub steps: usize,
    /// The observer asked to stop the whole run.
    pub stopped: bool,
}

/// Runs `steps` optimiser steps on `pixels` as stage `stage` of the run.
pub(crate) fn optimize(
    objective: &mut StyleObjective<'_>,
    pixels: &mut Tensor,
    optimizer: &OptimizerSettings,
    steps: usize,
    stage: usize,
    clock: &mut RunClock,
    observer: &mut dyn Observer,
) -> Result<StageEnd> {
    let mut optimizer = optimizer.build();
    let (c, h, w) = pixels.shape();
    let mut taken = 0;
    while taken < steps {
        let report = optimizer.step(pixels.as_mut_slice(), &mut |x: &[f32], g: &mut [f32]| {
            let (losses, grad) = objective.evaluate(&Tensor::from_vec(c, h, w, x.to_vec()));
            g.copy_from_slice(grad.as_slice());
            losses.total()
        });
        taken += 1;
        clock.done += 1;
        if !report.value.is_finite() || pixels.as_slice().iter().any(|v| !v.is_finite()) {
            return Err(Error::Diverged { step: clock.done, value: report.value });
        }
        let elapsed = clock.started.elapsed();
        let progress = Progress {
            step: clock.done,
            total_steps: clock.total,
            stage,
            stages: clock.stages,
            stage_step: taken,
            stage_steps: steps,
            evaluations: objective.evaluations(),
            losses: objective.latest(),
            elapsed,
            eta: Some(elapsed.mul_f64(clock.total.saturating_sub(clock.done) as f64 / clock.done as f64)),
            pixels,
        };
        if observer.on_step(&progress) == Flow::Stop {
            return Ok(StageEnd { steps: taken, stopped: true });
        }
        if report.converged {
            // Nothing left to gain: count the remaining steps as done.
            clock.done += steps - taken;
            break;
        }
    }
    Ok(StageEnd { steps: taken, stopped: false })
}
