//! In-process change notices: a worker (or the API) says "job X changed",
//! and every live progress stream watching X reads the job again. The
//! database stays the one source of truth, so streams also poll it once a
//! second and see the work of workers in other processes.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::jobs::JobId;

#[derive(Clone, Debug)]
pub struct Hub {
    tx: broadcast::Sender<Arc<str>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(256).0,
        }
    }

    /// Tells watchers that `id` changed (nobody listening is fine).
    pub fn notify(&self, id: &JobId) {
        let _ = self.tx.send(Arc::from(id.as_str()));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<str>> {
        self.tx.subscribe()
    }
}

/// Waits until `rx` brings news of `id` (or news was lost, or the hub closed).
pub async fn changed(rx: &mut broadcast::Receiver<Arc<str>>, id: &JobId) {
    loop {
        match rx.recv().await {
            Ok(changed) if &*changed == id.as_str() => return,
            Ok(_) => continue,
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
    }
}
