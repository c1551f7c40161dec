//! Copy bytes both ways between two streams until both directions are done (with half-close).
//!
//! Each direction holds a copy buffer only while bytes are in flight: it borrows one from a
//! shared pool to read, and gives it back when a read finds nothing to read. An idle
//! connection (most of them, most of the time) holds none, where a buffer per direction for the
//! connection's whole life cost 256 KiB per connection.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Size of each copy buffer: large enough that bulk transfers make few syscalls and full mux
/// frames.
pub const SPLICE_BUF: usize = 64 * 1024;

/// Buffers a thread's pool keeps for reuse when they come back; more are freed (at most 2 MiB
/// kept per runtime thread).
const POOL_KEEP: usize = 32;

/// Returns (bytes a→b, bytes b→a). Each side's EOF shuts down writing on the other side, so
/// half-closed connections keep working in the other direction.
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let (mut a_to_b, mut b_to_a) = (Direction::default(), Direction::default());
    poll_fn(|cx| {
        let ab = a_to_b.poll_copy(cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let ba = b_to_a.poll_copy(cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (ab, ba) {
            (Poll::Ready(up), Poll::Ready(down)) => Poll::Ready(Ok((up, down))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// One direction of a splice: what was read and not yet written, and where it stands.
#[derive(Default)]
struct Direction {
    /// Borrowed while `buf[pos..end]` waits to be written, or while reads keep finding bytes.
    buf: Option<Box<[u8]>>,
    pos: usize,
    end: usize,
    read_done: bool,
    /// Written since the last flush: flushed before waiting for more to read.
    need_flush: bool,
    done: bool,
    copied: u64,
}

impl Direction {
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        if self.done {
            return Poll::Ready(Ok(self.copied));
        }
        loop {
            if self.pos == self.end && !self.read_done {
                let mut buf = self.buf.take().unwrap_or_else(pool::take);
                let mut rb = ReadBuf::new(&mut buf);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        // Nothing to read now: the buffer goes back until something is.
                        pool::give(buf);
                        if self.need_flush {
                            ready!(w.as_mut().poll_flush(cx))?;
                            self.need_flush = false;
                        }
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => {
                        pool::give(buf);
                        return Poll::Ready(Err(e));
                    }
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            pool::give(buf);
                            self.read_done = true;
                        } else {
                            (self.pos, self.end) = (0, n);
                            self.buf = Some(buf);
                        }
                    }
                }
            }
            while self.pos < self.end {
                let Some(buf) = &self.buf else { break };
                let n = ready!(w.as_mut().poll_write(cx, &buf[self.pos..self.end]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "write zero byte into writer",
                    )));
                }
                self.pos += n;
                self.copied += n as u64;
                self.need_flush = true;
            }
            if self.read_done {
                // EOF: flush and shut the other side's write half (half-close).
                ready!(w.as_mut().poll_shutdown(cx))?;
                self.done = true;
                return Poll::Ready(Ok(self.copied));
            }
        }
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            pool::give(buf);
        }
    }
}

/// The copy buffers not lent out, one pool per thread: a borrow and a return (each time a
/// direction runs out of bytes to read) take no lock and stay on one core's cache. A buffer
/// returned on another worker thread than it was taken on simply joins that thread's pool.
mod pool {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static FREE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn take() -> Box<[u8]> {
        let pooled = FREE.try_with(|f| f.borrow_mut().pop()).ok().flatten();
        pooled.unwrap_or_else(|| vec![0u8; SPLICE_BUF].into_boxed_slice())
    }

    pub(super) fn give(buf: Box<[u8]>) {
        // At thread exit the pool is gone: the buffer is then simply freed.
        let _ = FREE.try_with(|f| {
            let mut free = f.borrow_mut();
            if free.len() < POOL_KEEP {
                free.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn copies_both_ways_with_half_close_and_counts() {
        let (mut a, mut a_far) = tokio::io::duplex(1024);
        let (mut b, mut b_far) = tokio::io::duplex(1024);
        let task = tokio::spawn(async move { splice(&mut a, &mut b).await });
        let big: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let sent = big.clone();
        let writer = tokio::spawn(async move {
            a_far.write_all(&sent).await.unwrap();
            a_far.shutdown().await.unwrap();
            let mut back = Vec::new();
            a_far.read_to_end(&mut back).await.unwrap();
            back
        });
        let mut got = Vec::new();
        b_far.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, big, "a→b, then EOF (half-close)");
        b_far
            .write_all(b"reply after the half-close")
            .await
            .unwrap();
        b_far.shutdown().await.unwrap();
        assert_eq!(writer.await.unwrap(), b"reply after the half-close");
        let (up, down) = task.await.unwrap().unwrap();
        assert_eq!((up, down), (300_000, 26));
    }

    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    #[tokio::test]
    async fn a_direction_holds_a_buffer_only_while_bytes_are_in_flight() {
        let (mut r, mut r_far) = tokio::io::duplex(1024);
        let (mut w, mut w_far) = tokio::io::duplex(8);
        let waker = std::task::Waker::from(std::sync::Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let mut d = Direction::default();
        let mut poll = |d: &mut Direction| d.poll_copy(&mut cx, Pin::new(&mut r), Pin::new(&mut w));
        // Nothing to read: pending, no buffer.
        assert!(poll(&mut d).is_pending());
        assert!(d.buf.is_none());
        // 20 bytes to read, room for 8 on the other side: the rest waits in the buffer.
        r_far.write_all(&[7u8; 20]).await.unwrap();
        assert!(poll(&mut d).is_pending());
        assert!(d.buf.is_some(), "12 bytes in flight");
        let mut got = [0u8; 20];
        w_far.read_exact(&mut got[..8]).await.unwrap();
        assert!(poll(&mut d).is_pending());
        w_far.read_exact(&mut got[8..16]).await.unwrap();
        assert!(poll(&mut d).is_pending());
        w_far.read_exact(&mut got[16..]).await.unwrap();
        // All written, nothing more to read: the buffer went back.
        assert!(poll(&mut d).is_pending());
        assert!(d.buf.is_none());
        assert_eq!(got, [7u8; 20]);
        assert_eq!(d.copied, 20);
    }
}
