//! Progress to Python, Ctrl-C from Python, and the worker threads.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use restyle::{Flow, Observer, Progress};

use crate::errors::positive;
use crate::pictures::to_py_image;

/// Progress to Python: checks for Ctrl-C (and any other signal Python
/// handles) after every step and while targets are measured, and calls the
/// Python half's `callback(step, total, losses, preview)`, whose `False`
/// stops the run. An exception there (KeyboardInterrupt included) stops the
/// run too and is raised once it has ended.
pub struct PyObserver {
    pub callback: Option<Py<PyAny>>,
    /// Whether the callback wants the picture so far (it costs a copy a step).
    pub preview: bool,
    pub error: Option<PyErr>,
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
pub fn configure_threads(threads: Option<i64>) -> PyResult<()> {
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
