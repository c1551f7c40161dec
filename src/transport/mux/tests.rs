//! Session ⇄ session tests (tokio duplex and loopback TCP) and shared test helpers.

use std::io::{ErrorKind, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::shared::lock;
use super::*;

/// What the crate's `BoxStream` erases to.
pub(super) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// frp's config without keepalive (so tests are deterministic).
pub(super) fn cfg() -> MuxConfig {
    MuxConfig {
        keepalive_interval: None,
        ..MuxConfig::default()
    }
}

pub(super) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub(super) fn duplex_pair(c: MuxConfig, s: MuxConfig) -> (Session, Session) {
    let (a, b) = tokio::io::duplex(1 << 20);
    (
        Session::new(a, Mode::Client, c),
        Session::new(b, Mode::Server, s),
    )
}

pub(super) async fn tcp_pair(c: MuxConfig, s: MuxConfig) -> (Session, Session) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
    let a = a.unwrap();
    let b = b.unwrap().0;
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (
        Session::new(a, Mode::Client, c),
        Session::new(b, Mode::Server, s),
    )
}

/// Waits (up to 2 s) until `f` holds.
pub(super) async fn eventually(what: &str, f: impl Fn() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A long non-repeating-looking byte pattern; stream `seed`'s byte `i` is
/// `pat[(seed + i) % len]`.
pub(super) struct Pattern(Vec<u8>);

impl Pattern {
    pub(super) fn new() -> Arc<Pattern> {
        let mut x: u32 = 0x1234_5678;
        let v = (0..(1usize << 20) + 7)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        Arc::new(Pattern(v))
    }

    pub(super) async fn write_to<W: AsyncWrite + Unpin>(
        &self,
        w: &mut W,
        seed: usize,
        total: usize,
        chunk: usize,
    ) -> std::io::Result<()> {
        let plen = self.0.len();
        let mut pos = 0;
        while pos < total {
            let off = (seed + pos) % plen;
            let k = chunk.min(total - pos).min(plen - off);
            w.write_all(&self.0[off..off + k]).await?;
            pos += k;
        }
        Ok(())
    }

    pub(super) fn check(&self, seed: usize, pos: usize, data: &[u8]) -> bool {
        let plen = self.0.len();
        let mut off = (seed + pos) % plen;
        let mut d = data;
        while !d.is_empty() {
            let k = d.len().min(plen - off);
            if d[..k] != self.0[off..off + k] {
                return false;
            }
            d = &d[k..];
            off = 0;
        }
        true
    }

    /// Reads to EOF, checking every byte; returns the count.
    pub(super) async fn read_check<R: AsyncRead + Unpin>(&self, r: &mut R, seed: usize) -> usize {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pos = 0;
        loop {
            let n = r.read(&mut buf).await.expect("read");
            if n == 0 {
                return pos;
            }
            assert!(self.check(seed, pos, &buf[..n]), "corrupt data at {pos}");
            pos += n;
        }
    }
}

/// A transport that claims vectored writes, accepts and returns short random amounts and
/// sometimes answers `Pending` (waking immediately): exercises partial direct writes and
/// their continuation, split headers on the read side, and the writer's retry paths.
pub(super) struct Choppy<T> {
    inner: T,
    rng: u64,
    max: usize,
}

impl<T> Choppy<T> {
    pub(super) fn new(inner: T, seed: u64, max: usize) -> Choppy<T> {
        Choppy {
            inner,
            rng: seed | 1,
            max,
        }
    }

    /// Some(limit) or None for a spurious Pending.
    fn next(&mut self, cx: &Context<'_>) -> Option<usize> {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        if self.rng % 7 == 0 {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(1 + (self.rng >> 8) as usize % self.max)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Choppy<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let Some(lim) = self.next(cx) else {
            return Poll::Pending;
        };
        let lim = lim.min(buf.remaining());
        let mut tmp = ReadBuf::new(buf.initialize_unfilled_to(lim));
        let res = Pin::new(&mut self.inner).poll_read(cx, &mut tmp);
        let n = tmp.filled().len();
        buf.advance(n);
        res
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Choppy<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let Some(lim) = self.next(cx) else {
            return Poll::Pending;
        };
        let lim = lim.min(buf.len());
        Pin::new(&mut self.inner).poll_write(cx, &buf[..lim])
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let Some(lim) = self.next(cx) else {
            return Poll::Pending;
        };
        let mut gathered = Vec::with_capacity(lim);
        for b in bufs {
            let k = b.len().min(lim - gathered.len());
            gathered.extend_from_slice(&b[..k]);
        }
        Pin::new(&mut self.inner).poll_write(cx, &gathered)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[test]
fn default_config_is_frps() {
    let c = MuxConfig::default();
    assert_eq!(c.keepalive_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.max_stream_window, 6_291_456);
    assert_eq!(c.accept_backlog, 256);
    assert_eq!(c.write_timeout, Duration::from_secs(10));
    assert_eq!(c.max_stream_window - INITIAL_STREAM_WINDOW, 6_029_312);
}

#[tokio::test]
async fn absurd_settings_are_clamped_not_fatal() {
    let weird = MuxConfig {
        keepalive_interval: Some(Duration::MAX),
        max_stream_window: 0,
        accept_backlog: 0,
        write_timeout: Duration::MAX,
    };
    let (c, s) = duplex_pair(weird.clone(), weird);
    let mut a = c.open().await.unwrap();
    a.write_all(b"ok").await.unwrap();
    let mut b = s.accept().await.unwrap();
    let mut buf = [0u8; 2];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ok");
    assert!(!c.is_closed() && !s.is_closed());
}

async fn echo_roundtrip(client: Session, server: Session) {
    let mut a = client.open().await.unwrap();
    assert_eq!(a.id(), 1);
    a.write_all(b"hello").await.unwrap();
    let mut b = server.accept().await.unwrap();
    assert_eq!(b.id(), 1);
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hello");
    b.write_all(b"world!").await.unwrap();
    let mut buf = [0u8; 6];
    a.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"world!");
    // The server opens even ids, the client odd ones.
    let mut c = server.open().await.unwrap();
    assert_eq!(c.id(), 2);
    c.write_all(b"x").await.unwrap();
    let mut d = client.accept().await.unwrap();
    assert_eq!(d.id(), 2);
    assert_eq!(d.read_u8().await.unwrap(), b'x');
    assert_eq!(client.open().await.unwrap().id(), 3);
    assert_eq!(server.open().await.unwrap().id(), 4);
}

#[tokio::test]
async fn echo_over_duplex() {
    let (c, s) = duplex_pair(cfg(), cfg());
    echo_roundtrip(c, s).await;
}

#[tokio::test]
async fn echo_over_tcp() {
    let (c, s) = tcp_pair(cfg(), cfg()).await;
    echo_roundtrip(c, s).await;
}

#[tokio::test]
async fn half_close_then_reply() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut a = c.open().await.unwrap();
    a.write_all(b"ping").await.unwrap();
    a.shutdown().await.unwrap();
    assert_eq!(
        a.write(b"late").await.unwrap_err().kind(),
        ErrorKind::BrokenPipe
    );
    let mut b = s.accept().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"ping");
    b.write_all(b"pong").await.unwrap();
    b.shutdown().await.unwrap();
    let mut got = Vec::new();
    a.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"pong");
    eventually("forgotten", || c.num_streams() == 0 && s.num_streams() == 0).await;
}

#[tokio::test]
async fn drop_sends_fin_and_forgets_once_peer_closes() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut a = c.open().await.unwrap();
    a.write_all(b"bye").await.unwrap();
    drop(a);
    let mut b = s.accept().await.unwrap();
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
    // Our side is still open: writing works (the peer discards it).
    b.write_all(b"ignored").await.unwrap();
    assert_eq!(c.num_streams(), 1);
    drop(b);
    eventually("forgotten", || c.num_streams() == 0 && s.num_streams() == 0).await;
}

#[tokio::test]
async fn backlog_overflow_resets_stream() {
    let scfg = MuxConfig {
        accept_backlog: 2,
        ..cfg()
    };
    let (c, s) = duplex_pair(cfg(), scfg);
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(c.open().await.unwrap());
    }
    let mut third = streams.pop().unwrap();
    let err = timeout(Duration::from_secs(2), third.read_u8())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    assert_eq!(
        third.write(b"x").await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(c.num_streams(), 2);
    assert_eq!(s.accept().await.unwrap().id(), 1);
    assert_eq!(s.accept().await.unwrap().id(), 3);
}

#[tokio::test]
async fn close_wakes_all_streams_and_acceptors() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut reader = c.open().await.unwrap();
    let mut writer = c.open().await.unwrap();
    let mut buffered = c.open().await.unwrap();
    let mut srv = Vec::new();
    for _ in 0..3 {
        srv.push(s.accept().await.unwrap());
    }
    srv[2].write_all(b"left").await.unwrap();
    eventually("data arrived", || {
        lock(&buffered.stream_shared().inner).recv.len() == 4
    })
    .await;
    let r = tokio::spawn(async move { reader.read_u8().await });
    let w = tokio::spawn(async move {
        let chunk = vec![0u8; 1 << 20];
        loop {
            if let Err(e) = writer.write(&chunk).await {
                return e;
            }
        }
    });
    let c2 = c.clone();
    let acc = tokio::spawn(async move { c2.accept().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!r.is_finished() && !w.is_finished() && !acc.is_finished());
    c.close();
    let t = Duration::from_secs(2);
    assert_eq!(
        timeout(t, r).await.unwrap().unwrap().unwrap_err().kind(),
        ErrorKind::UnexpectedEof
    );
    timeout(t, w).await.unwrap().unwrap();
    assert!(timeout(t, acc).await.unwrap().unwrap().is_none());
    assert!(c.is_closed());
    timeout(t, c.closed()).await.unwrap();
    assert!(c.open().await.is_err());
    assert!(c.accept().await.is_none());
    // Buffered data stays readable, then EOF.
    let mut got = Vec::new();
    buffered.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"left");
    // The peer sees the connection close.
    timeout(t, s.closed()).await.unwrap();
    assert_eq!(srv[0].read(&mut [0u8; 4]).await.unwrap(), 0);
    assert!(srv[1].write_all(b"x").await.is_err());
    assert_eq!(c.num_streams(), 0);
}

#[tokio::test]
async fn keepalive_between_sessions_keeps_them_alive() {
    let k = MuxConfig {
        keepalive_interval: Some(Duration::from_millis(20)),
        write_timeout: Duration::from_millis(300),
        ..cfg()
    };
    let (c, s) = duplex_pair(k.clone(), k);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!c.is_closed() && !s.is_closed());
    for sess in [&c, &s] {
        let pings = lock(&sess.shared().state).ping.next_id;
        assert!(pings >= 10, "only {pings} pings sent");
    }
}

#[tokio::test]
async fn all_handles_dropped_flushes_then_closes() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut a = c.open().await.unwrap();
    let mut b = s.accept().await.unwrap();
    a.write_all(b"last words").await.unwrap();
    drop(a);
    drop(c);
    let mut got = Vec::new();
    b.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words");
    timeout(Duration::from_secs(2), s.closed()).await.unwrap();
}

#[tokio::test]
async fn session_stays_open_while_a_stream_handle_lives() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut a = c.open().await.unwrap();
    drop(c);
    let mut b = s.accept().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!s.is_closed());
    b.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    a.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
}
