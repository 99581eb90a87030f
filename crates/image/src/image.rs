//! restyle's image: RGB, `f32` in 0..1, stored as a 3-channel tensor (the
//! layout the network reads).

use image::{imageops, DynamicImage, ImageBuffer, Rgb, Rgb32FImage};
use restyle_engine::Tensor;

/// An RGB image with values in 0..1 (values outside are kept until saved).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pixels: Tensor,
}

impl Image {
    /// A `width x height` image of one colour.
    pub fn filled(width: usize, height: usize, rgb: [f32; 3]) -> Self {
        let mut pixels = Tensor::zeros(3, height, width);
        for (c, v) in rgb.into_iter().enumerate() {
            pixels.plane_mut(c).fill(v);
        }
        Self { pixels }
    }

    /// Wraps a `3 x height x width` tensor.
    ///
    /// # Panics
    /// If the tensor does not have 3 channels.
    pub fn from_tensor(pixels: Tensor) -> Self {
        assert_eq!(pixels.channels(), 3, "an image has three channels");
        Self { pixels }
    }

    pub fn width(&self) -> usize {
        self.pixels.width()
    }

    pub fn height(&self) -> usize {
        self.pixels.height()
    }

    pub fn tensor(&self) -> &Tensor {
        &self.pixels
    }

    pub fn into_tensor(self) -> Tensor {
        self.pixels
    }

    /// Value of channel `c` (0 red, 1 green, 2 blue) at (x, y).
    pub fn get(&self, c: usize, x: usize, y: usize) -> f32 {
        self.pixels.get(c, y, x)
    }

    /// From any decoded image: grey becomes RGB, 16-bit is kept at full
    /// precision, and transparency is composited over white.
    pub fn from_dynamic(img: &DynamicImage) -> Self {
        let rgba = img.to_rgba32f();
        let (w, h) = (rgba.width() as usize, rgba.height() as usize);
        let mut pixels = Tensor::zeros(3, h, w);
        let plane = w * h;
        let data = pixels.as_mut_slice();
        for (i, p) in rgba.pixels().enumerate() {
            let alpha = p[3].clamp(0.0, 1.0);
            for c in 0..3 {
                data[c * plane + i] = p[c] * alpha + (1.0 - alpha);
            }
        }
        Self { pixels }
    }

    /// 8-bit RGB, values clamped to 0..1 and rounded (halves up).
    pub fn to_rgb8(&self) -> image::RgbImage {
        let (w, h) = (self.width(), self.height());
        let plane = w * h;
        let data = self.pixels.as_slice();
        let (red, green, blue) = (&data[..plane], &data[plane..2 * plane], &data[2 * plane..]);
        let mut out = vec![0u8; 3 * plane];
        for (((o, &r), &g), &b) in out.chunks_exact_mut(3).zip(red).zip(green).zip(blue) {
            o.copy_from_slice(&[to_byte(r), to_byte(g), to_byte(b)]);
        }
        ImageBuffer::from_raw(w as u32, h as u32, out).expect("three bytes a pixel")
    }

    fn to_rgb32f(&self) -> Rgb32FImage {
        let (w, h) = (self.width(), self.height());
        let plane = w * h;
        let data = self.pixels.as_slice();
        ImageBuffer::from_fn(w as u32, h as u32, |x, y| {
            let i = y as usize * w + x as usize;
            Rgb(std::array::from_fn(|c| data[c * plane + i]))
        })
    }

    fn from_rgb32f(img: &Rgb32FImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut pixels = Tensor::zeros(3, h, w);
        let plane = w * h;
        let data = pixels.as_mut_slice();
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                data[c * plane + i] = p[c];
            }
        }
        Self { pixels }
    }

    /// Resampled to exactly `width x height` (Lanczos when shrinking, which
    /// avoids aliasing; Catmull-Rom when enlarging).
    pub fn resized(&self, width: usize, height: usize) -> Self {
        if (width, height) == (self.width(), self.height()) {
            return self.clone();
        }
        let filter = if width < self.width() || height < self.height() {
            imageops::FilterType::Lanczos3
        } else {
            imageops::FilterType::CatmullRom
        };
        Self::from_rgb32f(&imageops::resize(
            &self.to_rgb32f(),
            width as u32,
            height as u32,
            filter,
        ))
    }

    /// Resampled so that the longer side is `long_edge`, keeping the aspect ratio.
    pub fn resized_to_long_edge(&self, long_edge: usize) -> Self {
        let (w, h) = fit_long_edge(self.width(), self.height(), long_edge);
        self.resized(w, h)
    }
}

/// `(width, height)` scaled so that the longer side is `long_edge`
/// (the shorter at least 1).
pub fn fit_long_edge(width: usize, height: usize, long_edge: usize) -> (usize, usize) {
    let scale = long_edge as f64 / width.max(height) as f64;
    let w = ((width as f64 * scale).round() as usize).max(1);
    let h = ((height as f64 * scale).round() as usize).max(1);
    (w, h)
}

/// `v` (0..1) as a byte, rounded as `f32::round` does (halves away from zero), without its
/// call to the C library on CPUs without a rounding instruction: the fraction of a value
/// under 2^23 is exact, so comparing it with a half decides the same way. (A clip's frames
/// are converted at 25 a second.)
#[inline]
fn to_byte(v: f32) -> u8 {
    let scaled = v.clamp(0.0, 1.0) * 255.0;
    let whole = scaled as u32;
    (whole + u32::from(scaled - whole as f32 >= 0.5)) as u8
}

#[cfg(test)]
mod tests {
    use super::to_byte;

    #[test]
    fn bytes_are_rounded_as_f32_round_does() {
        let reference = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        // Spread over every value from 0 to 1 (and a little past), and either side of each
        // halfway point between two bytes.
        let spread = (0..=0x3f90_0000u32).step_by(251).map(f32::from_bits);
        let halves = (0..255).flat_map(|k| {
            let half = (k as f32 + 0.5) / 255.0;
            [half.next_down(), half, half.next_up()]
        });
        for v in spread
            .chain(halves)
            .chain([-1.0, 2.0, f32::NAN, f32::INFINITY])
        {
            assert_eq!(to_byte(v), reference(v), "{v:e} ({:#x})", v.to_bits());
        }
    }
}
