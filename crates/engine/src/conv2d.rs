//! Convolutions of any square kernel size and stride, forward only: what feed-forward
//! networks (the fast style model's transformer and style network) need beyond VGG's 3x3.
//!
//! The input may be padded (zeros or a reflection, [`Padding`]) and enlarged by nearest
//! upsampling; neither is made as a tensor. The convolution is lowered to a matrix product a
//! band of output rows at a time (im2col) by the engine's GEMM, and the lowering reads
//! every input pixel through a row and a column index map that already includes the padding
//! and the upsampling. So an upsample-pad-convolve sequence reads the small tensor and writes
//! only the output, and each band's lowered input stays in cache for its product. Bands run on
//! rayon's threads; a band can also measure the [`Moments`] of its output rows while they are
//! in cache, for the instance normalisation that follows.

use rayon::prelude::*;

use crate::activation::Activation;
use crate::gemm::{gemm, PackedA};
use crate::norm::Moments;
use crate::pad::Padding;
use crate::shared_mut::SharedMut;
use crate::Tensor;

/// Target size of one band's lowered input: it and the band's output stay in the second
/// level cache while the product runs.
const BAND_BYTES: usize = 384 << 10;

/// Output values per parallel task of a 1x1 convolution, which needs no lowering.
const POINTWISE_COLUMNS: usize = 4096;

/// One convolution's packed weights, bias and geometry.
#[derive(Clone, Debug)]
pub struct Conv2d {
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
    upsample: usize,
    activation: Activation,
    kernels: PackedA,
    bias: Vec<f32>,
}

/// Where each padded, upsampled position along one axis reads the input: `None` is a zero.
struct AxisMap(Vec<Option<usize>>);

impl AxisMap {
    fn new(padding: Padding, before: usize, after: usize, len: usize, upsample: usize) -> Self {
        let enlarged = len * upsample;
        AxisMap(
            (0..enlarged + before + after)
                .map(|t| padding.source(t, before, enlarged).map(|i| i / upsample))
                .collect(),
        )
    }
}

impl Conv2d {
    /// `weight` is OIHW: `out_channels x in_channels x kernel x kernel`.
    ///
    /// # Panics
    /// If the lengths do not match, or the kernel or stride is zero.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        weight: &[f32],
        bias: Vec<f32>,
    ) -> Self {
        assert!(
            kernel > 0 && stride > 0,
            "kernel and stride must be positive"
        );
        let depth = in_channels * kernel * kernel;
        assert_eq!(weight.len(), out_channels * depth, "conv weight length");
        assert_eq!(bias.len(), out_channels, "conv bias length");
        Self {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
            upsample: 1,
            activation: Activation::Identity,
            kernels: PackedA::pack(weight, out_channels, depth, depth),
            bias,
        }
    }

    /// The same convolution applied to the input enlarged `factor` times by nearest
    /// upsampling (before the padding), without making the enlarged tensor.
    pub fn upsampling_input(mut self, factor: usize) -> Self {
        assert!(factor > 0, "upsampling factor must be positive");
        self.upsample = factor;
        self
    }

    /// The same convolution followed by `activation`, applied to each band while it is in
    /// cache (and before its moments are measured).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// The output's `(height, width)` for an input of `height x width`, or `None` when the
    /// input is too small for the kernel or the reflection.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let axis = |len: usize, (before, after): (usize, usize)| {
            let enlarged = len * self.upsample;
            let padded = enlarged + before + after;
            (enlarged > 0 && self.padding.fits(enlarged) && padded >= self.kernel)
                .then(|| (padded - self.kernel) / self.stride + 1)
        };
        Some((
            axis(height, self.padding.rows())?,
            axis(width, self.padding.columns())?,
        ))
    }

    /// `activation(conv(x) + bias)`.
    ///
    /// # Panics
    /// If the channels do not match, or the input is too small ([`Conv2d::output_size`]).
    pub fn forward(&self, input: &Tensor) -> Tensor {
        self.run(input, false).0
    }

    /// [`Conv2d::forward`], and the moments of each output channel.
    pub fn forward_with_moments(&self, input: &Tensor) -> (Tensor, Vec<Moments>) {
        self.run(input, true)
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == 1 && self.stride == 1 && self.upsample == 1 && self.padding == Padding::NONE
    }

    fn run(&self, input: &Tensor, with_moments: bool) -> (Tensor, Vec<Moments>) {
        assert_eq!(input.channels(), self.in_channels, "conv input channels");
        let (height, width) = (input.height(), input.width());
        let (out_h, out_w) = self
            .output_size(height, width)
            .expect("input too small for the convolution");
        let mut out = Tensor::zeros(self.out_channels, out_h, out_w);
        let plane = out_h * out_w;
        let out_ptr = SharedMut::new(out.as_mut_slice());
        let out_len = out.len();
        let (m, depth) = (self.out_channels, self.kernels.depth());
        // Each task computes output columns `first..first + n` of every channel.
        let task = |first: usize, n: usize, b: &[f32], ldb: usize| -> Vec<Moments> {
            // SAFETY: tasks write disjoint column ranges of every output channel, and `out`
            // outlives the parallel loop.
            let c = unsafe {
                std::slice::from_raw_parts_mut(out_ptr.get().add(first), out_len - first)
            };
            for (o, &b) in self.bias.iter().enumerate() {
                c[o * plane..o * plane + n].fill(b);
            }
            gemm(&self.kernels, b, ldb, n, c, plane, true);
            if self.activation != Activation::Identity {
                for o in 0..m {
                    self.activation.apply_slice(&mut c[o * plane..][..n]);
                }
            }
            if with_moments {
                (0..m).map(|o| Moments::of(&c[o * plane..][..n])).collect()
            } else {
                Vec::new()
            }
        };
        let per_task: Vec<Vec<Moments>> = if self.is_pointwise() {
            let tasks = plane.div_ceil(POINTWISE_COLUMNS);
            (0..tasks)
                .into_par_iter()
                .map(|t| {
                    let first = t * POINTWISE_COLUMNS;
                    let n = POINTWISE_COLUMNS.min(plane - first);
                    task(first, n, &input.as_slice()[first..], plane)
                })
                .collect()
        } else {
            let (top, bottom) = self.padding.rows();
            let rows = AxisMap::new(self.padding, top, bottom, height, self.upsample);
            let (left, right) = self.padding.columns();
            let columns = AxisMap::new(self.padding, left, right, width, self.upsample);
            let band = (BAND_BYTES / (depth * out_w * 4).max(1))
                .clamp(1, out_h.div_ceil(4 * rayon::current_num_threads()).max(1));
            let bands = out_h.div_ceil(band);
            (0..bands)
                .into_par_iter()
                .map_init(Vec::new, |lowered, i| {
                    let first_row = i * band;
                    let band_rows = band.min(out_h - first_row);
                    let n = band_rows * out_w;
                    self.lower(input, &rows, &columns, first_row, band_rows, out_w, lowered);
                    task(first_row * out_w, n, lowered, n)
                })
                .collect()
        };
        let moments = if with_moments {
            (0..m)
                .map(|o| {
                    per_task
                        .iter()
                        .map(|t| t[o])
                        .fold(Moments::default(), Moments::merge)
                })
                .collect()
        } else {
            Vec::new()
        };
        (out, moments)
    }

    /// Writes the `depth x (band_rows * out_w)` matrix whose column for output pixel (y, x)
    /// holds the kernel's window at (y, x) in every channel.
    #[allow(clippy::too_many_arguments)]
    fn lower(
        &self,
        input: &Tensor,
        rows: &AxisMap,
        columns: &AxisMap,
        first_row: usize,
        band_rows: usize,
        out_w: usize,
        lowered: &mut Vec<f32>,
    ) {
        let (k, s, u) = (self.kernel, self.stride, self.upsample);
        let width = input.width();
        let n = band_rows * out_w;
        // Every value is written below, so only a longer buffer needs initialising.
        lowered.resize(self.kernels.depth() * n, 0.0);
        let (left, _) = self.padding.columns();
        // For each kernel column: the stretch of output columns `lo..hi` that read inside the
        // (upsampled) input, where the source is `(x * s + kx - left) / u` with no padding
        // to resolve; the columns outside it read through the padding map.
        let stretches: Vec<(usize, usize)> = (0..k)
            .map(|kx| {
                let lo = left.saturating_sub(kx).div_ceil(s).min(out_w);
                let hi = (width * u + left)
                    .saturating_sub(kx)
                    .div_ceil(s)
                    .clamp(lo, out_w);
                (lo, hi)
            })
            .collect();
        for c in 0..self.in_channels {
            let plane = input.plane(c);
            for ky in 0..k {
                for (kx, &(lo, hi)) in stretches.iter().enumerate() {
                    let dst_row = &mut lowered[((c * k + ky) * k + kx) * n..][..n];
                    for r in 0..band_rows {
                        let dst = &mut dst_row[r * out_w..][..out_w];
                        let Some(y) = rows.0[(first_row + r) * s + ky] else {
                            dst.fill(0.0); // a row of zero padding
                            continue;
                        };
                        let line = &plane[y * width..][..width];
                        let inside = &mut dst[lo..hi];
                        // The upsampled column that `lo` reads (`hi > lo` implies no underflow).
                        let first = if hi > lo { lo * s + kx - left } else { 0 };
                        match (s, u) {
                            (1, 1) => inside.copy_from_slice(&line[first..first + (hi - lo)]),
                            (1, 2) => {
                                for (i, v) in inside.iter_mut().enumerate() {
                                    *v = line[(first + i) >> 1];
                                }
                            }
                            _ => {
                                for (i, v) in inside.iter_mut().enumerate() {
                                    *v = line[(first + i * s) / u];
                                }
                            }
                        }
                        for x in (0..lo).chain(hi..out_w) {
                            dst[x] = columns.0[x * s + kx].map_or(0.0, |i| line[i]);
                        }
                    }
                }
            }
        }
    }
}
