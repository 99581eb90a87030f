//! `--masks`, `--style-masks`, `--keep` and `--seamless`: which style goes
//! where, and pictures that tile. The flags are checked before anything is
//! loaded; the masks are loaded with the images.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use restyle::{Image, Mask, Settings, StyleImage};

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

/// `--method fast` with `--masks` or `--keep`: [`restyle_fast::paint_regions`] with the
/// masks the flags name (without them, the plain fast picture).
pub fn paint_fast(
    args: &TransferArgs,
    photo: &Image,
    styles: &[StyleImage],
    paint: impl Fn(&[StyleImage]) -> Result<Painted>,
) -> Result<Painted> {
    let mut styles = styles.to_vec();
    let mut settings = Settings::default();
    apply(args, &mut styles, &mut settings)?;
    restyle_fast::paint_regions(photo, &styles, settings.keep.as_ref(), paint)
}
