//! sd_notify: a UnixDatagram socket stands in for systemd's NOTIFY_SOCKET; the daemons must
//! send READY (with STATUS), WATCHDOG keep-alives and STOPPING, in that order.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;

/// CLOCK_MONOTONIC in microseconds, read the way systemd does (through /proc/uptime would be
/// CLOCK_BOOTTIME, which differs after a suspend).
fn monotonic_usec() -> u64 {
    let out = Command::new("python3")
        .args([
            "-c",
            "import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn spawn_notified(bin: &str, config: &std::path::Path, sock_path: &std::path::Path) -> Child {
    Command::new(bin)
        .arg("-c")
        .arg(config)
        .env("NOTIFY_SOCKET", sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Run `bin` with a notify socket and check READY (with `ready_has`), WATCHDOG, STOPPING.
fn check_lifecycle(bin: &str, config: &std::path::Path, ready_has: &str, while_running: &dyn Fn()) {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut child = spawn_notified(bin, config, &sock_path);
    // READY first, with a STATUS line.
    let first = collect(&sock, &|m| m.contains("READY=1"), Duration::from_secs(15));
    let ready = first.last().cloned().unwrap_or_default();
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS="),
        "{first:?}"
    );
    assert!(ready.contains(ready_has), "{ready}");
    // Watchdog keep-alives at half of WATCHDOG_USEC (200 ms).
    let watch = collect(&sock, &|_| false, Duration::from_millis(900));
    let pings = watch.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(pings >= 2, "watchdog keep-alives: {watch:?}");
    while_running();
    // SIGHUP: RELOADING=1 with MONOTONIC_USEC (what Type=notify-reload needs), then READY=1
    // with a STATUS naming the result; the process keeps running.
    send_signal(child.id(), "HUP");
    let reload = collect(&sock, &|m| m.contains("READY=1"), Duration::from_secs(10));
    let reloading = reload
        .iter()
        .position(|m| m.contains("RELOADING=1"))
        .unwrap_or_else(|| panic!("no RELOADING=1: {reload:?}"));
    let usec: u64 = reload[reloading]
        .lines()
        .find_map(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no MONOTONIC_USEC: {}", reload[reloading]));
    let now = monotonic_usec();
    assert!(
        usec <= now && now - usec < 10_000_000,
        "{usec} vs now {now}"
    );
    let ready = reload.last().cloned().unwrap_or_default();
    assert!(
        ready.contains("READY=1") && ready.contains("STATUS=reloaded"),
        "{reload:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running after SIGHUP"
    );
    while_running();
    send_signal(child.id(), "TERM");
    let last = collect(
        &sock,
        &|m| m.contains("STOPPING=1"),
        Duration::from_secs(10),
    );
    assert!(last.iter().any(|m| m.contains("STOPPING=1")), "{last:?}");
    assert!(child.wait().unwrap().success(), "exits 0 on SIGTERM");
}

#[test]
fn frps_sends_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let bind = next_port();
    let cfg = dir.path().join("frps.toml");
    std::fs::write(
        &cfg,
        format!("bindAddr = \"127.0.0.1\"\nbindPort = {bind}\n"),
    )
    .unwrap();
    check_lifecycle(
        frps_bin(),
        &cfg,
        &format!("listening on 127.0.0.1:{bind}"),
        &|| assert!(std::net::TcpStream::connect(("127.0.0.1", bind)).is_ok()),
    );
}

#[test]
fn frpc_sends_ready_after_login_then_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let echo = echo_server();
    let remote = next_port();
    let cfg = dir.path().join("frpc.toml");
    std::fs::write(&cfg, frpc_toml(bind, "t", "", echo.port, remote, "")).unwrap();
    check_lifecycle(frpc_bin(), &cfg, "logged in", &|| {
        assert!(wait_echo(remote, Duration::from_secs(10)))
    });
}

#[test]
fn frpc_is_ready_after_a_failed_first_login_when_it_keeps_trying() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("frpc.toml");
    // Nothing listens on this port; loginFailExit = false (frpc_toml) keeps retrying.
    std::fs::write(&cfg, frpc_toml(next_port(), "t", "", 1, 0, "")).unwrap();
    check_lifecycle(frpc_bin(), &cfg, "failed", &|| {});
}
