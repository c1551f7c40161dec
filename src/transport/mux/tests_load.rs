//! Load tests: many concurrent streams (duplex, TCP, a fragmenting transport), flow
//! control, and the ignored throughput measurements.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use super::shared::lock;
use super::tests::{cfg, duplex_pair, eventually, tcp_pair, Choppy, Pattern};
use super::*;

/// 50 concurrent streams, each echoed by the server and checked byte for byte; every 10th
/// carries 16 MiB (well past the 6 MiB window), the rest 4 MiB.
async fn many_streams(client: Session, server: Session) {
    let srv = tokio::spawn(async move {
        let mut tasks = Vec::new();
        while let Some(st) = server.accept().await {
            tasks.push(tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(st);
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            }));
            if tasks.len() == 50 {
                break;
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        server
    });
    let pat = Pattern::new();
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let st = client.open().await.unwrap();
        let pat = pat.clone();
        tasks.push(tokio::spawn(async move {
            let total = if i % 10 == 0 { 16 << 20 } else { 4 << 20 };
            let seed = i * 7919;
            let (mut r, mut w) = tokio::io::split(st);
            let p2 = pat.clone();
            let writer = tokio::spawn(async move {
                p2.write_to(&mut w, seed, total, 48 * 1024).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            let got = pat.read_check(&mut r, seed).await;
            assert_eq!(got, total, "stream {i}");
            drop(writer.await.unwrap());
        }));
    }
    for t in tasks {
        timeout(Duration::from_secs(120), t)
            .await
            .expect("stream timed out")
            .unwrap();
    }
    let server = srv.await.unwrap();
    eventually("all streams forgotten", || {
        client.num_streams() == 0 && server.num_streams() == 0
    })
    .await;
    assert!(!client.is_closed() && !server.is_closed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_over_duplex() {
    let (c, s) = duplex_pair(cfg(), cfg());
    many_streams(c, s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_over_tcp() {
    let (c, s) = tcp_pair(cfg(), cfg()).await;
    many_streams(c, s).await;
}

/// 16 streams echoing 1 MiB each in 40 KiB writes (large enough for direct writes) over a
/// transport that fragments everything, with 5 ms keepalive pings interleaving control
/// frames. Any framing mistake shows up as a protocol error or corrupt data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_streams_over_choppy_transport() {
    let (a, b) = tokio::io::duplex(256 * 1024);
    let k = MuxConfig {
        keepalive_interval: Some(Duration::from_millis(5)),
        ..cfg()
    };
    let client = Session::new(Choppy::new(a, 0x9e37_79b9, 9000), Mode::Client, k.clone());
    let server = Session::new(Choppy::new(b, 0x85eb_ca6b, 9000), Mode::Server, k);
    let srv = server.clone();
    tokio::spawn(async move {
        while let Some(st) = srv.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = tokio::io::split(st);
                let mut buf = vec![0u8; 40 * 1024];
                loop {
                    let n = r.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    w.write_all(&buf[..n]).await.unwrap();
                }
                w.shutdown().await.unwrap();
            });
        }
    });
    let pat = Pattern::new();
    let mut tasks = Vec::new();
    for i in 0..16usize {
        let st = client.open().await.unwrap();
        let pat = pat.clone();
        tasks.push(tokio::spawn(async move {
            let seed = i * 104_729;
            let (mut r, mut w) = tokio::io::split(st);
            let p2 = pat.clone();
            let writer = tokio::spawn(async move {
                p2.write_to(&mut w, seed, 1 << 20, 40 * 1024).await.unwrap();
                w.shutdown().await.unwrap();
                w
            });
            assert_eq!(pat.read_check(&mut r, seed).await, 1 << 20, "stream {i}");
            drop(writer.await.unwrap());
        }));
    }
    for t in tasks {
        timeout(Duration::from_secs(60), t).await.unwrap().unwrap();
    }
    assert!(!client.is_closed() && !server.is_closed());
    assert!(lock(&client.shared().state).ping.next_id > 0);
}

/// Writes in 64 KiB pieces until a write stays pending for 300 ms; returns the bytes written.
async fn write_until_blocked(st: &mut MuxStream) -> usize {
    let chunk = vec![7u8; 64 * 1024];
    let mut total = 0;
    while let Ok(r) = timeout(Duration::from_millis(300), st.write(&chunk)).await {
        total += r.unwrap();
    }
    total
}

#[tokio::test]
async fn send_window_blocks_writer_and_window_update_resumes_it() {
    let (c, s) = duplex_pair(cfg(), cfg());
    let mut a = c.open().await.unwrap();
    let mut b = s.accept().await.unwrap();
    // After the ACK the window is exactly 6 MiB.
    assert_eq!(write_until_blocked(&mut a).await, 6 << 20);
    // Reading less than half the window sends no update…
    let mut buf = vec![0u8; (3 << 20) - 1];
    b.read_exact(&mut buf).await.unwrap();
    assert_eq!(write_until_blocked(&mut a).await, 0);
    // …one more byte reaches 3 MiB freed: the update grants exactly 3 MiB.
    b.read_exact(&mut buf[..1]).await.unwrap();
    assert_eq!(write_until_blocked(&mut a).await, 3 << 20);
}

/// A session over a type-erased stream, as the rest of the crate passes them (no TcpStream
/// fast path: `tokio::io::split` is used).
type Erased = Box<dyn super::tests::Io>;

async fn throughput_with(chunk: usize, boxed: bool) -> f64 {
    const TOTAL: usize = 1 << 30;
    let (c, s) = if boxed {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
        let a: Erased = Box::new(a.unwrap());
        let b: Erased = Box::new(b.unwrap().0);
        (
            Session::new(a, Mode::Client, MuxConfig::default()),
            Session::new(b, Mode::Server, MuxConfig::default()),
        )
    } else {
        tcp_pair(MuxConfig::default(), MuxConfig::default()).await
    };
    let mut a = c.open().await.unwrap();
    let start = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let buf = vec![0x5au8; chunk];
        let mut sent = 0;
        while sent < TOTAL {
            a.write_all(&buf).await.unwrap();
            sent += buf.len();
        }
        a.shutdown().await.unwrap();
        a
    });
    let mut b = s.accept().await.unwrap();
    let mut buf = vec![0u8; chunk];
    let mut got = 0;
    loop {
        let n = b.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    let secs = start.elapsed().as_secs_f64();
    drop(writer.await.unwrap());
    assert_eq!(got, TOTAL);
    let mbs = TOTAL as f64 / secs / 1e6;
    println!(
        "yamux throughput over {}, {} KiB reads/writes: 1 GiB in {secs:.3} s = {mbs:.0} MB/s ({:.2} Gbit/s)",
        if boxed { "Box<dyn stream>" } else { "TcpStream" },
        chunk / 1024,
        mbs * 8.0 / 1e3
    );
    mbs
}

/// 1 GiB through one stream over loopback TCP, with 256 KiB and with 16 KiB application
/// buffers: `cargo test --release -- --ignored --nocapture throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_1gib_over_tcp() {
    for boxed in [true, false] {
        assert!(throughput_with(256 * 1024, boxed).await > 100.0);
        assert!(throughput_with(16 * 1024, boxed).await > 100.0);
    }
}

/// The same transfer over plain TCP, for comparison.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_baseline_raw_tcp() {
    const TOTAL: usize = 1 << 30;
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (a, b) = tokio::join!(TcpStream::connect(addr), l.accept());
    let mut a = a.unwrap();
    let mut b = b.unwrap().0;
    let start = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let chunk = vec![0x5au8; 256 * 1024];
        let mut sent = 0;
        while sent < TOTAL {
            a.write_all(&chunk).await.unwrap();
            sent += chunk.len();
        }
        a.shutdown().await.unwrap();
    });
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0;
    loop {
        let n = b.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n;
    }
    let secs = start.elapsed().as_secs_f64();
    writer.await.unwrap();
    assert_eq!(got, TOTAL);
    println!("raw tcp baseline: {:.0} MB/s", TOTAL as f64 / secs / 1e6);
}
