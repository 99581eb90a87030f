//! VGG-19's weights as the network takes them, whatever file they came
//! from (see `weights_file.rs` for the files), and why a file could not be
//! used.

use restyle_engine::weights::ConvWeights;

use crate::layers::{convs_up_to, Layer, BLOCKS, BLOCK_CHANNELS};
use crate::InputConvention;

/// The 16 convolutions of VGG-19 (3x3 kernels) and the input convention they were trained with.
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
    #[error("{what} is a PyTorch file, and this build reads PyTorch files only with the `pytorch` feature of restyle-vgg")]
    PytorchNotBuilt { what: String },
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
    /// Keeps only the convolutions up to `last`.
    pub fn truncated(mut self, last: Layer) -> Self {
        self.convs.truncate(convs_up_to(last));
        self
    }
}
