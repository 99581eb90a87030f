//! The library's errors in the command line's terms: where an error is about
//! a value a flag sets, the message says which flag to change (the library
//! itself knows nothing of flags).

use restyle::{Error, SettingsError};

/// `error` as the command line reports it.
pub fn in_flag_terms(error: impl Into<Error>) -> anyhow::Error {
    let error = error.into();
    match &error {
        Error::Settings(SettingsError::TooSmall { .. }) => {
            anyhow::anyhow!("{error} (raise --size, or --style-scale for style images)")
        }
        Error::Diverged { .. } => anyhow::anyhow!("{error}; try a smaller --learning-rate"),
        _ => error.into(),
    }
}
