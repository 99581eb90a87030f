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
                    for xo in 0..ow {
                        let candidates = [
                            top[2 * xo],
                            top[2 * xo + 1],
                            bottom[2 * xo],
                            bottom[2 * xo + 1],
                        ];
                        let mut best = 0;
                        for k in 1..4 {
                            if candidates[k] > candidates[best] {
                                best = k;
                            }
                        }
                        o[y * ow + xo] = candidates[best];
                        idx[y * ow + xo] = best as u8;
                    }
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
