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
    })
}

/// The longest side accepted (the library's own limit).
const MAX_SIDE: u32 = 16_384;

/// Bytes decoding an image of `pixels` may allocate: the decoded buffer at
/// up to 16 bits per channel with alpha, and the decoder's own state.
pub fn decode_budget(pixels: u64) -> u64 {
    pixels * 8 + (16 << 20)
}

/// Decodes an upload whose [`header`] was accepted (allocating at most
/// [`decode_budget`]), turns it upright and re-encodes it from its pixels:
/// JPEG stays JPEG, anything else becomes PNG. No metadata survives.
pub fn clean(bytes: &[u8], header: Header, role: &str) -> Result<Vec<u8>, ApiError> {
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
