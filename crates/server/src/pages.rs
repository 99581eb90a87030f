//! The web page: server-rendered HTML from the templates in `templates/`
//! (askama: checked when the crate compiles, every value HTML-escaped
//! unless marked safe), with a little plain JavaScript (`assets/app.js`)
//! for previews, drag-and-drop, submitting through the API and the live
//! progress stream. No build step: templates and assets are in the binary.

use askama::Template;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

use crate::access;
use crate::error::ApiError;
use restyle::ColorMode;
use restyle_request::{Init, Method};

use crate::jobs::{JobSettings, JobState, JobView};
use crate::limits::Limits;
use crate::state::AppState;
use crate::storage::Scope;
use crate::styles::{self, Preset};
use crate::viewer::Viewer;

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const REGIONS_JS: &str = include_str!("../assets/regions.js");
const ICON: &str = include_str!("../assets/favicon.svg");

/// Style strengths the page offers (`style_weight`), weakest first.
pub const STRENGTHS: &[(f32, &str)] = &[
    (3.0, "Subtle"),
    (10.0, "Balanced"),
    (30.0, "Strong"),
    (100.0, "Very strong"),
];

fn strength_label(weight: f32) -> String {
    STRENGTHS.iter().find(|(w, _)| *w == weight).map_or_else(
        || format!("style weight {weight}"),
        |(_, l)| (*l).to_owned(),
    )
}

/// What the form's time estimates are made of, on two idle cores (README: a 512 px Gatys
/// step takes 0.7 s, about 3.6 s a megapixel; the fast command takes about a second at
/// 512 px, most of it fixed costs). Rough on purpose: the page says "about".
pub struct Timing {
    pub fast_fixed: f32,
    pub fast_per_mp: f32,
    pub gatys_per_mp_step: f32,
}

pub const TIMING: Timing = Timing {
    fast_fixed: 0.4,
    fast_per_mp: 1.5,
    gatys_per_mp_step: 3.6,
};

/// A template as a page, or a 500 if it cannot be rendered.
fn render(template: &impl Template) -> Result<Html<String>, ApiError> {
    template
        .render()
        .map(Html)
        .map_err(|e| ApiError::Internal(format!("cannot render the page: {e}")))
}

/// One `<option>` of a select.
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// One picture in the gallery.
struct Card {
    id: String,
    image: String,
    state: &'static str,
    label: String,
    width: u64,
    height: u64,
    progress: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage<'a> {
    title: &'a str,
    page_class: &'a str,
    limits: Limits,
    presets: &'a [Preset],
    sizes: Vec<Choice>,
    iterations: Vec<Choice>,
    strengths: Vec<Choice>,
    cards: Vec<Card>,
    max_mb: usize,
    max_mp: String,
    timing: Timing,
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage<'a> {
    title: &'a str,
    page_class: &'a str,
    id: &'a str,
    short: &'a str,
    state: &'static str,
    state_label: String,
    image: String,
    /// A finished video job's result, played instead of the picture.
    video: Option<String>,
    /// A video job: its steps are frames.
    is_clip: bool,
    /// Whether the photo and painting are still kept, to be shown.
    show_inputs: bool,
    /// (name, value) rows of the settings used.
    settings: Vec<(&'static str, String)>,
    /// The job as JSON, safe inside a script element.
    data: String,
}

#[derive(Template)]
#[template(path = "token.html")]
struct TokenPage<'a> {
    title: &'a str,
    page_class: &'a str,
    /// Where to go once signed in (a path on this server).
    next: &'a str,
    /// A wrong token was just tried.
    wrong: bool,
}

#[derive(Template)]
#[template(path = "not_found.html")]
struct NotFoundPage<'a> {
    title: &'a str,
    page_class: &'a str,
}

/// The usual choices this server allows, and its maximum when that is none of them.
fn choices(usual: &[usize], max: usize) -> Vec<usize> {
    let mut v: Vec<usize> = usual.iter().copied().filter(|&n| n <= max).collect();
    if v.last() != Some(&max) && !usual.contains(&max) {
        v.push(max);
    }
    v
}

/// `allowed` as options, the largest not above `default` selected.
fn options(allowed: &[usize], default: usize, note: impl Fn(usize) -> String) -> Vec<Choice> {
    let chosen = allowed
        .iter()
        .copied()
        .filter(|&n| n <= default)
        .max()
        .unwrap_or(allowed[0]);
    allowed
        .iter()
        .map(|&n| Choice {
            value: n.to_string(),
            label: note(n),
            selected: n == chosen,
        })
        .collect()
}

/// `GET /`: the form and the viewer's gallery.
pub async fn index(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Result<Html<String>, ApiError> {
    let limits = state.limits;
    let default = JobSettings::default();
    let sizes = options(
        &choices(&[256, 384, 512, 768, 1024, 1536, 2048], limits.max_size),
        default.size,
        |s| match s {
            256 => format!("{s} px (quick)"),
            512 => format!("{s} px (standard)"),
            _ => format!("{s} px"),
        },
    );
    let iterations = options(
        &choices(&[25, 55, 100, 300], limits.max_iterations),
        default.iterations,
        |n| match n {
            25 => format!("{n} (draft)"),
            55 => format!("{n} (standard)"),
            100 => format!("{n} (fine)"),
            300 => format!("{n} (finest)"),
            _ => n.to_string(),
        },
    );
    let strengths = STRENGTHS
        .iter()
        .map(|(w, label)| Choice {
            value: w.to_string(),
            label: (*label).to_owned(),
            selected: *w == default.style_weight,
        })
        .collect();
    let owner = viewer.owner();
    let scope = match (&owner, viewer.admin) {
        (_, true) => Some(Scope::All),
        (Some(owner), false) => Some(Scope::Owner(owner)),
        (None, false) => None,
    };
    let jobs = match scope {
        Some(scope) => state.store.list(60, scope).await?,
        None => Vec::new(),
    };
    let kept = state.retention.keep_uploads;
    let cards = jobs
        .iter()
        .map(|(j, pos)| card(&j.view(*pos), kept))
        .collect();
    render(&IndexPage {
        title: "Paint your photo",
        page_class: "index",
        limits,
        presets: styles::PRESETS,
        sizes,
        iterations,
        strengths,
        cards,
        max_mb: limits.max_upload_bytes / (1024 * 1024),
        max_mp: format!("{:.0}", limits.max_pixels as f64 / 1e6),
        timing: TIMING,
    })
}

fn state_label(view: &JobView) -> String {
    match view.state {
        JobState::Queued => match view.position {
            Some(0) => "Next in queue".into(),
            Some(n) => format!("Queued ({n} ahead)"),
            None => "Queued".into(),
        },
        JobState::Running if view.cancel_requested => "Stopping".into(),
        JobState::Running => "Running".into(),
        JobState::Done => "Done".into(),
        JobState::Failed => "Failed".into(),
        JobState::Cancelled => "Cancelled".into(),
    }
}

/// The picture that best shows a job: the result, the latest preview, or the photo.
/// The picture that stands for a job: its result, its preview, or its
/// photo while the photo is kept (a finished job's uploads are dropped
/// unless `--keep-uploads`), else the icon.
fn thumbnail(view: &JobView, uploads_kept: bool) -> String {
    // A clip's result and upload are no pictures: its latest frame while it is painted.
    if view.settings.clip.is_some() {
        return view
            .preview_url
            .clone()
            .unwrap_or_else(|| "/assets/favicon.svg".to_owned());
    }
    view.result_url
        .clone()
        .or_else(|| view.preview_url.clone())
        .unwrap_or_else(|| {
            if uploads_kept || !finished(view.state) {
                format!("/api/jobs/{}/content", view.id)
            } else {
                "/assets/favicon.svg".to_owned()
            }
        })
}

fn finished(state: JobState) -> bool {
    matches!(
        state,
        JobState::Done | JobState::Failed | JobState::Cancelled
    )
}

fn card(view: &JobView, uploads_kept: bool) -> Card {
    let progress = match view.state {
        JobState::Running if view.total_steps > 0 => {
            format!(" · {}%", view.step * 100 / view.total_steps)
        }
        _ => String::new(),
    };
    let progress = match &view.settings.clip {
        Some(clip) => format!(" · clip, {} frames{progress}", clip.frames),
        None => progress,
    };
    Card {
        id: view.id.clone(),
        image: thumbnail(view, uploads_kept),
        state: view.state.as_str(),
        label: state_label(view),
        width: view.width,
        height: view.height,
        progress,
    }
}

/// `GET /jobs/{id}`: the job, live (to whoever may see it; others get 404).
pub async fn job(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let view = match access::path_id(id) {
        Ok(id) => access::view(&state, &viewer, &id).await,
        Err(e) => Err(e),
    };
    let view = match view {
        Ok(v) => v,
        Err(ApiError::NotFound) => return not_found().await.into_response(),
        Err(e) => return e.into_response(),
    };
    let s = &view.settings;
    let painting = |preset: &Option<String>| match preset {
        Some(name) => styles::find(name)
            .map_or_else(|| name.clone(), |p| format!("{} ({})", p.title, p.artist)),
        None => "your upload".to_owned(),
    };
    let style = painting(&s.style_preset);
    let colours = match s.preserve_colors {
        ColorMode::None => "the painting's",
        ColorMode::Luminance => "the photo's",
        ColorMode::Histogram => "the photo's (painting recoloured)",
    };
    let size = ("Size", format!("{}×{} px", view.width, view.height));
    let regions = &s.regions;
    let mut region_rows = Vec::new();
    if regions.second_style {
        region_rows.push(("Second painting", painting(&regions.style_preset_2)));
    }
    let marked: Vec<&str> = [
        (regions.mask_1, "painting 1"),
        (regions.mask_2, "painting 2"),
        (regions.keep, "the photo kept"),
    ]
    .into_iter()
    .filter_map(|(given, name)| given.then_some(name))
    .collect();
    if !marked.is_empty() {
        region_rows.push(("Painted regions", marked.join(", ")));
    }
    let settings = match s.method {
        Method::Fast => [
            size,
            ("Method", "Fast (one pass)".to_owned()),
            ("Colours", colours.to_owned()),
            ("Style", style),
        ]
        .into_iter()
        .chain(region_rows)
        .collect(),
        Method::Gatys => vec![
            size,
            (
                "Method",
                match s.init {
                    Init::Fast => "Gatys (optimised from the fast picture)",
                    Init::Content => "Gatys (optimised from the photo)",
                    Init::Image => "Gatys (optimised from the fast picture sent with it)",
                    Init::Noise => "Gatys (optimised from noise)",
                }
                .to_owned(),
            ),
            ("Iterations", s.iterations.to_string()),
            ("Style strength", strength_label(s.style_weight)),
            ("Colours", colours.to_owned()),
            ("Style", style),
        ]
        .into_iter()
        .chain(region_rows)
        .chain([("Seed", s.seed.to_string())])
        .collect(),
    };
    // JSON inside a script element is not HTML-escaped (the script reads it
    // as text): `<`, `>` and `&` become JSON escapes, so no `</script>` can end it.
    let data = serde_json::to_string(&view)
        .expect("a job serialises")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let mut settings: Vec<(&'static str, String)> = settings;
    if let Some(clip) = &s.clip {
        settings.insert(
            1,
            (
                "Clip",
                format!(
                    "{} frames, {:.1} s at {:.2} frames/s, {}",
                    clip.frames,
                    clip.seconds,
                    clip.frames_per_second,
                    if clip.sound { "sound kept" } else { "no sound" }
                ),
            ),
        );
    }
    let video = s.clip.as_ref().and(view.result_url.clone());
    let title = format!("Job {}", &view.id[..8]);
    let page = JobPage {
        title: &title,
        page_class: "job",
        id: &view.id,
        short: &view.id[..8],
        state: view.state.as_str(),
        state_label: state_label(&view),
        image: thumbnail(&view, state.retention.keep_uploads),
        video,
        is_clip: s.clip.is_some(),
        // A clip's upload is no picture to show beside its painting.
        show_inputs: (state.retention.keep_uploads || !finished(view.state)) && s.clip.is_none(),
        settings,
        data,
    };
    render(&page).into_response()
}

pub async fn not_found() -> impl IntoResponse {
    let page = NotFoundPage {
        title: "Not found",
        page_class: "error",
    };
    (StatusCode::NOT_FOUND, render(&page))
}

/// The page asking for the token, then going on to `next` (a local path).
pub fn token_page(next: &str, wrong: bool) -> String {
    let page = TokenPage {
        title: "Token needed",
        page_class: "error",
        next,
        wrong,
    };
    page.render()
        .unwrap_or_else(|e| format!("cannot render the page: {e}"))
}

/// `GET /assets/{file}`: the embedded CSS, JavaScript and icon.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        "regions.js" => (REGIONS_JS, "text/javascript; charset=utf-8"),
        "favicon.svg" => (ICON, "image/svg+xml"),
        _ => return not_found().await.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// `GET /assets/styles/{name}.jpg` and `{name}-thumb.jpg`: the shipped paintings.
pub async fn style_image(Path(file): Path<String>) -> Response {
    let Some(stem) = file.strip_suffix(".jpg") else {
        return not_found().await.into_response();
    };
    let (name, thumb) = match stem.strip_suffix("-thumb") {
        Some(name) => (name, true),
        None => (stem, false),
    };
    let Some(preset) = styles::find(name) else {
        return not_found().await.into_response();
    };
    let bytes = if thumb {
        preset.thumbnail()
    } else {
        preset.jpeg
    };
    (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_templates_are_escaped() {
        let html = token_page(r#"/jobs/"><script>alert(1)</script>"#, true);
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
            "{html}"
        );
        assert!(html.contains(r#"action="/token""#) && html.contains(r#"method="post""#));
    }
}
