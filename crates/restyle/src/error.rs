//! The library's errors: each says what is wrong in words a user can act on.

use crate::io::ImageFileError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] ImageFileError),
    #[error(transparent)]
    Weights(#[from] restyle_vgg::WeightsError),
    #[error(transparent)]
    Layer(#[from] restyle_vgg::UnknownLayer),
    /// A setting out of range, or settings that contradict each other.
    #[error("{0}")]
    Settings(String),
    /// The optimisation produced non-finite values.
    #[error("the optimisation diverged at step {step} (the loss became {value}); try a smaller --learning-rate")]
    Diverged { step: usize, value: f64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
