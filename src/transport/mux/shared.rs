//! State shared by the session handles, the streams and the reader / writer / timer tasks:
//! the stream table, the outgoing frame queue (with the direct-write fast path) and
//! termination.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWrite;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frame::{Header, FLAG_ACK, FLAG_FIN, FLAG_RST, HEADER_LEN};
use super::reader::RecvError;
use super::stream::{StreamShared, StreamState};
use super::{MuxConfig, INITIAL_STREAM_WINDOW};

/// Largest data frame payload we send (consecutive writes of a stream coalesce up to this).
pub(super) const MAX_FRAME: usize = 64 * 1024;
/// Stream writers wait while this many data bytes are queued for the writer task.
pub(super) const DATA_LIMIT: usize = 128 * 1024;
/// Writes at least this large go straight to the connection when nothing is queued and the
/// writer task is idle (saves a copy and a task hop; the kernel copies from the caller's
/// buffer while it is still in cache).
const DIRECT_WRITE_MIN: usize = 32 * 1024;
/// Largest data frame written directly.
const DIRECT_WRITE_MAX: usize = 256 * 1024;
/// Ping replies are dropped (not queued) beyond this much pending control data.
const CTRL_SOFT_LIMIT: usize = 1 << 20;
/// More pending control data than this means the peer floods us while not reading: the
/// session is closed (hashicorp instead stops reading while its send queue is full).
const CTRL_HARD_LIMIT: usize = 4 << 20;

/// Locks a std mutex, ignoring poisoning (no code path panics while holding one).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `now + d`, saturating far in the future instead of overflowing on absurd settings.
pub(super) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365 * 30))
}

pub(super) fn session_closed_err() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "yamux session shutdown")
}

/// Frames waiting for the writer task. Lock order: `State` → stream → `Outbox`.
pub(super) struct Outbox {
    /// Control frames, written before `data` in every batch.
    pub(super) ctrl: BytesMut,
    /// Data frames and FINs, in order.
    pub(super) data: BytesMut,
    /// The last frame in `data` is a flag-less data frame of this stream at this offset.
    pub(super) last_data: Option<(u32, usize)>,
    /// Stream writers waiting for `data` to drain below `DATA_LIMIT`.
    pub(super) waiters: Vec<Waker>,
    /// The writer has been notified and not yet taken the buffers.
    pub(super) writer_notified: bool,
    /// The session is terminated; new frames are dropped.
    pub(super) closed: bool,
    /// After termination the writer still flushes what is queued (GoAway / graceful close).
    pub(super) drain: bool,
    /// The writer task is writing a batch (no direct writes meanwhile).
    pub(super) writer_busy: bool,
    /// `data[..cont_len]` is the rest of a partially written direct frame: it goes out
    /// before anything else.
    pub(super) cont_len: usize,
}

/// Direct writes (and partial ones) so far, for tests to check they exercise those paths.
#[cfg(test)]
pub(super) static DIRECT_WRITES: AtomicUsize = AtomicUsize::new(0);
#[cfg(test)]
pub(super) static PARTIAL_DIRECT_WRITES: AtomicUsize = AtomicUsize::new(0);

/// The connection's write half, shared by the writer task and direct writes.
pub(super) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A waker that does nothing: direct writes never wait for the socket (they queue instead).
fn noop_waker() -> &'static Waker {
    struct Noop;
    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    static WAKER: OnceLock<Waker> = OnceLock::new();
    WAKER.get_or_init(|| Waker::from(Arc::new(Noop)))
}

pub(super) struct PingState {
    pub(super) next_id: u32,
    /// Outstanding ping id and the deadline for its ACK.
    pub(super) outstanding: Option<(u32, Instant)>,
    /// When the next ping is due (while none is outstanding).
    pub(super) next_at: Option<Instant>,
}

pub(super) struct State {
    pub(super) streams: HashMap<u32, Arc<StreamShared>>,
    /// Streams we opened that have not been ACKed yet (each holds a `syn_sem` permit).
    pub(super) inflight: HashSet<u32>,
    pub(super) next_id: u32,
    pub(super) open_deadlines: VecDeque<(Instant, u32)>,
    pub(super) close_deadlines: VecDeque<(Instant, u32, Weak<StreamShared>)>,
    pub(super) ping: PingState,
}

/// How a session ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Termination {
    /// Drop everything queued and close the connection now.
    Abort,
    /// Discard queued data, send `GoAway(code)` (and queued control frames), then close.
    GoAway(u32),
    /// Flush everything queued, then close.
    Graceful,
}

pub(super) struct Shared {
    pub(super) cfg: MuxConfig,
    pub(super) max_window: u32,
    pub(super) open_timeout: Duration,
    pub(super) close_timeout: Duration,
    pub(super) token: CancellationToken,
    pub(super) state: Mutex<State>,
    pub(super) out: Mutex<Outbox>,
    pub(super) writer_notify: Notify,
    pub(super) timer_notify: Notify,
    /// The write half; `None` once the writer task has shut it down.
    pub(super) sock: Mutex<Option<BoxWrite>>,
    pub(super) sock_vectored: bool,
    pub(super) syn_sem: Semaphore,
    pub(super) accept_rx: tokio::sync::Mutex<mpsc::Receiver<Arc<StreamShared>>>,
    pub(super) remote_goaway: AtomicBool,
    pub(super) stream_handles: AtomicUsize,
    pub(super) session_handles_gone: AtomicBool,
}

impl Shared {
    fn notify_writer(&self, o: &mut Outbox) -> bool {
        !std::mem::replace(&mut o.writer_notified, true)
    }

    /// Queues a control frame (priority over data). Must be called without holding the
    /// state or a stream lock (it may terminate the session).
    pub(super) fn push_ctrl(&self, h: Header) {
        let mut o = lock(&self.out);
        if o.closed {
            return;
        }
        if o.ctrl.len() >= CTRL_HARD_LIMIT {
            drop(o);
            self.terminate(Termination::Abort, "control queue overflow");
            return;
        }
        h.put(&mut o.ctrl);
        let notify = self.notify_writer(&mut o);
        drop(o);
        if notify {
            self.writer_notify.notify_one();
        }
    }

    /// Queues a ping reply unless the control queue is already huge (peer ping flood while
    /// the connection does not drain).
    pub(super) fn push_ping_reply(&self, id: u32) {
        if lock(&self.out).ctrl.len() > CTRL_SOFT_LIMIT {
            tracing::warn!("yamux: control queue full, dropping ping reply");
            return;
        }
        self.push_ctrl(Header::ping(FLAG_ACK, id));
    }

    /// Queues a FIN behind the stream's data frames.
    pub(super) fn push_fin(&self, id: u32) {
        let mut o = lock(&self.out);
        if o.closed {
            return;
        }
        Header::window_update(FLAG_FIN, id, 0).put(&mut o.data);
        o.last_data = None;
        let notify = self.notify_writer(&mut o);
        drop(o);
        if notify {
            self.writer_notify.notify_one();
        }
    }

    /// Sends a prefix of `buf` (already limited to the send window) as a data frame: written
    /// straight to the connection when possible, else appended to the queue (extending the
    /// stream's last queued frame when possible). Returns the bytes taken; Pending while
    /// the queue holds `DATA_LIMIT` bytes or more.
    pub(super) fn poll_push_data(
        &self,
        cx: &mut Context<'_>,
        id: u32,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut o = lock(&self.out);
        if o.closed {
            return Poll::Ready(Err(session_closed_err()));
        }
        if buf.len() >= DIRECT_WRITE_MIN
            && self.sock_vectored
            && !o.writer_busy
            && o.ctrl.is_empty()
            && o.data.is_empty()
        {
            let payload = &buf[..buf.len().min(DIRECT_WRITE_MAX)];
            if self.try_direct_write(&mut o, id, payload) {
                let notify = o.cont_len > 0 && self.notify_writer(&mut o);
                drop(o);
                if notify {
                    self.writer_notify.notify_one();
                }
                return Poll::Ready(Ok(payload.len()));
            }
        }
        if o.data.len() >= DATA_LIMIT {
            if !o.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                o.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        let payload = &buf[..buf.len().min(MAX_FRAME)];
        let n = payload.len();
        match o.last_data {
            Some((sid, off)) if sid == id && o.data.len() - off - HEADER_LEN + n <= MAX_FRAME => {
                let new_len = (o.data.len() - off - HEADER_LEN + n) as u32;
                o.data[off + 8..off + HEADER_LEN].copy_from_slice(&new_len.to_be_bytes());
                o.data.extend_from_slice(payload);
            }
            _ => {
                let off = o.data.len();
                Header::data(0, id, n as u32).put(&mut o.data);
                o.data.extend_from_slice(payload);
                o.last_data = Some((id, off));
            }
        }
        let notify = self.notify_writer(&mut o);
        drop(o);
        if notify {
            self.writer_notify.notify_one();
        }
        Poll::Ready(Ok(n))
    }

    /// Writes a data frame straight to the connection (caller checked that nothing is queued
    /// and the writer is idle, and holds the outbox lock so nothing can get in between). An
    /// unwritten remainder is queued as continuation. False when nothing could be written.
    fn try_direct_write(&self, o: &mut Outbox, id: u32, payload: &[u8]) -> bool {
        let Ok(mut sock) = self.sock.try_lock() else {
            return false;
        };
        let Some(w) = sock.as_mut() else {
            return false;
        };
        let hdr = Header::data(0, id, payload.len() as u32).encode();
        let bufs = [IoSlice::new(&hdr), IoSlice::new(payload)];
        let mut cx = Context::from_waker(noop_waker());
        let k = match Pin::new(w).poll_write_vectored(&mut cx, &bufs) {
            Poll::Ready(Ok(k)) if k > 0 => k,
            // Not writable now, or an error the writer task will hit and report: queue.
            _ => return false,
        };
        let total = HEADER_LEN + payload.len();
        #[cfg(test)]
        DIRECT_WRITES.fetch_add(1, Ordering::Relaxed);
        if k < total {
            #[cfg(test)]
            PARTIAL_DIRECT_WRITES.fetch_add(1, Ordering::Relaxed);
            if k < HEADER_LEN {
                o.data.extend_from_slice(&hdr[k..]);
                o.data.extend_from_slice(payload);
            } else {
                o.data
                    .extend_from_slice(&payload[(k - HEADER_LEN).min(payload.len())..]);
            }
            o.cont_len = o.data.len();
            o.last_data = None;
        }
        true
    }

    pub(super) fn get_stream(&self, id: u32) -> Option<Arc<StreamShared>> {
        lock(&self.state).streams.get(&id).cloned()
    }

    /// A SYN arrived: register the stream and queue it for `accept`, or RST it when the
    /// backlog is full (hashicorp `incomingStream`).
    pub(super) fn incoming_stream(
        &self,
        id: u32,
        accept_tx: &mpsc::Sender<Arc<StreamShared>>,
    ) -> Result<(), RecvError> {
        let mut st = lock(&self.state);
        if self.token.is_cancelled() {
            return Err(RecvError::Closed);
        }
        if st.streams.contains_key(&id) {
            return Err(RecvError::Protocol("duplicate stream declared"));
        }
        let stream = Arc::new(StreamShared::new(
            id,
            StreamState::SynReceived,
            INITIAL_STREAM_WINDOW,
        ));
        if accept_tx.try_send(stream.clone()).is_ok() {
            st.streams.insert(id, stream);
            return Ok(());
        }
        drop(st);
        tracing::warn!(stream = id, "yamux: backlog exceeded, forcing stream reset");
        self.push_ctrl(Header::window_update(FLAG_RST, id, 0));
        Ok(())
    }

    /// Removes the stream from the session (both sides closed, or reset).
    pub(super) fn forget(&self, stream: &Arc<StreamShared>) {
        let mut st = lock(&self.state);
        if st
            .streams
            .get(&stream.id)
            .is_some_and(|s| Arc::ptr_eq(s, stream))
        {
            st.streams.remove(&stream.id);
        }
        if st.inflight.remove(&stream.id) {
            self.syn_sem.add_permits(1);
        }
    }

    /// The peer ACKed a stream we opened.
    pub(super) fn establish(&self, id: u32) {
        if lock(&self.state).inflight.remove(&id) {
            self.syn_sem.add_permits(1);
        }
    }

    /// Starts the close timeout of a stream we closed and dropped.
    pub(super) fn schedule_close(&self, stream: &Arc<StreamShared>) {
        let mut st = lock(&self.state);
        if self.token.is_cancelled() {
            return;
        }
        let was_empty = st.close_deadlines.is_empty();
        st.close_deadlines.push_back((
            deadline_after(self.close_timeout),
            stream.id,
            Arc::downgrade(stream),
        ));
        drop(st);
        if was_empty {
            self.timer_notify.notify_one();
        }
    }

    /// A Ping ACK arrived.
    pub(super) fn ping_acked(&self, id: u32) {
        let mut st = lock(&self.state);
        if st.ping.outstanding.is_some_and(|(pid, _)| pid == id) {
            st.ping.outstanding = None;
            st.ping.next_at = self.cfg.keepalive_interval.map(deadline_after);
            drop(st);
            self.timer_notify.notify_one();
        }
    }

    /// Ends the session: every stream is closed (reads drain then EOF, writes fail), `accept`
    /// returns `None`, the tasks stop and the connection is closed.
    pub(super) fn terminate(&self, how: Termination, reason: &str) {
        let waiters = {
            let mut o = lock(&self.out);
            if o.closed {
                return;
            }
            o.closed = true;
            match how {
                Termination::Abort => {}
                Termination::GoAway(code) => {
                    let keep = o.cont_len; // never cut a frame in half
                    o.data.truncate(keep);
                    o.last_data = None;
                    Header::go_away(code).put(&mut o.ctrl);
                    o.drain = true;
                }
                Termination::Graceful => o.drain = true,
            }
            std::mem::take(&mut o.waiters)
        };
        tracing::debug!(reason, "yamux session closed");
        self.token.cancel();
        let streams: Vec<Arc<StreamShared>> = {
            let mut st = lock(&self.state);
            st.inflight.clear();
            st.open_deadlines.clear();
            st.close_deadlines.clear();
            st.streams.drain().map(|(_, s)| s).collect()
        };
        for s in streams {
            s.force_close();
        }
        for w in waiters {
            w.wake();
        }
        self.syn_sem.close();
        self.writer_notify.notify_one();
        self.timer_notify.notify_one();
    }

    pub(super) fn stream_handle_created(&self) {
        self.stream_handles.fetch_add(1, Ordering::SeqCst);
    }

    pub(super) fn stream_handle_dropped(&self) {
        if self.stream_handles.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.maybe_auto_close();
        }
    }

    pub(super) fn maybe_auto_close(&self) {
        if self.session_handles_gone.load(Ordering::SeqCst)
            && self.stream_handles.load(Ordering::SeqCst) == 0
        {
            self.terminate(Termination::Graceful, "all handles dropped");
        }
    }
}
