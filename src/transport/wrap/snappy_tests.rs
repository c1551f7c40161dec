//! Tests of the snappy framing layer (vectors §12.7, Go-exact block encoding, reader checks).

use super::*;
use rand::{Rng, RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Feeds `writes` through a `SnappyStream` writer, one `write` call each, and returns the bytes.
async fn frame(writes: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = SnappyStream::new(&mut out);
        for b in writes {
            let n = w.write(b).await.unwrap();
            assert_eq!(n, b.len().min(MAX_BLOCK));
        }
        // No flush: the unbuffered writer must already have emitted everything.
    }
    out
}

async fn unframe(data: &[u8]) -> io::Result<Vec<u8>> {
    let mut r = SnappyStream::new(data);
    let mut out = Vec::new();
    r.read_to_end(&mut out).await?;
    Ok(out)
}

#[tokio::test]
async fn vectors_12_7() {
    assert_eq!(
        hex(&frame(&[b"hello"]).await),
        "ff060000734e6150705901090000bb1f1c1968656c6c6f"
    );
    assert_eq!(
        hex(&frame(&[&[b'a'; 64]]).await),
        "ff060000734e61507059000a0000355ae97e400061fa0100"
    );
    assert_eq!(
        hex(&frame(&[b"hello", b"world"]).await),
        "ff060000734e6150705901090000bb1f1c1968656c6c6f010900002d4e1fa5776f726c64"
    );
    // Nothing at all for an empty write (no stream identifier either).
    assert!(frame(&[b""]).await.is_empty());
    // And back.
    let v = unhex("ff060000734e6150705901090000bb1f1c1968656c6c6f010900002d4e1fa5776f726c64");
    assert_eq!(unframe(&v).await.unwrap(), b"helloworld");
    let v = unhex("ff060000734e61507059000a0000355ae97e400061fa0100");
    assert_eq!(unframe(&v).await.unwrap(), vec![b'a'; 64]);
}

#[tokio::test]
async fn chunking_follows_writes_and_64k_limit() {
    let data: Vec<u8> = (0..150_000u32).map(|i| (i % 7) as u8).collect();
    let mut out = Vec::new();
    {
        let mut w = SnappyStream::new(&mut out);
        w.write_all(&data).await.unwrap();
    }
    // Walk the chunks: stream id, then 65536 + 65536 + 18928 uncompressed bytes.
    let mut pos = 10;
    let mut sizes = Vec::new();
    while pos < out.len() {
        let len = usize::from(out[pos + 1]) | usize::from(out[pos + 2]) << 8;
        let body = &out[pos + 8..pos + 4 + len];
        let n = match out[pos] {
            0 => snap::raw::decompress_len(body).unwrap(),
            1 => body.len(),
            t => panic!("chunk type {t}"),
        };
        sizes.push(n);
        pos += 4 + len;
    }
    assert_eq!(sizes, vec![65536, 65536, 150_000 - 131_072]);
    assert!(unframe(&out).await.unwrap() == data);
}

#[tokio::test]
async fn incompressible_data_uses_uncompressed_chunks() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut data = vec![0u8; 70_000];
    rng.fill_bytes(&mut data);
    let out = frame(&[&data]).await;
    assert_eq!(out[10], CHUNK_UNCOMPRESSED);
    assert_eq!(out.len(), 10 + 8 + 65536);
    assert!(out[18..] == data[..65536]);
}

fn corrupt_kind(r: io::Result<Vec<u8>>) -> String {
    let e = r.expect_err("must fail");
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    e.to_string()
}

#[tokio::test]
async fn reader_rejects_bad_input() {
    let good = unhex("ff060000734e6150705901090000bb1f1c1968656c6c6f");
    // Corrupt CRC.
    let mut bad = good.clone();
    bad[14] ^= 1;
    assert!(corrupt_kind(unframe(&bad).await).contains("corrupt"));
    // Corrupt data (CRC no longer matches).
    let mut bad = good.clone();
    bad[20] ^= 0x20;
    assert!(corrupt_kind(unframe(&bad).await).contains("corrupt"));
    // Missing stream identifier.
    assert!(corrupt_kind(unframe(&good[10..]).await).contains("corrupt"));
    // Wrong magic.
    let mut bad = good.clone();
    bad[5] = b'n';
    assert!(corrupt_kind(unframe(&bad).await).contains("corrupt"));
    // Compressed chunk with a corrupt CRC.
    let mut bad = unhex("ff060000734e61507059000a0000355ae97e400061fa0100");
    bad[14] ^= 0x80;
    assert!(corrupt_kind(unframe(&bad).await).contains("corrupt"));
    // Compressed chunk with a broken block.
    let mut bad = unhex("ff060000734e61507059000a0000355ae97e400061fa0100");
    bad[21] = 0x05; // copy offset 5 > bytes produced
    assert!(corrupt_kind(unframe(&bad).await).contains("corrupt"));
    // Reserved unskippable chunk types 0x02..=0x7f.
    for t in [0x02u8, 0x40, 0x7f] {
        let mut v = good[..10].to_vec();
        v.extend_from_slice(&[t, 1, 0, 0, 0]);
        v.extend_from_slice(&good[10..]);
        assert!(corrupt_kind(unframe(&v).await).contains("unsupported"));
    }
    // Oversized chunk.
    let mut v = good[..10].to_vec();
    v.extend_from_slice(&[0x80, 0xff, 0xff, 0x01]);
    assert!(corrupt_kind(unframe(&v).await).contains("unsupported"));
    // Truncated chunk.
    let e = unframe(&good[..good.len() - 1]).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    // Clean EOF right after the stream identifier, and on an empty stream.
    assert_eq!(unframe(&good[..10]).await.unwrap(), b"");
    assert_eq!(unframe(&[]).await.unwrap(), b"");
}

#[tokio::test]
async fn reader_skips_padding_and_skippable_chunks() {
    let good = unhex("ff060000734e6150705901090000bb1f1c1968656c6c6f");
    let mut v = good[..10].to_vec();
    v.extend_from_slice(&[0xfe, 3, 0, 0, 0, 0, 0]); // padding
    v.extend_from_slice(&[0x80, 2, 0, 0, 9, 9]); // skippable
    v.extend_from_slice(&[0xfd, 0, 0, 0]); // empty skippable
    v.extend_from_slice(&good[10..]);
    v.extend_from_slice(&good[..10]); // a repeated stream identifier is allowed
    v.extend_from_slice(&good[10..]);
    assert_eq!(unframe(&v).await.unwrap(), b"hellohello");
}

#[tokio::test]
async fn corrupt_chunk_after_good_data_delivers_data_then_errors() {
    let mut v = frame(&[b"first chunk", b"second"]).await;
    let last = v.len() - 1;
    v[last] ^= 1;
    let mut r = SnappyStream::new(&v[..]);
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf).await.unwrap();
    assert_eq!(&buf[..n], b"first chunk");
    assert!(r.read(&mut buf).await.is_err());
    assert!(r.read(&mut buf).await.is_err(), "errors are sticky");
}

/// Reads with tiny and odd caller buffers and a byte-at-a-time inner reader.
#[tokio::test]
async fn reader_small_buffers_and_trickling_input() {
    let text: Vec<u8> = b"The quick brown fox jumps over the lazy dog 0123456789.\n"
        .iter()
        .cycle()
        .take(200_000)
        .copied()
        .collect();
    let mut framed = Vec::new();
    {
        let mut w = SnappyStream::new(&mut framed);
        for part in [&text[..1], &text[1..70_001], &text[70_001..]] {
            w.write_all(part).await.unwrap();
        }
    }
    // Byte-at-a-time inner reader.
    let trickle = tokio_test_trickle(framed.clone());
    let mut r = SnappyStream::new(trickle);
    let mut out = Vec::new();
    let mut buf = [0u8; 333];
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    assert!(
        out == text,
        "{} bytes out, {} expected",
        out.len(),
        text.len()
    );
}

/// An `AsyncRead` that hands out one byte per read.
fn tokio_test_trickle(data: Vec<u8>) -> impl AsyncRead + Unpin {
    struct Trickle(Vec<u8>, usize);
    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.1 < self.0.len() && buf.remaining() > 0 {
                let b = self.0[self.1];
                buf.put_slice(&[b]);
                self.1 += 1;
            }
            Poll::Ready(Ok(()))
        }
    }
    Trickle(data, 0)
}

/// golang/snappy v0.0.4 `Encode` (encode.go + encode_other.go), transcribed literally, to
/// check that the `snap` block encoder produces identical bytes.
mod go_port {
    const INPUT_MARGIN: usize = 16 - 1;
    const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN;

    fn load32(b: &[u8], i: usize) -> u32 {
        u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
    }
    fn load64(b: &[u8], i: usize) -> u64 {
        u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
    }
    fn hash(u: u32, shift: u32) -> u32 {
        u.wrapping_mul(0x1e35a7bd) >> shift
    }
    fn emit_literal(dst: &mut Vec<u8>, lit: &[u8]) {
        let n = lit.len() - 1;
        if n < 60 {
            dst.push((n as u8) << 2);
        } else if n < 1 << 8 {
            dst.extend_from_slice(&[60 << 2, n as u8]);
        } else {
            dst.extend_from_slice(&[61 << 2, n as u8, (n >> 8) as u8]);
        }
        dst.extend_from_slice(lit);
    }
    fn emit_copy(dst: &mut Vec<u8>, offset: usize, mut length: usize) {
        while length >= 68 {
            dst.extend_from_slice(&[63 << 2 | 2, offset as u8, (offset >> 8) as u8]);
            length -= 64;
        }
        if length > 64 {
            dst.extend_from_slice(&[59 << 2 | 2, offset as u8, (offset >> 8) as u8]);
            length -= 60;
        }
        if length >= 12 || offset >= 2048 {
            dst.extend_from_slice(&[
                ((length - 1) as u8) << 2 | 2,
                offset as u8,
                (offset >> 8) as u8,
            ]);
            return;
        }
        dst.extend_from_slice(&[
            ((offset >> 8) as u8) << 5 | ((length - 4) as u8) << 2 | 1,
            offset as u8,
        ]);
    }
    fn encode_block(dst: &mut Vec<u8>, src: &[u8]) {
        const MAX_TABLE_SIZE: usize = 1 << 14;
        const TABLE_MASK: u32 = MAX_TABLE_SIZE as u32 - 1;
        let mut shift: u32 = 32 - 8;
        let mut table_size = 1 << 8;
        while table_size < MAX_TABLE_SIZE && table_size < src.len() {
            shift -= 1;
            table_size *= 2;
        }
        let mut table = [0u16; MAX_TABLE_SIZE];
        let s_limit = src.len() - INPUT_MARGIN;
        let mut next_emit = 0;
        let mut s = 1;
        let mut next_hash = hash(load32(src, s), shift);
        'outer: loop {
            let mut skip = 32;
            let mut next_s = s;
            let mut candidate;
            loop {
                s = next_s;
                let between = skip >> 5;
                next_s = s + between;
                skip += between;
                if next_s > s_limit {
                    break 'outer;
                }
                candidate = table[(next_hash & TABLE_MASK) as usize] as usize;
                table[(next_hash & TABLE_MASK) as usize] = s as u16;
                next_hash = hash(load32(src, next_s), shift);
                if load32(src, s) == load32(src, candidate) {
                    break;
                }
            }
            emit_literal(dst, &src[next_emit..s]);
            loop {
                let base = s;
                s += 4;
                let mut i = candidate + 4;
                while s < src.len() && src[i] == src[s] {
                    i += 1;
                    s += 1;
                }
                emit_copy(dst, base - candidate, s - base);
                next_emit = s;
                if s >= s_limit {
                    break 'outer;
                }
                let x = load64(src, s - 1);
                let prev_hash = hash(x as u32, shift);
                table[(prev_hash & TABLE_MASK) as usize] = (s - 1) as u16;
                let curr_hash = hash((x >> 8) as u32, shift);
                candidate = table[(curr_hash & TABLE_MASK) as usize] as usize;
                table[(curr_hash & TABLE_MASK) as usize] = s as u16;
                if (x >> 8) as u32 != load32(src, candidate) {
                    next_hash = hash((x >> 16) as u32, shift);
                    s += 1;
                    break;
                }
            }
        }
        if next_emit < src.len() {
            emit_literal(dst, &src[next_emit..]);
        }
    }
    pub fn encode(src: &[u8]) -> Vec<u8> {
        let mut dst = Vec::new();
        let mut n = src.len() as u64;
        while n >= 0x80 {
            dst.push(n as u8 | 0x80);
            n >>= 7;
        }
        dst.push(n as u8);
        for p in src.chunks(65536) {
            if p.len() < MIN_NON_LITERAL_BLOCK_SIZE {
                emit_literal(&mut dst, p);
            } else {
                encode_block(&mut dst, p);
            }
        }
        dst
    }
}

#[test]
fn snap_block_encoder_matches_golang_snappy() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    let mut enc = snap::raw::Encoder::new();
    let mut out = vec![0u8; MAX_ENCODED];
    let words: [&[u8]; 6] = [
        b"frp ",
        b"proxy ",
        b"GET / HTTP/1.1\r\n",
        b"\0\0\0\0",
        b"aaaa",
        b"xyz",
    ];
    let mut cases: Vec<Vec<u8>> = vec![vec![], vec![b'a'; 64], b"hello".to_vec()];
    for len in [
        1usize, 15, 16, 17, 18, 19, 20, 31, 64, 100, 255, 256, 257, 1024, 4096, 65535, 65536,
    ] {
        cases.push(vec![0u8; len]);
        let mut r = vec![0u8; len];
        rng.fill_bytes(&mut r);
        cases.push(r);
    }
    for _ in 0..300 {
        let len = if rng.gen_bool(0.3) {
            rng.gen_range(0..300)
        } else {
            rng.gen_range(0..=65536)
        };
        let mut v = Vec::with_capacity(len);
        let style = rng.gen_range(0..3);
        while v.len() < len {
            match style {
                0 => v.extend_from_slice(words[rng.gen_range(0..words.len())]),
                1 => {
                    // Random bytes with back-references of random lengths and offsets.
                    if v.len() > 8 && rng.gen_bool(0.5) {
                        let off = rng.gen_range(1..=v.len().min(70_000));
                        let l = rng.gen_range(1..200);
                        for _ in 0..l {
                            v.push(v[v.len() - off]);
                        }
                    } else {
                        v.push(rng.gen_range(0..4) + b'a');
                    }
                }
                _ => v.push(rng.gen()),
            }
        }
        v.truncate(len);
        cases.push(v);
    }
    for (i, c) in cases.iter().enumerate() {
        let n = enc.compress(c, &mut out).unwrap();
        let go = go_port::encode(c);
        assert!(
            out[..n] == go[..],
            "case {i}, len {}: snap and Go encodings differ",
            c.len()
        );
        assert!(snap::raw::Decoder::new().decompress_vec(&out[..n]).unwrap() == *c);
    }
}

/// golang/snappy keeps a compressed chunk only if it saves at least 12.5 %:
/// `len(compressed) >= n - n/8` (compressed length including the varint header) → uncompressed.
#[tokio::test]
async fn compression_threshold_is_go_exact() {
    let n = 1000;
    let threshold = n - n / 8; // 875
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut noise = vec![0u8; n];
    rng.fill_bytes(&mut noise);
    let mut enc = snap::raw::Encoder::new();
    let mut tmp = vec![0u8; MAX_ENCODED];
    let (mut at, mut below) = (false, false);
    for r in 0..=n {
        // r zero bytes followed by random bytes: the compressed size shrinks as r grows.
        let mut data = noise.clone();
        data[..r].fill(0);
        let clen = enc.compress(&data, &mut tmp).unwrap();
        if clen != threshold && clen != threshold - 1 {
            continue;
        }
        let out = frame(&[&data]).await;
        let want = if clen >= threshold {
            at = true;
            CHUNK_UNCOMPRESSED
        } else {
            below = true;
            CHUNK_COMPRESSED
        };
        assert_eq!(out[10], want, "r={r} clen={clen}");
    }
    assert!(
        at && below,
        "boundary cases not reached (at={at}, below={below})"
    );
}
