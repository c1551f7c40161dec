//! One multiplexed stream: state machine, receive buffer and the `MuxStream` handle.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::frame::{Header, FLAG_ACK, FLAG_FIN, FLAG_RST};
use super::shared::{lock, Shared};

/// hashicorp `streamState` (minus `streamInit`: our opens send the SYN immediately).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StreamState {
    SynSent,
    SynReceived,
    Established,
    /// We sent FIN; the peer may still send.
    LocalClose,
    /// The peer sent FIN; we may still send.
    RemoteClose,
    /// Both sides closed, or the session ended.
    Closed,
    Reset,
}

/// Receive buffers larger than this are freed once everything in them was read.
const IDLE_KEEP: usize = 4 * 1024;

/// Received, unread payload: large pieces are kept as the `Bytes` they were read into,
/// small ones are copied into `tail`.
#[derive(Default)]
pub(super) struct RecvBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl RecvBuf {
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn push_slice(&mut self, d: &[u8]) {
        self.tail.extend_from_slice(d);
        self.len += d.len();
    }

    fn push_bytes(&mut self, b: Bytes) {
        if !self.tail.is_empty() {
            let t = self.tail.split().freeze();
            self.chunks.push_back(t);
        }
        self.len += b.len();
        self.chunks.push_back(b);
    }

    fn read_into(&mut self, dst: &mut ReadBuf<'_>) -> usize {
        let mut n = 0;
        while dst.remaining() > 0 {
            if let Some(front) = self.chunks.front_mut() {
                let k = front.len().min(dst.remaining());
                dst.put_slice(&front[..k]);
                front.advance(k);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
                n += k;
            } else if !self.tail.is_empty() {
                let k = self.tail.len().min(dst.remaining());
                dst.put_slice(&self.tail[..k]);
                self.tail.advance(k);
                n += k;
            } else {
                break;
            }
        }
        self.len -= n;
        if self.len == 0 && self.tail.capacity() > IDLE_KEEP {
            // All read: an idle stream keeps no receive memory (the window is credit, not a
            // buffer; it fills again only as data arrives).
            self.tail = BytesMut::new();
        }
        n
    }

    fn clear(&mut self) {
        *self = RecvBuf::default();
    }
}

/// Wakers taken under the stream lock, woken after releasing it.
#[derive(Default)]
pub(super) struct Wakers(Option<Waker>, Option<Waker>);

impl Wakers {
    pub(super) fn wake(self) {
        if let Some(w) = self.0 {
            w.wake();
        }
        if let Some(w) = self.1 {
            w.wake();
        }
    }
}

/// What processing received flags requires of the session.
#[derive(Default, Debug)]
pub(super) struct FlagEffects {
    /// ACK received: release the open slot.
    pub(super) acked: bool,
    /// The stream is finished: remove it from the session.
    pub(super) forget: bool,
}

/// A FIN arrived for a stream that was already remotely closed or reset.
#[derive(Debug)]
pub(super) struct UnexpectedFin;

pub(super) struct StreamInner {
    pub(super) state: StreamState,
    pub(super) recv: RecvBuf,
    pub(super) recv_window: u32,
    /// Payload of the frame being received that is not in `recv` yet (counts as buffered).
    pub(super) incoming: u32,
    pub(super) send_window: u32,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// The handle is gone: received payload is discarded.
    pub(super) dropped: bool,
}

impl StreamInner {
    pub(super) fn take_wakers(&mut self) -> Wakers {
        Wakers(self.read_waker.take(), self.write_waker.take())
    }

    fn collect_wakers(&mut self, wakers: &mut Wakers) {
        if let Some(w) = self.read_waker.take() {
            wakers.0 = Some(w);
        }
        if let Some(w) = self.write_waker.take() {
            wakers.1 = Some(w);
        }
    }

    /// hashicorp `processFlags`, minus the session bookkeeping (returned as effects).
    pub(super) fn process_flags(
        &mut self,
        flags: u16,
        wakers: &mut Wakers,
    ) -> Result<FlagEffects, UnexpectedFin> {
        let mut e = FlagEffects::default();
        if flags & FLAG_ACK != 0 {
            if self.state == StreamState::SynSent {
                self.state = StreamState::Established;
            }
            e.acked = true;
        }
        if flags & FLAG_FIN != 0 {
            match self.state {
                StreamState::SynSent | StreamState::SynReceived | StreamState::Established => {
                    self.state = StreamState::RemoteClose;
                }
                StreamState::LocalClose => {
                    self.state = StreamState::Closed;
                    e.forget = true;
                }
                StreamState::RemoteClose | StreamState::Closed | StreamState::Reset => {
                    return Err(UnexpectedFin);
                }
            }
            self.collect_wakers(wakers);
        }
        if flags & FLAG_RST != 0 {
            self.state = StreamState::Reset;
            e.forget = true;
            self.collect_wakers(wakers);
        }
        Ok(e)
    }

    fn buffered(&self, max: u32) -> u32 {
        (self.recv.len() as u64 + u64::from(self.incoming)).min(u64::from(max)) as u32
    }

    /// Adds the freed receive space to the window and returns the delta
    /// (hashicorp: `(max - buffered) - recvWindow`).
    pub(super) fn grant_window(&mut self, max: u32) -> u32 {
        let buffered = self.buffered(max);
        let delta = (max - buffered).saturating_sub(self.recv_window);
        self.recv_window += delta;
        delta
    }

    /// The window update to send after a read, if the freed space reached half the window.
    fn window_update_after_read(&mut self, max: u32) -> Option<u32> {
        if !matches!(
            self.state,
            StreamState::SynSent | StreamState::Established | StreamState::LocalClose
        ) {
            return None; // the peer sends nothing more
        }
        let buffered = self.buffered(max);
        if (max - buffered).saturating_sub(self.recv_window) < max / 2 {
            return None;
        }
        Some(self.grant_window(max))
    }
}

pub(super) struct StreamShared {
    pub(super) id: u32,
    pub(super) inner: Mutex<StreamInner>,
}

impl StreamShared {
    pub(super) fn new(id: u32, state: StreamState, recv_window: u32) -> StreamShared {
        StreamShared {
            id,
            inner: Mutex::new(StreamInner {
                state,
                recv: RecvBuf::default(),
                recv_window,
                incoming: 0,
                send_window: super::INITIAL_STREAM_WINDOW,
                read_waker: None,
                write_waker: None,
                dropped: false,
            }),
        }
    }

    /// The session ended: buffered data can still be read, then EOF; writes fail.
    pub(super) fn force_close(&self) {
        let mut s = lock(&self.inner);
        if s.state != StreamState::Reset {
            s.state = StreamState::Closed;
        }
        let w = s.take_wakers();
        drop(s);
        w.wake();
    }

    /// Adds window from a received WindowUpdate and wakes a blocked writer.
    pub(super) fn add_send_window(s: &mut StreamInner, delta: u32, wakers: &mut Wakers) {
        s.send_window = s.send_window.saturating_add(delta);
        if delta > 0 && wakers.1.is_none() {
            wakers.1 = s.write_waker.take();
        }
    }

    /// Appends received payload (copied).
    pub(super) fn deliver_slice(&self, d: &[u8]) {
        let mut s = lock(&self.inner);
        s.incoming = s.incoming.saturating_sub(d.len() as u32);
        if s.dropped {
            return;
        }
        s.recv.push_slice(d);
        let w = s.read_waker.take();
        drop(s);
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Appends received payload (no copy).
    pub(super) fn deliver_bytes(&self, b: Bytes) {
        let mut s = lock(&self.inner);
        s.incoming = s.incoming.saturating_sub(b.len() as u32);
        if s.dropped {
            return;
        }
        s.recv.push_bytes(b);
        let w = s.read_waker.take();
        drop(s);
        if let Some(w) = w {
            w.wake();
        }
    }
}

fn set_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(w) if w.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

fn reset_err() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "yamux: stream reset by peer",
    )
}

fn closed_err() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "yamux: stream closed")
}

/// A multiplexed stream. Reads end with EOF after the peer's FIN (or when the session dies);
/// `poll_shutdown` sends our FIN; after a peer RST reads and writes fail with
/// `ConnectionReset`. Dropping it closes it like hashicorp `Stream.Close`.
pub struct MuxStream {
    shared: Arc<Shared>,
    stream: Arc<StreamShared>,
}

impl MuxStream {
    pub(super) fn new(shared: Arc<Shared>, stream: Arc<StreamShared>) -> MuxStream {
        shared.stream_handle_created();
        MuxStream { shared, stream }
    }

    /// The yamux stream id.
    pub fn id(&self) -> u32 {
        self.stream.id
    }

    #[cfg(test)]
    pub(super) fn stream_shared(&self) -> &Arc<StreamShared> {
        &self.stream
    }
}

impl fmt::Debug for MuxStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = lock(&self.stream.inner).state;
        f.debug_struct("MuxStream")
            .field("id", &self.stream.id)
            .field("state", &state)
            .finish()
    }
}

impl AsyncRead for MuxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut s = lock(&this.stream.inner);
        if s.state == StreamState::Reset {
            return Poll::Ready(Err(reset_err()));
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if s.recv.len() > 0 {
            s.recv.read_into(buf);
            let update = s.window_update_after_read(this.shared.max_window);
            drop(s);
            if let Some(delta) = update {
                this.shared
                    .push_ctrl(Header::window_update(0, this.stream.id, delta));
            }
            return Poll::Ready(Ok(()));
        }
        match s.state {
            StreamState::RemoteClose | StreamState::Closed => Poll::Ready(Ok(())),
            _ if this.shared.token.is_cancelled() => Poll::Ready(Ok(())),
            _ => {
                set_waker(&mut s.read_waker, cx);
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for MuxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut s = lock(&this.stream.inner);
        match s.state {
            StreamState::LocalClose | StreamState::Closed => return Poll::Ready(Err(closed_err())),
            StreamState::Reset => return Poll::Ready(Err(reset_err())),
            _ => {}
        }
        if s.send_window == 0 {
            set_waker(&mut s.write_waker, cx);
            return Poll::Pending;
        }
        let n = buf.len().min(s.send_window as usize);
        let res = this.shared.poll_push_data(cx, this.stream.id, &buf[..n]);
        if let Poll::Ready(Ok(sent)) = res {
            s.send_window -= sent as u32;
        }
        res
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let forget = {
            let mut s = lock(&this.stream.inner);
            match s.state {
                StreamState::SynSent | StreamState::SynReceived | StreamState::Established => {
                    s.state = StreamState::LocalClose;
                    false
                }
                StreamState::RemoteClose => {
                    s.state = StreamState::Closed;
                    true
                }
                StreamState::LocalClose | StreamState::Closed => return Poll::Ready(Ok(())),
                StreamState::Reset => return Poll::Ready(Err(reset_err())),
            }
        };
        this.shared.push_fin(this.stream.id);
        if forget {
            this.shared.forget(&this.stream);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for MuxStream {
    fn drop(&mut self) {
        #[derive(PartialEq)]
        enum Act {
            Nothing,
            FinAndTimer,
            Timer,
            FinAndForget,
        }
        let act = {
            let mut s = lock(&self.stream.inner);
            s.dropped = true;
            s.recv.clear();
            match s.state {
                StreamState::SynSent | StreamState::SynReceived | StreamState::Established => {
                    s.state = StreamState::LocalClose;
                    Act::FinAndTimer
                }
                StreamState::LocalClose => Act::Timer,
                StreamState::RemoteClose => {
                    s.state = StreamState::Closed;
                    Act::FinAndForget
                }
                StreamState::Closed | StreamState::Reset => Act::Nothing,
            }
        };
        if matches!(act, Act::FinAndTimer | Act::FinAndForget) {
            self.shared.push_fin(self.stream.id);
        }
        if matches!(act, Act::FinAndTimer | Act::Timer) {
            self.shared.schedule_close(&self.stream);
        }
        if act == Act::FinAndForget {
            self.shared.forget(&self.stream);
        }
        self.shared.stream_handle_dropped();
    }
}
