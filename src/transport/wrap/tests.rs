//! Cross-layer tests: the recorded Go session (tcp-enc-comp), round trips through `wrap`, the
//! bandwidth limiter's timing and (ignored) throughput measurements.

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rand::{Rng, RngCore, SeedableRng};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::*;
use crate::proto::crypto::{derive_key, CfbDecryptor};
use crate::transport::BoxStream;

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// The recorded Go sessions, kept in the repository as test fixtures.
fn captures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures")
}

/// An `AsyncRead` that returns the given chunks one per read, with a `Pending` (and immediate
/// wake-up) before each chunk to exercise resumption.
struct Chunked {
    chunks: VecDeque<Vec<u8>>,
    pending_next: bool,
}

impl Chunked {
    fn new(chunks: Vec<Vec<u8>>) -> Self {
        Chunked {
            chunks: chunks.into(),
            pending_next: true,
        }
    }
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pending_next {
            self.pending_next = false;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if let Some(front) = self.chunks.front_mut() {
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            front.drain(..n);
            if front.is_empty() {
                self.chunks.pop_front();
                self.pending_next = true;
            }
        }
        Poll::Ready(Ok(()))
    }
}

async fn read_all<R: AsyncRead + Unpin>(mut r: R, bufsize: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; bufsize];
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// tcp-enc-comp conn2: a work connection with use_encryption + use_compression recorded from
/// Go frp v0.65.0. Decrypt + de-frame both directions (whole, and in the recorded TCP chunk
/// sizes), and re-create the exact wire bytes with our writer given Go's IV.
#[tokio::test]
async fn go_capture_tcp_enc_comp() {
    let dir = captures_dir().join("tcp-enc-comp");
    let exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let events: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("events.json")).unwrap()).unwrap();
    let conn = &exp["connections"][1];
    assert_eq!(conn["conn"], 2);
    assert_eq!(conn["role"], "work");
    for (d, key_field, token_field) in [
        ("c2s", "key_hex_frpc", "token_frpc"),
        ("s2c", "key_hex_frps", "token_frps"),
    ] {
        let key_v = unhex(exp[key_field].as_str().unwrap());
        let key = derive_key(exp[token_field].as_str().unwrap().as_bytes());
        assert_eq!(key.to_vec(), key_v);
        let e = &conn[d];
        let raw = std::fs::read(dir.join(format!("conn2.{d}.bin"))).unwrap();
        let off = e["payload_offset"].as_u64().unwrap() as usize;
        // The first frame: type byte + 8-byte BE length + JSON body ends at the payload.
        let len = i64::from_be_bytes(raw[1..9].try_into().unwrap()) as usize;
        assert_eq!(9 + len, off, "{d}: first frame must end at payload_offset");
        let payload = &raw[off..];
        let iv = unhex(e["encryption"]["iv_hex"].as_str().unwrap());
        assert_eq!(&payload[..16], &iv[..]);
        let want_len = e["plaintext"]["length"].as_u64().unwrap() as usize;
        let want_sha = e["plaintext"]["sha256"].as_str().unwrap();

        // 1. Whole payload through SnappyStream<CryptoStream<_>>, small and large read buffers.
        for bufsize in [7, 4096, 100_000] {
            let plain = read_all(SnappyStream::new(CryptoStream::new(payload, key)), bufsize)
                .await
                .unwrap();
            assert_eq!(plain.len(), want_len, "{d} bufsize {bufsize}");
            assert_eq!(sha256_hex(&plain), want_sha, "{d} bufsize {bufsize}");
            assert!(plain.starts_with(b"hello frp\nThe quick brown fox"));
        }

        // 2. Fed in the chunk sizes the relay recorded (events.json), via `wrap`.
        let mut chunks = Vec::new();
        for ev in events.as_array().unwrap() {
            if ev["conn"] != 2 || ev["dir"] != d {
                continue;
            }
            let (o, l) = (
                ev["offset"].as_u64().unwrap() as usize,
                ev["len"].as_u64().unwrap() as usize,
            );
            let (s, t) = (o.max(off), o + l);
            if t > s {
                chunks.push(raw[s..t].to_vec());
            }
        }
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), payload.len());
        let stream: BoxStream = Box::new(tokio::io::join(Chunked::new(chunks), tokio::io::sink()));
        let plain = read_all(wrap(stream, &key, true, true), 8192)
            .await
            .unwrap();
        assert_eq!(plain.len(), want_len, "{d} chunked");
        assert_eq!(sha256_hex(&plain), want_sha, "{d} chunked");

        // 3. The decrypted framing matches the recorded chunk list.
        let mut framed = payload[16..].to_vec();
        CfbDecryptor::new(&key, iv[..].try_into().unwrap()).apply(&mut framed);
        let want_chunks = e["compression"]["chunks"].as_array().unwrap();
        let mut pos = 0;
        let mut writes = Vec::new();
        for c in want_chunks {
            assert_eq!(c["offset"].as_u64().unwrap() as usize, pos);
            assert_eq!(u64::from(framed[pos]), c["chunk_type"].as_u64().unwrap());
            let clen = usize::from(framed[pos + 1])
                | usize::from(framed[pos + 2]) << 8
                | usize::from(framed[pos + 3]) << 16;
            assert_eq!(clen as u64, c["length"].as_u64().unwrap());
            if let Some(u) = c["uncompressed_len"].as_u64() {
                writes.push(u as usize);
            }
            pos += 4 + clen;
        }
        assert_eq!(pos, framed.len());

        // 4. Our writer, given Go's IV and Go's write sizes, produces Go's bytes exactly
        //    (same chunk types, same compressed blocks, same CRCs, same ciphertext).
        let plain = read_all(SnappyStream::new(CryptoStream::new(payload, key)), 65536)
            .await
            .unwrap();
        let mut ours = Vec::new();
        {
            let iv: [u8; 16] = iv[..].try_into().unwrap();
            let mut w = SnappyStream::new(CryptoStream::with_iv(&mut ours, key, iv));
            let mut p = 0;
            for n in writes {
                w.write_all(&plain[p..p + n]).await.unwrap();
                p += n;
            }
            assert_eq!(p, plain.len());
            w.flush().await.unwrap();
        }
        assert!(
            ours == payload,
            "{d}: re-encoded wire bytes differ from Go's"
        );
    }
}

/// Deterministic test data: random blocks interleaved with compressible text.
fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        let n = rng.gen_range(1..200_000).min(len - v.len());
        if rng.gen_bool(0.5) {
            let start = v.len();
            v.resize(start + n, 0);
            rng.fill_bytes(&mut v[start..]);
        } else {
            let line = format!("line {} of some fairly repetitive text\n", rng.gen::<u16>());
            v.extend(line.bytes().cycle().take(n));
        }
    }
    v
}

const ODD_SIZES: [usize; 9] = [1, 7, 100, 4095, 65535, 65537, 131_071, 33_333, 9];

async fn write_odd<W: AsyncWrite + Unpin>(mut w: W, data: &[u8]) -> io::Result<()> {
    let mut p = 0;
    let mut i = 0;
    while p < data.len() {
        let n = ODD_SIZES[i % ODD_SIZES.len()].min(data.len() - p);
        w.write_all(&data[p..p + n]).await?;
        p += n;
        i += 1;
    }
    w.shutdown().await
}

/// Full-duplex round trip through `wrap` on both ends of a pipe.
async fn round_trip(encryption: bool, compression: bool) {
    let key = derive_key(b"round trip");
    let (a, b) = tokio::io::duplex(64 * 1024);
    let a = wrap(Box::new(a), &key, encryption, compression);
    let b = wrap(Box::new(b), &key, encryption, compression);
    let big = Arc::new(test_data(16 << 20, 1));
    let small = Arc::new(test_data(1 << 20, 2));
    let (ar, aw) = tokio::io::split(a);
    let (br, bw) = tokio::io::split(b);
    let (b1, s1) = (big.clone(), small.clone());
    let t1 = tokio::spawn(async move { write_odd(aw, &b1).await.unwrap() });
    let t2 = tokio::spawn(async move { write_odd(bw, &s1).await.unwrap() });
    let t3 = tokio::spawn(async move { read_all(br, 8192).await.unwrap() });
    let t4 = tokio::spawn(async move { read_all(ar, 100_000).await.unwrap() });
    t1.await.unwrap();
    t2.await.unwrap();
    let got_big = t3.await.unwrap();
    let got_small = t4.await.unwrap();
    assert!(
        *got_big == *big,
        "a->b mismatch (enc={encryption}, comp={compression})"
    );
    assert!(
        *got_small == *small,
        "b->a mismatch (enc={encryption}, comp={compression})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_encryption_only() {
    round_trip(true, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_compression_only() {
    round_trip(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_encryption_and_compression() {
    round_trip(true, true).await;
}

#[tokio::test]
async fn wrap_layers_and_order() {
    let key = derive_key(b"12345678");
    // No layers: bytes pass unchanged.
    let mut out = Vec::new();
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let mut w = wrap(Box::new(a), &key, false, false);
    w.write_all(b"plain").await.unwrap();
    w.shutdown().await.unwrap();
    b.read_to_end(&mut out).await.unwrap();
    assert_eq!(out, b"plain");
    // Both layers: the wire is IV + CFB(snappy framing), i.e. compress then encrypt.
    let (a, mut b) = tokio::io::duplex(1 << 16);
    let mut w = wrap(Box::new(a), &key, true, true);
    w.write_all(b"hello").await.unwrap();
    w.shutdown().await.unwrap();
    let mut wire = Vec::new();
    b.read_to_end(&mut wire).await.unwrap();
    let iv: [u8; 16] = wire[..16].try_into().unwrap();
    let mut framed = wire[16..].to_vec();
    CfbDecryptor::new(&key, &iv).apply(&mut framed);
    assert_eq!(
        framed,
        unhex("ff060000734e6150705901090000bb1f1c1968656c6c6f"),
        "compressed first, then encrypted"
    );
}

#[tokio::test]
async fn corrupted_ciphertext_fails_crc() {
    let key = derive_key(b"k");
    let data = test_data(300_000, 3);
    let mut wire = Vec::new();
    {
        let mut w = SnappyStream::new(CryptoStream::new(&mut wire, key));
        w.write_all(&data).await.unwrap();
        w.flush().await.unwrap();
    }
    let clean = read_all(SnappyStream::new(CryptoStream::new(&wire[..], key)), 65536)
        .await
        .unwrap();
    assert!(clean == data);
    // Flip one bit well inside the last chunk's payload.
    let at = wire.len() - 100;
    wire[at] ^= 0x10;
    let err = read_all(SnappyStream::new(CryptoStream::new(&wire[..], key)), 65536)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    // Wrong key: the stream identifier does not decrypt.
    let err = read_all(
        SnappyStream::new(CryptoStream::new(&wire[..], derive_key(b"other"))),
        65536,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

/// 1 MiB/s, 2 MiB written: the first MiB is the initial burst, the second takes ~1 s.
#[tokio::test]
async fn limiter_write_rate() {
    let limiter = Limiter::new(1 << 20);
    let (a, b) = tokio::io::duplex(64 * 1024);
    let data = vec![7u8; 2 << 20];
    let start = Instant::now();
    let reader = tokio::spawn(read_all(b, 65536));
    let mut w = LimitedStream::new(a, limiter);
    w.write_all(&data).await.unwrap();
    w.shutdown().await.unwrap();
    drop(w);
    let got = reader.await.unwrap().unwrap();
    let el = start.elapsed();
    assert_eq!(got.len(), data.len());
    assert!(el >= Duration::from_millis(950), "too fast: {el:?}");
    assert!(el < Duration::from_secs(3), "too slow: {el:?}");
}

/// Reads are limited too, and one limiter is shared by several streams.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limiter_shared_read_rate() {
    let limiter = Limiter::new(1 << 20);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let (mut a, b) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            a.write_all(&vec![1u8; 1 << 20]).await.unwrap();
            a.shutdown().await.unwrap();
        });
        let r = LimitedStream::new(b, limiter.clone());
        tasks.push(tokio::spawn(read_all(r, 256 * 1024)));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap().unwrap().len();
    }
    let el = start.elapsed();
    assert_eq!(total, 2 << 20);
    assert!(el >= Duration::from_millis(950), "too fast: {el:?}");
    assert!(el < Duration::from_secs(3), "too slow: {el:?}");
}

/// A limit smaller than the caller's read buffer caps each read at the burst size.
#[tokio::test]
async fn limiter_caps_read_size_at_burst() {
    let limiter = Limiter::new(1000);
    let data = vec![5u8; 4000];
    let mut r = LimitedStream::new(&data[..], limiter);
    let mut buf = vec![0u8; 4096];
    assert_eq!(r.read(&mut buf).await.unwrap(), 1000);
}

async fn throughput(label: &str, encryption: bool, compression: bool, data: &[u8]) {
    let key = derive_key(b"bench");
    let (a, b) = tokio::io::duplex(256 * 1024);
    let w = wrap(Box::new(a), &key, encryption, compression);
    let r = wrap(Box::new(b), &key, encryption, compression);
    let total: usize = 256 << 20;
    let data = data.to_vec();
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        let mut w = w;
        let mut sent = 0;
        while sent < total {
            w.write_all(&data).await.unwrap();
            sent += data.len();
        }
        w.shutdown().await.unwrap();
        sent
    });
    let mut r = r;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    let sent = writer.await.unwrap();
    assert_eq!(got, sent);
    let secs = start.elapsed().as_secs_f64();
    println!("{label:<40} {:>8.1} MB/s", got as f64 / secs / 1e6);
}

/// `cargo test --release -- --ignored --nocapture wrap_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn wrap_throughput() {
    let random = {
        let mut v = vec![0u8; 64 * 1024];
        rand::rngs::StdRng::seed_from_u64(5).fill_bytes(&mut v);
        v
    };
    let text: Vec<u8> = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
        .iter()
        .cycle()
        .take(64 * 1024)
        .copied()
        .collect();
    throughput("duplex baseline", false, false, &random).await;
    throughput("crypto (random data)", true, false, &random).await;
    throughput("snappy (random data)", false, true, &random).await;
    throughput("snappy (text data)", false, true, &text).await;
    throughput("snappy+crypto (random data)", true, true, &random).await;
    throughput("snappy+crypto (text data)", true, true, &text).await;
}
