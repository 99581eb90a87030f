//! Instance normalisation with a scale and shift per channel (conditional instance
//! normalisation when the scale and shift come from a style), fused with the activation and
//! the residual addition that follow it.
//!
//! The statistics of each channel are [`Moments`], gathered by the convolution that made the
//! tensor while each band of its output is still in cache
//! ([`crate::conv2d::Conv2d::forward_with_moments`]), or by [`channel_moments`].

use rayon::prelude::*;

use crate::activation::Activation;
use crate::Tensor;

/// Count, mean and sum of squared deviations of a set of values (Welford's form: merging
/// two sets keeps the variance accurate even when the mean is large).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    count: f64,
    mean: f64,
    squared_deviations: f64,
}

impl Moments {
    /// The moments of `values`, in two passes (the values are in cache for the second).
    pub fn of(values: &[f32]) -> Moments {
        if values.is_empty() {
            return Moments::default();
        }
        let mean = sum_f32(values, |v| v) as f64 / values.len() as f64;
        let m = mean as f32;
        let squared_deviations = sum_f32(values, |v| (v - m) * (v - m)) as f64;
        Moments {
            count: values.len() as f64,
            mean,
            squared_deviations,
        }
    }

    /// The moments of both sets together (Chan et al.'s parallel formula).
    pub fn merge(self, other: Moments) -> Moments {
        let count = self.count + other.count;
        if count == 0.0 {
            return Moments::default();
        }
        let delta = other.mean - self.mean;
        Moments {
            count,
            mean: self.mean + delta * other.count / count,
            squared_deviations: self.squared_deviations
                + other.squared_deviations
                + delta * delta * self.count * other.count / count,
        }
    }

    /// The same mean and variance, counted as `weight` times as many values: merging
    /// `a.weighted(w)` with `b.weighted(1 - w)` mixes the two distributions in those shares.
    pub fn weighted(self, weight: f64) -> Moments {
        Moments {
            count: self.count * weight,
            squared_deviations: self.squared_deviations * weight,
            ..self
        }
    }

    pub fn count(&self) -> f64 {
        self.count
    }

    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// The population variance (divided by the count, as instance normalisation does).
    pub fn variance(&self) -> f64 {
        if self.count == 0.0 {
            0.0
        } else {
            self.squared_deviations / self.count
        }
    }
}

/// `sum f(v)` over `values`, with 16 independent partial sums so that the loop vectorises
/// (a single running sum would wait on each addition).
fn sum_f32(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0.0f32; 16];
    let chunks = values.chunks_exact(16);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The moments of each channel.
pub fn channel_moments(input: &Tensor) -> Vec<Moments> {
    (0..input.channels())
        .into_par_iter()
        .map(|c| {
            input
                .plane(c)
                .chunks(4096)
                .map(Moments::of)
                .fold(Moments::default(), Moments::merge)
        })
        .collect()
}

/// Values per parallel task of [`instance_norm`].
const CHUNK: usize = 1 << 15;

/// `x = activation((x - mean) / sqrt(variance + epsilon) * scale + shift) (+ residual)`, each
/// channel with its own moments, scale and shift.
///
/// # Panics
/// If the lengths do not match the channels, or the residual's shape the tensor's.
pub fn instance_norm(
    x: &mut Tensor,
    moments: &[Moments],
    scale: &[f32],
    shift: &[f32],
    epsilon: f32,
    activation: Activation,
    residual: Option<&Tensor>,
) {
    let channels = x.channels();
    assert!(moments.len() == channels && scale.len() == channels && shift.len() == channels);
    if let Some(r) = residual {
        assert_eq!(r.shape(), x.shape(), "residual shape");
    }
    let plane = x.plane_len();
    if plane == 0 {
        return;
    }
    // As the graph computes it: y = x * a + (shift - mean * a), a = scale / sqrt(var + eps).
    let coefficients: Vec<(f32, f32)> = (0..channels)
        .map(|c| {
            let a = scale[c] as f64 / (moments[c].variance() + epsilon as f64).sqrt();
            (a as f32, (shift[c] as f64 - moments[c].mean() * a) as f32)
        })
        .collect();
    x.as_mut_slice()
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(c, values)| {
            let (a, b) = coefficients[c];
            let added = residual.map(|r| r.plane(c));
            values
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(i, chunk)| {
                    for v in chunk.iter_mut() {
                        *v = *v * a + b;
                    }
                    activation.apply_slice(chunk);
                    if let Some(r) = added {
                        for (v, r) in chunk.iter_mut().zip(&r[i * CHUNK..]) {
                            *v += r;
                        }
                    }
                });
        });
}

/// The mean of each channel (global average pooling).
pub fn global_average_pool(input: &Tensor) -> Vec<f32> {
    channel_moments(input)
        .iter()
        .map(|m| m.mean() as f32)
        .collect()
}
