//! The objective of a finished picture, at its own size: how schedules are
//! compared. A run's last reported loss is that of its last evaluation (a
//! line-search trial, at whatever size the run ended); this measures the
//! picture as saved, with the targets a one-size run at that size would use.

use restyle_image::color::{luminance, match_colors, matched_luminance, ColorMode};
use restyle_image::{Image, StyleImage};

use crate::objective::StyleObjective;
use crate::progress::{Losses, Silent};
use crate::settings::Settings;
use crate::targets::{content_targets, style_targets};
use crate::{Result, Vgg19};

/// Content, style and total-variation losses of `picture` as the painting of
/// `content` in the style of `styles` under `settings` (weights, layers,
/// style scale, colour mode), measured at the picture's own size: the photo
/// is resized to it and the style images to `style_scale` times its long
/// edge, exactly as [`crate::stylize`] does for a one-size run. Regions
/// (masks, kept parts) and seamless borders play no part: each style is
/// matched over the whole picture.
pub fn objective_of(
    net: &Vgg19,
    content: &Image,
    styles: &[StyleImage],
    settings: &Settings,
    picture: &Image,
) -> Result<Losses> {
    settings.validate()?;
    let weights: Vec<f32> = styles.iter().map(|s| s.weight).collect();
    settings.validate_style_weights(&weights)?;
    let (w, h) = (picture.width(), picture.height());
    let photo = content.resized(w, h);
    let (target, pixels, styles): (Image, Image, Vec<StyleImage>) = match settings.color {
        ColorMode::None => (photo, picture.clone(), styles.to_vec()),
        ColorMode::Histogram => (
            photo.clone(),
            picture.clone(),
            styles
                .iter()
                .map(|s| StyleImage {
                    image: match_colors(&s.image, content),
                    ..s.clone()
                })
                .collect(),
        ),
        ColorMode::Luminance => (
            luminance(&photo),
            luminance(picture),
            styles
                .iter()
                .map(|s| StyleImage {
                    image: matched_luminance(&s.image, &photo),
                    ..s.clone()
                })
                .collect(),
        ),
    };
    let style = style_targets(net, &styles, settings, w.max(h), None, &mut Silent)?
        .expect("Silent never stops");
    let mut objective = StyleObjective::new(
        net,
        content_targets(net, &target, settings),
        style,
        settings.tv_weight,
    );
    Ok(objective.evaluate(pixels.tensor()).0)
}
