//! Each operation against the plain reference and against finite differences.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use restyle_engine::{
    maxpool2x2_backward, maxpool2x2_forward, relu_backward, relu_forward, Conv3x3, Tensor,
};

// The test oracle, shared with the engine's unit tests and not part of its API.
#[path = "../src/reference.rs"]
mod reference;

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

/// A convolution with random weights, and its weights and bias.
fn random_conv(rng: &mut ChaCha8Rng, cin: usize, cout: usize) -> (Conv3x3, Vec<f32>, Vec<f32>) {
    let weight: Vec<f32> = (0..cout * cin * 9)
        .map(|_| rng.random_range(-0.5..0.5))
        .collect();
    let bias: Vec<f32> = (0..cout).map(|_| rng.random_range(-0.5..0.5)).collect();
    (
        Conv3x3::new(cin, cout, weight.clone(), bias.clone()),
        weight,
        bias,
    )
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.as_slice()
        .iter()
        .zip(b.as_slice())
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum()
}

fn assert_close(actual: &[f32], expected: &[f32], tolerance: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths differ");
    let scale = expected.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance * scale,
            "{what}: element {i} is {a}, expected {e} (scale {scale})"
        );
    }
}

/// Shapes that cover single rows and columns, odd sizes, both algorithms
/// (16 channels or more run Winograd) and VGG's first layer.
const SHAPES: [(usize, usize, usize, usize); 9] = [
    (1, 1, 1, 1),
    (3, 1, 7, 2),
    (2, 5, 1, 3),
    (3, 7, 9, 4),
    (8, 16, 16, 8),
    (16, 33, 17, 5),
    (64, 12, 10, 32),
    (3, 13, 11, 64),
    (20, 1, 1, 17),
];

#[test]
fn conv_forward_matches_the_direct_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (cin, h, w, cout) in SHAPES {
        let (conv, weight, bias) = random_conv(&mut rng, cin, cout);
        let x = random_tensor(&mut rng, cin, h, w);
        let expected = reference::conv3x3(&x, &weight, Some(&bias), cout);
        assert_close(
            conv.forward(&x).as_slice(),
            expected.as_slice(),
            1e-5,
            &format!("{cin}x{h}x{w}->{cout}"),
        );
    }
}

#[test]
fn conv_backward_is_the_adjoint_of_forward() {
    // <conv(x) - bias, g> = <x, conv_backward(g)> for every x and g.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (cin, h, w, cout) in SHAPES {
        let (conv, weight, _) = random_conv(&mut rng, cin, cout);
        let unbiased = Conv3x3::new(cin, cout, weight, vec![0.0; cout]);
        let x = random_tensor(&mut rng, cin, h, w);
        let g = random_tensor(&mut rng, cout, h, w);
        let lhs = dot(&unbiased.forward(&x), &g);
        let rhs = dot(&x, &conv.backward_input(&g));
        assert!(
            (lhs - rhs).abs() <= 1e-4 * lhs.abs().max(1.0),
            "{cin}x{h}x{w}->{cout}: {lhs} vs {rhs}"
        );
    }
}

/// Central finite differences of `loss(x) = <op(x), r>` against the analytic
/// gradient, at a handful of coordinates.
fn check_gradient(
    x: &Tensor,
    forward: impl Fn(&Tensor) -> Tensor,
    grad: &Tensor,
    r: &Tensor,
    eps: f32,
) {
    let loss = |t: &Tensor| dot(&forward(t), r);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    for _ in 0..24 {
        let i = rng.random_range(0..x.len());
        let (mut plus, mut minus) = (x.clone(), x.clone());
        plus.as_mut_slice()[i] += eps;
        minus.as_mut_slice()[i] -= eps;
        let numeric = (loss(&plus) - loss(&minus)) / (2.0 * eps as f64);
        let analytic = grad.as_slice()[i] as f64;
        assert!(
            (numeric - analytic).abs() <= 1e-2 * numeric.abs().max(analytic.abs()).max(1e-1),
            "element {i}: finite difference {numeric}, analytic {analytic}"
        );
    }
}

#[test]
fn conv_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (conv, _, _) = random_conv(&mut rng, 4, 6);
    let x = random_tensor(&mut rng, 4, 9, 11);
    let r = random_tensor(&mut rng, 6, 9, 11);
    check_gradient(&x, |t| conv.forward(t), &conv.backward_input(&r), &r, 1e-2);
}

#[test]
fn relu_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = random_tensor(&mut rng, 3, 8, 8);
    let r = random_tensor(&mut rng, 3, 8, 8);
    let mut y = x.clone();
    let mask = relu_forward(&mut y);
    assert!(y.as_slice().iter().all(|&v| v >= 0.0));
    let mut g = r.clone();
    relu_backward(&mask, &mut g);
    check_gradient(
        &x,
        |t| {
            let mut t = t.clone();
            relu_forward(&mut t);
            t
        },
        &g,
        &r,
        1e-3,
    );
}

#[test]
fn relu_mask_covers_lengths_that_are_not_multiples_of_64() {
    let mut x = Tensor::from_vec(
        1,
        1,
        70,
        (0..70)
            .map(|i| if i % 3 == 0 { 1.0 } else { -1.0 })
            .collect(),
    );
    let mask = relu_forward(&mut x);
    assert_eq!(mask.len(), 70);
    for i in 0..70 {
        assert_eq!(mask.is_set(i), i % 3 == 0, "bit {i}");
    }
}

#[test]
fn maxpool_picks_the_maximum_and_floors_odd_sizes() {
    // 1 channel, 3x5: the last row and column are dropped.
    #[rustfmt::skip]
    let x = Tensor::from_vec(1, 3, 5, vec![
        1.0, 5.0, 2.0, 2.0, 9.0,
        3.0, 4.0, 7.0, 2.0, 9.0,
        9.0, 9.0, 9.0, 9.0, 9.0,
    ]);
    let (y, argmax) = maxpool2x2_forward(&x);
    assert_eq!(y.shape(), (1, 1, 2));
    assert_eq!(y.as_slice(), &[5.0, 7.0]);
    let g = maxpool2x2_backward(&argmax, &Tensor::from_vec(1, 1, 2, vec![10.0, 20.0]));
    #[rustfmt::skip]
    assert_eq!(g.as_slice(), &[
        0.0, 10.0, 0.0, 0.0, 0.0,
        0.0, 0.0, 20.0, 0.0, 0.0,
        0.0, 0.0, 0.0, 0.0, 0.0,
    ]);
}

#[test]
fn maxpool_ties_go_to_the_first_element_as_in_pytorch() {
    let x = Tensor::from_vec(1, 2, 2, vec![3.0, 3.0, 3.0, 3.0]);
    let (_, argmax) = maxpool2x2_forward(&x);
    let g = maxpool2x2_backward(&argmax, &Tensor::from_vec(1, 1, 1, vec![1.0]));
    assert_eq!(g.as_slice(), &[1.0, 0.0, 0.0, 0.0]);
}

#[test]
fn maxpool_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = random_tensor(&mut rng, 4, 9, 10);
    let r = random_tensor(&mut rng, 4, 4, 5);
    let (_, argmax) = maxpool2x2_forward(&x);
    check_gradient(
        &x,
        |t| maxpool2x2_forward(t).0,
        &maxpool2x2_backward(&argmax, &r),
        &r,
        1e-3,
    );
}

#[test]
fn maxpool_of_a_single_row_is_empty() {
    let x = Tensor::zeros(2, 1, 6);
    let (y, argmax) = maxpool2x2_forward(&x);
    assert_eq!(y.shape(), (2, 0, 3));
    assert_eq!(maxpool2x2_backward(&argmax, &y).shape(), (2, 1, 6));
}

/// Every VGG-19 layer's channel counts, at small odd sizes.
const VGG_LAYERS: [(usize, usize); 8] = [
    (3, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 256),
    (256, 256),
    (256, 512),
    (512, 512),
];

#[test]
fn the_fast_path_matches_the_plain_path_on_every_vgg_layer_both_ways() {
    use restyle_engine::Algorithm;
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for (i, &(cin, cout)) in VGG_LAYERS.iter().enumerate() {
        let (h, w) = [
            (13, 9),
            (9, 14),
            (7, 5),
            (6, 6),
            (5, 7),
            (4, 9),
            (3, 3),
            (5, 2),
        ][i];
        let weight: Vec<f32> = (0..cout * cin * 9)
            .map(|_| rng.random_range(-0.1..0.1))
            .collect();
        let bias: Vec<f32> = (0..cout).map(|_| rng.random_range(-0.5..0.5)).collect();
        let fast = Conv3x3::with_algorithm(cin, cout, &weight, bias.clone(), Algorithm::Auto);
        let plain = Conv3x3::with_algorithm(cin, cout, &weight, bias, Algorithm::Direct);
        let x = random_tensor(&mut rng, cin, h, w);
        let g = random_tensor(&mut rng, cout, h, w);
        let what = format!("{cin}->{cout} at {h}x{w}");
        assert_close(
            fast.forward(&x).as_slice(),
            plain.forward(&x).as_slice(),
            1e-4,
            &format!("forward {what}"),
        );
        assert_close(
            fast.backward_input(&g).as_slice(),
            plain.backward_input(&g).as_slice(),
            1e-4,
            &format!("backward {what}"),
        );
    }
}
