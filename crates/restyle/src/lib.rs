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
//! let style = StyleImage { image: io::load_image(Path::new("painting.jpg"), limits)?, weight: 1.0 };
//! let settings = Settings { size: 256, iterations: 200, ..Settings::default() };
//! let net = Vgg19::embedded_up_to(settings.deepest_layer().unwrap());
//! let outcome = stylize(&net, &content, &[style], &settings, &mut Silent)?;
//! io::save_image(&outcome.image, Path::new("out.png"))?;
//! # Ok::<(), restyle::Error>(())
//! ```

pub mod color;
mod error;
#[cfg(feature = "fast")]
pub mod fast;
mod grid;
mod image;
pub mod io;
pub mod layer_spec;
pub mod losses;
pub mod memory;
mod objective;
mod optimize;
mod progress;
pub mod reconstruct;
mod scales;
pub mod settings;
mod targets;
pub mod tiles;
mod transfer;

pub use color::ColorMode;
pub use error::{Error, Result, SettingsError, SizedImage, WeightOf};
pub use grid::{labelled_grid, GridRow};
pub use image::{fit_long_edge, Image};
pub use objective::StyleObjective;
pub use progress::{Flow, Losses, Observer, Progress, Silent};
pub use restyle_vgg::{InputConvention, Layer, Vgg19, VggWeights};
pub use scales::{Scale, ScaleSchedule, AUTO_START_SIZE, SCALE_STEP};
pub use settings::{
    Init, OptimizerKind, OptimizerSettings, Settings, StopRule, StyleImage, Tiling,
    DEFAULT_ADAM_LEARNING_RATE, DEFAULT_LBFGS_FIRST_STEP, DEFAULT_LBFGS_HISTORY,
    DEFAULT_STOP_TOLERANCE, DEFAULT_STOP_WINDOW,
};
pub use transfer::{stylize, Outcome};
