//! What every request passes through: the `Host` and `Origin` checks, the
//! token, the viewer's key (issued to the page and to submissions that
//! come without one); and on the way out the security and caching headers,
//! and errors put in the API's one shape, `{"error": "..."}`.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::error::ApiError;
use crate::fair::{Client, Peer};
use crate::origin::is_https;
use crate::pages;
use crate::state::AppState;
use crate::token::{local_target, Access};
use crate::viewer::{Viewer, KEY_COOKIE};

/// How long the page's key cookie lasts: it is the way back to one's pictures.
const KEY_LIFETIME_S: u64 = 365 * 24 * 3600;

pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let secure = is_https(&state.origins, request.headers());
    let mut issued = None;
    let mut response = match admit(&state, &request, secure) {
        Ok((viewer, client)) => {
            if viewer.issued {
                issued = viewer.key().map(str::to_owned);
            }
            request.extensions_mut().insert(viewer);
            request.extensions_mut().insert(client);
            next.run(request).await
        }
        Err(refused) => {
            if refused.status() == StatusCode::UNAUTHORIZED && presents_token(&request) {
                let peer = request.extensions().get::<Peer>().map(|p| p.0.ip());
                wrong_token(&state, peer).await.unwrap_or(*refused)
            } else {
                *refused
            }
        }
    };
    if response.status().is_client_error() || response.status().is_server_error() {
        response = in_one_shape(response).await;
    }
    let headers = response.headers_mut();
    if let Some(key) = issued {
        let secure = if secure { "; Secure" } else { "" };
        let cookie = format!(
            "{KEY_COOKIE}={key}; Path=/; HttpOnly; SameSite=Lax; Max-Age={KEY_LIFETIME_S}{secure}"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    security_headers(headers, &path);
    tracing::debug!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// The checks before a handler runs; the viewer it will serve.
fn admit(
    state: &AppState,
    request: &Request,
    secure: bool,
) -> Result<(Viewer, Client), Box<Response>> {
    let headers = request.headers();
    let method = request.method();
    let path = request.uri().path();
    let is_api = path.starts_with("/api/");
    state.origins.check_host(headers).map_err(refusal)?;
    state
        .origins
        .check_origin(method, headers)
        .map_err(refusal)?;
    let access = state.tokens.access(headers);
    let public = path.starts_with("/assets/") || path == "/token";
    if access == Access::Denied && !public {
        return Err(Box::new(denied(state, request, is_api, secure)));
    }
    let mut viewer =
        Viewer::from_headers(headers, access == Access::Operator, &state.keys).map_err(refusal)?;
    // Whom the request counts against: its key, else its address (a key
    // issued below is new, so it does not make a fresh client each time).
    let peer = request.extensions().get::<Peer>().map(|p| p.0);
    let client = Client::of(&viewer, peer);
    // The page and submissions get a key if they have none: the page keeps
    // it in a cookie, a script reads it from the answer.
    let page = *method == Method::GET && (path == "/" || path.starts_with("/jobs/"));
    let submission = *method == Method::POST && path == "/api/jobs";
    if page || submission {
        viewer.ensure_key(&state.keys);
    }
    Ok((viewer, client))
}

/// Whether a request carries a token (a bearer token, a `?token=` link).
fn presents_token(request: &Request) -> bool {
    request.headers().contains_key(header::AUTHORIZATION)
        || request.uri().query().is_some_and(|q| q.contains("token="))
}

/// A wrong token: counted against its address (a 429 beyond the minute's
/// allowance, instead of the usual answer), and answered only after a delay.
pub async fn wrong_token(state: &AppState, peer: Option<std::net::IpAddr>) -> Option<Response> {
    if let Err(e) = state.fair.token_failed(&Client::address(peer)) {
        return Some(e.into_response());
    }
    tokio::time::sleep(crate::fair::FAILED_TOKEN_DELAY).await;
    None
}

/// An error as the answer that ends a request before its handler (boxed:
/// a response is large, and the usual path is the viewer).
fn refusal(error: ApiError) -> Box<Response> {
    Box::new(error.into_response())
}

/// No (right) token: the API says so; the page asks for it, or takes it
/// once from a `?token=` link and goes on to the same page, on this server.
fn denied(state: &AppState, request: &Request, is_api: bool, secure: bool) -> Response {
    if is_api {
        return ApiError::Unauthorized.into_response();
    }
    let path = request.uri().path();
    let link_token = Query::<HashMap<String, String>>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(q)| q.get("token").cloned());
    if let (Some(token), &Method::GET) = (link_token, request.method()) {
        if let Some(access) = state.tokens.check(&token) {
            let mut r = Redirect::to(local_target(path)).into_response();
            if let Some(cookie) = state.tokens.session_cookie(access, secure) {
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            return r;
        }
    }
    (
        StatusCode::UNAUTHORIZED,
        Html(pages::token_page(path, false)),
    )
        .into_response()
}

/// An error answer that is not the page's HTML or the API's JSON (axum's
/// own plain-text or empty rejections: a malformed query, a 405) becomes
/// `{"error": "..."}`, its headers (`Allow`, say) kept.
async fn in_one_shape(response: Response) -> Response {
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("application/json") || kind.starts_with("text/html") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_lowercase()
    } else {
        text
    };
    let body = serde_json::json!({ "error": message }).to_string();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

/// Security headers on every answer; nothing about jobs is cached unless
/// its handler says how.
fn security_headers(headers: &mut HeaderMap, path: &str) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; frame-ancestors 'none'",
            ),
        );
    }
    if (html || path.starts_with("/api/")) && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}
