//! Shutdown as an object (after mini-redis): a [`Shutdown`] handle cloned into every part of a
//! daemon that must react, fed by one [`ShutdownTrigger`]. Stopping has two stages: the first
//! request asks for a graceful stop (stop accepting, let live connections finish), a second one
//! forces an immediate stop.

use std::time::Duration;

use tokio::sync::watch;

const RUNNING: u8 = 0;
const GRACEFUL: u8 = 1;
const NOW: u8 = 2;

/// Watches for stop requests; cheap to clone.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<u8>);

/// Requests stops; each call moves one stage further.
#[derive(Clone)]
pub struct ShutdownTrigger(watch::Sender<u8>);

pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(RUNNING);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    /// First call: graceful stop; any later call: stop now.
    pub fn request(&self) {
        self.0
            .send_modify(|s| *s = if *s == RUNNING { GRACEFUL } else { NOW });
    }
}

impl Shutdown {
    /// Resolves once a stop was requested (graceful or not).
    pub async fn requested(&self) {
        self.wait(GRACEFUL).await
    }

    /// Resolves once an immediate stop was requested.
    pub async fn forced(&self) {
        self.wait(NOW).await
    }

    async fn wait(&self, stage: u8) {
        let mut rx = self.0.clone();
        // A dropped trigger means nobody can ask any more: treat it as never.
        if rx.wait_for(|s| *s >= stage).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Wait until `idle()` holds (polled), `limit` passes, or a forced stop; returns whether
    /// everything drained in time.
    pub async fn drain(&self, limit: Duration, idle: impl Fn() -> bool) -> bool {
        let poll = async {
            while !idle() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            _ = poll => true,
            _ = tokio::time::sleep(limit) => idle(),
            _ = self.forced() => idle(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_requests_go_from_graceful_to_now() {
        let (trigger, shutdown) = channel();
        let early = tokio::time::timeout(Duration::from_millis(20), shutdown.requested()).await;
        assert!(early.is_err(), "nothing requested yet");
        trigger.request();
        shutdown.requested().await;
        let forced = tokio::time::timeout(Duration::from_millis(50), shutdown.forced()).await;
        assert!(forced.is_err(), "one request is only graceful");
        trigger.request();
        shutdown.forced().await;
    }

    #[tokio::test]
    async fn drain_ends_early_when_idle_or_forced() {
        let (trigger, shutdown) = channel();
        assert!(shutdown.drain(Duration::from_secs(10), || true).await);
        trigger.request();
        trigger.request();
        let t = std::time::Instant::now();
        assert!(!shutdown.drain(Duration::from_secs(10), || false).await);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
