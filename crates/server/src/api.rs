//! The JSON API (`/api/...`); the page uses it too. A job is seen only by
//! its submitter (the key in `X-Restyle-Key` or the page's cookie, see
//! [`crate::viewer`]) and the operator; to anyone else it does not exist.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /api/jobs` (multipart: `content`, `style` or `style_preset`, settings, `method`; see [`crate::submission`]; a clip as `content`: [`crate::video`]) | 201 `{"id": ..., "key": ...}`; 503 when a `fast` job finds the instant lane busy; 429 beyond the client's share ([`crate::fair`]) |
//! | `GET /api/jobs` | `{"jobs": [job, ...]}`, the viewer's, newest first |
//! | `GET /api/jobs/{id}` | the job |
//! | `GET /api/jobs/{id}/events` | server-sent events: `job` with the job whenever it changes (at most `--stream-lifetime`; 429 beyond a client's or a job's streams) |
//! | `GET /api/jobs/{id}/result` | the result (PNG; a video job's MP4, with range requests); `?download=1` as an attachment |
//! | `GET /api/jobs/{id}/{preview,content,style}` | the latest preview, the uploads |
//! | `POST /api/jobs/{id}/cancel` | the job (cancelled, or `cancel_requested` while it stops) |
//! | `DELETE /api/jobs/{id}` | 204 |
//! | `GET /api/styles` | the shipped styles |
//! | `GET /api/health` | `{"ok": true, "queued": n, "running": n, "disk_bytes": n, "max_disk_bytes": n}`; 503 `{"ok": false, "error": ...}` if storage cannot be written |

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use crate::access::{path_id, shown_to, view, visible_job};
use crate::error::ApiError;
use crate::events;
use crate::fair::Client;
use restyle_request::{Init, Method};

use crate::jobs::{JobId, JobState, JobView};
use crate::state::AppState;
use crate::storage::{CancelOutcome, ImageKind, NewJob, Scope};
use crate::styles;
use crate::viewer::Viewer;

/// `POST /api/jobs`
pub async fn create(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Extension(client): Extension<Client>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "a job is sent as a multipart/form-data form (curl -F content=@photo.jpg ...): {e}"
        ))
    })?;
    let limits = state.limits;
    // A client's own share first, before a byte of its upload is read: so
    // many uploads at once, so many jobs queued and running.
    let _uploading = state.fair.start_upload(&client)?;
    let held = state.store.active_jobs_of(client.as_str()).await?;
    state.fair.check_jobs(&client, held)?;
    // Refuse early when the queue is full: no decoding for nothing.
    if state.store.count(JobState::Queued).await? >= limits.max_queue {
        return Err(ApiError::QueueFull(limits.max_queue));
    }
    let form = crate::submission::read_form(multipart).await?;
    // A clip is a video job ([`crate::video`]), told apart by its bytes, never by its name.
    if form.content.as_deref().is_some_and(crate::video::is_clip) {
        return crate::video::create(&state, &viewer, &client, form).await;
    }
    let read = crate::submission::check(form, limits).await?;
    // A fast job is painted at once, out of the queue's turn: it needs a
    // slot, taken before its images are decoded (a flood of them is refused
    // without decoding any), and counts against its client's minute.
    let instant = match read.settings.method {
        Method::Fast => {
            state.fair.take_instant(&client)?;
            // A large picture is the workers' (in the queue's turn): it would hold the lane.
            if crate::instant::is_instant(read.fast_work()) {
                Some(state.instant.admit().await?)
            } else {
                None
            }
        }
        Method::Gatys if read.settings.init == Init::Fast => state.instant.try_admit(),
        Method::Gatys => None,
    };
    let job = read.decode(state.decoding.clone()).await?;
    let fast_inputs = instant
        .as_ref()
        .map(|_| (job.content.clone(), job.style.clone()));
    // Every image the job stores counts against the disk budgets, the starting picture too.
    let starting = job.init.as_ref().map_or(0, Vec::len);
    let incoming = (job.content.len() + job.style.len() + job.regions.bytes() + starting) as u64;
    let share = state.fair.disk_share(state.retention.max_disk);
    let admission = state.admission.lock().await;
    crate::retention::admit(&state.store, &state.retention, incoming, (&client, share)).await?;
    let (width, height, total_steps) = (job.width, job.height, job.total_steps);

    let id = JobId::random();
    let store = &state.store;
    store
        .put_image(&id, ImageKind::Content, job.content)
        .await?;
    store.put_image(&id, ImageKind::Style, job.style).await?;
    if let Some(png) = &job.init {
        // Stored as the fast picture a job starts from is: before the job, so that a worker
        // that takes it finds it.
        store.put_image(&id, ImageKind::Fast, png.clone()).await?;
    }
    job.regions.store(store, &id).await?;
    let owner = viewer.owner();
    let new = NewJob {
        id: &id,
        owner: owner.as_deref(),
        client: client.as_str(),
        settings: &job.settings,
        total_steps,
        width,
        height,
    };
    if !store.insert(new, limits.max_queue).await? {
        store.delete_images(&id).await?;
        return Err(ApiError::QueueFull(limits.max_queue));
    }
    drop(admission);
    tracing::info!(job = %id, width, height, steps = total_steps, "job queued");
    if job.init.is_some() && store.bump_preview(&id).await? {
        // The picture it starts from (a browser's fast picture): its first preview, at once.
        state.hub.notify(&id);
    }
    let for_workers = job.settings.method == Method::Gatys || instant.is_none();
    match (instant, fast_inputs) {
        (Some(permit), Some((content, style))) if job.settings.method == Method::Fast => state
            .instant
            .run_fast_job(id.clone(), content, style, permit),
        (Some(permit), Some((content, style))) => state.instant.show_starting_picture(
            id.clone(),
            content,
            style,
            job.settings.clone(),
            permit,
        ),
        _ => {}
    }
    if for_workers {
        if let Some(pool) = &state.workers {
            pool.wake();
        }
    }
    state.hub.notify(&id);
    Ok(crate::submission::created(&id, &viewer))
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /api/jobs`: the viewer's jobs (the operator's: every job).
pub async fn list(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query
        .map_err(|_| ApiError::BadRequest("limit must be a whole number from 1 to 1000".into()))?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let owner = viewer.owner();
    let scope = match (&owner, viewer.admin) {
        (_, true) => Scope::All,
        (Some(owner), false) => Scope::Owner(owner),
        (None, false) => return Ok(Json(json!({ "jobs": [] }))),
    };
    let jobs: Vec<JobView> = state
        .store
        .list(limit, scope)
        .await?
        .iter()
        .map(|(j, pos)| shown_to(j.view(*pos), &viewer))
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// `GET /api/jobs/{id}`
pub async fn get(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(view(&state, &viewer, &path_id(id)?).await?))
}

/// `POST /api/jobs/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<JobView>, ApiError> {
    let id = path_id(id)?;
    visible_job(&state, &viewer, &id).await?;
    match state.store.cancel(&id).await? {
        CancelOutcome::NotFound => return Err(ApiError::NotFound),
        CancelOutcome::AlreadyFinal(s) => {
            return Err(ApiError::Conflict(format!(
                "the job is already {}; nothing to cancel",
                s.as_str()
            )))
        }
        CancelOutcome::Cancelled => {
            tracing::info!(job = %id, "queued job cancelled");
            let retention = &state.retention;
            crate::retention::drop_files(&state.store, &id, JobState::Cancelled, retention).await?;
        }
        CancelOutcome::Requested => {
            tracing::info!(job = %id, "cancel requested");
            if let Some(pool) = &state.workers {
                pool.interrupt(&id, true);
            }
        }
    }
    state.hub.notify(&id);
    Ok(Json(view(&state, &viewer, &id).await?))
}

/// `DELETE /api/jobs/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let id = path_id(id)?;
    visible_job(&state, &viewer, &id).await?;
    if !state.store.delete(&id).await? {
        return Err(ApiError::NotFound);
    }
    if let Some(pool) = &state.workers {
        pool.interrupt(&id, false);
    }
    tracing::info!(job = %id, "job deleted");
    state.hub.notify(&id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct ImageQuery {
    download: Option<String>,
}

/// The image type from the first bytes (uploads are kept as sent, and were
/// checked by decoding).
fn sniff(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if let Some(clip) = crate::video::sniff(bytes) {
        clip
    } else {
        "application/octet-stream"
    }
}

async fn image(
    state: &AppState,
    viewer: &Viewer,
    id: &JobId,
    kind: ImageKind,
    download: bool,
    request: &HeaderMap,
) -> Result<Response, ApiError> {
    let job = visible_job(state, viewer, id).await?;
    match (kind, job.state) {
        (ImageKind::Result, s) if s != JobState::Done => {
            return Err(ApiError::Conflict(format!(
                "the job is {}; the result exists once it is done",
                s.as_str()
            )))
        }
        (ImageKind::Preview, JobState::Done) => {
            return Err(ApiError::NoImage(
                "the job is done: its result replaces the preview".into(),
            ))
        }
        _ => {}
    }
    // Uploads and results never change once stored, so their id and kind
    // tag them; revalidated on every use (no-cache), so nothing outlives a
    // deletion in a browser's cache.
    let tag = format!("\"{}-{}\"", id.as_str(), kind.as_str());
    let cacheable = kind != ImageKind::Preview;
    if cacheable
        && request
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&tag).expect("ascii"));
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-cache"),
        );
        return Ok(r);
    }
    let mut bytes = state.store.get_image(id, kind).await?;
    if kind == ImageKind::Preview && bytes.is_none() {
        // Until the optimisation's first preview, a job that starts from the fast
        // picture shows that.
        bytes = state.store.get_image(id, ImageKind::Fast).await?;
    }
    let bytes = bytes.ok_or_else(|| match kind {
        ImageKind::Preview => ApiError::Conflict("no preview yet".into()),
        _ => ApiError::NoImage(format!("the job's {} image is gone", kind.as_str())),
    })?;
    let mut headers = HeaderMap::new();
    let content_type = sniff(&bytes);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let cache = if cacheable {
        headers.insert(header::ETAG, HeaderValue::from_str(&tag).expect("ascii"));
        "private, no-cache"
    } else {
        "no-store"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if kind == ImageKind::Result {
        let how = if download { "attachment" } else { "inline" };
        let extension = content_type.rsplit('/').next().unwrap_or("png");
        let value = format!(
            "{how}; filename=\"restyle-{}.{extension}\"",
            &id.as_str()[..8]
        );
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    if content_type.starts_with("video/") {
        // A player asks for parts of a clip (seeking; Safari will not play one otherwise).
        return Ok(crate::video::ranged(bytes, request, headers));
    }
    Ok((headers, bytes).into_response())
}

/// `GET /api/jobs/{id}/result`
pub async fn result(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    id: Result<Path<String>, PathRejection>,
    Query(q): Query<ImageQuery>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let download = q
        .download
        .as_deref()
        .is_some_and(|d| d != "0" && d != "false");
    image(
        &state,
        &viewer,
        &path_id(id)?,
        ImageKind::Result,
        download,
        &request,
    )
    .await
}

/// `GET /api/jobs/{id}/{preview,content,style}`
pub async fn other_image(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: HeaderMap,
) -> Result<Response, ApiError> {
    let Ok(Path((id, kind))) = path else {
        return Err(ApiError::NotFound);
    };
    let kind = match kind.as_str() {
        "preview" => ImageKind::Preview,
        "content" => ImageKind::Content,
        "style" => ImageKind::Style,
        _ => return Err(ApiError::NotFound),
    };
    let id = crate::access::parse_id(&id)?;
    image(&state, &viewer, &id, kind, false, &request).await
}

/// `GET /api/jobs/{id}/events`: a `job` event with the job now and whenever
/// it changes; the stream ends once the job is done, failed or cancelled
/// (or a `deleted` event when it is deleted).
pub async fn events(
    State(state): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Extension(client): Extension<Client>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    let first = view(&state, &viewer, &id).await?;
    // Held until the stream ends: a client (and a job) has only so many.
    let place = state.fair.open_stream(&client, &id)?;
    let ends = tokio::time::Instant::now() + state.fair.limits.stream_lifetime;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(8);
    tokio::spawn(async move {
        let _place = place;
        let mut changes = state.hub.subscribe();
        let mut shutdown = state.shutdown.clone();
        let mut last: Option<JobView> = None;
        let mut current = Ok(first);
        loop {
            match current {
                Ok(view) => {
                    if last.as_ref() != Some(&view) {
                        let event = Event::default()
                            .event("job")
                            .json_data(&view)
                            .expect("a job serialises");
                        if tx.send(event).await.is_err() {
                            return; // the client left
                        }
                    }
                    if view.state.is_final() {
                        return;
                    }
                    last = Some(view);
                }
                Err(ApiError::NotFound) => {
                    let _ = tx
                        .send(Event::default().event("deleted").data(id.as_str()))
                        .await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(job = %id, error = %e, "cannot read the job for its event stream")
                }
            }
            tokio::select! {
                _ = events::changed(&mut changes, &id) => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
                _ = shutdown.wait_for(|&s| s) => return,
                // Its lifetime is over: a browser reconnects by itself.
                _ = tokio::time::sleep_until(ends) => return,
            }
            current = view(&state, &viewer, &id).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<Event, Infallible>(e), rx))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    // Job state is never kept by a cache (axum says no-cache).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/styles`
pub async fn list_styles() -> Json<serde_json::Value> {
    let styles: Vec<_> = styles::PRESETS
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "title": p.title, "artist": p.artist,
                "image": format!("/assets/styles/{}.jpg", p.name),
                "thumbnail": format!("/assets/styles/{}-thumb.jpg", p.name),
            })
        })
        .collect();
    Json(json!({ "styles": styles }))
}

/// `GET /api/health`: 200 `{"ok": true, ...}`, or 503 `{"ok": false,
/// "error": ...}` when the images or the database cannot be written.
pub async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    if let Err(reason) = state.store.probe().await {
        tracing::warn!(%reason, "health check failed");
        let body = json!({ "ok": false, "error": reason });
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    }
    let queued = state.store.count(JobState::Queued).await?;
    let running = state.store.count(JobState::Running).await?;
    let disk = state.store.image_bytes(None).await?;
    let body = json!({
        "ok": true, "queued": queued, "running": running,
        "disk_bytes": disk, "max_disk_bytes": state.retention.max_disk,
    });
    Ok(Json(body).into_response())
}
