//! Everything a run can be told, and its checks: [`Settings`] and the
//! choices it is made of, checked before any image is loaded or any work
//! is done.

use restyle_image::{ColorMode, Image, Mask};
use restyle_vgg::Layer;

use crate::error::{MaskOf, SettingsError, SizedImage, WeightOf};
use crate::scales::{Scale, ScaleSchedule};

// Shared with the fast method (restyle-image); here under their old paths.
pub use restyle_image::tiles::Tiling;
pub use restyle_image::StyleImage;

/// Adam's default step, in pixel units (0..1).
pub const DEFAULT_ADAM_LEARNING_RATE: f32 = 0.02;

/// L-BFGS's first step (before any curvature is known) moves the pixel that
/// moves most by this much (pixel units, 0..1). On Tübingen and The Starry
/// Night at 256 px, 0.01 to 0.5 are all accepted at the first try (a guess
/// scaled by the gradient's 1-norm needs several evaluations); 0.5 lowers
/// the loss most.
pub const DEFAULT_LBFGS_FIRST_STEP: f32 = 0.5;

/// Most steps at a run's first size. L-BFGS keeps the pixels in 0..1 (see
/// [`restyle_optim::Lbfgs::with_bounds`]), so the picture saved is the one
/// optimised. At 512 px, 55 steps save a picture whose objective is within
/// 2% of what 300 unbounded steps saved before (their pixels left 0..1 and
/// were clipped): Tübingen and The Starry Night 6% below at 50 steps,
/// Chelsea and The Scream 1.7% above at 55 and level at 60; and 55 steps
/// at 512 px take under a minute on two cores.
pub const DEFAULT_ITERATIONS: usize = 55;

/// Curvature pairs L-BFGS keeps by default (as jcjohnson's neural-style).
pub const DEFAULT_LBFGS_HISTORY: usize = 20;

/// When a stage stops before its step limit: once the objective fell by
/// less than `tolerance` (relative) over the last `window` steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StopRule {
    pub window: usize,
    pub tolerance: f64,
}

impl Default for StopRule {
    fn default() -> Self {
        Self {
            window: DEFAULT_STOP_WINDOW,
            tolerance: DEFAULT_STOP_TOLERANCE,
        }
    }
}

/// Steps over which the objective's decrease is measured.
pub const DEFAULT_STOP_WINDOW: usize = 10;
/// A stage stops once its objective fell by less than this over the window.
/// A 300-step run at 512 px fell by about 0.4% per 10 steps between steps
/// 100 and 200 and 0.12% per 10 steps between 200 and 300 (issue 11's
/// figures: 0.765, 0.734, 0.725): 0.2% stops between those, where less than
/// 1% of the objective is left to gain. Within the default 55 steps the
/// objective still falls by several percent per 10 steps, so the rule ends
/// long runs (`--iterations 300`) and small problems, not default ones.
pub const DEFAULT_STOP_TOLERANCE: f64 = 0.002;

/// How to optimise.
#[derive(Clone, Copy, Debug)]
pub struct OptimizerSettings {
    pub kind: OptimizerKind,
    /// Adam's step size, or L-BFGS's first-step scale; `None` for the default.
    pub learning_rate: Option<f32>,
    pub lbfgs_history: usize,
}

/// Where the optimisation starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// The content image (the default: converges fastest, keeps the composition).
    Content,
    /// Grey with seeded Gaussian noise, as in Gatys et al.
    Noise,
    /// A given image, resized to the output size.
    Image(Image),
}

/// Which optimiser moves the pixels (`lbfgs` or `adam` with the `clap` and
/// `serde` features).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum OptimizerKind {
    Lbfgs,
    Adam,
}

impl std::str::FromStr for OptimizerKind {
    type Err = String;

    /// `lbfgs` or `adam`.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "lbfgs" => Ok(OptimizerKind::Lbfgs),
            "adam" => Ok(OptimizerKind::Adam),
            other => Err(format!("optimizer must be lbfgs or adam, not `{other}`")),
        }
    }
}

/// Everything a run can be told. `Settings::default()` gives good results.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Long edge of the output, pixels.
    pub size: usize,
    /// Optimisation steps.
    pub iterations: usize,
    pub content_weight: f32,
    pub style_weight: f32,
    /// Total-variation (smoothness) weight.
    pub tv_weight: f32,
    /// Style images are resized to `style_scale * size` on their long edge:
    /// larger values give larger brush strokes.
    pub style_scale: f32,
    /// Content layers with relative weights.
    pub content_layers: Vec<(Layer, f32)>,
    /// Style layers with relative weights.
    pub style_layers: Vec<(Layer, f32)>,
    pub init: Init,
    pub optimizer: OptimizerKind,
    /// Adam's step size (pixel units, 0..1), or L-BFGS's first-step scale.
    /// `None` picks the optimiser's default.
    pub learning_rate: Option<f32>,
    /// Curvature pairs L-BFGS keeps (each costs two image-sized vectors).
    pub lbfgs_history: usize,
    /// Seed for noise initialisation; runs with equal settings are identical.
    pub seed: u64,
    /// Whose colours the result has.
    pub color: ColorMode,
    /// Coarse-to-fine sizes (automatic for large outputs).
    pub scales: ScaleSchedule,
    /// Optimise sizes larger than a tile in overlapping tiles (for outputs
    /// larger than memory allows); `None`: whole images only.
    pub tiling: Option<Tiling>,
    /// When a scale stops before its step limit (its objective has stopped
    /// falling); `None`: every scale takes all its steps.
    pub stop: Option<StopRule>,
    /// The part of the output kept as the photo (in the content image's
    /// frame, any size; white: kept): no style acts there, and the result
    /// is the photo where the mask is white (blended where it is grey).
    pub keep: Option<Mask>,
    /// Make a result that tiles without seams: the network and the
    /// smoothness loss treat the picture as one tile of a wallpaper.
    pub seamless: bool,
    /// A frame of a clip: the previous painted frame carried to this one by the optical flow,
    /// and how strongly the result is pulled towards it where the flow is reliable (Ruder et
    /// al. 2016). `None` for stills.
    pub temporal: Option<TemporalTarget>,
}

/// What a clip's frame holds on to (see [`Settings::temporal`]).
#[derive(Clone, Debug)]
pub struct TemporalTarget {
    /// The previous painted frame carried along the flow, in this frame's frame (any size).
    pub carried: Image,
    /// Where the flow is reliable (1) or not (0), the same frame.
    pub reliability: Mask,
    /// The temporal term's weight (the content term's is `content_weight`).
    pub weight: f32,
}

impl Default for Settings {
    fn default() -> Self {
        let layer = |n: &str| n.parse::<Layer>().expect("known layer");
        Self {
            size: 512,
            iterations: DEFAULT_ITERATIONS,
            content_weight: 1.0,
            style_weight: 10.0,
            tv_weight: 10.0,
            style_scale: 1.0,
            content_layers: vec![(layer("conv4_2"), 1.0)],
            style_layers: (1..=5)
                .map(|b| (Layer::first_relu_of_block(b), 1.0))
                .collect(),
            init: Init::Content,
            optimizer: OptimizerKind::Lbfgs,
            learning_rate: None,
            lbfgs_history: DEFAULT_LBFGS_HISTORY,
            seed: 0,
            color: ColorMode::None,
            scales: ScaleSchedule::default(),
            tiling: None,
            stop: Some(StopRule::default()),
            keep: None,
            seamless: false,
            temporal: None,
        }
    }
}

impl Settings {
    pub fn optimizer_settings(&self) -> OptimizerSettings {
        OptimizerSettings {
            kind: self.optimizer,
            learning_rate: self.learning_rate,
            lbfgs_history: self.lbfgs_history,
        }
    }

    /// The deepest layer any loss reads: the network need not go further.
    pub fn deepest_layer(&self) -> Option<Layer> {
        self.content_layers
            .iter()
            .chain(&self.style_layers)
            .map(|l| l.0)
            .max()
    }

    /// Smallest side an image may have so that the deepest layer still has
    /// at least one pixel (each pooling halves the size).
    pub fn min_side(&self) -> usize {
        self.deepest_layer().map_or(1, |l| {
            let (h, _) = l.output_size(1 << 10, 1 << 10);
            (1 << 10) / h.max(1)
        })
    }

    /// The sizes this run optimises at, for a `width x height` content image.
    pub fn plan(&self, width: usize, height: usize) -> Vec<Scale> {
        self.scales.plan(width, height, self.size, self.iterations)
    }

    /// Steps over all scales and tiles, for a `width x height` content image.
    pub fn total_steps(&self, width: usize, height: usize) -> usize {
        self.plan(width, height)
            .iter()
            .map(|s| {
                s.iterations
                    * self
                        .tiling
                        .and_then(|t| t.tiles(s.width, s.height))
                        .map_or(1, |t| t.len())
            })
            .sum()
    }

    /// Checks every value, before any work is done (and before any image is
    /// loaded: the style images are checked by [`Settings::validate_style_weights`]).
    pub fn validate(&self) -> Result<(), SettingsError> {
        let non_negative = |what: WeightOf, value: f32| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(SettingsError::Weight { what, value })
            }
        };
        if self.size == 0 {
            return Err(SettingsError::ZeroSize);
        }
        non_negative(WeightOf::Content, self.content_weight)?;
        non_negative(WeightOf::Style, self.style_weight)?;
        non_negative(WeightOf::TotalVariation, self.tv_weight)?;
        if let Some(t) = &self.temporal {
            non_negative(WeightOf::Temporal, t.weight)?;
        }
        if !(self.style_scale.is_finite() && self.style_scale > 0.0) {
            return Err(SettingsError::StyleScale(self.style_scale));
        }
        for &(layer, weight) in self.content_layers.iter().chain(&self.style_layers) {
            non_negative(WeightOf::Layer(layer), weight)?;
        }
        if let Some(rate) = self.learning_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(SettingsError::LearningRate(rate));
            }
        }
        if self.scales.scales == Some(0) {
            return Err(SettingsError::ZeroScales);
        }
        if self.scales.start_size == Some(0) {
            return Err(SettingsError::ZeroStartSize);
        }
        if let Some(Tiling { tile, overlap }) = self.tiling {
            if tile < 64 || overlap >= tile / 2 {
                return Err(SettingsError::Tiling { tile, overlap });
            }
        }
        if let Some(StopRule { window, tolerance }) = self.stop {
            if window == 0 || !(tolerance.is_finite() && tolerance >= 0.0) {
                return Err(SettingsError::StopRule { window, tolerance });
            }
        }
        if self.lbfgs_history == 0 {
            return Err(SettingsError::ZeroLbfgsHistory);
        }
        if self.content_layers.is_empty() && self.style_layers.is_empty() {
            return Err(SettingsError::NoLayers);
        }
        Ok(())
    }

    /// Checks the style images' blend weights (one per style image), which
    /// is all these settings need to know of them.
    pub fn validate_style_weights(&self, weights: &[f32]) -> Result<(), SettingsError> {
        if self.style_layers.is_empty() || self.style_weight.is_nan() || self.style_weight <= 0.0 {
            return Ok(()); // the style images are not used
        }
        if weights.is_empty() {
            return Err(SettingsError::NoStyleImage);
        }
        if let Some(&value) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(SettingsError::Weight {
                what: WeightOf::StyleBlend,
                value,
            });
        }
        if weights.iter().sum::<f32>() <= 0.0 {
            return Err(SettingsError::BlendWeightsSumToZero);
        }
        Ok(())
    }

    /// Checks the masks of `styles` and [`Settings::keep`]: none may be blank.
    pub fn validate_masks(&self, styles: &[StyleImage]) -> Result<(), SettingsError> {
        for (i, style) in styles.iter().enumerate() {
            if style.mask.as_ref().is_some_and(Mask::is_blank) {
                return Err(SettingsError::BlankMask(MaskOf::Region(i + 1)));
            }
            if style.style_mask.as_ref().is_some_and(Mask::is_blank) {
                return Err(SettingsError::BlankMask(MaskOf::Style(i + 1)));
            }
        }
        if self.keep.as_ref().is_some_and(Mask::is_blank) {
            return Err(SettingsError::BlankMask(MaskOf::Keep));
        }
        Ok(())
    }

    /// Whether any style is confined to a region (or a part is kept), which
    /// needs the guided style losses.
    pub fn has_regions(&self, styles: &[StyleImage]) -> bool {
        self.keep.is_some()
            || styles
                .iter()
                .any(|s| s.mask.is_some() || s.style_mask.is_some())
    }

    /// Checks that an image of `width x height` is large enough for the
    /// deepest layer used.
    pub fn check_size(
        &self,
        image: SizedImage,
        width: usize,
        height: usize,
    ) -> Result<(), SettingsError> {
        let min = self.min_side();
        if width.min(height) < min {
            return Err(SettingsError::TooSmall {
                image,
                width,
                height,
                min,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn style_weights_are_checked_without_images() {
        let settings = Settings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.validate_style_weights(&[1.0, 0.5]), Ok(()));
        assert_eq!(
            settings.validate_style_weights(&[]),
            Err(SettingsError::NoStyleImage)
        );
        assert_eq!(
            settings.validate_style_weights(&[0.0, 0.0]),
            Err(SettingsError::BlendWeightsSumToZero)
        );
        assert_eq!(
            settings.validate_style_weights(&[1.0, -2.0]),
            Err(SettingsError::Weight {
                what: WeightOf::StyleBlend,
                value: -2.0
            })
        );
        // Without style layers the style images are not used at all.
        let content_only = Settings {
            style_layers: Vec::new(),
            ..Settings::default()
        };
        assert_eq!(content_only.validate_style_weights(&[]), Ok(()));
    }

    #[test]
    fn errors_carry_the_offending_values_and_name_no_flags() {
        let bad = [
            Settings {
                tv_weight: -1.0,
                ..Settings::default()
            },
            Settings {
                style_scale: 0.0,
                ..Settings::default()
            },
            Settings {
                learning_rate: Some(f32::NAN),
                ..Settings::default()
            },
            Settings {
                tiling: Some(Tiling {
                    tile: 100,
                    overlap: 60,
                }),
                ..Settings::default()
            },
        ];
        let errors: Vec<SettingsError> = bad.iter().map(|s| s.validate().unwrap_err()).collect();
        assert_eq!(
            errors[0],
            SettingsError::Weight {
                what: WeightOf::TotalVariation,
                value: -1.0
            }
        );
        assert_eq!(errors[1], SettingsError::StyleScale(0.0));
        assert!(matches!(errors[2], SettingsError::LearningRate(r) if r.is_nan()));
        assert_eq!(
            errors[3],
            SettingsError::Tiling {
                tile: 100,
                overlap: 60
            }
        );
        let small = Settings::default()
            .check_size(SizedImage::Style(2), 40, 8)
            .unwrap_err();
        assert_eq!(
            small.to_string(),
            "style image 2 would be 40x8 pixels; the layers used need at least 16 on each side"
        );
        for e in errors.iter().chain([&small]) {
            assert!(!e.to_string().contains("--"), "{e}");
        }
    }

    /// restyle's `serde` feature turns on restyle-image's, for `ColorMode`.
    #[cfg(feature = "serde")]
    #[test]
    fn modes_serialise_by_their_lowercase_names() {
        for (json, mode) in [
            ("\"histogram\"", ColorMode::Histogram),
            ("\"none\"", ColorMode::None),
        ] {
            assert_eq!(serde_json::to_string(&mode).unwrap(), json);
            assert_eq!(serde_json::from_str::<ColorMode>(json).unwrap(), mode);
        }
        assert_eq!(
            serde_json::to_string(&OptimizerKind::Adam).unwrap(),
            "\"adam\""
        );
        assert!(serde_json::from_str::<OptimizerKind>("\"sgd\"").is_err());
    }

    /// restyle's `clap` feature turns on restyle-image's, for `ColorMode`.
    #[cfg(feature = "clap")]
    #[test]
    fn modes_are_command_line_values() {
        use clap::ValueEnum;
        assert_eq!(
            ColorMode::from_str("luminance", false),
            Ok(ColorMode::Luminance)
        );
        assert_eq!(
            OptimizerKind::from_str("lbfgs", false),
            Ok(OptimizerKind::Lbfgs)
        );
    }
}
