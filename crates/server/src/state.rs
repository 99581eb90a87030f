//! What every request handler can reach: the store, the change notices,
//! the limits, the workers of this process.

use std::sync::Arc;

use tokio::sync::{watch, Semaphore};

use crate::config::Retention;
use crate::events::Hub;
use crate::fair::Fairness;
use crate::instant::InstantLane;
use crate::limits::Limits;
use crate::origin::Origins;
use crate::pool::WorkerPool;
use crate::storage::Store;
use crate::token::Tokens;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub limits: Limits,
    /// `--token` and `--admin-token`.
    pub tokens: Tokens,
    /// The names this server answers to (`--public-url`).
    pub origins: Origins,
    /// The workers in this process (none with `--workers 0`).
    pub workers: Option<Arc<WorkerPool>>,
    /// Fast pictures painted out of the queue's turn.
    pub instant: Arc<InstantLane>,
    /// Uploads decoded at once.
    pub decoding: Arc<Semaphore>,
    /// How long finished jobs are kept, and the disk budget.
    pub retention: Retention,
    /// Held from a submission's disk check until its images are stored, so
    /// parallel submissions cannot all pass the same check.
    pub admission: Arc<tokio::sync::Mutex<()>>,
    /// Issues and recognises submitter keys.
    pub keys: crate::viewer::Keys,
    /// What each client may hold or do.
    pub fair: Arc<Fairness>,
    /// Turns true when the server stops: live streams end.
    pub shutdown: watch::Receiver<bool>,
}
