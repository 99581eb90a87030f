//! A submission to `POST /api/jobs`, from its multipart fields to a job
//! that is known to fit: every field read and range-checked, the images'
//! sizes read from their headers, the run's memory estimated (the library's
//! [`restyle_request::Plan::fit`], the same estimate the CLI and Python use) against the
//! server's budget, and only then the uploads decoded (a few at a time,
//! within a memory budget) and re-encoded without metadata.
//!
//! | field | accepted |
//! | --- | --- |
//! | `content` | PNG, JPEG or WebP, at most `--max-megapixels`; or a clip (a video job, see [`crate::video`]) |
//! | `style` or `style_preset` | the same, or a shipped style's name |
//! | `size` | whole number, 16 ..= `--max-size` (long edge, pixels) |
//! | `iterations` | whole number, 1 ..= `--max-iterations` |
//! | `style_weight`, `content_weight`, `tv_weight` | number, 0 ..= 1e6 |
//! | `style_scale` | number, 0.1 ..= 4 |
//! | `seed` | whole number, 0 ..= 2^64 - 1 |
//! | `preserve_colors` | `none`, `luminance`, `histogram` |
//! | `method` | `gatys` (the default: the optimisation, minutes) or `fast` (one pass, about a second; see [`crate::instant`]) |
//! | `init` | where a `gatys` job starts: `content` (the default), `noise`, `fast` (the fast picture, shown at once; neural-style's `image` and `random` for the first two), or, sent as a file, the picture itself (PNG, JPEG or WebP, as the others; a browser sends the fast picture it painted) |
//!
//! A `fast` job takes `size`, `preserve_colors`, the painting and its regions; the
//! optimisation's fields are refused with it. Both methods need a painting of at least 32x32
//! pixels when the fast picture is made.
//!
//! and the fields of [`crate::regions`] (a second painting, masks).
//!
//! The fields are the one request's ([`restyle_request`]), by the same names as the command
//! line's flags and Python's keywords, and checked by it with the same words: options of the
//! other method are refused (a `fast` job with `iterations`), numbers out of range, paintings
//! too small, a job that would need more memory than `--max-job-memory`.
//!
//! A value that is not a number, or a word that is none of its choices, is a 400; what the
//! request refuses, a 422.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::Multipart;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::sync::Semaphore;

use restyle::fit_long_edge;
use restyle_request::{ErrorKind, Init, Inputs, Method, Plan, Request, RequestError};

use crate::error::ApiError;
use crate::jobs::{JobId, JobSettings};
use crate::limits::Limits;
use crate::regions::{CheckedRegions, RegionForm, RegionHeaders, REGION_FIELDS};
use crate::styles;
use crate::upload::{self, Header};
use crate::viewer::Viewer;

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

/// A job that passed every check, its uploads cleaned, ready to be stored.
pub struct CheckedJob {
    pub content: Vec<u8>,
    pub style: Vec<u8>,
    /// The picture the optimisation starts from, if the submission sent one.
    pub init: Option<Vec<u8>>,
    pub settings: JobSettings,
    /// The output's size.
    pub width: usize,
    pub height: usize,
    pub total_steps: usize,
    /// A second painting and masks, if any.
    pub regions: CheckedRegions,
}

/// A submission as read from the form, before any image is looked at.
pub struct Form {
    pub(crate) content: Option<Vec<u8>>,
    pub(crate) style: Option<Vec<u8>>,
    /// The picture a `gatys` job starts from (`init` sent as a file).
    pub(crate) init: Option<Vec<u8>>,
    pub(crate) preset: Option<String>,
    pub(crate) request: Request,
    pub(crate) regions: RegionForm,
}

/// A whole number (its range is the request's to check): 400 if it is no number, 422 if it is
/// a number but not a whole one, or too large to be one.
fn whole<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, ApiError> {
    let message = || format!("{name} must be a whole number, not `{text}`");
    match text.parse::<T>() {
        Ok(v) => Ok(v),
        Err(_) if text.parse::<f64>().is_ok() => Err(ApiError::Unprocessable(message())),
        Err(_) => Err(ApiError::BadRequest(message())),
    }
}

/// A number (its range is the request's to check): 400 if it is no number.
fn real(name: &str, text: &str) -> Result<f32, ApiError> {
    text.parse::<f32>()
        .map_err(|_| ApiError::BadRequest(format!("{name} must be a number, not `{text}`")))
}

/// The answer to an accepted submission, a picture's or a clip's: 201, the job's address in
/// `Location`, and the submitter's key (the page keeps it in a cookie, a script sends it back
/// as `X-Restyle-Key`).
pub(crate) fn created(id: &JobId, viewer: &Viewer) -> Response {
    let location = format!("/api/jobs/{id}");
    let body = json!({
        "id": id.as_str(), "url": location, "page": format!("/jobs/{id}"), "key": viewer.key(),
    });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("ascii"),
    );
    response
}

/// What the one request refused, as the API says it: the request's words, a 422 (a 500 for
/// a run that failed).
pub fn refused(error: RequestError) -> ApiError {
    match error.kind() {
        ErrorKind::Failed => ApiError::Internal(error.to_string()),
        _ => ApiError::Unprocessable(error.to_string()),
    }
}

/// Reads a submission's fields (a picture's or a clip's, see [`crate::video`]).
pub async fn read_form(mut multipart: Multipart) -> Result<Form, ApiError> {
    let mut form = Form {
        content: None,
        style: None,
        init: None,
        preset: None,
        request: Request::default(),
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
        // `init` is a word (content, noise, fast), or, sent as a file, the picture itself.
        if name == "init" && field.file_name().is_some() {
            let bytes = field.bytes().await?.to_vec();
            if !bytes.is_empty() {
                form.init = Some(bytes);
                form.request.init = Init::Image;
            }
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
        let r = &mut form.request;
        let word = |e: &dyn std::fmt::Display| ApiError::BadRequest(e.to_string());
        match name.as_str() {
            "style_preset" => form.preset = Some(text.to_owned()),
            "size" => r.size = Some(whole(&name, text)?),
            "iterations" => r.iterations = Some(whole(&name, text)?),
            "style_weight" => r.style_weight = Some(real(&name, text)?),
            "content_weight" => r.content_weight = Some(real(&name, text)?),
            "tv_weight" => r.tv_weight = Some(real(&name, text)?),
            "style_scale" => r.style_scale = Some(real(&name, text)?),
            "seed" => r.seed = Some(whole(&name, text)?),
            "preserve_colors" => r.preserve_colors = text.parse().map_err(|e| word(&e))?,
            "method" => r.method = text.parse().map_err(|e| word(&e))?,
            "init" => r.init = text.parse().map_err(|e| word(&e))?,
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field `{other}`: expected the files content and style (or style_preset), {SETTING_FIELDS}, and {REGION_FIELDS}"
                )))
            }
        }
    }
    Ok(form)
}

/// The long edges a job needs of its uploads: of the pictures (the photo, the masks, the
/// picture it starts from) the output's, of the paintings `style_scale` times that, at
/// least the output's.
fn needed_edges(plan: &Plan) -> (usize, usize) {
    let style_scale = plan.settings.style_scale.max(1.0);
    let painting = (plan.size as f32 * style_scale).ceil() as usize;
    (plan.size, painting)
}

/// A submission whose fields and image headers passed every check, its
/// uploads not decoded yet (see [`ReadJob::decode`]).
pub struct ReadJob {
    pub settings: JobSettings,
    content: (Vec<u8>, Header),
    style: (Vec<u8>, Header),
    init: Option<(Vec<u8>, Header)>,
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
    check(read_form(multipart).await?, limits).await
}

/// The painting a form names: its bytes, the shipped style's name if it is one, and whether it is.
pub(crate) fn painting(
    style: Option<Vec<u8>>,
    preset: Option<String>,
) -> Result<(Vec<u8>, Option<String>, bool), ApiError> {
    Ok(match (style, preset) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either a `style` file or a `style_preset`, not both".into(),
            ))
        }
        (Some(bytes), None) => (bytes, None, false),
        (None, Some(name)) => {
            let preset = styles::find(&name).ok_or_else(|| {
                let names: Vec<_> = styles::PRESETS.iter().map(|p| p.name).collect();
                ApiError::BadRequest(format!(
                    "no shipped style `{name}`; there are {}",
                    names.join(", ")
                ))
            })?;
            (preset.jpeg.to_vec(), Some(preset.name.to_owned()), true)
        }
        (None, None) => {
            return Err(ApiError::BadRequest(
                "the `style` image file (or a `style_preset`) is missing".into(),
            ))
        }
    })
}

/// Checks a picture's submission read by [`read_form`] (see [`read`]).
pub async fn check(form: Form, limits: Limits) -> Result<ReadJob, ApiError> {
    let content = form
        .content
        .ok_or_else(|| ApiError::BadRequest("the `content` image file is missing".into()))?;
    let (style, preset, shipped) = painting(form.style, form.preset)?;

    let regions = form.regions;
    let init = form.init;
    let used = regions.used();
    let request = Request {
        styles: 1 + usize::from(used.second_style),
        keep: used.keep,
        ..form.request
    };
    let mut plan = request.check(&limits.request()).map_err(refused)?;
    let settings = JobSettings::of_plan(&plan, preset, used);
    // Headers only: cheap, and enough to refuse what cannot run.
    let (content, style, settings, content_header, style_header, (width, height), total_steps) =
        tokio::task::spawn_blocking(move || {
            // Each decoded no larger than the job needs it (see `Header::shrunk`): the
            // pictures at the output's size, the paintings at the styles'.
            let (picture_edge, painting_edge) = needed_edges(&plan);
            let c = upload::header(&content, "content", &limits)?.shrunk(picture_edge);
            let s = upload::header(&style, "style", &limits)?;
            // A shipped painting is stored as it is.
            let s = if shipped { s } else { s.shrunk(painting_edge) };
            let init = match init {
                Some(bytes) => {
                    let header = upload::header(&bytes, "init", &limits)?.shrunk(picture_edge);
                    Some((bytes, header))
                }
                None => None,
            };
            let regions =
                RegionHeaders::read(regions, &limits)?.shrunk(picture_edge, painting_edge);
            let (style_2, masks) = regions.sizes();
            let inputs = Inputs {
                content: (c.width, c.height),
                styles: std::iter::once((s.width, s.height))
                    .chain(style_2)
                    .collect(),
                masks,
                init: init.as_ref().map(|(_, h)| (h.width, h.height)),
            };
            plan.fit(&inputs).map_err(refused)?;
            let size = fit_long_edge(c.width, c.height, plan.size);
            let steps = match plan.method {
                Method::Gatys => plan.settings.total_steps(c.width, c.height),
                Method::Fast => 1, // one pass
            };
            Ok::<_, ApiError>(((content, regions, init), style, settings, c, s, size, steps))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    let (content, regions, init) = content;

    Ok(ReadJob {
        settings,
        content: (content, content_header),
        style: (style, style_header),
        init,
        shipped,
        regions,
        width,
        height,
        total_steps,
    })
}

impl ReadJob {
    /// The work of painting this job's fast picture: the pixels its uploads decode to,
    /// and the pixels painted, once for each painting (see [`crate::fast_picture::work`]).
    pub fn fast_work(&self) -> u64 {
        let (style_2, masks) = self.regions.sizes();
        let pixels = |(w, h): (usize, usize)| (w as u64).saturating_mul(h as u64);
        let headers = [&self.content.1, &self.style.1];
        let decoded = headers
            .iter()
            .map(|h| pixels((h.width, h.height)))
            .chain(style_2.into_iter().chain(masks).map(pixels))
            .sum::<u64>();
        let paintings = 1 + u64::from(style_2.is_some());
        let painted = pixels((self.width, self.height)).saturating_mul(paintings);
        crate::fast_picture::work(decoded, painted)
    }

    /// Decodes the uploads, at most `decoding`'s permits at a time, and
    /// re-encodes them without metadata.
    pub async fn decode(self, decoding: Arc<Semaphore>) -> Result<CheckedJob, ApiError> {
        let Self {
            settings,
            content: (content, content_header),
            style: (style, style_header),
            init,
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
        let (content, style, init, regions) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let content = upload::clean(&content, content_header, "content")?;
            let init = init
                .map(|(bytes, header)| upload::clean(&bytes, header, "init"))
                .transpose()?;
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
                for (number, (role, bytes)) in (1..).zip(paintings) {
                    let image = restyle::io::decode_image(
                        bytes,
                        std::path::Path::new(role),
                        restyle::io::ImageLimits::default(),
                    )
                    .map_err(|e| ApiError::Unprocessable(format!("the {role} image: {e}")))?;
                    restyle_request::check_painting(number, &image).map_err(refused)?;
                }
            }
            Ok::<_, ApiError>((content, style, init, regions))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
        Ok(CheckedJob {
            content,
            style,
            init,
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
    fn numbers_are_read_here_and_ranged_by_the_request() {
        assert_eq!(whole::<i64>("iterations", "12").unwrap(), 12);
        for (text, status) in [("1e12", 422), ("2.5", 422), ("abc", 400), ("", 400)] {
            let e = whole::<i64>("iterations", text).unwrap_err();
            assert_eq!(e.status().as_u16(), status, "{text}: {e}");
            assert!(e.to_string().contains("must be a whole number"), "{e}");
        }
        assert_eq!(
            whole::<u64>("seed", "18446744073709551615").unwrap(),
            u64::MAX
        );
        assert_eq!(real("style_scale", "2").unwrap(), 2.0);
        assert_eq!(
            real("tv_weight", "lots").unwrap_err().status().as_u16(),
            400
        );
        let limits = Limits::default().request();
        let out_of_range = Request {
            styles: 1,
            style_scale: Some(5.0),
            ..Request::default()
        };
        let e = refused(out_of_range.check(&limits).unwrap_err());
        assert_eq!(e.status().as_u16(), 422, "{e}");
        assert!(
            e.to_string()
                .contains("style_scale must be a number from 0.1 to 4"),
            "{e}"
        );
    }
}
