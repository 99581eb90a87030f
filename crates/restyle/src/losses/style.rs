//! Style loss: how far the activations' channel correlations (the Gram
//! matrix) are from the style image's. Gram matrices keep which features
//! occur together (colours, textures, strokes) and drop where they occur.

use rayon::prelude::*;
use restyle_engine::{gemm, Tensor};

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

/// Positions per slice when summing partial Gram matrices in parallel: a
/// size derived from the positions alone (not from the thread count), so
/// results are identical on any machine. At least [`SLICES`] slices where
/// that leaves each [`MIN_SLICE`] positions, so that the deep layers (512
/// channels, a few hundred or thousand positions) are shared out evenly
/// too; at most [`MAX_SLICE`], to keep a slice's rows in cache.
fn slice_len(m: usize) -> usize {
    m.div_ceil(SLICES)
        .next_multiple_of(64)
        .clamp(MIN_SLICE, MAX_SLICE)
}
const SLICES: usize = 8;
const MIN_SLICE: usize = 256;
const MAX_SLICE: usize = 2048;

/// Whether the products for `c x m` activations run in bf16 with f32 sums
/// ([`gemm::bf16`]): where the CPU has them, for layers large enough that
/// they pay (at 512 px, relu1_1 to relu5_1). Rounding to bf16 moves a
/// style loss by about 1e-4 of itself and its gradient by about 1e-3
/// (measured on VGG-19's activations of a painting and a photo); small
/// products, such as the tests', stay in f32 and exact to its rounding.
fn in_bf16(c: usize, m: usize) -> bool {
    c * m >= BF16_MIN_VALUES && gemm::bf16::available()
}
const BF16_MIN_VALUES: usize = 1 << 18;

/// `F F^T / M` for activations `F` (C x M), on the engine's symmetric
/// product (half the multiplications of a general one); in bf16 for large
/// layers where the CPU has it (see `in_bf16`). The slices' products are
/// upper triangles: they are summed there, and mirrored once.
pub fn gram(features: &Tensor) -> Gram {
    let c = features.channels();
    let m = features.plane_len();
    let data = features.as_slice();
    let slice = slice_len(m);
    let slices = m.div_ceil(slice).max(1);
    let bf16 = in_bf16(c, m);
    let partial: Vec<Vec<f32>> = (0..slices)
        .into_par_iter()
        .map(|s| {
            let start = (s * slice).min(m);
            let len = slice.min(m - start);
            let mut g = vec![0.0f32; c * c];
            if bf16 {
                gemm::bf16::syrk_upper(&data[start..], c, len, m, &mut g);
            } else {
                gemm::syrk_upper(&data[start..], c, len, m, &mut g);
            }
            g
        })
        .collect();
    // Row by row in parallel, each row's sum in slice order (so that the
    // result does not depend on the thread count), from the diagonal on.
    let inv_m = 1.0 / m.max(1) as f32;
    let mut g = vec![0.0f32; c * c];
    g.par_chunks_mut(c.max(1)).enumerate().for_each(|(i, row)| {
        let upper = &mut row[i..];
        for p in &partial {
            for (a, b) in upper.iter_mut().zip(&p[i * c + i..(i + 1) * c]) {
                *a += b;
            }
        }
        upper.iter_mut().for_each(|v| *v *= inv_m);
    });
    gemm::mirror_upper(&mut g, c);
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
        self.value_and_weighted_grad(features, 1.0)
    }

    /// The loss, and its gradient times `weight` (the objective's weight
    /// for this term): the weight goes into the small `c x c` factor, not
    /// over the layer-sized gradient.
    pub fn value_and_weighted_grad(&self, features: &Tensor, weight: f32) -> (f64, Tensor) {
        let (c, h, w) = features.shape();
        let mut grad = Tensor::zeros(c, h, w);
        let value = self.weighted_grad_into(features, weight, &mut grad, false);
        (value, grad)
    }

    /// The loss, with its gradient times `weight` added into `grad`.
    pub fn add_weighted_grad(&self, features: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
        assert_eq!(
            grad.shape(),
            features.shape(),
            "style gradient and features differ in shape"
        );
        self.weighted_grad_into(features, weight, grad, true)
    }

    fn weighted_grad_into(
        &self,
        features: &Tensor,
        weight: f32,
        grad: &mut Tensor,
        accumulate: bool,
    ) -> f64 {
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
        // The gradient is alpha (G - A) F, the threads sharing out F's
        // columns: each reads only its own, once (sharing out rows instead,
        // each thread would read all of F, at relu1_1 50 MB at 512 px).
        let alpha = (4.0 * self.scale / m.max(1) as f64) as f32 * weight;
        diff.iter_mut().for_each(|d| *d *= alpha);
        let f = features.as_slice();
        let out = grad.as_mut_slice();
        if in_bf16(c, m) {
            let factor = gemm::bf16::pack_a(&diff, c, c, c);
            gemm::bf16::par_gemm(&factor, c, f, m, m, out, m, accumulate);
        } else {
            let factor = gemm::PackedA::pack(&diff, c, c, c);
            gemm::par_gemm(&factor, f, m, m, out, m, accumulate);
        }
        sum * self.scale
    }
}

/// A region's weights at one layer's positions, scaled so that
/// `sum_p w(p)^2 = M`: a Gram matrix of the weighted activations, divided by
/// `M` as usual, is then the region's own (divided by its weighted size),
/// whatever the region's area. Also returns `sum_p w(p)^2 / M`, the region's
/// share of the layer. `None` for a region with no weight at this layer.
fn normalised_guide(mask: &[f32]) -> Option<(Vec<f32>, f64)> {
    let m = mask.len();
    let sum2: f64 = mask.iter().map(|&v| v as f64 * v as f64).sum();
    if m == 0 || sum2 <= 0.0 {
        return None;
    }
    let scale = (m as f64 / sum2).sqrt() as f32;
    Some((mask.iter().map(|v| v * scale).collect(), sum2 / m as f64))
}

/// Each channel of `features` multiplied, position by position, by `weights`.
fn weighted(features: &Tensor, weights: &[f32]) -> Tensor {
    assert_eq!(
        features.plane_len(),
        weights.len(),
        "guide and features differ in size"
    );
    let mut out = features.clone();
    let m = weights.len().max(1);
    out.as_mut_slice().par_chunks_mut(m).for_each(|plane| {
        for (v, w) in plane.iter_mut().zip(weights) {
            *v *= w;
        }
    });
    out
}

/// The guided Gram matrix of Gatys et al. (CVPR 2017, "Spatial control"):
/// `sum_p w(p)^2 F_p F_p^T / sum_p w(p)^2` for a region's weights `mask`
/// (one per position of `features`): the channel correlations within the
/// region only. `None` if the region has no weight here.
pub fn guided_gram(features: &Tensor, mask: &[f32]) -> Option<Gram> {
    let (guide, _) = normalised_guide(mask)?;
    Some(gram(&weighted(features, &guide)))
}

/// The style loss of one region: `|G_r - A|^2 / |A|^2` for the activations'
/// guided Gram matrix `G_r` (see [`guided_gram`]) and the region's target `A`.
#[derive(Clone, Debug)]
pub struct GuidedStyleLoss {
    loss: StyleLoss,
    /// The region's weights at this layer, normalised as `normalised_guide` says.
    guide: Vec<f32>,
}

impl GuidedStyleLoss {
    /// The loss for a region whose weights at this layer's positions are
    /// `mask`, and the region's share of the layer (`sum w^2 / M`); `None`
    /// if the region has no weight here.
    pub fn new(target: Gram, mask: &[f32]) -> Option<(Self, f64)> {
        let (guide, share) = normalised_guide(mask)?;
        Some((
            Self {
                loss: StyleLoss::new(target),
                guide,
            },
            share,
        ))
    }

    pub fn target(&self) -> &Gram {
        self.loss.target()
    }

    /// The loss and its gradient: the plain style loss of the weighted
    /// activations `F w`, whose gradient is carried back through the
    /// weighting (times `w` again).
    pub fn value_and_grad(&self, features: &Tensor) -> (f64, Tensor) {
        self.value_and_weighted_grad(features, 1.0)
    }

    /// The loss, and its gradient times `weight`.
    pub fn value_and_weighted_grad(&self, features: &Tensor, weight: f32) -> (f64, Tensor) {
        let (value, grad) = self
            .loss
            .value_and_weighted_grad(&weighted(features, &self.guide), weight);
        (value, weighted(&grad, &self.guide))
    }

    /// The loss, with its gradient times `weight` added into `grad`.
    pub fn add_weighted_grad(&self, features: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
        let (value, g) = self.value_and_weighted_grad(features, weight);
        grad.add_assign(&g);
        value
    }
}
