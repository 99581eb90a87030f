//! What the server accepts: upload sizes, image sizes, queue length,
//! memory and per-job settings, each refused with a clear message and status.

use restyle::fit_long_edge;

use crate::error::ApiError;
use crate::jobs::JobSettings;

/// The smallest output: VGG-19's deepest default layer needs 16 pixels a side.
pub const MIN_SIZE: usize = 16;

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
    /// Most memory a job may need (the library's estimate), bytes.
    pub max_job_memory: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 25 << 20,
            max_pixels: 30_000_000,
            max_queue: 100,
            max_size: 1024,
            max_iterations: 1000,
            max_job_memory: 4 << 30,
        }
    }
}

impl Limits {
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
        if s.iterations < 1 || s.iterations > self.max_iterations {
            return Err(ApiError::Unprocessable(format!(
                "iterations must be from 1 to {} on this server, not {}",
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
}
