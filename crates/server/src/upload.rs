//! Uploaded images: their size read from the header before any pixel is
//! decoded, then decoded within a memory budget, turned upright (EXIF
//! orientation) and re-encoded from the pixels, so that no metadata (EXIF,
//! GPS, comments, ICC profiles) is kept.

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
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(l) => {
            corrupt(role, format!("it exceeds the decoding memory budget ({l})"))
        }
        other => corrupt(role, other),
    })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
