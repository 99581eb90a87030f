//! The HTTP server: routes, the optional token, security headers, start
//! and graceful stop; and the `restyle worker` process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{ServeArgs, WorkerArgs};
use crate::error::ApiError;
use crate::events::Hub;
use crate::retention;
use crate::state::AppState;
use crate::storage::{Dialect, Store};
use crate::worker::WorkerPool;
use crate::{api, pages};

/// The routes, for a state.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_upload_bytes;
    let api = Router::new()
        .route(
            "/jobs",
            post(api::create)
                .get(api::list)
                .layer(DefaultBodyLimit::max(max_body)),
        )
        .route("/jobs/{id}", get(api::get).delete(api::delete))
        .route("/jobs/{id}/cancel", post(api::cancel))
        .route("/jobs/{id}/events", get(api::events))
        .route("/jobs/{id}/result", get(api::result))
        .route("/jobs/{id}/{image}", get(api::other_image))
        .route("/styles", get(api::list_styles))
        .route("/health", get(api::health))
        .fallback(|| async { ApiError::NotFound });
    Router::new()
        .route("/", get(pages::index))
        .route("/jobs/{id}", get(pages::job))
        .route("/assets/{file}", get(pages::asset))
        .route("/assets/styles/{file}", get(pages::style_image))
        .nest("/api", api)
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Byte-by-byte comparison whose time does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

const TOKEN_COOKIE: &str = "restyle_token";

/// The token, when one is set (the static files and shipped styles are
/// public); security headers on every answer; a log line per request.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let is_api = path.starts_with("/api/");
    let mut response = match &state.token {
        Some(token) if !path.starts_with("/assets/") => {
            let headers = request.headers();
            let bearer = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|t| same(t.trim(), token));
            let cookie = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .any(|(k, v)| k == TOKEN_COOKIE && same(v, token));
            let query = request
                .uri()
                .query()
                .into_iter()
                .flat_map(|q| q.split('&'))
                .filter_map(|kv| kv.split_once('='))
                .any(|(k, v)| k == "token" && same(v, token));
            if bearer || cookie {
                next.run(request).await
            } else if query && !is_api && method == Method::GET {
                // Once from a link: remembered in a cookie, then out of the address bar.
                let mut r = Redirect::to(&path).into_response();
                let value = format!(
                    "{TOKEN_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                r
            } else if is_api {
                ApiError::Unauthorized.into_response()
            } else {
                (StatusCode::UNAUTHORIZED, Html(pages::token_page())).into_response()
            }
        }
        _ => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"))
    {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; frame-ancestors 'none'",
            ),
        );
    }
    tracing::debug!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

/// This process's name in the queue: host name and process id.
pub fn process_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
    store: Store,
}

impl Server {
    /// Opens the store (re-queueing jobs a previous process left running),
    /// starts the workers and listens.
    pub async fn start(args: ServeArgs) -> anyhow::Result<Self> {
        let limits = args.limits()?;
        let retention = args.retention.resolve()?;
        let config = args.store.resolve()?;
        let store = Store::connect(&config).await?;
        if store.dialect() == Dialect::Sqlite {
            // SQLite serves one process: whatever ran when it stopped runs again.
            let n = store.requeue_stale(i64::MAX).await?;
            if n > 0 {
                tracing::info!(
                    jobs = n,
                    "re-queued jobs interrupted when the server last stopped"
                );
            }
        }
        if let Err(e) = store.sweep_orphans().await {
            tracing::warn!(error = %e, "cannot sweep leftover image directories");
        }
        let (shutdown, shutdown_rx) = watch::channel(false);
        let hub = Hub::new();
        let sweeper = retention::start(store.clone(), retention, shutdown_rx.clone());
        let (workers, mut handles) = if args.workers > 0 {
            let (pool, handles) = WorkerPool::start(
                store.clone(),
                hub.clone(),
                process_name(),
                args.workers,
                shutdown_rx.clone(),
            );
            (Some(pool), handles)
        } else {
            (None, Vec::new())
        };
        handles.push(sweeper);
        let state = AppState {
            store: store.clone(),
            hub,
            limits,
            token: args.token.filter(|t| !t.is_empty()).map(Arc::from),
            workers,
            decoding: Arc::new(Semaphore::new(2)),
            retention,
            shutdown: shutdown_rx.clone(),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let app = router(state);
        let mut stop = shutdown_rx;
        let http = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|&s| s).await;
                })
                .await
        });
        tracing::info!(%addr, database = %redact(&config.database_url), workers = args.workers, "restyle serve started");
        Ok(Self {
            addr,
            shutdown,
            http,
            workers: handles,
            store,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests and jobs; a running job goes back to the queue
    /// (to resume from its last preview at the next start).
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let http = self.http.await;
        let workers = futures_util::future::join_all(self.workers);
        if tokio::time::timeout(Duration::from_secs(60), workers)
            .await
            .is_err()
        {
            tracing::warn!(
                "a job did not stop within a minute; it will be re-queued at the next start"
            );
        }
        self.store.close().await;
        http??;
        Ok(())
    }
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `restyle serve`, until SIGTERM or Ctrl-C.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let server = Server::start(args).await?;
    // Scripts (and the tests) read the address from this line.
    println!("restyle serve: listening on http://{}", server.addr());
    stop_signal().await;
    tracing::info!("stopping: no new requests or jobs; a running job goes back to the queue");
    server.stop().await
}

/// `restyle worker`: runs jobs from a shared PostgreSQL queue until SIGTERM.
pub async fn worker(args: WorkerArgs) -> anyhow::Result<()> {
    let config = args.store.resolve()?;
    if !config.database_url.starts_with("postgres") {
        anyhow::bail!(
            "restyle worker needs a shared queue: --database postgres://...; with SQLite, `restyle serve` runs the jobs itself"
        );
    }
    if args.workers == 0 {
        anyhow::bail!("--workers must be at least 1");
    }
    let store = Store::connect(&config).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let name = args.name.unwrap_or_else(process_name);
    let (_pool, handles) = WorkerPool::start(
        store.clone(),
        Hub::new(),
        name.clone(),
        args.workers,
        shutdown_rx,
    );
    println!(
        "restyle worker {name}: taking jobs from {}",
        redact(&config.database_url)
    );
    stop_signal().await;
    tracing::info!("stopping: a running job goes back to the queue");
    let _ = shutdown.send(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(60),
        futures_util::future::join_all(handles),
    )
    .await;
    store.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_logs() {
        assert_eq!(
            super::redact("postgres://me:secret@db:5432/q"),
            "postgres://me:***@db:5432/q"
        );
        assert_eq!(super::redact("postgres://me@db/q"), "postgres://me@db/q");
        assert_eq!(super::redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
    }
}
