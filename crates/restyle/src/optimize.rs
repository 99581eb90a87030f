//! The driver loop: step the optimiser, check the numbers, report, repeat.

use std::time::Instant;

use restyle_engine::Tensor;
use restyle_image::Image;
use restyle_optim::{Adam, Convergence, Lbfgs, Optimizer};

use crate::objective::StyleObjective;
use crate::progress::{Flow, Observer, Progress};
use crate::settings::{
    OptimizerKind, OptimizerSettings, StopRule, DEFAULT_ADAM_LEARNING_RATE,
    DEFAULT_LBFGS_FIRST_STEP,
};
use crate::{Error, Result};

/// One stage's step limit, stopping rule and starting curvature.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StagePlan {
    /// The most steps the stage takes.
    pub steps: usize,
    pub stop: Option<StopRule>,
    /// L-BFGS's inverse-Hessian scale to start from (see [`Lbfgs::initial_scale`]).
    pub initial_scale: Option<f64>,
}

impl StagePlan {
    /// Exactly `steps` steps (fewer only if the optimiser finds nothing left to do).
    pub fn steps(steps: usize) -> Self {
        Self {
            steps,
            ..Self::default()
        }
    }
}

impl OptimizerSettings {
    fn build(&self, initial_scale: Option<f64>) -> Box<dyn Optimizer> {
        match self.kind {
            // Both keep the pixels in 0..1, where they will be saved.
            OptimizerKind::Lbfgs => {
                let mut lbfgs = Lbfgs::new(self.lbfgs_history).with_bounds(0.0, 1.0);
                lbfgs.first_step = self.learning_rate.unwrap_or(DEFAULT_LBFGS_FIRST_STEP);
                lbfgs.initial_scale = initial_scale;
                Box::new(lbfgs)
            }
            OptimizerKind::Adam => Box::new(
                Adam::new(self.learning_rate.unwrap_or(DEFAULT_ADAM_LEARNING_RATE))
                    .with_clamp(0.0, 1.0),
            ),
        }
    }
}

/// Step counts and time over a run made of one or more stages. The time
/// left is estimated from work done, a step's work being its pixel count,
/// so that cheap coarse steps do not make the estimate optimistic.
pub(crate) struct RunClock {
    started: Instant,
    done: usize,
    total: usize,
    stages: usize,
    work_done: f64,
    work_total: f64,
}

impl RunClock {
    /// `stages`: steps and pixels of each stage.
    pub fn new(stages: &[(usize, usize)]) -> Self {
        Self {
            started: Instant::now(),
            done: 0,
            total: stages.iter().map(|s| s.0).sum(),
            stages: stages.len(),
            work_done: 0.0,
            work_total: stages
                .iter()
                .map(|&(steps, pixels)| (steps * pixels) as f64)
                .sum(),
        }
    }
}

/// How a stage ended.
pub(crate) struct StageEnd {
    pub steps: usize,
    /// The observer asked to stop the whole run.
    pub stopped: bool,
    /// What the optimiser learnt of the curvature (see [`Optimizer::curvature_scale`]).
    pub curvature_scale: Option<f64>,
}

/// Runs up to `plan.steps` optimiser steps on `pixels` as stage `stage` of the run.
#[allow(clippy::too_many_arguments)]
pub(crate) fn optimize(
    objective: &mut StyleObjective<'_>,
    pixels: &mut Tensor,
    optimizer: &OptimizerSettings,
    plan: StagePlan,
    stage: usize,
    clock: &mut RunClock,
    observer: &mut dyn Observer,
    present: &dyn Fn(&Tensor) -> Image,
) -> Result<StageEnd> {
    let steps = plan.steps;
    let mut optimizer = optimizer.build(plan.initial_scale);
    let mut convergence = plan.stop.map(|r| Convergence::new(r.window, r.tolerance));
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
        clock.work_done += (h * w) as f64;
        if !report.value.is_finite() || pixels.as_slice().iter().any(|v| !v.is_finite()) {
            return Err(Error::Diverged {
                step: clock.done,
                value: report.value,
            });
        }
        // The value where this step ended (the next step starts from it).
        if let Some(c) = convergence.as_mut() {
            c.record(objective.latest().total());
        }
        let relative_decrease = convergence.as_ref().and_then(|c| c.relative_decrease());
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
            eta: Some(
                elapsed.mul_f64((clock.work_total - clock.work_done).max(0.0) / clock.work_done),
            ),
            relative_decrease,
            pixels,
            present,
        };
        if observer.on_step(&progress) == Flow::Stop {
            return Ok(StageEnd {
                steps: taken,
                stopped: true,
                curvature_scale: optimizer.curvature_scale(),
            });
        }
        if report.converged || convergence.as_ref().is_some_and(|c| c.converged()) {
            // Nothing left to gain: count the remaining steps as done.
            clock.done += steps - taken;
            clock.work_done += ((steps - taken) * h * w) as f64;
            break;
        }
    }
    Ok(StageEnd {
        steps: taken,
        stopped: false,
        curvature_scale: optimizer.curvature_scale(),
    })
}
