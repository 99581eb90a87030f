//! How a run reports progress and is stopped: the library never prints; it
//! calls an [`Observer`] after every step, which the CLI turns into a
//! progress bar or JSON lines and the server into live events.

use std::time::Duration;

use restyle_engine::Tensor;
use restyle_image::Image;

/// The loss terms at the latest evaluation, weighted as in the objective.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    /// The temporal term of a clip's frame ([`crate::Settings::temporal`]); 0 for stills.
    pub temporal: f64,
}

impl Losses {
    pub fn total(&self) -> f64 {
        self.content + self.style + self.tv + self.temporal
    }
}

/// A snapshot after one optimisation step.
pub struct Progress<'a> {
    /// Steps done so far, over all stages (1 after the first step).
    pub step: usize,
    /// Steps the whole run will take.
    pub total_steps: usize,
    /// A run may optimise several images in turn (the scales of a
    /// coarse-to-fine run, the cells of a reconstruction grid): which stage
    /// this is (0-based), of how many.
    pub stage: usize,
    pub stages: usize,
    /// Steps done in the current stage, and that stage's number of steps.
    pub stage_step: usize,
    pub stage_steps: usize,
    /// Objective evaluations so far (L-BFGS sometimes needs more than one a step).
    pub evaluations: usize,
    pub losses: Losses,
    pub elapsed: Duration,
    /// Estimated time left.
    pub eta: Option<Duration>,
    /// How much the objective fell, relative, over the stage's last steps
    /// (the window of its stopping rule); `None` until that many steps ran,
    /// or when the stage runs all its steps regardless.
    pub relative_decrease: Option<f64>,
    pub(crate) pixels: &'a Tensor,
    /// Turns the optimised pixels into the picture the user sees (puts the
    /// photo's colours back in luminance-only runs).
    pub(crate) present: &'a dyn Fn(&Tensor) -> Image,
}

impl Progress<'_> {
    /// The image as it stands (at the current stage's size).
    pub fn image(&self) -> Image {
        (self.present)(self.pixels)
    }

    /// Width and height of the current image.
    pub fn size(&self) -> (usize, usize) {
        (self.pixels.width(), self.pixels.height())
    }

    /// Fraction done, 0..1.
    pub fn fraction(&self) -> f64 {
        if self.total_steps == 0 {
            1.0
        } else {
            self.step as f64 / self.total_steps as f64
        }
    }
}

/// Whether a run goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Stop after this step and return the image as it is.
    Stop,
}

/// Receives progress; returning [`Flow::Stop`] ends the run early.
pub trait Observer {
    fn on_step(&mut self, progress: &Progress<'_>) -> Flow;

    /// Asked while the targets are measured, before any step of a scale:
    /// before each style image, each tile of a large one, and the content.
    /// That work can take long (large style images), so a run can be
    /// stopped there too; it then ends with the image it started from.
    fn on_targets(&mut self) -> Flow {
        Flow::Continue
    }
}

impl<F: FnMut(&Progress<'_>) -> Flow> Observer for F {
    fn on_step(&mut self, progress: &Progress<'_>) -> Flow {
        self(progress)
    }
}

/// An observer that watches nothing.
pub struct Silent;

impl Observer for Silent {
    fn on_step(&mut self, _: &Progress<'_>) -> Flow {
        Flow::Continue
    }
}
