//! The public [`Session`] handle: construction, open, accept and close.

use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::frame::{Header, FLAG_ACK, FLAG_SYN};
use super::shared::{
    deadline_after, lock, session_closed_err, BoxWrite, Outbox, PingState, Shared, State,
    Termination,
};
use super::stream::{MuxStream, StreamShared, StreamState};
use super::{reader, writer};
use super::{Mode, MuxConfig, INITIAL_STREAM_WINDOW, STREAM_CLOSE_TIMEOUT, STREAM_OPEN_TIMEOUT};

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
        Session::with_timeouts(io, mode, cfg, STREAM_OPEN_TIMEOUT, STREAM_CLOSE_TIMEOUT)
    }

    /// `new` with other stream open / close timeouts (tests).
    pub(super) fn with_timeouts<T>(
        io: T,
        mode: Mode,
        cfg: MuxConfig,
        open_timeout: Duration,
        close_timeout: Duration,
    ) -> Session
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut cfg = cfg;
        cfg.max_stream_window = cfg.max_stream_window.max(INITIAL_STREAM_WINDOW);
        cfg.accept_backlog = cfg.accept_backlog.max(1);
        let timeouts = (open_timeout, close_timeout);
        // Plain TCP splits into lock-free owned halves; anything else uses tokio::io::split.
        let mut slot = Some(io);
        let tcp = (&mut slot as &mut dyn Any)
            .downcast_mut::<Option<TcpStream>>()
            .and_then(Option::take);
        if let Some(tcp) = tcp {
            let (r, w) = tcp.into_split();
            return Session::start(r, Box::new(w), mode, cfg, timeouts);
        }
        match slot {
            Some(io) => {
                let (r, w) = tokio::io::split(io);
                Session::start(r, Box::new(w), mode, cfg, timeouts)
            }
            // Unreachable: only a TcpStream is taken out of the slot above.
            None => Session::start(
                tokio::io::empty(),
                Box::new(tokio::io::sink()),
                mode,
                cfg,
                timeouts,
            ),
        }
    }

    fn start<R>(
        r: R,
        w: BoxWrite,
        mode: Mode,
        cfg: MuxConfig,
        (open_timeout, close_timeout): (Duration, Duration),
    ) -> Session
    where
        R: AsyncRead + Send + Unpin + 'static,
    {
        let (accept_tx, accept_rx) = mpsc::channel(cfg.accept_backlog);
        let shared = Arc::new(Shared {
            max_window: cfg.max_stream_window,
            open_timeout,
            close_timeout,
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
                    next_at: cfg.keepalive_interval.map(deadline_after),
                },
            }),
            out: Mutex::new(Outbox {
                // Empty until something is queued: an idle session holds no buffers (they grow
                // on demand; the writer gives them back when it goes idle).
                ctrl: BytesMut::new(),
                data: BytesMut::new(),
                last_data: None,
                waiters: Vec::new(),
                writer_notified: false,
                closed: false,
                drain: false,
                writer_busy: false,
                cont_len: 0,
            }),
            writer_notify: Notify::new(),
            timer_notify: Notify::new(),
            sock_vectored: w.is_write_vectored(),
            sock: Mutex::new(Some(w)),
            syn_sem: Semaphore::new(cfg.accept_backlog),
            accept_rx: tokio::sync::Mutex::new(accept_rx),
            remote_goaway: AtomicBool::new(false),
            stream_handles: AtomicUsize::new(0),
            session_handles_gone: AtomicBool::new(false),
            cfg,
        });
        tokio::spawn(reader::reader_task(shared.clone(), r, accept_tx));
        tokio::spawn(writer::writer_task(shared.clone()));
        tokio::spawn(writer::timer_task(shared.clone()));
        Session {
            handle: Arc::new(SessionHandle { shared }),
        }
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
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
                .push_back((deadline_after(sh.open_timeout), id));
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
        self.shared()
            .terminate(Termination::Abort, "closed by user");
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
