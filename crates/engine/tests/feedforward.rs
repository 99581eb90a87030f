//! The fast model's forward operations against plain references written here: a direct
//! grouped convolution over an explicitly padded and upsampled tensor, instance
//! normalisation computed in f64, and hand-worked padding and upsampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use restyle_engine::activation::Activation;
use restyle_engine::conv2d::Conv2d;
use restyle_engine::depthwise::DepthwiseConv3x3;
use restyle_engine::norm::{channel_moments, global_average_pool, instance_norm, Moments};
use restyle_engine::pad::{pad, Padding};
use restyle_engine::upsample::upsample_nearest;
use restyle_engine::Tensor;

fn random_tensor(rng: &mut ChaCha8Rng, c: usize, h: usize, w: usize) -> Tensor {
    Tensor::from_vec(
        c,
        h,
        w,
        (0..c * h * w)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect(),
    )
}

fn random_vec(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-0.5..0.5)).collect()
}

/// Valid (unpadded) grouped convolution, in f64.
fn reference_conv(
    x: &Tensor,
    weight: &[f32],
    bias: &[f32],
    out_channels: usize,
    k: usize,
    stride: usize,
    groups: usize,
) -> Tensor {
    let (cin, h, w) = x.shape();
    let (oh, ow) = ((h - k) / stride + 1, (w - k) / stride + 1);
    let (gin, gout) = (cin / groups, out_channels / groups);
    let mut out = Tensor::zeros(out_channels, oh, ow);
    for o in 0..out_channels {
        let g = o / gout;
        for y in 0..oh {
            for xx in 0..ow {
                let mut acc = bias[o] as f64;
                for i in 0..gin {
                    for ky in 0..k {
                        for kx in 0..k {
                            acc += weight[((o * gin + i) * k + ky) * k + kx] as f64
                                * x.get(g * gin + i, y * stride + ky, xx * stride + kx) as f64;
                        }
                    }
                }
                out.as_mut_slice()[(o * oh + y) * ow + xx] = acc as f32;
            }
        }
    }
    out
}

fn assert_close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
    assert_eq!(a.shape(), b.shape(), "{what}: shapes");
    let worst = a
        .as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: max difference {worst} > {tol}");
}

#[test]
fn reflect_padding_mirrors_without_repeating_the_edge() {
    let x = Tensor::from_vec(1, 3, 4, (1..=12).map(|v| v as f32).collect());
    let padded = pad(&x, Padding::Reflect(2));
    assert_eq!(padded.shape(), (1, 7, 8));
    let rows: Vec<&[f32]> = padded.as_slice().chunks(8).collect();
    assert_eq!(rows[2], &[3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0]); // the first row
    assert_eq!(rows[0], &[11.0, 10.0, 9.0, 10.0, 11.0, 12.0, 11.0, 10.0]); // mirrors the third
    assert_eq!(rows[6], rows[2]);
    let x = Tensor::from_vec(1, 1, 4, vec![1.0, 2.0, 3.0, 4.0]);
    let zero = pad(
        &x,
        Padding::Zero {
            top: 0,
            left: 1,
            bottom: 1,
            right: 0,
        },
    );
    assert_eq!(
        zero.as_slice(),
        &[0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
}

#[test]
fn nearest_upsampling_repeats_each_pixel() {
    let x = Tensor::from_vec(1, 1, 2, vec![1.0, 2.0]);
    let up = upsample_nearest(&x, 2);
    assert_eq!(up.shape(), (1, 2, 4));
    assert_eq!(up.as_slice(), &[1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0]);
}

#[test]
fn conv2d_matches_the_reference_for_every_shape_the_model_uses() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    // (in, out, kernel, stride, padding, upsample, height, width)
    let cases = [
        (3, 8, 9, 1, Padding::Reflect(4), 1, 23, 17),
        (8, 16, 3, 2, Padding::Reflect(1), 1, 23, 17),
        (16, 32, 3, 2, Padding::Reflect(1), 1, 12, 9),
        (32, 32, 3, 1, Padding::Reflect(1), 1, 6, 5),
        (32, 16, 3, 1, Padding::Reflect(1), 2, 6, 5),
        (8, 3, 9, 1, Padding::Reflect(4), 1, 24, 20),
        (
            3,
            32,
            3,
            2,
            Padding::Zero {
                top: 0,
                left: 0,
                bottom: 1,
                right: 1,
            },
            1,
            16,
            16,
        ),
        (24, 40, 1, 1, Padding::NONE, 1, 9, 700),
        // Run directly (at most 8 output channels, stride 1): several LANES-wide column
        // blocks and a partial one, bands of rows and a partial one.
        (8, 3, 9, 1, Padding::Reflect(4), 1, 21, 70),
        (16, 8, 3, 1, Padding::Reflect(1), 2, 10, 37),
        (2, 1, 5, 1, Padding::zeros(2), 1, 9, 33),
        (5, 7, 3, 1, Padding::zeros(1), 3, 4, 3),
        // Strided, run directly: each padded row kept as its phases; widths with several
        // column blocks and a partial one, an even kernel, a stride of three, and more rows
        // than one band.
        (8, 16, 3, 2, Padding::Reflect(1), 1, 53, 71),
        (3, 5, 4, 2, Padding::zeros(1), 1, 11, 40),
        (4, 6, 5, 3, Padding::Reflect(2), 1, 19, 50),
        (6, 4, 3, 2, Padding::zeros(1), 2, 9, 21),
        // Strided with too many output channels to run directly (lowered for a product).
        (8, 48, 3, 2, Padding::Reflect(1), 1, 15, 37),
    ];
    for (cin, cout, k, stride, padding, up, h, w) in cases {
        let x = random_tensor(&mut rng, cin, h, w);
        let weight = random_vec(&mut rng, cout * cin * k * k);
        let bias = random_vec(&mut rng, cout);
        let conv =
            Conv2d::new(cin, cout, k, stride, padding, &weight, bias.clone()).upsampling_input(up);
        let expected = reference_conv(
            &pad(&upsample_nearest(&x, up), padding),
            &weight,
            &bias,
            cout,
            k,
            stride,
            1,
        );
        let what = format!("{cin}->{cout} k{k} s{stride} {padding:?} up{up} {h}x{w}");
        assert_eq!(
            conv.output_size(h, w),
            Some((expected.height(), expected.width())),
            "{what}"
        );
        let (got, moments) = conv.forward_with_moments(&x);
        assert_close(&got, &expected, 1e-4, &what);
        let direct = channel_moments(&expected);
        for (m, d) in moments.iter().zip(&direct) {
            assert!((m.mean() - d.mean()).abs() < 1e-5, "{what}: mean");
            assert!(
                (m.variance() - d.variance()).abs() < 1e-5 * d.variance().max(1.0),
                "{what}"
            );
        }
    }
}

#[test]
fn an_activation_set_after_upsampling_applies_to_the_output() {
    // An upsampling 3x3 convolution runs as four 2x2 ones; an activation given afterwards
    // must reach them (and the moments are the activated output's).
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let (cin, cout, h, w) = (6, 5, 7, 19);
    let x = random_tensor(&mut rng, cin, h, w);
    let weight = random_vec(&mut rng, cout * cin * 9);
    let bias = random_vec(&mut rng, cout);
    let conv = Conv2d::new(cin, cout, 3, 1, Padding::Reflect(1), &weight, bias.clone())
        .upsampling_input(2)
        .with_activation(Activation::Relu);
    let mut expected = reference_conv(
        &pad(&upsample_nearest(&x, 2), Padding::Reflect(1)),
        &weight,
        &bias,
        cout,
        3,
        1,
        1,
    );
    Activation::Relu.apply_slice(expected.as_mut_slice());
    let (got, moments) = conv.forward_with_moments(&x);
    assert_close(&got, &expected, 1e-4, "relu after upsampling");
    for (m, d) in moments.iter().zip(&channel_moments(&expected)) {
        assert!((m.mean() - d.mean()).abs() < 1e-5);
    }
}

#[test]
fn conv2d_refuses_inputs_too_small_to_reflect() {
    let conv = Conv2d::new(1, 1, 9, 1, Padding::Reflect(4), &[0.0; 81], vec![0.0]);
    assert_eq!(conv.output_size(4, 10), None);
    assert_eq!(conv.output_size(5, 10), Some((5, 10)));
}

#[test]
fn depthwise_matches_the_grouped_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for (c, stride, padding, h, w) in [
        (6, 1, Padding::zeros(1), 9, 7),
        (
            6,
            2,
            Padding::Zero {
                top: 0,
                left: 0,
                bottom: 1,
                right: 1,
            },
            8,
            10,
        ),
    ] {
        let x = random_tensor(&mut rng, c, h, w);
        let weight = random_vec(&mut rng, c * 9);
        let bias = random_vec(&mut rng, c);
        let dw = DepthwiseConv3x3::new(
            c,
            stride,
            padding,
            weight.clone(),
            bias.clone(),
            Activation::Relu6,
        );
        let mut expected = reference_conv(&pad(&x, padding), &weight, &bias, c, 3, stride, c);
        Activation::Relu6.apply_slice(expected.as_mut_slice());
        assert_close(&dw.forward(&x), &expected, 1e-5, "depthwise");
    }
}

#[test]
fn instance_norm_matches_the_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let (c, h, w) = (3, 70, 600); // planes longer than one parallel chunk
    let mut x = random_tensor(&mut rng, c, h, w);
    for v in x.as_mut_slice().iter_mut() {
        *v = *v * 3.0 + 100.0; // a large mean, so a naive variance would lose digits
    }
    let residual = random_tensor(&mut rng, c, h, w);
    let (scale, shift) = (random_vec(&mut rng, c), random_vec(&mut rng, c));
    let eps = 1e-5;
    let mut expected = x.clone();
    for ch in 0..c {
        let p = x.plane(ch);
        let mean = p.iter().map(|&v| v as f64).sum::<f64>() / p.len() as f64;
        let var = p.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / p.len() as f64;
        for (i, e) in expected.plane_mut(ch).iter_mut().enumerate() {
            let y = (p[i] as f64 - mean) / (var + eps as f64).sqrt() * scale[ch] as f64
                + shift[ch] as f64;
            *e = (y.max(0.0) + residual.plane(ch)[i] as f64) as f32;
        }
    }
    let moments = channel_moments(&x);
    instance_norm(
        &mut x,
        &moments,
        &scale,
        &shift,
        eps,
        Activation::Relu,
        Some(&residual),
    );
    assert_close(&x, &expected, 1e-4, "instance norm");
}

#[test]
fn moments_merge_like_one_set() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let values = random_vec(&mut rng, 1001);
    let whole = Moments::of(&values);
    let (a, b) = values.split_at(333);
    let merged = Moments::of(a).merge(Moments::of(b));
    assert!((whole.mean() - merged.mean()).abs() < 1e-7);
    assert!((whole.variance() - merged.variance()).abs() < 1e-7);
    assert_eq!(merged.count(), 1001.0);
    let pooled = global_average_pool(&Tensor::from_vec(2, 1, 2, vec![1.0, 3.0, -2.0, 0.0]));
    assert_eq!(pooled, vec![2.0, -1.0]);
}

#[test]
fn activations() {
    let mut v = vec![-1.0, 0.5, 7.0, 0.0];
    Activation::Relu6.apply_slice(&mut v);
    assert_eq!(v, vec![0.0, 0.5, 6.0, 0.0]);
    let mut s = vec![0.0, 100.0, -100.0];
    Activation::Sigmoid.apply_slice(&mut s);
    assert_eq!(s, vec![0.5, 1.0, 0.0]);
    assert_eq!(Activation::Relu.apply(-3.0), 0.0);
    assert_eq!(Activation::Identity.apply(-3.0), -3.0);
}
