//! Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization",
//! algorithms 7.4 and 7.5) with a strong Wolfe line search.
//!
//! The search tries the full quasi-Newton step first, which meets both
//! Wolfe conditions almost always once the curvature history is built, so
//! most iterations cost one evaluation.

use std::cmp::Ordering;
use std::collections::VecDeque;

use crate::line_search::strong_wolfe;
use crate::{dot, Objective, Optimizer, StepReport};

struct Pair {
    s: Vec<f32>,
    y: Vec<f32>,
    rho: f64,
}

/// L-BFGS keeping the last `history` curvature pairs.
pub struct Lbfgs {
    history: usize,
    pairs: VecDeque<Pair>,
    /// Value and gradient at the current `x`, from the previous step.
    current: Option<(f64, Vec<f32>)>,
    direction: Vec<f32>,
    /// Scratch for the line search's trial points.
    x_new: Vec<f32>,
    /// Before any curvature is known: how far the first step moves the
    /// coordinate that moves most (a step along `-gradient` scaled by its
    /// largest entry, so the guess does not shrink as `x` grows longer).
    pub first_step: f32,
    /// The inverse-Hessian scale to start from (for example the previous,
    /// coarser scale's [`Optimizer::curvature_scale`], rescaled): with it the
    /// first step is a quasi-Newton step of length 1, which the line search
    /// usually accepts at once, instead of a guess it must grow or shrink.
    pub initial_scale: Option<f64>,
    /// `s'y / y'y` of the newest curvature pair.
    latest_scale: Option<f64>,
    /// Keep every value of `x` in `lo..=hi` (see [`Lbfgs::with_bounds`]).
    bounds: Option<(f32, f32)>,
}

impl Lbfgs {
    /// `history`: curvature pairs kept (each costs two vectors the size of x).
    pub fn new(history: usize) -> Self {
        Self {
            history: history.max(1),
            pairs: VecDeque::new(),
            current: None,
            direction: Vec::new(),
            x_new: Vec::new(),
            first_step: 1.0,
            initial_scale: None,
            latest_scale: None,
            bounds: None,
        }
    }

    /// Keeps every value of `x` in `lo..=hi`: a projected quasi-Newton
    /// method (as L-BFGS-B and Kim, Sra & Dhillon 2010, simplified). Values
    /// held at a bound by a gradient pointing out of the box are left out of
    /// the direction; the others move along it, each trial point clamped to
    /// the box. Pixels optimised so end where they will be saved, instead of
    /// beyond 0..1, where saving clips them and loses what the optimiser won.
    pub fn with_bounds(mut self, lo: f32, hi: f32) -> Self {
        self.bounds = Some((lo, hi));
        self
    }

    /// Whether a move `m` of a value at `x` would leave the box.
    fn pushes_out(&self, x: f32, m: f32) -> bool {
        self.bounds
            .is_some_and(|(lo, hi)| (x <= lo && m < 0.0) || (x >= hi && m > 0.0))
    }

    /// With bounds: no move for the values at a bound that the gradient or
    /// the direction would push out of the box.
    fn hold(&mut self, x: &[f32], grad: &[f32]) {
        for i in 0..x.len() {
            if self.pushes_out(x[i], -grad[i]) || self.pushes_out(x[i], self.direction[i]) {
                self.direction[i] = 0.0;
            }
        }
    }

    /// `direction = -H * grad` by the two-loop recursion.
    fn compute_direction(&mut self, grad: &[f32]) {
        let q = &mut self.direction;
        q.clear();
        q.extend(grad.iter().map(|g| -g));
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for p in self.pairs.iter().rev() {
            let alpha = p.rho * dot(&p.s, q);
            axpy(-alpha as f32, &p.y, q);
            alphas.push(alpha);
        }
        if let Some(last) = self.pairs.back() {
            // H0 = (s'y / y'y) I: the usual scaling that makes step 1 natural.
            let gamma = (1.0 / (last.rho * dot(&last.y, &last.y))) as f32;
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for (p, alpha) in self.pairs.iter().zip(alphas.into_iter().rev()) {
            let beta = p.rho * dot(&p.y, q);
            axpy((alpha - beta) as f32, &p.s, q);
        }
    }
}

fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

impl Optimizer for Lbfgs {
    // `!(a < b)` on purpose: a NaN must fail the descent and decrease tests.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    fn step(&mut self, x: &mut [f32], objective: &mut dyn Objective) -> StepReport {
        let n = x.len();
        let mut evaluations = 0;
        let (value, grad) = match self.current.take() {
            Some(current) if current.1.len() == n => current,
            _ => {
                self.pairs.clear();
                if let Some((lo, hi)) = self.bounds {
                    x.iter_mut().for_each(|v| *v = v.clamp(lo, hi));
                }
                let mut g = vec![0.0; n];
                let f = objective.evaluate(x, &mut g);
                evaluations += 1;
                (f, g)
            }
        };
        // With bounds, values held at a bound (the gradient pushes them out
        // of the box) do not move: the direction is found for the others.
        let free_grad: Vec<f32>;
        let search_grad: &[f32] = if self.bounds.is_some() {
            free_grad = (0..n)
                .map(|i| {
                    if self.pushes_out(x[i], -grad[i]) {
                        0.0
                    } else {
                        grad[i]
                    }
                })
                .collect();
            &free_grad
        } else {
            &grad
        };
        if search_grad.iter().all(|&g| g == 0.0) {
            self.current = Some((value, grad));
            return StepReport {
                value,
                evaluations,
                converged: true,
            };
        }

        self.compute_direction(search_grad);
        self.hold(x, &grad);
        // Also when the slope is NaN.
        if dot(search_grad, &self.direction).partial_cmp(&0.0) != Some(Ordering::Less) {
            // Not a descent direction (bad curvature history): start over.
            self.pairs.clear();
            self.compute_direction(search_grad);
            self.hold(x, &grad);
        }
        let t = if self.pairs.is_empty() {
            // No curvature yet: the latest known scale (after a restart), the
            // one given, or a guess from the gradient alone.
            match self.latest_scale.or(self.initial_scale) {
                Some(gamma) if gamma.is_finite() && gamma > 0.0 => gamma,
                _ => {
                    let largest = grad.iter().fold(0f32, |m, g| m.max(g.abs())) as f64;
                    (self.first_step as f64 / largest).max(f64::MIN_POSITIVE)
                }
            }
        } else {
            1.0
        };

        let accepted = strong_wolfe(
            objective,
            x,
            &self.direction,
            value,
            &grad,
            t,
            self.bounds,
            &mut self.x_new,
        );
        evaluations += accepted.evaluations;
        // Also when either value is NaN.
        if accepted.f.partial_cmp(&value) != Some(Ordering::Less) || accepted.t <= 0.0 {
            // No step lowered the value: x is (numerically) at a minimum.
            self.pairs.clear();
            self.current = Some((value, grad));
            return StepReport {
                value,
                evaluations,
                converged: true,
            };
        }
        let t = accepted.t as f32;
        // The same arithmetic as the line search's trial point, so x is
        // exactly where the accepted value and gradient were computed.
        let (lo, hi) = self.bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
        let moved = |xi: f32, d: f32| (xi + t * d).clamp(lo, hi);
        let s: Vec<f32> = x
            .iter()
            .zip(&self.direction)
            .map(|(&xi, &d)| moved(xi, d) - xi)
            .collect();
        let y: Vec<f32> = accepted.g.iter().zip(&grad).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        // Keep the pair only if it carries positive curvature (the Wolfe
        // conditions ensure it, up to rounding).
        if sy > 1e-10 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if self.pairs.len() == self.history {
                self.pairs.pop_front();
            }
            self.latest_scale = Some(sy / dot(&y, &y));
            self.pairs.push_back(Pair {
                s,
                y,
                rho: 1.0 / sy,
            });
        }
        x.iter_mut()
            .zip(&self.direction)
            .for_each(|(xi, &d)| *xi = moved(*xi, d));
        self.current = Some((accepted.f, accepted.g));
        StepReport {
            value,
            evaluations,
            converged: false,
        }
    }

    fn curvature_scale(&self) -> Option<f64> {
        self.latest_scale
    }

    fn state_bytes(&self, n: usize) -> usize {
        // Curvature pairs; gradient, direction; the line search's trial
        // point and the gradients it keeps (at most four at once).
        (2 * self.history + 7) * n * 4
    }
}
