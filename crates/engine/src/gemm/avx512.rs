//! The micro-kernel with AVX-512: an 8 x 48 tile of C in 24 registers; per
//! step of k, three loads of B and eight broadcasts of A feed 24 fused
//! multiply-adds.

use std::arch::x86_64::*;

use super::{store_edge, MR, NR};

/// `C[..mr][..nr] (+)= A_sliver (MR x kc) * B_panel (kc x NR)`.
///
/// # Safety
/// The CPU must support AVX-512F; `a` holds `kc * MR` values, `b` holds
/// `kc * NR`, and `c` an `mr x nr` tile with row stride `ldc`.
#[target_feature(enable = "avx512f")]
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
    debug_assert!(a.len() >= kc * MR && b.len() >= kc * NR);
    let mut acc = [[_mm512_setzero_ps(); 3]; MR];
    let (mut pa, mut pb) = (a.as_ptr(), b.as_ptr());
    for _ in 0..kc {
        // SAFETY: kc steps of MR values of A and NR values of B (checked above).
        unsafe {
            let b0 = _mm512_loadu_ps(pb);
            let b1 = _mm512_loadu_ps(pb.add(16));
            let b2 = _mm512_loadu_ps(pb.add(32));
            for (i, row) in acc.iter_mut().enumerate() {
                let ai = _mm512_set1_ps(*pa.add(i));
                row[0] = _mm512_fmadd_ps(ai, b0, row[0]);
                row[1] = _mm512_fmadd_ps(ai, b1, row[1]);
                row[2] = _mm512_fmadd_ps(ai, b2, row[2]);
            }
            pa = pa.add(MR);
            pb = pb.add(NR);
        }
    }
    if mr == MR && nr == NR {
        for (i, row) in acc.iter().enumerate() {
            // SAFETY: a full tile: MR rows of NR values at stride ldc.
            unsafe {
                let dst = c.as_mut_ptr().add(i * ldc);
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
        store_edge(&tile, c, ldc, mr, nr, add);
    }
}
