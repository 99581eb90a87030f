//! 3x3 convolution by Winograd's minimal filtering, F(4x4, 3x3) (Lavin &
//! Gray, "Fast Algorithms for Convolutional Neural Networks", 2015).
//!
//! Each 4x4 block of output is computed from the 6x6 block of input around
//! it: both the input block `d` and the kernel `g` are carried into a
//! 6x6 "Winograd domain" (`V = Bᵀ d B`, `U = G g Gᵀ`), multiplied element
//! by element, and carried back (`Y = Aᵀ (U ⊙ V) A`). Summed over input
//! channels, the element-wise products become 36 independent matrix
//! products `M[ξ] = U[ξ] V[ξ]` (out x in times in x tiles), which is where
//! the time goes: 36 multiplies per output block instead of 144, a quarter
//! of a direct convolution's.
//!
//! The kernels' transforms `U` are made once and packed for [`gemm_packed`];
//! the input transform writes `V` straight in the layout the products read
//! ([`packed_b_index`]), so it is never copied. The tiles are processed a
//! chunk at a time (transform, 36 products, inverse transform) so that the
//! chunk's `V` and `M` stay in cache.

use rayon::prelude::*;

use crate::gemm::{gemm_packed, packed_b_index, PackedA, NR};

#[cfg(target_arch = "x86_64")]
mod avx512;
use crate::shared_mut::SharedMut;
use crate::Tensor;

/// Output block side, input block side (4 + 3 - 1), and points per block.
const OUT: usize = 4;
const IN: usize = 6;
const POINTS: usize = IN * IN;

/// Target bytes of one chunk's transformed input: within a core's L2 cache.
const CHUNK_BYTES: usize = 1 << 20;

/// `G g Gᵀ` along one axis: 3 kernel taps to 6 Winograd points.
fn kernel_transform(g: [f32; 3]) -> [f32; 6] {
    let [g0, g1, g2] = g;
    [
        g0 / 4.0,
        -(g0 + g1 + g2) / 6.0,
        -(g0 - g1 + g2) / 6.0,
        g0 / 24.0 + g1 / 12.0 + g2 / 6.0,
        g0 / 24.0 - g1 / 12.0 + g2 / 6.0,
        g2,
    ]
}

/// `Bᵀ d` along one axis: 6 input samples to 6 Winograd points.
#[inline(always)]
fn input_transform(d: [f32; 6]) -> [f32; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        4.0 * d0 - 5.0 * d2 + d4,
        -4.0 * (d1 + d2) + d3 + d4,
        4.0 * (d1 - d2) - d3 + d4,
        2.0 * (d3 - d1) - d2 + d4,
        2.0 * (d1 - d3) - d2 + d4,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// `Aᵀ m` along one axis: 6 Winograd points to 4 outputs.
#[inline(always)]
fn output_transform(m: [f32; 6]) -> [f32; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m5,
    ]
}

/// A 3x3 convolution (stride 1, zero padding 1) ready to run by F(4x4, 3x3).
#[derive(Clone, Debug)]
pub struct WinogradConv {
    in_channels: usize,
    out_channels: usize,
    /// For each of the 36 points, the `out x in` matrix of transformed kernels.
    u: Vec<PackedA>,
}

impl WinogradConv {
    /// From OIHW weights.
    pub fn new(in_channels: usize, out_channels: usize, weight: &[f32]) -> Self {
        assert_eq!(weight.len(), out_channels * in_channels * 9);
        let mut u = vec![vec![0.0f32; out_channels * in_channels]; POINTS];
        for o in 0..out_channels {
            for i in 0..in_channels {
                let g = &weight[(o * in_channels + i) * 9..][..9];
                // Rows first (each kernel row to 6 points), then columns.
                let rows: [[f32; 6]; 3] = std::array::from_fn(|r| {
                    kernel_transform([g[3 * r], g[3 * r + 1], g[3 * r + 2]])
                });
                for x in 0..IN {
                    let column = kernel_transform([rows[0][x], rows[1][x], rows[2][x]]);
                    for (y, &v) in column.iter().enumerate() {
                        u[y * IN + x][o * in_channels + i] = v;
                    }
                }
            }
        }
        let u = u
            .iter()
            .map(|m| PackedA::pack(m, out_channels, in_channels, in_channels))
            .collect();
        Self {
            in_channels,
            out_channels,
            u,
        }
    }

    pub fn bytes(&self) -> usize {
        self.u.iter().map(PackedA::bytes).sum()
    }

    /// Scratch bytes per thread while running over `height x width`.
    pub fn workspace_bytes(&self, height: usize, width: usize) -> usize {
        workspace_bytes(self.in_channels, self.out_channels, height, width)
    }

    /// `out = conv3x3(input) (+ bias)`.
    pub fn run(&self, input: &Tensor, bias: Option<&[f32]>, out: &mut Tensor) {
        let (c, h, w) = input.shape();
        assert_eq!(c, self.in_channels);
        assert_eq!(out.shape(), (self.out_channels, h, w));
        if h == 0 || w == 0 {
            return;
        }
        let (th, tw) = (h.div_ceil(OUT), w.div_ceil(OUT));
        let tiles = th * tw;
        let out_ptr = SharedMut::new(out.as_mut_slice());
        match plan(self.in_channels, self.out_channels, tiles) {
            Plan::ByTiles(n) => {
                // Each thread takes whole chunks: transform, products, back.
                (0..tiles.div_ceil(n)).into_par_iter().for_each_init(
                    || {
                        (
                            vec![0.0f32; POINTS * c * n],
                            vec![0.0f32; POINTS * self.out_channels * n],
                        )
                    },
                    |(v, m), chunk| {
                        let first = chunk * n;
                        let count = n.min(tiles - first);
                        let tiles_here = Tiles {
                            tw,
                            first,
                            count,
                            column: 0,
                            stride: n,
                        };
                        self.transform_input(input, tiles_here, v);
                        for (point, u) in self.u.iter().enumerate() {
                            self.product(u, point, v, m, n, count);
                        }
                        // SAFETY: each chunk writes the output blocks of its
                        // own tiles only, and `out` outlives the loop.
                        unsafe { self.transform_output(m, bias, tiles_here, out_ptr, (h, w)) };
                    },
                );
            }
            Plan::ByPoints => {
                // Few tiles: transform them all, then share out the 36
                // products (each over every tile), then transform back.
                // Whole panels of NR tiles, as the products read them.
                let stride = tiles.div_ceil(NR) * NR;
                let mut v = vec![0.0f32; POINTS * c * stride];
                let mut m = vec![0.0f32; POINTS * self.out_channels * stride];
                let v_ptr = SharedMut::new(&mut v);
                let row = |ty: usize| Tiles {
                    tw,
                    first: ty * tw,
                    count: tw,
                    column: ty * tw,
                    stride,
                };
                (0..th).into_par_iter().for_each(|ty| {
                    // SAFETY: each tile row writes its own columns of V.
                    let v =
                        unsafe { std::slice::from_raw_parts_mut(v_ptr.get(), POINTS * c * stride) };
                    self.transform_input(input, row(ty), v);
                });
                m.par_chunks_mut(self.out_channels * stride)
                    .enumerate()
                    .for_each(|(point, m_point)| {
                        let b = &v[point * c * stride..(point + 1) * c * stride];
                        gemm_packed(&self.u[point], b, tiles, m_point, stride, false);
                    });
                (0..th).into_par_iter().for_each(|ty| {
                    // SAFETY: each tile row writes its own output rows.
                    unsafe { self.transform_output(&m, bias, row(ty), out_ptr, (h, w)) };
                });
            }
        }
    }

    /// `M[point] = U[point] V[point]` over a chunk of `count` tiles.
    fn product(&self, u: &PackedA, point: usize, v: &[f32], m: &mut [f32], n: usize, count: usize) {
        let (c, k) = (self.in_channels, self.out_channels);
        let b = &v[point * c * n..(point + 1) * c * n];
        gemm_packed(
            u,
            b,
            count,
            &mut m[point * k * n..(point + 1) * k * n],
            n,
            false,
        );
    }

    /// `V[ξ][c][t] = (Bᵀ d B)[ξ]` for `tiles`, each point's `c x stride`
    /// matrix in the products' layout ([`packed_b_index`]).
    fn transform_input(&self, input: &Tensor, tiles: Tiles, v: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512 {
            // SAFETY: detect() chose AVX-512 only where the CPU has it.
            return unsafe { avx512::transform_input(input, tiles, v) };
        }
        self.transform_input_impl(input, tiles, v)
    }

    /// The transform's loops over tiles, inlined into each entry point so
    /// the compiler vectorises them for that entry's instruction set.
    #[inline(always)]
    fn transform_input_impl(&self, input: &Tensor, tiles: Tiles, v: &mut [f32]) {
        let n = tiles.stride;
        {
            let mut scratch = Scratch::default();
            for (ty, tx0, tx1, offset) in tile_rows(tiles.tw, tiles.first, tiles.count) {
                for ch in 0..input.channels() {
                    scratch.transform_input_row(input, ch, ty, tx0, tx1);
                    let c = self.in_channels;
                    for point in 0..POINTS {
                        store_columns(
                            &mut v[point * c * n..][..c * n],
                            c,
                            ch,
                            tiles.column + offset,
                            &scratch.points[point][..tx1 - tx0],
                        );
                    }
                }
            }
        }
    }

    /// `Y = Aᵀ M A` (+ bias) for `tiles`, written into the output.
    ///
    /// # Safety
    /// `out` points to an `out_channels x h x w` tensor whose blocks for
    /// these tiles no other thread writes.
    unsafe fn transform_output(
        &self,
        m: &[f32],
        bias: Option<&[f32]>,
        tiles: Tiles,
        out: SharedMut<f32>,
        hw: (usize, usize),
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512 {
            // SAFETY: AVX-512 is present (detect()); the caller upholds the rest.
            return unsafe { avx512::transform_output(self.out_channels, m, bias, tiles, out, hw) };
        }
        // SAFETY: the caller upholds the contract.
        unsafe { self.transform_output_impl(m, bias, tiles, out, hw) }
    }

    /// See [`WinogradConv::transform_output`]; inlined into each entry point.
    ///
    /// # Safety
    /// As [`WinogradConv::transform_output`].
    #[inline(always)]
    unsafe fn transform_output_impl(
        &self,
        m: &[f32],
        bias: Option<&[f32]>,
        tiles: Tiles,
        out: SharedMut<f32>,
        (h, w): (usize, usize),
    ) {
        let (k, n) = (self.out_channels, tiles.stride);
        {
            let mut scratch = Scratch::default();
            for (ty, tx0, tx1, offset) in tile_rows(tiles.tw, tiles.first, tiles.count) {
                let nt = tx1 - tx0;
                for o in 0..k {
                    let points: [&[f32]; POINTS] = std::array::from_fn(|p| {
                        &m[(p * k + o) * n + tiles.column + offset..][..nt]
                    });
                    let rows = scratch.transform_output_row(points, bias.map_or(0.0, |b| b[o]));
                    for (y, row) in rows.iter().enumerate() {
                        let py = ty * OUT + y;
                        if py >= h {
                            break;
                        }
                        let x0 = tx0 * OUT;
                        let len = (nt * OUT).min(w - x0);
                        // SAFETY: row `py` of channel `o`, columns of this
                        // chunk's tiles only (see the function's contract).
                        let dst = unsafe {
                            std::slice::from_raw_parts_mut(
                                out.get().add((o * h + py) * w + x0),
                                len,
                            )
                        };
                        dst.copy_from_slice(&row[..len]);
                    }
                }
            }
        }
    }
}

/// Writes `values` into row `ch` of a `c`-row matrix in the products'
/// layout ([`packed_b_index`]), from `column` on: a run at a time, split
/// where a panel of [`NR`] columns ends.
fn store_columns(b: &mut [f32], c: usize, ch: usize, column: usize, values: &[f32]) {
    let mut done = 0;
    while done < values.len() {
        let at = column + done;
        let run = (NR - at % NR).min(values.len() - done);
        b[packed_b_index(c, ch, at)..][..run].copy_from_slice(&values[done..done + run]);
        done += run;
    }
}

/// Some consecutive tiles (in row-major order over a grid `tw` tiles wide)
/// and where their columns are in the `V` and `M` matrices.
#[derive(Clone, Copy)]
struct Tiles {
    tw: usize,
    first: usize,
    count: usize,
    /// Column of the first tile.
    column: usize,
    /// Columns of each point's matrices: a whole number of panels of [`NR`].
    stride: usize,
}

/// The chunk's tiles as runs within tile rows: `(row, first column, end
/// column, offset of the run's first tile within the chunk)`.
fn tile_rows(
    tw: usize,
    first: usize,
    count: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let mut t = first;
    std::iter::from_fn(move || {
        if t >= first + count {
            return None;
        }
        let (ty, tx0) = (t / tw, t % tw);
        let tx1 = tw.min(tx0 + first + count - t);
        let run = (ty, tx0, tx1, t - first);
        t += tx1 - tx0;
        Some(run)
    })
}

/// Buffers for transforming one row of tiles, reused across rows.
#[derive(Default)]
struct Scratch {
    /// One input row around the tiles, zero-padded.
    line: Vec<f32>,
    /// `phases[i][l]`: sample `i` (0..6) of tile `l` along the row.
    phases: [Vec<f32>; IN],
    /// `rows[dy][j][l]`: input row `dy` of tile `l`, transformed to point `j`.
    rows: Vec<[Vec<f32>; IN]>,
    /// `points[ξ][l]`: the tile's 36 transformed values.
    points: Vec<Vec<f32>>,
    /// Output: `out_rows[y]`, the 4 output rows of the tiles, side by side.
    out_rows: [Vec<f32>; OUT],
    /// Columns transformed: `columns[x][j][l]` for x in 0..6 (Winograd) rows j 0..4.
    columns: Vec<[Vec<f32>; OUT]>,
}

fn resized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    v.clear();
    v.resize(len, 0.0);
    v
}

/// `Bᵀ d` along one axis, for many tiles at once: `out[j][l]` from `d[i][l]`.
#[inline(always)]
fn input_transform_lanes(d: [&[f32]; 6], out: [&mut [f32]; 6], len: usize) {
    let [d0, d1, d2, d3, d4, d5] = d.map(|s| &s[..len]);
    let [o0, o1, o2, o3, o4, o5] = out;
    for l in 0..len {
        let r = input_transform([d0[l], d1[l], d2[l], d3[l], d4[l], d5[l]]);
        o0[l] = r[0];
        o1[l] = r[1];
        o2[l] = r[2];
        o3[l] = r[3];
        o4[l] = r[4];
        o5[l] = r[5];
    }
}

/// `Aᵀ m` along one axis, for many tiles at once.
#[inline(always)]
fn output_transform_lanes(m: [&[f32]; 6], out: [&mut [f32]; 4], len: usize) {
    let [m0, m1, m2, m3, m4, m5] = m.map(|s| &s[..len]);
    let [o0, o1, o2, o3] = out;
    for l in 0..len {
        let r = output_transform([m0[l], m1[l], m2[l], m3[l], m4[l], m5[l]]);
        o0[l] = r[0];
        o1[l] = r[1];
        o2[l] = r[2];
        o3[l] = r[3];
    }
}

impl Scratch {
    /// Fills `points` with the transforms of tiles `tx0..tx1` of tile row
    /// `ty` in channel `ch`.
    #[inline(always)]
    fn transform_input_row(
        &mut self,
        input: &Tensor,
        ch: usize,
        ty: usize,
        tx0: usize,
        tx1: usize,
    ) {
        let (_, h, w) = input.shape();
        let nt = tx1 - tx0;
        let plane = input.plane(ch);
        self.rows.resize_with(IN, Default::default);
        for dy in 0..IN {
            let y = (ty * OUT + dy) as isize - 1;
            // Samples x0 - 1 .. x0 + 4 nt + 1 of this row, zero outside.
            let x_start = (tx0 * OUT) as isize - 1;
            let line = resized(&mut self.line, OUT * nt + 2);
            if y >= 0 && (y as usize) < h {
                let src = &plane[y as usize * w..(y as usize + 1) * w];
                let lo = x_start.max(0) as usize;
                let hi = ((x_start + line.len() as isize) as usize).min(w);
                if hi > lo {
                    line[(lo as isize - x_start) as usize..][..hi - lo]
                        .copy_from_slice(&src[lo..hi]);
                }
            }
            // Deinterleave: tile l's six samples are line[4l .. 4l + 6].
            for (i, phase) in self.phases.iter_mut().enumerate() {
                let phase = resized(phase, nt);
                for (l, p) in phase.iter_mut().enumerate() {
                    *p = self.line[OUT * l + i];
                }
            }
            let d: [&[f32]; 6] = std::array::from_fn(|i| self.phases[i].as_slice());
            let row = &mut self.rows[dy];
            row.iter_mut().for_each(|r| {
                resized(r, nt);
            });
            let [r0, r1, r2, r3, r4, r5] = row;
            input_transform_lanes(d, [r0, r1, r2, r3, r4, r5], nt);
        }
        // Down the columns: point (jy, jx) from row-transformed values jx.
        self.points.resize_with(POINTS, Vec::new);
        for jx in 0..IN {
            let d: [&[f32]; 6] = std::array::from_fn(|dy| self.rows[dy][jx].as_slice());
            let mut outs: Vec<&mut Vec<f32>> =
                self.points.iter_mut().skip(jx).step_by(IN).collect();
            outs.iter_mut().for_each(|o| {
                resized(o, nt);
            });
            let [o0, o1, o2, o3, o4, o5]: [&mut Vec<f32>; 6] = outs.try_into().expect("six rows");
            input_transform_lanes(d, [o0, o1, o2, o3, o4, o5], nt);
        }
    }

    /// The 4 output rows of tiles whose 36 products are `points` (each
    /// `nt` long), plus `bias`: `out_rows[y][4 l + x]`.
    #[inline(always)]
    fn transform_output_row(&mut self, points: [&[f32]; POINTS], bias: f32) -> &[Vec<f32>; OUT] {
        let nt = points[0].len();
        self.columns.resize_with(IN, Default::default);
        // Down the columns first: for each Winograd column x, rows 0..6 to 4.
        for x in 0..IN {
            let m: [&[f32]; 6] = std::array::from_fn(|r| points[r * IN + x]);
            let col = &mut self.columns[x];
            col.iter_mut().for_each(|c| {
                resized(c, nt);
            });
            let [c0, c1, c2, c3] = col;
            output_transform_lanes(m, [c0, c1, c2, c3], nt);
        }
        // Then along each output row, interleaving the tiles' 4 columns.
        for y in 0..OUT {
            let m: [&[f32]; 6] = std::array::from_fn(|x| self.columns[x][y].as_slice());
            for l in 0..nt {
                let r = output_transform([m[0][l], m[1][l], m[2][l], m[3][l], m[4][l], m[5][l]]);
                let row = &mut self.out_rows[y];
                if l == 0 {
                    resized(row, OUT * nt);
                }
                row[OUT * l..OUT * l + OUT].copy_from_slice(&[
                    r[0] + bias,
                    r[1] + bias,
                    r[2] + bias,
                    r[3] + bias,
                ]);
            }
        }
        &self.out_rows
    }
}

/// How a convolution's tiles are shared among threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Chunks of this many tiles, each done whole by one thread.
    ByTiles(usize),
    /// All tiles at once, the 36 products shared among threads.
    ByPoints,
}

/// Chunks of whole micro-tile widths (`NR` tiles), as many as keep a
/// chunk's buffers near `CHUNK_BYTES`; when that leaves fewer than two
/// chunks per thread, the products are shared out instead.
fn plan(in_channels: usize, out_channels: usize, tiles: usize) -> Plan {
    let threads = rayon::current_num_threads().max(1);
    let per_tile = POINTS * in_channels.max(out_channels) * 4;
    let n = ((CHUNK_BYTES / per_tile) / NR).max(1) * NR;
    if tiles >= 2 * threads * n {
        Plan::ByTiles(n)
    } else {
        Plan::ByPoints
    }
}

/// Scratch bytes a Winograd convolution over `height x width` allocates,
/// over all threads: each chunk's transformed input and products (or, when
/// the products are shared out, the whole layer's). The products read `V`
/// where it is and pack nothing.
pub(crate) fn workspace_bytes(
    in_channels: usize,
    out_channels: usize,
    height: usize,
    width: usize,
) -> usize {
    let tiles = height.div_ceil(OUT) * width.div_ceil(OUT);
    let threads = rayon::current_num_threads().max(1);
    match plan(in_channels, out_channels, tiles) {
        Plan::ByTiles(n) => threads * POINTS * n * (in_channels + out_channels) * 4,
        Plan::ByPoints => POINTS * tiles.div_ceil(NR) * NR * (in_channels + out_channels) * 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;

    fn check(cin: usize, cout: usize, h: usize, w: usize) {
        let weight: Vec<f32> = (0..cout * cin * 9)
            .map(|j| ((j * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
            .collect();
        let bias: Vec<f32> = (0..cout).map(|j| j as f32 * 0.01).collect();
        let x = Tensor::from_vec(
            cin,
            h,
            w,
            (0..cin * h * w)
                .map(|j| ((j * 104729 % 997) as f32 / 997.0) * 2.0)
                .collect(),
        );
        let expected = reference::conv3x3(&x, &weight, Some(&bias), cout);
        let mut out = Tensor::zeros(cout, h, w);
        WinogradConv::new(cin, cout, &weight).run(&x, Some(&bias), &mut out);
        let scale = expected.as_slice().iter().fold(0f32, |a, v| a.max(v.abs()));
        for (a, e) in out.as_slice().iter().zip(expected.as_slice()) {
            assert!(
                (a - e).abs() <= 1e-4 * scale,
                "{cin}->{cout} {h}x{w}: {a} vs {e} (scale {scale})"
            );
        }
    }

    #[test]
    fn chunked_and_shared_out_plans_both_match() {
        // Enough tiles for chunks per thread, with a ragged last chunk.
        let tiles = 2 * rayon::current_num_threads() * 96 + 37;
        let width = 4 * 21;
        let height = 4 * tiles.div_ceil(21) - 1;
        assert!(matches!(
            plan(64, 64, (height.div_ceil(4)) * 21),
            Plan::ByTiles(_)
        ));
        check(64, 64, height, width);
        assert_eq!(plan(64, 64, 12), Plan::ByPoints);
        check(64, 64, 10, 17);
    }

    #[test]
    fn matches_the_direct_convolution_on_every_vgg_shape() {
        // Each VGG-19 layer's channel counts, on small odd-sized images.
        let layers = [
            (64, 64),
            (64, 128),
            (128, 128),
            (128, 256),
            (256, 256),
            (256, 512),
            (512, 512),
        ];
        for (i, &(cin, cout)) in layers.iter().enumerate() {
            let (h, w) = [(13, 9), (8, 8), (5, 11), (9, 6), (4, 4), (7, 3), (3, 5)][i];
            let weight: Vec<f32> = (0..cout * cin * 9)
                .map(|j| ((j * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.1)
                .collect();
            let bias: Vec<f32> = (0..cout).map(|j| j as f32 * 0.01).collect();
            let x = Tensor::from_vec(
                cin,
                h,
                w,
                (0..cin * h * w)
                    .map(|j| ((j * 104729 % 997) as f32 / 997.0) * 2.0)
                    .collect(),
            );
            let expected = reference::conv3x3(&x, &weight, Some(&bias), cout);
            let mut out = Tensor::zeros(cout, h, w);
            WinogradConv::new(cin, cout, &weight).run(&x, Some(&bias), &mut out);
            let scale = expected.as_slice().iter().fold(0f32, |a, v| a.max(v.abs()));
            for (a, e) in out.as_slice().iter().zip(expected.as_slice()) {
                assert!(
                    (a - e).abs() <= 1e-4 * scale,
                    "{cin}->{cout} {h}x{w}: {a} vs {e} (scale {scale})"
                );
            }
        }
    }
}
