//! The micro-kernel in plain Rust: fixed-size arrays the compiler
//! vectorises for whatever CPU it targets.

use super::{store_edge, MR, NR};

/// `C[..mr][..nr] (+)= A_sliver (MR x kc) * B_panel (kc x NR)`, reading
/// only the first `nr` columns of each row of the panel.
#[allow(clippy::too_many_arguments)]
pub(super) fn kernel(
    kc: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    let mut acc = [[0.0f32; NR]; MR];
    for kk in 0..kc {
        let bk = &b[kk * NR..][..nr];
        let ak: &[f32; MR] = a[kk * MR..(kk + 1) * MR].try_into().expect("MR tall");
        for (row, &av) in acc.iter_mut().zip(ak) {
            for (r, &bv) in row[..nr].iter_mut().zip(bk) {
                *r = av.mul_add(bv, *r);
            }
        }
    }
    assert!(
        mr > 0 && c.len() >= (mr - 1) * ldc + nr,
        "C is too short for the tile"
    );
    // SAFETY: `c` holds the tile (asserted) and is borrowed mutably.
    unsafe { store_edge(&acc, c.as_mut_ptr(), ldc, mr, nr, add) };
}
