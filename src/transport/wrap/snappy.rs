//! Snappy framing format stream wrapper (spec §8.3), byte-compatible with golang/snappy v0.0.4's
//! unbuffered `NewWriter` / `NewReader`.
//!
//! Writer: the stream identifier is emitted lazily before the first data chunk; every
//! `poll_write` of n bytes immediately encodes one chunk of `min(n, 65536)` bytes (compressed
//! type 0x00, or uncompressed type 0x01 when compression saves less than 12.5 %). The block
//! encoder is `snap::raw::Encoder`, a port of golang/snappy's `encodeBlock` (same hash, table
//! sizing, skip heuristic and copy/literal emission), so chunks match Go byte for byte.
//!
//! Reader: requires the stream identifier first, verifies the masked CRC-32C of every data
//! chunk, skips padding (0xFE) and reserved skippable chunks (0x80–0xFD) and rejects reserved
//! unskippable chunks (0x02–0x7F). Buffers are bounded like Go's (a chunk body of at most
//! 76508 bytes).

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Maximum uncompressed bytes per chunk.
const MAX_BLOCK: usize = 65536;
/// The stream identifier chunk.
const STREAM_ID: [u8; 10] = [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];
const MAGIC_BODY: &[u8] = b"sNaPpY";
/// Chunk header: type (1) + length (3) + checksum (4).
const CHUNK_HEADER: usize = 8;
/// golang/snappy `MaxEncodedLen(maxBlockSize)` = 32 + n + n/6.
const MAX_ENCODED: usize = 32 + MAX_BLOCK + MAX_BLOCK / 6;
/// golang/snappy `obufLen`: stream id + chunk header + max encoded block.
const OBUF_LEN: usize = STREAM_ID.len() + CHUNK_HEADER + MAX_ENCODED;
/// Read buffer: one 4-byte chunk header plus the largest chunk body Go accepts (`len(r.buf)`).
const IBUF_LEN: usize = 4 + OBUF_LEN;

const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_STREAM_ID: u8 = 0xff;

/// The framing format's masked CRC-32C.
fn masked_crc(data: &[u8]) -> u32 {
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn corrupt() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "snappy: corrupt input")
}

fn unsupported() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "snappy: unsupported input")
}

/// Snappy framing format compressor/decompressor around a byte stream.
pub struct SnappyStream<S> {
    inner: S,
    w: Option<Box<WriteState>>,
    r: Option<Box<ReadState>>,
}

struct WriteState {
    enc: snap::raw::Encoder,
    /// `[0..10]` stream identifier, `[10..18]` chunk header, `[18..]` chunk body.
    obuf: Box<[u8]>,
    /// Queued, not yet written range of `obuf`.
    start: usize,
    end: usize,
    wrote_header: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Decoded,
    Input,
}

struct ReadState {
    dec: snap::raw::Decoder,
    /// Raw framed bytes read from the inner stream: `ibuf[istart..iend]` is unparsed.
    ibuf: Box<[u8]>,
    istart: usize,
    iend: usize,
    /// Decompressed block being served to the caller.
    decoded: Box<[u8]>,
    /// Plaintext ready for the caller: `decoded[spos..send]` or (uncompressed chunk, served
    /// straight from the input buffer) `ibuf[spos..send]`.
    src: Source,
    spos: usize,
    send: usize,
    read_header: bool,
    /// Sticky error (Go's `r.err`): `true` = corrupt, `false` = unsupported.
    failed: Option<bool>,
}

impl<S> SnappyStream<S> {
    pub fn new(inner: S) -> Self {
        SnappyStream {
            inner,
            w: None,
            r: None,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner stream; bytes still queued for writing (see `poll_flush`) and
    /// buffered read state are discarded.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl WriteState {
    fn new() -> Box<Self> {
        Box::new(WriteState {
            enc: snap::raw::Encoder::new(),
            obuf: vec![0u8; OBUF_LEN].into_boxed_slice(),
            start: 0,
            end: 0,
            wrote_header: false,
        })
    }

    /// Encodes `src` (at most `MAX_BLOCK` bytes) as one chunk into `obuf` (golang/snappy
    /// `Writer.write`).
    fn encode(&mut self, src: &[u8]) -> io::Result<()> {
        debug_assert!(!src.is_empty() && src.len() <= MAX_BLOCK);
        let hdr = STREAM_ID.len();
        let body = hdr + CHUNK_HEADER;
        self.start = if self.wrote_header {
            hdr
        } else {
            self.obuf[..hdr].copy_from_slice(&STREAM_ID);
            self.wrote_header = true;
            0
        };
        let checksum = masked_crc(src);
        let clen = self
            .enc
            .compress(src, &mut self.obuf[body..])
            .map_err(|e| io::Error::other(format!("snappy: {e}")))?;
        let (kind, len) = if clen >= src.len() - src.len() / 8 {
            self.obuf[body..body + src.len()].copy_from_slice(src);
            (CHUNK_UNCOMPRESSED, src.len())
        } else {
            (CHUNK_COMPRESSED, clen)
        };
        let chunk_len = (4 + len) as u32;
        self.obuf[hdr] = kind;
        self.obuf[hdr + 1..hdr + 4].copy_from_slice(&chunk_len.to_le_bytes()[..3]);
        self.obuf[hdr + 4..body].copy_from_slice(&checksum.to_le_bytes());
        self.end = body + len;
        Ok(())
    }
}

impl<S: AsyncWrite + Unpin> SnappyStream<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(w) = self.w.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while w.start < w.end {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &w.obuf[w.start..w.end]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            w.start += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for SnappyStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(MAX_BLOCK);
        this.w
            .get_or_insert_with(WriteState::new)
            .encode(&buf[..n])?;
        // Push the chunk out now (nothing may wait for a flush); what the inner stream cannot
        // take yet is drained before the next chunk is accepted.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Outcome of trying to parse one chunk from the input buffer.
enum Parsed {
    /// Plaintext was written straight into the caller's buffer.
    Direct,
    /// Plaintext is ready in `src`/`spos`/`send`, or a non-data chunk was consumed.
    Continue,
    /// More input is needed.
    NeedInput,
}

impl ReadState {
    fn new() -> Box<Self> {
        Box::new(ReadState {
            dec: snap::raw::Decoder::new(),
            ibuf: vec![0u8; IBUF_LEN].into_boxed_slice(),
            istart: 0,
            iend: 0,
            decoded: vec![0u8; MAX_BLOCK].into_boxed_slice(),
            src: Source::Decoded,
            spos: 0,
            send: 0,
            read_header: false,
            failed: None,
        })
    }

    fn fail(&mut self, corrupt_input: bool) -> io::Error {
        self.failed = Some(corrupt_input);
        if corrupt_input {
            corrupt()
        } else {
            unsupported()
        }
    }

    /// Parses (at most) one complete chunk from `ibuf[istart..iend]`.
    fn parse(&mut self, out: &mut ReadBuf<'_>) -> io::Result<Parsed> {
        let avail = self.iend - self.istart;
        if avail < 4 {
            return Ok(Parsed::NeedInput);
        }
        let h = &self.ibuf[self.istart..self.istart + 4];
        let kind = h[0];
        let len = usize::from(h[1]) | usize::from(h[2]) << 8 | usize::from(h[3]) << 16;
        if !self.read_header && kind != CHUNK_STREAM_ID {
            return Err(self.fail(true));
        }
        if 4 + len > IBUF_LEN {
            return Err(self.fail(false));
        }
        if avail < 4 + len {
            return Ok(Parsed::NeedInput);
        }
        let body_start = self.istart + 4;
        let body_end = body_start + len;
        self.istart = body_end;
        match kind {
            CHUNK_COMPRESSED => {
                if len < 4 {
                    return Err(self.fail(true));
                }
                let body = &self.ibuf[body_start..body_end];
                let checksum = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                let data = &body[4..];
                let n = match snap::raw::decompress_len(data) {
                    Ok(n) if n <= MAX_BLOCK => n,
                    _ => return Err(self.fail(true)),
                };
                let direct = out.remaining() >= n;
                let dst: &mut [u8] = if direct {
                    &mut out.initialize_unfilled_to(n)[..n]
                } else {
                    &mut self.decoded[..n]
                };
                match self.dec.decompress(data, dst) {
                    Ok(m) if m == n => {}
                    _ => return Err(self.fail(true)),
                }
                if masked_crc(dst) != checksum {
                    return Err(self.fail(true));
                }
                if direct {
                    out.advance(n);
                    Ok(Parsed::Direct)
                } else {
                    self.src = Source::Decoded;
                    self.spos = 0;
                    self.send = n;
                    Ok(Parsed::Continue)
                }
            }
            CHUNK_UNCOMPRESSED => {
                if len < 4 || len - 4 > MAX_BLOCK {
                    return Err(self.fail(true));
                }
                let body = &self.ibuf[body_start..body_end];
                let checksum = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                if masked_crc(&body[4..]) != checksum {
                    return Err(self.fail(true));
                }
                self.src = Source::Input;
                self.spos = body_start + 4;
                self.send = body_end;
                Ok(Parsed::Continue)
            }
            CHUNK_STREAM_ID => {
                if &self.ibuf[body_start..body_end] != MAGIC_BODY {
                    return Err(self.fail(true));
                }
                self.read_header = true;
                Ok(Parsed::Continue)
            }
            0x02..=0x7f => Err(self.fail(false)),
            // Padding (0xfe) and reserved skippable chunks (0x80-0xfd).
            _ => Ok(Parsed::Continue),
        }
    }

    /// Makes room at the end of `ibuf` for the rest of the current chunk.
    fn make_room(&mut self) {
        if self.istart == self.iend {
            self.istart = 0;
            self.iend = 0;
            return;
        }
        let avail = self.iend - self.istart;
        let need = if avail >= 4 {
            let h = &self.ibuf[self.istart..self.istart + 4];
            4 + (usize::from(h[1]) | usize::from(h[2]) << 8 | usize::from(h[3]) << 16)
        } else {
            4
        };
        if self.istart + need > IBUF_LEN {
            self.ibuf.copy_within(self.istart..self.iend, 0);
            self.iend = avail;
            self.istart = 0;
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for SnappyStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = this.r.get_or_insert_with(ReadState::new);
        let start_len = buf.filled().len();
        loop {
            if r.spos < r.send {
                let n = (r.send - r.spos).min(buf.remaining());
                let src = match r.src {
                    Source::Decoded => &r.decoded[r.spos..r.spos + n],
                    Source::Input => &r.ibuf[r.spos..r.spos + n],
                };
                buf.put_slice(src);
                r.spos += n;
            }
            let got_data = buf.filled().len() > start_len;
            if buf.remaining() == 0 || r.spos < r.send {
                return Poll::Ready(Ok(()));
            }
            if let Some(corrupt_input) = r.failed {
                // Deliver what was decoded before the error first.
                if got_data {
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(if corrupt_input {
                    corrupt()
                } else {
                    unsupported()
                }));
            }
            match r.parse(buf) {
                Ok(Parsed::Direct | Parsed::Continue) => continue,
                Ok(Parsed::NeedInput) => {}
                Err(e) => {
                    if got_data {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Ready(Err(e));
                }
            }
            // Never block for more input once the caller has something.
            if got_data {
                return Poll::Ready(Ok(()));
            }
            r.make_room();
            let mut rb = ReadBuf::new(&mut r.ibuf[r.iend..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                if r.istart == r.iend {
                    return Poll::Ready(Ok(())); // EOF at a chunk boundary
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "snappy: stream ended inside a chunk",
                )));
            }
            r.iend += n;
        }
    }
}

#[cfg(test)]
#[path = "snappy_tests.rs"]
mod tests;
