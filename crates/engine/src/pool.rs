//! 2x2 max pooling with stride 2, rounding odd sizes down as VGG (and
//! PyTorch's default `ceil_mode = false`) do.

use rayon::prelude::*;

use crate::Tensor;

/// For each output element, which of its four inputs was the maximum
/// (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right; the first in
/// that order on ties, as PyTorch picks): one byte each.
#[derive(Clone, Debug)]
pub struct PoolArgmax {
    input_shape: (usize, usize, usize),
    index: Vec<u8>,
}

impl PoolArgmax {
    pub fn input_shape(&self) -> (usize, usize, usize) {
        self.input_shape
    }

    pub fn bytes(&self) -> usize {
        self.index.len()
    }
}

/// Pools `x` and returns the output with what the backward pass needs.
pub fn maxpool2x2_forward(x: &Tensor) -> (Tensor, PoolArgmax) {
    let (c, h, w) = x.shape();
    let (oh, ow) = (h / 2, w / 2);
    let mut out = Tensor::zeros(c, oh, ow);
    let mut index = vec![0u8; c * oh * ow];
    #[cfg(target_arch = "x86_64")]
    let vector = crate::gemm::Kernel::detect() == crate::gemm::Kernel::Avx512;
    if oh * ow > 0 {
        out.as_mut_slice()
            .par_chunks_mut(oh * ow)
            .zip(index.par_chunks_mut(oh * ow))
            .enumerate()
            .for_each(|(ch, (o, idx))| {
                let plane = x.plane(ch);
                for y in 0..oh {
                    let top = &plane[2 * y * w..];
                    let bottom = &plane[(2 * y + 1) * w..];
                    let (o, idx) = (&mut o[y * ow..][..ow], &mut idx[y * ow..][..ow]);
                    let (top, bottom) = (&top[..2 * ow], &bottom[..2 * ow]);
                    // Whole sixteens of windows with AVX-512, the rest one by one.
                    #[cfg(target_arch = "x86_64")]
                    let done = if vector {
                        // SAFETY: AVX-512 is present (the kernel choice).
                        unsafe { avx512::forward_row(top, bottom, o, idx) }
                    } else {
                        0
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    let done = 0;
                    pool_windows(top, bottom, o, idx, done);
                }
            });
    }
    (
        out,
        PoolArgmax {
            input_shape: (c, h, w),
            index,
        },
    )
}

/// Pools windows `from..` of one row pair (`top`, `bottom`: two inputs
/// per output each) into `o` and `idx`; the first maximum wins a tie.
fn pool_windows(top: &[f32], bottom: &[f32], o: &mut [f32], idx: &mut [u8], from: usize) {
    for xo in from..o.len() {
        // Selects, not branches: which element wins follows no pattern.
        let (mut best, mut k) = (top[2 * xo], 0u8);
        for (candidate, i) in [
            (top[2 * xo + 1], 1),
            (bottom[2 * xo], 2),
            (bottom[2 * xo + 1], 3),
        ] {
            let wins = candidate > best;
            best = if wins { candidate } else { best };
            k = if wins { i } else { k };
        }
        o[xo] = best;
        idx[xo] = k;
    }
}

/// Routes each output gradient to the input that won its window.
pub fn maxpool2x2_backward(argmax: &PoolArgmax, grad_output: &Tensor) -> Tensor {
    let (c, h, w) = argmax.input_shape;
    let (oh, ow) = (h / 2, w / 2);
    assert_eq!(grad_output.shape(), (c, oh, ow), "pool gradient shape");
    let mut grad_input = Tensor::zeros(c, h, w);
    if oh * ow > 0 {
        grad_input
            .as_mut_slice()
            .par_chunks_mut(h * w)
            .enumerate()
            .for_each(|(ch, gi)| {
                let go = grad_output.plane(ch);
                let idx = &argmax.index[ch * oh * ow..(ch + 1) * oh * ow];
                for y in 0..oh {
                    for xo in 0..ow {
                        let k = idx[y * ow + xo] as usize;
                        gi[(2 * y + k / 2) * w + 2 * xo + k % 2] = go[y * ow + xo];
                    }
                }
            });
    }
    grad_input
}

/// Sixteen windows at a time.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// Pools the first whole sixteens of windows of one row pair (`top`,
    /// `bottom`: 2 `o.len()` inputs each) into `o` and `idx`, as the scalar
    /// loop does (the first maximum wins a tie); returns how many it did.
    ///
    /// # Safety
    /// AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn forward_row(
        top: &[f32],
        bottom: &[f32],
        o: &mut [f32],
        idx: &mut [u8],
    ) -> usize {
        let ow = o.len();
        assert!(top.len() >= 2 * ow && bottom.len() >= 2 * ow && idx.len() >= ow);
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        let whole = ow / 16 * 16;
        for x0 in (0..whole).step_by(16) {
            // SAFETY: 32 inputs from 2 x0 in each row and 16 outputs from x0
            // are inside the slices (asserted above, x0 + 16 <= ow).
            unsafe {
                let (t0, t1) = (
                    _mm512_loadu_ps(top.as_ptr().add(2 * x0)),
                    _mm512_loadu_ps(top.as_ptr().add(2 * x0 + 16)),
                );
                let (b0, b1) = (
                    _mm512_loadu_ps(bottom.as_ptr().add(2 * x0)),
                    _mm512_loadu_ps(bottom.as_ptr().add(2 * x0 + 16)),
                );
                let candidates = [
                    _mm512_permutex2var_ps(t0, odd, t1),
                    _mm512_permutex2var_ps(b0, even, b1),
                    _mm512_permutex2var_ps(b0, odd, b1),
                ];
                let mut best = _mm512_permutex2var_ps(t0, even, t1);
                let mut k = _mm512_setzero_si512();
                for (i, candidate) in candidates.into_iter().enumerate() {
                    let wins = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(candidate, best);
                    best = _mm512_mask_mov_ps(best, wins, candidate);
                    k = _mm512_mask_mov_epi32(k, wins, _mm512_set1_epi32(i as i32 + 1));
                }
                _mm512_storeu_ps(o.as_mut_ptr().add(x0), best);
                _mm_storeu_si128(idx.as_mut_ptr().add(x0).cast(), _mm512_cvtepi32_epi8(k));
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_vector_path_pools_as_the_scalar_one() {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx512f") {
            // Ties, NaN and signed zeros among ordinary values, 40 windows.
            let value = |i: usize| match i % 11 {
                0 => f32::NAN,
                1 | 2 => 0.5,
                3 => -0.0,
                _ => ((i * 37 % 23) as f32 - 11.0) / 7.0,
            };
            let top: Vec<f32> = (0..80).map(value).collect();
            let bottom: Vec<f32> = (0..80).map(|i| value(i + 5)).collect();
            let (mut o, mut idx) = (vec![0.0; 40], vec![9u8; 40]);
            super::pool_windows(&top, &bottom, &mut o, &mut idx, 0);
            let (mut vo, mut vidx) = (vec![0.0; 40], vec![9u8; 40]);
            // SAFETY: AVX-512F detected.
            let done = unsafe { super::avx512::forward_row(&top, &bottom, &mut vo, &mut vidx) };
            assert_eq!(done, 32);
            super::pool_windows(&top, &bottom, &mut vo, &mut vidx, done);
            assert_eq!(idx, vidx);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&o), bits(&vo));
        }
    }
}
