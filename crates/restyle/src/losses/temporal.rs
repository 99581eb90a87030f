//! Temporal loss (Ruder, Dosovitskiy & Brox, "Artistic style transfer for videos", 2016): a
//! frame of a clip is pulled towards the previous painted frame carried along the optical flow,
//! where the flow is reliable, so that what stays in the picture stays painted the same way.

use restyle_engine::Tensor;

/// `sum_i c_i (x_i - w_i)^2 / D` over the `D` pixel values, `w` the previous painted frame
/// carried to this one and `c` the flow's reliability (one weight a pixel, for all channels);
/// adds its gradient, times `weight`, to `grad`. Returns the unweighted value.
pub fn temporal_loss(
    image: &Tensor,
    carried: &Tensor,
    reliability: &[f32],
    weight: f32,
    grad: &mut Tensor,
) -> f64 {
    let (c, h, w) = image.shape();
    assert_eq!(carried.shape(), image.shape(), "the carried frame's shape");
    assert_eq!(grad.shape(), image.shape(), "the gradient's shape");
    assert_eq!(reliability.len(), h * w, "one reliability a pixel");
    let n = (c * h * w).max(1) as f64;
    let scale = (2.0 * weight as f64 / n) as f32;
    let mut sum = 0.0f64;
    for ch in 0..c {
        let (x, p) = (image.plane(ch), carried.plane(ch));
        let g = grad.plane_mut(ch);
        let mut lanes = [0.0f64; 8];
        for (i, (((g, &x), &p), &m)) in g.iter_mut().zip(x).zip(p).zip(reliability).enumerate() {
            let d = x - p;
            lanes[i % 8] += (m * d * d) as f64;
            *g += scale * m * d;
        }
        sum += lanes.iter().sum::<f64>();
    }
    sum / n
}
