//! Why a clip could not be painted, in sentences the user can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// ffmpeg or ffprobe cannot be found; the text says how to install it.
    #[error("{0}")]
    FfmpegMissing(String),
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a video restyle can read: {detail}")]
    NotAVideo { path: PathBuf, detail: String },
    #[error("cannot decode {path}: {detail}")]
    Decode { path: PathBuf, detail: String },
    #[error("cannot write {path}: {detail}")]
    Encode { path: PathBuf, detail: String },
    #[error("{path}: {detail}")]
    Output { path: PathBuf, detail: String },
    #[error("{0}")]
    Request(String),
    #[error("nothing to resume at {path}: {detail}")]
    Resume { path: PathBuf, detail: String },
    #[error(transparent)]
    Fast(#[from] restyle_fast::Error),
    #[error(transparent)]
    Restyle(#[from] restyle::Error),
    #[error(transparent)]
    Image(#[from] restyle::io::ImageFileError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
