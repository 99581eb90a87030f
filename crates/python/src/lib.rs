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
//! Each keyword has the one name the command line's flag and the web API's field have, and
//! the same checks ([`restyle_request`]); errors become Python exceptions with the same
//! messages ([`errors`]). One file a concern: the keywords ([`options`]), images in and out
//! ([`pictures`]), progress and threads ([`progress`]), and one file a function.

use pyo3::prelude::*;

mod errors;
mod options;
mod pictures;
mod progress;
mod reconstruct;
mod stylize;
mod video;

#[pymodule]
fn _restyle(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(stylize::stylize, m)?)?;
    m.add_function(wrap_pyfunction!(reconstruct::reconstruct, m)?)?;
    m.add_function(wrap_pyfunction!(video::stylize_video, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
