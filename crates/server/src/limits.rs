//! What the server accepts: upload sizes, image sizes, queue length and
//! per-job settings, each refused with a clear message and status.

use std::path::Path;

use restyle::io::{self, ImageFileError, ImageLimits};
use restyle::{fit_long_edge, Image};

use crate::error::ApiError;
use crate::jobs::JobSettings;

/// The configurable limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body (all uploads together), bytes.
    pub max_upload_bytes: usize,
    /// Largest uploaded image, width x height.
    pub max_pixels: u64,
    /// Most jobs waiting in the queue.
    pub max_queue: u64,
    /// Largest output long edge a job may ask for.
    pub max_size: usize,
    /// Most optimisation steps a job may ask for.
    pub max_iterations: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 << 20,
            max_pixels: 30_000_000,
            max_queue: 100,
            max_size: 1024,
            max_iterations: 1000,
        }
    }
}

impl Limits {
    fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_side: 16_384,
            max_pixels: self.max_pixels,
        }
    }

    /// Decodes an upload completely (so truncated files are caught now, not
    /// in the worker); the file type comes from the contents, never from the
    /// name or the declared content type.
    pub fn decode(&self, bytes: &[u8], role: &str) -> Result<Image, ApiError> {
        if bytes.is_empty() {
            return Err(ApiError::BadRequest(format!("the {role} file is empty")));
        }
        let name = format!("the {role} image");
        io::decode_image(bytes, Path::new(&name), self.image_limits()).map_err(|e| match e {
            ImageFileError::Format { .. } => ApiError::UnsupportedImage(e.to_string()),
            ImageFileError::TooLarge { width, height, .. } => ApiError::TooLarge(format!(
                "the {role} image is {width}x{height} pixels ({:.1} megapixels); this server accepts at most {:.1} megapixels",
                width as f64 * height as f64 / 1e6,
                self.max_pixels as f64 / 1e6
            )),
            _ => ApiError::Unprocessable(e.to_string()),
        })
    }

    /// Checks a job's settings against the limits and the library's own
    /// rules, for a content image of `content` (width, height). Returns the
    /// output's width and height and the number of steps.
    pub fn check_job(
        &self,
        s: &JobSettings,
        content: (usize, usize),
    ) -> Result<((usize, usize), usize), ApiError> {
        if s.size < 1 || s.size > self.max_size {
            return Err(ApiError::Unprocessable(format!(
                "size must be between 1 and {} pixels on this server, not {}",
                self.max_size, s.size
            )));
        }
        if s.iterations > self.max_iterations {
            return Err(ApiError::Unprocessable(format!(
                "iterations must be at most {} on this server, not {}",
                self.max_iterations, s.iterations
            )));
        }
        let settings = s.to_settings();
        settings
            .validate()
            .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
        let (w, h) = fit_long_edge(content.0, content.1, s.size);
        let min = settings.min_side();
        if w.min(h) < min {
            return Err(ApiError::Unprocessable(format!(
                "the output would be {w}x{h} pixels; it needs at least {min} on each side (raise size)"
            )));
        }
        Ok(((w, h), settings.total_steps(content.0, content.1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_beyond_the_limits_are_refused() {
        let limits = Limits {
            max_size: 256,
            max_iterations: 50,
            ..Limits::default()
        };
        let ok = JobSettings {
            size: 64,
            iterations: 10,
            ..JobSettings::default()
        };
        assert_eq!(limits.check_job(&ok, (128, 64)).unwrap(), ((64, 32), 10));
        let big = JobSettings {
            size: 512,
            ..ok.clone()
        };
        assert!(
            matches!(limits.check_job(&big, (128, 64)), Err(ApiError::Unprocessable(m)) if m.contains("256"))
        );
        let long = JobSettings {
            iterations: 51,
            ..ok.clone()
        };
        assert!(limits.check_job(&long, (128, 64)).is_err());
        let thin = JobSettings {
            size: 64,
            ..ok.clone()
        };
        assert!(
            limits.check_job(&thin, (1000, 10)).is_err(),
            "too thin for the deepest layer"
        );
        let negative = JobSettings {
            style_weight: -1.0,
            ..ok
        };
        assert!(limits.check_job(&negative, (128, 64)).is_err());
    }

    #[test]
    fn uploads_are_judged_by_their_contents() {
        let limits = Limits::default();
        assert!(matches!(
            limits.decode(b"hello, I am text", "content"),
            Err(ApiError::UnsupportedImage(_))
        ));
        assert!(matches!(
            limits.decode(b"", "content"),
            Err(ApiError::BadRequest(_))
        ));
        let png = io::encode_image(&Image::filled(8, 8, [0.5; 3]), io::OutputType::Png).unwrap();
        assert_eq!(limits.decode(&png, "style").unwrap().width(), 8);
        let truncated = &png[..png.len() / 2];
        assert!(matches!(
            limits.decode(truncated, "style"),
            Err(ApiError::Unprocessable(_))
        ));
        let tiny = Limits {
            max_pixels: 10,
            ..limits
        };
        assert!(matches!(
            tiny.decode(&png, "style"),
            Err(ApiError::TooLarge(_))
        ));
    }
}
