//! The micro-kernel with AVX-512: an 8 x 48 tile of C in 24 registers; per
//! step of k, three loads of B and eight broadcasts of A feed 24 fused
//! multiply-adds. Narrower tiles (16 or 32 columns) use fewer.

use std::arch::x86_64::*;

use super::{store_edge, MR, NR};

/// `C[..mr][..nr] (+)= A_sliver (MR x kc) * B_panel (kc x NR)`, reading
/// only the first `nr` columns of each row of the panel.
///
/// # Safety
/// The CPU must support AVX-512F; `a` holds `kc * MR` values, `b` holds
/// `kc` rows `NR` apart of at least `nr` values, and `c` an `mr x nr` tile
/// with row stride `ldc`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    // As many vectors of 16 columns as the tile has: a narrow edge (the
    // last columns of a product, or the diagonal of a Gram matrix) costs
    // its own width, not a whole NR.
    // SAFETY: passed on (the contract).
    unsafe {
        match nr.div_ceil(16) {
            1 => kernel_n::<1>(kc, a, b, c, ldc, mr, nr, add),
            2 => kernel_n::<2>(kc, a, b, c, ldc, mr, nr, add),
            _ => kernel_n::<3>(kc, a, b, c, ldc, mr, nr, add),
        }
    }
}

/// [`kernel`] for a tile of `V` vectors of 16 columns (`nr <= 16 V`).
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn kernel_n<const V: usize>(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    debug_assert!(V * 16 <= NR && nr <= V * 16);
    debug_assert!(kc == 0 || (a.len() >= kc * MR && b.len() >= (kc - 1) * NR + V * 16));
    let mut acc = [[_mm512_setzero_ps(); V]; MR];
    let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: kc steps of MR values of A and of V * 16 values of B,
        // NR apart (the contract).
        unsafe {
            let bv: [__m512; V] = std::array::from_fn(|v| _mm512_loadu_ps(pb.add(16 * v)));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*pa.add(i));
                for v in 0..V {
                    row[v] = _mm512_fmadd_ps(ai, bv[v], row[v]);
                }
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    // SAFETY: AVX-512 (this function's); `c` holds the tile (the contract).
    unsafe { store_tile(&acc, c.as_mut_ptr(), ldc, mr, nr, add) };
}

/// Writes (or adds) the tile of C held in `acc`, `V` vectors of 16
/// columns by `MR` rows, into its `mr x nr` corner of `c`.
///
/// # Safety
/// AVX-512F; `c` is valid for writes of an `mr x nr` tile at stride
/// `ldc`, which nothing else reads or writes meanwhile; `nr <= 16 V`.
// Always inlined, not a target-feature function of its own: a call would
// pass the 24 accumulators through memory. Inlined into the kernels, it
// has their AVX-512.
#[inline(always)]
pub(super) unsafe fn store_tile<const V: usize>(
    acc: &[[__m512; V]; MR],
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    if mr == MR && nr == V * 16 {
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: a full tile: MR rows of nr values at stride ldc.
            unsafe {
                let dst = c.add(i * ldc);
                for (v, &r) in row.iter().enumerate() {
                    let p = dst.add(16 * v);
                    let value = if add {
                        _mm512_add_ps(_mm512_loadu_ps(p), r)
                    } else {
                        r
                    };
                    _mm512_storeu_ps(p, value);
                }
            }
        }
    } else {
        let mut tile = [[0.0f32; NR]; MR];
        for (row, out) in acc.iter().zip(tile.iter_mut()) {
            for (v, &r) in row.iter().enumerate() {
                // SAFETY: each 16-float store fits in the NR-wide row.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * v), r) };
            }
        }
        // SAFETY: the tile (the contract).
        unsafe { store_edge(&tile, c, ldc, mr, nr, add) };
    }
}

/// Writes the transpose of a block of `rows` (at most 16) rows of 16
/// floats, row `i` at `src(i)`: 16 rows of `rows` values, row `j` at
/// `dst + j * dst_stride` (the packing of a Gram matrix's operands, whose
/// rows are the features' channels).
///
/// # Safety
/// AVX-512F; each `src(i)` for `i < rows` is valid for 16 floats, and each
/// destination row for `rows` floats.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn transpose_16(
    src: impl Fn(usize) -> *const f32,
    rows: usize,
    dst: *mut f32,
    dst_stride: usize,
) {
    debug_assert!(rows <= 16);
    let r: [__m512; 16] = std::array::from_fn(|i| {
        if i < rows {
            // SAFETY: 16 readable floats (the contract).
            unsafe { _mm512_loadu_ps(src(i)) }
        } else {
            _mm512_setzero_ps()
        }
    });
    // Pairs of rows interleaved, then fours: u[4i + j] holds, in each
    // 128-bit lane L, rows 4i..4i+4 of column 4L + j.
    let t: [__m512; 16] = std::array::from_fn(|x| {
        let (a, b) = (r[x & !1], r[x | 1]);
        if x % 2 == 0 {
            _mm512_unpacklo_ps(a, b)
        } else {
            _mm512_unpackhi_ps(a, b)
        }
    });
    let u: [__m512; 16] = std::array::from_fn(|x| {
        let (i, j) = (x / 4, x % 4);
        let (a, b) = (
            _mm512_castps_pd(t[4 * i + j / 2]),
            _mm512_castps_pd(t[4 * i + 2 + j / 2]),
        );
        _mm512_castpd_ps(if j % 2 == 0 {
            _mm512_unpacklo_pd(a, b)
        } else {
            _mm512_unpackhi_pd(a, b)
        })
    });
    // Column 4L + j gathers lane L of u[j], u[4 + j], u[8 + j], u[12 + j].
    let mask = ((1u32 << rows) - 1) as __mmask16;
    for j in 0..4 {
        let low = (
            _mm512_shuffle_f32x4::<0x44>(u[j], u[4 + j]),
            _mm512_shuffle_f32x4::<0x44>(u[8 + j], u[12 + j]),
        );
        let high = (
            _mm512_shuffle_f32x4::<0xEE>(u[j], u[4 + j]),
            _mm512_shuffle_f32x4::<0xEE>(u[8 + j], u[12 + j]),
        );
        let columns = [
            (j, _mm512_shuffle_f32x4::<0x88>(low.0, low.1)),
            (4 + j, _mm512_shuffle_f32x4::<0xDD>(low.0, low.1)),
            (8 + j, _mm512_shuffle_f32x4::<0x88>(high.0, high.1)),
            (12 + j, _mm512_shuffle_f32x4::<0xDD>(high.0, high.1)),
        ];
        for (column, v) in columns {
            // SAFETY: `rows` writable floats per destination row (the contract).
            unsafe { _mm512_mask_storeu_ps(dst.add(column * dst_stride), mask, v) };
        }
    }
}
