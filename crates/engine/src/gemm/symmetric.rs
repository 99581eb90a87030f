//! `C = A Aᵀ`, the product a Gram matrix is (BLAS calls it a symmetric
//! rank-k update). `C` is symmetric, so only the micro-tiles that reach the
//! diagonal or lie above it are computed, about half the work of a general
//! product, and the rest is mirrored.
//!
//! Written here, not taken from a crate, for the same reason as [`super::gemm`]:
//! it runs on this crate's AVX-512 micro-kernel; the GEMM crates at hand
//! offer neither that width nor a symmetric product.

use super::{portable, Kernel, KC, MR, NR};

/// `C = A Aᵀ` for the row-major `m x k` matrix `A` whose row `i` starts at
/// `a[i * lda]`; `C` is `m x m`, row-major, contiguous.
///
/// # Panics
/// If the slices are too short for the shapes.
pub fn syrk(a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    syrk_with(Kernel::detect(), a, m, k, lda, c);
}

/// [`syrk`] with a chosen micro-kernel.
pub fn syrk_with(kernel: Kernel, a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    syrk_upper_with(kernel, a, m, k, lda, c);
    mirror_upper(c, m);
}

/// `C`'s upper triangle (the diagonal and above) of `C = A Aᵀ`, as
/// [`syrk`] computes it; what is below is unspecified (some of it is
/// written, the rest left as it was). For sums of several products: add
/// their upper triangles, then [`mirror_upper`] once.
///
/// # Panics
/// If the slices are too short for the shapes.
pub fn syrk_upper(a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    syrk_upper_with(Kernel::detect(), a, m, k, lda, c);
}

/// [`syrk_upper`] with a chosen micro-kernel.
fn syrk_upper_with(kernel: Kernel, a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) {
    if nothing_to_square(a, m, k, lda, c) {
        return;
    }
    let panels = m.div_ceil(MR);
    let mut packed_a = vec![0.0f32; panels * KC.min(k) * MR];
    let mut packed_b = vec![0.0f32; KC.min(k) * NR];
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        pack_row_panels(kernel, a, lda, m, k0, kc, &mut packed_a);
        for j0 in (0..m).step_by(NR) {
            let nr = NR.min(m - j0);
            // B = Aᵀ: row kk of the panel holds A[j0.., k0 + kk].
            let panel = &mut packed_b[..kc * NR];
            if nr < NR {
                panel.fill(0.0);
            }
            transpose_rows(kernel, a, lda, j0, nr, k0, kc, panel, NR);
            for (p, mr, skip) in upper_tiles(m, j0, nr) {
                let tile = &mut c[p * MR * m + j0 + skip..];
                let sliver = &packed_a[p * kc * MR..(p + 1) * kc * MR];
                let columns = &panel[skip..];
                let add = k0 > 0;
                match kernel {
                    Kernel::Portable => {
                        portable::kernel(kc, sliver, columns, tile, m, mr, nr - skip, add)
                    }
                    // SAFETY: Kernel::Avx512 is only chosen where the CPU has AVX-512F;
                    // the slices hold kc*MR values, kc rows of NR - skip from `skip`,
                    // and an mr x (nr - skip) tile of C.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx512 => unsafe {
                        super::avx512::kernel(kc, sliver, columns, tile, m, mr, nr - skip, add)
                    },
                }
            }
        }
    }
}

/// Checks that `A` (`m x k`, row stride `lda`) and `C` (`m x m`) fit the
/// shapes, and does the products with nothing to multiply (no rows, or
/// depth 0: `C = 0`). Returns whether that was all there was to do.
pub(super) fn nothing_to_square(a: &[f32], m: usize, k: usize, lda: usize, c: &mut [f32]) -> bool {
    if m == 0 {
        return true;
    }
    assert!(c.len() >= m * m, "C is too short");
    if k == 0 {
        c[..m * m].fill(0.0);
        return true;
    }
    assert!(a.len() >= (m - 1) * lda + k, "A is too short");
    false
}

/// `A`'s `m` rows, columns `k0..k0 + kc`, in `MR`-tall panels, column by
/// column: panel `p` at `out[p * kc * MR..]` (padding rows left as they are:
/// they only reach rows of `C` that are not stored).
pub(super) fn pack_row_panels(
    kernel: Kernel,
    a: &[f32],
    lda: usize,
    m: usize,
    k0: usize,
    kc: usize,
    out: &mut [f32],
) {
    for p in 0..m.div_ceil(MR) {
        let panel = &mut out[p * kc * MR..(p + 1) * kc * MR];
        let rows = MR.min(m - p * MR);
        transpose_rows(kernel, a, lda, p * MR, rows, k0, kc, panel, MR);
    }
}

/// The tiles of an `m x m` symmetric product's column panel `j0..j0 + nr`
/// that reach the upper triangle: each row panel `p` (of `mr` rows) that
/// does, from its first 16 columns that do (`skip` columns in). Blocks
/// wholly below the diagonal are not computed; the kernel is as wide as
/// what is left.
pub(super) fn upper_tiles(
    m: usize,
    j0: usize,
    nr: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..m.div_ceil(MR))
        .take_while(move |&p| p * MR < j0 + nr)
        .map(move |p| (p, MR.min(m - p * MR), (p * MR).saturating_sub(j0) / 16 * 16))
}

/// The strict lower triangle of the `m x m` row-major matrix `c` from the
/// upper one. Block by block, so that the reads down the upper triangle's
/// columns stay within a few cache lines (element by element, each read
/// of a 512-wide matrix is a fresh line).
///
/// # Panics
/// If `c` holds fewer than `m * m` values.
pub fn mirror_upper(c: &mut [f32], m: usize) {
    const BLOCK: usize = 32;
    assert!(c.len() >= m * m, "C is too short");
    for i0 in (0..m).step_by(BLOCK) {
        for j0 in (0..=i0).step_by(BLOCK) {
            for i in i0..(i0 + BLOCK).min(m) {
                for j in j0..(j0 + BLOCK).min(i) {
                    c[i * m + j] = c[j * m + i];
                }
            }
        }
    }
}

/// Packs rows `first..first + rows` of `A`, columns `k0..k0 + kc`,
/// transposed: `out[kk * width + i] = A[first + i, k0 + kk]`. The packings
/// are transposes of the features' rows, element by element a scalar loop
/// costs more than the products themselves at 512 channels; AVX-512 does
/// them sixteen by sixteen.
#[allow(clippy::too_many_arguments)]
pub(super) fn transpose_rows(
    kernel: Kernel,
    a: &[f32],
    lda: usize,
    first: usize,
    rows: usize,
    k0: usize,
    kc: usize,
    out: &mut [f32],
    width: usize,
) {
    assert!(rows <= width && out.len() >= kc * width);
    assert!(rows == 0 || a.len() >= (first + rows - 1) * lda + k0 + kc);
    // Whole blocks of 16 columns with AVX-512, then the rest (or all) one by one.
    #[cfg(target_arch = "x86_64")]
    let done = if kernel == Kernel::Avx512 {
        kc / 16 * 16
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = {
        let _ = kernel;
        0
    };
    #[cfg(target_arch = "x86_64")]
    {
        for kk in (0..done).step_by(16) {
            for i0 in (0..rows).step_by(16) {
                let base = a.as_ptr().wrapping_add((first + i0) * lda + k0 + kk);
                // SAFETY: AVX-512 (the kernel choice); rows i0.. of the block
                // hold 16 floats from column k0 + kk (asserted above), and
                // the 16 destination rows from kk hold `width` floats each.
                unsafe {
                    super::avx512::transpose_16(
                        |i| base.wrapping_add(i * lda),
                        16.min(rows - i0),
                        out.as_mut_ptr().add(kk * width + i0),
                        width,
                    )
                };
            }
        }
    }
    for i in 0..rows {
        let row = &a[(first + i) * lda + k0..][..kc];
        for (kk, &v) in row.iter().enumerate().skip(done) {
            out[kk * width + i] = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::kernels;

    #[test]
    fn mirroring_copies_every_upper_value_below_and_nothing_else() {
        // Sizes around the 32-wide blocks.
        for m in [1, 2, 31, 32, 33, 64, 70] {
            let mut c: Vec<f32> = (0..m * m).map(|v| v as f32).collect();
            mirror_upper(&mut c, m);
            for i in 0..m {
                for j in 0..m {
                    let (row, col) = if j >= i { (i, j) } else { (j, i) };
                    assert_eq!(c[i * m + j], (row * m + col) as f32, "{m}x{m} at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_naive_product_on_edge_shapes() {
        // Sizes around MR, NR and KC, strided rows, and the Gram shapes of VGG-19.
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (8, 384, 384),
            (9, 385, 400),
            (47, 20, 20),
            (49, 769, 800),
            (64, 1000, 1000),
            (130, 64, 70),
        ];
        for kernel in kernels() {
            for &(m, k, lda) in &shapes {
                let a: Vec<f32> = (0..m * lda)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let mut c = vec![f32::NAN; m * m];
                syrk_with(kernel, &a, m, k, lda, &mut c);
                for i in 0..m {
                    for j in 0..m {
                        let expected: f64 = (0..k)
                            .map(|kk| a[i * lda + kk] as f64 * a[j * lda + kk] as f64)
                            .sum();
                        let got = c[i * m + j] as f64;
                        assert!(
                            (got - expected).abs()
                                <= 1e-4 * (k as f64).sqrt() * (1.0 + expected.abs()),
                            "{kernel:?} {m}x{k} (lda {lda}) at {i},{j}: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}
