//! Uploaded images: their size read from the header before any pixel is
//! decoded, then decoded within a memory budget, turned upright (EXIF
//! orientation) and re-encoded from the pixels, so that no metadata (EXIF,
//! GPS, comments, ICC profiles) is kept.
//!
//! A JPEG much larger than its job paints is decoded already shrunk, by the
//! decoder's DCT scaling (1/2, 1/4 or 1/8, see [`Header::shrunk`]): a
//! 30-megapixel photo for a 512 px picture is decoded at 750x625, never whole,
//! stored at that size, and counted at it in the job's memory estimate.

use std::io::Cursor;
use std::path::PathBuf;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};
use restyle::io::ImageFileError;

use crate::error::ApiError;
use crate::limits::Limits;

/// JPEG uploads are stored as JPEG again, at this quality: close to the
/// original, a fraction of a PNG's size.
const JPEG_QUALITY: u8 = 92;

/// What an upload's header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Width and height once turned upright.
    pub width: usize,
    pub height: usize,
    format: ImageFormat,
    /// Bytes a decoded pixel takes (8 for 16-bit RGBA).
    bytes_per_pixel: u8,
    /// Whether the picture is stored turned a quarter (its width is its file's height).
    turned: bool,
    /// A baseline JPEG of 8-bit grey or colour: one the decoder can shrink.
    shrinkable: bool,
    /// The DCT scale it is decoded at, in eighths (8: whole).
    eighths: u8,
    /// A PNG that is not interlaced: one that can be read row by row, and shrunk as read.
    png_rows: bool,
    /// The blocks of pixels a PNG is averaged in, a side (1: whole).
    png_block: u8,
}

/// The shortest side a shrunk upload keeps: the fast network reads a painting's style
/// from a 256-pixel square of it, and checks below this size see the same as unshrunk.
pub const MIN_SHRUNK_SIDE: usize = 256;

impl Header {
    /// The header of the picture as decoded for a job that needs `long_edge` pixels of
    /// it (its long edge at least that, its short one at least [`MIN_SHRUNK_SIDE`]): a
    /// baseline JPEG at the smallest of the decoder's scales (1/8, 1/4, 1/2) that
    /// keeps that many; anything else whole.
    pub fn shrunk(self, long_edge: usize) -> Header {
        if self.png_rows && self.png_block == 1 {
            // The largest block that keeps as many pixels.
            for block in (2u8..=8).rev() {
                let (w, h) = (
                    self.width.div_ceil(usize::from(block)),
                    self.height.div_ceil(usize::from(block)),
                );
                if w.max(h) >= long_edge && w.min(h) >= MIN_SHRUNK_SIDE {
                    return Header {
                        width: w,
                        height: h,
                        png_block: block,
                        ..self
                    };
                }
            }
            return self;
        }
        if !self.shrinkable || self.eighths != 8 {
            return self;
        }
        for eighths in [1u8, 2, 4] {
            let (w, h) = (scaled(self.width, eighths), scaled(self.height, eighths));
            if w.max(h) >= long_edge && w.min(h) >= MIN_SHRUNK_SIDE {
                return Header {
                    width: w,
                    height: h,
                    eighths,
                    ..self
                };
            }
        }
        self
    }
}

/// A side of `length` pixels decoded at `eighths`/8, as the JPEG decoder rounds it (up).
fn scaled(length: usize, eighths: u8) -> usize {
    (length * usize::from(eighths)).div_ceil(8)
}

/// Whether `bytes` is a JPEG the decoder can decode shrunk: baseline (a progressive
/// one keeps every coefficient of the whole picture anyway), 8-bit grey or colour.
fn shrinkable_jpeg(bytes: &[u8]) -> bool {
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    if decoder.read_info().is_err() {
        return false;
    }
    decoder.info().is_some_and(|info| {
        info.coding_process == jpeg_decoder::CodingProcess::DctSequential
            && matches!(
                info.pixel_format,
                jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::RGB24
            )
    })
}

/// Names the upload in messages, as the library's errors do with a path.
fn name(role: &str) -> PathBuf {
    PathBuf::from(format!("the {role} image"))
}

fn unsupported(role: &str, detail: impl ToString) -> ApiError {
    ApiError::UnsupportedImage(
        ImageFileError::Format {
            path: name(role),
            detail: detail.to_string(),
        }
        .to_string(),
    )
}

fn corrupt(role: &str, detail: impl ToString) -> ApiError {
    ApiError::Unprocessable(
        ImageFileError::Corrupt {
            path: name(role),
            detail: detail.to_string(),
        }
        .to_string(),
    )
}

fn decoder<'a>(
    bytes: &'a [u8],
    role: &str,
) -> Result<(ImageFormat, impl ImageDecoder + 'a), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::BadRequest(format!("the {role} file is empty")));
    }
    // The type comes from the contents, never from the name or the
    // declared content type.
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| corrupt(role, e))?;
    let format = reader
        .format()
        .ok_or_else(|| unsupported(role, "unrecognised file contents"))?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err(unsupported(
            role,
            format!("{format:?} files are not accepted"),
        ));
    }
    let decoder = reader.into_decoder().map_err(|e| match e {
        image::ImageError::Unsupported(u) => unsupported(role, u),
        other => corrupt(role, other),
    })?;
    Ok((format, decoder))
}

/// Reads the header only: the type, the size and the orientation. Images
/// larger than `limits` allow are refused here, before any decoding.
pub fn header(bytes: &[u8], role: &str, limits: &Limits) -> Result<Header, ApiError> {
    let (format, mut decoder) = decoder(bytes, role)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(ApiError::Unprocessable(format!(
            "the {role} image has no pixels ({w}x{h})"
        )));
    }
    let pixels = w as u64 * h as u64;
    if pixels > limits.max_pixels || w.max(h) > MAX_SIDE {
        return Err(ApiError::TooLarge(format!(
            "the {role} image is {w}x{h} pixels ({:.1} megapixels); this server accepts at most {:.1} megapixels and {MAX_SIDE} pixels a side",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    let bytes_per_pixel = decoder.color_type().bytes_per_pixel();
    let peak = decode_peak(pixels, bytes_per_pixel);
    let allowed = decode_budget(limits.max_pixels);
    if peak > allowed {
        return Err(ApiError::TooLarge(format!(
            "the {role} image is {w}x{h} pixels at {} bits a channel: decoding it needs {} MB, and this server decodes at most {} MB an image (send it with 8 bits a channel, or smaller)",
            decoder.color_type().bits_per_pixel() / u16::from(decoder.color_type().channel_count()),
            peak >> 20,
            allowed >> 20
        )));
    }
    let orientation = decoder.orientation().map_err(|e| corrupt(role, e))?;
    let turned = matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    );
    let (width, height) = if turned { (h, w) } else { (w, h) };
    Ok(Header {
        width: width as usize,
        height: height as usize,
        format,
        bytes_per_pixel,
        turned,
        shrinkable: format == ImageFormat::Jpeg && shrinkable_jpeg(bytes),
        eighths: 8,
        // IHDR's interlace method, after the signature and the chunk's length and name.
        png_rows: format == ImageFormat::Png && bytes.get(28) == Some(&0),
        png_block: 1,
    })
}

/// Whether a JPEG's last scan is followed by its end-of-image marker: a
/// file cut off in transit, or made to declare a large picture in a few
/// bytes, is not.
fn jpeg_is_whole(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let end = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_scan, end), (Some(scan), Some(end)) if end > scan)
}

/// The longest side accepted (the library's own limit).
const MAX_SIDE: u32 = 16_384;

/// Bytes decoding an image of `pixels` may allocate: the decoded buffer at
/// up to 16 bits per channel with alpha, and the decoder's own state.
pub fn decode_budget(pixels: u64) -> u64 {
    pixels.saturating_mul(8).saturating_add(16 << 20)
}

/// Bytes cleaning an image of `pixels` at `bytes_per_pixel` peaks at: the
/// decoded pixels, and for more than 8 bits a channel their 8-bit copy
/// (made before anything else, the wide pixels dropped), and the decoder's
/// own state.
pub fn decode_peak(pixels: u64, bytes_per_pixel: u8) -> u64 {
    let wide = if bytes_per_pixel > 4 { 4 } else { 0 };
    pixels
        .saturating_mul(u64::from(bytes_per_pixel) + wide)
        .saturating_add(16 << 20)
}

/// Decodes an upload whose [`header`] was accepted (allocating at most
/// [`decode_budget`]), turns it upright and re-encodes it from its pixels:
/// JPEG stays JPEG, anything else becomes PNG. No metadata survives.
pub fn clean(bytes: &[u8], header: Header, role: &str) -> Result<Vec<u8>, ApiError> {
    if header.format == ImageFormat::Jpeg && !jpeg_is_whole(bytes) {
        // The JPEG decoder fills a cut-off picture with grey and succeeds.
        return Err(corrupt(role, "the file is cut off (no end of image)"));
    }
    let (_, mut decoder) = decoder(bytes, role)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(decode_budget(header.width as u64 * header.height as u64));
    decoder.set_limits(limits).map_err(|e| corrupt(role, e))?;
    let orientation = decoder.orientation().map_err(|e| corrupt(role, e))?;
    let mut image = if header.eighths < 8 {
        decode_shrunk(bytes, header, role)?
    } else if header.png_block > 1 {
        decode_png_shrunk(bytes, header, role)?
    } else {
        DynamicImage::from_decoder(decoder).map_err(|e| match e {
            image::ImageError::Limits(l) => {
                corrupt(role, format!("it exceeds the decoding memory budget ({l})"))
            }
            other => corrupt(role, other),
        })?
    };
    // Stored with 8 bits a channel: the encoder would copy 16-bit pixels
    // whole, and the painting reads 8 bits anyway.
    if header.bytes_per_pixel > 4 {
        image = if image.color().has_alpha() {
            DynamicImage::ImageRgba8(image.into_rgba8())
        } else {
            DynamicImage::ImageRgb8(image.into_rgb8())
        };
    }
    image.apply_orientation(orientation);
    let mut out = Vec::new();
    let encoded = match (header.format, &image) {
        (ImageFormat::Jpeg, DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_)) => {
            image.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        (ImageFormat::Jpeg, _) => image
            .to_rgb8()
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        _ => image.write_with_encoder(PngEncoder::new(&mut out)),
    };
    encoded.map_err(|e| ApiError::Internal(format!("cannot re-encode the {role} image: {e}")))?;
    Ok(out)
}

/// Decodes a JPEG at the scale its (shrunk) `header` says, before it is turned upright.
fn decode_shrunk(bytes: &[u8], header: Header, role: &str) -> Result<DynamicImage, ApiError> {
    let (width, height) = if header.turned {
        (header.height, header.width)
    } else {
        (header.width, header.height)
    };
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    let small = |side: usize| u16::try_from(side).map_err(|_| corrupt(role, "too large"));
    let got = decoder
        .scale(small(width)?, small(height)?)
        .map_err(|e| corrupt(role, e))?;
    if (usize::from(got.0), usize::from(got.1)) != (width, height) {
        return Err(ApiError::Internal(format!(
            "the {role} image decodes shrunk to {}x{}, not {width}x{height}",
            got.0, got.1
        )));
    }
    decoder.set_max_decoding_buffer_size(decode_budget(width as u64 * height as u64) as usize);
    let pixels = decoder.decode().map_err(|e| corrupt(role, e))?;
    let info = decoder.info().ok_or_else(|| corrupt(role, "no picture"))?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let image = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => {
            image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8)
        }
        jpeg_decoder::PixelFormat::RGB24 => {
            image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8)
        }
        _ => None,
    };
    image.ok_or_else(|| corrupt(role, "the decoder's pixels do not match its size"))
}

/// Decodes a PNG that is not interlaced averaged in blocks of `header.png_block` pixels a
/// side, row by row: only a row of the file and a row of sums are held besides the result.
fn decode_png_shrunk(bytes: &[u8], header: Header, role: &str) -> Result<DynamicImage, ApiError> {
    let block = usize::from(header.png_block);
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    // 8 bits a channel, palettes and grey below 8 bits expanded.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| corrupt(role, e))?;
    let (color, _) = reader.output_color_type();
    let channels = color.samples();
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    if reader.info().interlaced {
        return Err(ApiError::Internal(format!(
            "the {role} image is interlaced: it cannot be read shrunk"
        )));
    }
    let (out_w, out_h) = (width.div_ceil(block), height.div_ceil(block));
    let mut sums = vec![0u32; out_w * channels];
    let mut pixels = Vec::with_capacity(out_w * out_h * channels);
    let mut rows = 0;
    let flush = |sums: &mut Vec<u32>, rows: usize, pixels: &mut Vec<u8>| {
        for x in 0..out_w {
            let n = ((width - x * block).min(block) * rows) as u32;
            for c in 0..channels {
                pixels.push(((sums[x * channels + c] + n / 2) / n) as u8);
            }
        }
        sums.fill(0);
    };
    while let Some(row) = reader.next_row().map_err(|e| corrupt(role, e))? {
        let data = row.data();
        if data.len() < width * channels {
            return Err(corrupt(role, "a row is shorter than the picture"));
        }
        for (x, pixel) in data.chunks_exact(channels).take(width).enumerate() {
            let sum = &mut sums[(x / block) * channels..][..channels];
            for (s, v) in sum.iter_mut().zip(pixel) {
                *s += u32::from(*v);
            }
        }
        rows += 1;
        if rows == block {
            flush(&mut sums, rows, &mut pixels);
            rows = 0;
        }
    }
    if rows > 0 {
        flush(&mut sums, rows, &mut pixels);
    }
    let (w, h) = (out_w as u32, out_h as u32);
    let image = match channels {
        1 => image::GrayImage::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        2 => image::GrayAlphaImage::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        3 => image::RgbImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
        4 => image::RgbaImage::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        _ => None,
    };
    image.ok_or_else(|| corrupt(role, "the file is cut off (fewer rows than it declares)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_png_is_read_shrunk_in_blocks_averaged() {
        let limits = Limits::default();
        let pattern = image::RgbImage::from_fn(2000, 1500, |x, y| {
            image::Rgb([
                (x % 251) as u8,
                (y % 241) as u8,
                ((x * 7 + y * 13) % 256) as u8,
            ])
        });
        let mut big = Vec::new();
        DynamicImage::ImageRgb8(pattern)
            .write_with_encoder(PngEncoder::new(&mut big))
            .unwrap();
        let h = header(&big, "content", &limits).unwrap().shrunk(300);
        // Blocks of 5: 400x300 keeps the long edge and 256 pixels a side; 6 would not.
        assert_eq!((h.width, h.height, h.png_block), (400, 300, 5));
        let stored = clean(&big, h, "content").unwrap();
        let small = image::load_from_memory(&stored).unwrap().to_rgb8();
        assert_eq!(small.dimensions(), (400, 300));
        let whole = image::load_from_memory(&big).unwrap().to_rgb8();
        // A block's average, from the whole picture.
        let (bx, by) = (123u32, 77u32);
        for c in 0..3 {
            let mut sum = 0u32;
            for y in by * 5..by * 5 + 5 {
                for x in bx * 5..bx * 5 + 5 {
                    sum += u32::from(whole.get_pixel(x, y)[c]);
                }
            }
            let expected = (sum + 12) / 25;
            assert_eq!(
                u32::from(small.get_pixel(bx, by)[c]),
                expected,
                "channel {c}"
            );
        }
        // Not needed smaller: whole.
        let h = header(&big, "content", &limits).unwrap().shrunk(1024);
        assert_eq!((h.width, h.height, h.png_block), (2000, 1500, 1));
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        DynamicImage::new_rgb8(w, h)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn the_header_is_read_without_decoding_and_checked() {
        let limits = Limits::default();
        let h = header(&png(30, 20), "content", &limits).unwrap();
        assert_eq!((h.width, h.height), (30, 20));
        let tiny = Limits {
            max_pixels: 500,
            ..limits
        };
        assert!(matches!(
            header(&png(30, 20), "content", &tiny),
            Err(ApiError::TooLarge(_))
        ));
        assert!(matches!(
            header(b"words", "content", &limits),
            Err(ApiError::UnsupportedImage(_))
        ));
        assert!(matches!(
            header(b"", "content", &limits),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn sixteen_bit_pictures_count_their_width() {
        let wide = image::ImageBuffer::<image::Rgba<u16>, _>::from_pixel(
            100,
            100,
            image::Rgba([1000, 2000, 3000, 65535]),
        );
        let mut out = Vec::new();
        DynamicImage::ImageRgba16(wide)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        // 100x100 at 8 bytes a pixel plus the 8-bit copy: 120 KB over the
        // decoder's 16 MB; a budget for 12 000 pixels allows 96 KB.
        let tight = Limits {
            max_pixels: 12_000,
            ..Limits::default()
        };
        assert!(matches!(
            header(&out, "style", &tight),
            Err(ApiError::TooLarge(m)) if m.contains("16 bits")
        ));
        let h = header(&out, "style", &Limits::default()).unwrap();
        let clean = clean(&out, h, "style").unwrap();
        let back = image::load_from_memory(&clean).unwrap();
        assert_eq!(back.color(), image::ColorType::Rgba8, "stored with 8 bits");
        let eight = header(&png(100, 100), "style", &tight);
        assert!(eight.is_ok(), "8 bits fit: {:?}", eight.err());
    }

    #[test]
    fn a_cut_off_jpeg_is_refused() {
        let mut out = Vec::new();
        DynamicImage::new_rgb8(64, 48)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        assert!(jpeg_is_whole(&out));
        let h = header(&out, "content", &Limits::default()).unwrap();
        assert!(clean(&out, h, "content").is_ok());
        let cut = &out[..out.len() - 10];
        assert!(matches!(
            clean(cut, h, "content"),
            Err(ApiError::Unprocessable(m)) if m.contains("cut off")
        ));
    }

    #[test]
    fn a_large_jpeg_is_decoded_shrunk_to_what_the_job_needs() {
        let mut out = Vec::new();
        DynamicImage::new_rgb8(3001, 2003)
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, 90))
            .unwrap();
        let whole = header(&out, "content", &Limits::default()).unwrap();
        assert_eq!((whole.width, whole.height), (3001, 2003));
        // 512 px: an eighth (376x251) keeps a short side below 256, a quarter does not.
        let shrunk = whole.shrunk(512);
        assert_eq!((shrunk.width, shrunk.height), (751, 501));
        let clean = clean(&out, shrunk, "content").unwrap();
        let back = image::load_from_memory(&clean).unwrap();
        assert_eq!((back.width(), back.height()), (751, 501));
        // As large as the picture: whole.
        assert_eq!(whole.shrunk(3001), whole);
        // A PNG is read in blocks instead (see the test below); one as large as the
        // picture needs is read whole.
        let png = header(&png(600, 600), "style", &Limits::default()).unwrap();
        assert_eq!(png.shrunk(600), png);
    }

    #[test]
    fn a_truncated_image_is_refused_when_decoded() {
        let bytes = png(64, 64);
        let cut = &bytes[..bytes.len() / 2];
        let h = header(cut, "style", &Limits::default()).unwrap();
        assert!(matches!(
            clean(cut, h, "style"),
            Err(ApiError::Unprocessable(_))
        ));
        let whole = clean(&bytes, h, "style").unwrap();
        assert!(whole.starts_with(b"\x89PNG"));
    }
}
