//! Regions: where in the output a style goes (or where the photo is kept),
//! as a grey map of weights. (The `restyle` crate brings a mask to each layer
//! of VGG-19 for its guided Gram matrices.)

use image::{imageops, ImageBuffer, Luma};

use crate::color::luminance;
use crate::image::Image;
use crate::tiles::{crop_plane, Tile};

/// A map of weights in 0..1 (1: fully in the region; grey: partly, a soft
/// edge), of any size: it is resized to whatever image it is applied to.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Mask {
    /// From `width * height` weights, row by row; values are clamped to 0..1.
    ///
    /// # Panics
    /// If `data` is not `width * height` long or a side is zero.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert!(width > 0 && height > 0, "a mask has pixels");
        assert_eq!(data.len(), width * height, "mask size");
        let data = data
            .into_iter()
            .map(|v| if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) })
            .collect();
        Self {
            width,
            height,
            data,
        }
    }

    /// A mask of one weight everywhere.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Self::new(width, height, vec![value; width * height])
    }

    /// From a picture: its brightness is the weight (white: in the region,
    /// black: out, grey: partly).
    pub fn from_image(image: &Image) -> Self {
        let grey = luminance(image);
        Self::new(
            image.width(),
            image.height(),
            grey.tensor().plane(0).to_vec(),
        )
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    /// The weights, row by row.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// Whether no pixel has any weight (such a region is empty).
    pub fn is_blank(&self) -> bool {
        self.data.iter().all(|&v| v <= 0.0)
    }

    /// One minus the weight: everything outside the region.
    pub fn inverted(&self) -> Self {
        Self::new(
            self.width,
            self.height,
            self.data.iter().map(|v| 1.0 - v).collect(),
        )
    }

    /// The product of two masks' weights (the part in both), at `self`'s size.
    pub fn intersected(&self, other: &Mask) -> Self {
        let other = other.resized(self.width, self.height);
        Self::new(
            self.width,
            self.height,
            self.data
                .iter()
                .zip(&other.data)
                .map(|(a, b)| a * b)
                .collect(),
        )
    }

    /// Resampled to `width x height`, bilinearly (a triangle filter: no
    /// overshoot, so the weights stay in 0..1 and a hard edge stays a short ramp).
    pub fn resized(&self, width: usize, height: usize) -> Self {
        if (width, height) == (self.width, self.height) {
            return self.clone();
        }
        let buffer: ImageBuffer<Luma<f32>, Vec<f32>> =
            ImageBuffer::from_raw(self.width as u32, self.height as u32, self.data.clone())
                .expect("the buffer matches the size");
        let resized = imageops::resize(
            &buffer,
            width as u32,
            height as u32,
            imageops::FilterType::Triangle,
        );
        Self::new(width, height, resized.into_raw())
    }

    /// The part of the mask under `tile` (the mask already at the image's size).
    pub fn cropped(&self, tile: Tile) -> Self {
        let mut data = vec![0.0; tile.width * tile.height];
        crop_plane(&self.data, self.width, tile, &mut data);
        Self::new(tile.width, tile.height, data)
    }

    /// Mean weight.
    pub fn mean(&self) -> f32 {
        (self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len() as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizing_keeps_weights_in_range_and_blank_is_blank() {
        let mask = Mask::new(3, 2, vec![0.0, 1.0, 0.5, 2.0, -1.0, f32::NAN]);
        assert_eq!(mask.as_slice(), &[0.0, 1.0, 0.5, 1.0, 0.0, 0.0]);
        let big = mask.resized(30, 20);
        assert!(big.as_slice().iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(!big.is_blank());
        assert!(Mask::filled(5, 5, 0.0).is_blank());
        assert!((Mask::filled(4, 4, 0.25).inverted().mean() - 0.75).abs() < 1e-6);
    }

    #[test]
    fn cropping_keeps_the_weights_under_the_tile() {
        let mask = Mask::new(4, 3, (0..12).map(|i| i as f32 / 11.0).collect());
        let tile = Tile {
            x: 1,
            y: 1,
            width: 2,
            height: 2,
        };
        let part = mask.cropped(tile);
        assert_eq!((part.width(), part.height()), (2, 2));
        assert_eq!(
            part.as_slice(),
            &[5.0 / 11.0, 6.0 / 11.0, 9.0 / 11.0, 10.0 / 11.0]
        );
    }
}
