//! restyle's one request: what a person asks of either method, checked once, for every front
//! end (the command line, Python, the web server, video).
//!
//! A front end only translates its inputs (flags, keywords, form fields) into a [`Request`],
//! each option under its one name, and shows a [`RequestError`]'s message as it is. The
//! request is checked in three steps, each refusing what it can as early as it can:
//!
//! 1. [`Request::check`], before any picture is loaded: values in range, the options that go
//!    with the method, the optimisation's settings, the memory budget. It gives a [`Plan`].
//! 2. [`Plan::fit`], with the pictures' sizes from their headers: pictures the method cannot
//!    use at this size, and the memory the run needs ([`Plan::needed`], the one estimate).
//! 3. [`Plan::paint`], with the pictures loaded: blank masks, flat paintings; then the run.
//!
//! ```no_run
//! use restyle::{io, Silent};
//! use restyle_request::{Limits, Method, Pictures, Request};
//!
//! let request = Request {
//!     method: Method::Fast,
//!     styles: 1,
//!     size: Some(384),
//!     ..Request::default()
//! };
//! let mut plan = request.check(&Limits::default())?;
//! let limits = io::ImageLimits::default();
//! let photo = io::load_image("photo.jpg".as_ref(), limits)?;
//! let painting = io::load_image("painting.jpg".as_ref(), limits)?;
//! let pictures = Pictures::new(&plan, photo, vec![painting]);
//! plan.fit(&pictures.inputs())?;
//! let painted = plan.paint(&pictures, None, &mut Silent)?;
//! io::save_image(&painted.image, "out.png".as_ref())?;
//! # Ok::<(), restyle_request::RequestError>(())
//! ```

mod choices;
mod error;
mod memory;
mod paint;
mod plan;
mod request;

pub use choices::{Init, Method};
pub use error::{BudgetSource, ErrorKind, RequestError, TooBig};
pub use memory::Inputs;
pub use paint::{check_painting, load_network, Painted, Pictures};
pub use plan::{Plan, DEFAULT_FAST_TILE, DEFAULT_TILE_OVERLAP};
pub use request::{Limits, Request, DEFAULT_SIZE};
pub use restyle::{ColorMode, OptimizerKind};
