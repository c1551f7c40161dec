//! Memory per connection, as a test with a generous bound (the figures themselves are measured by
//! benches/conns.sh): an open connection through a tcp proxy must not hold large buffers for its
//! whole life, and what a burst of connections took must go back when they close.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

const UP: Duration = Duration::from_secs(15);

/// Open `n` connections to `port`, each proven with one 1 KiB round trip (so every copy
/// buffer on the path has been used once), and hold them.
fn open_echoed(port: u16, n: usize) -> Vec<TcpStream> {
    let payload = [0x5au8; 1024];
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(&payload).unwrap();
        conns.push(s);
    }
    for s in conns.iter_mut() {
        let mut back = [0u8; 1024];
        s.read_exact(&mut back).unwrap();
        assert_eq!(back, payload);
    }
    conns
}

#[test]
fn five_hundred_open_connections_cost_little_and_give_it_back() {
    // Defaults (TLS + tcpMux). Go frp holds about 70 KiB per open connection in each daemon;
    // ours used to hold 200 KiB (a 128 KiB copy buffer per direction for the whole life).
    const N: usize = 500;
    const BOUND_KIB: f64 = 64.0;
    allow_open_files(4096);
    let [bind, remote] = next_ports();
    let frps = FrpsToml::new(bind).start();
    let echo = echo_server();
    let frpc = FrpcToml::new(bind)
        .proxy(Proxy::tcp("mem", echo.port, remote))
        .start();
    assert!(wait_echo(remote, UP));
    let pids = [frps.pid(), frpc.pid()];
    // Warm up: lazily built state (pools, the first work connections) belongs to the baseline.
    drop(open_echoed(remote, 20));
    let base = settled_rss_kib(&pids, Duration::from_secs(30));

    let conns = open_echoed(remote, N);
    let open: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    drop(conns);
    // Both daemons see the closes and give the memory back (the trimmer looks every 5 s):
    // each ends within 1 MiB, plus a quarter of what the connections took, of its idle size.
    let back_to = |i: usize| base[i] + 1024 + open[i].saturating_sub(base[i]) / 4;
    let returned = poll(Duration::from_secs(30), || {
        pids.iter()
            .enumerate()
            .all(|(i, &p)| rss_kib(p) <= back_to(i))
    });
    let after: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
    for (i, name) in ["frps", "frpc"].into_iter().enumerate() {
        let per_conn = open[i].saturating_sub(base[i]) as f64 / N as f64;
        eprintln!(
            "{name}: idle {} KiB, {N} open {} KiB ({per_conn:.1} KiB each), after close {} KiB",
            base[i], open[i], after[i]
        );
        assert!(
            per_conn <= BOUND_KIB,
            "{name} holds {per_conn:.1} KiB per open connection (bound {BOUND_KIB})"
        );
    }
    assert!(
        returned,
        "memory not given back: idle {base:?} KiB, open {open:?}, after close {after:?} KiB"
    );
    // Still serving.
    assert!(echo_once(remote));
}
