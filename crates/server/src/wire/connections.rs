//! The open connections, at most a fixed number of them. When a new one
//! arrives and all places are taken, the oldest connection that is not in
//! the middle of a request (one still sending its headers, or an idle
//! keep-alive) is closed to make room; if every connection is busy, the
//! new one is closed instead. So clients that hold connections without
//! finishing a request cannot keep a quick request such as `/api/health`
//! out: it finishes its headers at once and is never the one closed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// One connection's place.
#[derive(Debug, Default)]
pub struct Slot {
    /// Requests under way (from parsed headers to the last byte of the answer).
    active: AtomicUsize,
    closing: Notify,
}

impl Slot {
    /// Marks a request under way until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Active {
        self.active.fetch_add(1, Ordering::SeqCst);
        Active(self.clone())
    }

    /// Resolves when the connection must close to make room.
    pub async fn evicted(&self) {
        self.closing.notified().await
    }
}

/// A request under way on a connection.
pub struct Active(Arc<Slot>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connections, oldest first.
pub struct Connections {
    cap: usize,
    open: Mutex<Vec<Weak<Slot>>>,
}

impl Connections {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            open: Mutex::new(Vec::new()),
        }
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// A place for a new connection, closing the oldest idle one if needed;
    /// `None` if every place holds a request under way.
    pub fn admit(&self) -> Option<Arc<Slot>> {
        let mut open = self.open.lock().unwrap();
        open.retain(|s| s.strong_count() > 0);
        if open.len() >= self.cap {
            let idle = open.iter().position(|s| {
                s.upgrade()
                    .is_some_and(|s| s.active.load(Ordering::SeqCst) == 0)
            })?;
            if let Some(slot) = open.remove(idle).upgrade() {
                // notify_one keeps the notice if the task is not waiting yet.
                slot.closing.notify_one();
            }
        }
        let slot = Arc::new(Slot::default());
        open.push(Arc::downgrade(&slot));
        Some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_makes_room_and_busy_ones_stay() {
        let c = Connections::new(2);
        let first = c.admit().unwrap();
        let second = c.admit().unwrap();
        let _busy = second.begin();
        let third = c.admit().expect("the idle first makes room");
        tokio::time::timeout(std::time::Duration::from_secs(1), first.evicted())
            .await
            .expect("the first was told to close");
        let _also_busy = third.begin();
        assert!(c.admit().is_none(), "all busy: the newcomer is refused");
        drop(_also_busy);
        assert!(c.admit().is_some());
    }
}
