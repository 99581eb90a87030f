//! Why the fast model could not run.

use restyle_engine::weights::WeightsFileError;

/// What went wrong, in a sentence the user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the fast model's weights are unusable: {0}")]
    Weights(#[from] WeightsFileError),
    #[error("a {width}x{height} image is too small for the fast model: each side needs at least {min} pixels")]
    TooSmall {
        width: usize,
        height: usize,
        min: usize,
    },
    #[error("the style network reads a {expected}x{expected} RGB image, got {width}x{height} with {channels} channels")]
    StyleInput {
        width: usize,
        height: usize,
        channels: usize,
        expected: usize,
    },
    #[error("the content image must have 3 channels (RGB), not {0}")]
    Channels(usize),
    #[error(
        "the style image is {width}x{height}: the fast method needs at least {min}x{min} pixels"
    )]
    StyleTooSmall {
        width: usize,
        height: usize,
        min: usize,
    },
    #[error("the style image is one flat colour: it has no style to transfer")]
    StyleFlat,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
