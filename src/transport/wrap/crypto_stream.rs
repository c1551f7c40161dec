//! AES-128-CFB stream wrapper (spec §6, §8.2): each direction starts with its own 16-byte IV in
//! clear, sent lazily before the first ciphertext byte; the rest of the direction is one
//! continuous CFB stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use rand::RngCore;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::proto::crypto::{CfbDecryptor, CfbEncryptor, BLOCK};

/// Largest number of plaintext bytes accepted by one `poll_write`: a 64 KiB chunk plus room for
/// a whole snappy chunk header (10-byte stream identifier + 8-byte chunk header), so the snappy
/// layer above never needs two writes for one chunk.
const MAX_WRITE: usize = 64 * 1024 + 64;

/// AES-128-CFB encrypting/decrypting wrapper around a byte stream.
pub struct CryptoStream<S> {
    inner: S,
    key: [u8; 16],
    /// IV to use instead of a random one (tests and reproducible vectors only).
    fixed_iv: Option<[u8; 16]>,
    // Write half.
    enc: Option<CfbEncryptor>,
    /// Queued bytes (the IV and/or ciphertext) not yet accepted by `inner`.
    wbuf: Vec<u8>,
    wpos: usize,
    // Read half.
    dec: Option<CfbDecryptor>,
    riv: [u8; BLOCK],
    riv_len: usize,
}

impl<S> CryptoStream<S> {
    /// Wraps `inner`; `key` is `derive_key(secret)`.
    pub fn new(inner: S, key: [u8; 16]) -> Self {
        CryptoStream {
            inner,
            key,
            fixed_iv: None,
            enc: None,
            wbuf: Vec::new(),
            wpos: 0,
            dec: None,
            riv: [0; BLOCK],
            riv_len: 0,
        }
    }

    /// Like [`CryptoStream::new`] but the write direction uses `iv` instead of a random IV.
    /// Only for reproducible test vectors: a fixed IV destroys CFB's security.
    #[cfg(test)]
    pub(crate) fn with_iv(inner: S, key: [u8; 16], iv: [u8; 16]) -> Self {
        let mut s = Self::new(inner, key);
        s.fixed_iv = Some(iv);
        s
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

impl<S: AsyncWrite + Unpin> CryptoStream<S> {
    /// Writes out everything queued in `wbuf`.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for CryptoStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let dec = match &mut this.dec {
            Some(dec) => dec,
            None => {
                // The first 16 bytes of the direction are the peer's IV.
                while this.riv_len < BLOCK {
                    let mut rb = ReadBuf::new(&mut this.riv[this.riv_len..]);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                    let n = rb.filled().len();
                    if n == 0 {
                        if this.riv_len == 0 {
                            return Poll::Ready(Ok(())); // clean EOF, nothing was sent
                        }
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "encrypted stream ended inside the IV",
                        )));
                    }
                    this.riv_len += n;
                }
                this.dec.insert(CfbDecryptor::new(&this.key, &this.riv))
            }
        };
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        dec.apply(&mut buf.filled_mut()[before..]);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CryptoStream<S> {
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
        let enc = match &mut this.enc {
            Some(enc) => enc,
            None => {
                let iv = this.fixed_iv.unwrap_or_else(|| {
                    let mut iv = [0u8; BLOCK];
                    rand::thread_rng().fill_bytes(&mut iv);
                    iv
                });
                this.wbuf.reserve_exact(BLOCK + MAX_WRITE);
                this.wbuf.extend_from_slice(&iv);
                this.enc.insert(CfbEncryptor::new(&this.key, &iv))
            }
        };
        let n = buf.len().min(MAX_WRITE);
        let start = this.wbuf.len();
        this.wbuf.extend_from_slice(&buf[..n]);
        enc.apply(&mut this.wbuf[start..]);
        // The bytes are committed (the keystream has advanced): report them as written even if
        // the inner stream cannot take them yet; they are drained before the next write.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::derive_key;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const IV: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[tokio::test]
    async fn work_conn_vector_12_5() {
        let key = derive_key(b"12345678");
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = CryptoStream::with_iv(a, key, IV);
        let msg = b"GET / HTTP/1.1\r\n\r\n";
        let copy = *msg;
        w.write_all(msg).await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(msg, &copy, "caller's buffer must not be modified");
        let mut got = vec![0u8; 16 + msg.len()];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(
            hex(&got),
            "000102030405060708090a0b0c0d0e0f6bddf66009c48713371f66ef1a33b064da28"
        );
    }

    #[tokio::test]
    async fn control_stream_vector_12_5_two_writes() {
        let key = derive_key(b"12345678");
        let (a, b) = tokio::io::duplex(1024);
        let mut w = CryptoStream::with_iv(a, key, IV);
        let ping = [0x68, 0, 0, 0, 0, 0, 0, 0, 2, b'{', b'}'];
        w.write_all(&ping).await.unwrap();
        let np = br#"{"proxy_name":"ssh","proxy_type":"tcp","remote_port":6000}"#;
        let mut frame = vec![b'p'];
        frame.extend_from_slice(&(np.len() as i64).to_be_bytes());
        frame.extend_from_slice(np);
        w.write_all(&frame).await.unwrap();
        w.shutdown().await.unwrap();
        let mut raw = Vec::new();
        let mut b = b;
        b.read_to_end(&mut raw).await.unwrap();
        assert_eq!(
            hex(&raw[16..]),
            "4498a24026e4cf47613434ae3402bd6e2320ebd822dd72623dc9eba8ae3cd570ddb2d3b681743c464903e473dbda80a3738f2e094a24f30e8c9efcaaba347d2e7b694f384fbeb623d4e6baf67af8"
        );
        // And decrypting it back through the reader, one byte at a time.
        let mut r = CryptoStream::new(&raw[..], key);
        let mut out = Vec::new();
        let mut one = [0u8; 1];
        loop {
            let n = r.read(&mut one).await.unwrap();
            if n == 0 {
                break;
            }
            out.push(one[0]);
        }
        let mut expect = ping.to_vec();
        expect.extend_from_slice(&frame);
        assert_eq!(out, expect);
    }

    #[tokio::test]
    async fn iv_is_random_and_lazy() {
        let key = derive_key(b"x");
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = CryptoStream::new(a, key);
        w.flush().await.unwrap();
        drop(w);
        let mut raw = Vec::new();
        b.read_to_end(&mut raw).await.unwrap();
        assert!(raw.is_empty(), "no IV without data");

        let mut ivs = Vec::new();
        for _ in 0..2 {
            let (a, mut b) = tokio::io::duplex(1024);
            let mut w = CryptoStream::new(a, key);
            w.write_all(b"hi").await.unwrap();
            w.shutdown().await.unwrap();
            let mut raw = Vec::new();
            b.read_to_end(&mut raw).await.unwrap();
            assert_eq!(raw.len(), 18);
            ivs.push(raw[..16].to_vec());
        }
        assert_ne!(ivs[0], ivs[1]);
    }

    #[tokio::test]
    async fn truncated_iv_is_an_error_and_empty_is_eof() {
        let key = derive_key(b"x");
        let mut r = CryptoStream::new(&[1u8, 2, 3][..], key);
        let mut buf = [0u8; 8];
        let err = r.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let mut r = CryptoStream::new(&[][..], key);
        assert_eq!(r.read(&mut buf).await.unwrap(), 0);
    }

    /// A writer whose inner stream only accepts a few bytes at a time must still deliver
    /// everything in order, and `poll_write` must not report unqueued bytes.
    #[tokio::test]
    async fn slow_inner_writer() {
        let key = derive_key(b"k");
        let (a, b) = tokio::io::duplex(7); // tiny pipe: constant Pending/partial writes
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let d2 = data.clone();
        let writer = tokio::spawn(async move {
            let mut w = CryptoStream::new(a, key);
            for chunk in d2.chunks(1000) {
                w.write_all(chunk).await.unwrap();
            }
            w.shutdown().await.unwrap();
        });
        let mut r = CryptoStream::new(b, key);
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.unwrap();
        writer.await.unwrap();
        assert!(
            out == data,
            "round trip mismatch ({} vs {} bytes)",
            out.len(),
            data.len()
        );
    }
}
