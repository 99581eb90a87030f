//! The fast model against onnxruntime (fixtures written by `tools/make_fast_fixtures.py`):
//! restyle runs float weights equal to the int8 model's dequantized weights, so it is compared
//! tightly with the float twin of the graph (same weights, activations kept in float), and
//! loosely with the original int8 graph, which also rounds every activation to 8 bits.

use std::path::Path;

use restyle_engine::Tensor;
use restyle_fast::{FastStyle, StyleVector, STYLE_DIMS};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// The fixtures keep every 7th row and column of the outputs.
const STRIDE: usize = 7;

fn floats(name: &str) -> Vec<f32> {
    std::fs::read(Path::new(FIXTURES).join(name))
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A fixture PNG, each pixel repeated 4x4 (as the fixture maker enlarges it).
fn enlarged(name: &str) -> Tensor {
    let img = image::open(Path::new(FIXTURES).join(name))
        .unwrap()
        .to_rgb8();
    let (w, h) = (img.width() as usize * 4, img.height() as usize * 4);
    let mut t = Tensor::zeros(3, h, w);
    for c in 0..3 {
        for (i, v) in t.plane_mut(c).iter_mut().enumerate() {
            let (y, x) = (i / w, i % w);
            *v = img.get_pixel((x / 4) as u32, (y / 4) as u32)[c] as f32 / 255.0;
        }
    }
    t
}

fn sampled(picture: &Tensor) -> Vec<f32> {
    let (c, h, w) = picture.shape();
    let mut out = Vec::new();
    for ch in 0..c {
        for y in (0..h).step_by(STRIDE) {
            for x in (0..w).step_by(STRIDE) {
                out.push(picture.get(ch, y, x));
            }
        }
    }
    out
}

/// (largest, mean) absolute difference.
fn differences(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len(), "lengths");
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().cloned().fold(0.0, f32::max),
        d.iter().sum::<f32>() / d.len() as f32,
    )
}

fn model() -> FastStyle {
    FastStyle::embedded().expect("embedded weights load")
}

#[test]
fn style_vector_matches_onnxruntime() {
    let s = model().style_vector(&enlarged("style_64.png")).unwrap();
    assert_eq!(s.0.len(), STYLE_DIMS);
    let (max_float, _) = differences(&s.0, &floats("style_vector_float.f32"));
    let (max_int8, _) = differences(&s.0, &floats("style_vector_qdq.f32"));
    eprintln!("style vector: max |restyle - float graph| {max_float:.2e}, |restyle - int8 graph| {max_int8:.2e}");
    // f32 arithmetic in another order: values are O(1), errors O(1e-5).
    assert!(max_float < 1e-3, "style vector vs float graph: {max_float}");
    // The int8 graph differs from its float twin by 0.024 at most (measured).
    assert!(max_int8 < 0.06, "style vector vs int8 graph: {max_int8}");
}

#[test]
fn transformer_matches_onnxruntime_at_two_sizes() {
    let model = model();
    let style_float = StyleVector(floats("style_vector_float.f32"));
    let style_int8 = StyleVector(floats("style_vector_qdq.f32"));
    for (content, size, (h, w)) in [
        ("content_96.png", "384x384", (384, 384)),
        ("content_80x60.png", "320x240", (240, 320)),
    ] {
        let content = enlarged(content);
        assert_eq!((content.height(), content.width()), (h, w));
        let ours_float = sampled(&model.stylize(&content, &style_float).unwrap());
        let (max, mean) = differences(&ours_float, &floats(&format!("out_{size}_float.f32")));
        eprintln!("{size}: restyle vs float graph: max {max:.2e}, mean {mean:.2e}");
        // Measured: max 5e-6, mean 8e-7 (f32 sums in another order).
        assert!(
            max < 1e-4 && mean < 1e-5,
            "{size} vs float graph: max {max}, mean {mean}"
        );
        let ours_int8 = sampled(&model.stylize(&content, &style_int8).unwrap());
        let (max, mean) = differences(&ours_int8, &floats(&format!("out_{size}_qdq.f32")));
        eprintln!("{size}: restyle vs int8 graph: max {max:.3}, mean {mean:.4}");
        // The int8 graph rounds every activation to 8 bits: its own distance from its float
        // twin (tools/make_fast_fixtures.py prints it) is max 0.22-0.27, mean 0.031-0.034.
        assert!(
            max < 0.35 && mean < 0.045,
            "{size} vs int8 graph: max {max}, mean {mean}"
        );
    }
}
