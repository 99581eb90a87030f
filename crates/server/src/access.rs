//! Finding the job a URL names: its id checked, the job as the API shows it.
//! Shared by the API and the page.

use crate::error::ApiError;
use crate::jobs::{JobId, JobState, JobView};
use crate::state::AppState;

/// A job id from a URL: anything but 32 hex digits is simply not found.
pub fn parse_id(text: &str) -> Result<JobId, ApiError> {
    text.parse().map_err(|_| ApiError::NotFound)
}

/// The job as the API shows it, with its place in the queue.
pub async fn view(state: &AppState, id: &JobId) -> Result<JobView, ApiError> {
    let job = state.store.get(id).await?.ok_or(ApiError::NotFound)?;
    let position = match job.state {
        JobState::Queued => Some(state.store.position(job.seq).await?),
        _ => None,
    };
    Ok(job.view(position))
}
