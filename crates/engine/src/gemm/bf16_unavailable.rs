//! The bf16 products exist only on x86-64 (AVX-512 BF16); elsewhere
//! [`available`] is false and the style loss stays with the f32 products.

use super::PackedA;

pub fn available() -> bool {
    false
}

/// # Panics
/// Always: see [`available`].
pub fn pack_a(_a: &[f32], _m: usize, _k: usize, _row_stride: usize) -> PackedA {
    panic!("bf16 products need AVX-512 BF16")
}

/// # Panics
/// Always: see [`available`].
#[allow(clippy::too_many_arguments)]
pub fn par_gemm(
    _a: &PackedA,
    _k: usize,
    _b: &[f32],
    _ldb: usize,
    _n: usize,
    _c: &mut [f32],
    _ldc: usize,
    _accumulate: bool,
) {
    panic!("bf16 products need AVX-512 BF16")
}

/// # Panics
/// Always: see [`available`].
pub fn syrk(_a: &[f32], _m: usize, _k: usize, _lda: usize, _c: &mut [f32]) {
    panic!("bf16 products need AVX-512 BF16")
}

/// # Panics
/// Always: see [`available`].
pub fn syrk_upper(_a: &[f32], _m: usize, _k: usize, _lda: usize, _c: &mut [f32]) {
    panic!("bf16 products need AVX-512 BF16")
}
