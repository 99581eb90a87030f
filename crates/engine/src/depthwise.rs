//! Depthwise 3x3 convolution (one filter per channel, ONNX `Conv` with `group` equal to the
//! channels), zero padding, stride 1 or 2, with its bias and activation fused: MobileNet's
//! spatial filtering. Computed directly, a channel per task: with a single input channel per
//! output there is no matrix product to lower to.

use rayon::prelude::*;

use crate::activation::Activation;
use crate::pad::Padding;
use crate::Tensor;

/// One depthwise convolution's weights and geometry.
#[derive(Clone, Debug)]
pub struct DepthwiseConv3x3 {
    channels: usize,
    stride: usize,
    padding: Padding,
    /// `channels x 9`.
    weight: Vec<f32>,
    bias: Vec<f32>,
    activation: Activation,
}

impl DepthwiseConv3x3 {
    /// `weight` is `channels x 1 x 3 x 3`.
    ///
    /// # Panics
    /// If the lengths do not match, the stride is zero or the padding is a reflection.
    pub fn new(
        channels: usize,
        stride: usize,
        padding: Padding,
        weight: Vec<f32>,
        bias: Vec<f32>,
        activation: Activation,
    ) -> Self {
        assert_eq!(weight.len(), channels * 9, "depthwise weight length");
        assert_eq!(bias.len(), channels, "depthwise bias length");
        assert!(stride > 0, "stride must be positive");
        assert!(
            matches!(padding, Padding::Zero { .. }),
            "depthwise pads with zeros only"
        );
        Self {
            channels,
            stride,
            padding,
            weight,
            bias,
            activation,
        }
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The output's `(height, width)`, or `None` if the padded input is smaller than 3x3.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let axis = |len: usize, (before, after): (usize, usize)| {
            let padded = len + before + after;
            (len > 0 && padded >= 3).then(|| (padded - 3) / self.stride + 1)
        };
        Some((
            axis(height, self.padding.rows())?,
            axis(width, self.padding.columns())?,
        ))
    }

    /// `activation(depthwise_conv(x) + bias)`.
    ///
    /// # Panics
    /// If the channels differ or the input is too small.
    pub fn forward(&self, input: &Tensor) -> Tensor {
        let (c, h, w) = input.shape();
        assert_eq!(c, self.channels, "depthwise input channels");
        let (oh, ow) = self
            .output_size(h, w)
            .expect("input too small for the depthwise convolution");
        let (top, _) = self.padding.rows();
        let (left, _) = self.padding.columns();
        let s = self.stride;
        // For each kernel column, the output columns whose input column is inside the image.
        let stretches: Vec<(usize, usize)> = (0..3)
            .map(|kx| {
                let lo = left.saturating_sub(kx).div_ceil(s).min(ow);
                let hi = (w + left).saturating_sub(kx).div_ceil(s).clamp(lo, ow);
                (lo, hi)
            })
            .collect();
        let mut out = Tensor::zeros(c, oh, ow);
        out.as_mut_slice()
            .par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(ch, dst)| {
                let src = input.plane(ch);
                let k = &self.weight[ch * 9..][..9];
                for y in 0..oh {
                    let row = &mut dst[y * ow..][..ow];
                    row.fill(self.bias[ch]);
                    for ky in 0..3 {
                        let Some(sy) = (y * s + ky).checked_sub(top).filter(|&sy| sy < h) else {
                            continue;
                        };
                        let line = &src[sy * w..][..w];
                        for (kx, &(lo, hi)) in stretches.iter().enumerate() {
                            let wgt = k[ky * 3 + kx];
                            // Columns lo..hi read inside the input; the rest read zeros.
                            if hi > lo {
                                let first = lo * s + kx - left;
                                for (i, v) in row[lo..hi].iter_mut().enumerate() {
                                    *v += wgt * line[first + i * s];
                                }
                            }
                        }
                    }
                    self.activation.apply_slice(row);
                }
            });
        out
    }
}
