//! Dense optical flow for restyle's video: what carries each painted frame to the next.
//!
//! [`dis_flow`] is dense inverse search (Kroeger, Timofte, Dai and Van Gool, *Fast Optical Flow
//! using Dense Inverse Search*, ECCV 2016) as OpenCV's `DISOpticalFlow` presents it, written
//! from the paper and OpenCV's documentation: a coarse-to-fine pyramid; at each scale, 8x8
//! patches every 4 pixels matched by inverse-compositional gradient descent on mean-normalised
//! patches, good vectors spread to their neighbours (spatial propagation), the patches averaged
//! into a dense field weighted by how well each one explains a pixel, and a few iterations of
//! variational refinement (Brox-style data, gradient and smoothness terms) where the preset
//! has them.
//!
//! ## Accuracy and speed
//!
//! `bench/flow.py` (a camera panning, zooming and turning over `tubingen.jpg`, 640x360 frames,
//! flow known exactly; 8 pairs a move; OpenCV 5.1's DIS on the same grey frames, both on 2
//! threads, interleaved pair by pair). Mean end-point error in pixels over the pixels that
//! stay in the frame; ms a pair, the best of 11 (the median in brackets: the machine was
//! shared with other builds, so the times are for comparison only):
//!
//! | preset | slow move (2.7 px a frame) | fast move (13 px) | OpenCV, slow | OpenCV, fast |
//! |---|---|---|---|---|
//! | ultrafast | 0.341, 2.1 ms (2.7) | 0.492, 2.0 ms (2.9) | 0.360, 2.2 ms (2.8) | 0.526, 2.1 ms (3.0) |
//! | fast | 0.207, 4.6 ms (8.0) | 0.356, 4.6 ms (6.5) | 0.208, 4.4 ms (12.4) | 0.358, 5.5 ms (11.3) |
//! | medium | 0.138, 24.4 ms (59) | 0.164, 32.9 ms (68) | 0.128, 30.3 ms (61) | 0.163, 39.4 ms (76) |
//!
//! Medium works at half the frame's size (finest scale 1), fast and ultrafast at a quarter;
//! medium at full size (`finest_scale = 0`) halves the error (0.072 and 0.091) for 4-7x the
//! time, and medium's iterations at a quarter (`finest_scale = 2`) match fast (0.208, 0.338).
//!
//! Around it, what temporal consistency needs: [`warp`] (backward warping of planar images),
//! [`reliability`] (Sundaram et al.'s forward-backward, motion-boundary and frame checks, as
//! Ruder et al. 2016 use them), [`smoothed`], and [`warping_error`], Lai et al. 2018's measure
//! of flicker.
//!
//! ```
//! use restyle_flow::{dis_flow, warp, reliability, DisParams, Gray, Preset};
//!
//! // Two 64x48 frames: a smooth pattern, and the same moved 1.5 pixels to the right.
//! let (w, h) = (64, 48);
//! let frame = |shift: f32| {
//!     let data = (0..w * h)
//!         .map(|i| {
//!             let (x, y) = ((i % w) as f32 - shift, (i / w) as f32);
//!             0.5 + 0.25 * (x * 0.3).sin() * (y * 0.2).cos() + 0.2 * (0.11 * x + 0.07 * y).sin()
//!         })
//!         .collect();
//!     Gray::new(w, h, data)
//! };
//! let (a, b) = (frame(0.0), frame(1.5));
//! let params = DisParams::preset(Preset::Medium);
//! let forward = dis_flow(&a, &b, &params);
//! let backward = dis_flow(&b, &a, &params);
//! let centre = 24 * w + 32;
//! assert!((forward.u[centre] - 1.5).abs() < 0.2 && forward.v[centre].abs() < 0.2);
//!
//! // Frame b warped back onto a, and where that can be trusted.
//! let (back, inside) = warp(&b.data, 1, &forward);
//! let mask = reliability(&forward, &backward);
//! assert!(inside[centre] && mask[centre] == 1.0);
//! assert!((back[centre] - a.data[centre]).abs() < 0.02);
//! ```

mod dis;
mod gradients;
mod simd;
mod variational;

pub use dis::dis_flow;

/// A grey frame, values 0..1, row-major.
#[derive(Clone, Debug)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Gray {
    /// # Panics
    /// If `data` does not hold `width * height` values.
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Gray {
        assert_eq!(
            data.len(),
            pixels(width, height),
            "Gray::new: {width}x{height} needs {} values, got {}",
            pixels(width, height),
            data.len()
        );
        Gray {
            width,
            height,
            data,
        }
    }

    /// Rec. 601 luma of planar RGB (3 planes of width*height, 0..1).
    ///
    /// # Panics
    /// If `rgb` does not hold `3 * width * height` values.
    pub fn from_planar_rgb(width: usize, height: usize, rgb: &[f32]) -> Gray {
        let n = pixels(width, height);
        assert_eq!(
            rgb.len(),
            3 * n,
            "Gray::from_planar_rgb: {width}x{height} needs {} values, got {}",
            3 * n,
            rgb.len()
        );
        let (r, rest) = rgb.split_at(n);
        let (g, b) = rest.split_at(n);
        let data = r
            .iter()
            .zip(g)
            .zip(b)
            .map(|((r, g), b)| 0.299 * r + 0.587 * g + 0.114 * b)
            .collect();
        Gray {
            width,
            height,
            data,
        }
    }

    /// Same from interleaved 8-bit RGB (what ffmpeg's rgb24 pipe gives).
    ///
    /// # Panics
    /// If `rgb` does not hold `3 * width * height` bytes.
    pub fn from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Gray {
        let n = pixels(width, height);
        assert_eq!(
            rgb.len(),
            3 * n,
            "Gray::from_rgb8: {width}x{height} needs {} bytes, got {}",
            3 * n,
            rgb.len()
        );
        let data = rgb
            .chunks_exact(3)
            .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
            .collect();
        Gray {
            width,
            height,
            data,
        }
    }
}

/// `width * height`, refusing sizes whose product overflows (a programmer's error).
fn pixels(width: usize, height: usize) -> usize {
    width
        .checked_mul(height)
        .unwrap_or_else(|| panic!("{width}x{height} pixels overflow"))
}

/// Flow from frame A to frame B: the pixel (x, y) of A is seen at (x + u, y + v) in B.
#[derive(Clone, Debug)]
pub struct FlowField {
    pub width: usize,
    pub height: usize,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl FlowField {
    /// No motion anywhere.
    pub fn zeros(width: usize, height: usize) -> FlowField {
        let n = pixels(width, height);
        FlowField {
            width,
            height,
            u: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// The same motion on a frame of `width x height` (bilinear; vectors scaled with the
    /// frame, so a flow computed on smaller frames can carry the full-size ones). An empty
    /// field gives zeros.
    ///
    /// # Panics
    /// If the field's vectors do not match its size.
    pub fn resized(&self, width: usize, height: usize) -> FlowField {
        self.check("FlowField::resized");
        if self.u.is_empty() {
            return FlowField::zeros(width, height);
        }
        let sx = width as f32 / self.width as f32;
        let sy = height as f32 / self.height as f32;
        dis::resample(
            &self.u,
            &self.v,
            (self.width, self.height),
            (width, height),
            (sx, sy),
        )
    }

    /// The mean end-point error against `truth` (the mean Euclidean distance between the two
    /// vectors at each pixel).
    ///
    /// # Panics
    /// If the two fields differ in size.
    pub fn mean_epe(&self, truth: &FlowField) -> f64 {
        self.check("FlowField::mean_epe");
        truth.check("FlowField::mean_epe");
        assert!(
            self.width == truth.width && self.height == truth.height,
            "FlowField::mean_epe: {}x{} against {}x{}",
            self.width,
            self.height,
            truth.width,
            truth.height
        );
        if self.u.is_empty() {
            return 0.0;
        }
        let sum: f64 = (0..self.u.len())
            .map(|i| {
                let (du, dv) = (self.u[i] - truth.u[i], self.v[i] - truth.v[i]);
                ((du * du + dv * dv) as f64).sqrt()
            })
            .sum();
        sum / self.u.len() as f64
    }

    fn check(&self, what: &str) {
        let n = pixels(self.width, self.height);
        assert!(
            self.u.len() == n && self.v.len() == n,
            "{what}: a {}x{} flow needs {n} values in u and v, got {} and {}",
            self.width,
            self.height,
            self.u.len(),
            self.v.len()
        );
    }
}

/// The presets of OpenCV's DISOpticalFlow (same names, same parameters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    UltraFast,
    Fast,
    Medium,
}

impl std::str::FromStr for Preset {
    type Err = String;

    /// `ultrafast`, `fast` or `medium`.
    fn from_str(word: &str) -> Result<Self, String> {
        match word {
            "ultrafast" => Ok(Preset::UltraFast),
            "fast" => Ok(Preset::Fast),
            "medium" => Ok(Preset::Medium),
            other => Err(format!(
                "flow must be ultrafast, fast or medium, not `{other}`"
            )),
        }
    }
}

/// Dense inverse search's settings; [`DisParams::preset`] gives OpenCV's.
#[derive(Clone, Debug)]
pub struct DisParams {
    /// Side of the square patches matched, in pixels (2 to 16).
    pub patch_size: usize,
    /// Distance between neighbouring patches (at least 1, at most the patch size: a larger
    /// one is taken as the patch size; the last patch of a row or column is moved to touch
    /// the frame's edge, so the whole frame is covered).
    pub patch_stride: usize,
    /// Gradient-descent iterations for each patch at each scale.
    pub gradient_descent_iterations: usize,
    /// The finest scale computed (0 = full size, 1 = half, 2 = quarter, ...); the flow is
    /// scaled up from it.
    pub finest_scale: usize,
    /// The coarsest scale; `None` picks it from the frame's width, floor(log2(2 width /
    /// (5 patch))): a 640-pixel-wide frame starts at 1/32 of its size (20 pixels wide).
    pub coarsest_scale: Option<usize>,
    /// Fixed-point iterations of variational refinement at each scale (0: none).
    pub refinement_iterations: usize,
    /// Refinement's smoothness weight.
    pub alpha: f32,
    /// Refinement's gradient-constancy weight.
    pub gamma: f32,
    /// Refinement's brightness-constancy weight.
    pub delta: f32,
    /// Compare patches after subtracting each one's mean (robust to brightness changes).
    pub mean_normalization: bool,
    /// Let each patch try its neighbours' vectors before descending.
    pub spatial_propagation: bool,
}

impl DisParams {
    pub fn preset(p: Preset) -> DisParams {
        let (iterations, finest, refinement) = match p {
            Preset::UltraFast => (12, 2, 0),
            Preset::Fast => (16, 2, 5),
            Preset::Medium => (25, 1, 5),
        };
        DisParams {
            patch_size: 8,
            patch_stride: 4,
            gradient_descent_iterations: iterations,
            finest_scale: finest,
            coarsest_scale: None,
            refinement_iterations: refinement,
            alpha: 20.0,
            gamma: 10.0,
            delta: 5.0,
            mean_normalization: true,
            spatial_propagation: true,
        }
    }
}

impl Default for DisParams {
    /// The medium preset.
    fn default() -> DisParams {
        DisParams::preset(Preset::Medium)
    }
}

/// Bilinear sample of a `w x h` plane at (x, y), clamped to the edge.
#[inline]
fn bilinear(plane: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
    let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// [`bilinear`] samples of two planes at the same point (the taps worked out once).
#[inline]
fn bilinear_pair(a: &[f32], b: &[f32], w: usize, h: usize, x: f32, y: f32) -> (f32, f32) {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x as usize, y as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let sample = |plane: &[f32]| {
        let top = plane[y0 * w + x0] * (1.0 - fx) + plane[y0 * w + x1] * fx;
        let bottom = plane[y1 * w + x0] * (1.0 - fx) + plane[y1 * w + x1] * fx;
        top * (1.0 - fy) + bottom * fy
    };
    (sample(a), sample(b))
}

/// Whether (x, y) lies within the frame's pixel centres.
#[inline]
fn inside(w: usize, h: usize, x: f32, y: f32) -> bool {
    x >= 0.0 && y >= 0.0 && x <= (w - 1) as f32 && y <= (h - 1) as f32
}

/// Backward warp of planar images (each plane width*height): out(x) = src(x + flow(x)), bilinear;
/// also returns for each pixel whether x + flow(x) fell inside the source frame.
///
/// Pixels whose source lies outside take the nearest edge's value.
///
/// # Panics
/// If `planes` does not hold `channels` planes of the flow's size, or the flow's own vectors
/// do not match its size.
pub fn warp(planes: &[f32], channels: usize, flow: &FlowField) -> (Vec<f32>, Vec<bool>) {
    use rayon::prelude::*;
    flow.check("warp");
    let (w, h) = (flow.width, flow.height);
    let n = w * h;
    assert_eq!(
        planes.len(),
        channels * n,
        "warp: {channels} planes of {w}x{h} need {} values, got {}",
        channels * n,
        planes.len()
    );
    let mut out = vec![0.0f32; channels * n];
    let mut valid = vec![false; n];
    if n == 0 {
        return (out, valid);
    }
    valid.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, ok) in row.iter_mut().enumerate() {
            let i = y * w + x;
            *ok = inside(w, h, x as f32 + flow.u[i], y as f32 + flow.v[i]);
        }
    });
    for c in 0..channels {
        let src = &planes[c * n..(c + 1) * n];
        out[c * n..(c + 1) * n]
            .par_chunks_mut(w)
            .enumerate()
            .for_each(|(y, row)| {
                for (x, o) in row.iter_mut().enumerate() {
                    let i = y * w + x;
                    *o = bilinear(src, w, h, x as f32 + flow.u[i], y as f32 + flow.v[i]);
                }
            });
    }
    (out, valid)
}

/// Reliability of `flow`'s pixels (1 reliable, 0 not) by Sundaram et al.'s checks as Ruder et
/// al. 2016 use them: a pixel is unreliable if
/// - the forward-backward check fails: `|w + ŵ|² >= 0.01 (|w|² + |ŵ|²) + 0.5`, where `w` is
///   `flow` at x and `ŵ` is `reverse` (the flow B -> A) sampled bilinearly at x + w;
/// - it lies on a motion boundary: `|∇u|² + |∇v|² > 0.01 |w|² + 0.002` (central differences
///   of `flow`);
/// - x + w leaves the frame.
///
/// # Panics
/// If the two fields differ in size or do not match their own sizes.
pub fn reliability(flow: &FlowField, reverse: &FlowField) -> Vec<f32> {
    use rayon::prelude::*;
    flow.check("reliability");
    reverse.check("reliability");
    assert!(
        flow.width == reverse.width && flow.height == reverse.height,
        "reliability: a {}x{} flow against a {}x{} reverse flow",
        flow.width,
        flow.height,
        reverse.width,
        reverse.height
    );
    let (w, h) = (flow.width, flow.height);
    let mut mask = vec![0.0f32; w * h];
    if mask.is_empty() {
        return mask;
    }
    // Central difference, one-sided at the edges (halved, as the central one is).
    let derivative = |f: &[f32], i: usize, before: Option<usize>, after: Option<usize>| {
        let a = before.map_or(f[i], |j| f[j]);
        let b = after.map_or(f[i], |j| f[j]);
        0.5 * (b - a)
    };
    mask.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, m) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let (u, v) = (flow.u[i], flow.v[i]);
            let (bx, by) = (x as f32 + u, y as f32 + v);
            if !inside(w, h, bx, by) {
                continue;
            }
            let (ru, rv) = bilinear_pair(&reverse.u, &reverse.v, w, h, bx, by);
            let (su, sv) = (u + ru, v + rv);
            let w2 = u * u + v * v;
            if su * su + sv * sv >= 0.01 * (w2 + ru * ru + rv * rv) + 0.5 {
                continue;
            }
            let left = (x > 0).then(|| i - 1);
            let right = (x + 1 < w).then(|| i + 1);
            let up = (y > 0).then(|| i - w);
            let down = (y + 1 < h).then(|| i + w);
            let ux = derivative(&flow.u, i, left, right);
            let uy = derivative(&flow.u, i, up, down);
            let vx = derivative(&flow.v, i, left, right);
            let vy = derivative(&flow.v, i, up, down);
            if ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * w2 + 0.002 {
                continue;
            }
            *m = 1.0;
        }
    });
    mask
}

/// `mask` smoothed by a Gaussian of standard deviation `sigma` pixels (Ruder et al. use 0.8),
/// truncated at 3 sigma, renormalised at the frame's edges. `sigma <= 0` copies the mask.
///
/// # Panics
/// If `mask` does not hold `width * height` values.
pub fn smoothed(mask: &[f32], width: usize, height: usize, sigma: f32) -> Vec<f32> {
    let n = pixels(width, height);
    assert_eq!(
        mask.len(),
        n,
        "smoothed: {width}x{height} needs {n} values, got {}",
        mask.len()
    );
    if sigma.is_nan() || sigma <= 0.0 || n == 0 {
        return mask.to_vec();
    }
    let radius = ((3.0 * sigma).ceil() as usize).min(width.max(height));
    let kernel: Vec<f32> = (0..=radius)
        .map(|d| (-((d * d) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    // Each position's sum of the kernel's weights that fall inside the line (the renormalisation
    // at the edges), once a line length rather than once a pixel.
    let weights = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|at| {
                let (lo, hi) = (at.saturating_sub(radius), (at + radius).min(len - 1));
                (lo..=hi)
                    .map(|j| kernel[at.abs_diff(j)])
                    .sum::<f32>()
                    .recip()
            })
            .collect()
    };
    let (across, down) = (weights(width), weights(height));
    // Along the rows, then down the columns a whole row at a time (so the second pass reads
    // memory in order too: it runs a frame's reliability every frame of a clip).
    let mut rows = vec![0.0f32; n];
    let edge = |line: &[f32], x: usize| -> f32 {
        let (lo, hi) = (x.saturating_sub(radius), (x + radius).min(width - 1));
        (lo..=hi)
            .map(|j| kernel[x.abs_diff(j)] * line[j])
            .sum::<f32>()
            * across[x]
    };
    for (line, out) in mask.chunks_exact(width).zip(rows.chunks_exact_mut(width)) {
        if width > 2 * radius {
            // Away from the ends, every tap is inside: the window's products are added as
            // whole shifted rows (in the same order as at the ends), which vectorises.
            let inner = &mut out[radius..width - radius];
            for j in 0..=2 * radius {
                let k = kernel[j.abs_diff(radius)];
                for (o, &v) in inner.iter_mut().zip(&line[j..]) {
                    *o += k * v;
                }
            }
            for (o, &scale) in inner.iter_mut().zip(&across[radius..]) {
                *o *= scale;
            }
            for x in (0..radius).chain(width - radius..width) {
                out[x] = edge(line, x);
            }
        } else {
            for (x, o) in out.iter_mut().enumerate() {
                *o = edge(line, x);
            }
        }
    }
    let mut out = vec![0.0f32; n];
    for (y, (line, &scale)) in out.chunks_exact_mut(width).zip(&down).enumerate() {
        let (lo, hi) = (y.saturating_sub(radius), (y + radius).min(height - 1));
        for j in lo..=hi {
            let k = kernel[y.abs_diff(j)] * scale;
            for (o, &r) in line.iter_mut().zip(&rows[j * width..(j + 1) * width]) {
                *o += k * r;
            }
        }
    }
    out
}

/// Lai et al. 2018's warping error of a frame pair: `frame` and `next` are output frames V_t
/// and V_{t+1} (planar RGB, 0..1), `forward` and `backward` the flows t -> t+1 and t+1 -> t of
/// the INPUT frames. V_{t+1} is warped back onto t with `forward`; the result is the mean
/// squared difference over the values of the pixels [`reliability`] marks reliable (the whole
/// frame if none is). A clip's value is the mean over its consecutive pairs.
///
/// # Panics
/// If the frames are not 3 planes of the flows' size, or the flows differ in size.
pub fn warping_error(
    frame: &[f32],
    next: &[f32],
    forward: &FlowField,
    backward: &FlowField,
) -> f64 {
    let mask = reliability(forward, backward);
    assert_eq!(
        frame.len(),
        3 * mask.len(),
        "warping_error: a {}x{} RGB frame needs {} values, got {}",
        forward.width,
        forward.height,
        3 * mask.len(),
        frame.len()
    );
    let (warped, _) = warp(next, 3, forward);
    let n = mask.len();
    if n == 0 {
        return 0.0;
    }
    let all = mask.iter().all(|&m| m == 0.0);
    let (mut sum, mut count) = (0.0f64, 0.0f64);
    for i in 0..n {
        let m = if all { 1.0 } else { mask[i] as f64 };
        if m == 0.0 {
            continue;
        }
        for c in 0..3 {
            let d = (frame[c * n + i] - warped[c * n + i]) as f64;
            sum += m * d * d;
        }
        count += 3.0 * m;
    }
    sum / count
}
