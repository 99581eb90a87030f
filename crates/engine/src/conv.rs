//! 3x3 convolution, stride 1, zero padding 1: VGG's only convolution.
//!
//! The gradient of such a convolution with respect to its input is itself a
//! 3x3 convolution of the output gradient, with each kernel flipped in both
//! directions and the input and output channels swapped. So one kernel,
//! [`conv3x3_into`], serves both directions: [`Conv3x3`] keeps the weights in
//! both arrangements, made once when the network is loaded.
//!
//! The kernel lowers the convolution to matrix products (im2col) a band of
//! output rows at a time, so the lowered input stays a few megabytes however
//! large the image, and the bands are spread over threads with rayon. The
//! products use `matrixmultiply`, which measured faster than `gemm` on these
//! shapes on our machines and did not crash on any of them.

use rayon::prelude::*;

use crate::Tensor;

/// Weights and bias of one 3x3 convolution, ready for forward and backward.
#[derive(Clone, Debug)]
pub struct Conv3x3 {
    in_channels: usize,
    out_channels: usize,
    /// `[out][in][3][3]` (OIHW), which is also the row-major `out x (in*9)`
    /// matrix the forward product needs.
    weight: Vec<f32>,
    bias: Vec<f32>,
    /// `[in][out][3][3]` with every kernel rotated by 180 degrees: the
    /// weights of the convolution that maps output gradients to input ones.
    weight_backward: Vec<f32>,
}

impl Conv3x3 {
    /// `weight` is OIHW: `out_channels x in_channels x 3 x 3`.
    ///
    /// # Panics
    /// If the lengths do not match the channel counts.
    pub fn new(in_channels: usize, out_channels: usize, weight: Vec<f32>, bias: Vec<f32>) -> Self {
        assert_eq!(weight.len(), out_channels * in_channels * 9, "conv weight length");
        assert_eq!(bias.len(), out_channels, "conv bias length");
        let mut weight_backward = vec![0.0; weight.len()];
        for o in 0..out_channels {
            for i in 0..in_channels {
                for k in 0..9 {
                    weight_backward[(i * out_channels + o) * 9 + (8 - k)] = weight[(o * in_channels + i) * 9 + k];
                }
            }
        }
        Self { in_channels, out_channels, weight, bias, weight_backward }
    }

    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// OIHW weights.
    pub fn weight(&self) -> &[f32] {
        &self.weight
    }

    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// `y = conv(x) + bias`.
    pub fn forward(&self, input: &Tensor) -> Tensor {
        assert_eq!(input.channels(), self.in_channels, "conv input channels");
        let mut out = Tensor::zeros(self.out_channels, input.height(), input.width());
        conv3x3_into(input, &self.weight, self.out_channels, Some(&self.bias), &mut out);
        out
    }

    /// dL/dx from dL/dy (the bias does not enter it).
    pub fn backward_input(&self, grad_output: &Tensor) -> Tensor {
        assert_eq!(grad_output.channels(), self.out_channels, "conv gradient channels");
        let mut grad_input = Tensor::zeros(self.in_channels, grad_output.height(), grad_output.width());
        conv3x3_into(grad_output, &self.weight_backward, self.in_channels, None, &mut grad_input);
        grad_input
    }

    /// Scratch memory one pass (either direction) over an `height x width`
    /// image allocates while it runs: per thread, a lowered band and the
    /// matrix product's packing buffers.
    pub fn workspace_bytes(&self, height: usize, width: usize) -> usize {
        conv3x3_workspace_bytes(self.in_channels, self.out_channels, height, width)
    }

    /// Multiply-adds of one forward pass over an `height x width` input.
    pub fn flops(&self, height: usize, width: usize) -> u64 {
        2 * 9 * (self.in_channels * self.out_channels * height * width) as u64
    }
}

/// Target size of one band's lowered input: large enough that the products
/// run near full speed, small enough to stay in cache-friendly territory.
const BAND_BYTES: usize = 2 << 20;

/// [`Conv3x3::workspace_bytes`] for a convolution not yet built.
pub fn conv3x3_workspace_bytes(in_channels: usize, out_channels: usize, height: usize, width: usize) -> usize {
    let depth = in_channels.max(out_channels) * 9;
    let (rows, _) = band_rows(depth, height, width);
    let threads = rayon::current_num_threads().max(1).min(height.max(1));
    threads * (depth * rows * width * 4 + GEMM_PACKING_BYTES)
}

/// Bytes a [`Conv3x3`] keeps: its weights in both arrangements, and the bias.
pub fn conv3x3_weight_bytes(in_channels: usize, out_channels: usize) -> usize {
    (2 * 9 * in_channels * out_channels + out_channels) * 4
}

/// What one `matrixmultiply::sgemm` call allocates to pack its operands:
/// KC x (MC + NC) floats with its default blocking (256, 64, 1024).
const GEMM_PACKING_BYTES: usize = 256 * (64 + 1024) * 4;

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

/// `out = conv3x3(input, kernels) (+ bias)`, where `kernels` is
/// `out_channels x (input.channels() * 9)`, row-major.
pub fn conv3x3_into(input: &Tensor, kernels: &[f32], out_channels: usize, bias: Option<&[f32]>, out: &mut Tensor) {
    let (in_channels, height, width) = input.shape();
    assert_eq!(kernels.len(), out_channels * in_channels * 9);
    assert_eq!(out.shape(), (out_channels, height, width));
    if height == 0 || width == 0 {
        return;
    }
    let depth = in_channels * 9;
    let (rows_per_band, bands) = band_rows(depth, height, width);

    let out_ptr = SharedMut(out.as_mut_slice().as_mut_ptr());
    (0..bands).into_par_iter().for_each_init(Vec::new, |lowered, band| {
        let first_row = band * rows_per_band;
        let rows = rows_per_band.min(height - first_row);
        let n = rows * width;
        lower_band(input, first_row, rows, lowered);
        // SAFETY: each band writes only its own rows `first_row..first_row+rows`
        // of every output channel, so no two bands touch the same element,
        // and `out` outlives the parallel loop.
        unsafe {
            let c = out_ptr.get().add(first_row * width);
            let plane = (height * width) as isize;
            let beta = match bias {
                Some(bias) => {
                    for (o, &b) in bias.iter().enumerate() {
                        std::slice::from_raw_parts_mut(c.offset(o as isize * plane), n).fill(b);
                    }
                    1.0
                }
                None => 0.0,
            };
            matrixmultiply::sgemm(
                out_channels,
                depth,
                n,
                1.0,
                kernels.as_ptr(),
                depth as isize,
                1,
                lowered.as_ptr(),
                n as isize,
                1,
                beta,
                c,
                plane,
                1,
            );
        }
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

/// A raw pointer that rayon may share between threads writing disjoint parts.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}
impl SharedMut {
    fn get(self) -> *mut f32 {
        self.0
    }
}
