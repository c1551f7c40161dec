//! Tests against a hand-driven peer speaking raw frames, and against the Go capture.

use std::io::ErrorKind;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{timeout, Instant};

use super::tests::{cfg, eventually, hex, Choppy};
use super::*;

const DELTA: u32 = 6_029_312;

pub(super) fn session(mode: Mode, c: MuxConfig) -> (Session, DuplexStream) {
    let (a, raw) = tokio::io::duplex(1 << 20);
    (Session::new(a, mode, c), raw)
}

/// Reads one frame (with its payload for Data frames); `None` on EOF.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Option<(Header, Vec<u8>)> {
    let mut h = [0u8; HEADER_LEN];
    r.read_exact(&mut h).await.ok()?;
    let hdr = Header::decode(&h).expect("valid header");
    let mut p = Vec::new();
    if hdr.frame_type == FrameType::Data {
        p = vec![0; hdr.length as usize];
        r.read_exact(&mut p).await.expect("payload");
    }
    Some((hdr, p))
}

pub(super) async fn expect_frame(raw: &mut DuplexStream, want_hex: &str) {
    let (h, p) = timeout(Duration::from_secs(2), read_frame(raw))
        .await
        .expect("frame in time")
        .expect("frame, not EOF");
    let mut got = h.encode().to_vec();
    got.extend_from_slice(&p);
    assert_eq!(hex(&got), want_hex);
}

async fn expect_silence(raw: &mut DuplexStream) {
    let r = timeout(Duration::from_millis(150), read_frame(raw)).await;
    assert!(
        r.is_err(),
        "unexpected frame {:?}",
        r.map(|f| f.map(|f| f.0))
    );
}

async fn send(raw: &mut DuplexStream, h: Header, payload: &[u8]) {
    raw.write_all(&h.encode()).await.unwrap();
    raw.write_all(payload).await.unwrap();
}

/// Expects the session to send GoAway(protocol error) and then close the connection.
async fn expect_goaway_then_eof(sess: &Session, raw: &mut DuplexStream) {
    expect_frame(raw, "000300000000000000000001").await;
    let mut rest = Vec::new();
    timeout(Duration::from_secs(2), raw.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert!(rest.is_empty());
    timeout(Duration::from_secs(2), sess.closed())
        .await
        .unwrap();
}

#[tokio::test]
async fn client_frames_are_byte_exact() {
    let (c, mut raw) = session(Mode::Client, cfg());
    let mut st = c.open().await.unwrap();
    expect_frame(&mut raw, "0001000100000001005c0000").await;
    st.write_all(b"hello").await.unwrap();
    expect_frame(&mut raw, "00000000000000010000000568656c6c6f").await;
    st.shutdown().await.unwrap();
    expect_frame(&mut raw, "000100040000000100000000").await;
    send(&mut raw, Header::window_update(FLAG_ACK, 1, DELTA), b"").await;
    send(&mut raw, Header::data(0, 1, 5), b"world").await;
    send(&mut raw, Header::window_update(FLAG_FIN, 1, 0), b"").await;
    let mut got = Vec::new();
    st.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"world");
    eventually("forgotten", || c.num_streams() == 0).await;
    let _st3 = c.open().await.unwrap();
    expect_frame(&mut raw, "0001000100000003005c0000").await;
}

#[tokio::test]
async fn server_acks_and_sends_window_update_at_half_window() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    let mut st = s.accept().await.unwrap();
    expect_frame(&mut raw, "0001000200000001005c0000").await;
    let chunk = vec![9u8; 64 * 1024];
    for _ in 0..48 {
        send(&mut raw, Header::data(0, 1, chunk.len() as u32), &chunk).await;
    }
    let mut buf = vec![0u8; (3 << 20) - 1];
    st.read_exact(&mut buf).await.unwrap();
    assert!(buf.iter().all(|&b| b == 9));
    expect_silence(&mut raw).await;
    st.read_exact(&mut buf[..1]).await.unwrap();
    // delta = (max - buffered) - recvWindow = 6 MiB - 3 MiB = 3145728
    expect_frame(&mut raw, "000100000000000100300000").await;
}

#[tokio::test]
async fn writes_respect_send_window_and_frame_size() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    let mut st = s.accept().await.unwrap();
    expect_frame(&mut raw, "0001000200000001005c0000").await;
    let writer = tokio::spawn(async move {
        let data = vec![1u8; 7 << 20];
        st.write_all(&data).await.unwrap();
        st
    });
    let mut total = 0usize;
    while total < 6 << 20 {
        let (h, p) = read_frame(&mut raw).await.unwrap();
        assert_eq!(
            (h.frame_type, h.flags, h.stream_id),
            (FrameType::Data, 0, 1)
        );
        assert!(p.len() <= 256 * 1024, "frame of {} bytes", p.len());
        total += p.len();
    }
    assert_eq!(total, 6 << 20, "sent past the window");
    expect_silence(&mut raw).await;
    send(&mut raw, Header::window_update(0, 1, 1 << 20), b"").await;
    while total < 7 << 20 {
        total += read_frame(&mut raw).await.unwrap().1.len();
    }
    assert_eq!(total, 7 << 20);
    timeout(Duration::from_secs(2), writer)
        .await
        .unwrap()
        .unwrap();
}

/// A direct write the connection only partly accepts (here ≤ 20 bytes per call, so often
/// mid-header) must be completed before any frame queued after it.
#[tokio::test]
async fn partial_direct_write_completes_before_later_frames() {
    use std::sync::atomic::Ordering::Relaxed;
    let (a, mut raw) = tokio::io::duplex(1 << 20);
    let c = Session::new(Choppy::new(a, 0x2545_f491, 20), Mode::Client, cfg());
    let partial_before = super::shared::PARTIAL_DIRECT_WRITES.load(Relaxed);
    let mut st = c.open().await.unwrap();
    expect_frame(&mut raw, "0001000100000001005c0000").await;
    send(&mut raw, Header::window_update(FLAG_ACK, 1, DELTA), b"").await;
    let data: Vec<u8> = (0..40 * 1024).map(|i| (i % 251) as u8).collect();
    let mut keep = Vec::new();
    for round in 0..30u32 {
        tokio::time::sleep(Duration::from_millis(5)).await; // let the writer go idle
        st.write_all(&data).await.unwrap();
        keep.push(c.open().await.unwrap()); // its SYN is queued behind the data
                                            // A queued write may legitimately be overtaken by the SYN (control frames go first);
                                            // what must never happen is a frame landing inside another one.
        let (mut got, mut syn) = (0, false);
        while got < data.len() || !syn {
            let (h, p) = read_frame(&mut raw).await.unwrap();
            if h.frame_type == FrameType::Data {
                assert_eq!(h.stream_id, 1, "round {round}");
                assert_eq!(p[..], data[got..got + p.len()], "round {round}");
                got += p.len();
            } else {
                assert!(!syn, "round {round}");
                assert_eq!(h, Header::window_update(FLAG_SYN, 3 + 2 * round, DELTA));
                syn = true;
            }
        }
    }
    let partial = super::shared::PARTIAL_DIRECT_WRITES.load(Relaxed) - partial_before;
    assert!(partial >= 15, "only {partial} partial direct writes");
    assert!(!c.is_closed());
}

#[tokio::test]
async fn answers_pings() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::ping(FLAG_SYN, 7), b"").await;
    expect_frame(&mut raw, "000200020000000000000007").await;
    send(&mut raw, Header::ping(FLAG_SYN, 0), b"").await;
    expect_frame(&mut raw, "000200020000000000000000").await;
    assert!(!s.is_closed());
}

#[tokio::test]
async fn keepalive_timeout_closes_session() {
    // interval 300 ms + ping-reply timeout 500 ms (frp: 30 s + 10 s)
    let k = MuxConfig {
        keepalive_interval: Some(Duration::from_millis(300)),
        write_timeout: Duration::from_millis(500),
        ..cfg()
    };
    let (c, mut raw) = session(Mode::Client, k);
    let t0 = Instant::now();
    let peer = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some((h, _)) = read_frame(&mut raw).await {
            frames.push((h, Instant::now()));
        }
        frames
    });
    timeout(Duration::from_secs(5), c.closed()).await.unwrap();
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(800) && el < Duration::from_millis(1300),
        "{el:?}"
    );
    let frames = peer.await.unwrap();
    assert_eq!(frames.len(), 1);
    assert_eq!(hex(&frames[0].0.encode()), "000200010000000000000000");
    assert!(frames[0].1 - t0 >= Duration::from_millis(300));
}

#[tokio::test]
async fn keepalive_ping_ids_count_up() {
    let k = MuxConfig {
        keepalive_interval: Some(Duration::from_millis(100)),
        write_timeout: Duration::from_secs(1),
        ..cfg()
    };
    let (c, mut raw) = session(Mode::Client, k);
    let t0 = Instant::now();
    let peer = tokio::spawn(async move {
        let mut pings = Vec::new();
        while pings.len() < 3 {
            let (h, _) = read_frame(&mut raw).await.unwrap();
            assert_eq!(h.frame_type, FrameType::Ping);
            assert_eq!(h.flags, FLAG_SYN);
            pings.push((h.length, Instant::now()));
            send(&mut raw, Header::ping(FLAG_ACK, h.length), b"").await;
        }
        (pings, raw)
    });
    let (pings, _raw) = timeout(Duration::from_secs(5), peer)
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<u32> = pings.iter().map(|p| p.0).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    let mut prev = t0;
    for (_, at) in &pings {
        assert!(*at - prev >= Duration::from_millis(95), "{:?}", *at - prev);
        prev = *at;
    }
    assert!(!c.is_closed());
}

#[tokio::test]
async fn receive_window_overflow_before_accept_sends_goaway() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    // Only the 256 KiB initial window is open until the stream is accepted.
    send(&mut raw, Header::data(0, 1, INITIAL_STREAM_WINDOW + 1), b"").await;
    expect_goaway_then_eof(&s, &mut raw).await;
}

#[tokio::test]
async fn receive_window_overflow_after_accept_sends_goaway() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    let st = s.accept().await.unwrap();
    expect_frame(&mut raw, "0001000200000001005c0000").await;
    // Exactly the 6 MiB window is fine…
    let chunk = vec![3u8; 1 << 20];
    for _ in 0..6 {
        send(&mut raw, Header::data(0, 1, chunk.len() as u32), &chunk).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!s.is_closed());
    // …one byte more is a protocol error.
    send(&mut raw, Header::data(0, 1, 1), b"x").await;
    expect_goaway_then_eof(&s, &mut raw).await;
    drop(st);
}

#[tokio::test]
async fn unexpected_fin_sends_goaway() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    send(&mut raw, Header::window_update(FLAG_FIN, 1, 0), b"").await;
    send(&mut raw, Header::window_update(FLAG_FIN, 1, 0), b"").await;
    expect_goaway_then_eof(&s, &mut raw).await;
}

#[tokio::test]
async fn duplicate_stream_sends_goaway() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    expect_goaway_then_eof(&s, &mut raw).await;
}

#[tokio::test]
async fn data_for_unknown_stream_is_discarded() {
    let (s, mut raw) = session(Mode::Server, cfg());
    let junk = vec![b'j'; 100_000];
    send(&mut raw, Header::data(0, 99, junk.len() as u32), &junk).await;
    send(&mut raw, Header::data(0, 97, 5), b"jjjjj").await;
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    send(&mut raw, Header::data(0, 1, 3), b"abc").await;
    let mut st = s.accept().await.unwrap();
    let mut buf = [0u8; 3];
    st.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"abc");
    assert!(!s.is_closed());
}

#[tokio::test]
async fn syn_with_data_and_fin_in_one_frame() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::data(FLAG_SYN | FLAG_FIN, 1, 5), b"hello").await;
    let mut st = s.accept().await.unwrap();
    let mut got = Vec::new();
    st.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
}

#[tokio::test]
async fn invalid_version_or_type_closes_without_goaway() {
    for bad in [
        hex::decode("6f0000000000000000000000").unwrap(), // 'o': a Login fed to a mux session
        hex::decode("000400000000000000000000").unwrap(), // type 4
    ] {
        let (s, mut raw) = session(Mode::Server, cfg());
        raw.write_all(&bad).await.unwrap();
        timeout(Duration::from_secs(2), s.closed()).await.unwrap();
        let mut rest = Vec::new();
        raw.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "sent {}", hex(&rest));
    }
}

#[tokio::test]
async fn peer_reset_fails_reads_and_writes() {
    let (s, mut raw) = session(Mode::Server, cfg());
    send(&mut raw, Header::window_update(FLAG_SYN, 1, DELTA), b"").await;
    let mut st = s.accept().await.unwrap();
    expect_frame(&mut raw, "0001000200000001005c0000").await;
    let mut st2 = {
        send(&mut raw, Header::window_update(FLAG_SYN, 3, DELTA), b"").await;
        s.accept().await.unwrap()
    };
    let blocked = tokio::spawn(async move { st2.read_u8().await });
    send(&mut raw, Header::window_update(FLAG_RST, 1, 0), b"").await;
    send(&mut raw, Header::window_update(FLAG_RST, 3, 0), b"").await;
    let e = timeout(Duration::from_secs(2), blocked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.unwrap_err().kind(), ErrorKind::ConnectionReset);
    eventually("forgotten", || s.num_streams() == 0).await;
    assert_eq!(
        st.read_u8().await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert_eq!(
        st.write(b"x").await.unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    assert!(!s.is_closed());
}

#[tokio::test]
async fn remote_goaway_refuses_open_and_error_goaway_closes() {
    let (c, mut raw) = session(Mode::Client, cfg());
    send(&mut raw, Header::go_away(GOAWAY_NORMAL), b"").await;
    eventually("goaway seen", || {
        c.shared()
            .remote_goaway
            .load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
    let e = c.open().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
    assert!(!c.is_closed());
    send(&mut raw, Header::go_away(GOAWAY_PROTO_ERR), b"").await;
    timeout(Duration::from_secs(2), c.closed()).await.unwrap();
}

#[tokio::test]
async fn syn_flood_while_not_reading_closes_session() {
    // Backlog 1: every SYN after the first is answered with an RST that the peer never reads.
    let (a, mut raw) = tokio::io::duplex(64 * 1024);
    let s = Session::new(
        a,
        Mode::Server,
        MuxConfig {
            accept_backlog: 1,
            ..cfg()
        },
    );
    let mut id = 1u32;
    let mut batch = Vec::with_capacity(HEADER_LEN * 1000);
    while !s.is_closed() && id < 2_000_000 {
        batch.clear();
        for _ in 0..1000 {
            batch.extend_from_slice(&Header::window_update(FLAG_SYN, id, DELTA).encode());
            id += 2;
        }
        match timeout(Duration::from_secs(2), raw.write_all(&batch)).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    timeout(Duration::from_secs(2), s.closed()).await.unwrap();
    // ~4 MiB of queued RSTs is ~350k frames.
    assert!(
        id > 600_000 && id < 1_200_000,
        "closed after {} SYNs",
        id / 2
    );
}

#[tokio::test]
async fn peer_eof_closes_session() {
    let (s, raw) = session(Mode::Server, cfg());
    drop(raw);
    timeout(Duration::from_secs(2), s.closed()).await.unwrap();
    assert!(s.accept().await.is_none());
}

#[tokio::test]
async fn unacked_open_times_out_the_session() {
    let (a, mut raw) = tokio::io::duplex(1 << 20);
    let open_t = Duration::from_millis(300);
    let c = Session::with_timeouts(a, Mode::Client, cfg(), open_t, STREAM_CLOSE_TIMEOUT);
    let t0 = Instant::now();
    let _st = c.open().await.unwrap();
    expect_frame(&mut raw, "0001000100000001005c0000").await;
    timeout(Duration::from_secs(5), c.closed()).await.unwrap();
    let el = t0.elapsed();
    assert!(
        el >= open_t && el < open_t + Duration::from_millis(500),
        "{el:?}"
    );
}

#[tokio::test]
async fn acked_or_closed_opens_do_not_time_out() {
    let (a, mut raw) = tokio::io::duplex(1 << 20);
    let open_t = Duration::from_millis(200);
    let c = Session::with_timeouts(a, Mode::Client, cfg(), open_t, STREAM_CLOSE_TIMEOUT);
    let _acked = c.open().await.unwrap();
    let mut closed = c.open().await.unwrap();
    closed.shutdown().await.unwrap();
    send(&mut raw, Header::window_update(FLAG_ACK, 1, DELTA), b"").await;
    tokio::time::sleep(open_t * 3).await;
    assert!(!c.is_closed());
}

#[tokio::test]
async fn close_timeout_resets_and_forgets_stream() {
    let (a, mut raw) = tokio::io::duplex(1 << 20);
    let close_t = Duration::from_millis(400);
    let c = Session::with_timeouts(a, Mode::Client, cfg(), STREAM_OPEN_TIMEOUT, close_t);
    let st = c.open().await.unwrap();
    expect_frame(&mut raw, "0001000100000001005c0000").await;
    send(&mut raw, Header::window_update(FLAG_ACK, 1, DELTA), b"").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let t0 = Instant::now();
    drop(st);
    expect_frame(&mut raw, "000100040000000100000000").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.num_streams(), 1);
    expect_frame(&mut raw, "000100080000000100000000").await;
    assert!(t0.elapsed() >= close_t);
    assert_eq!(c.num_streams(), 0);
    assert!(!c.is_closed());
}
