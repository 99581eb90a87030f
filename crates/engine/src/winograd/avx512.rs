//! The Winograd transforms with AVX-512: sixteen tiles per vector.
//!
//! A tile row's input line is deinterleaved into its six sample phases
//! (`line[4l + i]` for tile `l`) with two-source permutes, so that every
//! tile's arithmetic is the same vector arithmetic; the inverse transform
//! interleaves the four output columns back the same way.

use std::arch::x86_64::*;

#[cfg(test)]
use super::{input_transform, output_transform};
use super::{tile_rows, Tiles, IN, OUT, POINTS};
use crate::gemm::{packed_b_index, NR};
use crate::shared_mut::SharedMut;
use crate::Tensor;

/// Tiles per vector.
pub(super) const LANES: usize = 16;

// Every helper carries the feature itself: AVX-512 intrinsics inline only
// into functions compiled with it.

/// Indices picking lanes `4l + i` (l = 0..8) out of two vectors (32 lanes).
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn stride4(i: i32) -> __m512i {
    _mm512_setr_epi32(
        i,
        4 + i,
        8 + i,
        12 + i,
        16 + i,
        20 + i,
        24 + i,
        28 + i,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    )
}

/// The low eight lanes of `a` then the low eight lanes of `b`.
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn low_halves(a: __m512, b: __m512) -> __m512 {
    _mm512_shuffle_f32x4(a, b, 0b01_00_01_00)
}

/// Phase `i` of 64 samples in four vectors: `v[4l + i]` for l in 0..16.
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn phase(v: &[__m512; 4], i: i32) -> __m512 {
    let idx = stride4(i);
    low_halves(
        _mm512_permutex2var_ps(v[0], idx, v[1]),
        _mm512_permutex2var_ps(v[2], idx, v[3]),
    )
}

/// `phase` shifted by one tile, with `next` entering as tile 15.
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn shifted(phase: __m512, next: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_alignr_epi32(
        _mm512_castps_si512(next),
        _mm512_castps_si512(phase),
        1,
    ))
}

/// Samples one input row gives a block of 16 tiles: 4 per tile and the
/// next tile's first 2.
pub(super) const LINE: usize = OUT * LANES + 2;

/// One input row of a block of 16 tiles: the [`LINE`] samples from
/// `start`, of which those at offsets `lo..hi` are inside the image and
/// the rest read as zero (the padding), without being read.
#[derive(Clone, Copy)]
pub(super) struct Line {
    pub start: *const f32,
    pub lo: usize,
    pub hi: usize,
}

impl Line {
    /// A row above or below the image: all zero.
    pub(super) const OUTSIDE: Line = Line {
        start: std::ptr::null(),
        lo: 0,
        hi: 0,
    };

    /// Which of the 16 samples from offset `from` are inside.
    fn mask(&self, from: usize) -> __mmask16 {
        let lo = self.lo.clamp(from, from + LANES) - from;
        let hi = self.hi.clamp(from, from + LANES) - from;
        if lo < hi {
            lane_mask(lo, hi)
        } else {
            0
        }
    }

    /// Sample `at`, or zero outside.
    ///
    /// # Safety
    /// Samples `lo..hi` from `start` are readable.
    unsafe fn sample(&self, at: usize) -> f32 {
        if (self.lo..self.hi).contains(&at) {
            // SAFETY: inside lo..hi (the contract).
            unsafe { *self.start.wrapping_add(at) }
        } else {
            0.0
        }
    }
}

/// `line[4l + i]` for l in 0..16, i in 0..6.
///
/// # Safety
/// The CPU has AVX-512F, and samples `lo..hi` from `line.start` are readable.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn phases(line: Line) -> [__m512; IN] {
    // SAFETY: masked loads touch only the lanes inside lo..hi (the contract).
    let v: [__m512; 4] = std::array::from_fn(|q| unsafe {
        _mm512_maskz_loadu_ps(line.mask(16 * q), line.start.wrapping_add(16 * q))
    });
    let (p0, p1, p2, p3) = (phase(&v, 0), phase(&v, 1), phase(&v, 2), phase(&v, 3));
    // Samples 4 and 5 are samples 0 and 1 of the next tile.
    // SAFETY: `sample` reads only inside lo..hi (the contract).
    let (s64, s65) = unsafe { (line.sample(64), line.sample(65)) };
    let (s64, s65) = (_mm512_set1_ps(s64), _mm512_set1_ps(s65));
    [p0, p1, p2, p3, shifted(p0, s64), shifted(p1, s65)]
}

/// `Bᵀ d` on vectors.
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn input_transform_v(d: [__m512; IN]) -> [__m512; IN] {
    let [d0, d1, d2, d3, d4, d5] = d;
    let four = _mm512_set1_ps(4.0);
    let five = _mm512_set1_ps(5.0);
    let two = _mm512_set1_ps(2.0);
    let d4_minus_4d2 = _mm512_fnmadd_ps(four, d2, d4);
    let d3_minus_4d1 = _mm512_fnmadd_ps(four, d1, d3);
    let d4_minus_d2 = _mm512_sub_ps(d4, d2);
    let d3_minus_d1 = _mm512_sub_ps(d3, d1);
    [
        _mm512_add_ps(_mm512_fnmadd_ps(five, d2, _mm512_mul_ps(four, d0)), d4),
        _mm512_add_ps(d4_minus_4d2, d3_minus_4d1),
        _mm512_sub_ps(d4_minus_4d2, d3_minus_4d1),
        _mm512_fmadd_ps(two, d3_minus_d1, d4_minus_d2),
        _mm512_fnmadd_ps(two, d3_minus_d1, d4_minus_d2),
        _mm512_add_ps(_mm512_fnmadd_ps(five, d3, _mm512_mul_ps(four, d1)), d5),
    ]
}

/// `Aᵀ m` on vectors.
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn output_transform_v(m: [__m512; IN]) -> [__m512; OUT] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (s12, d12) = (_mm512_add_ps(m1, m2), _mm512_sub_ps(m1, m2));
    let (s34, d34) = (_mm512_add_ps(m3, m4), _mm512_sub_ps(m3, m4));
    [
        _mm512_add_ps(_mm512_add_ps(m0, s12), s34),
        _mm512_fmadd_ps(_mm512_set1_ps(2.0), d34, d12),
        _mm512_fmadd_ps(_mm512_set1_ps(4.0), s34, s12),
        _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0), d34, d12), m5),
    ]
}

/// The mask of lanes `lo..hi`.
pub(super) fn lane_mask(lo: usize, hi: usize) -> __mmask16 {
    debug_assert!(lo <= hi && hi <= LANES);
    (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
}

/// Where the 16 lanes of each Winograd point go: point `p`'s lanes in
/// `mask[i]` to `base + p * point_stride + at[i]` (lane `l` at offset `l`
/// from there). Two parts, because 16 consecutive tiles may straddle two
/// panels of the products' layout; masked-out lanes are not written.
#[derive(Clone, Copy)]
pub(super) struct Destination {
    pub base: *mut f32,
    pub point_stride: usize,
    pub at: [usize; 2],
    pub mask: [__mmask16; 2],
}

/// Transforms 16 tiles of one channel. `lines[dy]` is input row `dy` of
/// the tiles' blocks, from the sample left of the first tile; the 16 values
/// of each point go to `out`.
///
/// # Safety
/// AVX-512F; each line's samples `lo..hi` are readable, and `out` is
/// valid for the lanes its masks store.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn input_tiles(lines: [Line; IN], out: Destination) {
    // Along the rows, then down the columns.
    let mut rows = [[_mm512_setzero_ps(); IN]; IN];
    for (row, line) in rows.iter_mut().zip(lines) {
        // SAFETY: AVX-512F and readable samples lo..hi (the contract).
        *row = unsafe { input_transform_v(phases(line)) };
    }
    // `jx` picks a column of all six rows (a transpose), not one slice's items.
    #[allow(clippy::needless_range_loop)]
    for jx in 0..IN {
        let d = [
            rows[0][jx],
            rows[1][jx],
            rows[2][jx],
            rows[3][jx],
            rows[4][jx],
            rows[5][jx],
        ];
        // SAFETY: AVX-512F (the contract).
        let column = unsafe { input_transform_v(d) };
        for (jy, value) in column.into_iter().enumerate() {
            let point = out.base.wrapping_add((jy * IN + jx) * out.point_stride);
            for (at, mask) in out.at.into_iter().zip(out.mask) {
                if mask != 0 {
                    // SAFETY: the lanes in `mask` are valid there (the contract).
                    unsafe { _mm512_mask_storeu_ps(point.wrapping_add(at), mask, value) };
                }
            }
        }
    }
}

/// Inverse-transforms 16 tiles of one output channel: Winograd point `p`'s
/// values are the lanes in `mask` from `m + p * point_stride` (the others
/// read as 0). Returns the tiles' 4 output rows plus `bias`, each as four
/// vectors of 16 (tile `l`'s columns at `4l .. 4l + 4`).
///
/// # Safety
/// AVX-512F; the lanes in `mask` are readable for every point.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn output_tiles(
    m: *const f32,
    point_stride: usize,
    mask: __mmask16,
    bias: f32,
) -> [[__m512; 4]; OUT] {
    let mut rows = [[_mm512_setzero_ps(); 4]; OUT];
    let mut columns = [[_mm512_setzero_ps(); OUT]; IN];
    for (x, column) in columns.iter_mut().enumerate() {
        let mut values = [_mm512_setzero_ps(); IN];
        for (y, v) in values.iter_mut().enumerate() {
            let point = m.wrapping_add((y * IN + x) * point_stride);
            // SAFETY: the lanes in `mask` are readable (the contract).
            *v = unsafe { _mm512_maskz_loadu_ps(mask, point) };
        }
        // SAFETY: AVX-512F (the contract).
        *column = unsafe { output_transform_v(values) };
    }
    let b = _mm512_set1_ps(bias);
    for (y, row) in rows.iter_mut().enumerate() {
        let m = [
            columns[0][y],
            columns[1][y],
            columns[2][y],
            columns[3][y],
            columns[4][y],
            columns[5][y],
        ];
        // SAFETY: AVX-512F (the contract).
        let r = unsafe { output_transform_v(m) };
        // Interleave: out[4l + x] = r[x][l], in four vectors of 16.
        let (lo01, hi01) = (
            _mm512_unpacklo_ps(r[0], r[1]),
            _mm512_unpackhi_ps(r[0], r[1]),
        );
        let (lo23, hi23) = (
            _mm512_unpacklo_ps(r[2], r[3]),
            _mm512_unpackhi_ps(r[2], r[3]),
        );
        // Per 128-bit lane k: a = tiles 4k, 4k+1 ; c = tiles 4k+2, 4k+3.
        let a = _mm512_castpd_ps(_mm512_unpacklo_pd(
            _mm512_castps_pd(lo01),
            _mm512_castps_pd(lo23),
        ));
        let bq = _mm512_castpd_ps(_mm512_unpackhi_pd(
            _mm512_castps_pd(lo01),
            _mm512_castps_pd(lo23),
        ));
        let c = _mm512_castpd_ps(_mm512_unpacklo_pd(
            _mm512_castps_pd(hi01),
            _mm512_castps_pd(hi23),
        ));
        let d = _mm512_castpd_ps(_mm512_unpackhi_pd(
            _mm512_castps_pd(hi01),
            _mm512_castps_pd(hi23),
        ));
        // Lane k of a, bq, c, d now hold tiles 4k, 4k+1, 4k+2, 4k+3: gather
        // the four 128-bit lanes of each output vector.
        let ab_lo = _mm512_shuffle_f32x4(a, bq, 0b01_00_01_00);
        let cd_lo = _mm512_shuffle_f32x4(c, d, 0b01_00_01_00);
        let ab_hi = _mm512_shuffle_f32x4(a, bq, 0b11_10_11_10);
        let cd_hi = _mm512_shuffle_f32x4(c, d, 0b11_10_11_10);
        let out = [
            _mm512_shuffle_f32x4(ab_lo, cd_lo, 0b10_00_10_00),
            _mm512_shuffle_f32x4(ab_lo, cd_lo, 0b11_01_11_01),
            _mm512_shuffle_f32x4(ab_hi, cd_hi, 0b10_00_10_00),
            _mm512_shuffle_f32x4(ab_hi, cd_hi, 0b11_01_11_01),
        ];
        for (slot, v) in row.iter_mut().zip(out) {
            *slot = _mm512_add_ps(v, b);
        }
    }
    rows
}

/// The same as [`input_tiles`] and [`output_tiles`], one tile at a time,
/// for the checks below.
#[cfg(test)]
fn scalar_tile(d: [[f32; IN]; IN]) -> [[f32; IN]; IN] {
    let rows: [[f32; IN]; IN] = std::array::from_fn(|r| input_transform(d[r]));
    let mut v = [[0.0; IN]; IN];
    for x in 0..IN {
        let column = input_transform(std::array::from_fn(|r| rows[r][x]));
        for y in 0..IN {
            v[y][x] = column[y];
        }
    }
    v
}

/// The input transform of [`super::WinogradConv`] (its `transform_input`),
/// sixteen tiles at a time.
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_input(input: &Tensor, tiles: Tiles, v: &mut [f32]) {
    let (c, h, w) = input.shape();
    let n = tiles.stride;
    for (ty, tx0, tx1, offset) in tile_rows(tiles.tw, tiles.first, tiles.count) {
        for ch in 0..c {
            let plane = input.plane(ch);
            for block in (tx0..tx1).step_by(LANES) {
                let lanes = LANES.min(tx1 - block);
                let x_start = (block * OUT) as isize - 1;
                // Samples x_start.. of each row; those left of the image
                // (x_start = -1) or right of it read as zero.
                let lines: [Line; IN] = std::array::from_fn(|dy| {
                    let y = (ty * OUT + dy) as isize - 1;
                    if y < 0 || y as usize >= h {
                        return Line::OUTSIDE;
                    }
                    Line {
                        start: plane[y as usize * w..].as_ptr().wrapping_offset(x_start),
                        lo: (-x_start).max(0) as usize,
                        hi: (w as isize - x_start).clamp(0, LINE as isize) as usize,
                    }
                });
                let column = tiles.column + offset + (block - tx0);
                // The first `split` lanes end this panel, the rest start the next.
                let split = (NR - column % NR).min(lanes);
                let next = if split < lanes {
                    packed_b_index(c, ch, column + split) - split
                } else {
                    0
                };
                let out = Destination {
                    base: v.as_mut_ptr(),
                    point_stride: c * n,
                    at: [packed_b_index(c, ch, column), next],
                    mask: [lane_mask(0, split), lane_mask(split, lanes)],
                };
                // SAFETY: each line's samples lo..hi are inside its row
                // of the plane; in each point's c x n block of V, the
                // lanes up to `split` are columns of row `ch` of one
                // panel and the rest (at `next` + lane) of the next panel's.
                unsafe { input_tiles(lines, out) };
            }
        }
    }
}

/// The output transform of [`super::WinogradConv`] (its `transform_output`)
/// for a convolution with `out_channels` outputs, sixteen tiles at a time.
///
/// # Safety
/// As `WinogradConv::transform_output`'s, and the CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transform_output(
    out_channels: usize,
    m: &[f32],
    bias: Option<&[f32]>,
    tiles: Tiles,
    out: SharedMut<f32>,
    (h, w): (usize, usize),
) {
    let (k, n) = (out_channels, tiles.stride);
    for (ty, tx0, tx1, offset) in tile_rows(tiles.tw, tiles.first, tiles.count) {
        for o in 0..k {
            let b = bias.map_or(0.0, |b| b[o]);
            for block in (tx0..tx1).step_by(LANES) {
                let lanes = LANES.min(tx1 - block);
                let column = tiles.column + offset + (block - tx0);
                assert!((POINTS - 1) * k * n + o * n + column + lanes <= m.len());
                // SAFETY: the `lanes` values of row (p * k + o) of M from
                // `column` are inside M for every point (asserted above).
                let rows = unsafe {
                    output_tiles(
                        m.as_ptr().add(o * n + column),
                        k * n,
                        lane_mask(0, lanes),
                        b,
                    )
                };
                let x0 = block * OUT;
                let len = (lanes * OUT).min(w - x0);
                for (y, row) in rows.into_iter().enumerate() {
                    let py = ty * OUT + y;
                    if py >= h {
                        break;
                    }
                    let dst = out.get().wrapping_add((o * h + py) * w + x0);
                    for (q, vector) in row.into_iter().enumerate() {
                        let lo = (LANES * q).min(len);
                        let hi = (LANES * (q + 1)).min(len);
                        // SAFETY: columns x0 + lo .. x0 + hi of row `py`
                        // of channel `o`: inside the image (len), and
                        // only this chunk writes them (the caller's contract).
                        unsafe {
                            _mm512_mask_storeu_ps(
                                dst.wrapping_add(lo),
                                lane_mask(0, hi - lo),
                                vector,
                            )
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_transforms_match_the_scalar_ones() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        let line_len = LINE;
        let lines: Vec<Vec<f32>> = (0..IN)
            .map(|r| {
                (0..line_len)
                    .map(|x| ((r * 31 + x * 7) % 23) as f32 - 11.0)
                    .collect()
            })
            .collect();
        let mut v = vec![0.0f32; POINTS * LANES];
        // SAFETY: AVX-512F was detected above; each line has 4 * 16 + 16
        // floats (66 needed) and `v` 16 per point.
        unsafe {
            input_tiles(
                std::array::from_fn(|r| Line {
                    start: lines[r].as_ptr(),
                    lo: 0,
                    hi: LINE,
                }),
                Destination {
                    base: v.as_mut_ptr(),
                    point_stride: LANES,
                    at: [0, 0],
                    mask: [lane_mask(0, LANES), 0],
                },
            );
        }
        for l in 0..LANES {
            let d: [[f32; IN]; IN] =
                std::array::from_fn(|r| std::array::from_fn(|x| lines[r][4 * l + x]));
            let expected = scalar_tile(d);
            for p in 0..POINTS {
                let (a, e) = (v[p * LANES + l], expected[p / IN][p % IN]);
                assert!(
                    (a - e).abs() <= 1e-4 * e.abs().max(1.0),
                    "tile {l} point {p}: {a} vs {e}"
                );
            }
        }
        // Output: points -> 4x4 blocks, interleaved.
        let m: Vec<f32> = (0..POINTS * LANES)
            .map(|i| ((i * 13) % 17) as f32 - 8.0)
            .collect();
        let mut rows = [[0.0f32; 4 * LANES]; OUT];
        // SAFETY: AVX-512F was detected above; `m` holds 16 floats per point,
        // and each row 4 vectors of 16.
        unsafe {
            let vectors = output_tiles(m.as_ptr(), LANES, lane_mask(0, LANES), 0.5);
            for (row, vs) in rows.iter_mut().zip(vectors) {
                for (k, v) in vs.into_iter().enumerate() {
                    _mm512_storeu_ps(row.as_mut_ptr().add(16 * k), v);
                }
            }
        }
        for l in 0..LANES {
            let at = |p: usize| m[p * LANES + l];
            let r: [[f32; OUT]; IN] =
                std::array::from_fn(|y| output_transform(std::array::from_fn(|x| at(y * IN + x))));
            for x in 0..OUT {
                let column = output_transform(std::array::from_fn(|y| r[y][x]));
                for y in 0..OUT {
                    let (a, e) = (rows[y][4 * l + x], column[y] + 0.5);
                    assert!(
                        (a - e).abs() <= 1e-4 * e.abs().max(1.0),
                        "tile {l} ({y}, {x}): {a} vs {e}"
                    );
                }
            }
        }
    }
}
