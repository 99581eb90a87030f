//! `restyle.stylize`: a picture by either method, from the one request.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use restyle::Mask;
use restyle_request::{Limits, Pictures};

use crate::errors::to_py;
use crate::options::Options;
use crate::pictures::{load_source, to_py_image};
use crate::progress::{configure_threads, PyObserver};

/// Style transfer; see `restyle.stylize` in the Python half for the meaning of each keyword
/// (`options`: every keyword but the images). Returns `((width, height, RGB bytes), info)`.
#[pyfunction]
#[pyo3(signature = (
    content, styles, options, *, masks=None, style_masks=None, keep=None, init_image=None,
    threads=None, callback=None, preview=false
))]
#[allow(clippy::too_many_arguments)]
pub fn stylize<'py>(
    py: Python<'py>,
    content: &Bound<'py, PyAny>,
    styles: Vec<Bound<'py, PyAny>>,
    options: Options,
    masks: Option<Vec<Bound<'py, PyAny>>>,
    style_masks: Option<Vec<Bound<'py, PyAny>>>,
    keep: Option<Bound<'py, PyAny>>,
    init_image: Option<Bound<'py, PyAny>>,
    threads: Option<i64>,
    callback: Option<Py<PyAny>>,
    preview: bool,
) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
    let mut request = options.request(init_image.is_some())?;
    request.styles = styles.len();
    request.masks = masks.as_ref().map(Vec::len);
    request.style_masks = style_masks.as_ref().map(Vec::len);
    request.keep = keep.is_some();
    let mut plan = request.check(&Limits::default()).map_err(to_py)?;
    configure_threads(threads)?;
    let paintings = styles
        .iter()
        .map(|s| load_source(s, "style"))
        .collect::<PyResult<_>>()?;
    let mut pictures = Pictures::new(&plan, load_source(content, "content")?, paintings);
    let mask = |source: &Bound<'py, PyAny>| {
        load_source(source, "mask").map(|image| Mask::from_image(&image))
    };
    for (style, source) in pictures.styles.iter_mut().zip(masks.iter().flatten()) {
        style.mask = Some(mask(source)?);
    }
    for (style, source) in pictures.styles.iter_mut().zip(style_masks.iter().flatten()) {
        style.style_mask = Some(mask(source)?);
    }
    pictures.keep = keep.as_ref().map(mask).transpose()?;
    pictures.init = init_image
        .as_ref()
        .map(|i| load_source(i, "init"))
        .transpose()?;
    plan.fit(&pictures.inputs()).map_err(to_py)?;
    let mut observer = PyObserver {
        callback,
        preview,
        error: None,
    };
    let painted = py.detach(|| plan.paint(&pictures, None, &mut observer));
    if let Some(error) = observer.error {
        return Err(error);
    }
    let painted = painted.map_err(to_py)?;
    let info = PyDict::new(py);
    info.set_item("steps", painted.steps)?;
    info.set_item("stopped", painted.stopped)?;
    if let Some(l) = painted.losses {
        let losses = PyDict::new(py);
        losses.set_item("content", l.content)?;
        losses.set_item("style", l.style)?;
        losses.set_item("tv", l.tv)?;
        losses.set_item("total", l.total())?;
        info.set_item("losses", losses)?;
    }
    Ok((to_py_image(py, &painted.image), info))
}
