//! A style image as both methods take it: the painting, its share in a blend of several,
//! and optionally the region of the output it paints and the part of it that is used.

use crate::image::Image;
use crate::mask::Mask;

/// A style image and its share in a blend of several; optionally, the
/// region of the output it paints and the part of it that is used.
#[derive(Clone, Debug)]
pub struct StyleImage {
    pub image: Image,
    /// Without a mask, the share in the blend of the unmasked styles; with
    /// one, how strongly this style paints its region (1: as strongly as a
    /// style alone paints the whole picture).
    pub weight: f32,
    /// Where this style goes, in the content image's frame (any size; white:
    /// here, black: not here, grey: partly). `None`: everywhere (blended
    /// with the other unmasked styles). Pixels no mask covers keep the
    /// photo.
    pub mask: Option<Mask>,
    /// Which part of this style image is used (in its own frame); `None`: all of it.
    pub style_mask: Option<Mask>,
}

impl StyleImage {
    /// `image` with blend weight `weight`, everywhere, all of it used.
    pub fn new(image: Image, weight: f32) -> Self {
        Self {
            image,
            weight,
            mask: None,
            style_mask: None,
        }
    }

    /// The same style in its `region` of the output.
    pub fn in_region(self, region: Mask) -> Self {
        Self {
            mask: Some(region),
            ..self
        }
    }
}
