//! The writer task (batches control frames before data frames onto the connection) and the
//! timer task (keepalive pings, stream open / close timeouts).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, Instant};

use super::frame::{Header, FLAG_RST, FLAG_SYN};
use super::shared::{deadline_after, lock, BoxWrite, Shared, Termination};
use super::stream::StreamState;

/// Buffers larger than this are freed when the writer goes idle.
const IDLE_KEEP: usize = 4 * 1024;

/// How long a closing writer tries to shut the connection down cleanly.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The writer task's view of the shared write half (locked per poll).
struct SockWriter<'a>(&'a Shared);

impl SockWriter<'_> {
    fn with<T>(
        &self,
        f: impl FnOnce(Pin<&mut BoxWrite>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match lock(&self.0.sock).as_mut() {
            Some(w) => f(Pin::new(w)),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for SockWriter<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|w| w.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.with(|w| w.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.0.sock_vectored
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|w| w.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(|w| w.poll_shutdown(cx))
    }
}

pub(super) async fn writer_task(shared: Arc<Shared>) {
    let wt = shared.cfg.write_timeout;
    let mut w = SockWriter(&shared);
    let mut ctrl = BytesMut::new();
    let mut data = BytesMut::new();
    loop {
        let (waiters, drain, cont) = {
            let mut o = lock(&shared.out);
            std::mem::swap(&mut o.ctrl, &mut ctrl);
            std::mem::swap(&mut o.data, &mut data);
            o.last_data = None;
            o.writer_notified = false;
            o.writer_busy = !(ctrl.is_empty() && data.is_empty());
            let cont = std::mem::take(&mut o.cont_len);
            (std::mem::take(&mut o.waiters), o.drain, cont)
        };
        for waker in waiters {
            waker.wake();
        }
        let cancelled = shared.token.is_cancelled();
        if cancelled && !drain {
            break;
        }
        if ctrl.is_empty() && data.is_empty() {
            if cancelled {
                break;
            }
            // Idle: give the buffers back (the outbox's pair came here at the swap above), so
            // an idle session holds a few bytes, not the ~200 KiB a busy one queues.
            if ctrl.capacity() > IDLE_KEEP {
                ctrl = BytesMut::new();
            }
            if data.capacity() > IDLE_KEEP {
                data = BytesMut::new();
            }
            tokio::select! {
                _ = shared.writer_notify.notified() => {}
                _ = shared.token.cancelled() => {}
            }
            continue;
        }
        let res = {
            let fut = write_batch(&mut w, &ctrl, &data, cont, wt);
            tokio::pin!(fut);
            tokio::select! {
                r = &mut fut => r,
                _ = shared.token.cancelled(), if !cancelled => {
                    if lock(&shared.out).drain {
                        fut.await
                    } else {
                        break;
                    }
                }
            }
        };
        ctrl.clear();
        data.clear();
        if let Err(e) = res {
            tracing::debug!(error = %e, "yamux: write error");
            shared.terminate(Termination::Abort, "connection write error");
            break;
        }
    }
    let sock = lock(&shared.sock).take();
    if let Some(mut sock) = sock {
        let _ = timeout(SHUTDOWN_GRACE, sock.shutdown()).await;
    }
}

async fn with_timeout<T>(wt: Duration, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    match timeout(wt, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "yamux: connection write timeout",
        )),
    }
}

fn write_zero() -> io::Error {
    io::Error::new(
        io::ErrorKind::WriteZero,
        "yamux: connection wrote zero bytes",
    )
}

async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    mut buf: &[u8],
    wt: Duration,
) -> io::Result<()> {
    while !buf.is_empty() {
        let n = with_timeout(wt, w.write(buf)).await?;
        if n == 0 {
            return Err(write_zero());
        }
        buf = &buf[n.min(buf.len())..];
    }
    Ok(())
}

/// Writes the continuation of a direct write (`data[..cont]`), the control frames, then the
/// data frames; every write call must make progress within `wt`.
async fn write_batch<W: AsyncWrite + Unpin>(
    w: &mut W,
    ctrl: &[u8],
    data: &[u8],
    cont: usize,
    wt: Duration,
) -> io::Result<()> {
    let cont = cont.min(data.len());
    write_all(w, &data[..cont], wt).await?;
    let (mut a, mut b) = (ctrl, &data[cont..]);
    if w.is_write_vectored() {
        while !a.is_empty() && !b.is_empty() {
            let bufs = [IoSlice::new(a), IoSlice::new(b)];
            let n = with_timeout(wt, w.write_vectored(&bufs)).await?;
            if n == 0 {
                return Err(write_zero());
            }
            if n >= a.len() {
                b = &b[(n - a.len()).min(b.len())..];
                a = &[];
            } else {
                a = &a[n..];
            }
        }
    }
    write_all(w, a, wt).await?;
    write_all(w, b, wt).await?;
    with_timeout(wt, w.flush()).await
}

pub(super) async fn timer_task(shared: Arc<Shared>) {
    loop {
        let next = next_deadline(&shared);
        let sleep = tokio::time::sleep_until(
            next.unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600)),
        );
        tokio::select! {
            _ = shared.token.cancelled() => return,
            _ = shared.timer_notify.notified() => {}
            _ = sleep => {}
        }
        if !run_timers(&shared) {
            return;
        }
    }
}

fn next_deadline(shared: &Shared) -> Option<Instant> {
    let st = lock(&shared.state);
    let ping = match st.ping.outstanding {
        Some((_, deadline)) => Some(deadline),
        None => st.ping.next_at,
    };
    [
        ping,
        st.open_deadlines.front().map(|d| d.0),
        st.close_deadlines.front().map(|d| d.0),
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Fires due timers; false once the session has been terminated.
fn run_timers(shared: &Shared) -> bool {
    let now = Instant::now();
    let mut fatal = None;
    let mut ping = None;
    let mut expired = Vec::new();
    {
        let mut st = lock(&shared.state);
        match st.ping.outstanding {
            Some((_, deadline)) if deadline <= now => fatal = Some("keepalive timeout"),
            Some(_) => {}
            None => {
                if st.ping.next_at.is_some_and(|t| t <= now) {
                    let id = st.ping.next_id;
                    st.ping.next_id = id.wrapping_add(1);
                    st.ping.outstanding = Some((id, deadline_after(shared.cfg.write_timeout)));
                    st.ping.next_at = None;
                    ping = Some(id);
                }
            }
        }
        while let Some(&(deadline, id)) = st.open_deadlines.front() {
            if deadline > now {
                break;
            }
            st.open_deadlines.pop_front();
            if let Some(s) = st.streams.get(&id) {
                if lock(&s.inner).state == StreamState::SynSent {
                    fatal = Some("stream open timeout (no ACK)");
                }
            }
        }
        while st.close_deadlines.front().is_some_and(|d| d.0 <= now) {
            let Some((_, id, weak)) = st.close_deadlines.pop_front() else {
                break;
            };
            let Some(s) = weak.upgrade() else { continue };
            if !st.streams.get(&id).is_some_and(|x| Arc::ptr_eq(x, &s)) {
                continue;
            }
            let mut inner = lock(&s.inner);
            if inner.state == StreamState::LocalClose {
                inner.state = StreamState::Closed;
                let w = inner.take_wakers();
                drop(inner);
                w.wake();
                expired.push(s);
            }
        }
    }
    if let Some(reason) = fatal {
        shared.terminate(Termination::Abort, reason);
        return false;
    }
    if let Some(id) = ping {
        shared.push_ctrl(Header::ping(FLAG_SYN, id));
    }
    for s in expired {
        tracing::debug!(stream = s.id, "yamux: stream close timeout, sending RST");
        shared.forget(&s);
        shared.push_ctrl(Header::window_update(FLAG_RST, s.id, 0));
    }
    !shared.token.is_cancelled()
}
