//! A stand-in for systemd's NOTIFY_SOCKET: a datagram socket the daemons send READY, STATUS,
//! WATCHDOG and STOPPING to.

use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Daemon;

/// Collect datagrams until `until` matches one or the timeout passes.
pub fn collect(
    sock: &UnixDatagram,
    until: &dyn Fn(&str) -> bool,
    timeout: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let done = until(&msg);
            out.push(msg);
            if done {
                break;
            }
        }
    }
    out
}

/// Start `bin` with `config` (file name `name`) and a notify socket; the daemon and its first
/// READY datagram (with its STATUS).
pub fn start_notified(bin: &str, name: &str, config: &str) -> (Daemon, String) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let sock_path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let d = Daemon::start_with_env(
        dir.clone(),
        bin,
        name,
        config,
        &[("NOTIFY_SOCKET", sock_path.as_os_str())],
    );
    let ready = collect(&sock, &|m| m.contains("READY=1"), Duration::from_secs(15))
        .pop()
        .filter(|m| m.contains("READY=1"))
        .unwrap_or_else(|| panic!("no READY=1:\n{}", d.log_text()));
    (d, ready)
}
