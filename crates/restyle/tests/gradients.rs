//! Every loss's gradient against finite differences, alone and through VGG-19.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use restyle::losses::{
    gram, guided_gram, temporal_loss, total_variation, wrapped_total_variation, ContentLoss, Gram,
    GuidedStyleLoss, StyleLoss,
};
use restyle::{Borders, Layer, MaskAtLayer, StyleObjective, Vgg19};
use restyle_engine::Tensor;
use restyle_test_support::require_or_skip;

fn random(rng: &mut ChaCha8Rng, c: usize, h: usize, w: usize, lo: f32, hi: f32) -> Tensor {
    Tensor::from_vec(
        c,
        h,
        w,
        (0..c * h * w).map(|_| rng.random_range(lo..hi)).collect(),
    )
}

/// Checks `grad` against central differences of `f` along `coordinates`
/// single coordinates and `random_directions` random directions.
fn check_along(
    x: &Tensor,
    grad: &Tensor,
    f: impl Fn(&Tensor) -> f64,
    eps: f32,
    tolerance: f64,
    coordinates: usize,
    random_directions: usize,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let central = |d: &Tensor| {
        let (mut plus, mut minus) = (x.clone(), x.clone());
        for ((p, m), v) in plus
            .as_mut_slice()
            .iter_mut()
            .zip(minus.as_mut_slice())
            .zip(d.as_slice())
        {
            *p += eps * v;
            *m -= eps * v;
        }
        (f(&plus) - f(&minus)) / (2.0 * eps as f64)
    };
    let (c, h, w) = x.shape();
    let mut directions: Vec<Tensor> = (0..coordinates)
        .map(|_| {
            let mut d = Tensor::zeros(c, h, w);
            d.as_mut_slice()[rng.random_range(0..c * h * w)] = 1.0;
            d
        })
        .collect();
    directions.extend((0..random_directions).map(|_| random(&mut rng, c, h, w, -1.0, 1.0)));
    for d in directions {
        let numeric = central(&d);
        let analytic: f64 = grad
            .as_slice()
            .iter()
            .zip(d.as_slice())
            .map(|(&g, &v)| g as f64 * v as f64)
            .sum();
        let scale = numeric.abs().max(analytic.abs()).max(1e-6);
        assert!(
            (numeric - analytic).abs() <= tolerance * scale,
            "finite difference {numeric:e}, analytic {analytic:e}"
        );
    }
}

fn check(x: &Tensor, grad: &Tensor, f: impl Fn(&Tensor) -> f64, eps: f32, tolerance: f64) {
    check_along(x, grad, f, eps, tolerance, 8, 1);
}

#[test]
fn gram_matches_the_definition() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    // Wide enough (M = 5000, 3000) to exercise the parallel partial sums of
    // upper triangles; 37 channels, past the 32-wide blocks of the mirroring.
    for (c, h, w) in [(5, 50, 100), (37, 30, 100)] {
        let f = random(&mut rng, c, h, w, -1.0, 1.0);
        let g = gram(&f);
        let m = (h * w) as f64;
        for i in 0..c {
            for j in 0..c {
                let expected: f64 = f
                    .plane(i)
                    .iter()
                    .zip(f.plane(j))
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
                    / m;
                let got = g.as_slice()[i * c + j] as f64;
                assert!(
                    (got - expected).abs() < 1e-5,
                    "{c} channels: G[{i}][{j}] = {got}, expected {expected}"
                );
            }
        }
    }
}

#[test]
fn gram_blend_is_the_weighted_sum() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let a = gram(&random(&mut rng, 3, 4, 4, 0.0, 1.0));
    let b = gram(&random(&mut rng, 3, 7, 5, 0.0, 1.0));
    let blend = Gram::blend(&[(a.clone(), 0.25), (b.clone(), 0.75)]);
    for i in 0..9 {
        let expected = 0.25 * a.as_slice()[i] + 0.75 * b.as_slice()[i];
        assert!((blend.as_slice()[i] - expected).abs() < 1e-6);
    }
}

#[test]
fn content_loss_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let loss = ContentLoss::new(random(&mut rng, 4, 6, 7, -1.0, 1.0));
    let x = random(&mut rng, 4, 6, 7, -1.0, 1.0);
    let (value, grad) = loss.value_and_grad(&x);
    assert!(value > 0.0);
    check(&x, &grad, |t| loss.value_and_grad(t).0, 1e-2, 1e-3);
    assert_eq!(
        loss.value_and_grad(loss.target()).0,
        0.0,
        "zero at the target"
    );
}

#[test]
fn style_loss_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let loss = StyleLoss::new(gram(&random(&mut rng, 6, 9, 8, 0.0, 2.0)));
    let x = random(&mut rng, 6, 5, 7, 0.0, 2.0);
    let (_, grad) = loss.value_and_grad(&x);
    check(&x, &grad, |t| loss.value_and_grad(t).0, 1e-2, 2e-3);
}

#[test]
fn a_weighted_gradient_is_the_gradient_times_the_weight() {
    // What the objective asks of each loss: the same value, and the
    // gradient already multiplied by the term's weight.
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = random(&mut rng, 5, 6, 7, 0.0, 2.0);
    let style = StyleLoss::new(gram(&random(&mut rng, 5, 8, 8, 0.0, 2.0)));
    let content = ContentLoss::new(random(&mut rng, 5, 6, 7, 0.0, 2.0));
    let mask: Vec<f32> = (0..42).map(|i| (i % 5) as f32 / 4.0).collect();
    let (guided, _) = GuidedStyleLoss::new(style.target().clone(), &mask).unwrap();
    let pairs = [
        (
            style.value_and_grad(&x),
            style.value_and_weighted_grad(&x, 0.3),
        ),
        (
            content.value_and_grad(&x),
            content.value_and_weighted_grad(&x, 0.3),
        ),
        (
            guided.value_and_grad(&x),
            guided.value_and_weighted_grad(&x, 0.3),
        ),
    ];
    for ((value, grad), (weighted_value, weighted_grad)) in pairs {
        assert_eq!(value, weighted_value);
        assert!(grad.as_slice().iter().any(|&g| g != 0.0));
        for (g, w) in grad.as_slice().iter().zip(weighted_grad.as_slice()) {
            assert!((0.3 * g - w).abs() <= 1e-6 * g.abs().max(1e-3), "{g} {w}");
        }
    }
}

#[test]
fn style_loss_ignores_where_features_are() {
    // The Gram matrix is invariant to permuting positions: a shuffled image
    // has the same style.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let x = random(&mut rng, 4, 6, 6, 0.0, 1.0);
    let loss = StyleLoss::new(gram(&x));
    let mut shuffled = x.clone();
    for c in 0..4 {
        shuffled.plane_mut(c).reverse();
    }
    assert!(loss.value_and_grad(&shuffled).0 < 1e-10);
}

#[test]
fn total_variation_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = random(&mut rng, 3, 7, 9, 0.0, 1.0);
    let mut grad = Tensor::zeros(3, 7, 9);
    total_variation(&x, 2.5, &mut grad);
    check(
        &x,
        &grad,
        |t| 2.5 * total_variation(t, 1.0, &mut Tensor::zeros(3, 7, 9)),
        1e-3,
        1e-3,
    );
    let flat = Tensor::from_vec(3, 7, 9, vec![0.3; 3 * 63]);
    assert_eq!(
        total_variation(&flat, 1.0, &mut Tensor::zeros(3, 7, 9)),
        0.0
    );
}

#[test]
fn temporal_loss_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x = random(&mut rng, 3, 6, 8, 0.0, 1.0);
    let carried = random(&mut rng, 3, 6, 8, 0.0, 1.0);
    // Reliability 0, 1 and in between.
    let reliability: Vec<f32> = (0..48).map(|i| [0.0, 1.0, 0.4][i % 3]).collect();
    let mut grad = Tensor::zeros(3, 6, 8);
    let value = temporal_loss(&x, &carried, &reliability, 3.0, &mut grad);
    check(
        &x,
        &grad,
        |t| 3.0 * temporal_loss(t, &carried, &reliability, 1.0, &mut Tensor::zeros(3, 6, 8)),
        1e-3,
        1e-3,
    );
    // By definition: the reliability-weighted mean of squared differences.
    let mut expected = 0.0f64;
    for c in 0..3 {
        for (p, &m) in reliability.iter().enumerate() {
            let d = (x.plane(c)[p] - carried.plane(c)[p]) as f64;
            expected += m as f64 * d * d;
        }
    }
    assert!(
        (value - expected / 144.0).abs() < 1e-6,
        "{value} against {}",
        expected / 144.0
    );
    // Unreliable pixels are free: no gradient there.
    assert!((0..3).all(|c| grad.plane(c).iter().step_by(3).all(|&g| g == 0.0)));
}

fn layer(name: &str) -> Layer {
    name.parse().unwrap()
}

/// An objective with content at conv2_2, style at relu1_1 and relu3_1, and
/// total variation, on random images.
fn deep_objective<'n>(
    net: &'n Vgg19,
    rng: &mut ChaCha8Rng,
    parts: [bool; 3],
) -> StyleObjective<'n> {
    let content = random(rng, 3, 20, 24, 0.0, 1.0);
    let style = random(rng, 3, 22, 18, 0.0, 1.0);
    let features = net.features(&content, &[layer("conv2_2")]);
    let style_features = net.features(&style, &[layer("relu1_1"), layer("relu3_1")]);
    let content_losses = vec![(layer("conv2_2"), 1.0, ContentLoss::new(features[0].clone()))];
    let style_losses = vec![
        (
            layer("relu1_1"),
            3.0,
            StyleLoss::new(gram(&style_features[0])),
        ),
        (
            layer("relu3_1"),
            2.0,
            StyleLoss::new(gram(&style_features[1])),
        ),
    ];
    StyleObjective::new(
        net,
        if parts[0] { content_losses } else { vec![] },
        if parts[1] { style_losses } else { vec![] },
        if parts[2] { 0.5 } else { 0.0 },
    )
}

#[test]
fn objective_gradient_is_exact_where_the_network_is_smooth() {
    // Up to conv1_1 the network is affine, so finite differences are exact
    // up to rounding: content, style and total variation together.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let net = Vgg19::embedded_up_to(layer("conv1_1"));
    let content = random(&mut rng, 3, 12, 10, 0.0, 1.0);
    let style = random(&mut rng, 3, 9, 11, 0.0, 1.0);
    let target = net.features(&content, &[layer("conv1_1")]).remove(0);
    let style_target = gram(&net.features(&style, &[layer("conv1_1")]).remove(0));
    let mut objective = StyleObjective::new(
        &net,
        vec![(layer("conv1_1"), 1.0, ContentLoss::new(target))],
        vec![(layer("conv1_1"), 4.0, StyleLoss::new(style_target))],
        0.5,
    );
    let x = random(&mut rng, 3, 12, 10, 0.2, 0.8);
    let (_, grad) = objective.evaluate(&x);
    let objective = std::cell::RefCell::new(objective);
    check(
        &x,
        &grad,
        |t| objective.borrow_mut().evaluate(t).0.total(),
        1e-2,
        1e-3,
    );
}

#[test]
fn objective_gradient_through_vgg19_matches_finite_differences() {
    // Deeper, ReLU and pooling kinks make finite differences approximate
    // (a few percent along random directions): this catches wrong signs,
    // scales and routing, which the exact tests below pin down further.
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let net = Vgg19::embedded_up_to(layer("relu3_1"));
    let mut objective = deep_objective(&net, &mut rng, [true, true, true]);
    let x = random(&mut rng, 3, 20, 24, 0.2, 0.8);
    let (losses, grad) = objective.evaluate(&x);
    assert!(losses.content > 0.0 && losses.style > 0.0 && losses.tv > 0.0);
    let objective = std::cell::RefCell::new(objective);
    check_along(
        &x,
        &grad,
        |t| objective.borrow_mut().evaluate(t).0.total(),
        1e-4,
        0.1,
        0,
        4,
    );
}

#[test]
fn gradients_injected_at_several_layers_add_up() {
    // Back-propagation is linear: the whole objective's gradient is the sum
    // of its parts' gradients, each computed alone.
    let net = Vgg19::embedded_up_to(layer("relu3_1"));
    let x = random(&mut ChaCha8Rng::seed_from_u64(8), 3, 20, 24, 0.2, 0.8);
    let whole =
        deep_objective(&net, &mut ChaCha8Rng::seed_from_u64(7), [true, true, true]).evaluate(&x);
    let mut sum = Tensor::zeros(3, 20, 24);
    let mut total = 0.0;
    for parts in [
        [true, false, false],
        [false, true, false],
        [false, false, true],
    ] {
        let (losses, grad) =
            deep_objective(&net, &mut ChaCha8Rng::seed_from_u64(7), parts).evaluate(&x);
        total += losses.total();
        sum.add_assign(&grad);
    }
    assert!((whole.0.total() - total).abs() < 1e-9 * total);
    let scale = sum.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in whole.1.as_slice().iter().zip(sum.as_slice()) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
}

#[test]
fn guided_gram_is_the_gram_of_the_region() {
    // A hard mask: the guided Gram matrix is the plain one of the masked
    // positions alone (sum over the region / its size), whatever the rest holds.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let f = random(&mut rng, 4, 6, 10, -1.0, 1.0);
    let mask: Vec<f32> = (0..60).map(|i| ((i % 10) < 3) as u8 as f32).collect();
    let mut region = Tensor::zeros(4, 6, 3);
    for c in 0..4 {
        for y in 0..6 {
            for x in 0..3 {
                region.plane_mut(c)[y * 3 + x] = f.get(c, y, x);
            }
        }
    }
    let guided = guided_gram(&f, &mask).unwrap();
    for (a, b) in guided.as_slice().iter().zip(gram(&region).as_slice()) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    assert!(guided_gram(&f, &[0.0; 60]).is_none());
    // A soft mask: sum_p w^2 F F^T / sum_p w^2, entry (1, 2) by hand.
    let soft: Vec<f32> = (0..60).map(|i| (i as f32 / 59.0).powi(2)).collect();
    let g = guided_gram(&f, &soft).unwrap();
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (p, &w) in soft.iter().enumerate() {
        let w2 = (w * w) as f64;
        num += w2 * f.plane(1)[p] as f64 * f.plane(2)[p] as f64;
        den += w2;
    }
    assert!((g.as_slice()[4 + 2] as f64 - num / den).abs() < 1e-5);
}

#[test]
fn guided_style_loss_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let target = gram(&random(&mut rng, 6, 9, 8, 0.0, 2.0));
    let mask: Vec<f32> = (0..35).map(|i| ((i * 7919) % 13) as f32 / 12.0).collect();
    let (loss, share) = GuidedStyleLoss::new(target, &mask).unwrap();
    let expected: f64 = mask.iter().map(|&w| (w * w) as f64).sum::<f64>() / 35.0;
    assert!((share - expected).abs() < 1e-6);
    let x = random(&mut rng, 6, 5, 7, 0.0, 2.0);
    let (_, grad) = loss.value_and_grad(&x);
    // Weighted positions make some single-coordinate slopes tiny (1e-6),
    // where single-precision rounding leaves a few parts in a thousand.
    check(&x, &grad, |t| loss.value_and_grad(t).0, 1e-2, 1e-2);
    // Positions outside the region get no gradient.
    for c in 0..6 {
        for (p, &w) in mask.iter().enumerate() {
            if w == 0.0 {
                assert_eq!(grad.plane(c)[p], 0.0);
            }
        }
    }
}

#[test]
fn wrapped_total_variation_gradient_matches_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let x = random(&mut rng, 3, 7, 9, 0.0, 1.0);
    let mut grad = Tensor::zeros(3, 7, 9);
    wrapped_total_variation(&x, 2.5, &mut grad);
    check(
        &x,
        &grad,
        |t| 2.5 * wrapped_total_variation(t, 1.0, &mut Tensor::zeros(3, 7, 9)),
        1e-3,
        1e-3,
    );
    // A horizontal ramp is smooth inside but jumps where it wraps around.
    let ramp = Tensor::from_vec(1, 1, 4, vec![0.0, 0.1, 0.2, 0.3]);
    let open = total_variation(&ramp, 1.0, &mut Tensor::zeros(1, 1, 4));
    let wrapped = wrapped_total_variation(&ramp, 1.0, &mut Tensor::zeros(1, 1, 4));
    assert!((open - 0.03 / 4.0).abs() < 1e-7, "{open}");
    assert!((wrapped - (0.03 + 0.09) / 4.0).abs() < 1e-7, "{wrapped}");
}

#[test]
fn objective_with_regions_and_wrapped_borders_matches_finite_differences() {
    // Content, a region's guided style at two layers, and the wrapped total
    // variation, through VGG-19 with wrapped borders (circular padding).
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let net = Vgg19::embedded_up_to(layer("relu3_1"));
    let content = random(&mut rng, 3, 20, 24, 0.0, 1.0);
    let style = random(&mut rng, 3, 22, 18, 0.0, 1.0);
    let features = net.features_with(&content, &[layer("conv2_2")], Borders::Wrap);
    let style_features = net.features(&style, &[layer("relu1_1"), layer("relu3_1")]);
    let mask = restyle::Mask::new(
        24,
        20,
        (0..480).map(|i| ((i % 24) < 14) as u8 as f32).collect(),
    );
    let guided = [("relu1_1", 0), ("relu3_1", 1)]
        .into_iter()
        .map(|(name, i)| {
            let (loss, share) =
                GuidedStyleLoss::new(gram(&style_features[i]), &mask.at_layer(layer(name)))
                    .unwrap();
            (layer(name), 3.0 * share, loss)
        })
        .collect();
    let mut objective = StyleObjective::new(
        &net,
        vec![(layer("conv2_2"), 1.0, ContentLoss::new(features[0].clone()))],
        vec![],
        0.5,
    )
    .with_regions(guided)
    .with_borders(Borders::Wrap);
    let x = random(&mut rng, 3, 20, 24, 0.2, 0.8);
    let (losses, grad) = objective.evaluate(&x);
    assert!(losses.content > 0.0 && losses.style > 0.0 && losses.tv > 0.0);
    let objective = std::cell::RefCell::new(objective);
    check_along(
        &x,
        &grad,
        |t| objective.borrow_mut().evaluate(t).0.total(),
        1e-4,
        0.1,
        0,
        4,
    );
}

#[test]
fn wrapped_borders_are_exact_where_the_network_is_smooth() {
    // Up to conv1_1 (affine), with circular padding: the gradient at the
    // image's edges, which wrap around, against exact finite differences.
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    let net = Vgg19::embedded_up_to(layer("conv1_1"));
    let content = random(&mut rng, 3, 12, 10, 0.0, 1.0);
    let target = net
        .features_with(&content, &[layer("conv1_1")], Borders::Wrap)
        .remove(0);
    let mut objective = StyleObjective::new(
        &net,
        vec![(layer("conv1_1"), 1.0, ContentLoss::new(target))],
        vec![],
        0.0,
    )
    .with_borders(Borders::Wrap);
    let x = random(&mut rng, 3, 12, 10, 0.2, 0.8);
    let (_, grad) = objective.evaluate(&x);
    let objective = std::cell::RefCell::new(objective);
    check_along(
        &x,
        &grad,
        |t| objective.borrow_mut().evaluate(t).0.total(),
        1e-2,
        1e-3,
        24,
        2,
    );
}

/// On layers large enough for bf16 products (where the CPU has them), the
/// style loss and its gradient stay within bf16's rounding of the same
/// computed in f32 (here, by the engine's f32 products directly).
#[test]
fn large_layers_in_bf16_keep_the_style_loss_and_its_gradient() {
    use restyle_engine::gemm;
    if !gemm::bf16::available()
        && !require_or_skip(
            "the bf16 style loss test",
            "this CPU has no AVX-512 BF16 (the f32 products are what runs)",
        )
    {
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // ReLU-like activations (a third zero), 64 channels by 64 x 128
    // positions, and a style target of another texture.
    let relu = |t: Tensor| {
        let (c, h, w) = t.shape();
        Tensor::from_vec(c, h, w, t.as_slice().iter().map(|v| v.max(0.0)).collect())
    };
    let (c, h, w) = (64, 64, 128);
    let m = h * w;
    let x = relu(random(&mut rng, c, h, w, -1.0, 2.0));
    let style = relu(random(&mut rng, c, h, w, -2.0, 1.0));
    let f32_gram = |f: &Tensor| -> Vec<f32> {
        let mut g = vec![0.0; c * c];
        gemm::syrk(f.as_slice(), c, m, m, &mut g);
        g.iter().map(|v| v / m as f32).collect()
    };
    let (g, a) = (f32_gram(&x), f32_gram(&style));
    let norm2: f64 = a.iter().map(|&v| v as f64 * v as f64).sum();
    let expected: f64 = g
        .iter()
        .zip(&a)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / norm2;
    let alpha = (4.0 / (m as f64 * norm2)) as f32;
    let diff: Vec<f32> = g.iter().zip(&a).map(|(x, y)| alpha * (x - y)).collect();
    let mut expected_grad = vec![0.0; c * m];
    let factor = gemm::PackedA::pack(&diff, c, c, c);
    gemm::par_gemm(&factor, x.as_slice(), m, m, &mut expected_grad, m, false);

    let loss = StyleLoss::new(gram(&style));
    let (value, grad) = loss.value_and_grad(&x);
    let relative = |got: &[f32], want: &[f32]| {
        let d: f64 = got
            .iter()
            .zip(want)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum();
        let n: f64 = want.iter().map(|b| (*b as f64).powi(2)).sum();
        (d / n).sqrt()
    };
    assert!(
        (value / expected - 1.0).abs() < 1e-4,
        "loss {value} against {expected} in f32"
    );
    // Not the f32 result exactly: the bf16 products did run.
    assert_ne!(value, expected);
    let error = relative(grad.as_slice(), &expected_grad);
    assert!(
        error < 3e-3 && error > 0.0,
        "gradient off by {error:e} of its norm"
    );
    let gram_error = relative(gram(&x).as_slice(), &g);
    assert!(gram_error < 1e-4, "Gram matrix off by {gram_error:e}");
}
