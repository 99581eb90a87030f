//! What the losses aim at: the content image's activations at the content
//! layers, and the style images' Gram matrices at the style layers.

use restyle_engine::Tensor;
use restyle_image::tiles::{crop, Tile};
use restyle_image::{fit_long_edge, Image, Mask, StyleImage};
use restyle_vgg::{Borders, Layer, Op, Vgg19};

use crate::error::SizedImage;
use crate::losses::{gram, guided_gram, ContentLoss, Gram, StyleLoss};
use crate::mask::MaskAtLayer;
use crate::settings::Settings;
use crate::{Flow, Observer, Result};

/// Relative layer weights, normalised to sum to 1 and multiplied by `global`.
fn normalised(layers: &[(Layer, f32)], global: f32) -> Vec<(Layer, f64)> {
    let sum: f64 = layers.iter().map(|l| l.1 as f64).sum();
    layers
        .iter()
        .map(|&(l, w)| {
            (
                l,
                if sum > 0.0 {
                    global as f64 * w as f64 / sum
                } else {
                    0.0
                },
            )
        })
        .filter(|l| l.1 > 0.0)
        .collect()
}

/// What the network reads beyond the output's edges.
pub(crate) fn borders(settings: &Settings) -> Borders {
    if settings.seamless {
        Borders::Wrap
    } else {
        Borders::Zero
    }
}

/// Content losses for `content` (already at the size being optimised).
pub(crate) fn content_targets(
    net: &Vgg19,
    content: &Image,
    settings: &Settings,
) -> Vec<(Layer, f64, ContentLoss)> {
    let layers = normalised(&settings.content_layers, settings.content_weight);
    let wanted: Vec<Layer> = layers.iter().map(|l| l.0).collect();
    let features = net.features_with(content.tensor(), &wanted, borders(settings));
    layers
        .into_iter()
        .zip(features)
        .map(|((layer, w), f)| (layer, w, ContentLoss::new(f)))
        .collect()
}

/// Style losses for an output whose long edge is `size`: each style image is
/// resized to `style_scale * size` and its Gram matrices blended. With
/// `tile`, style images larger than a tile are measured tile by tile.
/// `None` when `observer` stopped the run (it is asked before each image
/// and each tile).
pub(crate) fn style_targets(
    net: &Vgg19,
    styles: &[StyleImage],
    settings: &Settings,
    size: usize,
    tile: Option<usize>,
    observer: &mut dyn Observer,
) -> Result<Option<Vec<(Layer, f64, StyleLoss)>>> {
    let layers = normalised(&settings.style_layers, settings.style_weight);
    if layers.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let wanted: Vec<Layer> = layers.iter().map(|l| l.0).collect();
    let blend_sum: f32 = styles.iter().map(|s| s.weight).sum();
    let style_edge = ((size as f32 * settings.style_scale).round() as usize).max(1);
    // Per layer, each style's Gram matrix with its blend weight.
    let mut grams: Vec<Vec<(Gram, f32)>> = vec![Vec::new(); layers.len()];
    for (i, style) in styles.iter().enumerate().filter(|(_, s)| s.weight > 0.0) {
        let (w, h) = fit_long_edge(style.image.width(), style.image.height(), style_edge);
        settings.check_size(SizedImage::Style(i + 1), w, h)?;
        if observer.on_targets() == Flow::Stop {
            return Ok(None);
        }
        let Some(style_grams) = image_grams(net, style, w, h, &wanted, tile, observer) else {
            return Ok(None);
        };
        for (slot, g) in grams.iter_mut().zip(style_grams) {
            slot.push((g, style.weight / blend_sum));
        }
    }
    Ok(Some(
        layers
            .into_iter()
            .zip(grams)
            .map(|((layer, w), parts)| (layer, w, StyleLoss::new(Gram::blend(&parts))))
            .collect(),
    ))
}

/// The Gram matrices at `layers` of `style`'s image resized to `w x h`
/// (guided by its style mask, if it has one), measured in tiles if it is
/// larger than `tile`. `None` when `observer` stopped the run.
fn image_grams(
    net: &Vgg19,
    style: &StyleImage,
    w: usize,
    h: usize,
    layers: &[Layer],
    tile: Option<usize>,
    observer: &mut dyn Observer,
) -> Option<Vec<Gram>> {
    let resized = style.image.resized(w, h);
    let mask = style.style_mask.as_ref().map(|m| m.resized(w, h));
    match tile {
        Some(tile) if w.max(h) > tile => {
            tiled_grams(net, &resized, mask.as_ref(), layers, tile, observer)
        }
        _ => Some(
            net.features(resized.tensor(), layers)
                .iter()
                .zip(layers)
                .map(|(f, &layer)| masked_gram(f, mask.as_ref(), layer))
                .collect(),
        ),
    }
}

/// The Gram matrix of `features` (at `layer`) within `mask` (at the input's
/// size), or of all of them without one. A mask whose region does not
/// reach this layer (smaller than one of its positions) counts everywhere.
fn masked_gram(features: &Tensor, mask: Option<&Mask>, layer: Layer) -> Gram {
    mask.and_then(|m| guided_gram(features, &m.at_layer(layer)))
        .unwrap_or_else(|| gram(features))
}

/// A region of the output and what the style losses aim at there.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    /// Where, in the content image's frame (any size).
    pub mask: Mask,
    /// How strongly the style paints it (the masked style's weight; 1 for
    /// the blend of the unmasked styles).
    pub strength: f64,
    /// Per style layer: its weight (times the global style weight) and the
    /// target Gram matrix.
    pub targets: Vec<(Layer, f64, Gram)>,
}

/// The regions of an output whose long edge is `size`: one per masked
/// style, and one for the blend of the unmasked styles (everywhere); each
/// without the part [`Settings::keep`] keeps. As [`style_targets`] for the
/// rest; `None` when `observer` stopped the run.
pub(crate) fn region_targets(
    net: &Vgg19,
    styles: &[StyleImage],
    settings: &Settings,
    size: usize,
    tile: Option<usize>,
    observer: &mut dyn Observer,
) -> Result<Option<Vec<Region>>> {
    let layers = normalised(&settings.style_layers, settings.style_weight);
    if layers.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let wanted: Vec<Layer> = layers.iter().map(|l| l.0).collect();
    let style_edge = ((size as f32 * settings.style_scale).round() as usize).max(1);
    let outside_keep = settings.keep.as_ref().map(Mask::inverted);
    let unmasked_sum: f32 = styles
        .iter()
        .filter(|s| s.mask.is_none())
        .map(|s| s.weight)
        .sum();
    let mut regions = Vec::new();
    let mut blend: Vec<Vec<(Gram, f32)>> = vec![Vec::new(); layers.len()];
    for (i, style) in styles.iter().enumerate().filter(|(_, s)| s.weight > 0.0) {
        let mask = match (&style.mask, &outside_keep) {
            (Some(m), Some(k)) => Some(m.intersected(k)),
            (m, _) => m.clone(),
        };
        if mask.as_ref().is_some_and(Mask::is_blank) {
            continue; // all of its region is kept
        }
        let (w, h) = fit_long_edge(style.image.width(), style.image.height(), style_edge);
        settings.check_size(SizedImage::Style(i + 1), w, h)?;
        if observer.on_targets() == Flow::Stop {
            return Ok(None);
        }
        let Some(grams) = image_grams(net, style, w, h, &wanted, tile, observer) else {
            return Ok(None);
        };
        match mask {
            Some(mask) => regions.push(Region {
                mask,
                strength: style.weight as f64,
                targets: layers
                    .iter()
                    .zip(grams)
                    .map(|(&(l, w), g)| (l, w, g))
                    .collect(),
            }),
            None => {
                for (slot, g) in blend.iter_mut().zip(grams) {
                    slot.push((g, style.weight / unmasked_sum));
                }
            }
        }
    }
    if !blend[0].is_empty() {
        regions.push(Region {
            mask: outside_keep.unwrap_or_else(|| Mask::filled(1, 1, 1.0)),
            strength: 1.0,
            targets: layers
                .iter()
                .zip(blend)
                .map(|(&(l, w), parts)| (l, w, Gram::blend(&parts)))
                .collect(),
        });
    }
    Ok(Some(regions))
}

/// Tiles are aligned to this many pixels, so that every layer's positions
/// (each pooling halves them) fall exactly on tile boundaries.
const ALIGN: usize = 32;

/// Gram matrices of a large image, measured tile by tile: each tile's core
/// is run with `margin` pixels of context around it, and only the core's
/// positions count. A Gram matrix is a sum over positions, so the parts add
/// up to the whole, up to what the margin cuts from the receptive fields.
///
/// `observer` is asked before each tile; `None` if it stopped the run.
fn tiled_grams(
    net: &Vgg19,
    image: &Image,
    mask: Option<&Mask>,
    layers: &[Layer],
    tile: usize,
    observer: &mut dyn Observer,
) -> Option<Vec<Gram>> {
    let (w, h) = (image.width(), image.height());
    let margin = (tile / 4 / ALIGN * ALIGN).max(ALIGN);
    let core = ((tile.saturating_sub(2 * margin)) / ALIGN * ALIGN).max(ALIGN);
    let mut parts: Vec<Vec<(Gram, f64)>> = vec![Vec::new(); layers.len()];
    for cy in (0..h).step_by(core) {
        for cx in (0..w).step_by(core) {
            let core_tile = Tile {
                x: cx,
                y: cy,
                width: core.min(w - cx),
                height: core.min(h - cy),
            };
            let region = Tile {
                x: cx.saturating_sub(margin),
                y: cy.saturating_sub(margin),
                width: (cx + core + margin).min(w) - cx.saturating_sub(margin),
                height: (cy + core + margin).min(h) - cy.saturating_sub(margin),
            };
            if observer.on_targets() == Flow::Stop {
                return None;
            }
            let features = net.features(&crop(image.tensor(), region), layers);
            for ((slot, f), layer) in parts.iter_mut().zip(features).zip(layers) {
                let factor = downsampling(*layer);
                // The core's positions in this layer, relative to the region.
                let x0 = core_tile.x / factor - region.x / factor;
                let y0 = core_tile.y / factor - region.y / factor;
                let x1 =
                    ((core_tile.x + core_tile.width) / factor - region.x / factor).min(f.width());
                let y1 =
                    ((core_tile.y + core_tile.height) / factor - region.y / factor).min(f.height());
                if x1 > x0 && y1 > y0 {
                    let core = Tile {
                        x: x0,
                        y: y0,
                        width: x1 - x0,
                        height: y1 - y0,
                    };
                    let core_features = crop(&f, core);
                    match mask {
                        // Within a mask, a core counts by its weight, not its size.
                        Some(mask) => {
                            let at_layer = mask.cropped(region).at_layer(*layer);
                            let guide = Mask::new(f.width(), f.height(), at_layer).cropped(core);
                            let weight: f64 =
                                guide.as_slice().iter().map(|&v| v as f64 * v as f64).sum();
                            if let Some(g) = guided_gram(&core_features, guide.as_slice()) {
                                slot.push((g, weight));
                            }
                        }
                        None => {
                            slot.push((gram(&core_features), (core.width * core.height) as f64))
                        }
                    }
                }
            }
        }
    }
    let grams = parts
        .into_iter()
        .map(|p| {
            let total: f64 = p.iter().map(|(_, n)| n).sum();
            let weighted: Vec<(Gram, f32)> = p
                .into_iter()
                .map(|(g, n)| (g, (n / total) as f32))
                .collect();
            Gram::blend(&weighted)
        })
        .collect();
    Some(grams)
}

/// How many input pixels one position of `layer` spans along each axis.
fn downsampling(layer: Layer) -> usize {
    1 << Layer::all()
        .take(layer.index() + 1)
        .filter(|l| l.op() == Op::Pool)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Silent;

    #[test]
    fn tiled_gram_matrices_match_the_whole_image() {
        let layers: Vec<Layer> = ["relu1_1", "relu2_1", "relu3_1"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        let net = Vgg19::embedded_up_to(layers[2]);
        let (w, h) = (200, 150);
        let mut t = Tensor::zeros(3, h, w);
        for c in 0..3 {
            for (i, v) in t.plane_mut(c).iter_mut().enumerate() {
                let (x, y) = ((i % w) as f32, (i / w) as f32);
                *v = 0.5 + 0.4 * ((x * (0.1 + 0.05 * c as f32)).sin() * (y * 0.07).cos());
            }
        }
        let image = Image::from_tensor(t);
        let whole: Vec<Gram> = net
            .features(image.tensor(), &layers)
            .iter()
            .map(gram)
            .collect();
        let tiled = tiled_grams(&net, &image, None, &layers, 128, &mut Silent).unwrap();
        for ((a, b), layer) in whole.iter().zip(&tiled).zip(&layers) {
            let diff: f64 = a
                .as_slice()
                .iter()
                .zip(b.as_slice())
                .map(|(x, y)| ((x - y) as f64).powi(2))
                .sum();
            let norm: f64 = a.as_slice().iter().map(|x| (*x as f64).powi(2)).sum();
            let relative = (diff / norm).sqrt();
            assert!(relative < 2e-2, "{layer}: relative error {relative}");
        }
    }
}
