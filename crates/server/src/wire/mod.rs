//! The HTTP listener, with the limits a server facing strangers needs:
//! request headers must arrive within a time, request bodies at a minimum
//! rate and within a total time, a declared body larger than the upload
//! limit is refused before it is read, connections are capped (below the
//! process's file limit), and a stop takes a bounded time even with slow
//! uploads under way.
//!
//! Long-lived requests (event streams and submissions) hold at most the
//! cap less `reserved_connections` at once, so short ones (health, the
//! page, the API's reads and deletes) always find a connection; the bytes
//! of request bodies held at once, all clients together, stay within
//! `upload_memory`. Beyond either: a 503 with `Retry-After`. Each request
//! carries its peer's address ([`crate::fair::Peer`]).
//!
//! `axum::serve` exposes none of hyper's timeouts, so this is the small
//! accept loop hyper's own examples use: hyper's HTTP/1 connection with a
//! Tokio timer, around the axum router.

pub mod connections;
pub mod pace;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::error::ApiError;
use crate::fair::Peer;
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
    /// Connections long-lived requests may not take (at most half the cap).
    pub reserved_connections: usize,
    /// Request body bytes held at once, every request together.
    pub upload_memory: usize,
}

/// What the connections share: places for long-lived requests, and the
/// body bytes held.
struct Shared {
    long_lived: Arc<Semaphore>,
    long_lived_cap: usize,
    body_bytes: Arc<AtomicUsize>,
}

/// Whether a request holds its connection for long: an event stream, or a
/// submission's upload.
fn long_lived(request: &hyper::Request<Incoming>) -> bool {
    let path = request.uri().path();
    match *request.method() {
        hyper::Method::GET => path.starts_with("/api/jobs/") && path.ends_with("/events"),
        hyper::Method::POST => path == "/api/jobs",
        _ => false,
    }
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
    let reserved = limits.reserved_connections.min(connections.cap() / 2);
    let long_lived_cap = (connections.cap() - reserved).max(1);
    let shared = Arc::new(Shared {
        long_lived: Arc::new(Semaphore::new(long_lived_cap)),
        long_lived_cap,
        body_bytes: Arc::new(AtomicUsize::new(0)),
    });
    tracing::debug!(
        cap = connections.cap(),
        long_lived = long_lived_cap,
        "connection cap"
    );
    let mut tasks = JoinSet::new();
    loop {
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
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
        let (app, shutdown, shared) = (app.clone(), shutdown.clone(), shared.clone());
        tasks.spawn(connection(
            socket, peer, app, slot, limits, shared, shutdown,
        ));
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
    peer: std::net::SocketAddr,
    app: Router,
    slot: Arc<Slot>,
    limits: WireLimits,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = socket.set_nodelay(true);
    let requests = slot.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        let (app, active, shared) = (app.clone(), requests.begin(), shared.clone());
        request.extensions_mut().insert(Peer(peer));
        async move {
            let place: Option<OwnedSemaphorePermit> = if long_lived(&request) {
                match shared.long_lived.clone().try_acquire_owned() {
                    Ok(permit) => Some(permit),
                    Err(_) => {
                        let refusal = closing(ApiError::Busy(format!(
                            "this server holds {} event streams and uploads at once, and all are taken; try again in a few seconds",
                            shared.long_lived_cap
                        )));
                        // An upload is read and dropped first, as for any refused body.
                        if request.method() == hyper::Method::POST {
                            drain(request.into_body()).await;
                        }
                        return Ok::<Response, Infallible>(refusal);
                    }
                }
            } else {
                None
            };
            let held = Arc::new(BodyBytes {
                counted: AtomicUsize::new(0),
                total: shared.body_bytes.clone(),
            });
            let over_budget = Arc::new(AtomicBool::new(false));
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
                    let (held, over) = (held.clone(), over_budget.clone());
                    let request: Request = request.map(|body| {
                        Body::new(Counted {
                            inner: Paced::new(body, limits.body, flag),
                            held,
                            budget: limits.upload_memory,
                            over,
                        })
                    });
                    let response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
                    if over_budget.load(Ordering::SeqCst) {
                        closing(ApiError::Busy(format!(
                            "this server is receiving {} MB of uploads at once, its limit; try again in a few seconds",
                            limits.upload_memory >> 20
                        )))
                    } else if too_slow.load(Ordering::SeqCst) {
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
            // The request counts as under way (and its place and body
            // bytes as held) until its answer is sent.
            let response = response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    let _ = (&active, &place, &held);
                    frame
                }))
            });
            Ok::<Response, Infallible>(response)
        }
    });
    let http = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(PARSER_MAX_HEADERS)
        .max_buf_size(PARSER_MAX_BUF)
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

/// The bytes of one request's body counted against everyone's budget,
/// given back when the request's answer has been sent.
struct BodyBytes {
    counted: AtomicUsize,
    total: Arc<AtomicUsize>,
}

impl Drop for BodyBytes {
    fn drop(&mut self) {
        let n = self.counted.load(Ordering::SeqCst);
        self.total.fetch_sub(n, Ordering::SeqCst);
    }
}

/// A body whose bytes count against [`WireLimits::upload_memory`], twice
/// over (they are held until the request ends: a multipart field is read
/// whole, into a buffer that grows by doubling).
struct Counted<B> {
    inner: B,
    held: Arc<BodyBytes>,
    budget: usize,
    over: Arc<AtomicBool>,
}

impl<B> http_body::Body for Counted<B>
where
    B: http_body::Body<Data = axum::body::Bytes, Error = axum::BoxError> + Unpin,
{
    type Data = axum::body::Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                // Twice its size: a form's part is gathered into a buffer
                // that grows by doubling, so it can take that much.
                let n = 2 * data.len();
                this.held.counted.fetch_add(n, Ordering::SeqCst);
                let before = this.held.total.fetch_add(n, Ordering::SeqCst);
                if before + n > this.budget {
                    this.over.store(true, Ordering::SeqCst);
                    return std::task::Poll::Ready(Some(Err(
                        "the server's upload memory is in use".into(),
                    )));
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
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
    if let Some(refusal) = oversized_head(request) {
        return Some((refusal, 0));
    }
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

/// Longest request target (path and query) answered, bytes.
pub const MAX_URI: usize = 8 * 1024;
/// Most header bytes (names and values) and headers a request may have.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
pub const MAX_HEADERS: usize = 100;
/// The parser's own limits, well above ours, so that ours answer (with a
/// JSON body) first; a head beyond these gets the parser's bare 431.
const PARSER_MAX_HEADERS: usize = 1000;
const PARSER_MAX_BUF: usize = 1 << 20;

/// A 414 or 431 for a request target or headers over our limits, with the
/// API's `{"error": ...}` body (the HTTP parser's own has none).
fn oversized_head(request: &hyper::Request<Incoming>) -> Option<Response> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or(0, |p| p.as_str().len());
    let (status, message) = if target > MAX_URI {
        (
            axum::http::StatusCode::URI_TOO_LONG,
            format!(
                "the request's address is {target} bytes long; this server reads at most {MAX_URI}"
            ),
        )
    } else {
        let headers = request.headers();
        let bytes: usize = headers
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len())
            .sum();
        if bytes <= MAX_HEADER_BYTES && headers.len() <= MAX_HEADERS {
            return None;
        }
        (
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "the request has {} headers of {bytes} bytes; this server reads at most {MAX_HEADERS} headers of {MAX_HEADER_BYTES} bytes in all",
                headers.len()
            ),
        )
    };
    let mut response =
        (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
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
