//! Reading and writing image files: PNG, JPEG (and WebP for reading), with
//! EXIF orientation respected and limits against decompression bombs.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageReader, Limits};

use crate::image::Image;

/// The largest images restyle will decode.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    /// Longest side, pixels.
    pub max_side: u32,
    /// Width x height.
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    /// 16384 pixels a side and 100 megapixels: far more than style transfer
    /// needs, far less than a decompression bomb claims.
    fn default() -> Self {
        Self {
            max_side: 16_384,
            max_pixels: 100_000_000,
        }
    }
}

/// Why an image file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot read {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an image restyle can read (PNG, JPEG or WebP): {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("{path} could not be decoded (truncated or corrupt?): {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path} is {width}x{height} pixels, larger than restyle accepts ({max_side} a side, {max_megapixels} megapixels)")]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
        max_side: u32,
        max_megapixels: u64,
    },
    #[error("{path} has no pixels ({width}x{height})")]
    Empty {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("cannot write {path}: {detail}")]
    Write { path: PathBuf, detail: String },
    #[error("cannot write {path}: unknown image type; use a .png, .jpg or .jpeg name")]
    UnknownOutputType { path: PathBuf },
}

/// Image file types restyle writes, chosen by the file name's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputType {
    Png,
    Jpeg,
}

impl OutputType {
    pub fn from_path(path: &Path) -> Result<Self, ImageFileError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("png") => Ok(OutputType::Png),
            Some("jpg" | "jpeg") => Ok(OutputType::Jpeg),
            _ => Err(ImageFileError::UnknownOutputType {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// An image file's width and height from its header, without decoding it,
/// checked against `limits` as [`load_image`] would.
pub fn image_dimensions(
    path: &Path,
    limits: ImageLimits,
) -> Result<(usize, usize), ImageFileError> {
    let file = fs::File::open(path).map_err(|source| ImageFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    // The format comes from the contents only, never from the file name.
    let reader = ImageReader::new(std::io::BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| ImageFileError::Corrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(ImageFileError::Format {
            path: path.to_path_buf(),
            detail: "unrecognised file contents".into(),
        });
    }
    let (width, height) = reader.into_dimensions().map_err(|e| classify(e, path))?;
    check_dimensions(path, width, height, limits)?;
    Ok((width as usize, height as usize))
}

fn check_dimensions(
    path: &Path,
    width: u32,
    height: u32,
    limits: ImageLimits,
) -> Result<(), ImageFileError> {
    if width == 0 || height == 0 {
        return Err(ImageFileError::Empty {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    if width.max(height) > limits.max_side || width as u64 * height as u64 > limits.max_pixels {
        return Err(ImageFileError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_side: limits.max_side,
            max_megapixels: limits.max_pixels / 1_000_000,
        });
    }
    Ok(())
}

/// Decodes an image file, turned upright per its EXIF orientation.
pub fn load_image(path: &Path, limits: ImageLimits) -> Result<Image, ImageFileError> {
    let bytes = fs::read(path).map_err(|source| ImageFileError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    decode_image(&bytes, path, limits)
}

/// Decodes an image held in memory; `path` names it in errors.
pub fn decode_image(
    bytes: &[u8],
    path: &Path,
    limits: ImageLimits,
) -> Result<Image, ImageFileError> {
    let err_path = || path.to_path_buf();
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageFileError::Corrupt {
            path: err_path(),
            detail: e.to_string(),
        })?;
    if reader.format().is_none() {
        return Err(ImageFileError::Format {
            path: err_path(),
            detail: "unrecognised file contents".into(),
        });
    }
    let mut decoder = reader.into_decoder().map_err(|e| classify(e, path))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(path, width, height, limits)?;
    let mut decoder_limits = Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_pixels * 16);
    decoder
        .set_limits(decoder_limits)
        .map_err(|e| classify(e, path))?;
    let orientation = decoder.orientation().map_err(|e| classify(e, path))?;
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| classify(e, path))?;
    img.apply_orientation(orientation);
    Ok(Image::from_dynamic(&img))
}

fn classify(e: ImageError, path: &Path) -> ImageFileError {
    let path = path.to_path_buf();
    match e {
        ImageError::Unsupported(u) => ImageFileError::Format {
            path,
            detail: u.to_string(),
        },
        ImageError::Limits(l) => ImageFileError::Corrupt {
            path,
            detail: format!("it exceeds decoding limits ({l})"),
        },
        other => ImageFileError::Corrupt {
            path,
            detail: other.to_string(),
        },
    }
}

/// Writes `image` as PNG or JPEG (by extension), atomically: the file appears
/// complete or not at all, so an interrupted run never leaves half an image.
pub fn save_image(image: &Image, path: &Path) -> Result<(), ImageFileError> {
    let kind = OutputType::from_path(path)?;
    let bytes = encode_image(image, kind).map_err(|detail| ImageFileError::Write {
        path: path.to_path_buf(),
        detail,
    })?;
    write_atomically(path, &bytes).map_err(|e| ImageFileError::Write {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The encoded bytes of `image`.
pub fn encode_image(image: &Image, kind: OutputType) -> Result<Vec<u8>, String> {
    let rgb = image.to_rgb8();
    let mut bytes = Vec::new();
    let result = match kind {
        OutputType::Png => PngEncoder::new(&mut bytes).write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        ),
        OutputType::Jpeg => JpegEncoder::new_with_quality(&mut bytes, 95).write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image::ExtendedColorType::Rgb8,
        ),
    };
    result.map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Writes to a temporary file beside `path`, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let result = (|| {
        let mut f = BufWriter::new(fs::File::create(&tmp)?);
        f.write_all(bytes)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
