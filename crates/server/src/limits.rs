//! What the server accepts: upload sizes, image sizes, queue length,
//! memory and per-job settings, each refused with a clear message and status.

use std::ops::RangeInclusive;

/// `--max-video-seconds`' default: a clip's longest length.
pub const DEFAULT_MAX_VIDEO_SECONDS: f64 = 20.0;

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
    /// Longest clip a video job may send, seconds (`--max-video-seconds`).
    pub max_video_seconds: f64,
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
            max_video_seconds: DEFAULT_MAX_VIDEO_SECONDS,
        }
    }
}

/// Loss weights beyond this only overflow the loss.
pub const MAX_WEIGHT: f32 = 1e6;

/// Style images are resized to `style_scale` times the output: below 0.1 nothing is left of
/// them, above 4 the brush strokes outgrow any picture (and the memory estimate refuses most
/// sizes anyway).
pub const STYLE_SCALES: RangeInclusive<f32> = 0.1..=4.0;

/// The memory budget `who` sets for each job with `--max-job-memory`.
pub fn operator(who: &str) -> restyle_request::BudgetSource {
    restyle_request::BudgetSource::Operator {
        who: who.into(),
        option: "--max-job-memory".into(),
    }
}

impl Limits {
    /// What this server allows each job, as the one request's limits.
    pub fn request(&self) -> restyle_request::Limits {
        restyle_request::Limits {
            min_size: Some(MIN_SIZE),
            max_size: Some(self.max_size),
            min_iterations: 1,
            max_iterations: Some(self.max_iterations),
            max_weight: Some(MAX_WEIGHT),
            style_scale: Some(STYLE_SCALES),
            memory: Some((self.max_job_memory, operator("this server"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use restyle_request::{Inputs, Request};

    #[test]
    fn settings_beyond_the_limits_are_refused() {
        let limits = Limits {
            max_size: 256,
            max_iterations: 50,
            ..Limits::default()
        }
        .request();
        let ok = Request {
            styles: 1,
            size: Some(64),
            iterations: Some(10),
            ..Request::default()
        };
        let plan = ok.check(&limits).unwrap();
        assert_eq!((plan.size, plan.settings.iterations), (64, 10));
        // Not asked for: the default, within the limit.
        let plain = Request {
            styles: 1,
            ..Request::default()
        }
        .check(&limits)
        .unwrap();
        assert_eq!((plain.size, plain.settings.iterations), (256, 50));
        let refused = |r: Request| r.check(&limits).unwrap_err().to_string();
        assert_eq!(
            refused(Request {
                size: Some(512),
                ..ok.clone()
            }),
            "size must be from 16 to 256, not 512"
        );
        assert_eq!(
            refused(Request {
                iterations: Some(51),
                ..ok.clone()
            }),
            "iterations must be from 1 to 50, not 51"
        );
        assert_eq!(
            refused(Request {
                style_weight: Some(-1.0),
                ..ok.clone()
            }),
            "style_weight must be a number >= 0, not -1"
        );
        assert_eq!(
            refused(Request {
                style_weight: Some(1e7),
                ..ok.clone()
            }),
            "style_weight must be a number from 0 to 1000000, not 10000000"
        );
        let mut thin = ok.check(&limits).unwrap();
        let inputs = Inputs {
            content: (1000, 10),
            styles: vec![(100, 100)],
            masks: vec![],
            init: None,
        };
        assert!(
            thin.fit(&inputs)
                .unwrap_err()
                .to_string()
                .contains("need at least 16 on each side"),
            "too thin for the deepest layer"
        );
    }
}
