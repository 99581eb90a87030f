//! The token form: `GET /token` shows it, `POST /token` checks the token
//! (form-encoded, so any character can be typed) and sets the session
//! cookie, then goes back to the page that asked, on this server only.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use axum::Form;
use serde::Deserialize;

use crate::fair::{Client, Peer};
use crate::origin::is_https;
use crate::pages;
use crate::state::AppState;
use crate::token::local_target;

#[derive(Deserialize)]
pub struct SignIn {
    token: String,
    #[serde(default)]
    next: String,
}

/// `GET /token?next=/jobs/...`
pub async fn form(Query(q): Query<HashMap<String, String>>) -> Html<String> {
    let next = q.get("next").map_or("/", |n| local_target(n));
    Html(pages::token_page(next, false))
}

/// `POST /token`
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<Extension<Peer>>,
    Form(f): Form<SignIn>,
) -> Response {
    let next = local_target(&f.next);
    let Some(access) = state.tokens.check(&f.token) else {
        // Counted against the address, and answered after a delay.
        let client = Client::address(peer.map(|Extension(p)| p.0.ip()));
        if let Err(e) = state.fair.token_failed(&client) {
            return e.into_response();
        }
        tokio::time::sleep(crate::fair::FAILED_TOKEN_DELAY).await;
        return (
            StatusCode::UNAUTHORIZED,
            Html(pages::token_page(next, true)),
        )
            .into_response();
    };
    let secure = is_https(&state.origins, &headers);
    // 303: the browser follows with a GET, and the form is not re-posted.
    let mut r = Redirect::to(next).into_response();
    if let Some(cookie) = state.tokens.session_cookie(access, secure) {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    r
}
