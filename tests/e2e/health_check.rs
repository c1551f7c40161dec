//! frpc health checks end to end: a failing check closes the proxy on frps (its remote port
//! refuses connections), a passing one registers it again.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::*;

const UP: Duration = Duration::from_secs(20);
/// Interval 1 s, maxFailed 1: a change shows on frps within a couple of seconds.
const SETTLE: Duration = Duration::from_secs(10);

/// A TCP echo server on a fixed port that can be stopped (its listener closed) and started again.
struct Backend {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Backend {
    fn start(port: u16) -> Backend {
        // std sets SO_REUSEADDR on Unix, so the port binds again right after a stop.
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        l.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((c, _)) => {
                        thread::spawn(move || echo(c));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
        });
        Backend {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Close the listener: connections to the port are refused from now on.
    fn stop(mut self) -> u16 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.port
    }
}

fn echo(mut c: TcpStream) {
    let _ = c.set_nonblocking(false);
    let mut buf = [0u8; 4096];
    while let Ok(n) = c.read(&mut buf) {
        if n == 0 || c.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = c.shutdown(Shutdown::Write);
}

fn refused(port: u16) -> bool {
    matches!(TcpStream::connect(("127.0.0.1", port)), Err(e) if e.kind() == ErrorKind::ConnectionRefused)
}

fn wait_refused(port: u16, timeout: Duration) -> bool {
    poll(timeout, || refused(port))
}

fn config(bind: u16, admin: u16, local: u16, remote: u16, check: &str) -> String {
    FrpcToml::new(bind)
        .admin(admin)
        .proxy(
            Proxy::tcp("svc", local, remote)
                .line("healthCheck.intervalSeconds = 1")
                .line(check),
        )
        .to_string()
}

/// The proxy's status in frpc's admin API.
fn status(admin: u16) -> String {
    let (code, body) = curl(&[], &format!("http://127.0.0.1:{admin}/api/status"));
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["tcp"][0]["status"].as_str().unwrap_or("").to_string()
}

fn wait_status(admin: u16, want: &str, timeout: Duration) -> bool {
    poll(timeout, || status(admin) == want)
}

#[test]
fn tcp_check_closes_and_reopens_the_remote_port() {
    let bind = next_port();
    let (admin, remote, local) = (next_port(), next_port(), next_port());
    let frps = start_frps(bind, "auth.token = \"t\"");
    let backend = Backend::start(local);
    let frpc = start_frpc(&config(
        bind,
        admin,
        local,
        remote,
        "healthCheck.type = \"tcp\"\nhealthCheck.timeoutSeconds = 1",
    ));
    assert!(wait_echo(remote, UP), "{}", frpc.log_text());
    assert_eq!(status(admin), "running");

    // The local service goes away: frpc closes the proxy and frps its port.
    let t = Instant::now();
    let port = backend.stop();
    assert!(wait_refused(remote, SETTLE), "{}", frps.log_text());
    eprintln!(
        "remote port closed {:?} after the service stopped",
        t.elapsed()
    );
    assert!(frps.wait_log("close proxy", SETTLE));
    assert!(wait_status(admin, "check failed", SETTLE));

    // It comes back: the proxy registers again and traffic flows.
    let t = Instant::now();
    let _backend = Backend::start(port);
    assert!(wait_echo(remote, SETTLE), "{}", frpc.log_text());
    eprintln!(
        "traffic again {:?} after the service restarted",
        t.elapsed()
    );
    assert_eq!(status(admin), "running");
}

/// A tiny HTTP/1.1 server answering every request with the current `code`; it records each
/// request head.
fn http_backend(code: Arc<AtomicU16>) -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let (code, seen) = (code.clone(), seen.clone());
            thread::spawn(move || {
                c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut b = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    match c.read(&mut b) {
                        Ok(1) => head.push(b[0]),
                        _ => return,
                    }
                }
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).to_string());
                let code = code.load(Ordering::SeqCst);
                let _ = c.write_all(
                    format!(
                        "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    )
                    .as_bytes(),
                );
            });
        }
    });
    (port, heads)
}

/// One GET through the proxy; the status code, or None when the port refuses or closes.
fn get(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /page HTTP/1.1\r\nHost: user.test\r\n\r\n")
        .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    resp.split(' ').nth(1)?.parse().ok()
}

#[test]
fn http_check_follows_the_status_code() {
    let bind = next_port();
    let (admin, remote) = (next_port(), next_port());
    let frps = start_frps(bind, "auth.token = \"t\"");
    let code = Arc::new(AtomicU16::new(200));
    let (local, heads) = http_backend(code.clone());
    let frpc = start_frpc(&config(
        bind,
        admin,
        local,
        remote,
        "healthCheck.type = \"http\"\nhealthCheck.path = \"/healthz\"\nhealthCheck.httpHeaders = [{ name = \"Host\", value = \"health.test\" }, { name = \"X-Probe\", value = \"frpc\" }]",
    ));
    assert!(poll(UP, || get(remote) == Some(200)), "{}", frpc.log_text());
    let probe = heads
        .lock()
        .unwrap()
        .iter()
        .find(|h| h.starts_with("GET /healthz "))
        .cloned()
        .expect("a health check request");
    assert!(probe.contains("\r\nHost: health.test\r\n"), "{probe}");
    assert!(probe.contains("\r\nX-Probe: frpc\r\n"), "{probe}");

    // 500: unhealthy, the remote port closes.
    code.store(500, Ordering::SeqCst);
    assert!(wait_refused(remote, SETTLE), "{}", frps.log_text());
    assert!(wait_status(admin, "check failed", SETTLE));

    // 200 again: registered again, requests pass.
    code.store(200, Ordering::SeqCst);
    assert!(
        poll(SETTLE, || get(remote) == Some(200)),
        "{}",
        frpc.log_text()
    );
    assert_eq!(status(admin), "running");
}
