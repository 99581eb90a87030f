//! Finding the job a URL names, for the viewer asking: its id checked, the
//! job only if this viewer may see it (anyone else is told there is no
//! such job), shown as the API shows it. Shared by the API and the page.

use axum::extract::rejection::PathRejection;
use axum::extract::Path;

use crate::error::ApiError;
use crate::jobs::{JobId, JobRecord, JobState, JobView};
use crate::state::AppState;
use crate::viewer::Viewer;

/// A job id from a URL: anything but 32 hex digits (or a path that is not
/// even text, `%FF`) is simply not found.
pub fn parse_id(text: &str) -> Result<JobId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound)
}

/// The id segment of a job's URL, not found if it cannot be read.
pub fn path_id(path: Result<Path<String>, PathRejection>) -> Result<JobId, ApiError> {
    let Path(text) = path.map_err(|_| ApiError::NotFound)?;
    parse_id(&text)
}

/// The job, if `viewer` may see it.
pub async fn visible_job(
    state: &AppState,
    viewer: &Viewer,
    id: &JobId,
) -> Result<JobRecord, ApiError> {
    let job = state.store.get(id).await?.ok_or(ApiError::NotFound)?;
    if viewer.may_see(job.owner.as_deref()) {
        Ok(job)
    } else {
        Err(ApiError::NotFound)
    }
}

/// The job as the API shows it to `viewer`, with its place in the queue.
pub async fn view(state: &AppState, viewer: &Viewer, id: &JobId) -> Result<JobView, ApiError> {
    let job = visible_job(state, viewer, id).await?;
    let position = match job.state {
        JobState::Queued => Some(state.store.position(job.seq).await?),
        _ => None,
    };
    Ok(shown_to(job.view(position), viewer))
}

/// A view without what only the operator sees: which worker (host and
/// process id) ran the job.
pub fn shown_to(mut view: JobView, viewer: &Viewer) -> JobView {
    if !viewer.admin {
        view.worker = None;
    }
    view
}
