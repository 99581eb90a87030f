//! ReLU, applied in place; its backward pass needs one bit per element.

use rayon::prelude::*;

use crate::Tensor;

/// Which elements were positive when the ReLU ran, one bit each: all the
/// backward pass needs, 32 times smaller than the activation itself.
#[derive(Clone, Debug)]
pub struct ReluMask {
    bits: Vec<u64>,
    len: usize,
}

impl ReluMask {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_set(&self, i: usize) -> bool {
        self.bits[i / 64] >> (i % 64) & 1 == 1
    }

    pub fn bytes(&self) -> usize {
        self.bits.len() * 8
    }
}

/// `x = max(x, 0)` in place; returns the mask for [`relu_backward`].
pub fn relu_forward(x: &mut Tensor) -> ReluMask {
    let len = x.len();
    let mut bits = vec![0u64; len.div_ceil(64)];
    #[cfg(target_arch = "x86_64")]
    let vector = crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512;
    bits.par_iter_mut()
        .zip(x.as_mut_slice().par_chunks_mut(64))
        .for_each(|(word, chunk)| {
            #[cfg(target_arch = "x86_64")]
            if vector && chunk.len() == 64 {
                // SAFETY: AVX-512 is present (the kernel choice); 64 values.
                *word = unsafe { avx512::forward(chunk) };
                return;
            }
            *word = forward(chunk);
        });
    ReluMask { bits, len }
}

/// Zeroes the gradient where the ReLU's input was not positive.
pub fn relu_backward(mask: &ReluMask, grad: &mut Tensor) {
    assert_eq!(
        mask.len,
        grad.len(),
        "ReLU mask does not match the gradient"
    );
    #[cfg(target_arch = "x86_64")]
    let vector = crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512;
    mask.bits
        .par_iter()
        .zip(grad.as_mut_slice().par_chunks_mut(64))
        .for_each(|(&word, chunk)| {
            #[cfg(target_arch = "x86_64")]
            if vector && chunk.len() == 64 {
                // SAFETY: AVX-512 is present (the kernel choice); 64 values.
                unsafe { avx512::backward(word, chunk) };
                return;
            }
            backward(word, chunk);
        });
}

/// Up to 64 values: clamps them, returns their mask bits. Branch-free:
/// whether a value is positive follows no pattern a predictor could learn.
fn forward(chunk: &mut [f32]) -> u64 {
    let mut word = 0u64;
    for (i, v) in chunk.iter_mut().enumerate() {
        let positive = *v > 0.0;
        word |= (positive as u64) << i;
        *v = if positive { *v } else { 0.0 };
    }
    word
}

/// Up to 64 gradient values, zeroed where their bit is clear.
fn backward(word: u64, chunk: &mut [f32]) {
    for (i, g) in chunk.iter_mut().enumerate() {
        *g = if word >> i & 1 == 1 { *g } else { 0.0 };
    }
}

/// Sixty-four values at a time: the comparison gives the mask bits directly.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512F; `chunk` holds 64 values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward(chunk: &mut [f32]) -> u64 {
        assert_eq!(chunk.len(), 64);
        let mut word = 0u64;
        for q in 0..4 {
            // SAFETY: 16 values at 16q of 64 (asserted).
            unsafe {
                let p = chunk.as_mut_ptr().add(16 * q);
                let v = _mm512_loadu_ps(p);
                let positive = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, _mm512_setzero_ps());
                _mm512_storeu_ps(p, _mm512_maskz_mov_ps(positive, v));
                word |= (positive as u64) << (16 * q);
            }
        }
        word
    }

    /// # Safety
    /// AVX-512F; `chunk` holds 64 values.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn backward(word: u64, chunk: &mut [f32]) {
        assert_eq!(chunk.len(), 64);
        for q in 0..4 {
            // SAFETY: 16 values at 16q of 64 (asserted).
            unsafe {
                let p = chunk.as_mut_ptr().add(16 * q);
                let keep = (word >> (16 * q)) as u16;
                _mm512_storeu_ps(p, _mm512_maskz_mov_ps(keep, _mm512_loadu_ps(p)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vector_path_matches_the_scalar_one() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            let values: Vec<f32> = (0..64)
                .map(|i| match i % 7 {
                    0 => 0.0,
                    1 => -0.0,
                    2 => f32::NAN,
                    _ => (i as f32 * 0.37).sin(),
                })
                .collect();
            let (mut scalar, mut vector) = (values.clone(), values.clone());
            let word = super::forward(&mut scalar);
            // SAFETY: AVX-512F detected; 64 values.
            assert_eq!(unsafe { super::avx512::forward(&mut vector) }, word);
            assert_eq!(
                scalar.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                vector.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
            let grad: Vec<f32> = (0..64).map(|i| i as f32 + 1.0).collect();
            let (mut scalar, mut vector) = (grad.clone(), grad);
            super::backward(word, &mut scalar);
            // SAFETY: as above.
            unsafe { super::avx512::backward(word, &mut vector) };
            assert_eq!(scalar, vector);
            assert!(scalar
                .iter()
                .zip(&values)
                .all(|(g, v)| (*g != 0.0) == (*v > 0.0)));
        }
    }
}
