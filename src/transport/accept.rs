//! One accept loop for every TCP listener of frps and frpc: the bind port, proxy and group
//! ports, the vhost and web servers, the visitors.
//!
//! The accept error that matters is running out of file descriptors (EMFILE, ENFILE) or of
//! kernel memory (ENOBUFS, ENOMEM): it lasts until some connection closes, so retrying at once
//! spins a core and a fixed pause is either too short or too long. A failing accept waits 5 ms,
//! doubling while it keeps failing up to 1 s; the first success resets the pause (tokio's
//! mini-redis does the same). A peer that gave up while queued (ECONNABORTED) is no reason to
//! wait. An optional cap bounds the connections open at once: past it, accepting waits for one
//! to close and the kernel's queue holds the rest.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_secs(1);

/// A listener and its accept state.
pub struct Acceptor {
    listener: TcpListener,
    /// Names the listener in logs ("proxy [ssh]", "dashboard", ...).
    label: String,
    /// The pause after the last failed accept; zero after a success.
    pause: Duration,
    /// No accept before this (kept here, not in a sleep, so that `accept` is cancel-safe).
    retry_at: Option<Instant>,
    limit: Option<Arc<Semaphore>>,
}

/// An accepted connection (TCP_NODELAY set). With a cap, `permit` holds its place until the
/// connection is dropped: keep it with the stream.
pub struct Accepted {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub permit: Option<OwnedSemaphorePermit>,
}

impl Acceptor {
    pub fn new(listener: TcpListener, label: impl Into<String>) -> Acceptor {
        Acceptor {
            listener,
            label: label.into(),
            pause: Duration::ZERO,
            retry_at: None,
            limit: None,
        }
    }

    /// At most `max` connections accepted here open at once.
    pub fn with_limit(mut self, max: usize) -> Acceptor {
        self.limit = Some(Arc::new(Semaphore::new(max)));
        self
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection. Errors are logged and retried (see the module's comment), so this
    /// returns only a connection. Cancel-safe: use it in `select!` with a stop signal.
    pub async fn accept(&mut self) -> Accepted {
        loop {
            if let Some(at) = self.retry_at {
                tokio::time::sleep_until(at).await;
                self.retry_at = None;
            }
            let permit = match &self.limit {
                Some(s) => s.clone().acquire_owned().await.ok(),
                None => None,
            };
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.pause = Duration::ZERO;
                    let _ = stream.set_nodelay(true);
                    return Accepted {
                        stream,
                        peer,
                        permit,
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {
                    debug!(listener = %self.label, "accept: {e}");
                }
                Err(e) => {
                    self.pause = next_pause(self.pause);
                    warn!(listener = %self.label, "accept error: {e}; trying again in {:?}", self.pause);
                    self.retry_at = Some(Instant::now() + self.pause);
                }
            }
        }
    }
}

impl Acceptor {
    /// Accept until `stop` completes, handing each connection to `handle` (which spawns what
    /// serves it); the listener closes on return.
    pub async fn serve_until(
        mut self,
        stop: impl std::future::Future<Output = ()>,
        mut handle: impl FnMut(Accepted),
    ) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                a = self.accept() => handle(a),
                _ = &mut stop => return,
            }
        }
    }
}

/// The pause after another failed accept: 5 ms, then doubling up to 1 s.
fn next_pause(prev: Duration) -> Duration {
    if prev.is_zero() {
        FIRST_PAUSE
    } else {
        (prev * 2).min(MAX_PAUSE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_from_5_ms_to_1_s() {
        let mut p = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..10 {
            p = next_pause(p);
            seen.push(p.as_millis());
        }
        assert_eq!(seen, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
    }

    /// With a cap of 2, a third connection is accepted only once one of the first two closed.
    #[tokio::test]
    async fn the_cap_holds_connections_back_until_one_closes() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let mut a = Acceptor::new(l, "test").with_limit(2);
        let _c: Vec<_> = connect_n(addr, 3).await;
        let first = a.accept().await;
        let _second = a.accept().await;
        let third = tokio::time::timeout(Duration::from_millis(200), a.accept()).await;
        assert!(
            third.is_err(),
            "a third connection waits while two are open"
        );
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(5), a.accept()).await;
        assert!(third.is_ok(), "accepted once the first closed");
    }

    async fn connect_n(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(TcpStream::connect(addr).await.unwrap());
        }
        v
    }
}
