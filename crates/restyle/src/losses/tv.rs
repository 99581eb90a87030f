//! Total variation: a small penalty on differences between neighbouring
//! pixels, which keeps the result free of high-frequency noise.

use restyle_engine::Tensor;

use super::sum_of_squares;

/// Mean over pixels and channels of the squared differences to the right
/// and lower neighbours; adds its gradient, times `weight`, to `grad`.
/// Returns the unweighted value.
///
/// Row by row, each pixel's gradient in one go: the differences to its
/// upper and left neighbours come in, those to its right and lower ones go
/// out, in that order (the order a loop over the differences, adding each
/// into both of its pixels, would give them). Every step is then the same
/// for all pixels of a row, and vectorises, where a loop over the
/// differences would be a chain of dependent additions.
pub fn total_variation(image: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
    let (c, h, w) = image.shape();
    assert_eq!(grad.shape(), image.shape());
    let n = (c * h * w).max(1) as f64;
    let scale = (2.0 * weight as f64 / n) as f32;
    if w == 0 {
        return 0.0;
    }
    let mut sum = 0.0f64;
    // The differences to the right of each pixel of a row (the last one
    // has none: zero, and it adds nothing), and below each pixel of this
    // row and of the one above.
    let (mut right, mut below, mut above) = (vec![0.0; w], vec![0.0; w], vec![0.0; w]);
    for ch in 0..c {
        let x = image.plane(ch);
        let g = grad.plane_mut(ch);
        for y in 0..h {
            let row = &x[y * w..][..w];
            for (d, pair) in right.iter_mut().zip(row.windows(2)) {
                *d = pair[1] - pair[0];
            }
            sum += sum_of_squares(&right[..w.saturating_sub(1)]);
            let has_below = y + 1 < h;
            if has_below {
                for ((d, &down), &v) in below.iter_mut().zip(&x[(y + 1) * w..][..w]).zip(row) {
                    *d = down - v;
                }
                sum += sum_of_squares(&below);
            }
            let out = &mut g[y * w..][..w];
            if y > 0 {
                for (o, &d) in out.iter_mut().zip(&above) {
                    *o += scale * d;
                }
            }
            for (o, &d) in out[1..].iter_mut().zip(&right) {
                *o += scale * d;
            }
            for (o, &d) in out.iter_mut().zip(&right[..w.saturating_sub(1)]) {
                *o -= scale * d;
            }
            if has_below {
                for (o, &d) in out.iter_mut().zip(&below) {
                    *o -= scale * d;
                }
            }
            std::mem::swap(&mut above, &mut below);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The loop over the differences, each added into both of its pixels.
    fn by_differences(image: &Tensor, weight: f32, grad: &mut Tensor) -> f64 {
        let (c, h, w) = image.shape();
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

    #[test]
    fn the_gradient_is_that_of_the_loop_over_differences_bit_for_bit() {
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for (c, h, w) in [
            (3, 37, 29),
            (1, 1, 1),
            (2, 1, 17),
            (3, 19, 1),
            (1, 2, 2),
            (3, 8, 64),
        ] {
            let image = Tensor::from_vec(c, h, w, (0..c * h * w).map(|_| next()).collect());
            let start = Tensor::from_vec(c, h, w, (0..c * h * w).map(|_| next() - 0.5).collect());
            let (mut ours, mut theirs) = (start.clone(), start.clone());
            let value = total_variation(&image, 0.3, &mut ours);
            let expected = by_differences(&image, 0.3, &mut theirs);
            assert_eq!(ours.as_slice(), theirs.as_slice(), "{c}x{h}x{w}");
            assert!(
                (value - expected).abs() <= 1e-12 * expected.abs(),
                "{c}x{h}x{w}: {value} vs {expected}"
            );
            if h * w > 1 {
                assert!(ours.as_slice() != start.as_slice());
            }
        }
    }
}
