//! Regions: where in the output a style goes (or where the photo is kept),
//! as a grey map of weights, and the same map brought to each layer of the
//! network for the guided Gram matrices of Gatys et al., "Controlling
//! Perceptual Factors in Neural Style Transfer" (CVPR 2017, "Spatial control").

use image::{imageops, ImageBuffer, Luma};
use restyle_vgg::{Layer, Op};

use crate::color::luminance;
use crate::tiles::Tile;
use crate::Image;

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
    pub(crate) fn cropped(&self, tile: Tile) -> Self {
        let mut data = Vec::with_capacity(tile.width * tile.height);
        for y in tile.y..tile.y + tile.height {
            let row = y * self.width + tile.x;
            data.extend_from_slice(&self.data[row..row + tile.width]);
        }
        Self::new(tile.width, tile.height, data)
    }

    /// Mean weight.
    pub fn mean(&self) -> f32 {
        (self.data.iter().map(|&v| v as f64).sum::<f64>() / self.data.len() as f64) as f32
    }

    /// The mask at `layer`'s positions, for an input of its size: each
    /// pooling averages 2x2 positions (rounding the size down, as the
    /// network's pooling does). The convolutions are ignored, so a position
    /// near a region's edge belongs partly to both sides. A region never
    /// vanishes this way: the style side (which part of a painting is used)
    /// is measured with it.
    pub fn at_layer(&self, layer: Layer) -> Vec<f32> {
        self.propagated(layer, false)
    }

    /// The "inside" mask at `layer`: as [`Mask::at_layer`], but eroded by
    /// one position (the minimum over its 3x3 neighbours in the image) at
    /// every convolution, so that a position counts only as far as its
    /// receptive field lies in the region.
    ///
    /// Gatys et al. (CVPR 2017) compare simple downsampling with such
    /// eroded masks. On the two-halves test (a grey 64x42 photo, a flat red
    /// painting on the left half, a flat blue one on the right, 40 L-BFGS
    /// steps, content weight 0.05), the left half ended at RGB (0.61, 0.42,
    /// 0.47) with downsampled masks and (0.93, 0.25, 0.22) with eroded ones
    /// (the red painting is (0.85, 0.15, 0.10)); the right half likewise
    /// (0.42, 0.44, 0.63) against (0.18, 0.35, 0.92), blue being (0.10,
    /// 0.25, 0.85). Downsampled masks let every position near an edge, and
    /// every deep position whose receptive field spans both halves, pull
    /// towards both paintings at once. The output's regions use eroded
    /// masks; a region too small for a deep layer has no term there.
    pub fn inside_at_layer(&self, layer: Layer) -> Vec<f32> {
        self.propagated(layer, true)
    }

    fn propagated(&self, layer: Layer, erode: bool) -> Vec<f32> {
        let (mut w, mut h) = (self.width, self.height);
        let mut m = self.data.clone();
        for l in Layer::all().take(layer.index() + 1) {
            match l.op() {
                Op::Conv(_) if erode => m = erode3x3(&m, w, h),
                Op::Conv(_) | Op::Relu => {}
                Op::Pool => {
                    let (ow, oh) = (w / 2, h / 2);
                    let mut out = vec![0.0; ow * oh];
                    for y in 0..oh {
                        for x in 0..ow {
                            let i = 2 * y * w + 2 * x;
                            out[y * ow + x] = 0.25 * (m[i] + m[i + 1] + m[i + w] + m[i + w + 1]);
                        }
                    }
                    (w, h, m) = (ow, oh, out);
                }
            }
        }
        m
    }
}

/// The minimum over each position's 3x3 neighbours that lie in the image.
fn erode3x3(m: &[f32], w: usize, h: usize) -> Vec<f32> {
    let mut out = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut low = f32::INFINITY;
            for ny in y.saturating_sub(1)..(y + 2).min(h) {
                for nx in x.saturating_sub(1)..(x + 2).min(w) {
                    low = low.min(m[ny * w + nx]);
                }
            }
            out[y * w + x] = low;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_follow_the_layers_geometry() {
        // Left half 1, right half 0, 64 x 32.
        let (w, h) = (64, 32);
        let mask = Mask::new(
            w,
            h,
            (0..w * h).map(|i| ((i % w) < 32) as u8 as f32).collect(),
        );
        let relu3_1: Layer = "relu3_1".parse().unwrap();
        let m = mask.at_layer(relu3_1);
        assert_eq!(m.len(), 16 * 8);
        // Two poolings: 4 pixels per position; the edge at 32 is at 8.
        assert_eq!(
            &m[..16],
            &[1., 1., 1., 1., 1., 1., 1., 1., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
        // Eroded: relu3_1 follows 2 convolutions at full resolution (the
        // edge moves from 32 to 30), 2 at half (15 to 13, so position 6 of
        // the quarter is half in) and 1 at a quarter (the 1s end at 5).
        let inside = mask.inside_at_layer(relu3_1);
        assert_eq!(
            &inside[..16],
            &[1., 1., 1., 1., 1., 0.5, 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]
        );
    }

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
}
