//! Plain, obviously-correct versions of the engine's operations, in `f64`,
//! used by the tests to check the fast paths. Not part of the engine's API:
//! compiled into its unit tests (`#[cfg(test)]` in `lib.rs`) and included by
//! path into its integration tests, whose root imports `Tensor`.

use crate::Tensor;

/// Direct 3x3 convolution (cross-correlation), stride 1, zero padding 1.
pub fn conv3x3(
    input: &Tensor,
    weight: &[f32],
    bias: Option<&[f32]>,
    out_channels: usize,
) -> Tensor {
    let (cin, h, w) = input.shape();
    let mut out = Tensor::zeros(out_channels, h, w);
    for o in 0..out_channels {
        for y in 0..h {
            for x in 0..w {
                let mut acc = bias.map_or(0.0, |b| b[o] as f64);
                for i in 0..cin {
                    for dy in 0..3 {
                        for dx in 0..3 {
                            let (yy, xx) =
                                (y as isize + dy as isize - 1, x as isize + dx as isize - 1);
                            if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                continue;
                            }
                            acc += weight[((o * cin + i) * 3 + dy) * 3 + dx] as f64
                                * input.get(i, yy as usize, xx as usize) as f64;
                        }
                    }
                }
                out.as_mut_slice()[(o * h + y) * w + x] = acc as f32;
            }
        }
    }
    out
}
