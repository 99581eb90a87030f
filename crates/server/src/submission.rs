//! A submission to `POST /api/jobs`, from its multipart fields to a job
//! that is known to fit: every field read and range-checked, the images'
//! sizes read from their headers, the run's memory estimated (the library's
//! [`restyle::memory::fit`], the same estimate the CLI uses) against the
//! server's budget, and only then the uploads decoded (a few at a time,
//! within a memory budget) and re-encoded without metadata.
//!
//! | field | accepted |
//! | --- | --- |
//! | `content` | PNG, JPEG or WebP, at most `--max-megapixels` |
//! | `style` or `style_preset` | the same, or a shipped style's name |
//! | `size` | whole number, 16 ..= `--max-size` (long edge, pixels) |
//! | `iterations` | whole number, 1 ..= `--max-iterations` |
//! | `style_weight`, `content_weight`, `tv_weight` | number, 0 ..= 1e6 |
//! | `style_scale` | number, 0.1 ..= 4 |
//! | `seed` | whole number, 0 ..= 2^64 - 1 |
//! | `preserve_colors` | `none`, `luminance`, `histogram` |
//! | `method` | `gatys` (the default: the optimisation, minutes) or `fast` (one pass, about a second; see [`crate::instant`]) |
//! | `init` | where a `gatys` job starts: `content` (the default), `noise`, or `fast` (the fast picture, shown at once) |
//!
//! The names are the CLI's `--method` and `--init`. A `fast` job uses `size`,
//! `preserve_colors`, the painting and its regions; the optimisation's settings are kept but
//! play no part. Both methods need a painting of at least 32x32 pixels when the
//! fast picture is made.
//!
//! and the fields of [`crate::regions`] (a second painting, masks).
//!
//! A value that is not a number is a 400; a number out of range, or a job
//! that would need more memory than `--max-job-memory`, a 422.

use std::collections::HashSet;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::Multipart;
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::jobs::{JobSettings, Method, PreserveColors, Start};
use crate::limits::{Limits, MIN_SIZE};
use crate::regions::{CheckedRegions, RegionForm, RegionHeaders, REGION_FIELDS};
use crate::styles;
use crate::upload::{self, Header};

/// The form fields besides the files.
const SETTING_FIELDS: &str =
    "size, iterations, style_weight, content_weight, tv_weight, style_scale, preserve_colors, seed, method, init";

/// The text fields a form may have.
const TEXT_FIELDS: &[&str] = &[
    "style_preset",
    "style_preset_2",
    "size",
    "iterations",
    "style_weight",
    "content_weight",
    "tv_weight",
    "style_scale",
    "preserve_colors",
    "seed",
    "method",
    "init",
];

/// Loss weights beyond this only overflow the loss.
pub const MAX_WEIGHT: f64 = 1e6;
/// Style images are resized to `style_scale` times the output: below 0.1
/// nothing is left of them, above 4 the brush strokes outgrow any picture
/// (and the memory estimate refuses most sizes anyway).
pub const STYLE_SCALES: RangeInclusive<f64> = 0.1..=4.0;

/// A job that passed every check, its uploads cleaned, ready to be stored.
pub struct CheckedJob {
    pub content: Vec<u8>,
    pub style: Vec<u8>,
    pub settings: JobSettings,
    /// The output's size.
    pub width: usize,
    pub height: usize,
    pub total_steps: usize,
    /// A second painting and masks, if any.
    pub regions: CheckedRegions,
}

/// A submission as read from the form, before any image is looked at.
struct Form {
    content: Option<Vec<u8>>,
    style: Option<Vec<u8>>,
    preset: Option<String>,
    settings: JobSettings,
    regions: RegionForm,
}

/// A whole number in `range`: 400 if it is no number, 422 if out of range.
fn whole<T: TryFrom<u64>>(
    name: &str,
    text: &str,
    range: RangeInclusive<u64>,
) -> Result<T, ApiError> {
    let message = || {
        format!(
            "{name} must be a whole number from {} to {}, not `{text}`",
            range.start(),
            range.end()
        )
    };
    let value = match text.parse::<u64>() {
        Ok(v) => v,
        // A number, but negative, fractional or too large to be one.
        Err(_) if text.parse::<f64>().is_ok() => return Err(ApiError::Unprocessable(message())),
        Err(_) => return Err(ApiError::BadRequest(message())),
    };
    if !range.contains(&value) {
        return Err(ApiError::Unprocessable(message()));
    }
    T::try_from(value).map_err(|_| ApiError::Unprocessable(message()))
}

/// A finite number in `range`: 400 if it is no number, 422 if out of range.
fn real(name: &str, text: &str, range: RangeInclusive<f64>) -> Result<f32, ApiError> {
    let message = || {
        format!(
            "{name} must be a number from {} to {}, not `{text}`",
            range.start(),
            range.end()
        )
    };
    let value: f64 = text.parse().map_err(|_| ApiError::BadRequest(message()))?;
    if !(value.is_finite() && range.contains(&value)) {
        return Err(ApiError::Unprocessable(message()));
    }
    Ok(value as f32)
}

async fn read_form(mut multipart: Multipart, limits: &Limits) -> Result<Form, ApiError> {
    let mut form = Form {
        content: None,
        style: None,
        preset: None,
        settings: JobSettings::default(),
        regions: RegionForm::default(),
    };
    let mut seen = HashSet::new();
    while let Some(field) = multipart.next_field().await? {
        let name = field.name().unwrap_or_default().to_owned();
        if !seen.insert(name.clone()) {
            return Err(ApiError::BadRequest(format!(
                "the field `{name}` is given twice"
            )));
        }
        if let Some(slot) = form.regions.file_slot(&name) {
            let bytes = field.bytes().await?.to_vec();
            *slot = (!bytes.is_empty()).then_some(bytes);
            continue;
        }
        if name == "content" || name == "style" {
            let bytes = field.bytes().await?.to_vec();
            // A form whose file input was left empty sends an empty part.
            let slot = if name == "content" {
                &mut form.content
            } else {
                &mut form.style
            };
            *slot = (!bytes.is_empty()).then_some(bytes);
            continue;
        }
        // Unknown names are refused even when empty: nothing but the
        // fields below is read, so a form has a bounded number of them.
        if !TEXT_FIELDS.contains(&name.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown field `{name}`: expected the files content and style (or style_preset), {SETTING_FIELDS}, and {REGION_FIELDS}"
            )));
        }
        let text = field.text().await?;
        let text = text.trim();
        if text.is_empty() {
            continue; // an empty form control: the default
        }
        if form.regions.text(&name, text) {
            continue;
        }
        let s = &mut form.settings;
        let weight = |name: &str| real(name, text, 0.0..=MAX_WEIGHT);
        match name.as_str() {
            "style_preset" => form.preset = Some(text.to_owned()),
            "size" => s.size = whole(&name, text, MIN_SIZE as u64..=limits.max_size as u64)?,
            "iterations" => s.iterations = whole(&name, text, 1..=limits.max_iterations as u64)?,
            "style_weight" => s.style_weight = weight(&name)?,
            "content_weight" => s.content_weight = weight(&name)?,
            "tv_weight" => s.tv_weight = weight(&name)?,
            "style_scale" => s.style_scale = real(&name, text, STYLE_SCALES)?,
            "seed" => s.seed = whole(&name, text, 0..=u64::MAX)?,
            "preserve_colors" => {
                s.preserve_colors = PreserveColors::from_str(text).map_err(ApiError::BadRequest)?
            }
            "method" => s.method = Method::from_str(text).map_err(ApiError::BadRequest)?,
            "init" => s.init = Start::from_str(text).map_err(ApiError::BadRequest)?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field `{other}`: expected the files content and style (or style_preset), {SETTING_FIELDS}, and {REGION_FIELDS}"
                )))
            }
        }
    }
    Ok(form)
}

/// Refuses a Gatys job whose paintings, resized to `style_scale` times
/// each scale's long edge as the optimisation resizes them, would be too
/// small for the deepest layer: the job would only fail in its worker.
pub fn check_style_sizes(
    settings: &JobSettings,
    content: &Header,
    style: (usize, usize),
    second_style: Option<(usize, usize)>,
) -> Result<(), ApiError> {
    let s = settings.to_settings();
    let min = s.min_side();
    let styles = std::iter::once(("style", style)).chain(second_style.map(|p| ("style_2", p)));
    for (role, (w, h)) in styles {
        for scale in s.plan(content.width, content.height) {
            let long = scale.width.max(scale.height);
            let edge = ((long as f32 * s.style_scale).round() as usize).max(1);
            let (sw, sh) = restyle::fit_long_edge(w, h, edge);
            if sw.min(sh) < min {
                return Err(ApiError::Unprocessable(format!(
                    "the {role} image would be {sw}x{sh} pixels at style_scale {} of a {long}-pixel picture; the layers used need at least {min} on each side (raise style_scale or size)",
                    s.style_scale
                )));
            }
        }
    }
    Ok(())
}

/// Refuses a job whose estimated peak memory (the one estimate,
/// [`crate::estimate`], every decoded input counted) exceeds `budget`,
/// naming the largest size that fits.
pub fn check_memory(
    settings: &JobSettings,
    inputs: &crate::estimate::Inputs,
    budget: usize,
) -> Result<(), ApiError> {
    crate::estimate::fits(settings, inputs, budget)
        .map(|_| ())
        .map_err(|e| ApiError::Unprocessable(e.message("this server", "")))
}

/// A submission whose fields and image headers passed every check, its
/// uploads not decoded yet (see [`ReadJob::decode`]).
pub struct ReadJob {
    pub settings: JobSettings,
    content: (Vec<u8>, Header),
    style: (Vec<u8>, Header),
    /// A shipped painting: kept as it is.
    shipped: bool,
    regions: RegionHeaders,
    width: usize,
    height: usize,
    total_steps: usize,
}

/// Reads and checks a submission from its fields and its images' headers:
/// cheap, and enough to refuse what cannot run before anything is decoded.
pub async fn read(multipart: Multipart, limits: Limits) -> Result<ReadJob, ApiError> {
    let form = read_form(multipart, &limits).await?;
    let content = form
        .content
        .ok_or_else(|| ApiError::BadRequest("the `content` image file is missing".into()))?;
    let (style, settings, shipped) = match (form.style, form.preset) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either a `style` file or a `style_preset`, not both".into(),
            ))
        }
        (Some(bytes), None) => (bytes, form.settings, false),
        (None, Some(name)) => {
            let preset = styles::find(&name).ok_or_else(|| {
                let names: Vec<_> = styles::PRESETS.iter().map(|p| p.name).collect();
                ApiError::BadRequest(format!(
                    "no shipped style `{name}`; there are {}",
                    names.join(", ")
                ))
            })?;
            let settings = JobSettings {
                style_preset: Some(preset.name.to_owned()),
                ..form.settings
            };
            (preset.jpeg.to_vec(), settings, true)
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "the `style` image file (or a `style_preset`) is missing".into(),
            ))
        }
    };

    let regions = form.regions;

    let mut settings = JobSettings {
        regions: regions.used(),
        ..settings
    };
    if settings.method == Method::Fast {
        // The optimisation's step count plays no part in one pass: a default above this
        // server's limit is no reason to refuse.
        settings.iterations = settings.iterations.min(limits.max_iterations);
    }
    // Headers only: cheap, and enough to refuse what cannot run.
    let (content, style, settings, content_header, style_header, (width, height), total_steps) =
        tokio::task::spawn_blocking(move || {
            let c = upload::header(&content, "content", &limits)?;
            let s = upload::header(&style, "style", &limits)?;
            let regions = RegionHeaders::read(regions, &limits)?;
            let (size, mut steps) = limits.check_job(&settings, (c.width, c.height))?;
            let (style_2, masks) = regions.sizes();
            if settings.wants_fast_picture() {
                crate::instant::check(&s, style_2)?;
            }
            match settings.method {
                Method::Gatys => check_style_sizes(&settings, &c, (s.width, s.height), style_2)?,
                Method::Fast => steps = 1, // one pass
            }
            let inputs = crate::estimate::Inputs {
                content: (c.width, c.height),
                style: (s.width, s.height),
                style_2,
                masks,
            };
            check_memory(&settings, &inputs, limits.max_job_memory)?;
            Ok::<_, ApiError>(((content, regions), style, settings, c, s, size, steps))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let (content, regions) = content;

    Ok(ReadJob {
        settings,
        content: (content, content_header),
        style: (style, style_header),
        shipped,
        regions,
        width,
        height,
        total_steps,
    })
}

impl ReadJob {
    /// Decodes the uploads, at most `decoding`'s permits at a time, and
    /// re-encodes them without metadata.
    pub async fn decode(self, decoding: Arc<Semaphore>) -> Result<CheckedJob, ApiError> {
        let Self {
            settings,
            content: (content, content_header),
            style: (style, style_header),
            shipped,
            regions,
            width,
            height,
            total_steps,
        } = self;
        let wants_fast = settings.wants_fast_picture();
        // Decoding takes memory and a core: a few submissions at a time.
        let permit = decoding
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let (content, style, regions) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let content = upload::clean(&content, content_header, "content")?;
            // The shipped styles carry no metadata: kept as they are.
            let style = if shipped {
                style
            } else {
                upload::clean(&style, style_header, "style")?
            };
            let regions = regions.clean()?;
            if wants_fast {
                // A flat painting passes every header check, and would only
                // fail once painted.
                let paintings =
                    std::iter::once(("style", &style[..])).chain(regions.second_style());
                for (role, bytes) in paintings {
                    let image = restyle::io::decode_image(
                        bytes,
                        std::path::Path::new(role),
                        restyle::io::ImageLimits::default(),
                    )
                    .map_err(|e| ApiError::Unprocessable(format!("the {role} image: {e}")))?;
                    crate::instant::check_painting(&image, role)
                        .map_err(ApiError::Unprocessable)?;
                }
            }
            Ok::<_, ApiError>((content, style, regions))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(CheckedJob {
            content,
            style,
            settings,
            width,
            height,
            total_steps,
            regions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_checked_against_their_ranges() {
        assert_eq!(whole::<usize>("iterations", "12", 1..=1000).unwrap(), 12);
        for (text, status) in [
            ("0", 422),
            ("1e12", 422),
            ("-3", 422),
            ("2.5", 422),
            ("abc", 400),
        ] {
            let e = whole::<usize>("iterations", text, 1..=1000).unwrap_err();
            assert_eq!(e.status().as_u16(), status, "{text}: {e}");
            assert!(e.to_string().contains("from 1 to 1000"), "{e}");
        }
        assert_eq!(real("style_scale", "2", STYLE_SCALES).unwrap(), 2.0);
        for text in ["1000", "1e30", "NaN", "inf", "-1", "0.01"] {
            let e = real("style_scale", text, STYLE_SCALES).unwrap_err();
            assert_eq!(e.status().as_u16(), 422, "{text}: {e}");
        }
        assert_eq!(
            real("tv_weight", "lots", 0.0..=MAX_WEIGHT)
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            whole::<u64>("seed", "18446744073709551615", 0..=u64::MAX).unwrap(),
            u64::MAX
        );
    }
}
