//! Total variation: a small penalty on differences between neighbouring
//! pixels, which keeps the result free of high-frequency noise.

use restyle_engine::Tensor;

/// Mean over pixels and channels of the squared differences to the right
/// and lower neighbours; adds its gradient, times `weight`, to `grad`.
/// Returns the unweighted value.
pub fn total_variation(image: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
    let (c, h, w) = image.shape();
    assert_eq!(grad.shape(), image.shape());
    let n = (c * h * w).max(1) as f64;
    let scale = (2.0 * weight as f64 / n) as f32;
    let mut sum = 0.0f64;
    for ch in 0..c {
        let x = image.plane(ch);
        let g = grad.plane_mut(ch);
        for y in 0..h {
            for i in 0..w {
                let p = y * w + i;
                if i + 1 < w {
                    let d = x[p + 1] - x[p];
                    sum += d as f64 * d as f64;
                    g[p + 1] += scale * d;
                    g[p] -= scale * d;
                }
                if y + 1 < h {
                    let d = x[p + w] - x[p];
                    sum += d as f64 * d as f64;
                    g[p + w] += scale * d;
                    g[p] -= scale * d;
                }
            }
        }
    }
    sum / n
}

/// [`total_variation`] of an image that tiles: the right neighbour of the
/// last column is the first, the lower neighbour of the last row the first
/// (what `--seamless` smooths across).
pub fn wrapped_total_variation(image: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
    let (c, h, w) = image.shape();
    assert_eq!(grad.shape(), image.shape());
    let n = (c * h * w).max(1) as f64;
    let scale = (2.0 * weight as f64 / n) as f32;
    let mut sum = 0.0f64;
    for ch in 0..c {
        let x = image.plane(ch);
        let g = grad.plane_mut(ch);
        for y in 0..h {
            for i in 0..w {
                let p = y * w + i;
                for q in [y * w + (i + 1) % w, ((y + 1) % h) * w + i] {
                    let d = x[q] - x[p];
                    sum += d as f64 * d as f64;
                    g[q] += scale * d;
                    g[p] -= scale * d;
                }
            }
        }
    }
    sum / n
}
