//! The style loss's products in bf16 with f32 sums, where the CPU has
//! AVX-512 BF16: a Gram matrix `F Fᵀ` and the gradient's `D F`.
//!
//! `vdpbf16ps` multiplies pairs of bf16 values and adds both products to
//! an f32 lane: twice the multiplications of an f32 fused multiply-add per
//! instruction, at the same rate on this machine. The operands are rounded
//! to bf16 (8 significant bits), the sums stay in f32. For a Gram matrix
//! the roundings average out over the positions (`M`, thousands); for the
//! gradient over the channels (`C`, 64 to 512). The convolutions stay in
//! f32: in the Winograd domain bf16 costs 2% per layer (see the README).
//!
//! The layout is [`super`]'s, with a pair of bf16 values (two steps of the
//! depth, the first in the low half) where an f32 value would be: the
//! packed panels hold bit patterns, not numbers, in `f32` slots.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::symmetric::{
    mirror_upper, nothing_to_square, pack_row_panels, transpose_rows, upper_tiles,
};
use super::{avx512, Kernel, PackedA, MR, NR};
use crate::shared_mut::SharedMut;

/// Pairs of depth per block (the bf16 counterpart of [`super::KC`]: the
/// same bytes per panel row).
const KCP: usize = super::KC / 2;

/// Whether this CPU runs the bf16 products (AVX-512 F, BW and BF16), and
/// restyle may use them (not with `RESTYLE_PORTABLE=1`).
pub fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        Kernel::detect() == Kernel::Avx512
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512bf16")
    })
}

/// `f32` to bf16, rounding to the nearest (ties to even), as the
/// conversion instructions do. NaN stays NaN.
fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// Two bf16 values in one `f32` slot, `low` first in the depth.
fn pair(low: f32, high: f32) -> f32 {
    f32::from_bits(to_bf16(low) as u32 | (to_bf16(high) as u32) << 16)
}

/// An `m x k` matrix packed as bf16 pairs of its rows' values for
/// [`par_gemm`]: a [`PackedA`] of depth `k.div_ceil(2)` (an odd `k` is
/// padded with a zero).
pub fn pack_a(a: &[f32], m: usize, k: usize, row_stride: usize) -> PackedA {
    let pairs = k.div_ceil(2);
    let panels = m.div_ceil(MR);
    let mut data = vec![0.0; panels * pairs * MR];
    for p in 0..panels {
        for i in 0..MR.min(m - p * MR) {
            let row = &a[(p * MR + i) * row_stride..][..k];
            for q in 0..pairs {
                let high = if 2 * q + 1 < k { row[2 * q + 1] } else { 0.0 };
                data[(p * pairs + q) * MR + i] = pair(row[2 * q], high);
            }
        }
    }
    PackedA { m, k: pairs, data }
}

/// `C = A B` (or `C += A B`) for `A` packed by [`pack_a`] from an `m x k`
/// matrix, `B` `k x n` with row stride `ldb`, `C` `m x n` with row stride
/// `ldc`. The columns are shared out among rayon's threads, each packing
/// only its own columns of `B` (so `B` is read once in all), and the
/// result does not depend on the thread count: each value is the same sum,
/// `C + (the product)` when accumulating.
///
/// The tiles go straight into `C`, row panel by row panel (each panel's
/// rows read once, in order): no block of `C` is made and then added in,
/// which saves the style losses a fifth of their time.
///
/// # Panics
/// If [`available`] is false, or the slices are too short for the shapes.
#[allow(clippy::too_many_arguments)]
pub fn par_gemm(
    a: &PackedA,
    k: usize,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    assert!(available(), "bf16 products need AVX-512 BF16");
    assert_eq!(a.k, k.div_ceil(2), "A was packed for another depth");
    if super::nothing_to_multiply(a, n, c, ldc, accumulate) {
        return;
    }
    assert!(b.len() >= (k - 1) * ldb + n, "B is too short");
    let m = a.m;
    // As many columns a task as keep their packed B in L2.
    let width = super::task_columns(n, 4 * a.k, PACKED_B_BYTES);
    let depth_blocks: Vec<(usize, usize)> = (0..a.k)
        .step_by(KCP)
        .map(|q0| (q0, KCP.min(a.k - q0)))
        .collect();
    let out = SharedMut::new(c);
    (0..n.div_ceil(width))
        .into_par_iter()
        .for_each_init(Vec::new, |panels: &mut Vec<f32>, t| {
            let j0 = t * width;
            let cols = width.min(n - j0);
            // Every depth block's panels of these columns, one after another:
            // block q0's panel of columns jj at (q0 * cols' + jj * qc).
            let padded = cols.next_multiple_of(NR);
            panels.resize(a.k * padded, 0.0);
            for &(q0, qc) in &depth_blocks {
                // SAFETY: available() (asserted); rows 2 q0 .. 2 (q0 + qc)
                // of B (those below k read as zero) hold columns j0 .. j0 +
                // cols (B's length is checked above); the slice holds a
                // panel of qc rows of NR for every NR columns.
                unsafe {
                    pack_b_pairs(
                        &b[j0..],
                        ldb,
                        k,
                        2 * q0,
                        qc,
                        cols,
                        &mut panels[q0 * padded..],
                    )
                };
            }
            for p in 0..m.div_ceil(MR) {
                let mr = MR.min(m - p * MR);
                for &(q0, qc) in &depth_blocks {
                    let sliver = &a.data[(p * a.k + q0) * MR..][..qc * MR];
                    let add = accumulate || q0 > 0;
                    for jj in (0..cols).step_by(NR) {
                        let nr = NR.min(cols - jj);
                        let panel = &panels[q0 * padded + jj * qc..][..qc * NR];
                        // SAFETY: available(); qc pairs of the sliver and the
                        // panel; rows p MR .. p MR + mr and columns j0 + jj ..
                        // j0 + jj + nr of C (nothing_to_multiply checked its
                        // length), which only this task writes, and only here.
                        unsafe {
                            let tile = out.get().add(p * MR * ldc + j0 + jj);
                            kernel(qc, sliver, panel, tile, ldc, mr, nr, add)
                        };
                    }
                }
            }
        });
}

/// Bytes of `B`, packed, that one task of [`par_gemm`] multiplies.
///
/// As much as L2 holds here (1 MB a core): the tasks' runs along C's rows
/// are then longest. Half of it and twice it are both slower.
const PACKED_B_BYTES: usize = 1024 << 10;

/// Rows `k0 .. k0 + 2 pairs` of `B` (`k` rows in all; any past them read
/// as zero), columns `0 .. cols`, as `pairs` rows of bf16 pairs in
/// `NR`-wide panels, one after another: `out[(j / NR * pairs + q) * NR + j % NR]`
/// holds `B[k0 + 2q, j]` and `B[k0 + 2q + 1, j]` (zero past `cols`).
///
/// # Safety
/// AVX-512 F, BW and BF16; rows `k0 ..` below `k` of `b` hold `cols` values
/// at stride `ldb`; `out` holds `cols.div_ceil(NR) * pairs * NR`.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn pack_b_pairs(
    b: &[f32],
    ldb: usize,
    k: usize,
    k0: usize,
    pairs: usize,
    cols: usize,
    out: &mut [f32],
) {
    debug_assert!(out.len() >= cols.div_ceil(NR) * pairs * NR);
    // The 16 values of the first row go to the even bf16 slots, those of
    // the second to the odd ones.
    let interleave = _mm512_set_epi16(
        31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4,
        19, 3, 18, 2, 17, 1, 16, 0,
    );
    // Row pair by row pair, each pair's columns in order.
    for q in 0..pairs {
        let (r0, r1) = (k0 + 2 * q, k0 + 2 * q + 1);
        for j in (0..cols.next_multiple_of(NR)).step_by(16) {
            let lanes = cols.saturating_sub(j).min(16);
            let mask = ((1u32 << lanes) - 1) as __mmask16;
            // Rows past k, and columns past cols, read as zero. (No closure
            // for the two loads: it would not inherit this function's
            // target features.)
            let low = if r0 < k && lanes > 0 {
                // SAFETY: `lanes` values of row r0 < k from column j (the
                // contract); masked lanes are not read.
                unsafe { _mm512_maskz_loadu_ps(mask, b.as_ptr().add(r0 * ldb + j)) }
            } else {
                _mm512_setzero_ps()
            };
            let high = if r1 < k && lanes > 0 {
                // SAFETY: as for `low`, row r1 < k.
                unsafe { _mm512_maskz_loadu_ps(mask, b.as_ptr().add(r1 * ldb + j)) }
            } else {
                _mm512_setzero_ps()
            };
            let halves: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(high, low));
            let interleaved = _mm512_permutexvar_epi16(interleave, halves);
            let at = (j / NR * pairs + q) * NR + j % NR;
            // SAFETY: 16 values of row q of panel j / NR, from its column
            // j % NR (a multiple of 16, below NR).
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(at).cast(), interleaved) };
        }
    }
}

/// `C[..mr][..nr] (+)= A_sliver (MR x 2 pairs) * B_panel (2 pairs x NR)`
/// for slivers and panels of bf16 pairs.
///
/// # Safety
/// AVX-512 F and BF16; `a` holds `pairs * MR` slots, `b` `pairs` rows `NR`
/// apart of at least `nr` slots; `c` is valid for writes of an `mr x nr`
/// tile at stride `ldc`, which nothing else reads or writes meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn kernel(
    pairs: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    // SAFETY: passed on (the contract).
    unsafe {
        match nr.div_ceil(16) {
            1 => kernel_n::<1>(pairs, a, b, c, ldc, mr, nr, add),
            2 => kernel_n::<2>(pairs, a, b, c, ldc, mr, nr, add),
            _ => kernel_n::<3>(pairs, a, b, c, ldc, mr, nr, add),
        }
    }
}

/// [`kernel`] for a tile of `V` vectors of 16 columns.
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_n<const V: usize>(
    pairs: usize,
    a: &[f32],
    b: &[f32],
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    debug_assert!(nr <= V * 16);
    debug_assert!(pairs == 0 || (a.len() >= pairs * MR && b.len() >= (pairs - 1) * NR + V * 16));
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
    for _ in 0..pairs {
        // SAFETY: `pairs` steps of MR slots of A and V * 16 of B, NR apart
        // (the contract). The slots hold bf16 pairs, moved as bits.
        unsafe {
            let bv: [__m512bh; V] =
                std::array::from_fn(|v| std::mem::transmute(_mm512_loadu_ps(pb.add(16 * v))));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai: __m512bh = std::mem::transmute(_mm512_set1_ps(*pa.add(i)));
                for v in 0..V {
                    row[v] = _mm512_dpbf16_ps(row[v], ai, bv[v]);
                }
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    // SAFETY: AVX-512 F; the tile (the contract).
    unsafe { avx512::store_tile(&acc, c, ldc, mr, nr, add) };
}

/// `C = A Aᵀ` as [`super::syrk`] computes it, with `A`'s values rounded
/// to bf16 and the sums in f32.
///
/// # Panics
/// If [`available`] is false, or the slices are too short for the shapes.
pub fn syrk(a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    syrk_upper(a, m, k, lda, c);
    mirror_upper(c, m);
}

/// The upper triangle of [`syrk`]'s `C`, as [`super::syrk_upper`] leaves it
/// (below it unspecified).
///
/// # Panics
/// If [`available`] is false, or the slices are too short for the shapes.
pub fn syrk_upper(a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    assert!(available(), "bf16 products need AVX-512 BF16");
    if nothing_to_square(a, m, k, lda, c) {
        return;
    }
    // Each block's rows as bf16 pairs (16 pairs of zeros past the end, for
    // the transposes), then packed twice as the f32 product packs them.
    let stride = KCP.min(k.div_ceil(2)).next_multiple_of(16);
    let mut rows = vec![0.0f32; m * stride];
    let mut packed_a = vec![0.0f32; m.div_ceil(MR) * stride * MR];
    let mut packed_b = vec![0.0f32; stride * NR];
    for k0 in (0..k).step_by(2 * KCP) {
        let kc = (2 * KCP).min(k - k0);
        let pairs = kc.div_ceil(2);
        for (i, out) in rows.chunks_mut(stride).enumerate() {
            // SAFETY: available() (asserted); row i holds kc values from
            // k0 (A's length is checked above); `out` holds `stride`.
            unsafe { to_pairs(&a[i * lda + k0..][..kc], out) };
        }
        pack_row_panels(Kernel::Avx512, &rows, stride, m, 0, pairs, &mut packed_a);
        for j0 in (0..m).step_by(NR) {
            let nr = NR.min(m - j0);
            let panel = &mut packed_b[..pairs * NR];
            transpose_rows(Kernel::Avx512, &rows, stride, j0, nr, 0, pairs, panel, NR);
            for (p, mr, skip) in upper_tiles(m, j0, nr) {
                let tile = &mut c[p * MR * m + j0 + skip..];
                let sliver = &packed_a[p * pairs * MR..(p + 1) * pairs * MR];
                // SAFETY: available(); the sliver and the panel hold `pairs`
                // steps, the panel's rows from `skip` at least nr - skip
                // slots; the tile mr x (nr - skip) of C, borrowed mutably.
                unsafe {
                    kernel(
                        pairs,
                        sliver,
                        &panel[skip..],
                        tile.as_mut_ptr(),
                        m,
                        mr,
                        nr - skip,
                        k0 > 0,
                    )
                };
            }
        }
    }
}

/// `values` as bf16 pairs (an odd count padded with a zero) into `out`,
/// zero after them.
///
/// # Safety
/// AVX-512 F and BF16; `out` holds at least `values.len().div_ceil(2)`.
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn to_pairs(values: &[f32], out: &mut [f32]) {
    let pairs = values.len().div_ceil(2);
    debug_assert!(out.len() >= pairs);
    for (q, chunk) in values.chunks(32).enumerate() {
        let lanes = chunk.len();
        let masks = [
            ((1u32 << lanes.min(16)) - 1) as __mmask16,
            ((1u32 << lanes.saturating_sub(16)) - 1) as __mmask16,
        ];
        // SAFETY: the chunk's values from 0 and from 16, as many as it has;
        // the rest masked (and the second address only formed in bounds).
        let (low, high) = unsafe {
            (
                _mm512_maskz_loadu_ps(masks[0], chunk.as_ptr()),
                _mm512_maskz_loadu_ps(masks[1], chunk.as_ptr().add(16.min(lanes))),
            )
        };
        let converted: __m512 = std::mem::transmute(_mm512_cvtne2ps_pbh(high, low));
        let count = (lanes.div_ceil(2)).min(16);
        let mask = ((1u32 << count) - 1) as __mmask16;
        // SAFETY: `count` slots of `out` from 16 q (within `pairs`).
        unsafe { _mm512_mask_storeu_ps(out.as_mut_ptr().add(16 * q), mask, converted) };
    }
    out[pairs..].fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bf16_value(v: f32) -> f64 {
        f32::from_bits((to_bf16(v) as u32) << 16) as f64
    }

    /// Whether this CPU lacks the bf16 products, after saying the test is
    /// skipped; a failure instead where every test must run.
    fn unavailable() -> bool {
        !available()
            && !restyle_test_support::require_or_skip(
                "the bf16 products' test",
                "this CPU has no AVX-512 BF16",
            )
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 37 + seed) % 101) as f32 - 50.0) / 50.0)
            .collect()
    }

    #[test]
    fn rounding_to_bf16_is_to_the_nearest_and_ties_to_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to even (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3F80);
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6: to even.
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3F82);
        assert_eq!(to_bf16(1.0 + 1.5 / 256.0), 0x3F81);
        assert_eq!(to_bf16(-2.0), 0xC000);
        assert!(f32::from_bits((to_bf16(f32::NAN) as u32) << 16).is_nan());
    }

    #[test]
    fn the_gram_matrix_is_the_product_of_the_rounded_values() {
        if unavailable() {
            return;
        }
        // Odd depths, several depth blocks, rows around MR, NR and the
        // diagonal's 16-column blocks, strided rows.
        for &(m, k, lda) in &[
            (1, 1, 1),
            (3, 5, 7),
            (9, 385, 400),
            (64, 1001, 1001),
            (130, 64, 70),
            (50, 2 * 384 + 3, 800),
        ] {
            let a = values(m * lda, m);
            let mut c = vec![f32::NAN; m * m];
            syrk(&a, m, k, lda, &mut c);
            for i in 0..m {
                for j in 0..m {
                    let (rounded, exact): (f64, f64) = (0..k)
                        .map(|kk| {
                            let (x, y) = (a[i * lda + kk], a[j * lda + kk]);
                            (bf16_value(x) * bf16_value(y), x as f64 * y as f64)
                        })
                        .fold((0.0, 0.0), |s, v| (s.0 + v.0, s.1 + v.1));
                    let scale: f64 = (0..k)
                        .map(|kk| (a[i * lda + kk] as f64).powi(2))
                        .sum::<f64>()
                        .sqrt()
                        * (0..k)
                            .map(|kk| (a[j * lda + kk] as f64).powi(2))
                            .sum::<f64>()
                            .sqrt();
                    let got = c[i * m + j] as f64;
                    assert!(
                        (got - rounded).abs() <= 1e-5 * (1.0 + scale),
                        "{m}x{k} at {i},{j}: {got} vs {rounded}"
                    );
                    // Against the unrounded product: within bf16's rounding.
                    assert!(
                        (got - exact).abs() <= 8e-3 * (1.0 + scale),
                        "{m}x{k} at {i},{j}: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_product_does_not_depend_on_the_thread_count() {
        if unavailable() {
            return;
        }
        // Several tasks of columns, a ragged last one, two depth blocks.
        for &(m, k, n) in &[(64, 64, 20_000), (130, 513, 3001), (9, 7, 50)] {
            let (ldb, ldc) = (n + 1, n + 2);
            let a = values(m * k, 3);
            let b = values(k * ldb, 4);
            let packed = pack_a(&a, m, k, k);
            let start: Vec<f32> = (0..m * ldc).map(|i| (i % 5) as f32 * 0.25).collect();
            for accumulate in [false, true] {
                let on = |threads: usize| {
                    let mut c = start.clone();
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()
                        .expect("a thread pool")
                        .install(|| par_gemm(&packed, k, &b, ldb, n, &mut c, ldc, accumulate));
                    c
                };
                let one = on(1);
                assert!(one != start || m * n == 0);
                for threads in [2, 3] {
                    assert!(
                        on(threads) == one,
                        "{m}x{k}x{n} accumulate {accumulate}: {threads} threads differ from 1"
                    );
                }
            }
        }
    }

    #[test]
    fn the_product_is_that_of_the_rounded_values_in_parallel_and_accumulating() {
        if unavailable() {
            return;
        }
        for &(m, k, n) in &[
            (1, 1, 1),
            (8, 3, 17),
            (64, 64, 5000),
            (130, 513, 100),
            (13, 2, 49),
        ] {
            let (ldb, ldc) = (n + 3, n + 5);
            let a = values(m * k, 1);
            let b = values(k * ldb, 2);
            let packed = pack_a(&a, m, k, k);
            let start: Vec<f32> = (0..m * ldc).map(|i| (i % 7) as f32).collect();
            for accumulate in [false, true] {
                let mut c = start.clone();
                par_gemm(&packed, k, &b, ldb, n, &mut c, ldc, accumulate);
                for i in 0..m {
                    for j in 0..n {
                        let rounded: f64 = (0..k)
                            .map(|kk| bf16_value(a[i * k + kk]) * bf16_value(b[kk * ldb + j]))
                            .sum::<f64>()
                            + if accumulate {
                                start[i * ldc + j] as f64
                            } else {
                                0.0
                            };
                        let got = c[i * ldc + j] as f64;
                        assert!(
                            (got - rounded).abs()
                                <= 1e-5 * (k as f64).sqrt() * (1.0 + rounded.abs()),
                            "{m}x{k}x{n} accumulate {accumulate} at {i},{j}: {got} vs {rounded}"
                        );
                    }
                    assert_eq!(
                        &c[i * ldc + n..(i + 1) * ldc],
                        &start[i * ldc + n..(i + 1) * ldc]
                    );
                }
            }
        }
    }
}
