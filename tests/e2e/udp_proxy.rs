//! udp proxies end to end through the real frps and frpc binaries on loopback, and the udp
//! message codec against the recording of Go frp v0.65.0 (tests/fixtures/captures/udp).

use crate::common;

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::udp::*;
use common::*;
use frp::proto::codec::{decode_frame, encode_frame};
use frp::proto::msg::Message;
use frp::proto::udp as codec;

const UP: Duration = Duration::from_secs(20);
const PEERS: usize = 20;
const DATAGRAMS: usize = 1000;

/// A UDP server that records every datagram it gets, then echoes what follows the first
/// `strip` bytes (the PROXY header).
fn recording_udp(strip: usize) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            rec.lock().unwrap().push(buf[..n].to_vec());
            let _ = s.send_to(&buf[n.min(strip)..n], from);
        }
    });
    (port, seen)
}

fn udp_proxy(name: &str, local: u16, remote: u16, extra: &str) -> String {
    Proxy::udp(name, local, remote).line(extra).to_string()
}

/// frpc with `common` top-level lines and `proxies` (one or more sections).
fn frpc_config(bind: u16, common: &str, proxies: &str) -> String {
    FrpcToml::new(bind)
        .line(common)
        .section(proxies)
        .to_string()
}

/// frps + frpc + UDP echo with one udp proxy; returns the daemons and the remote port.
fn udp_tunnel(frpc_common: &str, proxy_extra: &str) -> (Daemon, Daemon, u16) {
    let bind = next_port();
    let remote = next_port();
    let frps = start_frps(bind, "auth.token = \"t\"");
    let echo = udp_echo();
    let frpc = start_frpc(&frpc_config(
        bind,
        frpc_common,
        &udp_proxy("u", echo, remote, proxy_extra),
    ));
    assert!(wait_udp_echo(remote, UP), "udp tunnel did not come up");
    (frps, frpc, remote)
}

/// Deterministic pseudo-random datagrams, sizes 1..=1400 (both ends included for peer 0).
fn datagrams(peer: usize, n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ ((peer as u64 + 1) * 0x1000_0001);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let len = match (peer, i) {
                (0, 0) => 1,
                (0, 1) => 1400,
                _ => 1 + (next() % 1400) as usize,
            };
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

/// What one peer saw: resent datagrams and how many rounds it took.
struct PeerResult {
    resent: usize,
    rounds: usize,
}

/// Send `payloads` from one socket through `port` and collect the echoes, matching them by
/// content (a multiset: tiny datagrams may repeat). At most `WINDOW` datagrams are in flight so
/// loopback socket buffers never overflow; a round that loses some is followed by one that
/// resends only the missing ones. Panics on any datagram that was never sent (corruption).
fn exchange(port: u16, payloads: Vec<Vec<u8>>) -> PeerResult {
    const WINDOW: usize = 4;
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut want: HashMap<Vec<u8>, usize> = HashMap::new();
    for p in &payloads {
        *want.entry(p.clone()).or_default() += 1;
    }
    let mut got: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut resent_of: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut todo = payloads;
    let mut resent = 0;
    let mut buf = vec![0u8; 65536];
    for round in 0..6 {
        if todo.is_empty() {
            return PeerResult {
                resent,
                rounds: round,
            };
        }
        if round > 0 {
            resent += todo.len();
            for p in &todo {
                *resent_of.entry(p.clone()).or_default() += 1;
            }
        }
        let (mut sent, mut answered, mut slack) = (0, 0, 0);
        let mut last_reply = Instant::now();
        while answered < todo.len() {
            while sent < todo.len() && sent < answered + WINDOW + slack {
                sock.send(&todo[sent]).unwrap();
                sent += 1;
            }
            match sock.recv(&mut buf) {
                Ok(n) => {
                    let d = &buf[..n];
                    let Some(&w) = want.get(d) else {
                        panic!("received a {n}-byte datagram that was never sent");
                    };
                    let g = got.entry(d.to_vec()).or_default();
                    *g += 1;
                    let allowed = w + resent_of.get(d).copied().unwrap_or(0);
                    assert!(*g <= allowed, "a {n}-byte datagram came back too often");
                    answered += 1;
                    last_reply = Instant::now();
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    // Presumably lost: let the window move on; give up the round when all is
                    // sent and nothing came back for a while.
                    slack += 1;
                    if sent == todo.len() && last_reply.elapsed() > Duration::from_secs(2) {
                        break;
                    }
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
        todo = want
            .iter()
            .flat_map(|(p, &w)| {
                let g = got.get(p).copied().unwrap_or(0);
                std::iter::repeat(p.clone()).take(w.saturating_sub(g))
            })
            .collect();
    }
    assert!(todo.is_empty(), "{} datagrams never came back", todo.len());
    PeerResult { resent, rounds: 6 }
}

/// 1,000 datagrams from 20 concurrent peers, each its own socket; all must come back intact.
fn blast(remote: u16) {
    let per_peer = DATAGRAMS / PEERS;
    let handles: Vec<_> = (0..PEERS)
        .map(|i| thread::spawn(move || exchange(remote, datagrams(i, per_peer))))
        .collect();
    let results: Vec<PeerResult> = handles
        .into_iter()
        .map(|h| h.join().expect("a peer failed"))
        .collect();
    let resent: usize = results.iter().map(|r| r.resent).sum();
    let rounds = results.iter().map(|r| r.rounds).max().unwrap_or(0);
    eprintln!("{DATAGRAMS} datagrams from {PEERS} peers: {resent} resent, at most {rounds} rounds");
}

#[test]
fn echo_1000_datagrams_from_20_peers() {
    let (_s, _c, remote) = udp_tunnel("", "");
    blast(remote);
}

#[test]
fn echo_1000_datagrams_with_encryption_and_compression() {
    let (_s, _c, remote) = udp_tunnel(
        "",
        "transport.useEncryption = true\ntransport.useCompression = true",
    );
    blast(remote);
}

#[test]
fn echo_1000_datagrams_tcp_mux_off() {
    let bind = next_port();
    let remote = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"\ntransport.tcpMux = false");
    let echo = udp_echo();
    let _frpc = start_frpc(&frpc_config(
        bind,
        "transport.tcpMux = false",
        &udp_proxy("u", echo, remote, ""),
    ));
    assert!(wait_udp_echo(remote, UP));
    blast(remote);
}

#[test]
fn remote_port_zero_gets_a_free_udp_port() {
    let bind = next_port();
    // frps picks from allowPorts: a block of our own, so it cannot take another test's port.
    let first = next_port_block(8);
    let frps = FrpsToml::new(bind).allow_ports(first, 8).start();
    let echo = udp_echo();
    let frpc = start_frpc(&frpc_config(bind, "", &udp_proxy("u", echo, 0, "")));
    assert!(
        frpc.wait_log("start proxy success", UP),
        "{}",
        frpc.log_text()
    );
    let port = chosen_port(&frps, "udp");
    assert!(
        (first..first + 8).contains(&port),
        "{port} is in allowPorts"
    );
    assert!(wait_udp_echo(port, UP));
}

#[test]
fn udp_and_tcp_proxies_share_a_port_number() {
    let bind = next_port();
    let port = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"\nmaxPortsPerClient = 2");
    let tcp_echo = echo_server();
    let udp_local = udp_echo();
    let tcp = format!("[[proxies]]\nname = \"t\"\ntype = \"tcp\"\nlocalIP = \"127.0.0.1\"\nlocalPort = {}\nremotePort = {port}\n\n", tcp_echo.port);
    let frpc = start_frpc(&frpc_config(
        bind,
        "",
        &format!("{tcp}{}", udp_proxy("u", udp_local, port, "")),
    ));
    assert!(wait_echo(port, UP), "tcp {}", frpc.log_text());
    assert!(wait_udp_echo(port, UP), "udp {}", frpc.log_text());
    assert!(echo_once(port));
}

#[test]
fn max_ports_per_client_counts_udp() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"\nmaxPortsPerClient = 1");
    let udp_local = udp_echo();
    let proxies = format!(
        "{}{}",
        udp_proxy("a", udp_local, next_port(), ""),
        udp_proxy("b", udp_local, next_port(), "")
    );
    let frpc = start_frpc(&frpc_config(bind, "", &proxies));
    assert!(
        frpc.wait_log("exceed the max_ports_per_client", UP),
        "{}",
        frpc.log_text()
    );
}

#[test]
fn proxy_protocol_v2_header_on_every_datagram() {
    let bind = next_port();
    let remote = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    // v2 UDP4: 16 bytes of header + 12 of addresses.
    let (local, seen) = recording_udp(28);
    let _frpc = start_frpc(&frpc_config(
        bind,
        "",
        &udp_proxy(
            "u",
            local,
            remote,
            "transport.proxyProtocolVersion = \"v2\"",
        ),
    ));
    assert!(wait_udp_echo(remote, UP));
    let user = UdpSocket::bind("127.0.0.1:0").unwrap();
    user.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let user_port = user.local_addr().unwrap().port();
    let mut buf = [0u8; 64];
    for text in [&b"first"[..], b"second"] {
        user.send_to(text, ("127.0.0.1", remote)).unwrap();
        let (n, _) = user.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], text);
    }
    let mut want = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x12, 0x00,
        0x0c,
    ];
    want.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    want.extend_from_slice(&user_port.to_be_bytes());
    want.extend_from_slice(&local.to_be_bytes());
    let seen = seen.lock().unwrap().clone();
    let ours: Vec<&Vec<u8>> = seen
        .iter()
        .filter(|d| d.len() >= 28 && d[..28] == want[..])
        .collect();
    assert_eq!(ours.len(), 2, "{seen:?}");
    assert_eq!(&ours[0][28..], b"first");
    assert_eq!(&ours[1][28..], b"second");
}

#[test]
fn frpc_reconnects_after_frps_restart() {
    let bind = next_port();
    let remote = next_port();
    let mut frps = start_frps(bind, "auth.token = \"t\"");
    let echo = udp_echo();
    let _frpc = start_frpc(&frpc_config(bind, "", &udp_proxy("u", echo, remote, "")));
    assert!(wait_udp_echo(remote, UP));
    frps.kill();
    assert!(!udp_echo_once(remote), "the proxy is gone with frps");
    let _frps2 = start_frps(bind, "auth.token = \"t\"");
    let t = Instant::now();
    assert!(wait_udp_echo(remote, UP), "udp proxy did not come back");
    eprintln!("udp proxy back {:?} after frps restart", t.elapsed());
    blast(remote);
}

#[test]
fn frpc_sigterm_closes_the_udp_proxy_at_once() {
    let (frps, mut frpc, remote) = udp_tunnel("", "");
    let t = Instant::now();
    send_signal(frpc.pid(), "TERM");
    assert_eq!(frpc.wait_exit(Duration::from_secs(10)), Some(0));
    // frps closed the proxy and with it the work connection, so frpc had nothing to drain
    // (gracefulStopTimeout is 5 s).
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "frpc took {:?} to stop",
        t.elapsed()
    );
    assert!(frps.wait_log("close proxy", Duration::from_secs(5)));
    assert!(!udp_echo_once(remote));
}

fn capture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/captures/udp")
}

/// The work connection of Go's udp session: after its first message (NewWorkConn /
/// StartWorkConn) each direction carries UDPPacket frames; we decode `c` and `r` as recorded and
/// re-encode them byte for byte.
#[test]
fn go_capture_udp_packets_decode_and_reencode() {
    let exp: serde_json::Value =
        serde_json::from_slice(&std::fs::read(capture_dir().join("expected.json")).unwrap())
            .unwrap();
    let work = exp["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == "work" && c["proxy_type"] == "udp")
        .expect("a udp work connection");
    let user = &exp["run"]["user_udp_addr"];
    let user: SocketAddr = format!("{}:{}", user[0].as_str().unwrap(), user[1])
        .parse()
        .unwrap();
    let mut checked = 0;
    for dir in ["c2s", "s2c"] {
        let d = &work[dir];
        let buf = std::fs::read(capture_dir().join(work["files"][dir].as_str().unwrap())).unwrap();
        let start = d["payload_offset"].as_u64().unwrap() as usize;
        let mut at = start;
        for m in d["messages"].as_array().unwrap() {
            assert_eq!(at - start, m["offset"].as_u64().unwrap() as usize);
            let (msg, used) = decode_frame(&buf[at..]).unwrap().expect("a whole frame");
            let Message::UdpPacket(p) = &msg else {
                panic!("expected UDPPacket, got {}", msg.name())
            };
            assert_eq!(p.c, m["body"]["c"].as_str().unwrap());
            let (data, r) = codec::decode(p).unwrap();
            assert_eq!(data, m["datagram"].as_str().unwrap().as_bytes());
            assert_eq!(r, user);
            // Our encoder writes what Go wrote.
            assert_eq!(
                encode_frame(&codec::packet(&data, r)),
                &buf[at..at + used],
                "{dir} frame at {at}"
            );
            at += used;
            checked += 1;
        }
        assert_eq!(at, buf.len(), "{dir}: nothing after the last frame");
    }
    assert_eq!(checked, 6);
}
