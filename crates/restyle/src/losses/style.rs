//! Style loss: how far the activations' channel correlations (the Gram
//! matrix) are from the style image's. Gram matrices keep which features
//! occur together (colours, textures, strokes) and drop where they occur.

use rayon::prelude::*;
use restyle_engine::{SharedMut, Tensor};

/// The `C x C` Gram matrix of `C x M` activations, divided by `M` (the
/// number of positions) so that images of different sizes compare.
#[derive(Clone, Debug, PartialEq)]
pub struct Gram {
    channels: usize,
    data: Vec<f32>,
}

impl Gram {
    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// `sum_i weight_i * gram_i`: the target for several style images.
    ///
    /// # Panics
    /// If the matrices differ in size or the list is empty.
    pub fn blend(parts: &[(Gram, f32)]) -> Gram {
        let channels = parts[0].0.channels;
        let mut data = vec![0.0; channels * channels];
        for (g, w) in parts {
            assert_eq!(
                g.channels, channels,
                "blending Gram matrices of different layers"
            );
            for (d, v) in data.iter_mut().zip(&g.data) {
                *d += w * v;
            }
        }
        Gram { channels, data }
    }

    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }
}

/// Positions per slice when summing partial Gram matrices in parallel. A
/// fixed size (not one derived from the thread count) keeps results
/// identical on any machine.
const SLICE: usize = 4096;

/// `F F^T / M` for activations `F` (C x M).
pub fn gram(features: &Tensor) -> Gram {
    let c = features.channels();
    let m = features.plane_len();
    let data = features.as_slice();
    let slices = m.div_ceil(SLICE).max(1);
    let partial: Vec<Vec<f32>> = (0..slices)
        .into_par_iter()
        .map(|s| {
            let start = s * SLICE;
            let len = SLICE.min(m - start.min(m));
            let mut g = vec![0.0f32; c * c];
            // SAFETY: the slice `start..start+len` of every channel row lies
            // within `data` (C rows of M); `g` is C x C.
            unsafe {
                matrixmultiply::sgemm(
                    c,
                    len,
                    c,
                    1.0,
                    data.as_ptr().add(start),
                    m as isize,
                    1,
                    data.as_ptr().add(start),
                    1,
                    m as isize,
                    0.0,
                    g.as_mut_ptr(),
                    c as isize,
                    1,
                );
            }
            g
        })
        .collect();
    let mut g = vec![0.0f32; c * c];
    for p in &partial {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    let inv_m = 1.0 / m.max(1) as f32;
    g.iter_mut().for_each(|v| *v *= inv_m);
    Gram {
        channels: c,
        data: g,
    }
}

/// `|G - A|^2 / |A|^2` for the activations' Gram matrix `G` and the style's `A`.
#[derive(Clone, Debug)]
pub struct StyleLoss {
    target: Gram,
    /// `1 / |A|^2`.
    scale: f64,
}

impl StyleLoss {
    pub fn new(target: Gram) -> Self {
        let norm2: f64 = target.data.iter().map(|&v| v as f64 * v as f64).sum();
        Self {
            scale: 1.0 / norm2.max(f64::MIN_POSITIVE),
            target,
        }
    }

    pub fn target(&self) -> &Gram {
        &self.target
    }

    /// The loss and its gradient `4 (G - A) F / (M |A|^2)`.
    pub fn value_and_grad(&self, features: &Tensor) -> (f64, Tensor) {
        let (c, h, w) = features.shape();
        assert_eq!(
            c, self.target.channels,
            "style features and target differ in channels"
        );
        let m = h * w;
        let g = gram(features);
        let mut diff = g.data;
        let mut sum = 0.0f64;
        for (d, &a) in diff.iter_mut().zip(&self.target.data) {
            *d -= a;
            sum += *d as f64 * *d as f64;
        }
        let mut grad = Tensor::zeros(c, h, w);
        let alpha = (4.0 * self.scale / m.max(1) as f64) as f32;
        let src = features.as_slice();
        // Columns are independent: split them over threads.
        let dst = SharedMut::new(grad.as_mut_slice());
        let slices = m.div_ceil(SLICE);
        (0..slices).into_par_iter().for_each(|s| {
            let start = s * SLICE;
            let len = SLICE.min(m - start);
            // SAFETY: each slice writes its own columns `start..start+len` of
            // the C x M result (row stride M), which outlives the loop.
            unsafe {
                matrixmultiply::sgemm(
                    c,
                    c,
                    len,
                    alpha,
                    diff.as_ptr(),
                    c as isize,
                    1,
                    src.as_ptr().add(start),
                    m as isize,
                    1,
                    0.0,
                    dst.get().add(start),
                    m as isize,
                    1,
                );
            }
        });
        (sum * self.scale, grad)
    }
}
