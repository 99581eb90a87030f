//! What a person asked for, as any front end hands it over: each option by its one name, as
//! given (`None`: not given), before any picture is loaded.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use restyle::{ColorMode, OptimizerKind};

use crate::choices::{Init, Method};
use crate::error::BudgetSource;

/// A picture's long edge when `size` is not given (either method).
pub const DEFAULT_SIZE: usize = 512;

/// Everything a still picture can be asked for. Counts stand for the pictures themselves
/// (`styles`: how many paintings; `masks`: how many region masks), which the front end loads
/// once the request is checked.
#[derive(Clone, Debug, Default)]
pub struct Request {
    pub method: Method,
    /// How many paintings (style images) were given.
    pub styles: usize,
    /// The paintings' shares in the blend (default: equal).
    pub style_blend_weights: Option<Vec<f32>>,
    /// How many region masks were given (one per painting: where it goes).
    pub masks: Option<usize>,
    /// How many style masks were given (one per painting: which part of it is used).
    pub style_masks: Option<usize>,
    /// Whether a part of the photo is kept as it is.
    pub keep: bool,
    /// A picture that tiles without seams.
    pub seamless: bool,
    /// Long edge of the picture, pixels.
    pub size: Option<i64>,
    /// How far the fast method goes from the photo's own style (0) to the painting's (1).
    pub strength: Option<f32>,
    pub preserve_colors: ColorMode,
    /// Where the optimisation starts ([`Init::Image`]: a picture given beside the request).
    pub init: Init,
    pub iterations: Option<i64>,
    pub content_weight: Option<f32>,
    pub style_weight: Option<f32>,
    pub tv_weight: Option<f32>,
    pub style_scale: Option<f32>,
    pub content_layers: Option<String>,
    pub style_layers: Option<String>,
    pub optimizer: Option<OptimizerKind>,
    pub learning_rate: Option<f32>,
    pub lbfgs_history: Option<i64>,
    pub seed: Option<u64>,
    pub scales: Option<i64>,
    pub start_size: Option<i64>,
    pub refine_iterations: Option<i64>,
    /// Paint in tiles, for pictures larger than memory allows.
    pub tile: bool,
    pub tile_size: Option<i64>,
    pub tile_overlap: Option<i64>,
    pub stop_tolerance: Option<f64>,
    /// VGG-19 weights from a file instead of the embedded ones.
    pub vgg_weights: Option<PathBuf>,
    /// Memory the run may use, as written (`6G`, `800M`).
    pub max_memory: Option<String>,
}

/// What an operator allows each request (the web server's limits); a front end run by the
/// person themself (the command line, Python) allows anything the method can do.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// The smallest `size`.
    pub min_size: Option<usize>,
    /// The largest `size`.
    pub max_size: Option<usize>,
    /// The fewest `iterations` (0 without a limit: the starting picture itself).
    pub min_iterations: usize,
    /// The most `iterations`.
    pub max_iterations: Option<usize>,
    /// The largest loss weight (`content_weight`, `style_weight`, `tv_weight`).
    pub max_weight: Option<f32>,
    /// The `style_scale`s allowed.
    pub style_scale: Option<RangeInclusive<f32>>,
    /// The memory each request may use, and who sets it (this replaces `max_memory` and what
    /// the machine has).
    pub memory: Option<(usize, BudgetSource)>,
}
