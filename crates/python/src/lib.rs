//! `restyle._restyle`: the native half of the `restyle` Python package, a thin
//! layer over the `restyle` crate (settings in, pixels out). The Python half
//! (`python/restyle/__init__.py`) turns paths, PIL images and numpy arrays
//! into the image sources read here, and the pixels back into PIL images or
//! arrays; it is the API users call:
//!
//! ```python
//! import restyle
//! out = restyle.stylize("photo.jpg", "starry_night.jpg", size=256, iterations=100)
//! out.save("out.png")
//! ```
//!
//! Errors become Python exceptions with the command line's messages, in
//! keyword terms: `ValueError` for settings, `OSError` for files,
//! `MemoryError` for runs too large for the machine.

use std::path::PathBuf;

use pyo3::exceptions::{
    PyFileNotFoundError, PyMemoryError, PyOSError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use restyle::reconstruct::ReconstructSettings;
use restyle::reconstruct::{reconstruct as reconstruct_layers, reconstruction_grid};
use restyle::{
    io, memory, ColorMode, Error, Flow, Image, Init, Layer, Mask, MaskOf, Observer, OptimizerKind,
    OptimizerSettings, Progress, ScaleSchedule, Settings, SettingsError, StopRule, StyleImage,
    Tiling, Vgg19, VggWeights,
};
use restyle_fast::paint as fast;
use restyle_fast::{Error as FastError, FastStyle};

mod video;

/// The reconstructions' long edge when `size` is not given, as on the command
/// line (smaller than a transfer's: the grid holds many of them).
const RECONSTRUCT_DEFAULT_SIZE: i64 = 256;

/// A count that must be at least `min`: the command line's check and
/// message, naming the keyword.
fn positive(name: &str, value: i64, min: i64) -> PyResult<usize> {
    if value < min {
        return Err(PyValueError::new_err(format!(
            "{name} must be at least {min}, not {value}"
        )));
    }
    Ok(value as usize)
}

/// The library's errors as Python exceptions, in keyword terms where the
/// command line names a flag.
fn to_py(error: impl Into<Error>) -> PyErr {
    let error = error.into();
    match &error {
        Error::Image(_) | Error::Weights(_) => PyOSError::new_err(error.to_string()),
        Error::Settings(SettingsError::TooSmall { .. }) => PyValueError::new_err(format!(
            "{error} (raise size, or style_scale for style images)"
        )),
        Error::Settings(_) | Error::Layer(_) => PyValueError::new_err(error.to_string()),
        Error::Diverged { .. } => {
            PyRuntimeError::new_err(format!("{error}; try a smaller learning_rate"))
        }
    }
}

fn fast_to_py(error: FastError) -> PyErr {
    match error {
        FastError::Weights(_) => PyRuntimeError::new_err(error.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

/// The fast method's own settings, checked before any image is loaded (the
/// CLI's checks, in keyword terms).
fn check_fast_settings(strength: f32, blend: &[f32]) -> PyResult<()> {
    if !(0.0..=1.0).contains(&strength) {
        return Err(PyValueError::new_err(format!(
            "the strength must be between 0 and 1, not {strength}"
        )));
    }
    if blend.iter().any(|w| !(w.is_finite() && *w >= 0.0)) || blend.iter().sum::<f32>() <= 0.0 {
        return Err(PyValueError::new_err(
            "the style blend weights must be numbers >= 0 with a positive sum",
        ));
    }
    Ok(())
}

/// A style image the style network cannot read, named by its place in the list.
fn unusable_style(number: usize, error: FastError) -> PyErr {
    match error {
        FastError::StyleTooSmall { width, height, min } => PyValueError::new_err(format!(
            "style image {number} is {width}x{height}: the fast method needs at least {min}x{min} pixels"
        )),
        FastError::StyleFlat => PyValueError::new_err(format!(
            "style image {number} is one flat colour: it has no style to transfer"
        )),
        other => fast_to_py(other),
    }
}

/// An image as the Python half hands it over: a path (`str`), an encoded
/// file in memory (`bytes`: PIL images arrive as PNG, so that grey, alpha and
/// 16-bit are read exactly as the command line reads files), or raw pixels
/// `(height, width, channels, "u8" | "u16" | "f32", little-endian bytes)`
/// from a numpy array.
fn load_source(source: &Bound<'_, PyAny>, role: &str) -> PyResult<Image> {
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
fn to_py_image<'py>(py: Python<'py>, image: &Image) -> Bound<'py, PyTuple> {
    let rgb = image.to_rgb8();
    let bytes = PyBytes::new(py, rgb.as_raw());
    (image.width(), image.height(), bytes)
        .into_pyobject(py)
        .expect("integers and bytes always convert")
}

/// Progress to Python: checks for Ctrl-C (and any other signal Python
/// handles) after every step and while targets are measured, and calls the
/// Python half's `callback(step, total, losses, preview)`, whose `False`
/// stops the run. An exception there (KeyboardInterrupt included) stops the
/// run too and is raised once it has ended.
struct PyObserver {
    callback: Option<Py<PyAny>>,
    /// Whether the callback wants the picture so far (it costs a copy a step).
    preview: bool,
    error: Option<PyErr>,
}

impl PyObserver {
    fn signals(&mut self, py: Python<'_>) -> Flow {
        match py.check_signals() {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.error = Some(e);
                Flow::Stop
            }
        }
    }
}

impl Observer for PyObserver {
    fn on_step(&mut self, progress: &Progress<'_>) -> Flow {
        Python::attach(|py| {
            if self.signals(py) == Flow::Stop {
                return Flow::Stop;
            }
            let Some(callback) = &self.callback else {
                return Flow::Continue;
            };
            let losses = PyDict::new(py);
            let l = progress.losses;
            let items = [
                ("content", l.content),
                ("style", l.style),
                ("tv", l.tv),
                ("total", l.total()),
            ];
            for (name, value) in items {
                losses.set_item(name, value).expect("a dict takes floats");
            }
            let preview = if self.preview {
                to_py_image(py, &progress.image()).into_any()
            } else {
                py.None().into_bound(py)
            };
            let args = (progress.step, progress.total_steps, losses, preview);
            match callback.bind(py).call1(args) {
                Ok(answer) if answer.is(&*pyo3::types::PyBool::new(py, false)) => Flow::Stop,
                Ok(_) => Flow::Continue,
                Err(e) => {
                    self.error = Some(e);
                    Flow::Stop
                }
            }
        })
    }

    fn on_targets(&mut self) -> Flow {
        Python::attach(|py| self.signals(py))
    }
}

/// Uses `threads` worker threads for the process (as `--threads` does). The
/// pool is started once: later calls must ask for the same number. (A pool
/// per call would run the work off the calling thread, where Python cannot
/// deliver Ctrl-C.)
fn configure_threads(threads: Option<i64>) -> PyResult<()> {
    let Some(n) = threads else { return Ok(()) };
    let n = positive("threads", n, 1)?;
    if rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .is_err()
        && rayon::current_num_threads() != n
    {
        return Err(PyValueError::new_err(format!(
            "threads={n}: the worker threads were already started with {}; \
             give threads in the first call, or set RAYON_NUM_THREADS",
            rayon::current_num_threads()
        )));
    }
    Ok(())
}

fn load_network(weights: Option<PathBuf>, deepest: Layer) -> PyResult<Vgg19> {
    Ok(match weights {
        Some(path) => Vgg19::new(
            VggWeights::from_file(&path)
                .map_err(to_py)?
                .truncated(deepest),
        ),
        None => Vgg19::embedded_up_to(deepest),
    })
}

fn parse_layers(spec: &str, keyword: &str) -> PyResult<Vec<(Layer, f32)>> {
    restyle::layer_spec::parse_layers(spec)
        .map_err(|e| PyValueError::new_err(format!("{keyword}: {e}")))
}

fn parse_color(mode: Option<&str>) -> PyResult<ColorMode> {
    match mode {
        None | Some("none") => Ok(ColorMode::None),
        Some("luminance") => Ok(ColorMode::Luminance),
        Some("histogram") => Ok(ColorMode::Histogram),
        Some(other) => Err(PyValueError::new_err(format!(
            "preserve_colors must be \"luminance\", \"histogram\" or None, not {other:?}"
        ))),
    }
}

fn parse_optimizer(name: &str) -> PyResult<OptimizerKind> {
    match name {
        "lbfgs" => Ok(OptimizerKind::Lbfgs),
        "adam" => Ok(OptimizerKind::Adam),
        other => Err(PyValueError::new_err(format!(
            "optimizer must be \"lbfgs\" or \"adam\", not {other:?}"
        ))),
    }
}

/// Why a Gatys run failed: the run itself, or the fast picture `init="fast"` starts from.
enum RunError {
    Gatys(Error),
    Fast(FastError),
}

/// Where a Gatys run starts, as `init=` says: `"content"`, `"noise"`,
/// `"fast"`, or an image (path or source).
enum InitChoice {
    Plain(Init),
    Fast,
    Image(Image),
}

fn parse_init(init: Option<&Bound<'_, PyAny>>) -> PyResult<InitChoice> {
    let Some(init) = init else {
        return Ok(InitChoice::Plain(Init::Content));
    };
    if let Ok(text) = init.cast::<PyString>() {
        match text.to_cow()?.as_ref() {
            "content" | "image" => return Ok(InitChoice::Plain(Init::Content)),
            "noise" | "random" => return Ok(InitChoice::Plain(Init::Noise)),
            "fast" => return Ok(InitChoice::Fast),
            _ => {}
        }
    }
    Ok(InitChoice::Image(load_source(init, "init")?))
}

/// The Gatys method's checks on what was asked, before any image is loaded
/// (as the command line's plan does).
#[allow(clippy::too_many_arguments)]
fn gatys_settings(
    size: i64,
    iterations: Option<i64>,
    seed: u64,
    optimizer: &str,
    learning_rate: Option<f32>,
    content_weight: f32,
    style_weight: f32,
    tv_weight: f32,
    style_scale: f32,
    content_layers: &str,
    style_layers: &str,
    preserve_colors: Option<&str>,
    scales: Option<i64>,
    start_size: Option<i64>,
    refine_iterations: Option<i64>,
    tile: bool,
    tile_size: Option<i64>,
    tile_overlap: i64,
    stop_tolerance: f64,
    lbfgs_history: i64,
) -> PyResult<Settings> {
    let defaults = Settings::default();
    if !(stop_tolerance.is_finite() && stop_tolerance >= 0.0) {
        return Err(PyValueError::new_err(format!(
            "stop_tolerance must be a number >= 0, not {stop_tolerance}"
        )));
    }
    let settings = Settings {
        size: positive("size", size, 1)?,
        iterations: positive(
            "iterations",
            iterations.unwrap_or(defaults.iterations as i64),
            0,
        )?,
        content_weight,
        style_weight,
        tv_weight,
        style_scale,
        content_layers: parse_layers(content_layers, "content_layers")?,
        style_layers: parse_layers(style_layers, "style_layers")?,
        init: Init::Content,
        optimizer: parse_optimizer(optimizer)?,
        learning_rate,
        lbfgs_history: positive("lbfgs_history", lbfgs_history, 1)?,
        seed,
        color: parse_color(preserve_colors)?,
        tiling: if tile {
            Some(Tiling {
                tile: positive(
                    "tile_size",
                    tile_size.unwrap_or(memory::MAX_AUTO_TILE as i64),
                    64,
                )?,
                overlap: positive("tile_overlap", tile_overlap, 0)?,
            })
        } else {
            None
        },
        stop: (stop_tolerance > 0.0).then_some(StopRule {
            tolerance: stop_tolerance,
            ..StopRule::default()
        }),
        scales: ScaleSchedule {
            start_size: start_size
                .map(|s| positive("start_size", s, 1))
                .transpose()?,
            scales: scales.map(|n| positive("scales", n, 1)).transpose()?,
            refine_iterations: refine_iterations
                .map(|n| positive("refine_iterations", n, 1))
                .transpose()?,
        },
        ..Settings::default()
    };
    settings.validate().map_err(to_py)?;
    Ok(settings)
}

/// Refuses a run that would not fit in memory (from the images' sizes) and
/// picks the tile size for `tile=True` without `tile_size`, as the command
/// line does.
fn fit_memory(
    settings: &mut Settings,
    content: &Image,
    styles: &[StyleImage],
    max_memory: Option<&str>,
    auto_tile: bool,
) -> PyResult<()> {
    let budget = match max_memory {
        Some(text) => memory::parse_bytes(text).ok_or_else(|| {
            PyValueError::new_err(format!(
                "max_memory: `{text}` is not a size (try 6G or 800M)"
            ))
        })?,
        None => match memory::available_bytes() {
            Some(bytes) => bytes,
            None => return Ok(()),
        },
    };
    let dims: Vec<(usize, usize)> = styles
        .iter()
        .map(|s| (s.image.width(), s.image.height()))
        .collect();
    memory::fit(
        settings,
        (content.width(), content.height()),
        &dims,
        budget,
        auto_tile,
    )
    .map(|_| ())
    .map_err(|refused| {
        PyMemoryError::new_err(format!("{refused}; try tile=True or a smaller size"))
    })
}

/// Style transfer; see `restyle.stylize` in the Python half for the meaning
/// of each keyword. Returns `((width, height, RGB bytes), info)`.
#[pyfunction]
#[pyo3(signature = (
    content, styles, *, size=None, weights=None, iterations=None, preserve_colors=None,
    method="gatys", strength=None, init=None, seed=0, optimizer="lbfgs", learning_rate=None,
    style_weight=None, content_weight=None, tv_weight=None, style_scale=1.0,
    content_layers="conv4_2", style_layers="relu1_1,relu2_1,relu3_1,relu4_1,relu5_1",
    scales=None, start_size=None, refine_iterations=None, tile=false, tile_size=None,
    tile_overlap=128, max_memory=None, stop_tolerance=restyle::DEFAULT_STOP_TOLERANCE,
    lbfgs_history=restyle::DEFAULT_LBFGS_HISTORY as i64, vgg_weights=None, threads=None,
    callback=None, preview=false, masks=None, style_masks=None, keep=None, seamless=false
))]
#[allow(clippy::too_many_arguments)]
fn stylize<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    styles: Vec<Bound<'py, PyAny>>,
    size: Option<i64>,
    weights: Option<Vec<f32>>,
    iterations: Option<i64>,
    preserve_colors: Option<&str>,
    method: &str,
    strength: Option<f32>,
    init: Option<Bound<'py, PyAny>>,
    seed: u64,
    optimizer: &str,
    learning_rate: Option<f32>,
    style_weight: Option<f32>,
    content_weight: Option<f32>,
    tv_weight: Option<f32>,
    style_scale: f32,
    content_layers: &str,
    style_layers: &str,
    scales: Option<i64>,
    start_size: Option<i64>,
    refine_iterations: Option<i64>,
    tile: bool,
    tile_size: Option<i64>,
    tile_overlap: i64,
    max_memory: Option<&str>,
    stop_tolerance: f64,
    lbfgs_history: i64,
    vgg_weights: Option<PathBuf>,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
    preview: bool,
    masks: Option<Vec<Bound<'py, PyAny>>>,
    style_masks: Option<Vec<Bound<'py, PyAny>>>,
    keep: Option<Bound<'py, PyAny>>,
    seamless: bool,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let defaults = Settings::default();
    for (name, list) in [("masks", &masks), ("style_masks", &style_masks)] {
        if let Some(list) = list {
            if list.len() != styles.len() {
                return Err(PyValueError::new_err(format!(
                    "{name} has {} mask(s) but {} style image(s) were given: give one per style image, in order",
                    list.len(),
                    styles.len()
                )));
            }
        }
    }
    if method == "fast" && (style_masks.is_some() || seamless) {
        return Err(PyValueError::new_err(
            "style_masks and seamless apply to method=\"gatys\" only: the fast network has no per-region style",
        ));
    }
    if seamless && tile {
        return Err(PyValueError::new_err(
            "seamless cannot be used with tile: a tile's edges are not the picture's, so it cannot wrap around them",
        ));
    }
    let size = size.unwrap_or(defaults.size as i64);
    let blend = match weights {
        Some(w) if w.len() != styles.len() => {
            return Err(PyValueError::new_err(format!(
                "weights has {} value(s) but {} style image(s) were given",
                w.len(),
                styles.len()
            )))
        }
        Some(w) => w,
        None => vec![1.0; styles.len()],
    };
    let init_is_set = init.as_ref().is_some_and(|i| {
        i.cast::<PyString>()
            .map_or(true, |s| s.to_cow().ok().as_deref() != Some("content"))
    });
    let info = PyDict::new(py);
    match method {
        "gatys" => {
            if strength.is_some() {
                return Err(PyValueError::new_err(
                    "strength applies to method=\"fast\"; for Gatys use style_weight",
                ));
            }
        }
        "fast" => {
            let gatys_only = [
                ("iterations", iterations.is_some()),
                ("scales", scales.is_some()),
                ("start_size", start_size.is_some()),
                ("refine_iterations", refine_iterations.is_some()),
                ("tile", tile),
                ("init", init_is_set),
                ("vgg_weights", vgg_weights.is_some()),
                ("style_weight", style_weight.is_some()),
                ("content_weight", content_weight.is_some()),
                ("tv_weight", tv_weight.is_some()),
            ];
            if let Some((name, _)) = gatys_only.iter().find(|(_, set)| *set) {
                return Err(PyValueError::new_err(format!(
                    "{name} applies to method=\"gatys\"; method=\"fast\" paints in one pass"
                )));
            }
            let size = positive("size", size, 1)?;
            let strength = strength.unwrap_or(1.0);
            check_fast_settings(strength, &blend)?;
            let color = parse_color(preserve_colors)?;
            configure_threads(threads)?;
            let photo = load_source(content, "content")?;
            let mut style_images = Vec::new();
            for (i, (source, weight)) in styles.iter().zip(&blend).enumerate() {
                let image = load_source(source, "style")?;
                fast::check_style(&image).map_err(|e| unusable_style(i + 1, e))?;
                style_images.push(StyleImage::new(image, *weight));
            }
            if style_images.is_empty() {
                return Err(to_py(SettingsError::NoStyleImage));
            }
            // Regions: each masked style painted on its own, the pictures blended by the masks.
            let mask = |source: &Bound<'py, PyAny>, of: MaskOf| {
                let mask = Mask::from_image(&load_source(source, "mask")?);
                if mask.is_blank() {
                    return Err(to_py(SettingsError::BlankMask(of)));
                }
                Ok(mask)
            };
            for (i, (style, source)) in style_images
                .iter_mut()
                .zip(masks.iter().flatten())
                .enumerate()
            {
                style.mask = Some(mask(source, MaskOf::Region(i + 1))?);
            }
            let keep = keep.as_ref().map(|k| mask(k, MaskOf::Keep)).transpose()?;
            let (w, h) = restyle::fit_long_edge(photo.width(), photo.height(), size);
            if w.min(h) < restyle_fast::MIN_CONTENT_SIZE {
                return Err(PyValueError::new_err(format!(
                    "the content image at size {size} is {w}x{h}: the fast method needs at least {} pixels a side",
                    restyle_fast::MIN_CONTENT_SIZE
                )));
            }
            let painted = py
                .detach(|| {
                    let model = FastStyle::embedded()?;
                    fast::paint_regions(&photo, &style_images, keep.as_ref(), |styles| {
                        fast::paint(&model, &photo, size, styles, strength, color, None)
                    })
                })
                .map_err(fast_to_py)?;
            info.set_item("steps", 0)?;
            info.set_item("stopped", false)?;
            return Ok((to_py_image(py, &painted.image), info));
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "method must be \"gatys\" or \"fast\", not {other:?}"
            )))
        }
    }

    let mut settings = gatys_settings(
        size,
        iterations,
        seed,
        optimizer,
        learning_rate,
        content_weight.unwrap_or(defaults.content_weight),
        style_weight.unwrap_or(defaults.style_weight),
        tv_weight.unwrap_or(defaults.tv_weight),
        style_scale,
        content_layers,
        style_layers,
        preserve_colors,
        scales,
        start_size,
        refine_iterations,
        tile,
        tile_size,
        tile_overlap,
        stop_tolerance,
        lbfgs_history,
    )?;
    settings.validate_style_weights(&blend).map_err(to_py)?;
    let init = parse_init(init.as_ref())?;
    configure_threads(threads)?;
    let content = load_source(content, "content")?;
    let mut style_images = Vec::new();
    for (source, weight) in styles.iter().zip(&blend) {
        style_images.push(StyleImage::new(load_source(source, "style")?, *weight));
    }
    // Regions: the library refuses an all-black mask with the mask's name.
    let mask =
        |source: &Bound<'py, PyAny>| load_source(source, "mask").map(|i| Mask::from_image(&i));
    for (style, source) in style_images.iter_mut().zip(masks.iter().flatten()) {
        style.mask = Some(mask(source)?);
    }
    for (style, source) in style_images.iter_mut().zip(style_masks.iter().flatten()) {
        style.style_mask = Some(mask(source)?);
    }
    settings.keep = keep.as_ref().map(mask).transpose()?;
    settings.seamless = seamless;
    fit_memory(
        &mut settings,
        &content,
        &style_images,
        max_memory,
        tile_size.is_none(),
    )?;
    let deepest = settings.deepest_layer().expect("validated");
    let net = load_network(vgg_weights, deepest)?;
    let mut observer = PyObserver {
        callback,
        preview,
        error: None,
    };
    let result = py.detach(|| {
        settings.init = match init {
            InitChoice::Plain(init) => init,
            InitChoice::Image(image) => Init::Image(image),
            InitChoice::Fast => Init::Image(
                FastStyle::embedded()
                    .and_then(|model| {
                        fast::paint(
                            &model,
                            &content,
                            settings.size,
                            &style_images,
                            1.0,
                            ColorMode::None,
                            None,
                        )
                    })
                    .map_err(RunError::Fast)?
                    .image,
            ),
        };
        restyle::stylize(&net, &content, &style_images, &settings, &mut observer)
            .map_err(RunError::Gatys)
    });
    if let Some(error) = observer.error {
        return Err(error);
    }
    let outcome = result.map_err(|e| match e {
        RunError::Gatys(e) => to_py(e),
        RunError::Fast(e) => fast_to_py(e),
    })?;
    info.set_item("steps", outcome.steps)?;
    info.set_item("stopped", outcome.stopped)?;
    let losses = PyDict::new(py);
    losses.set_item("content", outcome.losses.content)?;
    losses.set_item("style", outcome.losses.style)?;
    losses.set_item("tv", outcome.losses.tv)?;
    losses.set_item("total", outcome.losses.total())?;
    info.set_item("losses", losses)?;
    Ok((to_py_image(py, &outcome.image), info))
}

/// Gatys et al.'s figure 1: content and style reconstructed from single
/// layers; see `restyle.reconstruct`. Returns `((width, height, RGB bytes), info)`.
#[pyfunction]
#[pyo3(signature = (
    content, style, *, size=RECONSTRUCT_DEFAULT_SIZE, iterations=300, layers=vec![1, 3, 5],
    cumulative=false, seed=0, optimizer="lbfgs", learning_rate=None, vgg_weights=None,
    threads=None, callback=None, preview=false
))]
#[allow(clippy::too_many_arguments)]
fn reconstruct<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    style: &Bound<'py, PyAny>,
    size: i64,
    iterations: i64,
    layers: Vec<i64>,
    cumulative: bool,
    seed: u64,
    optimizer: &str,
    learning_rate: Option<f32>,
    vgg_weights: Option<PathBuf>,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
    preview: bool,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let mut blocks = Vec::new();
    for b in layers {
        blocks.push(positive("layers", b, 1)?);
    }
    let settings = ReconstructSettings {
        size: positive("size", size, 1)?,
        iterations: positive("iterations", iterations, 0)?,
        blocks,
        cumulative,
        optimizer: OptimizerSettings {
            kind: parse_optimizer(optimizer)?,
            learning_rate,
            lbfgs_history: restyle::DEFAULT_LBFGS_HISTORY,
        },
        seed,
    };
    settings.validate().map_err(to_py)?;
    if let Some(rate) = learning_rate {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(to_py(SettingsError::LearningRate(rate)));
        }
    }
    configure_threads(threads)?;
    let content = load_source(content, "content")?;
    let style = load_source(style, "style")?;
    let net = load_network(vgg_weights, settings.deepest_layer().expect("validated"))?;
    let mut observer = PyObserver {
        callback,
        preview,
        error: None,
    };
    let result = py.detach(|| reconstruct_layers(&net, &content, &style, &settings, &mut observer));
    if let Some(error) = observer.error {
        return Err(error);
    }
    let reconstructions = result.map_err(to_py)?;
    let grid = reconstruction_grid(&content, &style, &reconstructions);
    let info = PyDict::new(py);
    info.set_item("stopped", reconstructions.stopped)?;
    Ok((to_py_image(py, &grid), info))
}

#[pymodule]
fn _restyle(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(stylize, m)?)?;
    m.add_function(wrap_pyfunction!(reconstruct, m)?)?;
    m.add_function(wrap_pyfunction!(video::stylize_video, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
