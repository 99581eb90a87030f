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
    bits.par_iter_mut()
        .zip(x.as_mut_slice().par_chunks_mut(64))
        .for_each(|(word, chunk)| {
            let mut w = 0u64;
            for (i, v) in chunk.iter_mut().enumerate() {
                if *v > 0.0 {
                    w |= 1 << i;
                } else {
                    *v = 0.0;
                }
            }
            *word = w;
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
    mask.bits
        .par_iter()
        .zip(grad.as_mut_slice().par_chunks_mut(64))
        .for_each(|(&word, chunk)| {
            for (i, g) in chunk.iter_mut().enumerate() {
                if word >> i & 1 == 0 {
                    *g = 0.0;
                }
            }
        });
}
