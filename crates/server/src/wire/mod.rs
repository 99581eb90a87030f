//! The HTTP listener, with the limits a server facing strangers needs:
//! request headers must arrive within a time, request bodies at a minimum
//! rate and within a total time, a declared body larger than the upload
//! limit is refused before it is read, connections are capped (below the
//! process's file limit), and a stop takes a bounded time even with slow
//! uploads under way.
//!
//! `axum::serve` exposes none of hyper's timeouts, so this is the small
//! accept loop hyper's own examples use: hyper's HTTP/1 connection with a
//! Tokio timer, around the axum router.

pub mod connections;
pub mod pace;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::error::ApiError;
use connections::{Connections, Slot};
use pace::{Pace, Paced};

/// The wire's limits.
#[derive(Clone, Copy, Debug)]
pub struct WireLimits {
    /// A request's headers must arrive within this (also the longest a
    /// keep-alive connection may sit idle).
    pub header_timeout: Duration,
    /// How fast request bodies must arrive.
    pub body: Pace,
    /// Largest request body, bytes: a larger `Content-Length` is refused at once.
    pub max_body: usize,
    /// Most connections open at once (lowered to fit the file limit).
    pub max_connections: usize,
    /// After a stop, connections still busy are closed after this long.
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` turns true, then lets
/// requests under way finish for at most the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: WireLimits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let connections = Connections::new(limits.max_connections.min(connection_budget()));
    tracing::debug!(cap = connections.cap(), "connection cap");
    let mut tasks = JoinSet::new();
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = stopped(&mut shutdown) => break,
        };
        while tasks.try_join_next().is_some() {}
        let Some(slot) = connections.admit() else {
            tracing::warn!(
                cap = connections.cap(),
                "every connection is busy with a request: closing a new one"
            );
            drop(socket);
            continue;
        };
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tasks.spawn(connection(socket, app, slot, limits, shutdown));
    }
    drop(listener);
    let all_closed = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace + Duration::from_secs(1), all_closed)
        .await
        .is_err()
    {
        tasks.abort_all();
    }
    Ok(())
}

/// One connection, until the client leaves, it is evicted, or the server stops.
async fn connection(
    socket: tokio::net::TcpStream,
    app: Router,
    slot: Arc<Slot>,
    limits: WireLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let requests = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let (app, active) = (app.clone(), requests.begin());
        async move {
            let response = match refuse_early(&request, &limits) {
                Some((refusal, declared)) => {
                    if declared <= (limits.max_body as u64).saturating_add(DRAIN_AT_MOST) {
                        drain(request.into_body()).await;
                    }
                    refusal
                }
                None => {
                    let too_slow = Arc::new(AtomicBool::new(false));
                    let flag = too_slow.clone();
                    let request: Request =
                        request.map(|body| Body::new(Paced::new(body, limits.body, flag)));
                    let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
                    if too_slow.load(Ordering::SeqCst) {
                        closing(ApiError::Timeout(format!(
                            "the upload arrived too slowly: this server needs at least {} KB/s after the first {} s, and the whole request within {} s",
                            limits.body.min_rate / 1000,
                            limits.body.grace.as_secs(),
                            limits.body.total.as_secs()
                        )))
                    } else {
                        response
                    }
                }
            };
            // The request counts as under way until its answer is sent.
            let response = response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = &active;
                    frame
                }))
            });
            Ok::<Response, Infallible>(response)
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(socket), service);
    tokio::pin!(http);
    tokio::select! {
        _ = http.as_mut() => {}
        _ = slot.evicted() => {
            tracing::debug!("closed an idle connection to make room");
        }
        _ = stopped(&mut shutdown) => {
            // Idle connections close now; a request under way may finish.
            http.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(limits.shutdown_grace, http.as_mut()).await;
        }
    }
}

/// Resolves once the server is stopping (the watch's guard is not held on).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|&s| s).await;
}

/// A refused body at most this much over the limit is read and dropped
/// before the refusal is sent (see [`drain`]); a larger one is not read.
const DRAIN_AT_MOST: u64 = 16 << 20;
/// How long a refused body is read for, at most.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Reads and drops what a client sends of a refused body (bounded by its
/// declared length and by [`DRAIN_TIME`]). Closing at once would reset the
/// connection under a client still writing, which then sees a broken pipe
/// instead of the refusal (nginx's lingering close does the same).
async fn drain(mut body: Incoming) {
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await;
}

/// A refusal decided from the headers alone: a declared body over the limit,
/// with the length it declared.
fn refuse_early(
    request: &hyper::Request<Incoming>,
    limits: &WireLimits,
) -> Option<(Response, u64)> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()?;
    (declared > limits.max_body as u64).then(|| {
        let refusal = closing(ApiError::TooLarge(format!(
            "the request is too large: {declared} bytes; this server accepts at most {} MB",
            limits.max_body / (1024 * 1024)
        )));
        (refusal, declared)
    })
}

/// An error answer after which the connection closes (its body was not read).
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Connections that fit in the process's file limit, leaving room for the
/// database, image files and the runtime.
fn connection_budget() -> usize {
    const RESERVE: u64 = 32;
    let limit = file_limit().unwrap_or(1024);
    (limit.saturating_sub(RESERVE).max(8)).min(usize::MAX as u64) as usize
}

/// The process's file limit, raised to its hard limit first (a common
/// default soft limit, 1024, is lower than a busy server needs).
#[cfg(unix)]
fn file_limit() -> Option<u64> {
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        Some(limit.rlim_cur as u64)
    }
}

#[cfg(not(unix))]
fn file_limit() -> Option<u64> {
    None
}
