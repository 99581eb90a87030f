//! A request body that must keep arriving: after a grace period it has to
//! average a minimum rate, and all of it must arrive within a total time.
//!
//! Written here because tower-http's body timeout is an idle timeout
//! between frames: a client sending one byte every few seconds never trips
//! it, yet holds a connection (and an upload slot) for hours.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Time allowed before the rate counts (a slow start, a phone waking up).
    pub grace: Duration,
    /// Bytes per second, averaged from the start, once the grace is over.
    pub min_rate: u64,
    /// The whole body, at most.
    pub total: Duration,
}

impl Pace {
    /// When a body that has delivered `received` bytes since `started` is too slow.
    fn deadline(&self, started: Instant, received: u64) -> Instant {
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate.max(1) as f64);
        started + (self.grace + earned).min(self.total)
    }
}

/// The error a paced body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

/// `inner`, failing with [`TooSlow`] (and setting `too_slow`) when it falls
/// behind its [`Pace`].
pub struct Paced<B> {
    inner: B,
    pace: Pace,
    started: Instant,
    received: u64,
    timer: Pin<Box<Sleep>>,
    too_slow: Arc<AtomicBool>,
}

impl<B> Paced<B> {
    pub fn new(inner: B, pace: Pace, too_slow: Arc<AtomicBool>) -> Self {
        let started = Instant::now();
        Self {
            inner,
            pace,
            started,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(pace.deadline(started, 0))),
            too_slow,
        }
    }
}

impl<B> Body for Paced<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                    let next = this.pace.deadline(this.started, this.received);
                    this.timer.as_mut().reset(next);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if this.timer.as_mut().poll(cx).is_ready() {
                    this.too_slow.store(true, Ordering::SeqCst);
                    return Poll::Ready(Some(Err(TooSlow.into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_grows_with_what_arrived_up_to_the_total() {
        let pace = Pace {
            grace: Duration::from_secs(10),
            min_rate: 1000,
            total: Duration::from_secs(60),
        };
        let t = Instant::now();
        assert_eq!(pace.deadline(t, 0), t + Duration::from_secs(10));
        assert_eq!(pace.deadline(t, 5000), t + Duration::from_secs(15));
        assert_eq!(pace.deadline(t, 10_000_000), t + Duration::from_secs(60));
    }
}
