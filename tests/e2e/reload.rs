//! Reload on SIGHUP with live traffic: frpc diffs its proxies by name and keeps the connections
//! of unchanged ones; frps applies its run-time options; a broken file changes nothing.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;

/// A connection held open through a proxy; each call to `check` makes one round trip on it.
struct Live {
    conn: TcpStream,
    n: u32,
}

impl Live {
    fn open(port: u16) -> Live {
        let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut live = Live { conn, n: 0 };
        assert!(live.round_trip(), "first round trip");
        live
    }

    fn round_trip(&mut self) -> bool {
        self.n += 1;
        let msg = format!("round trip {:06}\n", self.n);
        if self.conn.write_all(msg.as_bytes()).is_err() {
            return false;
        }
        let mut buf = vec![0u8; msg.len()];
        self.conn.read_exact(&mut buf).is_ok() && buf == msg.as_bytes()
    }
}

fn port_closed(port: u16, timeout: Duration) -> bool {
    poll(timeout, || TcpStream::connect(("127.0.0.1", port)).is_err())
}

fn proxy(name: &str, local: u16, remote: u16) -> String {
    Proxy::tcp(name, local, remote).to_string()
}

fn client(bind: u16, common: &str, proxies: &[String]) -> String {
    proxies
        .iter()
        .fold(FrpcToml::new(bind).line(common), |c, p| c.section(p))
        .to_string()
}

/// Rewrite the config and send SIGHUP; wait for the reload's log line (the n-th one).
fn reload(d: &Daemon, toml: &str, n: usize, expect: &str) {
    std::fs::write(&d.config, toml).unwrap();
    send_signal(d.pid(), "HUP");
    wait_until(
        Duration::from_secs(10),
        format_args!("reload {n}: {expect:?} in the log"),
        || d.log_text().matches(expect).count() >= n,
    );
}

#[test]
fn frpc_reload_keeps_live_connections_and_applies_proxy_changes() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let (pa, pb, pc, pc2) = (next_port(), next_port(), next_port(), next_port());
    let a = proxy("a", echo.port, pa);
    let b = proxy("b", echo.port, pb);
    let frpc = start_frpc(&client(bind, "", &[a.clone(), b.clone()]));
    assert!(wait_echo(pa, Duration::from_secs(10)));
    assert!(wait_echo(pb, Duration::from_secs(10)));
    let pid = frpc.pid();
    let mut live = Live::open(pa);

    // 1: add c.
    let c = proxy("c", echo.port, pc);
    reload(
        &frpc,
        &client(bind, "", &[a.clone(), b.clone(), c]),
        1,
        "configuration reloaded: 1 proxies added, 0 removed, 0 changed, 2 unchanged",
    );
    assert!(wait_echo(pc, Duration::from_secs(10)), "added proxy opens");
    assert!(live.round_trip(), "live connection survives reload 1");

    // 2: remove b.
    let c = proxy("c", echo.port, pc);
    reload(
        &frpc,
        &client(bind, "", &[a.clone(), c]),
        1,
        "configuration reloaded: 0 proxies added, 1 removed, 0 changed, 2 unchanged",
    );
    assert!(
        port_closed(pb, Duration::from_secs(10)),
        "removed proxy closes"
    );
    assert!(live.round_trip(), "live connection survives reload 2");

    // 3: change c's remote port.
    let c2 = proxy("c", echo.port, pc2);
    reload(
        &frpc,
        &client(bind, "", &[a.clone(), c2.clone()]),
        1,
        "configuration reloaded: 0 proxies added, 0 removed, 1 changed, 1 unchanged",
    );
    assert!(
        wait_echo(pc2, Duration::from_secs(10)),
        "changed proxy moves"
    );
    assert!(port_closed(pc, Duration::from_secs(10)), "old port closes");
    assert!(live.round_trip(), "live connection survives reload 3");

    // 4: a broken file changes nothing and says why, with the file and line.
    reload(
        &frpc,
        "serverAddr = \"127.0.0.1\"\nserverPort = [oops\n",
        1,
        "reload failed, keeping the running configuration",
    );
    let line = frpc
        .log_text()
        .lines()
        .find(|l| l.contains("reload failed"))
        .unwrap_or_default()
        .to_string();
    assert!(
        line.contains("frpc.toml:2:") && line.contains("serverPort"),
        "{line}"
    );
    assert!(live.round_trip(), "live connection survives a bad reload");
    assert!(echo_once(pc2));

    // 5: a session setting changes: frpc logs in again and registers everything anew.
    reload(
        &frpc,
        &client(bind, "metadatas.site = \"b\"", &[a, c2]),
        1,
        "metadatas.site changed: reconnecting to 127.0.0.1",
    );
    assert!(frpc.wait_log(
        "session settings changed, logging in again",
        Duration::from_secs(10)
    ));
    assert!(wait_echo(pa, Duration::from_secs(10)));
    assert!(wait_echo(pc2, Duration::from_secs(10)));

    assert_eq!(frpc.pid(), pid);
    let mut frpc = frpc;
    assert_eq!(
        frpc.wait_exit(Duration::from_millis(10)),
        None,
        "still running"
    );
}

fn server_info(web: u16, user_pass: &str) -> (u16, String) {
    curl(
        &["-u", user_pass],
        &format!("http://127.0.0.1:{web}/api/serverinfo"),
    )
}

fn frps_toml(bind: u16, web: u16, token: &str, allow: &[u16], password: &str) -> String {
    let allow = allow
        .iter()
        .map(|p| format!("{{ single = {p} }}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "bindAddr = \"127.0.0.1\"\nbindPort = {bind}\nauth.token = \"{token}\"\nallowPorts = [{allow}]\nmaxPortsPerClient = 2\nwebServer.addr = \"127.0.0.1\"\nwebServer.port = {web}\nwebServer.user = \"admin\"\nwebServer.password = \"{password}\"\n"
    )
}

#[test]
fn frps_reload_applies_runtime_options_and_keeps_sessions() {
    let (bind, web) = (next_port(), next_port());
    let (pa, pb) = (next_port(), next_port());
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let frps = Daemon::start_in(
        dir.clone(),
        frps_bin(),
        "frps",
        &frps_toml(bind, web, "t1", &[pa], "old"),
    );
    wait_port(bind, Duration::from_secs(10));
    let pid = frps.pid();
    let echo = echo_server();
    let frpc1 = start_frpc(&frpc_toml(bind, "t1", "", echo.port, pa, ""));
    assert!(wait_echo(pa, Duration::from_secs(10)));
    let mut live = Live::open(pa);
    let (code, body) = server_info(web, "admin:old");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains(&format!("\"allowPortsStr\":\"{pa}\"")),
        "{body}"
    );

    // Token, allowed ports, dashboard password and log level change; the bind port cannot.
    let mut toml = frps_toml(bind + 1, web, "t2", &[pa, pb], "new");
    toml.push_str("log.level = \"debug\"\n");
    reload(&frps, &toml, 1, "configuration reloaded: applied ");
    let log = frps.log_text();
    let applied = log
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_default();
    for key in [
        "allowPorts",
        "auth.token",
        "webServer.password",
        "log.level",
    ] {
        assert!(applied.contains(key), "{applied}");
    }
    assert!(!applied.contains("t2"), "no secrets in the log: {applied}");
    assert!(
        log.contains("reload: bindPort changed but only take effect after a restart"),
        "{log}"
    );
    assert!(live.round_trip(), "the logged-in client keeps its session");
    assert_eq!(server_info(web, "admin:old").0, 401, "old password refused");
    let (code, body) = server_info(web, "admin:new");
    assert_eq!(code, 200);
    assert!(
        body.contains(&format!("\"allowPortsStr\":\"{pa},{pb}\"")),
        "{body}"
    );

    // New logins need the new token; the new allowed port works; the bind port is unchanged.
    let mut stale = FrpcToml::new(bind)
        .token("t1")
        .default_login_fail_exit()
        .start();
    assert!(stale.wait_log(
        "token in login doesn't match token from configuration",
        Duration::from_secs(10)
    ));
    assert_eq!(stale.wait_exit(Duration::from_secs(10)), Some(1));
    let _frpc2 = FrpcToml::new(bind)
        .token("t2")
        .default_login_fail_exit()
        .section(proxy("b", echo.port, pb))
        .start();
    assert!(wait_echo(pb, Duration::from_secs(10)));

    // A broken file: one error line naming it, nothing changes.
    reload(
        &frps,
        "bindPort = \"seven\"\n",
        1,
        "reload failed, keeping the running configuration",
    );
    assert!(frps.log_text().contains("frps.toml"));
    assert!(live.round_trip());
    assert_eq!(server_info(web, "admin:new").0, 200);
    assert_eq!(frps.pid(), pid);
    drop(frpc1);
}

#[test]
fn frps_graceful_stop_drains_live_connections() {
    let bind = next_port();
    let mut frps = start_frps(bind, "auth.token = \"t\"\ngracefulStopTimeout = 30");
    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(wait_echo(remote, Duration::from_secs(10)));
    // The probe connection must be gone from frps's count before the signal, or the drain
    // would (rightly) wait for it too.
    assert!(frps.wait_log("connection closed, 5 bytes in", Duration::from_secs(5)));
    let mut live = Live::open(remote);
    send_signal(frps.pid(), "TERM");
    assert!(frps.wait_log(
        "waiting up to 30s for 1 connections",
        Duration::from_secs(5)
    ));
    // No new connections, but the live one carries on.
    assert!(
        port_closed(remote, Duration::from_secs(5)),
        "proxy port closed"
    );
    assert!(
        port_closed(bind, Duration::from_secs(5)),
        "bind port closed"
    );
    assert!(
        live.round_trip(),
        "live connection still works while draining"
    );
    assert_eq!(frps.wait_exit(Duration::from_millis(300)), None, "waits");
    drop(live);
    let t = Instant::now();
    assert_eq!(frps.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(3), "exits once drained");
}

#[test]
fn a_second_signal_or_the_timeout_stops_at_once() {
    let bind = next_port();
    let mut frps = start_frps(bind, "auth.token = \"t\"\ngracefulStopTimeout = 30");
    let echo = echo_server();
    let remote = next_port();
    let mut frpc = start_frpc(&frpc_toml(
        bind,
        "t",
        "gracefulStopTimeout = 1",
        echo.port,
        remote,
        "",
    ));
    assert!(wait_echo(remote, Duration::from_secs(10)));
    // As above: the probe connection must have left frpc's count first.
    assert!(frpc.wait_log("work connection closed, 5 bytes", Duration::from_secs(5)));

    // frpc: CloseProxy at once, then waits for the open connection up to its 1 s timeout.
    let mut live = Live::open(remote);
    let t = Instant::now();
    send_signal(frpc.pid(), "TERM");
    assert!(frpc.wait_log("waiting up to 1s for 1 connections", Duration::from_secs(5)));
    assert!(
        port_closed(remote, Duration::from_secs(5)),
        "frps closed the proxy"
    );
    assert!(
        live.round_trip(),
        "live connection still works while frpc drains"
    );
    assert_eq!(frpc.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    assert!(frpc
        .log_text()
        .contains("stopping with 1 connections still open"));

    // frps: a second SIGTERM ends a 30 s drain at once.
    let _frpc2 = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(wait_echo(remote, Duration::from_secs(15)));
    let _live = Live::open(remote);
    send_signal(frps.pid(), "TERM");
    assert!(frps.wait_log("waiting up to 30s", Duration::from_secs(5)));
    let t = Instant::now();
    send_signal(frps.pid(), "TERM");
    assert_eq!(frps.wait_exit(Duration::from_secs(5)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(2));
}
