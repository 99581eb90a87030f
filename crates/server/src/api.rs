//! The JSON API (`/api/...`); the page uses it too.
//!
//! | request | answer |
//! | --- | --- |
//! | `POST /api/jobs` (multipart: `content`, `style` or `style_preset`, settings) | 201 `{"id": ...}` |
//! | `GET /api/jobs` | `{"jobs": [job, ...]}`, newest first |
//! | `GET /api/jobs/{id}` | the job |
//! | `GET /api/jobs/{id}/events` | server-sent events: `job` with the job whenever it changes |
//! | `GET /api/jobs/{id}/result` | the result (PNG); `?download=1` as an attachment |
//! | `GET /api/jobs/{id}/{preview,content,style}` | the latest preview, the uploads |
//! | `POST /api/jobs/{id}/cancel` | the job (cancelled, or `cancel_requested` while it stops) |
//! | `DELETE /api/jobs/{id}` | 204 |
//! | `GET /api/styles` | the shipped styles |
//! | `GET /api/health` | `{"ok": true, "queued": n, "running": n, "disk_bytes": n, "max_disk_bytes": n}`; 503 `{"ok": false, "error": ...}` if storage cannot be written |

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use crate::access::{parse_id, view};
use crate::error::ApiError;
use crate::events;
use crate::jobs::{JobId, JobState, JobView};
use crate::state::AppState;
use crate::storage::{CancelOutcome, ImageKind, NewJob};
use crate::styles;

/// `POST /api/jobs`
pub async fn create(
    State(state): State<AppState>,
    multipart: Multipart,
) -> Result<Response, ApiError> {
    let limits = state.limits;
    // Refuse early when the queue is full: no decoding for nothing.
    if state.store.count(JobState::Queued).await? >= limits.max_queue {
        return Err(ApiError::QueueFull(limits.max_queue));
    }
    let job = crate::submission::check(multipart, limits, state.decoding.clone()).await?;
    let incoming = (job.content.len() + job.style.len()) as u64;
    crate::retention::admit(&state.store, &state.retention, incoming).await?;
    let (width, height, total_steps) = (job.width, job.height, job.total_steps);

    let id = JobId::random();
    let store = &state.store;
    store
        .put_image(&id, ImageKind::Content, job.content)
        .await?;
    store.put_image(&id, ImageKind::Style, job.style).await?;
    let new = NewJob {
        id: &id,
        settings: &job.settings,
        total_steps,
        width,
        height,
    };
    if !store.insert(new, limits.max_queue).await? {
        store.delete_images(&id).await?;
        return Err(ApiError::QueueFull(limits.max_queue));
    }
    tracing::info!(job = %id, width, height, steps = total_steps, "job queued");
    if let Some(pool) = &state.workers {
        pool.wake();
    }
    state.hub.notify(&id);
    let location = format!("/api/jobs/{id}");
    let body = json!({ "id": id.as_str(), "url": location, "page": format!("/jobs/{id}") });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).expect("ascii"),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /api/jobs`
pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let jobs: Vec<JobView> = state
        .store
        .list(limit)
        .await?
        .iter()
        .map(|(j, pos)| j.view(*pos))
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

/// `GET /api/jobs/{id}`
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    Ok(Json(view(&state, &parse_id(&id)?).await?))
}

/// `POST /api/jobs/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let id = parse_id(&id)?;
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
    Ok(Json(view(&state, &id).await?))
}

/// `DELETE /api/jobs/{id}`
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
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
    } else {
        "application/octet-stream"
    }
}

async fn image(
    state: &AppState,
    id: &str,
    kind: ImageKind,
    download: bool,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let job = state.store.get(&id).await?.ok_or(ApiError::NotFound)?;
    if kind == ImageKind::Result && job.state != JobState::Done {
        return Err(ApiError::Conflict(format!(
            "the job is {}; the result exists once it is done",
            job.state.as_str()
        )));
    }
    let bytes = state
        .store
        .get_image(&id, kind)
        .await?
        .ok_or_else(|| match kind {
            ImageKind::Preview => ApiError::Conflict("no preview yet".into()),
            _ => ApiError::NotFound,
        })?;
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(sniff(&bytes)),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let cache = if kind == ImageKind::Preview {
        "no-store"
    } else {
        "private, max-age=3600"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if kind == ImageKind::Result {
        let how = if download { "attachment" } else { "inline" };
        let value = format!("{how}; filename=\"restyle-{}.png\"", &id.as_str()[..8]);
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&value).expect("ascii"),
        );
    }
    Ok((headers, bytes).into_response())
}

/// `GET /api/jobs/{id}/result`
pub async fn result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<ImageQuery>,
) -> Result<Response, ApiError> {
    let download = q
        .download
        .as_deref()
        .is_some_and(|d| d != "0" && d != "false");
    image(&state, &id, ImageKind::Result, download).await
}

/// `GET /api/jobs/{id}/{preview,content,style}`
pub async fn other_image(
    State(state): State<AppState>,
    Path((id, kind)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = match kind.as_str() {
        "preview" => ImageKind::Preview,
        "content" => ImageKind::Content,
        "style" => ImageKind::Style,
        _ => return Err(ApiError::NotFound),
    };
    image(&state, &id, kind, false).await
}

/// `GET /api/jobs/{id}/events`: a `job` event with the job now and whenever
/// it changes; the stream ends once the job is done, failed or cancelled
/// (or a `deleted` event when it is deleted).
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id(&id)?;
    let first = view(&state, &id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(8);
    tokio::spawn(async move {
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
            }
            current = view(&state, &id).await;
        }
    });
    let stream =
        futures_util::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
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
