//! The keyword arguments of `restyle.stylize` (and the still-picture ones of
//! `restyle.stylize_video`), as the Python half passes them in a dict, into the one request.

use std::path::PathBuf;

use pyo3::prelude::*;
use restyle::{ColorMode, OptimizerKind};
use restyle_request::{Init, Method, Request};

use crate::errors::bad_word;

/// The keywords, each by its one name; `None`: not given.
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
pub struct Options {
    method: String,
    #[pyo3(default)]
    size: Option<i64>,
    #[pyo3(default)]
    style_blend_weights: Option<Vec<f32>>,
    #[pyo3(default)]
    strength: Option<f32>,
    #[pyo3(default)]
    preserve_colors: Option<String>,
    #[pyo3(default)]
    init: Option<String>,
    #[pyo3(default)]
    iterations: Option<i64>,
    #[pyo3(default)]
    seed: Option<u64>,
    #[pyo3(default)]
    optimizer: Option<String>,
    #[pyo3(default)]
    learning_rate: Option<f32>,
    #[pyo3(default)]
    style_weight: Option<f32>,
    #[pyo3(default)]
    content_weight: Option<f32>,
    #[pyo3(default)]
    tv_weight: Option<f32>,
    #[pyo3(default)]
    style_scale: Option<f32>,
    #[pyo3(default)]
    content_layers: Option<String>,
    #[pyo3(default)]
    style_layers: Option<String>,
    #[pyo3(default)]
    scales: Option<i64>,
    #[pyo3(default)]
    start_size: Option<i64>,
    #[pyo3(default)]
    refine_iterations: Option<i64>,
    #[pyo3(default)]
    tile: bool,
    #[pyo3(default)]
    tile_size: Option<i64>,
    #[pyo3(default)]
    tile_overlap: Option<i64>,
    #[pyo3(default)]
    max_memory: Option<String>,
    #[pyo3(default)]
    stop_tolerance: Option<f64>,
    #[pyo3(default)]
    lbfgs_history: Option<i64>,
    #[pyo3(default)]
    vgg_weights: Option<PathBuf>,
    #[pyo3(default)]
    seamless: bool,
}

impl Options {
    /// The request these keywords make; the pictures themselves (their number, the masks, a
    /// picture to start from) are set by the caller, which has them.
    pub fn request(self, init_image: bool) -> PyResult<Request> {
        let init = match (self.init.as_deref(), init_image) {
            (_, true) => Init::Image,
            (None, false) => Init::Content,
            (Some(word), false) => word.parse().map_err(bad_word)?,
        };
        Ok(Request {
            method: self.method.parse::<Method>().map_err(bad_word)?,
            style_blend_weights: self.style_blend_weights,
            seamless: self.seamless,
            size: self.size,
            strength: self.strength,
            preserve_colors: match self.preserve_colors {
                Some(word) => word.parse::<ColorMode>().map_err(bad_word)?,
                None => ColorMode::None,
            },
            init,
            iterations: self.iterations,
            content_weight: self.content_weight,
            style_weight: self.style_weight,
            tv_weight: self.tv_weight,
            style_scale: self.style_scale,
            content_layers: self.content_layers,
            style_layers: self.style_layers,
            optimizer: self
                .optimizer
                .map(|word| word.parse::<OptimizerKind>())
                .transpose()
                .map_err(bad_word)?,
            learning_rate: self.learning_rate,
            lbfgs_history: self.lbfgs_history,
            seed: self.seed,
            scales: self.scales,
            start_size: self.start_size,
            refine_iterations: self.refine_iterations,
            tile: self.tile,
            tile_size: self.tile_size,
            tile_overlap: self.tile_overlap,
            stop_tolerance: self.stop_tolerance,
            vgg_weights: self.vgg_weights,
            max_memory: self.max_memory,
            ..Request::default()
        })
    }
}
