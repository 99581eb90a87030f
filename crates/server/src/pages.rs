//! The web page: server-rendered HTML from the templates in `assets/`,
//! with a little plain JavaScript (`assets/app.js`) for previews,
//! drag-and-drop, submitting through the API and the live progress stream.
//! No build step: the assets are embedded in the binary.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::access;
use crate::error::ApiError;
use crate::jobs::{JobState, JobView, PreserveColors};
use crate::state::AppState;
use crate::styles;

const LAYOUT: &str = include_str!("../assets/layout.html");
const INDEX: &str = include_str!("../assets/index.html");
const JOB: &str = include_str!("../assets/job.html");
const TOKEN: &str = include_str!("../assets/token.html");
const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");
const ICON: &str = include_str!("../assets/favicon.svg");

/// Text made safe for HTML, in elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills `{{name}}` slots with HTML the caller made safe.
fn fill(template: &str, slots: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in slots {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
    }
    out
}

fn page(title: &str, body_class: &str, body: &str) -> Html<String> {
    Html(fill(
        LAYOUT,
        &[
            ("title", &escape(title)),
            ("page", body_class),
            ("body", body),
        ],
    ))
}

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

/// `GET /`: the form and the gallery.
pub async fn index(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let limits = state.limits;
    let presets: String = styles::PRESETS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            format!(
                r#"<label class="preset"><input type="radio" name="style_preset" value="{name}"{checked}><img src="/assets/styles/{name}-thumb.jpg" alt="" width="120" height="90"><span>{title}<small>{artist}</small></span></label>"#,
                name = escape(p.name),
                checked = if i == 0 { " checked" } else { "" },
                title = escape(p.title),
                artist = escape(p.artist),
            )
        })
        .collect();
    let default = crate::jobs::JobSettings::default();
    // The usual choices this server allows, and its maximum when that is none of them.
    let choices = |usual: &[usize], max: usize| {
        let mut v: Vec<usize> = usual.iter().copied().filter(|&n| n <= max).collect();
        if v.last() != Some(&max) && !usual.contains(&max) {
            v.push(max);
        }
        v
    };
    let sizes_allowed = choices(&[256, 384, 512, 768, 1024, 1536, 2048], limits.max_size);
    let default_size = sizes_allowed
        .iter()
        .copied()
        .filter(|&s| s <= default.size)
        .max()
        .unwrap_or(sizes_allowed[0]);
    let sizes: String = sizes_allowed
        .iter()
        .map(|&s| {
            let selected = if s == default_size { " selected" } else { "" };
            let note = match s {
                256 => " (quick)",
                512 => " (standard)",
                _ => "",
            };
            format!(r#"<option value="{s}"{selected}>{s} px{note}</option>"#)
        })
        .collect();
    let steps_allowed = choices(&[100, 300, 500, 1000], limits.max_iterations);
    let default_steps = steps_allowed
        .iter()
        .copied()
        .filter(|&n| n <= default.iterations)
        .max()
        .unwrap_or(steps_allowed[0]);
    let iterations: String = steps_allowed
        .iter()
        .map(|&n| {
            let selected = if n == default_steps { " selected" } else { "" };
            let note = match n {
                100 => " (draft)",
                300 => " (standard)",
                500 => " (fine)",
                1000 => " (finest)",
                _ => "",
            };
            format!(r#"<option value="{n}"{selected}>{n}{note}</option>"#)
        })
        .collect();
    let strengths: String = STRENGTHS
        .iter()
        .map(|(w, label)| {
            let selected = if *w == default.style_weight {
                " selected"
            } else {
                ""
            };
            format!(r#"<option value="{w}"{selected}>{label}</option>"#)
        })
        .collect();
    let jobs = state.store.list(60).await?;
    let gallery: String = if jobs.is_empty() {
        r#"<p class="empty">No pictures yet. The ones you make appear here.</p>"#.to_owned()
    } else {
        jobs.iter().map(|(j, pos)| card(&j.view(*pos))).collect()
    };
    let body = fill(
        INDEX,
        &[
            ("presets", &presets),
            ("sizes", &sizes),
            ("iterations", &iterations),
            ("strengths", &strengths),
            ("gallery", &gallery),
            ("max_upload", &limits.max_upload_bytes.to_string()),
            (
                "max_mb",
                &format!("{}", limits.max_upload_bytes / (1024 * 1024)),
            ),
            ("max_mp", &format!("{:.0}", limits.max_pixels as f64 / 1e6)),
            ("max_queue", &limits.max_queue.to_string()),
        ],
    );
    Ok(page("Paint your photo", "index", &body))
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
fn thumbnail(view: &JobView) -> String {
    view.result_url
        .clone()
        .or_else(|| view.preview_url.clone())
        .unwrap_or_else(|| format!("/api/jobs/{}/content", view.id))
}

fn card(view: &JobView) -> String {
    let progress = match view.state {
        JobState::Running if view.total_steps > 0 => {
            format!(" · {}%", view.step * 100 / view.total_steps)
        }
        _ => String::new(),
    };
    format!(
        r#"<a class="job-card" href="/jobs/{id}" data-id="{id}"><img src="{img}" alt="" loading="lazy"><span class="badge state-{state}">{label}</span><span class="meta">{w}×{h}{progress}</span></a>"#,
        id = escape(&view.id),
        img = escape(&thumbnail(view)),
        state = view.state.as_str(),
        label = escape(&state_label(view)),
        w = view.width,
        h = view.height,
    )
}

/// `GET /jobs/{id}`: the job, live.
pub async fn job(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let view = match access::parse_id(&id) {
        Ok(id) => access::view(&state, &id).await,
        Err(e) => Err(e),
    };
    let view = match view {
        Ok(v) => v,
        Err(ApiError::NotFound) => return not_found().await.into_response(),
        Err(e) => return e.into_response(),
    };
    let s = &view.settings;
    let style = match &s.style_preset {
        Some(name) => styles::find(name)
            .map_or_else(|| name.clone(), |p| format!("{} ({})", p.title, p.artist)),
        None => "your upload".into(),
    };
    let colours = match s.preserve_colors {
        PreserveColors::None => "the painting's",
        PreserveColors::Luminance => "the photo's",
        PreserveColors::Histogram => "the photo's (painting recoloured)",
    };
    let settings = format!(
        "<dt>Size</dt><dd>{}×{} px</dd><dt>Iterations</dt><dd>{}</dd><dt>Style strength</dt><dd>{}</dd>\
         <dt>Colours</dt><dd>{}</dd><dt>Style</dt><dd>{}</dd><dt>Seed</dt><dd>{}</dd>",
        view.width,
        view.height,
        s.iterations,
        escape(&strength_label(s.style_weight)),
        colours,
        escape(&style),
        s.seed
    );
    // JSON inside a script element: `<` escaped so no `</script>` can close it.
    let data = serde_json::to_string(&view)
        .expect("a job serialises")
        .replace('<', "\\u003c");
    let body = fill(
        JOB,
        &[
            ("id", &escape(&view.id)),
            ("short", &escape(&view.id[..8])),
            ("state", view.state.as_str()),
            ("state_label", &escape(&state_label(&view))),
            ("image", &escape(&thumbnail(&view))),
            ("settings", &settings),
            ("data", &data),
        ],
    );
    page(&format!("Job {}", &view.id[..8]), "job", &body).into_response()
}

pub async fn not_found() -> impl IntoResponse {
    let body = r#"<section class="card narrow"><h1>Not found</h1><p>There is no such page or job (it may have been deleted).</p><p><a class="button primary" href="/">Make a new picture</a></p></section>"#;
    (StatusCode::NOT_FOUND, page("Not found", "error", body))
}

/// The page asking for the token.
pub fn token_page() -> String {
    fill(
        LAYOUT,
        &[
            ("title", "Token needed"),
            ("page", "error"),
            ("body", TOKEN),
        ],
    )
}

/// `GET /assets/{file}`: the embedded CSS, JavaScript and icon.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
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
    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            super::escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
