//! `restyle.reconstruct`: Gatys et al.'s figure 1, content and style from single layers.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use restyle::reconstruct::{
    reconstruct as reconstruct_layers, reconstruction_grid, ReconstructSettings,
};
use restyle::{OptimizerKind, OptimizerSettings, SettingsError};
use restyle_request::load_network;

use crate::errors::{bad_word, positive, to_py};
use crate::pictures::{load_source, to_py_image};
use crate::progress::{configure_threads, PyObserver};

/// The reconstructions' long edge when `size` is not given, as on the command
/// line (smaller than a transfer's: the grid holds many of them).
const RECONSTRUCT_DEFAULT_SIZE: i64 = 256;

/// Gatys et al.'s figure 1: content and style reconstructed from single
/// layers; see `restyle.reconstruct`. Returns `((width, height, RGB bytes), info)`.
#[pyfunction]
#[pyo3(signature = (
    content, style, *, size=RECONSTRUCT_DEFAULT_SIZE, iterations=300, layers=vec![1, 3, 5],
    cumulative=false, seed=0, optimizer="lbfgs", learning_rate=None, vgg_weights=None,
    threads=None, callback=None, preview=false
))]
#[allow(clippy::too_many_arguments)]
pub fn reconstruct<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    style: &Bound<'py, PyAny>,
    size: i64,
    iterations: i64,
    layers: Vec<i64>,
    cumulative: bool,
    seed: u64,
    optimizer: &str,
    learning_rate: Option<f32>,
    vgg_weights: Option<PathBuf>,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
    preview: bool,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let mut blocks = Vec::new();
    for b in layers {
        blocks.push(positive("layers", b, 1)?);
    }
    let settings = ReconstructSettings {
        size: positive("size", size, 1)?,
        iterations: positive("iterations", iterations, 0)?,
        blocks,
        cumulative,
        optimizer: OptimizerSettings {
            kind: optimizer.parse::<OptimizerKind>().map_err(bad_word)?,
            learning_rate,
            lbfgs_history: restyle::DEFAULT_LBFGS_HISTORY,
        },
        seed,
    };
    settings.validate().map_err(to_py)?;
    if let Some(rate) = learning_rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(to_py(restyle::Error::from(SettingsError::LearningRate(
                rate,
            ))));
        }
    }
    configure_threads(threads)?;
    let content = load_source(content, "content")?;
    let style = load_source(style, "style")?;
    let deepest = settings.deepest_layer().expect("validated");
    let net = load_network(vgg_weights.as_deref(), deepest).map_err(to_py)?;
    let mut observer = PyObserver {
        callback,
        preview,
        error: None,
    };
    let result = py.detach(|| reconstruct_layers(&net, &content, &style, &settings, &mut observer));
    if let Some(error) = observer.error {
        return Err(error);
    }
    let reconstructions = result.map_err(to_py)?;
    let grid = reconstruction_grid(&content, &style, &reconstructions);
    let info = PyDict::new(py);
    info.set_item("stopped", reconstructions.stopped)?;
    Ok((to_py_image(py, &grid), info))
}
