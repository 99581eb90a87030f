//! Images between Python and restyle: what the Python half hands over (a path, an encoded
//! file, raw pixels) into restyle's `Image`, and pictures back as RGB bytes.

use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use restyle::{io, Image};

/// An image as the Python half hands it over: a path (`str`), an encoded
/// file in memory (`bytes`: PIL images arrive as PNG, so that grey, alpha and
/// 16-bit are read exactly as the command line reads files), or raw pixels
/// `(height, width, channels, "u8" | "u16" | "f32", little-endian bytes)`
/// from a numpy array.
pub fn load_source(source: &Bound<'_, PyAny>, role: &str) -> PyResult<Image> {
    let limits = io::ImageLimits::default();
    let context = |e: io::ImageFileError| {
        let message = format!("cannot use the {role} image: {e}");
        match &e {
            io::ImageFileError::Open { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                PyFileNotFoundError::new_err(message)
            }
            _ => PyOSError::new_err(message),
        }
    };
    if let Ok(bytes) = source.cast::<PyBytes>() {
        let name = PathBuf::from(format!("<{role} image>"));
        return io::decode_image(bytes.as_bytes(), &name, limits).map_err(context);
    }
    if let Ok(tuple) = source.cast::<PyTuple>() {
        let (height, width, channels, kind, data): (usize, usize, usize, String, Vec<u8>) =
            tuple.extract()?;
        return from_pixels(height, width, channels, &kind, &data, role, limits);
    }
    let path: PathBuf = source.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "the {role} image must be a path, a PIL image or a numpy array, not {}",
            source
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    })?;
    io::load_image(&path, limits).map_err(context)
}

/// An image from a numpy array's pixels: grey, grey and alpha, RGB or RGBA,
/// as `u8`, `u16` or `f32` (0..1). Integer pixels become the image a decoder
/// would have made of the same pixels in a file, so they are converted (grey
/// to RGB, alpha over white) exactly as the command line converts files.
fn from_pixels(
    height: usize,
    width: usize,
    channels: usize,
    kind: &str,
    data: &[u8],
    role: &str,
    limits: io::ImageLimits,
) -> PyResult<Image> {
    use image::{DynamicImage as D, ImageBuffer};

    if width == 0 || height == 0 {
        return Err(PyValueError::new_err(format!(
            "the {role} image has no pixels ({width}x{height})"
        )));
    }
    if width.max(height) > limits.max_side as usize || (width * height) as u64 > limits.max_pixels {
        return Err(PyValueError::new_err(format!(
            "the {role} image is {width}x{height} pixels, larger than restyle accepts ({} a side, {} megapixels)",
            limits.max_side,
            limits.max_pixels / 1_000_000
        )));
    }
    let bytes_per_value = match kind {
        "u8" => 1,
        "u16" => 2,
        "f32" => 4,
        _ => {
            return Err(PyValueError::new_err(format!(
                "unknown pixel type {kind:?}"
            )))
        }
    };
    if !(1..=4).contains(&channels) || data.len() != height * width * channels * bytes_per_value {
        return Err(PyValueError::new_err(format!(
            "the {role} image's pixels do not match its shape"
        )));
    }
    let (w, h) = (width as u32, height as u32);
    let u16s = || -> Vec<u16> {
        data.chunks_exact(2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .collect()
    };
    let dynamic = match (kind, channels) {
        ("u8", 1) => ImageBuffer::from_raw(w, h, data.to_vec()).map(D::ImageLuma8),
        ("u8", 2) => ImageBuffer::from_raw(w, h, data.to_vec()).map(D::ImageLumaA8),
        ("u8", 3) => ImageBuffer::from_raw(w, h, data.to_vec()).map(D::ImageRgb8),
        ("u8", _) => ImageBuffer::from_raw(w, h, data.to_vec()).map(D::ImageRgba8),
        ("u16", 1) => ImageBuffer::from_raw(w, h, u16s()).map(D::ImageLuma16),
        ("u16", 2) => ImageBuffer::from_raw(w, h, u16s()).map(D::ImageLumaA16),
        ("u16", 3) => ImageBuffer::from_raw(w, h, u16s()).map(D::ImageRgb16),
        ("u16", _) => ImageBuffer::from_raw(w, h, u16s()).map(D::ImageRgba16),
        _ => {
            // Floats: there is no grey float image, so grey becomes RGB here.
            let values: Vec<f32> = data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let mut rgba = Vec::with_capacity(width * height * 4);
            for p in values.chunks_exact(channels) {
                let (rgb, alpha) = match *p {
                    [g] => ([g; 3], 1.0),
                    [g, a] => ([g; 3], a),
                    [r, g, b] => ([r, g, b], 1.0),
                    [r, g, b, a] => ([r, g, b], a),
                    _ => unreachable!("1 to 4 channels"),
                };
                rgba.extend_from_slice(&rgb);
                rgba.push(alpha);
            }
            ImageBuffer::from_raw(w, h, rgba).map(D::ImageRgba32F)
        }
    };
    let dynamic = dynamic.expect("the buffer holds width x height pixels");
    Ok(Image::from_dynamic(&dynamic))
}

/// A picture handed back to Python: `(width, height, RGB bytes)`.
pub fn to_py_image<'py>(py: Python<'py>, image: &Image) -> Bound<'py, PyTuple> {
    let rgb = image.to_rgb8();
    let bytes = PyBytes::new(py, rgb.as_raw());
    (image.width(), image.height(), bytes)
        .into_pyobject(py)
        .expect("integers and bytes always convert")
}
