//! What makes a painted clip steady: the optical flow between consecutive input frames carries
//! the previous painted frame to the current one, and the flow's reliability says where that
//! carried picture can be trusted (not where something was hidden before, at motion
//! boundaries, or beyond the frame's edge).
//!
//! - The optimisation ([`crate::Method::Gatys`]) starts from the carried picture and a temporal
//!   loss holds it there where the flow is reliable (Ruder et al. 2016).
//! - The fast network has no memory of the last frame, so it gets two: its normalisations'
//!   statistics are carried from frame to frame ([`restyle_fast::SteadyStatistics`]), and its
//!   picture is blended with the carried one where the flow is reliable.

use restyle::{Image, Mask};
use restyle_engine::Tensor;
use restyle_flow::{dis_flow, reliability, smoothed, DisParams, FlowField, Gray, Preset};

/// How strongly each frame holds on to the one before.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Steadiness {
    /// Off: every frame painted on its own (what other tools do; it flickers).
    pub enabled: bool,
    /// Fast method: the share of the carried previous picture in a reliable pixel (0..1).
    pub blend: f32,
    /// Fast method: the share of the running normalisation statistics in a frame's (0..1).
    pub statistics: f32,
    /// Optimisation: the temporal loss's weight.
    pub temporal_weight: f32,
    /// Optical flow's accuracy against its speed.
    pub flow: Preset,
}

impl Default for Steadiness {
    /// Chosen by measuring the warping error and the style loss on the shared clip and on a
    /// camera move over a photo (see the README's video section).
    fn default() -> Self {
        Self {
            enabled: true,
            blend: DEFAULT_BLEND,
            statistics: DEFAULT_STATISTICS,
            temporal_weight: DEFAULT_TEMPORAL_WEIGHT,
            flow: Preset::Fast,
        }
    }
}

pub const DEFAULT_BLEND: f32 = 0.65;
pub const DEFAULT_STATISTICS: f32 = 0.9;
pub const DEFAULT_TEMPORAL_WEIGHT: f32 = 50.0;

/// The flow from a frame back to the one before, and how far it can be trusted.
pub struct Carry {
    /// Flow from the current frame to the previous one: the current pixel x was at
    /// x + backward(x) in the previous frame.
    pub backward: FlowField,
    /// One value a pixel of the current frame: 1 reliable, 0 not (smoothed at the edges).
    pub reliable: Vec<f32>,
}

impl Carry {
    /// Flows both ways between `previous` and `current` input frames, and the reliability of
    /// the backward one checked against the forward one.
    pub fn between(previous: &Gray, current: &Gray, preset: Preset) -> Carry {
        let params = DisParams::preset(preset);
        let (backward, forward) = rayon::join(
            || dis_flow(current, previous, &params),
            || dis_flow(previous, current, &params),
        );
        let mask = reliability(&backward, &forward);
        let reliable = smoothed(&mask, backward.width, backward.height, 0.8);
        Carry { backward, reliable }
    }

    /// `painted` (the previous frame's picture) carried to the current frame; where the flow
    /// leads outside it, the current frame's own picture `fallback` (and those pixels are
    /// unreliable anyway).
    ///
    /// Sampled with Catmull-Rom cubics, not bilinearly: a picture carried from frame to frame
    /// is resampled again at every frame, and bilinear sampling's blur would add up into a
    /// washed-out painting (measured: the style loss rose by a third on the shared clip).
    pub fn carried(&self, painted: &Image, fallback: &Image) -> Image {
        use rayon::prelude::*;
        let (w, h) = (painted.width(), painted.height());
        let n = w * h;
        let flow = &self.backward;
        let mut out = vec![0.0f32; 3 * n];
        for c in 0..3 {
            let src = painted.tensor().plane(c);
            let own = fallback.tensor().plane(c);
            out[c * n..][..n]
                .par_chunks_mut(w)
                .enumerate()
                .for_each(|(y, row)| {
                    for (x, o) in row.iter_mut().enumerate() {
                        let i = y * w + x;
                        let (sx, sy) = (x as f32 + flow.u[i], y as f32 + flow.v[i]);
                        *o = if sx >= 0.0
                            && sy >= 0.0
                            && sx <= (w - 1) as f32
                            && sy <= (h - 1) as f32
                        {
                            catmull_rom(src, w, h, sx, sy)
                        } else {
                            own[i]
                        };
                    }
                });
        }
        Image::from_tensor(Tensor::from_vec(3, h, w, out))
    }

    pub fn reliability_mask(&self) -> Mask {
        Mask::new(
            self.backward.width,
            self.backward.height,
            self.reliable.clone(),
        )
    }

    /// `picture` with `share` of `carried` blended in, in proportion to the reliability.
    pub fn blend(&self, picture: &Image, carried: &Image, share: f32) -> Image {
        let (w, h) = (picture.width(), picture.height());
        let n = w * h;
        let mut out = picture.tensor().as_slice().to_vec();
        let prev = carried.tensor().as_slice();
        for c in 0..3 {
            for ((o, &p), &m) in out[c * n..][..n]
                .iter_mut()
                .zip(&prev[c * n..][..n])
                .zip(&self.reliable)
            {
                let t = share * m;
                *o += t * (p - *o);
            }
        }
        Image::from_tensor(Tensor::from_vec(3, h, w, out))
    }
}

/// Catmull-Rom weights of the four samples around a point `t` (0..1) past the second.
fn cubic_weights(t: f32) -> [f32; 4] {
    let (t2, t3) = (t * t, t * t * t);
    [
        0.5 * (-t3 + 2.0 * t2 - t),
        0.5 * (3.0 * t3 - 5.0 * t2 + 2.0),
        0.5 * (-3.0 * t3 + 4.0 * t2 + t),
        0.5 * (t3 - t2),
    ]
}

/// `plane` (w x h) at (x, y) inside it, by Catmull-Rom cubics; edge samples repeat.
fn catmull_rom(plane: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor(), y.floor());
    let (wx, wy) = (cubic_weights(x - x0), cubic_weights(y - y0));
    let (x0, y0) = (x0 as isize, y0 as isize);
    let mut v = 0.0;
    for (j, wyj) in wy.iter().enumerate() {
        let row = (y0 - 1 + j as isize).clamp(0, h as isize - 1) as usize * w;
        let mut r = 0.0;
        for (i, wxi) in wx.iter().enumerate() {
            let col = (x0 - 1 + i as isize).clamp(0, w as isize - 1) as usize;
            r += wxi * plane[row + col];
        }
        v += wyj * r;
    }
    v
}

/// The grey frame optical flow reads.
pub fn gray_of(image: &Image) -> Gray {
    Gray::from_planar_rgb(image.width(), image.height(), image.tensor().as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth, textured picture moved `dx` pixels to the right between frames.
    fn textured(w: usize, h: usize, dx: f32) -> Image {
        let mut t = Tensor::zeros(3, h, w);
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    let u = x as f32 - dx;
                    let v = 0.5
                        + 0.2 * ((u * 0.21 + c as f32).sin() * (y as f32 * 0.17).cos())
                        + 0.15 * ((u * 0.05 + y as f32 * 0.09).sin());
                    t.plane_mut(c)[y * w + x] = v;
                }
            }
        }
        Image::from_tensor(t)
    }

    #[test]
    fn a_shifted_picture_is_carried_onto_the_next_frame() {
        let (a, b) = (textured(96, 64, 0.0), textured(96, 64, 3.0));
        let carry = Carry::between(&gray_of(&a), &gray_of(&b), Preset::Medium);
        let carried = carry.carried(&a, &b);
        // Away from the left edge (where the picture came in from outside), the carried
        // previous frame is the current one, and it is judged reliable.
        let (w, h) = (96, 64);
        let mut worst = 0.0f32;
        let mut reliable = 0.0;
        let mut counted = 0.0;
        for y in 8..h - 8 {
            for x in 12..w - 8 {
                for c in 0..3 {
                    let d = carried.get(c, x, y) - b.get(c, x, y);
                    worst = worst.max(d.abs());
                }
                reliable += carry.reliable[y * w + x];
                counted += 1.0;
            }
        }
        assert!(worst < 0.05, "carried differs by {worst}");
        assert!(
            reliable / counted > 0.9,
            "reliable share {}",
            reliable / counted
        );
        // The blend keeps the picture where nothing is reliable and takes the share of the
        // carried one where all is.
        let flat = Image::filled(w, h, [0.0, 0.0, 0.0]);
        let blended = carry.blend(&flat, &carried, 0.5);
        let x = 50;
        let m = carry.reliable[32 * w + x];
        assert!((blended.get(0, x, 32) - 0.5 * m * carried.get(0, x, 32)).abs() < 1e-6);
    }
}
