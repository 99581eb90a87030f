//! 3x3 convolution, stride 1, zero padding 1: VGG's only convolution.
//!
//! The gradient of such a convolution with respect to its input is itself a
//! 3x3 convolution of the output gradient, with each kernel flipped in both
//! directions and the input and output channels swapped. So [`Conv3x3`]
//! prepares, when the network loads, one convolution for each direction,
//! each by the faster algorithm for its shape:
//!
//! - Winograd F(4x4, 3x3) ([`WinogradConv`]) when it reads 16 channels or
//!   more: a quarter of the multiplications;
//! - a direct convolution otherwise (VGG's first layer, which reads the 3
//!   colour channels): lowered to a matrix product a band of output rows at a
//!   time (im2col), so the lowered input stays a few megabytes however large
//!   the image.
//!
//! Either way the work is spread over threads with rayon.

use rayon::prelude::*;

use crate::gemm::{gemm, PackedA};
use crate::shared_mut::SharedMut;
use crate::winograd::WinogradConv;
use crate::Tensor;

/// Convolutions reading at least this many channels use Winograd.
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// How a convolution runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Winograd where it pays, direct elsewhere (the default).
    Auto,
    /// Always the direct (im2col) path: the plain reference for the fast one.
    Direct,
}

/// One direction's prepared convolution.
#[derive(Clone, Debug)]
enum Prepared {
    /// `out x (in * 9)` kernels, packed.
    Direct {
        in_channels: usize,
        kernels: PackedA,
    },
    Winograd(WinogradConv),
}

impl Prepared {
    fn new(in_channels: usize, out_channels: usize, weight: &[f32], algorithm: Algorithm) -> Self {
        if algorithm == Algorithm::Auto && in_channels >= WINOGRAD_MIN_CHANNELS {
            Prepared::Winograd(WinogradConv::new(in_channels, out_channels, weight))
        } else {
            let depth = in_channels * 9;
            Prepared::Direct {
                in_channels,
                kernels: PackedA::pack(weight, out_channels, depth, depth),
            }
        }
    }

    fn run(&self, input: &Tensor, bias: Option<&[f32]>, out: &mut Tensor) {
        match self {
            Prepared::Direct { kernels, .. } => direct(input, kernels, bias, out),
            Prepared::Winograd(w) => w.run(input, bias, out),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Prepared::Direct { kernels, .. } => kernels.bytes(),
            Prepared::Winograd(w) => w.bytes(),
        }
    }

    fn workspace_bytes(&self, height: usize, width: usize) -> usize {
        let threads = rayon::current_num_threads().max(1).min(height.max(1));
        match self {
            Prepared::Direct { in_channels, .. } => {
                let (rows, _) = band_rows(in_channels * 9, height, width);
                threads * (in_channels * 9 * rows * width * 4 + crate::gemm::WORKSPACE_BYTES)
            }
            Prepared::Winograd(w) => w.workspace_bytes(height, width),
        }
    }
}

/// Weights and bias of one 3x3 convolution, ready for forward and backward.
#[derive(Clone, Debug)]
pub struct Conv3x3 {
    in_channels: usize,
    out_channels: usize,
    bias: Vec<f32>,
    forward: Prepared,
    /// The convolution that maps output gradients to input gradients.
    backward: Prepared,
}

impl Conv3x3 {
    /// `weight` is OIHW: `out_channels x in_channels x 3 x 3`.
    ///
    /// # Panics
    /// If the lengths do not match the channel counts.
    pub fn new(in_channels: usize, out_channels: usize, weight: Vec<f32>, bias: Vec<f32>) -> Self {
        Self::with_algorithm(in_channels, out_channels, &weight, bias, Algorithm::Auto)
    }

    pub fn with_algorithm(
        in_channels: usize,
        out_channels: usize,
        weight: &[f32],
        bias: Vec<f32>,
        algorithm: Algorithm,
    ) -> Self {
        assert_eq!(
            weight.len(),
            out_channels * in_channels * 9,
            "conv weight length"
        );
        assert_eq!(bias.len(), out_channels, "conv bias length");
        let flipped = flip_and_transpose(weight, in_channels, out_channels);
        Self {
            in_channels,
            out_channels,
            bias,
            forward: Prepared::new(in_channels, out_channels, weight, algorithm),
            backward: Prepared::new(out_channels, in_channels, &flipped, algorithm),
        }
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `y = conv(x) + bias`.
    pub fn forward(&self, input: &Tensor) -> Tensor {
        assert_eq!(input.channels(), self.in_channels, "conv input channels");
        let mut out = Tensor::zeros(self.out_channels, input.height(), input.width());
        self.forward.run(input, Some(&self.bias), &mut out);
        out
    }

    /// dL/dx from dL/dy (the bias does not enter it).
    pub fn backward_input(&self, grad_output: &Tensor) -> Tensor {
        assert_eq!(
            grad_output.channels(),
            self.out_channels,
            "conv gradient channels"
        );
        let mut grad_input =
            Tensor::zeros(self.in_channels, grad_output.height(), grad_output.width());
        self.backward.run(grad_output, None, &mut grad_input);
        grad_input
    }

    /// Bytes the prepared weights take.
    pub fn weight_bytes(&self) -> usize {
        self.forward.bytes() + self.backward.bytes() + self.bias.len() * 4
    }

    /// Scratch memory the larger of the two directions allocates while it
    /// runs over an `height x width` image.
    pub fn workspace_bytes(&self, height: usize, width: usize) -> usize {
        self.forward
            .workspace_bytes(height, width)
            .max(self.backward.workspace_bytes(height, width))
    }

    /// Multiply-adds of one forward pass over an `height x width` input, as
    /// a direct convolution counts them (the usual yardstick).
    pub fn flops(&self, height: usize, width: usize) -> u64 {
        2 * 9 * (self.in_channels * self.out_channels * height * width) as u64
    }
}

/// `[in][out][3][3]` with every kernel rotated by 180 degrees.
fn flip_and_transpose(weight: &[f32], in_channels: usize, out_channels: usize) -> Vec<f32> {
    let mut flipped = vec![0.0; weight.len()];
    for o in 0..out_channels {
        for i in 0..in_channels {
            for k in 0..9 {
                flipped[(i * out_channels + o) * 9 + (8 - k)] =
                    weight[(o * in_channels + i) * 9 + k];
            }
        }
    }
    flipped
}

/// [`Conv3x3::workspace_bytes`] for a convolution not yet built.
pub fn conv3x3_workspace_bytes(
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
) -> usize {
    // Built on empty weights: only the shapes matter.
    let shape_only = |cin: usize, cout: usize| -> usize {
        let threads = rayon::current_num_threads().max(1).min(height.max(1));
        if cin >= WINOGRAD_MIN_CHANNELS {
            crate::winograd::workspace_bytes(cin, cout, height, width)
        } else {
            let (rows, _) = band_rows(cin * 9, height, width);
            threads * (cin * 9 * rows * width * 4 + crate::gemm::WORKSPACE_BYTES)
        }
    };
    shape_only(in_channels, out_channels).max(shape_only(out_channels, in_channels))
}

/// Bytes a [`Conv3x3`] keeps once built: both directions' prepared weights
/// and the bias.
pub fn conv3x3_weight_bytes(in_channels: usize, out_channels: usize) -> usize {
    let prepared = |cin: usize, cout: usize| {
        let rows = cout.div_ceil(crate::gemm::MR) * crate::gemm::MR;
        if cin >= WINOGRAD_MIN_CHANNELS {
            36 * rows * cin * 4
        } else {
            rows * cin * 9 * 4
        }
    };
    prepared(in_channels, out_channels) + prepared(out_channels, in_channels) + out_channels * 4
}

/// Target size of one band's lowered input: large enough that the products
/// run near full speed, small enough to stay in cache-friendly territory.
const BAND_BYTES: usize = 2 << 20;

/// Rows per band and number of bands for a lowered matrix `depth` deep:
/// enough bands to keep every thread busy, each within `BAND_BYTES`.
fn band_rows(depth: usize, height: usize, width: usize) -> (usize, usize) {
    let row_bytes = (depth * width * 4).max(1);
    let threads = rayon::current_num_threads().max(1);
    let mut rows_per_band = (BAND_BYTES / row_bytes).clamp(1, height.max(1));
    let min_bands = (2 * threads).min(height.max(1));
    rows_per_band = rows_per_band.min(height.max(1).div_ceil(min_bands));
    (rows_per_band, height.div_ceil(rows_per_band))
}

/// The direct path: `out = conv3x3(input, kernels) (+ bias)`, where
/// `kernels` is `out_channels x (input.channels() * 9)`, packed.
fn direct(input: &Tensor, kernels: &PackedA, bias: Option<&[f32]>, out: &mut Tensor) {
    let (in_channels, height, width) = input.shape();
    let out_channels = kernels.rows();
    assert_eq!(kernels.depth(), in_channels * 9);
    assert_eq!(out.shape(), (out_channels, height, width));
    if height == 0 || width == 0 {
        return;
    }
    let (rows_per_band, bands) = band_rows(in_channels * 9, height, width);
    let plane = height * width;
    let out_ptr = SharedMut::new(out.as_mut_slice());
    let out_len = out.len();
    (0..bands)
        .into_par_iter()
        .for_each_init(Vec::new, |lowered, band| {
            let first_row = band * rows_per_band;
            let rows = rows_per_band.min(height - first_row);
            let n = rows * width;
            lower_band(input, first_row, rows, lowered);
            // SAFETY: each band writes only its own rows `first_row..first_row+rows`
            // of every output channel, so no two bands touch the same element,
            // and `out` outlives the parallel loop.
            let c = unsafe {
                let start = first_row * width;
                std::slice::from_raw_parts_mut(out_ptr.get().add(start), out_len - start)
            };
            if let Some(bias) = bias {
                for (o, &b) in bias.iter().enumerate() {
                    c[o * plane..o * plane + n].fill(b);
                }
            }
            gemm(kernels, lowered, n, n, c, plane, bias.is_some());
        });
}

/// Writes the `(channels*9) x (rows*width)` matrix whose column for output
/// pixel (y, x) holds the 3x3 neighbourhood of (y, x) in every channel
/// (zeros outside the image).
fn lower_band(input: &Tensor, first_row: usize, rows: usize, lowered: &mut Vec<f32>) {
    let (channels, height, width) = input.shape();
    let n = rows * width;
    lowered.clear();
    lowered.resize(channels * 9 * n, 0.0);
    for c in 0..channels {
        let plane = input.plane(c);
        for dy in 0..3 {
            for dx in 0..3 {
                let dst_row = &mut lowered[((c * 9) + dy * 3 + dx) * n..][..n];
                for r in 0..rows {
                    let dst = &mut dst_row[r * width..(r + 1) * width];
                    let y = (first_row + r + dy) as isize - 1;
                    if y < 0 || y >= height as isize {
                        continue; // already zero
                    }
                    let src = &plane[y as usize * width..(y as usize + 1) * width];
                    // The column that falls outside the image stays zero.
                    match dx {
                        0 => dst[1..].copy_from_slice(&src[..width - 1]),
                        1 => dst.copy_from_slice(src),
                        _ => dst[..width - 1].copy_from_slice(&src[1..]),
                    }
                }
            }
        }
    }
}
