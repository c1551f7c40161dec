//! Tests against the Go frp v0.65.0 capture in `tests/fixtures/captures/tcp-mux`: every frame
//! header matches `expected.json`, and a server
//! session fed the client's bytes accepts the streams and answers byte-identical ACKs.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::tests::{cfg, hex};
use super::tests_raw::{expect_frame, session};
use super::*;

/// The recording, kept in the repository; `Option` so callers read naturally with `let Some`.
fn capture_dir() -> Option<std::path::PathBuf> {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captures/tcp-mux");
    assert!(
        dir.join("expected.json").exists(),
        "capture fixtures missing at {}",
        dir.display()
    );
    Some(dir)
}

/// Reassembled payload per stream id.
type Payloads = std::collections::BTreeMap<u32, Vec<u8>>;

/// Decodes a whole direction; returns (offset, header, payload offset) per frame and the
/// reassembled payload per stream id.
fn decode_all(bytes: &[u8]) -> (Vec<(usize, Header, usize)>, Payloads) {
    let mut frames = Vec::new();
    let mut streams = Payloads::new();
    let mut off = 0;
    while off < bytes.len() {
        let h = Header::decode_slice(&bytes[off..]).unwrap().unwrap();
        let p = off + HEADER_LEN;
        let mut next = p;
        if h.frame_type == FrameType::Data {
            next += h.length as usize;
            streams
                .entry(h.stream_id)
                .or_default()
                .extend_from_slice(&bytes[p..next]);
        }
        frames.push((off, h, p));
        off = next;
    }
    assert_eq!(off, bytes.len());
    (frames, streams)
}

#[test]
fn capture_frames_match_expected_json() {
    let Some(dir) = capture_dir() else { return };
    let exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let conn = &exp["connections"][0];
    for (dir_name, file) in [("c2s", "conn1.c2s.bin"), ("s2c", "conn1.s2c.bin")] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let (frames, streams) = decode_all(&bytes);
        let want = conn[dir_name]["yamux_frames"].as_array().unwrap();
        assert_eq!(frames.len(), want.len(), "{dir_name}");
        for ((off, h, p), w) in frames.iter().zip(want) {
            assert_eq!(*off as u64, w["offset"].as_u64().unwrap());
            assert_eq!(w["version"].as_u64(), Some(0));
            assert_eq!(h.frame_type as u64, w["type_code"].as_u64().unwrap());
            assert_eq!(h.flags as u64, w["flags"].as_u64().unwrap());
            assert_eq!(h.stream_id as u64, w["stream_id"].as_u64().unwrap());
            assert_eq!(h.length as u64, w["length"].as_u64().unwrap());
            if let Some(po) = w["payload_offset"].as_u64() {
                assert_eq!(*p as u64, po);
            }
            // Re-encoding reproduces the captured header bytes.
            assert_eq!(&h.encode()[..], &bytes[*off..*off + HEADER_LEN]);
        }
        for s in conn["streams"].as_array().unwrap() {
            let id = s["stream_id"].as_u64().unwrap() as u32;
            let len = s[dir_name]["bytes"].as_u64().unwrap() as usize;
            let got = streams.get(&id).map_or(0, Vec::len);
            assert_eq!(got, len, "stream {id} {dir_name}");
            if let Some(pt) = s[dir_name]["plaintext"].as_object() {
                use sha2::Digest;
                let at = s[dir_name]["payload_offset"].as_u64().unwrap() as usize;
                let text = &streams[&id][at..];
                assert_eq!(text, pt["text"].as_str().unwrap().as_bytes());
                assert_eq!(
                    hex(&sha2::Sha256::digest(text)),
                    pt["sha256"].as_str().unwrap()
                );
            }
        }
        // Stream 1 carries the control connection; c2s starts with the Login ('o').
        if dir_name == "c2s" {
            assert_eq!(streams[&1][0], b'o');
        }
    }
}

#[tokio::test]
async fn capture_replayed_into_server_session() {
    let Some(dir) = capture_dir() else { return };
    let c2s = std::fs::read(dir.join("conn1.c2s.bin")).unwrap();
    let s2c = std::fs::read(dir.join("conn1.s2c.bin")).unwrap();
    let (_, payloads) = decode_all(&c2s);
    let (s, mut raw) = session(Mode::Server, cfg());
    raw.write_all(&c2s).await.unwrap();
    // Our ACKs are byte-identical to the Go server's (s2c frames 0, 4 and 9).
    let mut keep = Vec::new();
    for (id, ack_at, len, eof) in [
        (1u32, 0usize, 248usize, false),
        (3, 132, 48, true),
        (5, 376, 38, false),
    ] {
        let mut st = s.accept().await.unwrap();
        assert_eq!(st.id(), id);
        expect_frame(&mut raw, &hex(&s2c[ack_at..ack_at + HEADER_LEN])).await;
        let mut buf = vec![0u8; len];
        st.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, payloads[&id]);
        if id == 1 {
            assert_eq!(buf[0], b'o');
        }
        if eof {
            assert_eq!(st.read(&mut [0u8; 1]).await.unwrap(), 0);
        }
        keep.push(st); // dropping would queue a FIN
    }
    assert!(!s.is_closed());
}
