//! A line search that satisfies the strong Wolfe conditions (Nocedal &
//! Wright, "Numerical Optimization", algorithms 3.5 and 3.6, with cubic
//! interpolation, in the form PyTorch's L-BFGS uses).
//!
//! Its curvature condition is what keeps L-BFGS's curvature pairs positive:
//! with a sufficient-decrease test alone, a region of negative curvature
//! (common in style losses, which are quartic in the pixels) leaves the
//! optimiser with no usable pairs and steps that never grow.

use std::borrow::Cow;

use crate::{dot, Objective};

/// Sufficient decrease: f(x + t d) <= f(x) + C1 t g'd.
const C1: f64 = 1e-4;
/// Curvature: |g(x + t d)'d| <= C2 |g'd|.
const C2: f64 = 0.9;
const MAX_EVALUATIONS: usize = 25;
/// Stop zooming when the bracket moves x by less than this.
const TOLERANCE_CHANGE: f64 = 1e-9;

/// A point on the line: step, value, gradient, directional derivative.
/// The starting point borrows the caller's gradient instead of copying it.
#[derive(Clone)]
struct Point<'g> {
    t: f64,
    f: f64,
    g: Cow<'g, [f32]>,
    slope: f64,
}

/// The accepted step.
pub(crate) struct Accepted {
    pub t: f64,
    pub f: f64,
    pub g: Vec<f32>,
    pub evaluations: usize,
}

/// Minimiser of the cubic through two points with their slopes, within `bounds`.
fn cubic_minimum(a: &Point<'_>, b: &Point<'_>, bounds: Option<(f64, f64)>) -> f64 {
    let (lo, hi) = bounds.unwrap_or((a.t.min(b.t), a.t.max(b.t)));
    let d1 = a.slope + b.slope - 3.0 * (a.f - b.f) / (a.t - b.t);
    let d2_square = d1 * d1 - a.slope * b.slope;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let t = if a.t <= b.t {
            b.t - (b.t - a.t) * ((b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2))
        } else {
            a.t - (a.t - b.t) * ((a.slope + d2 - d1) / (a.slope - b.slope + 2.0 * d2))
        };
        if t.is_finite() {
            return t.clamp(lo, hi);
        }
    }
    (lo + hi) / 2.0
}

/// Searches along `d` from `x` (value `f`, gradient `g`), starting at step
/// `t`. With `bounds`, each trial point is `x + t d` clamped to the box: the
/// search runs along the projected path, its slopes still taken along `d`
/// (exact until the path meets a bound, a close guide after).
#[allow(clippy::too_many_arguments)]
pub(crate) fn strong_wolfe(
    objective: &mut dyn Objective,
    x: &[f32],
    d: &[f32],
    f: f64,
    g: &[f32],
    t: f64,
    bounds: Option<(f32, f32)>,
    trial: &mut Vec<f32>,
) -> Accepted {
    let (lo, hi) = bounds.unwrap_or((f32::NEG_INFINITY, f32::INFINITY));
    let slope0 = dot(g, d);
    let d_norm = d.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let mut evaluations = 0;
    let mut evaluate = |t: f64, evaluations: &mut usize| {
        trial.clear();
        trial.extend(
            x.iter()
                .zip(d)
                .map(|(xi, di)| (xi + t as f32 * di).clamp(lo, hi)),
        );
        let mut grad = vec![0.0; x.len()];
        let value = objective.evaluate(trial, &mut grad);
        *evaluations += 1;
        // A non-finite value counts as "too far": it fails sufficient decrease.
        let value = if value.is_finite() {
            value
        } else {
            f64::INFINITY
        };
        let slope = dot(&grad, d);
        Point {
            t,
            f: value,
            slope: if slope.is_finite() { slope } else { 0.0 },
            g: Cow::Owned(grad),
        }
    };

    let mut previous = Point {
        t: 0.0,
        f,
        g: Cow::Borrowed(g),
        slope: slope0,
    };
    let mut current = evaluate(t, &mut evaluations);
    // Phase 1: grow the step until it brackets an acceptable one.
    let mut bracket: [Point; 2];
    loop {
        if current.f > f + C1 * current.t * slope0 || (evaluations > 1 && current.f >= previous.f) {
            bracket = [previous, current];
            break;
        }
        if current.slope.abs() <= -C2 * slope0 {
            return Accepted {
                t: current.t,
                f: current.f,
                g: current.g.into_owned(),
                evaluations,
            };
        }
        if current.slope >= 0.0 {
            bracket = [previous, current];
            break;
        }
        if evaluations >= MAX_EVALUATIONS {
            return Accepted {
                t: current.t,
                f: current.f,
                g: current.g.into_owned(),
                evaluations,
            };
        }
        let bounds = (
            current.t + 0.01 * (current.t - previous.t),
            current.t * 10.0,
        );
        let next_t = cubic_minimum(&previous, &current, Some(bounds));
        previous = current;
        current = evaluate(next_t, &mut evaluations);
    }

    // Phase 2: shrink the bracket around a step meeting both conditions.
    let mut insufficient_progress = false;
    let (mut low, mut high) = if bracket[0].f <= bracket[1].f {
        (0, 1)
    } else {
        (1, 0)
    };
    while evaluations < MAX_EVALUATIONS {
        let (lo_t, hi_t) = (
            bracket[0].t.min(bracket[1].t),
            bracket[0].t.max(bracket[1].t),
        );
        if (hi_t - lo_t) * d_norm < TOLERANCE_CHANGE {
            break;
        }
        let mut t = cubic_minimum(&bracket[0], &bracket[1], None);
        // Keep away from the ends unless progress was poor last time.
        let eps = 0.1 * (hi_t - lo_t);
        if (hi_t - t).min(t - lo_t) < eps {
            if insufficient_progress || t >= hi_t || t <= lo_t {
                t = if (t - hi_t).abs() < (t - lo_t).abs() {
                    hi_t - eps
                } else {
                    lo_t + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        let point = evaluate(t, &mut evaluations);
        if point.f > f + C1 * t * slope0 || point.f >= bracket[low].f {
            bracket[high] = point;
        } else {
            if point.slope.abs() <= -C2 * slope0 {
                return Accepted {
                    t: point.t,
                    f: point.f,
                    g: point.g.into_owned(),
                    evaluations,
                };
            }
            if point.slope * (bracket[high].t - bracket[low].t) >= 0.0 {
                bracket[high] = bracket[low].clone();
            }
            bracket[low] = point;
        }
        (low, high) = if bracket[0].f <= bracket[1].f {
            (0, 1)
        } else {
            (1, 0)
        };
    }
    let [first, second] = bracket;
    let best = if low == 0 { first } else { second };
    Accepted {
        t: best.t,
        f: best.f,
        g: best.g.into_owned(),
        evaluations,
    }
}
