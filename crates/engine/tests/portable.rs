//! The portable micro-kernel (what runs on CPUs without AVX-512), forced by
//! RESTYLE_PORTABLE=1 in this test binary, against the direct reference.

use restyle_engine::conv2d::Conv2d;
use restyle_engine::gemm::Kernel;
use restyle_engine::pad::Padding;
use restyle_engine::{Conv3x3, Tensor};

// The test oracle, shared with the engine's unit tests and not part of its API.
#[path = "../src/reference.rs"]
mod reference;

#[test]
fn convolutions_are_right_with_the_portable_kernel() {
    // SAFETY: set before any thread reads the environment (the kernel
    // choice is made on first use, below).
    unsafe { std::env::set_var("RESTYLE_PORTABLE", "1") };
    assert_eq!(Kernel::detect(), Kernel::Portable);
    // The last is large enough for the Winograd convolution to go chunk by
    // chunk, with runs of tiles crossing the products' panels.
    for (cin, cout, h, w) in [
        (3, 64, 9, 11),
        (64, 32, 7, 6),
        (32, 3, 5, 9),
        (16, 16, 170, 166),
    ] {
        let weight: Vec<f32> = (0..cout * cin * 9)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.2)
            .collect();
        let bias: Vec<f32> = (0..cout).map(|i| i as f32 * 0.01).collect();
        let x = Tensor::from_vec(
            cin,
            h,
            w,
            (0..cin * h * w).map(|i| (i % 17) as f32 / 17.0).collect(),
        );
        let conv = Conv3x3::new(cin, cout, weight.clone(), bias.clone());
        let expected = reference::conv3x3(&x, &weight, Some(&bias), cout);
        let scale = expected.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
        for (a, e) in conv.forward(&x).as_slice().iter().zip(expected.as_slice()) {
            assert!((a - e).abs() <= 1e-4 * scale, "{cin}->{cout}: {a} vs {e}");
        }
        // The feed-forward convolution too (3 output channels: its direct kernel, here
        // compiled for any CPU).
        let general = Conv2d::new(cin, cout, 3, 1, Padding::zeros(1), &weight, bias.clone());
        for (a, e) in general
            .forward(&x)
            .as_slice()
            .iter()
            .zip(expected.as_slice())
        {
            assert!(
                (a - e).abs() <= 1e-4 * scale,
                "Conv2d {cin}->{cout}: {a} vs {e}"
            );
        }
        // With a stride of two: every other value of the same convolution (its direct kernel
        // reads the padded rows' two phases where it has at most 8 output channels).
        let strided = Conv2d::new(cin, cout, 3, 2, Padding::zeros(1), &weight, bias.clone());
        let got = strided.forward(&x);
        assert_eq!(got.shape(), (cout, h.div_ceil(2), w.div_ceil(2)));
        for o in 0..cout {
            for y in 0..got.height() {
                for x in 0..got.width() {
                    let (a, e) = (got.get(o, y, x), expected.get(o, 2 * y, 2 * x));
                    assert!(
                        (a - e).abs() <= 1e-4 * scale,
                        "strided Conv2d {cin}->{cout} at {o},{y},{x}: {a} vs {e}"
                    );
                }
            }
        }
    }
}
