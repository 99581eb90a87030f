//! A request checked: every value in range, the options that go with the method, the
//! optimisation's settings built and validated, all before any picture is loaded.

use std::path::PathBuf;

use restyle::layer_spec::parse_layers;
use restyle::memory;
use restyle::{ColorMode, Layer, Settings, StopRule, Tiling};

use crate::choices::{Init, Method};
use crate::error::{BudgetSource, RequestError};
use crate::request::{Limits, Request, DEFAULT_SIZE};

/// The fast method's tiles: the largest tile, and the pixels neighbours share.
pub const DEFAULT_FAST_TILE: usize = 1024;
pub const DEFAULT_TILE_OVERLAP: usize = 128;

/// A request that passed every check that needs no picture.
#[derive(Clone, Debug)]
pub struct Plan {
    pub method: Method,
    /// Long edge of the picture, pixels.
    pub size: usize,
    /// Each painting's share, one per painting.
    pub blend: Vec<f32>,
    pub color: ColorMode,
    pub init: Init,
    /// The fast method's strength (1 for the picture `init` fast starts from).
    pub strength: f32,
    /// The optimisation's settings (`gatys`); for `fast`, the defaults at `size`.
    pub settings: Settings,
    /// The fast method's tiles, when asked for.
    pub fast_tiling: Option<restyle_fast::FastTiling>,
    pub vgg_weights: Option<PathBuf>,
    /// The memory the run may use, and where that figure comes from; `None`: unknown.
    pub budget: Option<(usize, BudgetSource)>,
    /// Whether the tile size is to be picked to fit memory (`tile` without `tile_size`).
    pub auto_tile: bool,
    /// The smallest size a refusal may suggest.
    pub min_size: usize,
}

/// `value` at least `min` (and at most `max`), named `name`.
fn count(name: &str, value: i64, min: i64, max: Option<usize>) -> Result<usize, RequestError> {
    match max {
        Some(max) if value < min || value > max as i64 => Err(RequestError::invalid(format!(
            "{name} must be from {min} to {max}, not {value}"
        ))),
        _ if value < min => Err(RequestError::invalid(format!(
            "{name} must be at least {min}, not {value}"
        ))),
        _ => Ok(value as usize),
    }
}

fn optional_count(name: &str, value: Option<i64>, min: i64) -> Result<Option<usize>, RequestError> {
    value.map(|v| count(name, v, min, None)).transpose()
}

impl Request {
    /// The options given that only the optimisation uses, by name.
    fn gatys_only(&self) -> impl Iterator<Item = &'static str> {
        [
            ("iterations", self.iterations.is_some()),
            ("init", self.init != Init::Content),
            ("vgg_weights", self.vgg_weights.is_some()),
            ("content_weight", self.content_weight.is_some()),
            ("style_weight", self.style_weight.is_some()),
            ("tv_weight", self.tv_weight.is_some()),
            ("style_scale", self.style_scale.is_some()),
            ("content_layers", self.content_layers.is_some()),
            ("style_layers", self.style_layers.is_some()),
            ("optimizer", self.optimizer.is_some()),
            ("learning_rate", self.learning_rate.is_some()),
            ("lbfgs_history", self.lbfgs_history.is_some()),
            ("seed", self.seed.is_some()),
            ("scales", self.scales.is_some()),
            ("start_size", self.start_size.is_some()),
            ("refine_iterations", self.refine_iterations.is_some()),
            ("stop_tolerance", self.stop_tolerance.is_some()),
            ("style_masks", self.style_masks.is_some()),
            ("seamless", self.seamless),
        ]
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| name)
    }

    /// Options that belong to one method only are refused with the other, rather than ignored.
    fn check_method_options(&self) -> Result<(), RequestError> {
        match self.method {
            Method::Gatys if self.strength.is_some() => Err(RequestError::invalid(
                "strength applies to method fast; for method gatys use style_weight",
            )),
            Method::Fast => match self.gatys_only().next() {
                Some(name) => Err(RequestError::invalid(format!(
                    "{name} applies to method gatys; method fast paints in one pass"
                ))),
                None => Ok(()),
            },
            Method::Gatys => Ok(()),
        }
    }

    /// The paintings' shares: one per painting, numbers >= 0 with a positive sum.
    fn blend(&self) -> Result<Vec<f32>, RequestError> {
        if self.styles == 0 {
            return Err(restyle::SettingsError::NoStyleImage.into());
        }
        let blend = match &self.style_blend_weights {
            Some(w) if w.len() != self.styles => {
                return Err(RequestError::invalid(format!(
                    "style_blend_weights has {} value(s) but {} style image(s) were given",
                    w.len(),
                    self.styles
                )))
            }
            Some(w) => w.clone(),
            None => vec![1.0; self.styles],
        };
        if blend.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || blend.iter().sum::<f32>() <= 0.0 {
            return Err(RequestError::invalid(
                "style_blend_weights must be numbers >= 0 with a positive sum",
            ));
        }
        Ok(blend)
    }

    fn check_masks(&self) -> Result<(), RequestError> {
        for (name, given) in [("masks", self.masks), ("style_masks", self.style_masks)] {
            if let Some(n) = given {
                if n != self.styles {
                    return Err(RequestError::invalid(format!(
                        "{name} has {n} mask(s) but {} style image(s) were given: give one per style image, in order",
                        self.styles
                    )));
                }
            }
        }
        if self.seamless && self.tile {
            return Err(RequestError::invalid(
                "seamless cannot be used with tile: a tile's edges are not the picture's, so it cannot wrap around them",
            ));
        }
        Ok(())
    }

    fn budget(&self, limits: &Limits) -> Result<Option<(usize, BudgetSource)>, RequestError> {
        if let Some(budget) = &limits.memory {
            if self.max_memory.is_some() {
                return Err(RequestError::invalid(
                    "max_memory cannot be set here: the operator sets the memory of each request",
                ));
            }
            return Ok(Some(budget.clone()));
        }
        Ok(match &self.max_memory {
            Some(text) => Some((
                memory::parse_bytes(text).ok_or_else(|| {
                    RequestError::invalid(format!(
                        "max_memory: `{text}` is not a size (try 6G or 800M)"
                    ))
                })?,
                BudgetSource::Asked,
            )),
            None => memory::available_bytes().map(|bytes| (bytes, BudgetSource::Machine)),
        })
    }

    /// `tile_size` and `tile_overlap`, or the method's defaults, each at least its minimum.
    fn tiles(
        &self,
        default_tile: usize,
        min_tile: i64,
        min_overlap: i64,
    ) -> Result<Tiling, RequestError> {
        Ok(Tiling {
            tile: count(
                "tile_size",
                self.tile_size.unwrap_or(default_tile as i64),
                min_tile,
                None,
            )?,
            overlap: count(
                "tile_overlap",
                self.tile_overlap.unwrap_or(DEFAULT_TILE_OVERLAP as i64),
                min_overlap,
                None,
            )?,
        })
    }

    /// The optimisation's settings, from the options given and the defaults.
    fn settings(&self, size: usize, limits: &Limits) -> Result<Settings, RequestError> {
        let defaults = Settings::default();
        let layers = |spec: &Option<String>, name: &str, default: &[(Layer, f32)]| match spec {
            Some(spec) => {
                parse_layers(spec).map_err(|e| RequestError::invalid(format!("{name}: {e}")))
            }
            None => Ok(default.to_vec()),
        };
        let stop = match self.stop_tolerance {
            Some(t) if !(t.is_finite() && t >= 0.0) => {
                return Err(RequestError::invalid(format!(
                    "stop_tolerance must be a number >= 0, not {t}"
                )))
            }
            // 0 turns the stopping rule off.
            Some(t) => (t > 0.0).then_some(StopRule {
                tolerance: t,
                ..StopRule::default()
            }),
            None => defaults.stop,
        };
        // The fast method's tiles are its own (see `Request::check`).
        let tiling = match self.tile && self.method == Method::Gatys {
            true => Some(self.tiles(memory::MAX_AUTO_TILE, 64, 0)?),
            false => None,
        };
        // What no front end allows first, in the same words everywhere; then an operator's
        // limits.
        let weight = |name: &str, value: Option<f32>, default: f32| match value {
            Some(v) if !(v.is_finite() && v >= 0.0) => Err(RequestError::invalid(format!(
                "{name} must be a number >= 0, not {v}"
            ))),
            Some(v) => match limits.max_weight {
                Some(max) if v > max => Err(RequestError::invalid(format!(
                    "{name} must be a number from 0 to {max}, not {v}"
                ))),
                _ => Ok(v),
            },
            None => Ok(default),
        };
        let style_scale = self.style_scale.unwrap_or(defaults.style_scale);
        if !(style_scale.is_finite() && style_scale > 0.0) {
            return Err(RequestError::invalid(format!(
                "style_scale must be a number > 0, not {style_scale}"
            )));
        }
        if let Some(range) = &limits.style_scale {
            if !range.contains(&style_scale) {
                return Err(RequestError::invalid(format!(
                    "style_scale must be a number from {} to {}, not {style_scale}",
                    range.start(),
                    range.end()
                )));
            }
        }
        let settings = Settings {
            size,
            iterations: match self.iterations {
                Some(n) => count(
                    "iterations",
                    n,
                    limits.min_iterations as i64,
                    limits.max_iterations,
                )?,
                None => limits
                    .max_iterations
                    .map_or(defaults.iterations, |max| defaults.iterations.min(max)),
            },
            content_weight: weight(
                "content_weight",
                self.content_weight,
                defaults.content_weight,
            )?,
            style_weight: weight("style_weight", self.style_weight, defaults.style_weight)?,
            tv_weight: weight("tv_weight", self.tv_weight, defaults.tv_weight)?,
            style_scale,
            content_layers: layers(
                &self.content_layers,
                "content_layers",
                &defaults.content_layers,
            )?,
            style_layers: layers(&self.style_layers, "style_layers", &defaults.style_layers)?,
            init: match self.init {
                Init::Noise => restyle::Init::Noise,
                // The fast picture or the given one replaces it once the pictures are loaded.
                Init::Content | Init::Fast | Init::Image => restyle::Init::Content,
            },
            optimizer: self.optimizer.unwrap_or(defaults.optimizer),
            learning_rate: self.learning_rate,
            lbfgs_history: match self.lbfgs_history {
                Some(n) => count("lbfgs_history", n, 1, None)?,
                None => defaults.lbfgs_history,
            },
            seed: self.seed.unwrap_or(defaults.seed),
            color: self.preserve_colors,
            scales: restyle::ScaleSchedule {
                start_size: optional_count("start_size", self.start_size, 1)?,
                scales: optional_count("scales", self.scales, 1)?,
                refine_iterations: optional_count("refine_iterations", self.refine_iterations, 1)?,
            },
            tiling,
            stop,
            seamless: self.seamless,
            ..defaults
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks everything that needs no picture, and plans the run.
    pub fn check(&self, limits: &Limits) -> Result<Plan, RequestError> {
        self.check_method_options()?;
        let size = match self.size {
            Some(size) => count(
                "size",
                size,
                limits.min_size.unwrap_or(1) as i64,
                limits.max_size,
            )?,
            None => match limits.max_size {
                Some(max) => DEFAULT_SIZE.min(max),
                None => DEFAULT_SIZE,
            },
        };
        let strength = self.strength.unwrap_or(1.0);
        if !(0.0..=1.0).contains(&strength) {
            return Err(RequestError::invalid(format!(
                "strength must be between 0 and 1, not {strength}"
            )));
        }
        let blend = self.blend()?;
        self.check_masks()?;
        let settings = self.settings(size, limits)?;
        settings.validate_style_weights(&blend)?;
        let fast_tiling = match (self.method, self.tile) {
            (Method::Fast, true) => Some(restyle_fast::FastTiling {
                tiling: self.tiles(DEFAULT_FAST_TILE, 32, 8)?,
                ..restyle_fast::FastTiling::default()
            }),
            _ => None,
        };
        Ok(Plan {
            method: self.method,
            size,
            blend,
            color: self.preserve_colors,
            init: self.init,
            strength,
            settings,
            fast_tiling,
            vgg_weights: self.vgg_weights.clone(),
            budget: self.budget(limits)?,
            min_size: limits.min_size.unwrap_or(1),
            auto_tile: self.tile_size.is_none(),
        })
    }
}

impl Plan {
    /// Whether the run paints the fast picture: it is the result, or where the optimisation
    /// starts.
    pub fn wants_fast_picture(&self) -> bool {
        self.method == Method::Fast || self.init == Init::Fast
    }

    /// The deepest VGG-19 layer the optimisation reads.
    pub fn deepest_layer(&self) -> Layer {
        self.settings
            .deepest_layer()
            .expect("validated: there are layers")
    }
}
