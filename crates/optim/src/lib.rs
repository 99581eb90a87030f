//! Optimisers for restyle: L-BFGS (the classic choice for style transfer,
//! as in Gatys et al. and jcjohnson's neural-style) and Adam, over a flat
//! `f32` vector, the image's pixels.
//!
//! An optimiser sees the problem only through [`Objective`]: a function that
//! returns its value at `x` and writes its gradient. Each call to
//! [`Optimizer::step`] moves `x` once.
//!
//! ```
//! use restyle_optim::{Lbfgs, Optimizer};
//!
//! // Minimise (x - 3)^2 + 10 (y + 1)^2.
//! let mut f = |x: &[f32], g: &mut [f32]| {
//!     g[0] = 2.0 * (x[0] - 3.0);
//!     g[1] = 20.0 * (x[1] + 1.0);
//!     ((x[0] - 3.0).powi(2) + 10.0 * (x[1] + 1.0).powi(2)) as f64
//! };
//! let mut x = [0.0f32, 0.0];
//! let mut lbfgs = Lbfgs::new(5);
//! for _ in 0..20 {
//!     lbfgs.step(&mut x, &mut f);
//! }
//! assert!((x[0] - 3.0).abs() < 1e-3 && (x[1] + 1.0).abs() < 1e-3);
//! ```

mod adam;
mod convergence;
mod lbfgs;
mod line_search;

pub use adam::Adam;
pub use convergence::Convergence;
pub use lbfgs::Lbfgs;

/// A differentiable function of a flat vector.
pub trait Objective {
    /// Returns the value at `x` and writes the gradient into `grad`
    /// (same length as `x`).
    fn evaluate(&mut self, x: &[f32], grad: &mut [f32]) -> f64;
}

impl<F: FnMut(&[f32], &mut [f32]) -> f64> Objective for F {
    fn evaluate(&mut self, x: &[f32], grad: &mut [f32]) -> f64 {
        self(x, grad)
    }
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// The objective where the step started.
    pub value: f64,
    /// How many times the step evaluated the objective (0 when it could
    /// reuse the previous step's last evaluation and then stopped).
    pub evaluations: usize,
    /// The optimiser found nothing left to do (zero gradient, or no step
    /// lowered the value); further steps will not change `x`.
    pub converged: bool,
}

/// An iterative minimiser.
pub trait Optimizer {
    /// Moves `x` one step downhill.
    fn step(&mut self, x: &mut [f32], objective: &mut dyn Objective) -> StepReport;

    /// Bytes of state kept between steps for a vector of `n` values.
    fn state_bytes(&self, n: usize) -> usize;

    /// The inverse-Hessian scale the optimiser has learnt (`s'y / y'y` for
    /// L-BFGS), to start a similar problem with; `None` if it keeps none.
    fn curvature_scale(&self) -> Option<f64> {
        None
    }
}

/// A value stored in `f32` or in bf16 (as the curvature pairs of [`Lbfgs`]).
pub(crate) trait Value: Copy {
    fn value(self) -> f32;
}

impl Value for f32 {
    #[inline(always)]
    fn value(self) -> f32 {
        self
    }
}

impl Value for half::bf16 {
    #[inline(always)]
    fn value(self) -> f32 {
        // bf16 is the top half of an f32 (NaN stays NaN): a plain shift,
        // which the compiler vectorises in `dot` and `axpy`.
        f32::from_bits((self.to_bits() as u32) << 16)
    }
}

/// `f32` to bf16, to the nearest (ties to even), as `half::bf16::from_f32`
/// but without its branches, which makes the optimiser's step measurably
/// faster.
pub(crate) fn to_bf16(v: f32) -> half::bf16 {
    let bits = v.to_bits();
    let rounded = (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16;
    half::bf16::from_bits(if v.is_nan() { 0x7FC0 } else { rounded })
}

/// `y += a x`.
pub(crate) fn axpy(a: f32, x: &[impl Value], y: &mut [f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi.value();
    }
}

/// The dot product `a'b`, in f64.
pub(crate) fn dot(a: &[impl Value], b: &[impl Value]) -> f64 {
    // Sixteen running f32 sums (one vector's lanes: a single running sum is
    // a chain of dependent additions the compiler may not reorder, several
    // times slower), folded into f64 block by block. The order is fixed, so
    // the result is too.
    const LANES: usize = 16;
    a.chunks(4096)
        .zip(b.chunks(4096))
        .map(|(a, b)| {
            let (a, b) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
            let tail: f32 = a
                .remainder()
                .iter()
                .zip(b.remainder())
                .map(|(x, y)| x.value() * y.value())
                .sum();
            let mut lanes = [0f32; LANES];
            for (x, y) in a.zip(b) {
                for i in 0..LANES {
                    lanes[i] += x[i].value() * y[i].value();
                }
            }
            lanes.iter().map(|&v| v as f64).sum::<f64>() + tail as f64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(n: usize) -> (Vec<f32>, Vec<f32>) {
        let a = (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
            .collect();
        let b = (0..n)
            .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
            .collect();
        (a, b)
    }

    #[test]
    fn rounding_to_bf16_agrees_with_half() {
        let special = [
            0.0,
            -0.0,
            1.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-45,
            f32::INFINITY,
        ];
        let spread = (0..100_000u32).map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761)));
        let ties = (0..1000u32).map(|i| f32::from_bits((0x3F80_0000 + (i << 16)) | 0x8000));
        for v in special.into_iter().chain(spread).chain(ties) {
            let (ours, theirs) = (to_bf16(v), half::bf16::from_f32(v));
            if v.is_nan() {
                assert!(ours.is_nan(), "{v}");
            } else {
                assert_eq!(
                    ours.to_bits(),
                    theirs.to_bits(),
                    "{v:e} ({:#x})",
                    v.to_bits()
                );
            }
        }
    }

    #[test]
    fn dot_matches_a_double_precision_sum() {
        // Lengths with a partial block and a partial set of lanes.
        for n in [0, 1, 15, 17, 4096, 590_000 + 7] {
            let (a, b) = vectors(n);
            let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            let got = dot(&a, &b);
            assert!(
                (got - exact).abs() <= 1e-6 * (1.0 + exact.abs()) * (n as f64).sqrt().max(1.0),
                "{n}: {got} vs {exact}"
            );
        }
    }
}
