//! tcp proxies end to end through the real frps and frpc binaries on loopback.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const MIB16: usize = 16 * 1024 * 1024;
const UP: Duration = Duration::from_secs(20);

/// frps + frpc + echo backend with the given extra settings; returns the remote port.
fn tunnel(
    frps_extra: &str,
    frpc_common: &str,
    proxy_extra: &str,
) -> (Daemon, Daemon, EchoServer, u16) {
    let bind = next_port();
    let remote = next_port();
    let frps = start_frps(bind, &format!("auth.token = \"s3cret\"\n{frps_extra}"));
    let echo = echo_server();
    let frpc = start_frpc(&frpc_toml(
        bind,
        "s3cret",
        frpc_common,
        echo.port,
        remote,
        proxy_extra,
    ));
    assert!(wait_echo(remote, UP), "tunnel did not come up");
    (frps, frpc, echo, remote)
}

/// How frps saw frpc's connections: every "new connection" line it logged (debug level).
fn frps_connections(frps: &Daemon) -> Vec<String> {
    frps.log_text()
        .lines()
        .filter(|l| l.contains("new connection (tls:"))
        .map(String::from)
        .collect()
}

fn assert_16mib_echo(remote: u16) {
    let (sent, got) = echo_random(remote, MIB16);
    assert_eq!(sent, got, "SHA-256 of the echoed 16 MiB");
}

#[test]
fn echo_16mib_default_tls_and_mux() {
    let (s, c, _e, remote) = tunnel("", "", "");
    assert_16mib_echo(remote);
    assert!(c.log_text().contains("start proxy success"));
    // One TLS connection carries everything (control and work streams).
    let conns = frps_connections(&s);
    assert_eq!(conns.len(), 1, "{conns:?}");
    assert!(conns[0].contains("tls: true, tcp mux: true"), "{conns:?}");
}

#[test]
fn echo_16mib_tls_off() {
    let (s, _c, _e, remote) = tunnel("", "transport.tls.enable = false", "");
    assert_16mib_echo(remote);
    let conns = frps_connections(&s);
    assert!(
        !conns.is_empty() && conns.iter().all(|l| l.contains("tls: false")),
        "{conns:?}"
    );
}

#[test]
fn echo_16mib_tcp_mux_off() {
    let (s, _c, _e, remote) = tunnel("transport.tcpMux = false", "transport.tcpMux = false", "");
    assert_16mib_echo(remote);
    // Control plus work connections, each its own TLS connection.
    let conns = frps_connections(&s);
    assert!(
        conns.len() >= 2
            && conns
                .iter()
                .all(|l| l.contains("tls: true, tcp mux: false")),
        "{conns:?}"
    );
}

#[test]
fn echo_16mib_encryption_and_compression() {
    let (_s, _c, _e, remote) = tunnel(
        "",
        "",
        "transport.useEncryption = true\ntransport.useCompression = true",
    );
    assert_16mib_echo(remote);
}

#[test]
fn echo_16mib_custom_tls_first_byte() {
    let (s, _c, _e, remote) = tunnel("", "transport.tls.disableCustomTLSFirstByte = false", "");
    assert_16mib_echo(remote);
    let conns = frps_connections(&s);
    assert!(
        conns.len() == 1 && conns[0].contains("tls: true"),
        "{conns:?}"
    );
}

#[test]
fn echo_16mib_with_bandwidth_limit() {
    // 16 MiB each way through one limiter shared by both directions at 8 MiB/s (burst 8 MiB):
    // at least (32 MiB - 8 MiB) / (8 MiB/s) = 3 s; unlimited loopback takes a fraction of that.
    let (_s, _c, _e, remote) = tunnel("", "", "transport.bandwidthLimit = \"8MB\"");
    let t = Instant::now();
    assert_16mib_echo(remote);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "bandwidth limit not applied: {took:?}"
    );
}

#[test]
fn echo_16mib_with_server_side_bandwidth_limit() {
    let (_s, _c, _e, remote) = tunnel(
        "",
        "",
        "transport.bandwidthLimit = \"8MB\"\ntransport.bandwidthLimitMode = \"server\"\ntransport.useEncryption = true",
    );
    let t = Instant::now();
    assert_16mib_echo(remote);
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "server-side limit not applied"
    );
}

#[test]
fn two_hundred_concurrent_connections() {
    let (_s, _c, echo, remote) = tunnel("", "", "");
    let before = echo.accepted.load(std::sync::atomic::Ordering::SeqCst);
    let handles: Vec<_> = (0..200)
        .map(|i| {
            thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", remote)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let msg = format!("connection {i} says hello {}\n", "x".repeat(i * 7));
                s.write_all(msg.as_bytes()).unwrap();
                let mut back = vec![0u8; msg.len()];
                s.read_exact(&mut back).unwrap();
                assert_eq!(back, msg.as_bytes());
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a connection failed");
    }
    let after = echo.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        after - before,
        200,
        "each user connection reached the backend once"
    );
}

#[test]
fn wrong_token_is_refused_with_frps_error_text() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"right\"");
    let echo = echo_server();
    let mut frpc = FrpcToml::new(bind)
        .token("wrong")
        .default_login_fail_exit()
        .proxy(Proxy::new("echo", "tcp").line(format!(
            "localPort = {}\nremotePort = {}",
            echo.port,
            next_port()
        )))
        .start();
    let code = frpc.wait_exit(Duration::from_secs(15));
    assert_eq!(
        code,
        Some(1),
        "frpc exits with an error after the refused login (loginFailExit)"
    );
    let log = frpc.log_text();
    assert!(
        log.contains("token in login doesn't match token from configuration"),
        "{log}"
    );
}

#[test]
fn frpc_reconnects_after_frps_restart() {
    let bind = next_port();
    let remote = next_port();
    let mut frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let _frpc = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(wait_echo(remote, UP));
    frps.kill();
    // The proxy is gone with frps.
    assert!(!echo_once(remote));
    let _frps2 = start_frps(bind, "auth.token = \"t\"");
    let t = Instant::now();
    assert!(
        wait_echo(remote, Duration::from_secs(15)),
        "proxy did not come back"
    );
    eprintln!("proxy back {:?} after frps restart", t.elapsed());
}

#[test]
fn port_outside_allow_ports_is_refused() {
    let bind = next_port();
    let _frps = start_frps(
        bind,
        "auth.token = \"t\"\nallowPorts = [{ start = 1, end = 1000 }]",
    );
    let echo = echo_server();
    let remote = next_port();
    let frpc = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(
        frpc.wait_log("start error: port not allowed", UP),
        "{}",
        frpc.log_text()
    );
    assert!(!echo_once(remote));
}

#[test]
fn duplicate_proxy_name_is_refused() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let first = start_frpc(&frpc_toml(bind, "t", "", echo.port, next_port(), ""));
    assert!(first.wait_log("start proxy success", UP));
    let second = start_frpc(&frpc_toml(bind, "t", "", echo.port, next_port(), ""));
    assert!(
        second.wait_log("start error: proxy [echo] already exists", UP),
        "{}",
        second.log_text()
    );
}

#[test]
fn remote_port_zero_gets_a_free_port() {
    let bind = next_port();
    // frps picks from allowPorts: a block of our own, so it cannot take another test's port.
    let first = next_port_block(8);
    let _frps = FrpsToml::new(bind).allow_ports(first, 8).start();
    let echo = echo_server();
    let frpc = start_frpc(&frpc_toml(bind, "t", "", echo.port, 0, ""));
    assert!(frpc.wait_log("start proxy success", UP));
    let port = chosen_port(&_frps, "tcp");
    assert!(
        (first..first + 8).contains(&port),
        "{port} is in allowPorts"
    );
    assert!(wait_echo(port, UP));
}

#[test]
fn proxy_protocol_v2_header_reaches_local_service() {
    let bind = next_port();
    let remote = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    // The v2 TCP4 header is 16 + 12 bytes.
    let (local, seen) = recording_server(28);
    let _frpc = start_frpc(&frpc_toml(
        bind,
        "t",
        "",
        local,
        remote,
        "transport.proxyProtocolVersion = \"v2\"",
    ));
    assert!(wait_echo(remote, UP));
    let mut user = TcpStream::connect(("127.0.0.1", remote)).unwrap();
    let user_port = user.local_addr().unwrap().port();
    user.write_all(b"after header").unwrap();
    let mut back = [0u8; 12];
    user.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    user.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"after header");
    let headers = seen.lock().unwrap().clone();
    let h = headers.last().expect("a header was recorded");
    let mut want = vec![
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00,
        0x0c,
    ];
    want.extend_from_slice(&[127, 0, 0, 1, 127, 0, 0, 1]);
    want.extend_from_slice(&user_port.to_be_bytes());
    want.extend_from_slice(&remote.to_be_bytes());
    assert_eq!(h, &want);
}

#[test]
fn garbage_on_bind_port_does_not_disturb_other_clients() {
    let (frps, _c, _e, remote) = tunnel("transport.tcpMux = false", "transport.tcpMux = false", "");
    let bind: u16 = frps
        .log_text()
        .split("frps tcp listen on 127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let bad_inputs: Vec<Vec<u8>> = vec![
        b"z garbage that is not frp at all".to_vec(),
        // Login type byte with an oversized length.
        [&[b'o'][..], &(1i64 << 40).to_be_bytes()].concat(),
        // Negative length.
        [&[b'o'][..], &(-5i64).to_be_bytes()].concat(),
        // Valid header, broken JSON.
        [&[b'o'][..], &5i64.to_be_bytes(), b"{{{{{"].concat(),
        // A TLS record type byte followed by junk (fails the handshake).
        [&[0x16u8][..], b"\x03\x01\x00\x05hello"].concat(),
    ];
    for bad in bad_inputs {
        let mut s = TcpStream::connect(("127.0.0.1", bind)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&bad);
        let mut buf = [0u8; 64];
        // frps closes the connection (EOF or reset) without answering a Login.
        let n = s.read(&mut buf).unwrap_or(0);
        assert!(
            n == 0 || buf[0] == 0x15,
            "frps answered garbage with {:?}",
            &buf[..n]
        );
        assert!(echo_once(remote), "the existing tunnel keeps working");
    }
    assert_16mib_echo(remote);
}

#[test]
fn frpc_sigterm_closes_its_proxies_on_frps() {
    let (frps, mut frpc, _e, remote) = tunnel("", "", "");
    send_signal(frpc.pid(), "TERM");
    assert_eq!(
        frpc.wait_exit(Duration::from_secs(10)),
        Some(0),
        "frpc exits cleanly on SIGTERM"
    );
    assert!(
        frps.wait_log("close proxy", Duration::from_secs(10)),
        "{}",
        frps.log_text()
    );
    assert!(!echo_once(remote), "the remote port is closed");
}

#[test]
fn a_proxy_refused_for_a_busy_port_is_registered_again_once_it_is_free() {
    // frps refuses the proxy (port unavailable); frpc sends it again 30 s later, as Go frpc
    // does: by then the port is free and the proxy comes up without a restart or a reload.
    let [bind, remote] = next_ports();
    let busy = std::net::TcpListener::bind(("0.0.0.0", remote)).unwrap();
    let frps = FrpsToml::new(bind).start();
    let echo = echo_server();
    let frpc = FrpcToml::new(bind)
        .proxy(Proxy::tcp("busy", echo.port, remote))
        .start();
    assert!(
        frpc.wait_log("start error", UP),
        "{}\n{}",
        frps.log_text(),
        frpc.log_text()
    );
    let refused_at = Instant::now();
    drop(busy);
    assert!(
        frpc.wait_log("[busy] start proxy success", Duration::from_secs(60)),
        "{}",
        frpc.log_text()
    );
    // Not before its retry time: the refusal is not hammered.
    assert!(refused_at.elapsed() >= Duration::from_secs(25));
    assert!(wait_echo(remote, UP));
}
