//! `--masks`, `--style-masks`, `--keep` and `--seamless`: which style goes
//! where, and pictures that tile. The flags are checked before anything is
//! loaded; the masks are loaded with the images.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use restyle::{Image, Mask, Settings, StyleImage};
use restyle_engine::Tensor;

use crate::args::{MethodArg, TransferArgs};
use crate::common::load_image;
use restyle_fast::Painted;

/// Every mask file the flags name.
pub fn mask_paths(args: &TransferArgs) -> Vec<&Path> {
    let lists = [&args.masks, &args.style_masks];
    lists
        .into_iter()
        .flatten()
        .flatten()
        .chain(&args.keep)
        .map(PathBuf::as_path)
        .collect()
}

/// Checks the counts and the method, before any image is loaded.
pub fn check_flags(args: &TransferArgs) -> Result<()> {
    if args.method == MethodArg::Fast {
        // --masks and --keep work by painting each style over the whole
        // picture and compositing (see `paint_fast`); a style's part and
        // wrapped borders have no counterpart in one pass of the network.
        let set = [
            ("--style-masks", args.style_masks.is_some()),
            ("--seamless", args.seamless),
        ];
        if let Some((flag, _)) = set.iter().find(|(_, on)| *on) {
            bail!("{flag} is not supported by --method fast; use --method gatys (the default)");
        }
    }
    if args.seamless && args.tile {
        bail!("--seamless cannot be used with --tile: a tile's edges are not the picture's, so it cannot wrap around them");
    }
    for (flag, list) in [
        ("--masks", &args.masks),
        ("--style-masks", &args.style_masks),
    ] {
        if let Some(list) = list {
            if list.len() != args.styles.len() {
                bail!(
                    "{flag} has {} mask(s) but {} style image(s) were given: give one per style image, in order",
                    list.len(),
                    args.styles.len()
                );
            }
        }
    }
    Ok(())
}

/// A mask file, as weights; an all-black one is refused (it marks nothing).
fn load_mask(path: &Path, flag: &str) -> Result<Mask> {
    let mask = Mask::from_image(&load_image(path, &format!("{flag} mask"))?);
    if mask.is_blank() {
        bail!(
            "{flag}: {} is all black, so it marks no region (white marks the region)",
            path.display()
        );
    }
    Ok(mask)
}

/// Loads the masks the flags name into the styles and the settings.
pub fn apply(
    args: &TransferArgs,
    styles: &mut [StyleImage],
    settings: &mut Settings,
) -> Result<()> {
    if let Some(paths) = &args.masks {
        for (style, path) in styles.iter_mut().zip(paths) {
            style.mask = Some(load_mask(path, "--masks")?);
        }
    }
    if let Some(paths) = &args.style_masks {
        for (style, path) in styles.iter_mut().zip(paths) {
            style.style_mask = Some(load_mask(path, "--style-masks")?);
        }
    }
    if let Some(path) = &args.keep {
        settings.keep = Some(load_mask(path, "--keep")?);
    }
    Ok(())
}

/// `--method fast` with `--masks` or `--keep`: each masked style painted
/// over the whole photo in one pass, the pictures blended by their masks
/// (where masks overlap, in proportion; where none reaches, the photo), and
/// the kept part put back. The network has no guided Gram matrices, so each
/// region is a crop of a whole-picture painting; without masks it is the
/// plain fast picture.
pub fn paint_fast(
    args: &TransferArgs,
    photo: &Image,
    styles: &[StyleImage],
    paint: impl Fn(&[StyleImage]) -> Result<Painted>,
) -> Result<Painted> {
    let mut styles = styles.to_vec();
    let mut settings = Settings::default();
    apply(args, &mut styles, &mut settings)?;
    let (mut image, network) = if styles.iter().all(|s| s.mask.is_none()) {
        let painted = paint(&styles)?;
        (painted.image, painted.network)
    } else {
        let mut layers = Vec::new();
        let mut network = std::time::Duration::ZERO;
        for style in &styles {
            let painted = paint(std::slice::from_ref(style))?;
            network += painted.network;
            layers.push((painted.image, style.mask.clone()));
        }
        let (w, h) = (layers[0].0.width(), layers[0].0.height());
        let base = photo.resized(w, h);
        (blend(&base, &layers), network)
    };
    if let Some(keep) = &settings.keep {
        let base = photo.resized(image.width(), image.height());
        image = blend(&image, &[(base, Some(keep.clone()))]);
    }
    Ok(Painted { image, network })
}

/// `layers` over `base`: each layer weighted by its mask (resized to the
/// picture); where the weights add up to more than 1 they are scaled to 1,
/// and what is left of 1 is `base`.
fn blend(base: &Image, layers: &[(Image, Option<Mask>)]) -> Image {
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
