//! The reader task: parses frames, routes payload into stream buffers, answers pings and
//! enforces the protocol (hashicorp `recvLoop`, `handleStreamMessage`, `readData`).

use std::io;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::frame::{
    FrameType, Header, FLAG_FIN, FLAG_SYN, GOAWAY_INTERNAL_ERR, GOAWAY_NORMAL, GOAWAY_PROTO_ERR,
    HEADER_LEN,
};
use super::shared::{lock, Shared, Termination};
use super::stream::{FlagEffects, StreamShared, StreamState, Wakers};

/// Socket reads for headers and small payloads go into a buffer of up to this size; it starts
/// at [`READ_MIN`] and doubles while reads fill it (a busy session), halves while they stay
/// small, and an idle session holds none (see [`FrameReader::fill`]).
const READ_BUF: usize = 128 * 1024;
const READ_MIN: usize = 4 * 1024;
/// What an idle session reads into first, on the reader task's own state.
const IDLE_READ: usize = 512;
/// Payload pieces at least this large are handed to the stream without a copy.
const ZERO_COPY_MIN: usize = 16 * 1024;
/// Below this much spare room the read buffer is compacted / grown before reading.
const READ_MIN_SPARE: usize = 16 * 1024;
/// Payload remainders at least this large are read straight into the stream's buffer.
const DIRECT_READ_MIN: usize = 16 * 1024;
/// Largest single allocation for a direct payload read.
const DIRECT_READ_MAX: usize = 1024 * 1024;

/// Why the reader stopped.
pub(super) enum RecvError {
    Eof,
    Io(io::Error),
    /// The session was already terminated.
    Closed,
    /// Ends the session without GoAway (bad header, remote GoAway error).
    Fatal(String),
    /// Sends GoAway(protocol error), then ends the session.
    Protocol(&'static str),
}

impl From<io::Error> for RecvError {
    fn from(e: io::Error) -> Self {
        RecvError::Io(e)
    }
}

pub(super) async fn reader_task<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    r: R,
    accept_tx: mpsc::Sender<Arc<StreamShared>>,
) {
    let mut fr = FrameReader {
        r,
        buf: BytesMut::new(),
        want: READ_MIN,
    };
    let err = tokio::select! {
        e = read_loop(&shared, &mut fr, &accept_tx) => e,
        _ = shared.token.cancelled() => return,
    };
    match err {
        RecvError::Eof => shared.terminate(Termination::Abort, "connection closed by peer"),
        RecvError::Io(e) => {
            tracing::debug!(error = %e, "yamux: read error");
            shared.terminate(Termination::Abort, "connection read error");
        }
        RecvError::Closed => {}
        RecvError::Fatal(msg) => {
            tracing::warn!("yamux: {msg}");
            shared.terminate(Termination::Abort, &msg);
        }
        RecvError::Protocol(msg) => {
            tracing::warn!("yamux: {msg}, sending GoAway");
            shared.terminate(Termination::GoAway(GOAWAY_PROTO_ERR), msg);
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: &Shared,
    fr: &mut FrameReader<R>,
    accept_tx: &mpsc::Sender<Arc<StreamShared>>,
) -> RecvError {
    loop {
        if let Err(e) = read_frame(shared, fr, accept_tx).await {
            return e;
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    shared: &Shared,
    fr: &mut FrameReader<R>,
    accept_tx: &mpsc::Sender<Arc<StreamShared>>,
) -> Result<(), RecvError> {
    if !fr.fill(HEADER_LEN).await? {
        return Err(RecvError::Eof);
    }
    let hdr = match Header::decode_slice(&fr.buf) {
        Some(Ok(h)) => h,
        Some(Err(e)) => return Err(RecvError::Fatal(e.to_string())),
        None => return Err(RecvError::Eof),
    };
    fr.buf.advance(HEADER_LEN);
    match hdr.frame_type {
        FrameType::Data | FrameType::WindowUpdate => {
            handle_stream_frame(shared, fr, accept_tx, hdr).await
        }
        FrameType::Ping => {
            if hdr.has(FLAG_SYN) {
                shared.push_ping_reply(hdr.length);
            } else {
                shared.ping_acked(hdr.length);
            }
            Ok(())
        }
        FrameType::GoAway => match hdr.length {
            GOAWAY_NORMAL => {
                shared
                    .remote_goaway
                    .store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            GOAWAY_PROTO_ERR => Err(RecvError::Fatal("received protocol error go away".into())),
            GOAWAY_INTERNAL_ERR => Err(RecvError::Fatal("received internal error go away".into())),
            code => Err(RecvError::Fatal(format!("unexpected go away code {code}"))),
        },
    }
}

fn apply_effects(shared: &Shared, stream: &Arc<StreamShared>, e: FlagEffects) {
    if e.acked {
        shared.establish(stream.id);
    }
    if e.forget {
        shared.forget(stream);
    }
}

/// hashicorp `handleStreamMessage` / `incrSendWindow` / `readData`.
async fn handle_stream_frame<R: AsyncRead + Unpin>(
    shared: &Shared,
    fr: &mut FrameReader<R>,
    accept_tx: &mpsc::Sender<Arc<StreamShared>>,
    hdr: Header,
) -> Result<(), RecvError> {
    let id = hdr.stream_id;
    let len = hdr.length;
    let is_data = hdr.frame_type == FrameType::Data;
    if hdr.has(FLAG_SYN) {
        shared.incoming_stream(id, accept_tx)?;
    }
    let Some(stream) = shared.get_stream(id) else {
        // Most likely a stream we reset: consume and drop its payload.
        if is_data && len > 0 {
            fr.payload(len as usize, None).await?;
        }
        return Ok(());
    };
    // A FIN on a data frame takes effect after its payload, so readers see the data first.
    let (early, late) = if is_data && len > 0 {
        (hdr.flags & !FLAG_FIN, hdr.flags & FLAG_FIN)
    } else {
        (hdr.flags, 0)
    };
    let mut wakers = Wakers::default();
    let (effects, deliver) = {
        let mut s = lock(&stream.inner);
        let e = s
            .process_flags(early, &mut wakers)
            .map_err(|_| RecvError::Protocol("unexpected FIN flag"))?;
        if is_data {
            if len > s.recv_window {
                return Err(RecvError::Protocol("receive window exceeded"));
            }
            s.recv_window -= len;
        } else {
            StreamShared::add_send_window(&mut s, len, &mut wakers);
        }
        let deliver = !s.dropped && s.state != StreamState::Reset;
        if is_data && deliver {
            s.incoming = s.incoming.saturating_add(len);
        }
        (e, deliver)
    };
    wakers.wake();
    apply_effects(shared, &stream, effects);
    if is_data && len > 0 {
        fr.payload(len as usize, deliver.then_some(&*stream))
            .await?;
        if late != 0 {
            let mut wakers = Wakers::default();
            let e = lock(&stream.inner)
                .process_flags(late, &mut wakers)
                .map_err(|_| RecvError::Protocol("unexpected FIN flag"))?;
            wakers.wake();
            apply_effects(shared, &stream, e);
        }
    }
    Ok(())
}

struct FrameReader<R> {
    r: R,
    buf: BytesMut,
    /// How much room the next read gets: between READ_MIN and READ_BUF, following the traffic.
    want: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads until at least `min` bytes are buffered; false on EOF.
    async fn fill(&mut self, min: usize) -> io::Result<bool> {
        while self.buf.len() < min {
            if self.buf.is_empty() && self.want == READ_MIN {
                // A quiet session: hold no buffer while waiting. What arrives lands in a small
                // array first, and only then in a buffer sized for it.
                self.buf = BytesMut::new();
                let mut first = [0u8; IDLE_READ];
                let n = self.r.read(&mut first).await?;
                if n == 0 {
                    return Ok(false);
                }
                if n == IDLE_READ {
                    // More is coming: no longer quiet.
                    self.want *= 2;
                    self.buf.reserve(self.want);
                } else {
                    self.buf.reserve(n);
                }
                self.buf.extend_from_slice(&first[..n]);
                continue;
            }
            if self.want == READ_MIN {
                // Still quiet (a partial frame from a slow or idle peer): room for what is
                // missing only.
                self.buf.reserve(min - self.buf.len());
            } else if self.buf.capacity() - self.buf.len() < (self.want / 2).min(READ_MIN_SPARE) {
                self.buf.reserve(self.want);
            }
            let room = self.buf.capacity() - self.buf.len();
            let n = self.r.read_buf(&mut self.buf).await?;
            if n == 0 {
                return Ok(false);
            }
            if n == room && n >= IDLE_READ {
                self.want = (self.want * 2).min(READ_BUF);
            } else if n < self.want / 8 {
                self.want = (self.want / 2).max(READ_MIN);
            }
        }
        Ok(true)
    }

    /// Consumes `len` payload bytes, handing them to `target` (or discarding them).
    async fn payload(
        &mut self,
        mut remaining: usize,
        target: Option<&StreamShared>,
    ) -> Result<(), RecvError> {
        loop {
            let take = remaining.min(self.buf.len());
            if take > 0 {
                match target {
                    // Large pieces are handed over without copying. Small ones are copied so a
                    // stream that never reads cannot pin many whole read buffers with a few
                    // bytes each (at most READ_BUF / ZERO_COPY_MIN times its window).
                    Some(s) if take >= ZERO_COPY_MIN => {
                        s.deliver_bytes(self.buf.split_to(take).freeze())
                    }
                    Some(s) => {
                        s.deliver_slice(&self.buf[..take]);
                        self.buf.advance(take);
                    }
                    None => self.buf.advance(take),
                }
                remaining -= take;
            }
            if remaining == 0 {
                return Ok(());
            }
            match target {
                Some(s) if remaining >= DIRECT_READ_MIN => {
                    // Read straight into a buffer that becomes part of the stream's queue.
                    let cap = remaining.min(DIRECT_READ_MAX);
                    let mut p = BytesMut::with_capacity(cap);
                    let mut left = cap;
                    while left > 0 {
                        let n = (&mut self.r).take(left as u64).read_buf(&mut p).await?;
                        if n == 0 {
                            return Err(RecvError::Eof);
                        }
                        left -= n;
                        remaining -= n;
                        s.deliver_bytes(p.split().freeze());
                    }
                }
                _ => {
                    if !self.fill(1).await? {
                        return Err(RecvError::Eof);
                    }
                }
            }
        }
    }
}
