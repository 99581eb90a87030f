//! `restyle serve`: a self-hosted style transfer web page and JSON API.
//!
//! Upload a photo and a painting, watch the picture form live, download
//! it. Jobs wait in a queue kept in a database (SQLite by default,
//! PostgreSQL to share the queue between machines, where `restyle worker`
//! processes take jobs too); nothing is lost when the server is killed: a
//! job that was running resumes from its last preview.
//!
//! The pieces: [`wire`] (the listener: timeouts, connection cap), [`guard`]
//! (what every request passes: host, origin, token, the viewer's key),
//! [`api`] (the JSON API), [`pages`] (the page), [`worker`] (the pool that
//! runs [`restyle::stylize`]; [`pool`], what the rest of the server reaches of it), [`video`] (clips: checked, painted frame by frame; a long one
//! in [`chunks`]), [`instant`] (the fast method's pictures, out of the queue's turn, painted
//! in processes of their own: [`painter`]; how one is painted: [`fast_picture`]), [`storage`] (jobs and images on SQLite or
//! PostgreSQL through one [`storage::Store`]), [`limits`], [`fair`] (what
//! one client may hold or do: streams, uploads, jobs, fast pictures, disk),
//! and [`config`]; what a job asks for is the one request ([`restyle_request`]).
//!
//! ```no_run
//! use restyle_server::{ServeArgs, Server};
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     serve: ServeArgs,
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! // `--listen 127.0.0.1:0` picks a free port; `--data` keeps the queue and images.
//! let args = Cli::parse_from(["serve", "--listen", "127.0.0.1:0", "--data", "/tmp/restyle-data"]).serve;
//! let server = Server::start(args).await?;
//! println!("open http://{}", server.addr());
//! // ... later: finish the current step, put a running job back in the queue.
//! server.stop().await?;
//! # Ok(())
//! # }
//! ```

pub mod access;
pub mod api;
pub mod browser;
pub mod chunks;
pub mod config;
pub mod error;
pub mod events;
pub mod fair;
pub mod fast_picture;
pub mod guard;
pub mod instant;
pub mod jobs;
pub mod limits;
pub mod login;
pub mod origin;
pub mod pages;
pub mod painter;
pub mod pool;
pub mod regions;
pub mod retention;
pub mod server;
pub mod state;
pub mod storage;
pub mod styles;
pub mod submission;
pub mod token;
pub mod upload;
pub mod video;
pub mod viewer;
pub mod wire;
pub mod worker;

pub use config::{ServeArgs, StoreArgs, WorkerArgs};
pub use error::ApiError;
pub use jobs::{JobId, JobState, JobView};
pub use limits::Limits;
pub use server::Server;

/// Logs to standard error: `RESTYLE_LOG` (error, warn, info, debug, trace;
/// default info) sets how much.
pub fn init_logging() {
    let level = std::env::var("RESTYLE_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `restyle serve`, for the command line: runs until SIGTERM or Ctrl-C.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    runtime()?.block_on(server::serve(args))
}

/// `restyle instant-painter` (hidden): a process of the instant lane, started by
/// `restyle serve` ([`painter`]).
pub fn run_painter(args: painter::PainterArgs) -> anyhow::Result<()> {
    init_logging();
    painter::run_painter(args)
}

/// `restyle worker`, for the command line: runs until SIGTERM or Ctrl-C.
pub fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    init_logging();
    runtime()?.block_on(server::worker(args))
}
