//! A loss that adds its gradient on the way back (`Vgg19::value_and_grad_of`)
//! gives what the same loss gives through `Vgg19::value_and_grad_with`,
//! whose gradients are made on the way forward and injected.

use restyle_engine::Tensor;
use restyle_vgg::{Borders, Layer, TapLoss, Vgg19};

/// `sum(w x^2) / 2` at each tap, `w` a fixed pattern per layer: gradient `w x`.
fn weights(layer: Layer, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 + layer.index() * 13) % 11) as f32 / 11.0 - 0.3)
        .collect()
}

fn value_and_grad(layer: Layer, x: &Tensor) -> (f64, Tensor) {
    let w = weights(layer, x.len());
    let value = x
        .as_slice()
        .iter()
        .zip(&w)
        .map(|(&v, &w)| 0.5 * w as f64 * v as f64 * v as f64)
        .sum();
    let (c, h, ww) = x.shape();
    let grad = x.as_slice().iter().zip(&w).map(|(v, w)| v * w).collect();
    (value, Tensor::from_vec(c, h, ww, grad))
}

struct Added {
    /// The taps in the order their gradients were added.
    order: Vec<Layer>,
}

impl TapLoss for Added {
    fn add_gradient(&mut self, layer: Layer, features: &Tensor, grad: &mut Tensor) -> f64 {
        self.order.push(layer);
        let (value, g) = value_and_grad(layer, features);
        grad.add_assign(&g);
        value
    }
}

#[test]
fn gradients_added_on_the_way_back_equal_those_injected() {
    // A tap on a convolution's output (the ReLU after it works in place, so
    // the network keeps a copy), on a pooling's, on ReLUs, and the deepest.
    let taps: Vec<Layer> = ["relu1_1", "conv2_1", "pool2", "relu3_1", "relu3_2"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
    let net = Vgg19::embedded_up_to("relu3_2".parse().unwrap());
    let (h, w) = (21, 26);
    let image = Tensor::from_vec(
        3,
        h,
        w,
        (0..3 * h * w)
            .map(|i| ((i * 37) % 101) as f32 / 101.0)
            .collect(),
    );
    for borders in [Borders::Zero, Borders::Wrap] {
        let (expected, expected_grad) =
            net.value_and_grad_with(&image, &taps, borders, value_and_grad);
        let mut loss = Added { order: Vec::new() };
        let (value, grad) = net.value_and_grad_of(&image, &taps, borders, &mut loss);
        let mut deepest_first = taps.clone();
        deepest_first.reverse();
        assert_eq!(loss.order, deepest_first, "{borders:?}");
        assert!(
            (value - expected).abs() <= 1e-9 * expected.abs(),
            "{borders:?}: {value} against {expected}"
        );
        let scale = expected_grad
            .as_slice()
            .iter()
            .fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (a, b) in grad.as_slice().iter().zip(expected_grad.as_slice()) {
            assert!(
                (a - b).abs() <= 1e-6 * scale,
                "{borders:?}: {a} against {b}"
            );
        }
    }
}
