//! Weights as the networks take them, and the one reader of the safetensors
//! files they are stored in. Each model keeps its own file layout (its
//! tensor names, how its weights are encoded) and reads it through
//! [`SafetensorsFile`].

use std::collections::HashMap;

use safetensors::tensor::SafeTensors;
pub use safetensors::{Dtype, SafeTensorError};

/// One convolution's float weights.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    pub out_channels: usize,
    pub in_channels: usize,
    /// The side of the square kernel.
    pub kernel: usize,
    /// `out_channels x in_channels x kernel x kernel` (OIHW).
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// Why a weights file, or a tensor in it, could not be read.
#[derive(Debug, thiserror::Error)]
pub enum WeightsFileError {
    /// Not a safetensors file, or a damaged one.
    #[error(transparent)]
    Format(#[from] SafeTensorError),
    #[error("it has no tensor `{name}`")]
    Missing { name: String },
    #[error("`{name}` is {dtype:?} {shape:?}, expected {expected_dtype:?} {expected_shape:?}")]
    Mismatch {
        name: String,
        dtype: Dtype,
        shape: Vec<usize>,
        expected_dtype: Dtype,
        expected_shape: Vec<usize>,
    },
}

/// A safetensors file held in memory, its tensors read by name, each checked
/// to have the type and shape the model expects.
pub struct SafetensorsFile<'a> {
    tensors: SafeTensors<'a>,
    metadata: HashMap<String, String>,
}

impl<'a> SafetensorsFile<'a> {
    /// Whether `bytes` start like a safetensors file: a little-endian `u64`
    /// header length that fits, then a JSON object.
    pub fn recognizes(bytes: &[u8]) -> bool {
        bytes.len() >= 9 && {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
            n >= 2 && n <= bytes.len() as u64 - 8 && bytes[8] == b'{'
        }
    }

    /// Parses the file's header (no tensor is copied).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, WeightsFileError> {
        let (_, header) = SafeTensors::read_metadata(bytes)?;
        Ok(Self {
            metadata: header.metadata().clone().unwrap_or_default(),
            tensors: SafeTensors::deserialize(bytes)?,
        })
    }

    /// The value of `key` in the file's metadata.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Whether the file has a tensor `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.tensor(name).is_ok()
    }

    /// The bytes of tensor `name`, checked to be `dtype` of `shape`.
    pub fn bytes(
        &self,
        name: &str,
        dtype: Dtype,
        shape: &[usize],
    ) -> Result<&'a [u8], WeightsFileError> {
        let t = self
            .tensors
            .tensor(name)
            .map_err(|_| WeightsFileError::Missing {
                name: name.to_string(),
            })?;
        if t.dtype() != dtype || t.shape() != shape {
            return Err(WeightsFileError::Mismatch {
                name: name.to_string(),
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
                expected_dtype: dtype,
                expected_shape: shape.to_vec(),
            });
        }
        Ok(t.data())
    }

    /// The floats of tensor `name`, checked to be `f32` of `shape`.
    pub fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsFileError> {
        Ok(self
            .bytes(name, Dtype::F32, shape)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of one `f32` tensor `a` (2 x 2) and one `u8` tensor `b` (3),
    /// with `kind: test` in its metadata.
    fn file() -> Vec<u8> {
        let header = br#"{"__metadata__":{"kind":"test"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header);
        for v in [1.0f32, -2.0, 0.5, 4.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        bytes.extend_from_slice(&[7, 8, 9]);
        bytes
    }

    #[test]
    fn tensors_are_read_by_name_type_and_shape() {
        let bytes = file();
        assert!(SafetensorsFile::recognizes(&bytes));
        let file = SafetensorsFile::parse(&bytes).unwrap();
        assert_eq!(file.metadata("kind"), Some("test"));
        assert_eq!(file.metadata("other"), None);
        assert!(file.contains("a") && !file.contains("c"));
        assert_eq!(file.f32s("a", &[2, 2]).unwrap(), [1.0, -2.0, 0.5, 4.0]);
        assert_eq!(file.bytes("b", Dtype::U8, &[3]).unwrap(), [7, 8, 9]);
        let wrong = file.f32s("a", &[4]).unwrap_err();
        assert_eq!(wrong.to_string(), "`a` is F32 [2, 2], expected F32 [4]");
        let wrong = file.f32s("b", &[3]).unwrap_err();
        assert!(
            matches!(
                wrong,
                WeightsFileError::Mismatch {
                    dtype: Dtype::U8,
                    ..
                }
            ),
            "{wrong}"
        );
        let missing = file.bytes("c", Dtype::U8, &[1]).unwrap_err();
        assert_eq!(missing.to_string(), "it has no tensor `c`");
    }

    #[test]
    fn other_bytes_are_refused() {
        assert!(!SafetensorsFile::recognizes(b"GIF89a not weights"));
        let bytes = file();
        let truncated = &bytes[..bytes.len() - 1];
        assert!(SafetensorsFile::recognizes(truncated));
        assert!(matches!(
            SafetensorsFile::parse(truncated),
            Err(WeightsFileError::Format(_))
        ));
    }
}
