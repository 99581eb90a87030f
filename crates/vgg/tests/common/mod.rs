//! Helpers shared by the tests that compare the network with tensors
//! computed elsewhere (numpy, torch).

use restyle_engine::Tensor;
use safetensors::SafeTensors;

/// A 3-d float32 tensor from a safetensors file.
pub fn tensor(file: &SafeTensors<'_>, name: &str) -> Tensor {
    let t = file.tensor(name).unwrap();
    let shape = t.shape();
    let data = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Tensor::from_vec(shape[0], shape[1], shape[2], data)
}

/// Relative L2 error, and largest error relative to the largest magnitude.
pub fn errors(actual: &Tensor, expected: &Tensor) -> (f64, f64) {
    assert_eq!(actual.shape(), expected.shape());
    let (mut diff2, mut norm2, mut max_diff, mut max_abs) = (0f64, 0f64, 0f64, 0f64);
    for (&a, &e) in actual.as_slice().iter().zip(expected.as_slice()) {
        let d = (a - e) as f64;
        diff2 += d * d;
        norm2 += (e as f64) * (e as f64);
        max_diff = max_diff.max(d.abs());
        max_abs = max_abs.max((e as f64).abs());
    }
    ((diff2 / norm2).sqrt(), max_diff / max_abs)
}
