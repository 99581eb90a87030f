//! Nearest-neighbour upsampling by a whole factor.
//!
//! [`crate::conv2d::Conv2d::upsampling_input`] upsamples as it reads (the enlarged tensor is never
//! made); [`upsample_nearest`] makes it explicitly, as the reference the tests check against.

use crate::Tensor;

/// Each pixel repeated `factor x factor` times (ONNX `Resize`, nearest, asymmetric, floor).
pub fn upsample_nearest(input: &Tensor, factor: usize) -> Tensor {
    let (c, h, w) = input.shape();
    let (oh, ow) = (h * factor, w * factor);
    let mut out = Tensor::zeros(c, oh, ow);
    for ch in 0..c {
        let src = input.plane(ch);
        let dst = out.plane_mut(ch);
        for y in 0..oh {
            let row = &src[(y / factor) * w..][..w];
            for (x, v) in dst[y * ow..(y + 1) * ow].iter_mut().enumerate() {
                *v = row[x / factor];
            }
        }
    }
    out
}
