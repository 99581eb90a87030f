//! What a job is: its id, its state, the settings it asked for, and the
//! JSON the API shows for it.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use restyle::{ColorMode, Settings};
use restyle_request::{BudgetSource, Init, Limits, Method, Plan, Request, RequestError};
use serde::{Deserialize, Serialize};

/// A job's id: 128 random bits as 32 lowercase hex digits. Ids are checked
/// for exactly that form before they reach the database or a file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    /// A fresh id from the operating system's random source (via a
    /// cryptographically secure generator): unguessable.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for JobId {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if s.len() == 32
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(())
        }
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// Done, failed or cancelled: nothing will change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// What a job asked for: the few settings the page and API expose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobSettings {
    /// Long edge of the output, pixels.
    pub size: usize,
    pub iterations: usize,
    pub style_weight: f32,
    pub content_weight: f32,
    pub tv_weight: f32,
    pub style_scale: f32,
    pub preserve_colors: ColorMode,
    pub seed: u64,
    /// The shipped style used, if one was picked instead of an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_preset: Option<String>,
    /// Jobs stored before there was a choice are Gatys jobs from the content.
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub init: Init,
    /// The regions the form gave (a second painting, masks), as the job
    /// page shows them; the worker reads the regions themselves from the
    /// job's images. Jobs stored before this was kept show none.
    #[serde(default, skip_serializing_if = "RegionsUsed::is_empty")]
    pub regions: RegionsUsed,
    /// A video job's clip (see [`crate::video`]); none for a picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<Clip>,
}

/// What a video job's clip is, as probed when it was submitted: the job's steps are its frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// Frames to paint.
    pub frames: u64,
    pub seconds: f64,
    pub frames_per_second: f64,
    /// Whether the clip has a sound track (copied into the result).
    pub sound: bool,
    /// The part of a long clip this job paints, if it is a chunk of another job's clip
    /// (see [`crate::chunks`]): then `frames` counts its warm-up too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunk: Option<Chunk>,
}

/// A chunk of a long clip: painted by whichever worker takes it, joined by its parent's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// The job whose clip this is.
    pub parent: String,
    pub index: usize,
    /// The first frame it gives the joined clip, and how many.
    pub first: u64,
    pub frames: u64,
    /// Frames painted before `first` (and dropped, or cross-faded with the chunk before):
    /// the temporal state is warm at `first`.
    pub warm_up: u64,
}

/// Which region fields a job was given (see [`crate::regions`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RegionsUsed {
    /// A second painting (`style_2` or `style_preset_2`).
    #[serde(default)]
    pub second_style: bool,
    /// The shipped style that is the second painting, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style_preset_2: Option<String>,
    /// Where painting 1 goes (`mask_1`), painting 2 (`mask_2`), the photo kept (`keep`).
    #[serde(default)]
    pub mask_1: bool,
    #[serde(default)]
    pub mask_2: bool,
    #[serde(default)]
    pub keep: bool,
}

impl RegionsUsed {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for JobSettings {
    fn default() -> Self {
        let d = Settings::default();
        Self {
            size: d.size,
            iterations: d.iterations,
            style_weight: d.style_weight,
            content_weight: d.content_weight,
            tv_weight: d.tv_weight,
            style_scale: d.style_scale,
            preserve_colors: ColorMode::None,
            seed: d.seed,
            style_preset: None,
            method: Method::Gatys,
            init: Init::Content,
            regions: RegionsUsed::default(),
            clip: None,
        }
    }
}

impl JobSettings {
    /// Whether the job needs the fast picture: it is the result, or where the optimisation starts.
    pub fn wants_fast_picture(&self) -> bool {
        self.method == Method::Fast || self.init == Init::Fast
    }

    /// The settings a checked request stores: what it asked for, the defaults filled in.
    pub fn of_plan(plan: &Plan, style_preset: Option<String>, regions: RegionsUsed) -> Self {
        let s = &plan.settings;
        Self {
            size: plan.size,
            iterations: s.iterations,
            style_weight: s.style_weight,
            content_weight: s.content_weight,
            tv_weight: s.tv_weight,
            style_scale: s.style_scale,
            preserve_colors: plan.color,
            seed: s.seed,
            style_preset,
            method: plan.method,
            init: plan.init,
            regions,
            clip: None,
        }
    }

    /// The one request this job is (what it asked for, as stored): the options of its method.
    pub fn request(&self) -> Request {
        // A fast job stores the optimisation's defaults too; they were not asked for.
        let gatys = self.method == Method::Gatys;
        Request {
            method: self.method,
            styles: 1 + usize::from(self.regions.second_style),
            keep: self.regions.keep,
            size: Some(self.size as i64),
            preserve_colors: self.preserve_colors,
            init: self.init,
            iterations: gatys.then_some(self.iterations as i64),
            style_weight: gatys.then_some(self.style_weight),
            content_weight: gatys.then_some(self.content_weight),
            tv_weight: gatys.then_some(self.tv_weight),
            style_scale: gatys.then_some(self.style_scale),
            seed: gatys.then_some(self.seed),
            ..Request::default()
        }
    }

    /// The job's plan, without an operator's limits (a stored job passed them when it was
    /// submitted), or with `memory` as the budget.
    pub fn plan(&self, memory: Option<(usize, BudgetSource)>) -> Result<Plan, RequestError> {
        self.request().check(&Limits {
            memory,
            ..Limits::default()
        })
    }

    /// The library's settings for this job (an `init` fast job's initial image is set by the
    /// worker, which has the picture).
    pub fn to_settings(&self) -> Settings {
        match self.plan(None) {
            Ok(plan) => plan.settings,
            // Stored jobs passed the checks; should one not, the defaults at its size.
            Err(_) => Settings {
                size: self.size,
                ..Settings::default()
            },
        }
    }
}

/// A job as stored.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub id: JobId,
    pub seq: i64,
    pub state: JobState,
    pub settings: JobSettings,
    pub created_ms: i64,
    pub started_ms: Option<i64>,
    pub finished_ms: Option<i64>,
    pub step: i64,
    pub total_steps: i64,
    pub eta_ms: Option<i64>,
    pub elapsed_ms: Option<i64>,
    pub loss: Option<f64>,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub worker: Option<String>,
    pub heartbeat_ms: Option<i64>,
    pub attempts: i64,
    /// The step the saved preview shows (a re-queued job resumes from it).
    pub checkpoint_step: i64,
    /// Bumped whenever a new preview image is saved.
    pub preview_version: i64,
    pub width: i64,
    pub height: i64,
    /// The submitter's key hash; none for jobs made before keys.
    pub owner: Option<String>,
}

/// A job as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobView {
    pub id: String,
    pub state: JobState,
    /// Jobs ahead of this one (queued jobs only; 0 = next).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    pub step: u64,
    pub total_steps: u64,
    /// Estimated seconds left (running jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_seconds: Option<f64>,
    /// Seconds the current run has taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elapsed_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loss: Option<f64>,
    /// Why the job failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub width: u64,
    pub height: u64,
    pub settings: JobSettings,
    /// Unix time, milliseconds.
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Times a worker has taken the job (more than 1 after a restart).
    pub attempts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// The latest preview image, while there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_url: Option<String>,
}

impl JobRecord {
    pub fn view(&self, position: Option<u64>) -> JobView {
        let id = self.id.as_str();
        let has_preview = self.preview_version > 0 && self.state != JobState::Done;
        JobView {
            id: id.to_owned(),
            state: self.state,
            position: if self.state == JobState::Queued {
                position
            } else {
                None
            },
            step: self.step.max(0) as u64,
            total_steps: self.total_steps.max(0) as u64,
            eta_seconds: (self.state == JobState::Running)
                .then_some(self.eta_ms)
                .flatten()
                .map(|ms| ms as f64 / 1e3),
            elapsed_seconds: self.elapsed_ms.map(|ms| ms as f64 / 1e3),
            loss: self.loss.filter(|l| l.is_finite()),
            error: self.error.clone(),
            cancel_requested: self.cancel_requested,
            width: self.width.max(0) as u64,
            height: self.height.max(0) as u64,
            settings: self.settings.clone(),
            created_at: self.created_ms,
            finished_at: self.finished_ms,
            attempts: self.attempts.max(0) as u64,
            worker: self.worker.clone(),
            preview_url: has_preview
                .then(|| format!("/api/jobs/{id}/preview?v={}", self.preview_version)),
            result_url: (self.state == JobState::Done).then(|| format!("/api/jobs/{id}/result")),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_hex_digits_and_differ() {
        let a = JobId::random();
        let b = JobId::random();
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<JobId>(), Ok(a.clone()));
        for bad in [
            "",
            "../etc/passwd",
            &"A".repeat(32),
            &"0".repeat(31),
            &"0".repeat(33),
            "0123456789abcdef0123456789abcde/",
        ] {
            assert!(bad.parse::<JobId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn states_round_trip() {
        for s in [
            JobState::Queued,
            JobState::Running,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
    }
}
