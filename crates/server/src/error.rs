//! The API's errors: each has an HTTP status and a message a person can act
//! on, sent as `{"error": "..."}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A malformed request: a missing or unknown field, a value that is not a number.
    #[error("{0}")]
    BadRequest(String),
    #[error("a valid token is needed (Authorization: Bearer TOKEN)")]
    Unauthorized,
    /// Refused whoever asks: a host name this server does not answer to, a
    /// cross-site request.
    #[error("{0}")]
    Forbidden(String),
    #[error("no such job")]
    NotFound,
    /// The job exists but this image does not (any more).
    #[error("{0}")]
    NoImage(String),
    /// The request (its body) came too slowly.
    #[error("{0}")]
    Timeout(String),
    /// The job is not in a state that allows this.
    #[error("{0}")]
    Conflict(String),
    /// The request, or an image in it, is larger than this server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// An upload that is not an image restyle can read.
    #[error("{0}")]
    UnsupportedImage(String),
    /// Understood but refused: a corrupt image, a setting out of range.
    #[error("{0}")]
    Unprocessable(String),
    /// The queue holds as many jobs as it may.
    #[error("the queue is full ({0} jobs waiting); try again later")]
    QueueFull(u64),
    /// Every instant-lane slot stayed busy while the submission waited (see
    /// [`crate::instant`]).
    #[error("every instant picture slot on this server is busy; try again in a second, or ask for method=gatys")]
    InstantBusy,
    /// Beyond one client's fair share (see [`crate::fair`]): 429, naming the limit.
    #[error("{message}")]
    Limited {
        limit: &'static str,
        /// Seconds until trying again may succeed.
        retry_after: u64,
        message: String,
    },
    /// Too many long-lived requests (event streams, uploads) from everyone
    /// at once; short requests are still answered.
    #[error("{0}")]
    Busy(String),
    /// The images of unfinished jobs fill the disk budget.
    #[error("{0}")]
    StorageFull(String),
    #[error("storage error: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoImage(_) => StatusCode::NOT_FOUND,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedImage(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::QueueFull(_) | ApiError::InstantBusy | ApiError::Busy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::StorageFull(_) => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Storage(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error()
            && !matches!(
                self,
                ApiError::QueueFull(_)
                    | ApiError::StorageFull(_)
                    | ApiError::InstantBusy
                    | ApiError::Busy(_)
            )
        {
            tracing::error!(error = %self, "request failed");
        }
        let body = match &self {
            ApiError::Limited { limit, .. } => {
                serde_json::json!({ "error": self.to_string(), "limit": limit })
            }
            _ => serde_json::json!({ "error": self.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        match self {
            ApiError::Limited { retry_after, .. } => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Busy(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::QueueFull(_) | ApiError::StorageFull(_) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            }
            ApiError::InstantBusy => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the upload is too large: {}", e.body_text()))
        } else {
            ApiError::BadRequest(format!("malformed multipart form: {}", e.body_text()))
        }
    }
}
