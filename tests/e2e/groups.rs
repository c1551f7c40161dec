//! Load-balancing groups through the real binaries: tcp members on three clients share one port
//! and survive the loss of one; tcpmux members share a route (http groups: tests/e2e/http_proxy.rs).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;

fn member(bind: u16, name: &str, kind: &str, local: u16, extra: &str) -> Daemon {
    FrpcToml::new(bind)
        .proxy(Proxy::new(name, kind).local(local).line(extra))
        .start()
}

#[test]
fn tcp_group_spreads_connections_and_survives_a_lost_member() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let remote = next_port();
    let group =
        format!("remotePort = {remote}\nloadBalancer.group = \"g\"\nloadBalancer.groupKey = \"k\"");
    let echos: Vec<EchoServer> = (0..3).map(|_| echo_server()).collect();
    let mut members: Vec<Option<Daemon>> = echos
        .iter()
        .enumerate()
        .map(|(i, e)| Some(member(bind, &format!("m{i}"), "tcp", e.port, &group)))
        .collect();
    for (i, m) in members.iter().enumerate() {
        let m = m.as_ref().unwrap();
        assert!(
            m.wait_log(
                &format!("[m{i}] start proxy success"),
                Duration::from_secs(10)
            ),
            "{}",
            m.log_text()
        );
    }
    for _ in 0..30 {
        assert!(echo_once(remote));
    }
    let counts: Vec<usize> = echos
        .iter()
        .map(|e| e.accepted.load(Ordering::SeqCst))
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 30);
    assert!(counts.iter().all(|&n| n >= 5), "spread: {counts:?}");

    // Wrong key, other port: refused with frp's texts.
    let bad = member(
        bind,
        "bad",
        "tcp",
        echos[0].port,
        &format!(
            "remotePort = {remote}\nloadBalancer.group = \"g\"\nloadBalancer.groupKey = \"x\""
        ),
    );
    assert!(bad.wait_log("group auth failed", Duration::from_secs(10)));
    let other = member(
        bind,
        "other",
        "tcp",
        echos[0].port,
        &format!(
            "remotePort = {}\nloadBalancer.group = \"g\"\nloadBalancer.groupKey = \"k\"",
            next_port()
        ),
    );
    assert!(other.wait_log(
        "group should have same remote port",
        Duration::from_secs(10)
    ));

    // Lose m1: every later connection still works, and none goes to m1's service.
    members[1] = None;
    let before = echos[1].accepted.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ok_in_a_row = 0;
    while ok_in_a_row < 20 {
        assert!(Instant::now() < deadline, "the group recovers");
        if echo_once(remote) {
            ok_in_a_row += 1;
        } else {
            ok_in_a_row = 0;
        }
    }
    let after = echos[1].accepted.load(Ordering::SeqCst);
    assert!(after - before <= 1, "m1 gone: {before} -> {after}");

    // The last member leaving frees the port.
    members.clear();
    wait_until(Duration::from_secs(10), "the port is released", || {
        TcpStream::connect(("127.0.0.1", remote)).is_err()
    });
}

#[test]
fn tcpmux_group_members_share_a_route() {
    let bind = next_port();
    let mux = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\ntcpmuxHTTPConnectPort = {mux}"),
    );
    let a = echo_server();
    let b = echo_server();
    let extra = "multiplexer = \"httpconnect\"\ncustomDomains = [\"g.test\"]\nloadBalancer.group = \"mg\"\nloadBalancer.groupKey = \"k\"";
    let ma = member(bind, "ma", "tcpmux", a.port, extra);
    let mb = member(bind, "mb", "tcpmux", b.port, extra);
    assert!(ma.wait_log("[ma] start proxy success", Duration::from_secs(10)));
    assert!(mb.wait_log("[mb] start proxy success", Duration::from_secs(10)));
    for i in 0..10 {
        let mut c = TcpStream::connect(("127.0.0.1", mux)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(b"CONNECT g.test:80 HTTP/1.1\r\n\r\n").unwrap();
        let mut ok = vec![0u8; 38];
        c.read_exact(&mut ok).unwrap();
        assert!(ok.starts_with(b"HTTP/1.1 200 OK"));
        let msg = format!("message {i}");
        c.write_all(msg.as_bytes()).unwrap();
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).unwrap();
        assert_eq!(back, msg.as_bytes());
    }
    let (na, nb) = (
        a.accepted.load(Ordering::SeqCst),
        b.accepted.load(Ordering::SeqCst),
    );
    assert_eq!((na, nb), (5, 5), "round-robin");
}
