//! `restyle.stylize_video`: a clip painted by `restyle-video`, as the command line's
//! `restyle video` does it, with progress to a Python callback and Ctrl-C as a clean stop.

use std::path::PathBuf;

use pyo3::exceptions::{
    PyFileNotFoundError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError,
};
use pyo3::prelude::*;
use restyle::{Flow, Image, Mask};
use restyle_request::{Limits, Pictures, Request as StillRequest};
use restyle_video::{
    plan as plan_clip, stylize_video as paint_clip, Error as VideoError, FrameProgress, Span,
    Steadiness, VideoObserver, VideoRequest,
};

use crate::errors::to_py;
use crate::options::Options;
use crate::pictures::load_source;
use crate::progress::configure_threads;

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
/// `options`: the keywords a still picture has too (the one request's).
#[pyfunction]
#[pyo3(signature = (
    src, styles, dst, options, *, masks, keep, start, duration, steady, later_iterations,
    ffmpeg, resume, overwrite, threads, callback
))]
#[allow(clippy::too_many_arguments)]
pub fn stylize_video(
    py: Python<'_>,
    src: PathBuf,
    styles: Vec<Bound<'_, PyAny>>,
    dst: PathBuf,
    options: Options,
    masks: Option<Vec<Bound<'_, PyAny>>>,
    keep: Option<Bound<'_, PyAny>>,
    start: Option<f64>,
    duration: Option<f64>,
    steady: bool,
    later_iterations: Option<i64>,
    ffmpeg: Option<PathBuf>,
    resume: bool,
    overwrite: bool,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
) -> PyResult<(usize, usize, usize, bool)> {
    let mut request = options.request(false)?;
    request.styles = styles.len();
    request.masks = masks.as_ref().map(Vec::len);
    request.keep = keep.is_some();
    let plan = request.check(&Limits::default()).map_err(to_py)?;
    configure_threads(threads)?;
    let paintings = styles
        .iter()
        .map(|s| load_source(s, "style"))
        .collect::<PyResult<_>>()?;
    // The frames come from the clip: the photo stands empty.
    let mut pictures = Pictures::new(&plan, Image::filled(1, 1, [0.0; 3]), paintings);
    let mask = |source: &Bound<'_, PyAny>| {
        load_source(source, "mask").map(|image| Mask::from_image(&image))
    };
    for (style, source) in pictures.styles.iter_mut().zip(masks.iter().flatten()) {
        style.mask = Some(mask(source)?);
    }
    pictures.keep = keep.as_ref().map(mask).transpose()?;
    let planned =
        VideoRequest::planned(src, dst, &plan, pictures, later_iterations).map_err(to_py)?;
    let request = VideoRequest {
        size: plan_size(&request),
        span: Span { start, duration },
        steadiness: Steadiness {
            enabled: steady,
            ..Steadiness::default()
        },
        ffmpeg,
        resume,
        overwrite,
        ..planned
    };
    let planned = plan_clip(&request).map_err(video_to_py)?;
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

/// The long edge asked for (checked by the request); `None`: the clip's own, up to the
/// method's default.
fn plan_size(request: &StillRequest) -> Option<usize> {
    request.size.map(|s| s as usize)
}
