//! `restyle.stylize_video`: a clip painted by `restyle-video`, as the command line's
//! `restyle video` does it, with progress to a Python callback and Ctrl-C as a clean stop.

use std::path::PathBuf;

use pyo3::exceptions::{
    PyFileNotFoundError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use restyle::{ColorMode, Flow, Mask, Settings, StyleImage};
use restyle_video::{
    plan, stylize_video as paint_clip, Error as VideoError, FrameProgress, Method, Span,
    Steadiness, VideoObserver, VideoRequest,
};

use crate::{
    check_fast_settings, configure_threads, load_source, parse_color, positive, to_py,
    unusable_style,
};

/// The video library's errors as Python exceptions: a missing ffmpeg or file is an `OSError`
/// (`FileNotFoundError` for ffmpeg), a request that cannot be painted a `ValueError`, one too
/// large for the memory a `MemoryError`.
fn video_to_py(error: VideoError) -> PyErr {
    let text = error.to_string();
    match error {
        VideoError::FfmpegMissing(_) => PyFileNotFoundError::new_err(text),
        VideoError::Request(_) if text.contains("needs about") => PyMemoryError::new_err(text),
        VideoError::Request(_) | VideoError::Resume { .. } | VideoError::Fast(_) => {
            PyValueError::new_err(text)
        }
        VideoError::Restyle(e) => to_py(e),
        VideoError::Spawn { .. }
        | VideoError::NotAVideo { .. }
        | VideoError::Decode { .. }
        | VideoError::Encode { .. }
        | VideoError::Output { .. }
        | VideoError::Image(_) => PyOSError::new_err(text),
    }
}

/// Calls `callback(frame, total)` after each frame (its `False` stops the run) and checks for
/// Ctrl-C; an exception there stops the run and is raised once the output is closed.
struct PyFrames {
    callback: Option<Py<PyAny>>,
    error: Option<PyErr>,
}

impl VideoObserver for PyFrames {
    fn on_frame(&mut self, progress: &FrameProgress<'_>) -> Flow {
        Python::attach(|py| {
            if let Err(e) = py.check_signals() {
                self.error = Some(e);
                return Flow::Stop;
            }
            let Some(callback) = &self.callback else {
                return Flow::Continue;
            };
            match callback.bind(py).call1((progress.done, progress.total)) {
                Ok(answer) if answer.is(&*pyo3::types::PyBool::new(py, false)) => Flow::Stop,
                Ok(_) => Flow::Continue,
                Err(e) => {
                    self.error = Some(e);
                    Flow::Stop
                }
            }
        })
    }

    fn should_stop(&mut self) -> bool {
        Python::attach(|py| match py.check_signals() {
            Ok(()) => false,
            Err(e) => {
                self.error = Some(e);
                true
            }
        })
    }
}

/// The native `stylize_video`; the Python half documents it and turns images into sources.
#[pyfunction]
#[pyo3(signature = (
    src, styles, dst, *, method, weights, size, start, duration, strength, preserve_colors,
    masks, keep, steady, iterations, later_iterations, ffmpeg, resume, overwrite, threads,
    callback
))]
#[allow(clippy::too_many_arguments)]
pub fn stylize_video(
    py: Python<'_>,
    src: PathBuf,
    styles: Vec<Bound<'_, PyAny>>,
    dst: PathBuf,
    method: &str,
    weights: Option<Vec<f32>>,
    size: Option<i64>,
    start: Option<f64>,
    duration: Option<f64>,
    strength: Option<f32>,
    preserve_colors: Option<&str>,
    masks: Option<Vec<Bound<'_, PyAny>>>,
    keep: Option<Bound<'_, PyAny>>,
    steady: bool,
    iterations: Option<i64>,
    later_iterations: Option<i64>,
    ffmpeg: Option<PathBuf>,
    resume: bool,
    overwrite: bool,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
) -> PyResult<(usize, usize, usize, bool)> {
    configure_threads(threads)?;
    let method = match method {
        "fast" => {
            if iterations.is_some() || later_iterations.is_some() {
                return Err(PyValueError::new_err(
                    "iterations and later_iterations apply to method=\"gatys\"; method=\"fast\" paints in one pass",
                ));
            }
            Method::Fast {
                strength: strength.unwrap_or(1.0),
            }
        }
        "gatys" => {
            if strength.is_some() {
                return Err(PyValueError::new_err(
                    "strength applies to method=\"fast\"; for Gatys use style_weight",
                ));
            }
            let defaults = Settings::default();
            Method::Gatys {
                settings: Box::new(Settings {
                    iterations: match iterations {
                        Some(n) => positive("iterations", n, 1)?,
                        None => defaults.iterations,
                    },
                    ..defaults
                }),
                later_iterations: match later_iterations {
                    Some(n) => positive("later_iterations", n, 1)?,
                    None => restyle_video::DEFAULT_LATER_ITERATIONS,
                },
            }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "method must be \"fast\" or \"gatys\", not {other:?}"
            )))
        }
    };
    let weights = weights.unwrap_or_else(|| vec![1.0; styles.len()]);
    if weights.len() != styles.len() {
        return Err(PyValueError::new_err(format!(
            "weights has {} value(s) but {} style image(s) were given",
            weights.len(),
            styles.len()
        )));
    }
    // The fast method's checks and words (a Gatys clip's strength is None: 1 passes).
    check_fast_settings(strength.unwrap_or(1.0), &weights)?;
    if let Some(masks) = &masks {
        if masks.len() != styles.len() {
            return Err(PyValueError::new_err(format!(
                "masks has {} mask(s) but {} style image(s) were given: give one per style image, in order",
                masks.len(),
                styles.len()
            )));
        }
    }
    let mut style_images = Vec::new();
    for (i, (source, &weight)) in styles.iter().zip(&weights).enumerate() {
        let image = load_source(source, "style")?;
        if matches!(method, Method::Fast { .. }) {
            restyle_fast::check_style(&image).map_err(|e| unusable_style(i + 1, e))?;
        }
        let mut style = StyleImage::new(image, weight);
        if let Some(masks) = &masks {
            style.mask = Some(Mask::from_image(&load_source(&masks[i], "mask")?));
        }
        style_images.push(style);
    }
    let keep = keep
        .map(|k| load_source(&k, "keep mask").map(|image| Mask::from_image(&image)))
        .transpose()?;
    let color: ColorMode = parse_color(preserve_colors)?;
    let request = VideoRequest {
        styles: style_images,
        size: size.map(|s| positive("size", s, 1)).transpose()?,
        span: Span { start, duration },
        color,
        keep,
        steadiness: Steadiness {
            enabled: steady,
            ..Steadiness::default()
        },
        ffmpeg,
        resume,
        overwrite,
        ..VideoRequest::new(src, dst, method)
    };
    let planned = plan(&request).map_err(video_to_py)?;
    let mut observer = PyFrames {
        callback,
        error: None,
    };
    let outcome = py.detach(|| paint_clip(&request, planned, &mut observer));
    if let Some(error) = observer.error {
        return Err(error);
    }
    let outcome = outcome.map_err(video_to_py)?;
    if outcome.frames == 0 {
        return Err(PyRuntimeError::new_err("no frames were painted"));
    }
    Ok((
        outcome.frames,
        outcome.width,
        outcome.height,
        outcome.stopped,
    ))
}
