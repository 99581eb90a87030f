//! Keeping the photo's colours (Gatys, Bethge, Hertzmann & Shechtman,
//! "Preserving Color in Neural Artistic Style Transfer", 2016).
//!
//! - [`ColorMode::None`]: the result takes the painting's colours (Gatys et
//!   al. 2015).
//! - [`ColorMode::Luminance`]: the transfer runs on luminance only. Content
//!   and style become grey (their Y channel in YIQ), the style's luminance is
//!   shifted and scaled to the content's mean and spread, and at the end the
//!   content's own I and Q (its colours) are put back under the new Y.
//! - [`ColorMode::Histogram`]: before the transfer, the style image's
//!   colours are mapped onto the content's: a linear map that gives the
//!   style's pixels the content's mean colour and colour covariance.

use std::fmt;
use std::str::FromStr;

use restyle_engine::Tensor;

use crate::image::Image;

/// Which of the photo's colours the result keeps (`--preserve-colors` on
/// the command line, `preserve_colors` in the server's API). It parses
/// ([`str::parse`]) from and displays as `none`, `luminance` and
/// `histogram`; with the `clap` and `serde` features, clap and serde take
/// the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum ColorMode {
    /// The result takes the painting's colours
    #[default]
    None,
    /// Transfer brightness only; the photo's colours are put back
    Luminance,
    /// Recolour the painting to the photo's colours before the transfer
    Histogram,
}

impl ColorMode {
    /// The name users know the mode by.
    pub fn name(self) -> &'static str {
        match self {
            ColorMode::None => "none",
            ColorMode::Luminance => "luminance",
            ColorMode::Histogram => "histogram",
        }
    }
}

impl fmt::Display for ColorMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A colour mode's name that is none of `none`, `luminance` and `histogram`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("preserve_colors must be none, luminance or histogram, not `{0}`")]
pub struct UnknownColorMode(pub String);

impl FromStr for ColorMode {
    type Err = UnknownColorMode;

    /// Exactly `none`, `luminance` or `histogram`.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [ColorMode::None, ColorMode::Luminance, ColorMode::Histogram]
            .into_iter()
            .find(|mode| mode.name() == name)
            .ok_or_else(|| UnknownColorMode(name.to_string()))
    }
}

/// RGB to YIQ (NTSC 1953), and back.
const RGB_TO_YIQ: [[f32; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [0.595_716, -0.274_453, -0.321_263],
    [0.211_456, -0.522_591, 0.311_135],
];

fn yiq_to_rgb_matrix() -> [[f32; 3]; 3] {
    invert3(RGB_TO_YIQ.map(|r| r.map(|v| v as f64))).map(|r| r.map(|v| v as f32))
}

/// Applies a 3x3 colour matrix (plus offset) to every pixel.
fn map_pixels(t: &Tensor, m: [[f32; 3]; 3], offset: [f32; 3]) -> Tensor {
    let (_, h, w) = t.shape();
    let n = h * w;
    let src = t.as_slice();
    let mut out = Tensor::zeros(3, h, w);
    let dst = out.as_mut_slice();
    for i in 0..n {
        let p = [src[i], src[n + i], src[2 * n + i]];
        for (c, row) in m.iter().enumerate() {
            dst[c * n + i] = row[0] * p[0] + row[1] * p[1] + row[2] * p[2] + offset[c];
        }
    }
    out
}

/// YIQ channels of an RGB image (Y in 0..1; I and Q centred on 0).
pub fn rgb_to_yiq(image: &Image) -> Tensor {
    map_pixels(image.tensor(), RGB_TO_YIQ, [0.0; 3])
}

/// The RGB image of YIQ channels.
pub fn yiq_to_rgb(yiq: &Tensor) -> Image {
    Image::from_tensor(map_pixels(yiq, yiq_to_rgb_matrix(), [0.0; 3]))
}

/// Mean and (population) standard deviation of a channel.
fn mean_std(v: &[f32]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The image's luminance as a grey RGB image.
pub fn luminance(image: &Image) -> Image {
    let y = rgb_to_yiq(image).plane(0).to_vec();
    grey(&y, image.width(), image.height())
}

fn grey(y: &[f32], width: usize, height: usize) -> Image {
    let mut t = Tensor::zeros(3, height, width);
    for c in 0..3 {
        t.plane_mut(c).copy_from_slice(y);
    }
    Image::from_tensor(t)
}

/// The style's luminance, shifted and scaled to the content's mean and
/// standard deviation, as a grey image.
pub fn matched_luminance(style: &Image, content: &Image) -> Image {
    let (mc, sc) = mean_std(rgb_to_yiq(content).plane(0));
    let ys = rgb_to_yiq(style);
    let (ms, ss) = mean_std(ys.plane(0));
    let scale = if ss > 1e-12 { sc / ss } else { 1.0 };
    let y: Vec<f32> = ys
        .plane(0)
        .iter()
        .map(|&v| ((v as f64 - ms) * scale + mc) as f32)
        .collect();
    grey(&y, style.width(), style.height())
}

/// Puts the content's colours (its I and Q) under the luminance of `result`
/// (whose channels are averaged: a luminance-only run keeps them equal).
pub fn recombine(result: &Tensor, content: &Image) -> Image {
    let (_, h, w) = result.shape();
    assert_eq!(
        (content.width(), content.height()),
        (w, h),
        "recombining images of different sizes"
    );
    let mut yiq = rgb_to_yiq(content);
    let n = h * w;
    let r = result.as_slice();
    let y = yiq.plane_mut(0);
    for i in 0..n {
        y[i] = (r[i] + r[n + i] + r[2 * n + i]) / 3.0;
    }
    yiq_to_rgb(&yiq)
}

/// Per-channel mean and 3x3 covariance of an image's pixels.
fn color_statistics(t: &Tensor) -> ([f64; 3], [[f64; 3]; 3]) {
    let n = t.plane_len();
    let planes = [t.plane(0), t.plane(1), t.plane(2)];
    let mean = planes.map(|p| p.iter().map(|&v| v as f64).sum::<f64>() / n.max(1) as f64);
    let mut cov = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in i..3 {
            let c = planes[i]
                .iter()
                .zip(planes[j])
                .map(|(&a, &b)| (a as f64 - mean[i]) * (b as f64 - mean[j]))
                .sum::<f64>()
                / n.max(1) as f64;
            cov[i][j] = c;
            cov[j][i] = c;
        }
    }
    (mean, cov)
}

/// The style image with the content's colour statistics:
/// `x' = A (x - mu_s) + mu_c`, where `A = C_c^(1/2) C_s^(-1/2)` maps the
/// style's colour covariance onto the content's.
pub fn match_colors(style: &Image, content: &Image) -> Image {
    let (ms, cs) = color_statistics(style.tensor());
    let (mc, cc) = color_statistics(content.tensor());
    let a = matmul3(symmetric_power(cc, 0.5), symmetric_power(cs, -0.5));
    let af = a.map(|r| r.map(|v| v as f32));
    let offset: [f32; 3] =
        std::array::from_fn(|i| (mc[i] - (0..3).map(|j| a[i][j] * ms[j]).sum::<f64>()) as f32);
    Image::from_tensor(map_pixels(style.tensor(), af, offset))
}

// 3x3 symmetric matrix functions, written out: they are all this module
// needs, and a linear-algebra crate would be a large dependency for them.

fn matmul3(a: [[f64; 3]; 3], b: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let cof =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
    adj.map(|r| r.map(|v| v / det))
}

/// `M^p` for a symmetric positive semi-definite `M`, through its
/// eigendecomposition (cyclic Jacobi rotations); eigenvalues are floored at
/// a small positive value so flat images do not divide by zero.
fn symmetric_power(m: [[f64; 3]; 3], p: f64) -> [[f64; 3]; 3] {
    let mut a = m;
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..50 {
        let off = a[0][1].powi(2) + a[0][2].powi(2) + a[1][2].powi(2);
        if off < 1e-30 {
            break;
        }
        for (p_, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p_][q].abs() < 1e-300 {
                continue;
            }
            let theta = (a[q][q] - a[p_][p_]) / (2.0 * a[p_][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
            // a = J^T a J, v = v J for the rotation J in the (p, q) plane.
            for row in a.iter_mut() {
                let (akp, akq) = (row[p_], row[q]);
                row[p_] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (row_p, row_q) = (a[p_], a[q]);
            for k in 0..3 {
                a[p_][k] = c * row_p[k] - s * row_q[k];
                a[q][k] = s * row_p[k] + c * row_q[k];
            }
            for row in v.iter_mut() {
                let (vkp, vkq) = (row[p_], row[q]);
                row[p_] = c * vkp - s * vkq;
                row[q] = s * vkp + c * vkq;
            }
        }
    }
    let lambda = [a[0][0], a[1][1], a[2][2]].map(|l| l.max(1e-8).powf(p));
    std::array::from_fn(|i| {
        std::array::from_fn(|j| (0..3).map(|k| v[i][k] * lambda[k] * v[j][k]).sum())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_image(w: usize, h: usize, seed: u32) -> Image {
        let mut t = Tensor::zeros(3, h, w);
        for c in 0..3 {
            for (i, v) in t.plane_mut(c).iter_mut().enumerate() {
                let x = (i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed * 97 + c as u32 * 13);
                *v = ((x >> 8) % 1000) as f32 / 1000.0 * (0.3 + 0.2 * c as f32) + 0.1 * c as f32;
            }
        }
        Image::from_tensor(t)
    }

    #[test]
    fn yiq_round_trips() {
        let img = test_image(7, 5, 1);
        let back = yiq_to_rgb(&rgb_to_yiq(&img));
        for (a, b) in img.tensor().as_slice().iter().zip(back.tensor().as_slice()) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Grey has no chroma.
        let grey = Image::filled(2, 2, [0.4, 0.4, 0.4]);
        let yiq = rgb_to_yiq(&grey);
        assert!(
            (yiq.plane(0)[0] - 0.4).abs() < 1e-6
                && yiq.plane(1)[0].abs() < 1e-6
                && yiq.plane(2)[0].abs() < 1e-6
        );
    }

    #[test]
    fn recombining_keeps_the_content_colours_exactly() {
        let content = test_image(6, 4, 2);
        let result = luminance(&test_image(6, 4, 3));
        let out = rgb_to_yiq(&recombine(result.tensor(), &content));
        let original = rgb_to_yiq(&content);
        for c in 1..3 {
            for (a, b) in out.plane(c).iter().zip(original.plane(c)) {
                assert!((a - b).abs() < 1e-5);
            }
        }
        for (a, b) in out.plane(0).iter().zip(result.tensor().plane(0)) {
            assert!((a - b).abs() < 1e-5, "luminance comes from the result");
        }
    }

    #[test]
    fn matched_luminance_has_the_content_mean_and_spread() {
        let content = test_image(9, 8, 4);
        let style = test_image(5, 11, 5);
        let m = matched_luminance(&style, &content);
        let (mc, sc) = mean_std(rgb_to_yiq(&content).plane(0));
        let (mm, sm) = mean_std(m.tensor().plane(0));
        assert!((mc - mm).abs() < 1e-5 && (sc - sm).abs() < 1e-5);
    }

    #[test]
    fn matched_colors_have_the_content_mean_and_covariance() {
        let content = test_image(12, 10, 6);
        let style = test_image(9, 13, 7);
        let (mc, cc) = color_statistics(content.tensor());
        let (mm, cm) = color_statistics(match_colors(&style, &content).tensor());
        for i in 0..3 {
            assert!((mc[i] - mm[i]).abs() < 1e-5, "mean {i}");
            for j in 0..3 {
                assert!(
                    (cc[i][j] - cm[i][j]).abs() < 1e-5,
                    "covariance {i}{j}: {} vs {}",
                    cc[i][j],
                    cm[i][j]
                );
            }
        }
    }

    #[test]
    fn symmetric_power_inverts_and_takes_roots() {
        let m = [[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]];
        let root = symmetric_power(m, 0.5);
        let back = matmul3(root, root);
        let inv = matmul3(m, symmetric_power(m, -1.0));
        for i in 0..3 {
            for j in 0..3 {
                assert!((back[i][j] - m[i][j]).abs() < 1e-9);
                assert!((inv[i][j] - if i == j { 1.0 } else { 0.0 }).abs() < 1e-9);
            }
        }
    }

    const NAMES: [(ColorMode, &str); 3] = [
        (ColorMode::None, "none"),
        (ColorMode::Luminance, "luminance"),
        (ColorMode::Histogram, "histogram"),
    ];

    #[test]
    fn modes_parse_and_display_as_exactly_the_names_users_know() {
        for (mode, name) in NAMES {
            assert_eq!(name.parse::<ColorMode>(), Ok(mode));
            assert_eq!(mode.to_string(), name);
        }
        for wrong in ["", "None", "lum", "histogram ", "style"] {
            let err = wrong.parse::<ColorMode>().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("preserve_colors must be none, luminance or histogram, not `{wrong}`")
            );
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn modes_serialise_by_the_names_users_know() {
        for (mode, name) in NAMES {
            let json = format!("\"{name}\"");
            assert_eq!(serde_json::to_string(&mode).unwrap(), json);
            assert_eq!(serde_json::from_str::<ColorMode>(&json).unwrap(), mode);
        }
        assert!(serde_json::from_str::<ColorMode>("\"style\"").is_err());
    }

    #[cfg(feature = "clap")]
    #[test]
    fn modes_parse_by_the_names_users_know() {
        use clap::ValueEnum;
        for (mode, name) in NAMES {
            assert_eq!(<ColorMode as ValueEnum>::from_str(name, false), Ok(mode));
            assert_eq!(mode.to_possible_value().unwrap().get_name(), name);
        }
    }
}
