//! The HTTP server: routes, start and graceful stop; and the `restyle
//! worker` process.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{ServeArgs, WorkerArgs};
use crate::error::ApiError;
use crate::events::Hub;
use crate::instant::{FastPainter, InstantLane};
use crate::origin::Origins;
use crate::painter::{Painters, DEADLINE_BASE};
use crate::retention;
use crate::state::AppState;
use crate::storage::{Dialect, Store};
use crate::token::Tokens;
use crate::viewer::Keys;
use crate::{api, browser, guard, login, pages, wire};

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
        .route("/assets/web/{file}", get(browser::asset))
        .route("/token", get(login::form).post(login::sign_in))
        .nest("/api", api)
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard::guard))
        .layer(middleware::from_fn(browser::isolate))
        .with_state(state)
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
        let wire = args.wire_limits()?;
        let origins = Origins::new(args.public_url.as_deref()).map_err(anyhow::Error::msg)?;
        let retention = args.retention.resolve()?;
        let fair = crate::fair::Fairness::new(args.fair.resolve()?);
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
        let secret = store.secret("keys", Keys::fresh_secret()).await?;
        let keys = Keys::new(secret.as_bytes());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let hub = Hub::new();
        let sweeper = retention::start(store.clone(), retention, shutdown_rx.clone());
        let deadline_base = args
            .painter_deadline_seconds
            .map_or(DEADLINE_BASE, Duration::from_secs);
        let painter = Arc::new(fast_painter(
            args.painter_program()?,
            limits.max_job_memory,
            deadline_base,
        ));
        let (workers, mut handles) = if args.workers > 0 {
            let (pool, handles) = crate::worker::start(
                store.clone(),
                hub.clone(),
                painter.clone(),
                process_name(),
                args.workers,
                limits.max_job_memory,
                shutdown_rx.clone(),
            );
            (Some(pool), handles)
        } else {
            (None, Vec::new())
        };
        handles.push(sweeper);
        let instant = InstantLane::new(
            store.clone(),
            hub.clone(),
            painter,
            usize::from(args.instant_jobs),
            &process_name(),
        );
        let state = AppState {
            store: store.clone(),
            instant: Arc::new(instant),
            hub,
            limits,
            tokens: Tokens::new(args.token, args.admin_token),
            origins,
            workers,
            decoding: Arc::new(Semaphore::new(2)),
            retention,
            admission: Arc::default(),
            keys,
            fair,
            shutdown: shutdown_rx.clone(),
        };
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener.local_addr()?;
        let app = router(state);
        let http = tokio::spawn(wire::serve(listener, app, wire, shutdown_rx.clone()));
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

/// Fast pictures painted by processes of `program` (each limited to `job_memory` and a
/// margin), or in this process where there is none.
fn fast_painter(
    program: Option<PathBuf>,
    job_memory: usize,
    deadline_base: Duration,
) -> FastPainter {
    match program {
        Some(program) => {
            FastPainter::in_processes(Arc::new(Painters::new(program, job_memory, deadline_base)))
        }
        None => FastPainter::default(),
    }
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
    let job_memory = args.job_memory()?;
    let painter = Arc::new(fast_painter(
        args.painter_program()?,
        job_memory,
        DEADLINE_BASE,
    ));
    let store = Store::connect(&config).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let name = args.name.unwrap_or_else(process_name);
    let (_pool, handles) = crate::worker::start(
        store.clone(),
        Hub::new(),
        painter,
        name.clone(),
        args.workers,
        job_memory,
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
}
