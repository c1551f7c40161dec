//! stcp and sudp proxies with visitors (protocol.md §10.6, §10.7) through the real binaries on
//! loopback: an owner frpc with the proxies, a visitor frpc with the visitors, frps pairing them.

use crate::common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::udp::*;
use common::*;

const UP: Duration = Duration::from_secs(20);

fn client(bind: u16, common: &str, sections: &[String]) -> String {
    sections
        .iter()
        .fold(FrpcToml::new(bind).token("tok").line(common), |c, s| {
            c.section(s)
        })
        .to_string()
}

fn proxy(name: &str, kind: &str, sk: &str, local: u16, extra: &str) -> String {
    Proxy::new(name, kind)
        .line(format!("secretKey = \"{sk}\""))
        .local(local)
        .line(extra)
        .to_string()
}

fn visitor(name: &str, kind: &str, server: &str, sk: &str, port: i64, extra: &str) -> String {
    Visitor::new(name, kind, server)
        .line(format!(
            "secretKey = \"{sk}\"\nbindAddr = \"127.0.0.1\"\nbindPort = {port}"
        ))
        .line(extra)
        .to_string()
}

const WRAPPED: &str = "transport.useEncryption = true\ntransport.useCompression = true";

/// The user's connection through a visitor is closed without an answer.
fn refused(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return true;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"ping\n");
    let mut buf = [0u8; 8];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

/// `n` distinct datagrams in lockstep through `port`; how many came back intact.
fn udp_round_trips(port: u16, n: usize) -> usize {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut ok = 0;
    for i in 0..n {
        let msg: Vec<u8> = (0..(1 + i * 7 % 1200)).map(|k| (k + i) as u8).collect();
        s.send_to(&msg, ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 2048];
        if let Ok((len, _)) = s.recv_from(&mut buf) {
            if buf[..len] == msg[..] {
                ok += 1;
            }
        }
    }
    ok
}

#[test]
fn stcp_visitors_with_and_without_wrapping_on_either_leg() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[
            proxy("plain", "stcp", "k1", echo.port, ""),
            proxy("wrapped", "stcp", "k2", echo.port, WRAPPED),
        ],
    ));
    let ports: Vec<u16> = (0..4).map(|_| next_port()).collect();
    let v = start_frpc(&client(
        bind,
        "",
        &[
            visitor("pp", "stcp", "plain", "k1", ports[0] as i64, ""),
            visitor("pw", "stcp", "plain", "k1", ports[1] as i64, WRAPPED),
            visitor("wp", "stcp", "wrapped", "k2", ports[2] as i64, ""),
            visitor("ww", "stcp", "wrapped", "k2", ports[3] as i64, WRAPPED),
        ],
    ));
    for (i, &p) in ports.iter().enumerate() {
        assert!(wait_echo(p, UP), "visitor {i} did not come up");
        let (sent, got) = echo_random(p, 4 * 1024 * 1024);
        assert_eq!(sent, got, "SHA-256 of 4 MiB through visitor {i}");
    }
    assert!(v.log_text().contains("start visitor success"));
}

#[test]
fn sudp_visitors_carry_many_datagrams() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let udp = udp_echo();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[
            proxy("dplain", "sudp", "k1", udp, ""),
            proxy("dwrapped", "sudp", "k2", udp, WRAPPED),
        ],
    ));
    let (p1, p2) = (next_port(), next_port());
    let _v = start_frpc(&client(
        bind,
        "",
        &[
            visitor("u1", "sudp", "dplain", "k1", p1 as i64, ""),
            visitor("u2", "sudp", "dwrapped", "k2", p2 as i64, WRAPPED),
        ],
    ));
    for p in [p1, p2] {
        assert!(wait_udp_echo(p, UP), "sudp visitor on {p} did not come up");
        // Two local users at once: replies go back to the right one.
        let a = std::thread::spawn(move || udp_round_trips(p, 200));
        let b = udp_round_trips(p, 200);
        let a = a.join().unwrap();
        assert!(
            a >= 195 && b >= 195,
            "round trips through {p}: {a}, {b} of 200"
        );
    }
}

#[test]
fn wrong_secret_key_is_refused_before_the_backend() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[proxy("secret", "stcp", "right", echo.port, "")],
    ));
    let (good, bad) = (next_port(), next_port());
    let v = start_frpc(&client(
        bind,
        "",
        &[
            visitor("good", "stcp", "secret", "right", good as i64, ""),
            visitor("bad", "stcp", "secret", "wrong", bad as i64, ""),
        ],
    ));
    assert!(wait_echo(good, UP));
    let before = echo.accepted.load(std::sync::atomic::Ordering::SeqCst);
    wait_port(bad, UP);
    assert!(refused(bad), "a wrong key must not get an answer");
    assert!(
        v.wait_log(
            "start new visitor connection error: visitor connection of [secret] auth failed",
            Duration::from_secs(5)
        ),
        "frp's error text in the visitor's log"
    );
    assert_eq!(
        echo.accepted.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "no connection reached the backend"
    );
    assert!(!v.log_text().contains("wrong"), "no secret in the log");
}

#[test]
fn allow_users_and_server_user_naming() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let udp = udp_echo();
    let _owner = start_frpc(&client(
        bind,
        "user = \"alice\"",
        &[
            proxy("own", "stcp", "k", echo.port, ""),
            proxy("open", "stcp", "k", echo.port, "allowUsers = [\"*\"]"),
            proxy("bobs", "sudp", "k", udp, "allowUsers = [\"bob\"]"),
        ],
    ));
    // alice's own visitor needs no serverUser: its name is prefixed with its own user.
    let same = next_port();
    let _alice = start_frpc(&client(
        bind,
        "user = \"alice\"",
        &[visitor("mine", "stcp", "own", "k", same as i64, "")],
    ));
    let (denied, open, dgram) = (next_port(), next_port(), next_port());
    let bob = start_frpc(&client(
        bind,
        "user = \"bob\"",
        &[
            visitor(
                "d",
                "stcp",
                "own",
                "k",
                denied as i64,
                "serverUser = \"alice\"",
            ),
            visitor(
                "o",
                "stcp",
                "open",
                "k",
                open as i64,
                "serverUser = \"alice\"",
            ),
            visitor(
                "u",
                "sudp",
                "bobs",
                "k",
                dgram as i64,
                "serverUser = \"alice\"",
            ),
        ],
    ));
    assert!(wait_echo(same, UP), "the owner's own user may visit");
    assert!(wait_echo(open, UP), "allowUsers = [\"*\"] admits bob");
    assert!(
        wait_udp_echo(dgram, UP),
        "allowUsers = [\"bob\"] admits bob"
    );
    assert!(refused(denied));
    assert!(
        bob.wait_log(
            "visitor connection of [alice.own] user [bob] not allowed",
            Duration::from_secs(5)
        ),
        "frp's error text in bob's log"
    );
}

#[test]
fn negative_bind_port_starts_no_listener() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[proxy("secret", "stcp", "k", echo.port, "")],
    ));
    let port = next_port();
    let v = start_frpc(&client(
        bind,
        "",
        &[
            visitor("hidden", "stcp", "secret", "k", -1, ""),
            visitor("shown", "stcp", "secret", "k", port as i64, ""),
        ],
    ));
    assert!(wait_echo(port, UP));
    let log = v.log_text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("hidden")).collect();
    assert!(
        lines.iter().any(|l| l.contains("start visitor success")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("listen on")), "{lines:?}");
    assert!(log.contains("stcp visitor listen on 127.0.0.1:"));
}

#[test]
fn reload_adds_a_visitor_and_keeps_a_live_connection() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[proxy("secret", "stcp", "k", echo.port, WRAPPED)],
    ));
    let (a, b) = (next_port(), next_port());
    let first = visitor("a", "stcp", "secret", "k", a as i64, WRAPPED);
    let v = start_frpc(&client(bind, "", std::slice::from_ref(&first)));
    assert!(wait_echo(a, UP));
    let mut live = TcpStream::connect(("127.0.0.1", a)).unwrap();
    live.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let round_trip = |s: &mut TcpStream| {
        s.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
    };
    round_trip(&mut live);

    std::fs::write(
        &v.config,
        client(
            bind,
            "",
            &[first, visitor("b", "stcp", "secret", "k", b as i64, "")],
        ),
    )
    .unwrap();
    send_signal(v.pid(), "HUP");
    assert!(v.wait_log("1 visitors added, 0 removed, 0 changed, 1 unchanged", UP));
    assert!(wait_echo(b, UP), "the added visitor works");
    round_trip(&mut live);
    assert!(echo_once(a), "the unchanged visitor still accepts");
}

#[test]
fn dashboard_lists_the_stcp_proxy_and_counts_its_traffic() {
    let bind = next_port();
    let web = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"tok\"\nwebServer.port = {web}\nwebServer.user = \"admin\"\nwebServer.password = \"pw\""),
    );
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[proxy("secret", "stcp", "k", echo.port, WRAPPED)],
    ));
    let port = next_port();
    let _v = start_frpc(&client(
        bind,
        "",
        &[visitor("v", "stcp", "secret", "k", port as i64, "")],
    ));
    wait_port(port, UP);
    wait_port(web, UP);
    // Exactly 10 000 bytes each way once the tunnel answers.
    let s = poll_for(UP, || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(&[7u8; 10_000]).ok()?;
        let mut back = vec![0u8; 10_000];
        s.read_exact(&mut back).ok()?;
        Some(s)
    })
    .expect("the tunnel comes up");
    s.shutdown(std::net::Shutdown::Both).unwrap();
    drop(s);
    let url = format!("http://127.0.0.1:{web}/api/proxy/stcp");
    let mut v = serde_json::Value::Null;
    poll(Duration::from_secs(10), || {
        let (status, body) = curl(&["-u", "admin:pw"], &url);
        assert_eq!(status, 200, "{body}");
        v = serde_json::from_str(&body).unwrap();
        v["proxies"][0]["todayTrafficIn"] == 10_000 && v["proxies"][0]["curConns"] == 0
    });
    assert_eq!(v["proxies"].as_array().map(Vec::len), Some(1), "{v}");
    let p = v["proxies"][0].clone();
    assert_eq!(p["name"], "secret");
    assert_eq!(p["status"], "online");
    assert_eq!(p["conf"]["type"], "stcp");
    assert_eq!(p["todayTrafficIn"], 10_000, "{p}");
    assert_eq!(p["todayTrafficOut"], 10_000, "{p}");
}

/// A framed message as frp writes it: type, 8-byte big-endian length, JSON.
fn frame(t: u8, json: &str) -> Vec<u8> {
    let mut f = vec![t];
    f.extend_from_slice(&(json.len() as i64).to_be_bytes());
    f.extend_from_slice(json.as_bytes());
    f
}

fn read_frame(s: &mut TcpStream) -> Option<(u8, String)> {
    let mut head = [0u8; 9];
    s.read_exact(&mut head).ok()?;
    let len = i64::from_be_bytes(head[1..].try_into().ok()?) as usize;
    let mut body = vec![0u8; len.min(10240)];
    s.read_exact(&mut body).ok()?;
    Some((head[0], String::from_utf8(body).ok()?))
}

#[test]
fn a_forged_visitor_connection_is_refused_and_disturbs_no_one() {
    // Without tcpMux every logical connection is a TCP connection of its own, so a raw
    // socket can speak the protocol.
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"\ntransport.tcpMux = false");
    let echo = echo_server();
    let common = "transport.tcpMux = false\ntransport.tls.enable = false";
    let _owner = start_frpc(&client(
        bind,
        common,
        &[proxy("secret", "stcp", "k", echo.port, "")],
    ));
    let port = next_port();
    let _v = start_frpc(&client(
        bind,
        common,
        &[visitor("v", "stcp", "secret", "k", port as i64, "")],
    ));
    assert!(wait_echo(port, UP));
    let mut live = TcpStream::connect(("127.0.0.1", port)).unwrap();
    live.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    live.write_all(b"one").unwrap();
    let mut buf = [0u8; 3];
    live.read_exact(&mut buf).unwrap();

    let forge = |json: &str| {
        let mut raw = TcpStream::connect(("127.0.0.1", bind)).unwrap();
        raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        raw.write_all(&frame(b'v', json)).unwrap();
        let resp = read_frame(&mut raw);
        let mut rest = [0u8; 1];
        let closed = matches!(raw.read(&mut rest), Ok(0) | Err(_));
        (resp, closed)
    };
    let (resp, closed) = forge(
        r#"{"proxy_name":"secret","sign_key":"00000000000000000000000000000000","timestamp":1}"#,
    );
    let (t, body) = resp.expect("a NewVisitorConnResp");
    assert_eq!(t, b'3');
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["proxy_name"], "secret");
    assert_eq!(v["error"], "visitor connection of [secret] auth failed");
    assert!(closed, "frps closes a refused visitor connection");
    let (resp, _) = forge(r#"{"proxy_name":"nope","run_id":"ffffffffffffffff"}"#);
    let v: serde_json::Value = serde_json::from_str(&resp.unwrap().1).unwrap();
    assert_eq!(
        v["error"],
        "no client control found for run id [ffffffffffffffff]"
    );
    let (resp, _) = forge(r#"{"proxy_name":"nope"}"#);
    let v: serde_json::Value = serde_json::from_str(&resp.unwrap().1).unwrap();
    assert_eq!(v["error"], "custom listener for [nope] doesn't exist");

    live.write_all(b"two").unwrap();
    live.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"two", "the established connection is untouched");
    assert!(echo_once(port), "new visitor connections still work");
    assert_eq!(echo.accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[test]
fn the_listener_goes_with_its_owner_and_comes_back_with_it() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let owner_toml = client(bind, "", &[proxy("secret", "stcp", "k", echo.port, "")]);
    let mut owner = start_frpc(&owner_toml);
    let port = next_port();
    let v = start_frpc(&client(
        bind,
        "",
        &[visitor("v", "stcp", "secret", "k", port as i64, "")],
    ));
    assert!(wait_echo(port, UP));
    owner.kill();
    // Each user connection makes the visitor ask frps, which answers that the owner is gone.
    wait_until(UP, "frps unregisters the proxy", || {
        let _ = refused(port);
        v.log_text()
            .contains("custom listener for [secret] doesn't exist")
    });
    let _owner = start_frpc(&owner_toml);
    assert!(wait_echo(port, UP), "a new owner session registers again");
}

#[test]
fn legacy_ini_visitor() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let _owner = start_frpc(&client(
        bind,
        "user = \"alice\"",
        &[proxy(
            "secret",
            "stcp",
            "k",
            echo.port,
            &format!("allowUsers = [\"bob\"]\n{WRAPPED}"),
        )],
    ));
    let port = next_port();
    let ini = format!(
        "[common]\nserver_addr = 127.0.0.1\nserver_port = {bind}\ntoken = tok\nuser = bob\n\n\
         [v]\nrole = visitor\ntype = stcp\nserver_user = alice\nserver_name = secret\nsk = k\n\
         bind_addr = 127.0.0.1\nbind_port = {port}\nuse_encryption = true\nuse_compression = true\n"
    );
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let _v = Daemon::start_in(dir, frpc_bin(), "frpc.ini", &ini);
    assert!(
        wait_echo(port, UP),
        "bob's ini visitor reaches alice.secret"
    );
}

#[test]
fn visitors_come_back_after_frps_restarts() {
    let bind = next_port();
    let mut frps = start_frps(bind, "auth.token = \"tok\"");
    let echo = echo_server();
    let udp = udp_echo();
    let _owner = start_frpc(&client(
        bind,
        "",
        &[
            proxy("secret", "stcp", "k", echo.port, ""),
            proxy("dgram", "sudp", "k", udp, ""),
        ],
    ));
    let (port, dport) = (next_port(), next_port());
    let v = start_frpc(&client(
        bind,
        "",
        &[
            visitor("v", "stcp", "secret", "k", port as i64, ""),
            visitor("d", "sudp", "dgram", "k", dport as i64, ""),
        ],
    ));
    assert!(wait_echo(port, UP));
    assert!(wait_udp_echo(dport, UP));
    frps.kill();
    assert!(v.wait_log("reconnecting", UP));
    let _frps = start_frps(bind, "auth.token = \"tok\"");
    assert!(
        wait_echo(port, UP),
        "the stcp visitor listens again after the new login"
    );
    assert!(
        wait_udp_echo(dport, UP),
        "the sudp visitor opens a new visitor connection"
    );
    let starts = v.log_text().matches("start visitor success").count();
    assert_eq!(starts, 4, "both visitors started once per session");
}
