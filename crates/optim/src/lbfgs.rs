//! Limited-memory BFGS (Nocedal & Wright, "Numerical Optimization",
//! algorithms 7.4 and 7.5) with a strong Wolfe line search.
//!
//! The search tries the full quasi-Newton step first, which meets both
//! Wolfe conditions almost always once the curvature history is built, so
//! most iterations cost one evaluation.
//!
//! The curvature pairs are kept in bf16. The two-loop recursion reads every
//! pair twice a step, and for an image the history (20 pairs of 2 vectors)
//! is far larger than the CPU's caches, so the recursion runs at the speed
//! of memory: half the bytes, half the time, and half the history's memory.
//! The sums stay in f32 and f64. `rho` is computed from the rounded pair,
//! so each update is exactly the BFGS update for the pair as stored, and
//! stays positive definite when its `s'y` is positive; rounding to 8
//! significant bits only makes the curvature model slightly coarser.

use std::cmp::Ordering;
use std::collections::VecDeque;

use half::bf16;

use crate::line_search::strong_wolfe;
use crate::{axpy, dot, to_bf16, Objective, Optimizer, StepReport};

/// A step `s` and the change of the gradient along it `y`, in bf16.
struct Pair {
    s: Vec<bf16>,
    y: Vec<bf16>,
    /// `1 / s'y`.
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
    /// The gradient without the values held at a bound.
    free_grad: Vec<f32>,
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
            free_grad: Vec::new(),
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

    /// The box, or the whole line without bounds.
    fn box_bounds(&self) -> (f32, f32) {
        self.bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY))
    }

    /// With bounds: no move for the values at a bound that the gradient or
    /// the direction would push out of the box.
    fn hold(&mut self, x: &[f32], grad: &[f32]) {
        let Some((lo, hi)) = self.bounds else {
            return;
        };
        for ((&x, &g), d) in x.iter().zip(grad).zip(&mut self.direction) {
            if pushes_out(x, -g, lo, hi) || pushes_out(x, *d, lo, hi) {
                *d = 0.0;
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

/// Whether a move `m` of a value at `x` would leave the box `lo..=hi`
/// (written without branches on the bounds, so loops over it vectorise).
#[inline(always)]
fn pushes_out(x: f32, m: f32, lo: f32, hi: f32) -> bool {
    (x <= lo) & (m < 0.0) | (x >= hi) & (m > 0.0)
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
        let mut free_grad = std::mem::take(&mut self.free_grad);
        let search_grad: &[f32] = if self.bounds.is_some() {
            let (lo, hi) = self.box_bounds();
            free_grad.clear();
            free_grad.extend(x.iter().zip(&grad).map(|(&x, &g)| {
                if pushes_out(x, -g, lo, hi) {
                    0.0
                } else {
                    g
                }
            }));
            &free_grad
        } else {
            &grad
        };
        if search_grad.iter().all(|&g| g == 0.0) {
            self.free_grad = free_grad;
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
        self.free_grad = free_grad;
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
        let (lo, hi) = self.box_bounds();
        let moved = |xi: f32, d: f32| (xi + t * d).clamp(lo, hi);
        // The oldest pair's vectors are reused when the history is full.
        let (mut s, mut y) = if self.pairs.len() == self.history {
            self.pairs
                .pop_front()
                .map(|p| (p.s, p.y))
                .unwrap_or_default()
        } else {
            Default::default()
        };
        s.clear();
        s.extend(
            x.iter()
                .zip(&self.direction)
                .map(|(&xi, &d)| to_bf16(moved(xi, d) - xi)),
        );
        y.clear();
        y.extend(accepted.g.iter().zip(&grad).map(|(a, b)| to_bf16(a - b)));
        let (sy, yy) = (dot(&s, &y), dot(&y, &y));
        // Keep the pair only if it carries positive curvature (the Wolfe
        // conditions ensure it, up to rounding).
        if sy > 1e-10 * yy.max(f64::MIN_POSITIVE) {
            self.latest_scale = Some(sy / yy);
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
        // Curvature pairs in bf16; gradient, direction, the gradient without
        // held values, the line search's trial point and the gradients it
        // keeps (at most three at once) in f32.
        2 * self.history * n * 2 + 7 * n * 4
    }
}
