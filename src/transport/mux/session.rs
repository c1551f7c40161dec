//! Session state shared by the handles and the reader / writer / timer tasks.

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::frame::{Header, FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, HEADER_LEN};
use super::stream::{MuxStream, StreamShared, StreamState};
use super::tasks::{self, RecvError};
use super::{Mode, MuxConfig, INITIAL_STREAM_WINDOW, STREAM_CLOSE_TIMEOUT, STREAM_OPEN_TIMEOUT};

/// Largest data frame payload we send (consecutive writes of a stream coalesce up to this).
pub(super) const MAX_FRAME: usize = 128 * 1024;
/// Stream writers wait while this many data bytes are queued for the writer task.
pub(super) const DATA_LIMIT: usize = 256 * 1024;
/// Ping replies are dropped (not queued) beyond this much pending control data.
const CTRL_SOFT_LIMIT: usize = 1 << 20;

/// Locks a std mutex, ignoring poisoning (no code path panics while holding one).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
    next_id: u32,
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
    pub(super) token: CancellationToken,
    pub(super) state: Mutex<State>,
    pub(super) out: Mutex<Outbox>,
    pub(super) writer_notify: Notify,
    pub(super) timer_notify: Notify,
    syn_sem: Semaphore,
    accept_rx: tokio::sync::Mutex<mpsc::Receiver<Arc<StreamShared>>>,
    pub(super) remote_goaway: AtomicBool,
    stream_handles: AtomicUsize,
    session_handles_gone: AtomicBool,
}

impl Shared {
    fn notify_writer(&self, o: &mut Outbox) -> bool {
        !std::mem::replace(&mut o.writer_notified, true)
    }

    /// Queues a control frame (priority over data).
    pub(super) fn push_ctrl(&self, h: Header) {
        let mut o = lock(&self.out);
        if o.closed {
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

    /// Appends a data frame (or extends the stream's last queued one). Pending while the
    /// queue holds `DATA_LIMIT` bytes or more.
    pub(super) fn poll_push_data(
        &self,
        cx: &mut Context<'_>,
        id: u32,
        payload: &[u8],
    ) -> Poll<io::Result<()>> {
        let mut o = lock(&self.out);
        if o.closed {
            return Poll::Ready(Err(session_closed_err()));
        }
        if o.data.len() >= DATA_LIMIT {
            if !o.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                o.waiters.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
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
        Poll::Ready(Ok(()))
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
            Instant::now() + STREAM_CLOSE_TIMEOUT,
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
            st.ping.next_at = self.cfg.keepalive_interval.map(|i| Instant::now() + i);
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
                    o.data.clear();
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

    fn maybe_auto_close(&self) {
        if self.session_handles_gone.load(Ordering::SeqCst)
            && self.stream_handles.load(Ordering::SeqCst) == 0
        {
            self.terminate(Termination::Graceful, "all handles dropped");
        }
    }
}

/// A yamux session over one connection. Cheap to clone; every clone is the same session.
#[derive(Clone)]
pub struct Session {
    handle: Arc<SessionHandle>,
}

struct SessionHandle {
    shared: Arc<Shared>,
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        self.shared
            .session_handles_gone
            .store(true, Ordering::SeqCst);
        self.shared.maybe_auto_close();
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("closed", &self.is_closed())
            .field("streams", &self.num_streams())
            .finish()
    }
}

impl Session {
    /// Starts a session over `io`; spawns its reader, writer and timer tasks on the current
    /// tokio runtime (panics outside one, like `tokio::spawn`).
    pub fn new<T>(io: T, mode: Mode, cfg: MuxConfig) -> Session
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut cfg = cfg;
        cfg.max_stream_window = cfg.max_stream_window.max(INITIAL_STREAM_WINDOW);
        cfg.accept_backlog = cfg.accept_backlog.max(1);
        let (accept_tx, accept_rx) = mpsc::channel(cfg.accept_backlog);
        let now = Instant::now();
        let shared = Arc::new(Shared {
            max_window: cfg.max_stream_window,
            token: CancellationToken::new(),
            state: Mutex::new(State {
                streams: HashMap::new(),
                inflight: HashSet::new(),
                next_id: match mode {
                    Mode::Client => 1,
                    Mode::Server => 2,
                },
                open_deadlines: VecDeque::new(),
                close_deadlines: VecDeque::new(),
                ping: PingState {
                    next_id: 0,
                    outstanding: None,
                    next_at: cfg.keepalive_interval.map(|i| now + i),
                },
            }),
            out: Mutex::new(Outbox {
                ctrl: BytesMut::with_capacity(1024),
                data: BytesMut::with_capacity(DATA_LIMIT + MAX_FRAME + 64),
                last_data: None,
                waiters: Vec::new(),
                writer_notified: false,
                closed: false,
                drain: false,
            }),
            writer_notify: Notify::new(),
            timer_notify: Notify::new(),
            syn_sem: Semaphore::new(cfg.accept_backlog),
            accept_rx: tokio::sync::Mutex::new(accept_rx),
            remote_goaway: AtomicBool::new(false),
            stream_handles: AtomicUsize::new(0),
            session_handles_gone: AtomicBool::new(false),
            cfg,
        });

        // Plain TCP splits into lock-free owned halves; anything else uses tokio::io::split.
        let mut slot = Some(io);
        let tcp = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<TcpStream>>()
            .and_then(Option::take);
        if let Some(tcp) = tcp {
            let (r, w) = tcp.into_split();
            tokio::spawn(tasks::reader_task(shared.clone(), r, accept_tx));
            tokio::spawn(tasks::writer_task(shared.clone(), w));
        } else if let Some(io) = slot {
            let (r, w) = tokio::io::split(io);
            tokio::spawn(tasks::reader_task(shared.clone(), r, accept_tx));
            tokio::spawn(tasks::writer_task(shared.clone(), w));
        }
        tokio::spawn(tasks::timer_task(shared.clone()));
        Session {
            handle: Arc::new(SessionHandle { shared }),
        }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Opens a stream: sends `WindowUpdate SYN` and returns without waiting for the ACK
    /// (hashicorp `OpenStream`). Waits while `accept_backlog` opens are un-ACKed.
    pub async fn open(&self) -> io::Result<MuxStream> {
        let sh = self.shared();
        if sh.token.is_cancelled() {
            return Err(session_closed_err());
        }
        if sh.remote_goaway.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "yamux: remote end is not accepting connections",
            ));
        }
        let permit = tokio::select! {
            p = sh.syn_sem.acquire() => p.map_err(|_| session_closed_err())?,
            _ = sh.token.cancelled() => return Err(session_closed_err()),
        };
        permit.forget();
        let (stream, notify_timer) = {
            let mut st = lock(&sh.state);
            let id = st.next_id;
            if sh.token.is_cancelled() || id >= u32::MAX - 1 {
                drop(st);
                sh.syn_sem.add_permits(1);
                return Err(if sh.token.is_cancelled() {
                    session_closed_err()
                } else {
                    io::Error::other("yamux: streams exhausted")
                });
            }
            st.next_id = id + 2;
            let stream = Arc::new(StreamShared::new(id, StreamState::SynSent, sh.max_window));
            st.streams.insert(id, stream.clone());
            st.inflight.insert(id);
            let was_empty = st.open_deadlines.is_empty();
            st.open_deadlines
                .push_back((Instant::now() + STREAM_OPEN_TIMEOUT, id));
            (stream, was_empty)
        };
        if notify_timer {
            sh.timer_notify.notify_one();
        }
        sh.push_ctrl(Header::window_update(
            FLAG_SYN,
            stream.id,
            sh.max_window - INITIAL_STREAM_WINDOW,
        ));
        Ok(MuxStream::new(sh.clone(), stream))
    }

    /// Waits for the next stream opened by the peer and ACKs it; `None` once the session is
    /// closed.
    pub async fn accept(&self) -> Option<MuxStream> {
        let sh = self.shared();
        let mut rx = tokio::select! {
            biased;
            _ = sh.token.cancelled() => return None,
            rx = sh.accept_rx.lock() => rx,
        };
        let stream = tokio::select! {
            biased;
            _ = sh.token.cancelled() => return None,
            s = rx.recv() => s?,
        };
        drop(rx);
        let delta = {
            let mut s = lock(&stream.inner);
            match s.state {
                StreamState::Reset | StreamState::Closed => None,
                state => {
                    if state == StreamState::SynReceived {
                        s.state = StreamState::Established;
                    }
                    Some(s.grant_window(sh.max_window))
                }
            }
        };
        if let Some(delta) = delta {
            sh.push_ctrl(Header::window_update(FLAG_ACK, stream.id, delta));
        }
        Some(MuxStream::new(sh.clone(), stream))
    }

    /// Closes the connection and every stream now (no GoAway, queued frames are dropped).
    pub fn close(&self) {
        self.shared().terminate(Termination::Abort, "closed by user");
    }

    /// Resolves once the session is dead for any reason.
    pub async fn closed(&self) {
        self.shared().token.cancelled().await
    }

    /// True once the session is dead.
    pub fn is_closed(&self) -> bool {
        self.shared().token.is_cancelled()
    }

    /// Streams the session tracks (open, half-closed, or waiting in the accept backlog).
    pub fn num_streams(&self) -> usize {
        lock(&self.shared().state).streams.len()
    }
}
