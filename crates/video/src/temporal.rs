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
    /// Fast method: how far the strokes' contrast that the blend flattened is given back,
    /// as the most a stroke is strengthened (1: not at all; see [`keep_strokes`]).
    pub strokes: f32,
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
            strokes: DEFAULT_STROKES,
            temporal_weight: DEFAULT_TEMPORAL_WEIGHT,
            flow: Preset::Fast,
        }
    }
}

pub const DEFAULT_BLEND: f32 = 0.8;
pub const DEFAULT_STATISTICS: f32 = 0.9;
pub const DEFAULT_STROKES: f32 = 1.15;
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
        let src = [0, 1, 2].map(|c| painted.tensor().plane(c));
        let own = [0, 1, 2].map(|c| fallback.tensor().plane(c));
        // Row by row, all three channels at once: a pixel's sixteen taps and their weights
        // are worked out once, not once a channel.
        let mut out = vec![0.0f32; 3 * n];
        let (red, rest) = out.split_at_mut(n);
        let (green, blue) = rest.split_at_mut(n);
        red.par_chunks_mut(w)
            .zip(green.par_chunks_mut(w))
            .zip(blue.par_chunks_mut(w))
            .enumerate()
            .for_each(|(y, ((r, g), b))| {
                for x in 0..w {
                    let i = y * w + x;
                    let (sx, sy) = (x as f32 + flow.u[i], y as f32 + flow.v[i]);
                    let inside =
                        sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f32 && sy <= (h - 1) as f32;
                    let [vr, vg, vb] = if inside {
                        let taps = CubicTaps::at(w, h, sx, sy);
                        src.map(|plane| taps.sample(plane))
                    } else {
                        own.map(|plane| plane[i])
                    };
                    (r[x], g[x], b[x]) = (vr, vg, vb);
                }
            });
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

/// `blended` with its strokes as strong as `fresh`'s, where the blend flattened them.
///
/// Where the picture moves, the strokes carried from the frame before and those the network
/// paints anew do not line up, and their average is flatter than either: on a camera move
/// over a photo the style loss rose by 28% with the blend alone. In each channel, the detail
/// (what a 7x7 mean takes away) is strengthened towards the fresh picture's local strength
/// (its mean square over 17x17), by at most `cap`; where the two agree (still parts, or the
/// flow carrying strokes exactly) the gain is 1 and nothing changes. With it the blend can
/// hold more of the previous frame for the same style: measured on the README's two clips,
/// a blend of 0.8 with `cap` 1.15 flickers as little as 0.65 without (0.30 of frame by
/// frame on the shared clip) and keeps the style of 0.55 without (1.17 on the camera move).
pub fn keep_strokes(blended: &Image, fresh: &Image, cap: f32) -> Image {
    use rayon::prelude::*;
    if cap <= 1.0 {
        return blended.clone();
    }
    let (w, h) = (blended.width(), blended.height());
    // Six planes (each channel of both pictures), each with its 7x7 mean and the 17x17 mean of
    // its detail's square: six pieces of work, which two or four cores share evenly.
    let planes: Vec<&[f32]> = (0..3)
        .flat_map(|c| [blended.tensor().plane(c), fresh.tensor().plane(c)])
        .collect();
    let measured: Vec<(Vec<f32>, Vec<f32>)> = planes
        .par_iter()
        .map(|plane| {
            let mean = box_mean(plane, w, h, 3);
            let square: Vec<f32> = plane
                .iter()
                .zip(&mean)
                .map(|(x, m)| (x - m) * (x - m))
                .collect();
            let strength = box_mean(&square, w, h, 8);
            (mean, strength)
        })
        .collect();
    let mut out = vec![0.0f32; 3 * w * h];
    out.par_chunks_mut(w * h)
        .zip(measured.par_chunks(2))
        .zip(planes.par_chunks(2))
        .for_each(|((out, measured), planes)| {
            let ((b_mean, b_strength), (_, f_strength)) = (&measured[0], &measured[1]);
            for ((o, (&x, &m)), (&sb, &sf)) in out
                .iter_mut()
                .zip(planes[0].iter().zip(b_mean))
                .zip(b_strength.iter().zip(f_strength))
            {
                let gain = ((sf + 1e-6) / (sb + 1e-6)).sqrt().clamp(1.0, cap);
                *o = m + gain * (x - m);
            }
        });
    Image::from_tensor(Tensor::from_vec(3, h, w, out))
}

/// Each value's mean over the `(2r + 1) x (2r + 1)` window around it, the part inside the
/// plane. Along a row the window's values are added as whole shifted rows (independent
/// additions the compiler vectorises; a running sum would be one long chain of dependent
/// ones); down the columns, by running sums a whole row at a time.
fn box_mean(plane: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    // 1 / (the number of a position's window values inside the line).
    let inverse = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|i| 1.0 / ((i + r).min(len - 1) + 1 - i.saturating_sub(r)) as f32)
            .collect()
    };
    let (inverse_x, inverse_y) = (inverse(w), inverse(h));
    let mut across = vec![0.0f32; w * h];
    for (row, out) in plane.chunks_exact(w).zip(across.chunks_exact_mut(w)) {
        if w > 2 * r {
            let inner = &mut out[r..w - r];
            for k in 0..=2 * r {
                for (o, v) in inner.iter_mut().zip(&row[k..]) {
                    *o += v;
                }
            }
        }
        for x in (0..r.min(w)).chain(w.saturating_sub(r).max(r.min(w))..w) {
            out[x] = row[x.saturating_sub(r)..=(x + r).min(w - 1)].iter().sum();
        }
        for (o, s) in out.iter_mut().zip(&inverse_x) {
            *o *= s;
        }
    }
    let mut out = vec![0.0f32; w * h];
    let mut sums = vec![0.0f32; w];
    for row in across.chunks_exact(w).take(r.min(h - 1) + 1) {
        for (s, v) in sums.iter_mut().zip(row) {
            *s += v;
        }
    }
    for (y, &scale) in inverse_y.iter().enumerate() {
        for (o, s) in out[y * w..][..w].iter_mut().zip(&sums) {
            *o = s * scale;
        }
        if y + r + 1 < h {
            for (s, v) in sums.iter_mut().zip(&across[(y + r + 1) * w..][..w]) {
                *s += v;
            }
        }
        if y >= r {
            for (s, v) in sums.iter_mut().zip(&across[(y - r) * w..][..w]) {
                *s -= v;
            }
        }
    }
    out
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

/// Where a point (x, y) inside a `w x h` plane reads it by Catmull-Rom cubics: the four
/// rows and columns around it (edge samples repeat) and their weights.
struct CubicTaps {
    rows: [usize; 4],
    columns: [usize; 4],
    wx: [f32; 4],
    wy: [f32; 4],
}

impl CubicTaps {
    fn at(w: usize, h: usize, x: f32, y: f32) -> CubicTaps {
        let (x0, y0) = (x.floor(), y.floor());
        let (wx, wy) = (cubic_weights(x - x0), cubic_weights(y - y0));
        let (x0, y0) = (x0 as isize, y0 as isize);
        CubicTaps {
            rows: [0, 1, 2, 3].map(|j| (y0 - 1 + j).clamp(0, h as isize - 1) as usize * w),
            columns: [0, 1, 2, 3].map(|i| (x0 - 1 + i).clamp(0, w as isize - 1) as usize),
            wx,
            wy,
        }
    }

    fn sample(&self, plane: &[f32]) -> f32 {
        let mut v = 0.0;
        let [a, b, c, d] = self.wx;
        if self.columns[3] == self.columns[0] + 3 {
            // Away from the left and right edges a row's four taps are side by side: one
            // bounds check a row instead of four (the same sums in the same order).
            for (row, wy) in self.rows.iter().zip(&self.wy) {
                let t = &plane[row + self.columns[0]..][..4];
                v += wy * (a * t[0] + b * t[1] + c * t[2] + d * t[3]);
            }
            return v;
        }
        for (row, wy) in self.rows.iter().zip(&self.wy) {
            let mut r = 0.0;
            for (col, wx) in self.columns.iter().zip(&self.wx) {
                r += wx * plane[row + col];
            }
            v += wy * r;
        }
        v
    }
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
    fn box_means_are_the_windows_means_inside_the_plane() {
        // Narrower than a window, and wide enough for whole windows inside the rows.
        for (w, h, r) in [0, 1, 3, 8]
            .into_iter()
            .flat_map(|r| [(7, 5, r), (40, 23, r), (17, 17, r)])
        {
            let plane: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 11) as f32).collect();
            let got = box_mean(&plane, w, h, r);
            for y in 0..h {
                for x in 0..w {
                    let (mut sum, mut n) = (0.0, 0.0);
                    for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                        for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                            sum += plane[yy * w + xx];
                            n += 1.0;
                        }
                    }
                    assert!((got[y * w + x] - sum / n).abs() < 1e-4, "r {r} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn strokes_flattened_by_a_blend_are_given_back_up_to_the_cap() {
        let (w, h) = (48, 32);
        // Two paintings whose strokes do not line up (independent noise), and their average:
        // its strokes are flatter than either's (by 1/sqrt(2)).
        let noise = |seed: u64| -> Vec<f32> {
            (0..3 * w * h)
                .map(|i| {
                    let v = (i as u64 + seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
                    0.25 + 0.5 * (v % 1000) as f32 / 1000.0
                })
                .collect()
        };
        let image = |v: Vec<f32>| Image::from_tensor(Tensor::from_vec(3, h, w, v));
        let (fresh, carried) = (noise(1), noise(77_777));
        let flat = image(
            fresh
                .iter()
                .zip(&carried)
                .map(|(a, b)| 0.5 * (a + b))
                .collect(),
        );
        let fresh = image(fresh);
        let strength = |img: &Image| {
            let p = img.tensor().plane(1);
            let m = box_mean(p, w, h, 3);
            (p.iter().zip(&m).map(|(v, m)| (v - m).powi(2)).sum::<f32>() / p.len() as f32).sqrt()
        };
        let kept = keep_strokes(&flat, &fresh, 1.15);
        let gained = strength(&kept) / strength(&flat);
        assert!((1.12..=1.1501).contains(&gained), "gain {gained}");
        // With more room, at least most of what the average took (1/sqrt(2)) comes back.
        let kept = keep_strokes(&flat, &fresh, 3.0);
        let gained = strength(&kept) / strength(&flat);
        assert!(gained > 1.3, "gain {gained}");
        // Off, or where nothing was flattened: unchanged.
        assert_eq!(keep_strokes(&flat, &fresh, 1.0), flat);
        let same = keep_strokes(&fresh, &fresh, 1.15);
        for (a, b) in same
            .tensor()
            .as_slice()
            .iter()
            .zip(fresh.tensor().as_slice())
        {
            assert!((a - b).abs() < 1e-5);
        }
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
