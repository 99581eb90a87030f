//! restyle's errors as Python exceptions, their messages as they are (the words every front end
//! shows): `ValueError` for what was asked, `OSError` for files (`FileNotFoundError` for a
//! missing one), `MemoryError` for runs too large for the machine, `RuntimeError` for a run
//! that failed.

use pyo3::exceptions::{
    PyFileNotFoundError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::PyErr;
use restyle::io::ImageFileError;
use restyle_request::{ErrorKind, RequestError};

pub fn to_py(error: impl Into<RequestError>) -> PyErr {
    let error = error.into();
    let message = error.to_string();
    match error.kind() {
        ErrorKind::Invalid => PyValueError::new_err(message),
        ErrorKind::File => match &error {
            RequestError::File(ImageFileError::Open { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                PyFileNotFoundError::new_err(message)
            }
            _ => PyOSError::new_err(message),
        },
        ErrorKind::Memory => PyMemoryError::new_err(message),
        ErrorKind::Failed => PyRuntimeError::new_err(message),
    }
}

/// A count that must be at least `min`, named by its keyword.
pub fn positive(name: &str, value: i64, min: i64) -> Result<usize, PyErr> {
    if value < min {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least {min}, not {value}"
        )));
    }
    Ok(value as usize)
}

/// A word (`method`, `init`, `optimizer`, `preserve_colors`) its parser refused.
pub fn bad_word(message: impl ToString) -> PyErr {
    PyValueError::new_err(message.to_string())
}
