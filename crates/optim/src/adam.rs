//! Adam (Kingma & Ba, 2015), with bias correction.

use crate::{Objective, Optimizer, StepReport};

/// Adam with optional clamping of `x` to a box after each step (pixels stay
/// in 0..1, which is what crowsonkb's style-transfer-pytorch does too).
#[derive(Clone, Debug)]
pub struct Adam {
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
    /// Keep every value of `x` in `lo..=hi`.
    pub clamp: Option<(f32, f32)>,
    m: Vec<f32>,
    v: Vec<f32>,
    grad: Vec<f32>,
    t: i32,
}

impl Adam {
    pub fn new(learning_rate: f32) -> Self {
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            clamp: None,
            m: Vec::new(),
            v: Vec::new(),
            grad: Vec::new(),
            t: 0,
        }
    }

    pub fn with_clamp(mut self, lo: f32, hi: f32) -> Self {
        self.clamp = Some((lo, hi));
        self
    }
}

impl Optimizer for Adam {
    fn step(&mut self, x: &mut [f32], objective: &mut dyn Objective) -> StepReport {
        let n = x.len();
        if self.m.len() != n {
            self.m = vec![0.0; n];
            self.v = vec![0.0; n];
            self.grad = vec![0.0; n];
            self.t = 0;
        }
        let value = objective.evaluate(x, &mut self.grad);
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let step = self.learning_rate * (1.0 - b2.powi(self.t)).sqrt() / (1.0 - b1.powi(self.t));
        let (lo, hi) = self.clamp.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        for (((xi, &g), m), v) in x
            .iter_mut()
            .zip(&self.grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *v = b2 * *v + (1.0 - b2) * g * g;
            *xi = (*xi - step * *m / (v.sqrt() + self.epsilon)).clamp(lo, hi);
        }
        StepReport {
            value,
            evaluations: 1,
            converged: false,
        }
    }

    fn state_bytes(&self, n: usize) -> usize {
        3 * n * 4
    }
}
