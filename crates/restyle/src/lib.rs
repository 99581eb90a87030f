//! restyle: neural style transfer as Gatys, Ecker & Bethge describe it in
//! "A Neural Algorithm of Artistic Style" (2015), on the original VGG-19,
//! on the CPU.
//!
//! The output image itself is optimised: its content (VGG-19 activations
//! at `conv4_2`) is pulled towards the photo's, its style (Gram matrices of
//! activations at `relu1_1` .. `relu5_1`) towards the painting's.
//!
//! ```no_run
//! use std::path::Path;
//! use restyle::{io, stylize, Image, Settings, Silent, StyleImage, Vgg19};
//!
//! let limits = io::ImageLimits::default();
//! let content = io::load_image(Path::new("photo.jpg"), limits)?;
//! let style = StyleImage::new(io::load_image(Path::new("painting.jpg"), limits)?, 1.0);
//! let settings = Settings { size: 256, iterations: 200, ..Settings::default() };
//! let net = Vgg19::embedded_up_to(settings.deepest_layer().unwrap());
//! let outcome = stylize(&net, &content, &[style], &settings, &mut Silent)?;
//! io::save_image(&outcome.image, Path::new("out.png"))?;
//! # Ok::<(), restyle::Error>(())
//! ```
//!
//! Regions: each style can be confined to a part of the output (a grey
//! mask in the photo's frame, white where the style goes), and a part can
//! be kept as the photo. Style losses then use guided Gram matrices (Gatys
//! et al., "Controlling Perceptual Factors in Neural Style Transfer", 2017).
//!
//! ```no_run
//! use std::path::Path;
//! use restyle::{io, stylize, Mask, Settings, Silent, StyleImage, Vgg19};
//!
//! let limits = io::ImageLimits::default();
//! let load = |p: &str| io::load_image(Path::new(p), limits);
//! let mask = |p: &str| load(p).map(|image| Mask::from_image(&image));
//! let content = load("photo.jpg")?;
//! let styles = [
//!     StyleImage::new(load("starry-night.jpg")?, 1.0).in_region(mask("sky.png")?),
//!     StyleImage::new(load("the-wave.jpg")?, 1.0).in_region(mask("town.png")?),
//! ];
//! let settings = Settings { keep: Some(mask("face.png")?), ..Settings::default() };
//! let net = Vgg19::embedded_up_to(settings.deepest_layer().unwrap());
//! let outcome = stylize(&net, &content, &styles, &settings, &mut Silent)?;
//! # Ok::<(), restyle::Error>(())
//! ```

mod error;
mod evaluate;
pub mod layer_spec;
pub mod losses;
pub mod mask;
pub mod memory;
mod objective;
mod optimize;
mod progress;
pub mod reconstruct;
mod scales;
pub mod settings;
mod targets;
mod transfer;

// The pictures both methods use live in restyle-image; here under their old paths.
pub use restyle_image::{color, io, tiles};
pub use restyle_image::{fit_long_edge, labelled_grid, ColorMode, GridRow, Image};

pub use error::{Error, MaskOf, Result, SettingsError, SizedImage, WeightOf};
pub use evaluate::objective_of;
pub use mask::{Mask, MaskAtLayer};
pub use objective::StyleObjective;
pub use progress::{Flow, Losses, Observer, Progress, Silent};
pub use restyle_vgg::{Borders, InputConvention, Layer, Vgg19, VggWeights, WeightsError};
pub use scales::{Scale, ScaleSchedule, AUTO_START_SIZE, SCALE_STEP};
pub use settings::{
    Init, OptimizerKind, OptimizerSettings, Settings, StopRule, StyleImage, TemporalTarget, Tiling,
    DEFAULT_ADAM_LEARNING_RATE, DEFAULT_ITERATIONS, DEFAULT_LBFGS_FIRST_STEP,
    DEFAULT_LBFGS_HISTORY, DEFAULT_STOP_TOLERANCE, DEFAULT_STOP_WINDOW,
};
pub use transfer::{stylize, stylize_cached, Outcome, StyleTargetCache};
