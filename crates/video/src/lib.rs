//! restyle video: a clip painted in the style of a painting, steady from frame to frame, with
//! its sound.
//!
//! Frames come from `ffmpeg` (any clip it reads), an animated GIF or a PNG sequence, and go to
//! an mp4/mov/mkv (H.264) or webm (VP9) with the input's sound, an animated GIF or WebP, or a
//! PNG sequence. Each frame is painted by the fast network or by Gatys et al.'s optimisation;
//! optical flow on the input frames carries the previous painted frame to the current one, so
//! that what stays in the picture stays painted the same way ([`temporal`]).
//!
//! ```no_run
//! use std::path::{Path, PathBuf};
//! use restyle::{io, Flow, StyleImage};
//! use restyle_video::{plan, stylize_video, FrameProgress, Method, VideoObserver, VideoRequest};
//!
//! struct Print;
//! impl VideoObserver for Print {
//!     fn on_frame(&mut self, p: &FrameProgress<'_>) -> Flow {
//!         eprintln!("frame {} of {:?}", p.done, p.total);
//!         Flow::Continue
//!     }
//! }
//!
//! let painting = io::load_image(Path::new("starry_night.jpg"), io::ImageLimits::default())?;
//! let request = VideoRequest {
//!     styles: vec![StyleImage::new(painting, 1.0)],
//!     size: Some(640),
//!     ..VideoRequest::new(PathBuf::from("clip.mp4"), PathBuf::from("painted.mp4"), Method::Fast { strength: 1.0 })
//! };
//! let plan = plan(&request)?; // checked before any work: files, ffmpeg, memory
//! let outcome = stylize_video(&request, plan, &mut Print)?;
//! eprintln!("{} frames", outcome.frames);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
pub mod ffmpeg;
pub mod frames;
mod run;
pub mod temporal;

pub use error::{Error, Result};
pub use ffmpeg::{ClipInfo, Container, Ffmpeg, Span};
pub use run::{
    frame_memory_bytes, plan, stylize_video, work_dir, FrameProgress, Method, Plan, VideoObserver,
    VideoOutcome, VideoRequest, DEFAULT_FAST_SIZE, DEFAULT_GATYS_SIZE, DEFAULT_LATER_ITERATIONS,
    DEFAULT_SEQUENCE_FPS,
};
pub use temporal::Steadiness;
