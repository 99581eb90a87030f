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
//!
//! A convolution with few output channels (at most 8, or 32 with AVX-512: all of the fast
//! style model's transformer) is computed directly instead: a matrix product's blocks would be
//! mostly padding. Each band of output rows makes the padded input rows it reads (as the
//! stride's phases, so that every tap reads consecutive values), then sums every tap into
//! registers 16 columns and up to 4 (8 with AVX-512) channels at a time.

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
    /// For a convolution with few output channels, the weights as
    /// `[in][ky][kx][out]` for [`Conv2d::run_direct`].
    direct: Option<Vec<f32>>,
    /// For a 3x3 convolution of an input doubled by upsampling, the same as four 2x2 ones of
    /// the input itself ([`Conv2d::phases_of_doubled`]).
    phases: Option<Box<[Conv2d; 4]>>,
    bias: Vec<f32>,
}

/// Output channels up to which a convolution runs directly rather than as a matrix
/// product: the product's blocks are 16 or more rows of output channels, so with 3 or 8 of
/// them most of its work is padding (the fast model's first and last 9x9 layers, and the
/// 3x3 before the last, are 43% of its time that way).
const DIRECT_MAX_OUT: usize = 8;

/// The same bound with the AVX-512 direct kernel, which holds eight channels' sums in
/// registers and goes over the channels eight at a time: up to 32 (the fast model's residual
/// blocks, its strided contractions and its first expansion) it beats lowering the input and
/// multiplying.
const DIRECT_MAX_OUT_AVX512: usize = 32;

/// Output channels up to which a convolution runs directly on this CPU.
fn direct_max_out() -> usize {
    match crate::gemm::Kernel::detect() {
        #[cfg(target_arch = "x86_64")]
        crate::gemm::Kernel::Avx512 => DIRECT_MAX_OUT_AVX512,
        _ => DIRECT_MAX_OUT,
    }
}

/// Output columns one direct-kernel step computes: one AVX-512 register of f32.
const LANES: usize = 16;

/// Output rows a direct-kernel task computes, sharing its padded input rows (a 9x9 kernel
/// reads 8 more rows than the band has, made again by the next band).
const DIRECT_BAND: usize = 24;

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
            direct: (kernel > 1 && out_channels <= direct_max_out()).then(|| {
                let mut w = vec![0.0; weight.len()];
                for o in 0..out_channels {
                    for tap in 0..depth {
                        w[tap * out_channels + o] = weight[o * depth + tap];
                    }
                }
                w
            }),
            phases: None,
            bias,
        }
    }

    /// The same convolution applied to the input enlarged `factor` times by nearest
    /// upsampling (before the padding), without making the enlarged tensor.
    pub fn upsampling_input(mut self, factor: usize) -> Self {
        assert!(factor > 0, "upsampling factor must be positive");
        self.upsample = factor;
        self.phases = self.phases_of_doubled();
        self
    }

    /// The same convolution followed by `activation`, applied to each band while it is in
    /// cache (and before its moments are measured).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self.phases = self.phases_of_doubled();
        self
    }

    /// A 3x3 convolution (reflecting by one) of an input doubled by nearest upsampling, as
    /// four 2x2 convolutions of the input itself, one for each place of an output pixel in
    /// its 2x2 block (its phase): the doubled input repeats every value twice along each axis,
    /// so a pixel's three taps along an axis read two input values, and the taps on the same
    /// value add up. Four taps a pixel instead of nine (at 640x360 the fast model's two
    /// upsampling layers took 3.9 ms where they took 6.1). Reflecting the doubled input by one
    /// reads what repeating the input's edge does.
    fn phases_of_doubled(&self) -> Option<Box<[Conv2d; 4]>> {
        let direct = self.direct.as_ref()?;
        let doubled = self.upsample == 2 && self.kernel == 3 && self.stride == 1;
        if !doubled || self.padding != Padding::Reflect(1) {
            return None;
        }
        let (cin, m) = (self.in_channels, self.out_channels);
        // By phase, the kernel taps along an axis that land on each of the two input values.
        const TAPS: [[&[usize]; 2]; 2] = [[&[0], &[1, 2]], [&[0, 1], &[2]]];
        Some(Box::new(std::array::from_fn(|phase| {
            let (py, px) = (phase / 2, phase % 2);
            let mut weight = vec![0.0; m * cin * 4];
            for o in 0..m {
                for c in 0..cin {
                    for (a, rows) in TAPS[py].iter().enumerate() {
                        for (b, columns) in TAPS[px].iter().enumerate() {
                            weight[((o * cin + c) * 2 + a) * 2 + b] = rows
                                .iter()
                                .flat_map(|ky| columns.iter().map(move |kx| (ky, kx)))
                                .map(|(ky, kx)| direct[((c * 3 + ky) * 3 + kx) * m + o])
                                .sum();
                        }
                    }
                }
            }
            let padding = Padding::Edge {
                top: 1 - py,
                left: 1 - px,
                bottom: py,
                right: px,
            };
            Conv2d::new(cin, m, 2, 1, padding, &weight, self.bias.clone())
                .with_activation(self.activation)
        })))
    }

    /// [`Conv2d::run`] by the four phases: each one's output dealt into its places.
    fn run_phases(
        &self,
        phases: &[Conv2d; 4],
        input: &Tensor,
        with_moments: bool,
    ) -> (Tensor, Vec<Moments>) {
        let (m, h, w) = (self.out_channels, input.height(), input.width());
        let parts: Vec<(Tensor, Vec<Moments>)> =
            phases.iter().map(|p| p.run(input, with_moments)).collect();
        let (out_h, out_w) = (2 * h, 2 * w);
        let write = |out: SharedMut<f32>| {
            (0..m * out_h).into_par_iter().for_each(|row| {
                let (o, y) = (row / out_h, row % out_h);
                let (py, source) = (y % 2, (y / 2) * w);
                let even = &parts[2 * py].0.plane(o)[source..][..w];
                let odd = &parts[2 * py + 1].0.plane(o)[source..][..w];
                // Output row `row` as pairs; written through the pointer, as `written_by`
                // asks.
                let pairs = out.get().wrapping_add(row * out_w).cast::<[f32; 2]>();
                for (x, (&a, &b)) in even.iter().zip(odd).enumerate() {
                    // SAFETY: pair x of output row `row`, inside the tensor and written by
                    // this task only.
                    unsafe { pairs.add(x).write([a, b]) };
                }
            });
        };
        // SAFETY: every output row is written whole by `write`, through the pointer.
        let out = unsafe { Tensor::written_by(m, out_h, out_w, write) };
        let moments = if with_moments {
            (0..m)
                .map(|o| {
                    parts
                        .iter()
                        .fold(Moments::default(), |sum, p| sum.merge(p.1[o]))
                })
                .collect()
        } else {
            Vec::new()
        };
        (out, moments)
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
        if let Some(phases) = &self.phases {
            return self.run_phases(phases, input, with_moments);
        }
        if let Some(weights) = &self.direct {
            return self.run_direct(input, weights, with_moments);
        }
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
        (out, merged_moments(&per_task, m, with_moments))
    }

    /// A convolution with few output channels, computed directly: for each band of output
    /// rows, the padded (and upsampled) input rows it reads are made once, then every output
    /// channel of [`LANES`] columns at a time is accumulated in registers over all the taps.
    ///
    /// With a stride, each padded row is kept as its `stride` phases (columns p, p + s,
    /// p + 2s, ... in phase p), so that a tap still reads LANES consecutive values: output
    /// column x's tap kx is phase kx % s at x + kx / s. (Lowering a strided input for a
    /// matrix product copied every value nine times and was most of those layers' time.)
    fn run_direct(
        &self,
        input: &Tensor,
        weights: &[f32],
        with_moments: bool,
    ) -> (Tensor, Vec<Moments>) {
        let (height, width) = (input.height(), input.width());
        let (out_h, out_w) = self
            .output_size(height, width)
            .expect("input too small for the convolution");
        let (k, m, s) = (self.kernel, self.out_channels, self.stride);
        let plane = out_h * out_w;
        let (top, bottom) = self.padding.rows();
        let rows = AxisMap::new(self.padding, top, bottom, height, self.upsample);
        let (left, right) = self.padding.columns();
        let columns = AxisMap::new(self.padding, left, right, width, self.upsample);
        // Each phase of a padded row is long enough for whole LANES-wide steps past the last
        // column.
        let blocks = out_w.div_ceil(LANES);
        let phase_w = blocks * LANES + (k - 1).div_ceil(s);
        let padded_w = s * phase_w;
        let tap_offsets: Vec<usize> = (0..k).map(|kx| kx % s * phase_w + kx / s).collect();
        let bands = out_h.div_ceil(DIRECT_BAND);
        let mut per_band: Vec<Vec<Moments>> = Vec::new();
        let write = |out_ptr: SharedMut<f32>| {
            per_band = (0..bands)
                .into_par_iter()
                .map_init(
                    || (Vec::new(), Vec::new()),
                    |(padded, line_buf): &mut (Vec<f32>, Vec<f32>), band| {
                        let first_row = band * DIRECT_BAND;
                        let band_rows = DIRECT_BAND.min(out_h - first_row);
                        let in_rows = (band_rows - 1) * s + k;
                        // Every value the sums use is written below, so the buffer is not cleared
                        // for each band (that was a tenth of a video frame's time): what lies past
                        // the last column only reaches lanes that are never stored.
                        let needed = self.in_channels * in_rows * padded_w;
                        if padded.len() < needed {
                            padded.resize(needed, 0.0);
                        }
                        for c in 0..self.in_channels {
                            for r in 0..in_rows {
                                let slot = &mut padded[(c * in_rows + r) * padded_w..][..padded_w];
                                let source = rows.0[first_row * s + r]
                                    .map(|y| &input.plane(c)[y * width..][..width]);
                                self.padded_row(source, &columns, phase_w, slot, line_buf);
                            }
                        }
                        let band_out = out_ptr;
                        let geometry = DirectBand {
                            in_channels: self.in_channels,
                            kernel: k,
                            stride: s,
                            tap_offsets: &tap_offsets,
                            in_rows,
                            padded_w,
                            out_w,
                            plane,
                            first_row,
                            band_rows,
                        };
                        // SAFETY: each band writes its own output rows of every channel, and `out`
                        // outlives the parallel loop.
                        unsafe { direct_band(m, &geometry, padded, weights, &self.bias, band_out) };
                        let mut moments = Vec::new();
                        for o in 0..m {
                            // SAFETY: this band's rows of channel `o`, written above by this task only.
                            let rows_out = unsafe {
                                std::slice::from_raw_parts_mut(
                                    band_out.get().add(o * plane + first_row * out_w),
                                    band_rows * out_w,
                                )
                            };
                            if self.activation != Activation::Identity {
                                self.activation.apply_slice(rows_out);
                            }
                            if with_moments {
                                moments.push(Moments::of(rows_out));
                            }
                        }
                        moments
                    },
                )
                .collect();
        };
        // SAFETY: the bands together cover every output row, and each band stores every
        // column of its rows in all `m` channels through the pointer (`direct_band`); a
        // band's rows are read (activation, moments) only after its own task wrote them.
        let out = unsafe { Tensor::written_by(m, out_h, out_w, write) };
        (out, merged_moments(&per_band, m, with_moments))
    }

    /// An input row (`None`: a row of zero padding), padded and upsampled, into `slot` as its
    /// `stride` phases of `phase_w` values each; `line` is scratch space.
    fn padded_row(
        &self,
        source: Option<&[f32]>,
        columns: &AxisMap,
        phase_w: usize,
        slot: &mut [f32],
        line: &mut Vec<f32>,
    ) {
        let Some(source) = source else {
            slot.fill(0.0);
            return;
        };
        let (s, u, width) = (self.stride, self.upsample, source.len());
        let len = columns.0.len();
        // Unstrided, the padded row is the slot; strided, it is made in `line` and dealt out.
        if s > 1 && line.len() < len {
            line.resize(len, 0.0);
        }
        let dst = if s == 1 {
            &mut slot[..len]
        } else {
            &mut line[..len]
        };
        // The inside by copying (or repeating, when upsampling), the padding through the
        // column map.
        let left = self.padding.columns().0;
        let inside = &mut dst[left..left + width * u];
        match u {
            1 => inside.copy_from_slice(source),
            // Pairs of a known size: filling a chunk whose size is known only at run time
            // was a call per value.
            2 => {
                for (pair, &v) in inside.chunks_exact_mut(2).zip(source) {
                    pair.copy_from_slice(&[v, v]);
                }
            }
            u => {
                for (chunk, &v) in inside.chunks_exact_mut(u).zip(source) {
                    chunk.fill(v);
                }
            }
        }
        for t in (0..left).chain(left + width * u..len) {
            dst[t] = columns.0[t].map_or(0.0, |i| source[i]);
        }
        let line = &line[..if s > 1 { len } else { 0 }];
        match s {
            1 => {}
            2 => {
                let (even, odd) = slot.split_at_mut(phase_w);
                for ((e, o), pair) in even.iter_mut().zip(odd).zip(line.chunks_exact(2)) {
                    (*e, *o) = (pair[0], pair[1]);
                }
                if len % 2 == 1 {
                    even[len / 2] = line[len - 1];
                }
            }
            _ => {
                for (phase, to) in slot.chunks_exact_mut(phase_w).enumerate() {
                    for (t, &v) in to.iter_mut().zip(line[phase..].iter().step_by(s)) {
                        *t = v;
                    }
                }
            }
        }
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
                            // Strided: every `s`-th value, without a division per value
                            // (dividing by a stride known only at run time was a tenth of a
                            // fast video frame).
                            (s, 1) => {
                                for (v, &x) in
                                    inside.iter_mut().zip(line[first..].iter().step_by(s))
                                {
                                    *v = x;
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

/// Each of the `m` output channels' moments over every task's part of it (none unless
/// `with_moments`).
fn merged_moments(per_task: &[Vec<Moments>], m: usize, with_moments: bool) -> Vec<Moments> {
    if !with_moments {
        return Vec::new();
    }
    (0..m)
        .map(|o| {
            per_task
                .iter()
                .map(|t| t[o])
                .fold(Moments::default(), Moments::merge)
        })
        .collect()
}

/// The shape of one band of a direct convolution: its padded input rows (`in_rows` of
/// `padded_w` per input channel) and where its `band_rows` output rows go.
struct DirectBand<'a> {
    in_channels: usize,
    kernel: usize,
    stride: usize,
    /// Where in a padded row each kernel column's LANES values start (its phase's start
    /// plus `kx / stride`).
    tap_offsets: &'a [usize],
    in_rows: usize,
    padded_w: usize,
    out_w: usize,
    plane: usize,
    first_row: usize,
    band_rows: usize,
}

/// Runs [`direct_band_for`] for `m` output channels, compiled for AVX-512 where the CPU has
/// it (the same code: the compiler vectorises the LANES-wide steps for the wider registers).
///
/// # Safety
/// `out` must hold `m` planes of `g.plane` values, and no other thread may touch this
/// band's rows of them.
unsafe fn direct_band(
    m: usize,
    g: &DirectBand,
    padded: &[f32],
    weights: &[f32],
    bias: &[f32],
    out: SharedMut<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512 {
        // SAFETY: the CPU has AVX-512 (detected); the caller's promise is passed on.
        return unsafe { direct_band_avx512(m, g, padded, weights, bias, out) };
    }
    // SAFETY: the caller's promise, passed on.
    unsafe { direct_band_any(m, g, padded, weights, bias, out) }
}

/// The direct kernel in AVX-512 registers: up to eight output channels a pass, each
/// accumulating two to four column blocks at once.
///
/// Written with intrinsics rather than left to the compiler: with arrays of `f32` lanes, eight
/// channels' sums were spilled to memory, and the four that stayed in registers made four
/// chains of dependent additions, each waiting on the last (a quarter of the two FMA units'
/// rate). Here every weight broadcast feeds `B` independent sums, and `M x B` sums (at most
/// 24 of the 32 registers) hide the latency.
///
/// # Safety
/// The CPU must have AVX-512 F; `out` as for [`direct_band`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn direct_band_avx512(
    m: usize,
    g: &DirectBand,
    padded: &[f32],
    weights: &[f32],
    bias: &[f32],
    out: SharedMut<f32>,
) {
    use avx512_direct::columns;
    for first in (0..m).step_by(avx512_direct::GROUP) {
        let group = Group { first, m };
        // SAFETY: every arm passes the caller's promise on.
        unsafe {
            match avx512_direct::GROUP.min(m - first) {
                1 => columns::<1, 4>(g, group, padded, weights, bias, out),
                2 => columns::<2, 4>(g, group, padded, weights, bias, out),
                3 => columns::<3, 4>(g, group, padded, weights, bias, out),
                4 => columns::<4, 4>(g, group, padded, weights, bias, out),
                5 => columns::<5, 3>(g, group, padded, weights, bias, out),
                6 => columns::<6, 3>(g, group, padded, weights, bias, out),
                7 => columns::<7, 3>(g, group, padded, weights, bias, out),
                _ => columns::<8, 3>(g, group, padded, weights, bias, out),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512_direct {
    use std::arch::x86_64::*;

    use super::{DirectBand, Group, SharedMut, LANES};

    /// Output channels one pass holds in registers.
    pub const GROUP: usize = 8;

    /// [`super::direct_band_for`]'s sums for the group's `M` channels, `B` column blocks at
    /// a time (then one at a time for the blocks left over).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F; `padded` holds the band's rows with whole `LANES`-wide
    /// steps past the last column (as [`super::Conv2d::run_direct`] makes them); `out` as
    /// for [`super::direct_band`].
    #[target_feature(enable = "avx512f")]
    pub unsafe fn columns<const M: usize, const B: usize>(
        g: &DirectBand,
        group: Group,
        padded: &[f32],
        weights: &[f32],
        bias: &[f32],
        out: SharedMut<f32>,
    ) {
        let blocks = g.out_w.div_ceil(LANES);
        let whole = blocks / B * B;
        for r in 0..g.band_rows {
            for block in (0..whole).step_by(B) {
                // SAFETY: passed on; the blocks lie within the row.
                unsafe { sums::<M, B>(g, group, padded, weights, bias, out, r, block) };
            }
            for block in whole..blocks {
                // SAFETY: as above.
                unsafe { sums::<M, 1>(g, group, padded, weights, bias, out, r, block) };
            }
        }
    }

    /// The sums of output row `r`, blocks `first_block..first_block + B`.
    ///
    /// # Safety
    /// As for [`columns`], with the blocks within the row's `out_w.div_ceil(LANES)`.
    #[target_feature(enable = "avx512f")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn sums<const M: usize, const B: usize>(
        g: &DirectBand,
        group: Group,
        padded: &[f32],
        weights: &[f32],
        bias: &[f32],
        out: SharedMut<f32>,
        r: usize,
        first_block: usize,
    ) {
        let k = g.kernel;
        let x0 = first_block * LANES;
        let mut acc = [[_mm512_setzero_ps(); B]; M];
        for (o, sums) in acc.iter_mut().enumerate() {
            *sums = [_mm512_set1_ps(bias[group.first + o]); B];
        }
        let reach = g.tap_offsets.iter().max().copied().unwrap_or(0) + B * LANES;
        for c in 0..g.in_channels {
            for ky in 0..k {
                let row = &padded[(c * g.in_rows + r * g.stride + ky) * g.padded_w + x0..];
                // The reads below reach `(B - 1) * LANES + offset + LANES` values into the row.
                assert!(row.len() >= reach, "a padded row too short");
                let taps = &weights[(c * k + ky) * k * group.m + group.first..];
                assert!(taps.len() >= (k - 1) * group.m + M, "weights too short");
                for (kx, &offset) in g.tap_offsets.iter().enumerate() {
                    let mut v = [_mm512_setzero_ps(); B];
                    for (b, v) in v.iter_mut().enumerate() {
                        // SAFETY: within `row` (asserted above).
                        *v = unsafe { _mm512_loadu_ps(row.as_ptr().add(offset + b * LANES)) };
                    }
                    for (o, sums) in acc.iter_mut().enumerate() {
                        // SAFETY: within `taps` (asserted above).
                        let w = _mm512_set1_ps(unsafe { *taps.get_unchecked(kx * group.m + o) });
                        for (s, &v) in sums.iter_mut().zip(&v) {
                            *s = _mm512_fmadd_ps(w, v, *s);
                        }
                    }
                }
            }
        }
        for (o, sums) in acc.iter().enumerate() {
            let row_start = (group.first + o) * g.plane + (g.first_row + r) * g.out_w;
            for (b, &s) in sums.iter().enumerate() {
                let x = x0 + b * LANES;
                let n = LANES.min(g.out_w - x);
                let mask: __mmask16 = if n == LANES { !0 } else { (1u16 << n) - 1 };
                // SAFETY: the `n` lanes written lie within this band's row of channel `o`
                // (the caller's promise), the others are masked off.
                unsafe { _mm512_mask_storeu_ps(out.get().add(row_start + x), mask, s) };
            }
        }
    }
}

/// The output channels four at a time (at most four: the accumulators of more are spilled
/// to memory, which made eight 20 times slower), each group count its own instance so that
/// the accumulators are a fixed number of registers.
#[inline(always)]
unsafe fn direct_band_any(
    m: usize,
    g: &DirectBand,
    padded: &[f32],
    weights: &[f32],
    bias: &[f32],
    out: SharedMut<f32>,
) {
    for first in (0..m).step_by(GROUP) {
        let group = Group { first, m };
        // SAFETY: every arm passes the caller's promise on.
        unsafe {
            match GROUP.min(m - first) {
                1 => direct_band_for::<1>(g, group, padded, weights, bias, out),
                2 => direct_band_for::<2>(g, group, padded, weights, bias, out),
                3 => direct_band_for::<3>(g, group, padded, weights, bias, out),
                _ => direct_band_for::<4>(g, group, padded, weights, bias, out),
            }
        }
    }
}

/// Output channels one direct-kernel pass accumulates in registers.
const GROUP: usize = 4;

/// Which output channels a pass computes: `first..first + M` of `m`.
#[derive(Clone, Copy)]
struct Group {
    first: usize,
    m: usize,
}

/// `out[o][y][x] = bias[o] + sum over c, ky, kx of w[c][ky][kx][o] * padded[c][y + ky][x + kx]`
/// for this band's rows and the group's `M` channels, LANES columns at a time with the `M`
/// sums held in registers.
#[inline(always)]
unsafe fn direct_band_for<const M: usize>(
    g: &DirectBand,
    group: Group,
    padded: &[f32],
    weights: &[f32],
    bias: &[f32],
    out: SharedMut<f32>,
) {
    let k = g.kernel;
    let mut sums = [[0.0f32; LANES]; M];
    for r in 0..g.band_rows {
        for block in 0..g.out_w.div_ceil(LANES) {
            let x0 = block * LANES;
            for (o, s) in sums.iter_mut().enumerate() {
                *s = [bias[group.first + o]; LANES];
            }
            for c in 0..g.in_channels {
                for ky in 0..k {
                    let row = &padded[(c * g.in_rows + r * g.stride + ky) * g.padded_w + x0..];
                    let taps = &weights[(c * k + ky) * k * group.m..][..k * group.m];
                    for (kx, &offset) in g.tap_offsets.iter().enumerate() {
                        let v: &[f32; LANES] =
                            row[offset..offset + LANES].try_into().expect("LANES");
                        let w: &[f32; M] = taps[kx * group.m + group.first..][..M]
                            .try_into()
                            .expect("M");
                        for o in 0..M {
                            for l in 0..LANES {
                                sums[o][l] += w[o] * v[l];
                            }
                        }
                    }
                }
            }
            let n = LANES.min(g.out_w - x0);
            for (o, s) in sums.iter().enumerate() {
                let at = (group.first + o) * g.plane + (g.first_row + r) * g.out_w + x0;
                // SAFETY: `at + n` lies within this band's row of channel `o` (caller).
                unsafe { std::ptr::copy_nonoverlapping(s.as_ptr(), out.get().add(at), n) };
            }
        }
    }
}
