//! Bandwidth limiting (spec §8.4): `transport.bandwidthLimit` parsing and a token bucket with
//! golang.org/x/time/rate semantics (rate = burst = N bytes/s, starts full, reservations may
//! drive the balance negative so waiting callers queue fairly), as used by frp's
//! `pkg/util/limit` reader/writer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Parses `transport.bandwidthLimit`: `""` (after trimming whitespace) → `None`; a float
/// followed by `KB` (×1024) or `MB` (×1048576), suffix case-sensitive. Like Go, the byte count
/// is truncated to an integer and a result ≤ 0 means "no limit" (`None`).
pub fn parse_bandwidth(s: &str) -> Result<Option<u64>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (num, base) = if let Some(n) = t.strip_suffix("MB") {
        (n, 1024.0 * 1024.0)
    } else if let Some(n) = t.strip_suffix("KB") {
        (n, 1024.0)
    } else {
        return Err(format!(
            "invalid bandwidth limit {s:?}: unit not supported, expected a number followed by KB or MB (e.g. \"100KB\", \"1MB\")"
        ));
    };
    let f: f64 = num
        .parse()
        .map_err(|_| format!("invalid bandwidth limit {s:?}: {num:?} is not a number"))?;
    if !f.is_finite() {
        return Err(format!(
            "invalid bandwidth limit {s:?}: not a finite number"
        ));
    }
    let bytes = (f * base).trunc();
    if bytes < 1.0 {
        return Ok(None);
    }
    Ok(Some(bytes as u64))
}

/// A token bucket shared by all connections (both directions) of one proxy.
pub struct Limiter {
    rate: f64,
    burst: usize,
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    /// Last time `tokens` was brought up to date; `None` = never (the bucket starts full).
    last: Option<Instant>,
}

impl Limiter {
    /// rate = burst = `bytes_per_sec` (clamped to at least 1).
    pub fn new(bytes_per_sec: u64) -> Arc<Limiter> {
        let n = bytes_per_sec.max(1);
        Arc::new(Limiter {
            rate: n as f64,
            burst: usize::try_from(n).unwrap_or(usize::MAX),
            state: Mutex::new(Bucket {
                tokens: n as f64,
                last: None,
            }),
        })
    }

    /// Bytes per second (and the bucket size).
    pub fn rate(&self) -> u64 {
        self.rate as u64
    }

    /// The bucket size; no single read or write is larger.
    pub fn burst(&self) -> usize {
        self.burst
    }

    fn advance(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = match b.last {
            Some(last) => now.saturating_duration_since(last).as_secs_f64(),
            None => return self.burst as f64,
        };
        (b.tokens + elapsed * self.rate).min(self.burst as f64)
    }

    /// Takes `n` (≤ burst) tokens now, possibly going into debt (x/time/rate `ReserveN`).
    /// Returns the instant at which the tokens are really available, if in the future.
    fn reserve(&self, n: usize) -> Option<Instant> {
        let now = Instant::now();
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let tokens = self.advance(&b, now) - n as f64;
        b.tokens = tokens;
        b.last = Some(now);
        if tokens < 0.0 {
            Some(now + Duration::from_secs_f64(-tokens / self.rate))
        } else {
            None
        }
    }

    /// Gives back unused tokens (x/time/rate `Reservation.Cancel`, simplified).
    fn restore(&self, n: usize) {
        let now = Instant::now();
        let mut b = self.state.lock().unwrap_or_else(|e| e.into_inner());
        b.tokens = (self.advance(&b, now) + n as f64).min(self.burst as f64);
        b.last = Some(now);
    }
}

/// A stream whose reads and writes draw from a shared [`Limiter`].
///
/// Writes: a `poll_write` reserves `min(len, burst)` tokens, waits until they are available and
/// then writes at most that many bytes (unused pre-paid tokens carry over to the next write and
/// are returned on drop). Reads: at most `burst` bytes per read; after reading n bytes the
/// tokens are consumed and the next read waits until the balance is back to zero.
pub struct LimitedStream<S> {
    inner: S,
    limiter: Arc<Limiter>,
    /// Reusable timer (allocated on the first wait) and whether it is armed.
    read_sleep: Option<Pin<Box<Sleep>>>,
    read_armed: bool,
    write_sleep: Option<Pin<Box<Sleep>>>,
    write_armed: bool,
    /// Tokens reserved (paid) for writing but not used yet.
    write_credit: usize,
}

impl<S> LimitedStream<S> {
    pub fn new(inner: S, limiter: Arc<Limiter>) -> Self {
        LimitedStream {
            inner,
            limiter,
            read_sleep: None,
            read_armed: false,
            write_sleep: None,
            write_armed: false,
            write_credit: 0,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> Drop for LimitedStream<S> {
    fn drop(&mut self) {
        if self.write_credit > 0 {
            self.limiter.restore(self.write_credit);
        }
    }
}

/// Arms `slot` (allocating the timer only the first time) for `deadline`.
fn arm(slot: &mut Option<Pin<Box<Sleep>>>, deadline: Instant) {
    match slot {
        Some(s) => s.as_mut().reset(deadline),
        None => *slot = Some(Box::pin(tokio::time::sleep_until(deadline))),
    }
}

fn poll_timer(
    slot: &mut Option<Pin<Box<Sleep>>>,
    armed: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<()> {
    if *armed {
        if let Some(s) = slot {
            ready!(s.as_mut().poll(cx));
        }
        *armed = false;
    }
    Poll::Ready(())
}

impl<S: AsyncRead + Unpin> AsyncRead for LimitedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(poll_timer(&mut this.read_sleep, &mut this.read_armed, cx));
        let burst = this.limiter.burst();
        let n = if buf.remaining() <= burst {
            let before = buf.filled().len();
            ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
            buf.filled().len() - before
        } else {
            let mut sub = buf.take(burst);
            let ptr = sub.filled().as_ptr();
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut sub))?;
            assert_eq!(
                sub.filled().as_ptr(),
                ptr,
                "inner reader swapped the buffer"
            );
            let n = sub.filled().len();
            // SAFETY: the inner reader initialized and filled `n` bytes at the start of `buf`'s
            // unfilled region (same memory, checked above).
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            n
        };
        if n > 0 {
            if let Some(deadline) = this.limiter.reserve(n) {
                arm(&mut this.read_sleep, deadline);
                this.read_armed = true;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LimitedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        }
        if this.write_credit == 0 {
            let need = buf.len().min(this.limiter.burst());
            if let Some(deadline) = this.limiter.reserve(need) {
                arm(&mut this.write_sleep, deadline);
                this.write_armed = true;
            }
            this.write_credit = need;
        }
        ready!(poll_timer(&mut this.write_sleep, &mut this.write_armed, cx));
        let k = buf.len().min(this.write_credit);
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &buf[..k]))?;
        this.write_credit -= n.min(this.write_credit);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_parsing() {
        assert_eq!(parse_bandwidth(""), Ok(None));
        assert_eq!(parse_bandwidth("   "), Ok(None));
        assert_eq!(parse_bandwidth("1MB"), Ok(Some(1_048_576)));
        assert_eq!(parse_bandwidth(" 1MB "), Ok(Some(1_048_576)));
        assert_eq!(parse_bandwidth("0.5MB"), Ok(Some(524_288)));
        assert_eq!(parse_bandwidth("100KB"), Ok(Some(102_400)));
        assert_eq!(parse_bandwidth("1.5KB"), Ok(Some(1536)));
        assert_eq!(parse_bandwidth("0.0001KB"), Ok(None)); // truncates to 0 bytes
        assert_eq!(parse_bandwidth("0MB"), Ok(None));
        assert_eq!(parse_bandwidth("-1MB"), Ok(None)); // Go accepts it and never limits
        for bad in [
            "1mb", "1kb", "1Kb", "1GB", "1024", "MB", "1 MB", "abcKB", "infMB", "1B",
        ] {
            let err = parse_bandwidth(bad).unwrap_err();
            assert!(err.contains("bandwidth limit"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn bucket_starts_full_then_refills() {
        let l = Limiter::new(1000);
        assert_eq!(l.burst(), 1000);
        assert!(l.reserve(1000).is_none(), "starts with a full bucket");
        let deadline = l.reserve(500).expect("in debt now");
        let wait = deadline - Instant::now();
        assert!(wait > Duration::from_millis(400) && wait <= Duration::from_millis(500));
        // A later reservation queues behind the debt.
        let d2 = l.reserve(500).unwrap();
        assert!(d2 - deadline >= Duration::from_millis(499));
        // Restoring tokens pays the debt back (balance ≈ 0 now, so one more byte waits ~1 ms).
        l.restore(1000);
        let d3 = l.reserve(1).expect("balance is about zero");
        assert!(d3 - Instant::now() <= Duration::from_millis(5));
        // Restoring more than the bucket holds caps at the burst.
        l.restore(10_000);
        assert!(l.reserve(1000).is_none());
        assert!(l.reserve(1).is_some());
    }
}
