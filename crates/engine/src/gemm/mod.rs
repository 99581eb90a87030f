//! Single-precision matrix products for the convolutions, `C (+)= A B`,
//! with `A` (the weights) packed once when the network loads.
//!
//! Written here rather than taken from a crate because the convolutions
//! need two things the GEMM crates do not offer together: an AVX-512
//! micro-kernel (matrixmultiply's widest is AVX2, half this machine's FMA
//! width), and an `A` packed once and reused for every product, instead of
//! repacked on each call (the weights are the same for every band, every
//! Winograd position and every step). The blocking follows Goto & van de
//! Geijn: `K` in blocks of [`KC`], `B` packed in [`NR`]-wide panels, `A`
//! in [`MR`]-tall panels, and a register-blocked `MR x NR` micro-kernel.

#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod bf16;
#[cfg(not(target_arch = "x86_64"))]
#[path = "bf16_unavailable.rs"]
pub mod bf16;
mod portable;
mod symmetric;

pub use symmetric::{mirror_upper, syrk, syrk_upper, syrk_with};

use rayon::prelude::*;

use crate::shared_mut::SharedMut;

/// Rows of `A` (and `C`) per micro-tile.
pub const MR: usize = 8;
/// Columns of `B` (and `C`) per micro-tile: three 16-float vectors.
pub const NR: usize = 48;
/// Depth of one block of `K`: an `MR x KC` sliver of `A` and a `KC x NR`
/// panel of `B` stay in the first two cache levels.
pub const KC: usize = 384;

/// An `m x k` matrix packed for [`gemm`]: panels of [`MR`] rows, each laid
/// out column by column (`MR` values per column, zero-padded at the bottom).
#[derive(Clone, Debug)]
pub struct PackedA {
    m: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// Packs the row-major `m x k` matrix whose row `i` starts at `a[i * row_stride]`.
    pub fn pack(a: &[f32], m: usize, k: usize, row_stride: usize) -> Self {
        let panels = m.div_ceil(MR);
        let mut data = vec![0.0; panels * k * MR];
        for p in 0..panels {
            for i in 0..MR.min(m - p * MR) {
                let row = &a[(p * MR + i) * row_stride..][..k];
                for (kk, &v) in row.iter().enumerate() {
                    data[(p * k + kk) * MR + i] = v;
                }
            }
        }
        Self { m, k, data }
    }

    pub fn rows(&self) -> usize {
        self.m
    }

    pub fn depth(&self) -> usize {
        self.k
    }

    pub fn bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Panel `p`, columns `k0..k0 + kc`.
    fn sliver(&self, p: usize, k0: usize, kc: usize) -> &[f32] {
        &self.data[(p * self.k + k0) * MR..][..kc * MR]
    }
}

/// Which micro-kernel runs: the fastest this CPU supports, unless
/// `RESTYLE_PORTABLE=1` asks for the portable one (so tests can check both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    pub fn detect() -> Kernel {
        static CHOICE: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *CHOICE.get_or_init(|| {
            if std::env::var_os("RESTYLE_PORTABLE").is_some_and(|v| v == "1") {
                return Kernel::Portable;
            }
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            Kernel::Portable
        })
    }
}

/// Bytes [`gemm`] allocates while it runs (its packed `B` panel).
pub const WORKSPACE_BYTES: usize = KC * NR * 4;

/// `C = A B` (or `C += A B` with `accumulate`), where `B` is `k x n` with
/// row stride `ldb` and `C` is `m x n` with row stride `ldc`.
///
/// # Panics
/// If the slices are too short for the shapes.
pub fn gemm(
    a: &PackedA,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    gemm_with(Kernel::detect(), a, b, ldb, n, c, ldc, accumulate);
}

/// [`gemm`] with a chosen micro-kernel.
#[allow(clippy::too_many_arguments)]
pub fn gemm_with(
    kernel: Kernel,
    a: &PackedA,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if nothing_to_multiply(a, n, c, ldc, accumulate) {
        return;
    }
    let k = a.k;
    assert!(b.len() >= (k - 1) * ldb + n, "B is too short");
    let mut packed_b = vec![0.0f32; KC * NR];
    for block in blocks(k, n, accumulate) {
        pack_b(
            &b[block.k0 * ldb + block.j0..],
            ldb,
            block.kc,
            block.nr,
            &mut packed_b,
        );
        panel_product(kernel, a, block, &packed_b, c, ldc);
    }
}

/// [`gemm`] with the columns shared out among rayon's threads, for one
/// large product (the style loss's gradient, `C x C` by `C x M`): each
/// thread packs and multiplies only its own columns, so `B` is read once
/// in all. The result does not depend on the number of threads (each
/// value is the same sum).
///
/// # Panics
/// If the slices are too short for the shapes.
pub fn par_gemm(
    a: &PackedA,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    par_gemm_with(Kernel::detect(), a, b, ldb, n, c, ldc, accumulate);
}

/// [`par_gemm`] with a chosen micro-kernel.
#[allow(clippy::too_many_arguments)]
pub fn par_gemm_with(
    kernel: Kernel,
    a: &PackedA,
    b: &[f32],
    ldb: usize,
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if nothing_to_multiply(a, n, c, ldc, accumulate) {
        return;
    }
    let k = a.k;
    assert!(b.len() >= (k - 1) * ldb + n, "B is too short");
    let m = a.m;
    // Each task computes a block of C's columns in a buffer of its own, then
    // puts it into C. The threads' parts of C interleave row by row, so they
    // cannot be handed out as slices. Blocks are whole panels, as many as
    // keep one in L2, and at least several per thread to even out the load;
    // a block's buffer is made once per rayon job (a few per thread).
    //
    // When accumulating, the block first holds C's columns, unless the
    // product is a single pass over the depth: then it is added into C on
    // the way out instead (one pass over C's block, not two), each value
    // still `C + (the product)`, as the serial product has it. With several
    // passes that order would change, so they copy C in.
    let one_pass = k <= KC;
    let (copy_in, add_out) = (accumulate && !one_pass, accumulate && one_pass);
    let width = task_columns(n, 4 * m, PAR_BLOCK_BYTES);
    let out = SharedMut::new(c);
    (0..n.div_ceil(width)).into_par_iter().for_each_init(
        || vec![0.0f32; m * width],
        |block, t| {
            let j0 = t * width;
            let cols = width.min(n - j0);
            let block = &mut block[..m * cols];
            let c_rows = || {
                // SAFETY: C holds m rows of n values at stride ldc (checked
                // above) and outlives the loop; columns j0..j0 + cols of
                // each row belong to this task alone.
                (0..m).map(|i| unsafe {
                    std::slice::from_raw_parts_mut(out.get().add(i * ldc + j0), cols)
                })
            };
            if copy_in {
                for (row, c) in block.chunks_exact_mut(cols).zip(c_rows()) {
                    row.copy_from_slice(c);
                }
            }
            gemm_with(kernel, a, &b[j0..], ldb, cols, block, cols, copy_in);
            for (row, c) in block.chunks_exact(cols).zip(c_rows()) {
                if add_out {
                    c.iter_mut().zip(row).for_each(|(c, v)| *c += v);
                } else {
                    c.copy_from_slice(row);
                }
            }
        },
    );
}

/// Columns one task of a product shared out by columns takes: whole
/// panels, as many as keep `budget` bytes in L2 (`per_column` bytes a
/// column), and few enough for several tasks a thread, to even out the load.
fn task_columns(n: usize, per_column: usize, budget: usize) -> usize {
    let in_cache = (budget / per_column).max(NR) / NR * NR;
    let spread = n
        .div_ceil(4 * rayon::current_num_threads().max(1))
        .next_multiple_of(NR);
    in_cache.min(spread)
}

/// Bytes of `C` one task of [`par_gemm`] computes at a time.
const PAR_BLOCK_BYTES: usize = 512 << 10;

/// Floats [`gemm_packed`] reads for a `k x n` matrix `B`: whole panels of [`NR`] columns.
pub fn packed_b_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * NR * k
}

/// Where element `(row, column)` of a `depth`-row `B` is in [`gemm_packed`]'s
/// layout: panel `column / NR`, whose rows of `NR` values follow each other.
#[inline(always)]
pub fn packed_b_index(depth: usize, row: usize, column: usize) -> usize {
    (column / NR * depth + row) * NR + column % NR
}

/// [`gemm`] with `B` (`a.depth() x n`) already laid out as the micro-kernel
/// reads it ([`packed_b_index`]), so nothing is copied: for a producer that
/// can write `B` that way (the Winograd input transform). Values in the
/// last panel past column `n` only reach columns of the product that are
/// not stored.
pub fn gemm_packed(a: &PackedA, b: &[f32], n: usize, c: &mut [f32], ldc: usize, accumulate: bool) {
    gemm_packed_with(Kernel::detect(), a, b, n, c, ldc, accumulate);
}

/// [`gemm_packed`] with a chosen micro-kernel.
pub fn gemm_packed_with(
    kernel: Kernel,
    a: &PackedA,
    b: &[f32],
    n: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    if nothing_to_multiply(a, n, c, ldc, accumulate) {
        return;
    }
    let k = a.k;
    assert!(b.len() >= packed_b_len(k, n), "B is too short");
    for block in blocks(k, n, accumulate) {
        let panel = &b[packed_b_index(k, block.k0, block.j0)..][..block.kc * NR];
        panel_product(kernel, a, block, panel, c, ldc);
    }
}

/// Checks that `C` holds an `m x n` product and does the products with
/// nothing to multiply: no rows or columns, or depth 0 (`C = 0`, unless
/// accumulating). Returns whether that was all there was to do.
fn nothing_to_multiply(a: &PackedA, n: usize, c: &mut [f32], ldc: usize, accumulate: bool) -> bool {
    let (m, k) = (a.m, a.k);
    if m == 0 || n == 0 {
        return true;
    }
    assert!(c.len() >= (m - 1) * ldc + n, "C is too short");
    if k == 0 && !accumulate {
        for i in 0..m {
            c[i * ldc..i * ldc + n].fill(0.0);
        }
    }
    k == 0
}

/// One block of a product: depth `k0..k0 + kc` of `A` and `B`, columns
/// `j0..j0 + nr` of `B` and `C`; `add` unless it is the first block of a
/// product that writes `C`.
#[derive(Clone, Copy)]
struct Block {
    k0: usize,
    kc: usize,
    j0: usize,
    nr: usize,
    add: bool,
}

/// The blocks of an `m x k` by `k x n` product in the order both products
/// take them (Goto & van de Geijn): depth blocks of [`KC`], each over the
/// panels of [`NR`] columns.
fn blocks(k: usize, n: usize, accumulate: bool) -> impl Iterator<Item = Block> {
    (0..k).step_by(KC).flat_map(move |k0| {
        (0..n).step_by(NR).map(move |j0| Block {
            k0,
            kc: KC.min(k - k0),
            j0,
            nr: NR.min(n - j0),
            // The first block writes C (unless accumulating), the rest add to it.
            add: accumulate || k0 > 0,
        })
    })
}

/// `C[.., block columns] (+)= A[.., block depth] panel`, one micro-kernel
/// call per [`MR`] rows.
fn panel_product(
    kernel: Kernel,
    a: &PackedA,
    block: Block,
    panel: &[f32],
    c: &mut [f32],
    ldc: usize,
) {
    let Block {
        k0,
        kc,
        j0,
        nr,
        add,
    } = block;
    let m = a.m;
    for p in 0..m.div_ceil(MR) {
        let mr = MR.min(m - p * MR);
        let tile = &mut c[p * MR * ldc + j0..];
        let sliver = a.sliver(p, k0, kc);
        match kernel {
            Kernel::Portable => portable::kernel(kc, sliver, panel, tile, ldc, mr, nr, add),
            // SAFETY: Kernel::Avx512 is only chosen where the CPU has AVX-512F;
            // the slices hold kc*MR, kc*NR and an mr x nr tile of C.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::kernel(kc, sliver, panel, tile, ldc, mr, nr, add) },
        }
    }
}

/// Copies a `kc x nr` block of `B` into `NR`-wide rows, zero-padded.
fn pack_b(b: &[f32], ldb: usize, kc: usize, nr: usize, out: &mut [f32]) {
    for kk in 0..kc {
        let dst = &mut out[kk * NR..(kk + 1) * NR];
        dst[..nr].copy_from_slice(&b[kk * ldb..kk * ldb + nr]);
        dst[nr..].fill(0.0);
    }
}

/// Adds (or writes) a full `MR x NR` result held in `acc` into the
/// `mr x nr` corner of the tile at `c`: the edge case shared by every
/// kernel.
///
/// # Safety
/// `c` is valid for writes of `mr` rows of `nr` values at stride `ldc`,
/// which nothing else reads or writes meanwhile.
unsafe fn store_edge(
    acc: &[[f32; NR]; MR],
    c: *mut f32,
    ldc: usize,
    mr: usize,
    nr: usize,
    add: bool,
) {
    for (i, row) in acc.iter().enumerate().take(mr) {
        // SAFETY: row i of the tile (the contract).
        let dst = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
        if add {
            dst.iter_mut().zip(row).for_each(|(d, v)| *d += v);
        } else {
            dst.copy_from_slice(&row[..nr]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k)
                    .map(|kk| a[i * k + kk] as f64 * b[kk * n + j] as f64)
                    .sum::<f64>() as f32;
            }
        }
        c
    }

    /// Every kernel this machine can run, for tests to compare.
    pub(crate) fn kernels() -> Vec<Kernel> {
        let mut k = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            k.push(Kernel::Avx512);
        }
        k
    }

    #[test]
    fn the_parallel_product_equals_the_serial_one_bit_for_bit() {
        // Columns split into tasks of whole panels (several per thread, and
        // a block of C that fits in cache: 2600 columns at 130 rows), the
        // last task narrower; B and C with row strides wider than n.
        for kernel in kernels() {
            for &(m, k, n) in &[(130, 70, 2600), (64, 64, 5000), (3, 500, 49), (8, 8, 1)] {
                let (ldb, ldc) = (n + 3, n + 5);
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let b: Vec<f32> = (0..k * ldb)
                    .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                    .collect();
                let packed = PackedA::pack(&a, m, k, k);
                for accumulate in [false, true] {
                    let start: Vec<f32> = (0..m * ldc).map(|i| (i % 7) as f32).collect();
                    let mut serial = start.clone();
                    gemm_with(kernel, &packed, &b, ldb, n, &mut serial, ldc, accumulate);
                    let mut parallel = start.clone();
                    par_gemm_with(kernel, &packed, &b, ldb, n, &mut parallel, ldc, accumulate);
                    assert!(
                        serial
                            .iter()
                            .zip(&parallel)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{kernel:?} {m}x{k}x{n} accumulate {accumulate}"
                    );
                    // Columns past n in each row are left as they were.
                    for i in 0..m {
                        assert_eq!(
                            &parallel[i * ldc + n..(i + 1) * ldc],
                            &start[i * ldc + n..(i + 1) * ldc]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_naive_product_on_edge_shapes() {
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (8, 256, 48),
            (9, 257, 49),
            (64, 27, 100),
            (17, 600, 95),
            (130, 64, 1),
            // Last panels 16 and 32 columns wide: the narrower kernels, full.
            (8, 40, 64),
            (5, 70, 80),
        ];
        for kernel in kernels() {
            for &(m, k, n) in &shapes {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let b: Vec<f32> = (0..k * n)
                    .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                    .collect();
                let packed = PackedA::pack(&a, m, k, k);
                let expected = naive(&a, &b, m, k, n);
                let mut c = vec![f32::NAN; m * n];
                gemm_with(kernel, &packed, &b, n, n, &mut c, n, false);
                for (x, y) in c.iter().zip(&expected) {
                    assert!(
                        (x - y).abs() <= 1e-4 * (k as f32).sqrt(),
                        "{kernel:?} {m}x{k}x{n}: {x} vs {y}"
                    );
                }
                // Accumulating adds the product again.
                gemm_with(kernel, &packed, &b, n, n, &mut c, n, true);
                for (x, y) in c.iter().zip(&expected) {
                    assert!(
                        (x - 2.0 * y).abs() <= 2e-4 * (k as f32).sqrt(),
                        "{kernel:?} accumulate {m}x{k}x{n}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_prepacked_b_gives_the_same_product_and_its_padding_stays_out() {
        // Depths across a KC block, widths ending inside a panel; the
        // padding past column n is NaN, which would show in any stored value.
        for kernel in kernels() {
            for &(m, k, n) in &[(8, 64, 48), (13, 400, 100), (3, 5, 1), (64, 27, 97)] {
                let a: Vec<f32> = (0..m * k)
                    .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                    .collect();
                let b: Vec<f32> = (0..k * n)
                    .map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0)
                    .collect();
                let mut packed_b = vec![f32::NAN; packed_b_len(k, n)];
                for row in 0..k {
                    for column in 0..n {
                        packed_b[packed_b_index(k, row, column)] = b[row * n + column];
                    }
                }
                let packed = PackedA::pack(&a, m, k, k);
                let expected = naive(&a, &b, m, k, n);
                let ldc = n + 2;
                let mut c = vec![-1.0f32; m * ldc];
                gemm_packed_with(kernel, &packed, &packed_b, n, &mut c, ldc, false);
                for i in 0..m {
                    for j in 0..n {
                        let (x, y) = (c[i * ldc + j], expected[i * n + j]);
                        assert!(
                            (x - y).abs() <= 1e-4 * (k as f32).sqrt(),
                            "{kernel:?} {m}x{k}x{n} ({i}, {j}): {x} vs {y}"
                        );
                    }
                    assert_eq!(
                        &c[i * ldc + n..(i + 1) * ldc],
                        &[-1.0, -1.0],
                        "past n untouched"
                    );
                }
            }
        }
    }

    #[test]
    fn strided_operands_leave_the_rest_alone() {
        let (m, k, n) = (10, 20, 30);
        let (ldb, ldc) = (n + 5, n + 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32).collect();
        let b: Vec<f32> = (0..k * ldb).map(|i| (i % 5) as f32).collect();
        let packed = PackedA::pack(&a, m, k, k);
        for kernel in kernels() {
            let mut c = vec![-1.0f32; m * ldc];
            gemm_with(kernel, &packed, &b, ldb, n, &mut c, ldc, false);
            for i in 0..m {
                for j in 0..n {
                    let expected: f32 = (0..k).map(|kk| a[i * k + kk] * b[kk * ldb + j]).sum();
                    assert_eq!(c[i * ldc + j], expected);
                }
                assert!(
                    c[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == -1.0),
                    "padding untouched"
                );
            }
        }
    }
}
