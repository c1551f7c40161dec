//! Test harness: start the real `frps`/`frpc` binaries with temporary config files, run local
//! backends on loopback, and wait for readiness by probing sockets (never by sleeping blindly).

#![allow(dead_code)]

pub mod backend;
pub mod config;
pub mod memory;
pub mod netns;
pub mod notify_socket;
pub mod ports;
pub mod udp;
pub mod wait;

pub use config::{FrpcToml, FrpsToml, Proxy, Visitor};
pub use memory::{allow_open_files, rss_kib, settled_rss_kib};
pub use notify_socket::{collect, start_notified};
pub use ports::{next_port, next_port_block, next_ports};
pub use wait::{poll, poll_for, wait_until};

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// A running frps or frpc; killed when dropped. Its log goes to a file we can read.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
    pub config: PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

impl Daemon {
    pub fn start(bin: &str, name: &str, toml: &str) -> Daemon {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        Self::start_in(dir, bin, name, toml)
    }

    pub fn start_in(dir: Arc<tempfile::TempDir>, bin: &str, name: &str, toml: &str) -> Daemon {
        Self::start_with_env(dir, bin, name, toml, &[])
    }

    /// [`Daemon::start_in`] with extra environment variables (e.g. NOTIFY_SOCKET).
    pub fn start_with_env(
        dir: Arc<tempfile::TempDir>,
        bin: &str,
        name: &str,
        toml: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Daemon {
        // `name` may carry its own extension (frps.ini); otherwise the file is TOML.
        let file = if name.contains('.') {
            name.to_string()
        } else {
            format!("{name}.toml")
        };
        let config = dir.path().join(file);
        std::fs::write(&config, toml).unwrap();
        let log = dir
            .path()
            .join(format!("{}.log", name.split('.').next().unwrap_or(name)));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&config)
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Daemon {
            child: Some(child),
            log,
            config,
            _dir: dir,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        poll(timeout, || self.log_text().contains(needle))
    }

    /// Wait for the process to exit on its own; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut()?;
        poll_for(timeout, || child.try_wait().ok().flatten())?.code()
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("==== {} ====\n{}", self.log.display(), self.log_text());
        }
        self.kill();
    }
}

pub fn frps_bin() -> &'static str {
    env!("CARGO_BIN_EXE_frps")
}

pub fn frpc_bin() -> &'static str {
    env!("CARGO_BIN_EXE_frpc")
}

/// Start frps with `extra` TOML lines (no token unless `extra` gives one) and wait until its
/// bind port accepts connections.
pub fn start_frps(bind_port: u16, extra: &str) -> Daemon {
    FrpsToml::new(bind_port).no_token().line(extra).start()
}

pub fn start_frpc(toml: &str) -> Daemon {
    Daemon::start(frpc_bin(), "frpc", toml)
}

pub fn wait_port(port: u16, timeout: Duration) {
    wait_until(timeout, format!("port {port} opens"), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A TCP echo server on 127.0.0.1; counts accepted connections.
pub struct EchoServer {
    pub port: u16,
    pub accepted: Arc<AtomicUsize>,
}

pub fn echo_server() -> EchoServer {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if c.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = c.shutdown(Shutdown::Write);
            });
        }
    });
    EchoServer { port, accepted }
}

/// A backend that records the first bytes of each connection (e.g. a PROXY header), then echoes.
pub fn recording_server(first_bytes: usize) -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let s = s.clone();
            thread::spawn(move || {
                let mut head = vec![0u8; first_bytes];
                if c.read_exact(&mut head).is_err() {
                    return;
                }
                s.lock().unwrap().push(head);
                let mut buf = vec![0u8; 16 * 1024];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// One round trip through `port`; true when the bytes come back.
pub fn echo_once(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"ping\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"ping\n"
}

/// Wait until an echo round trip through the proxy's remote port works.
pub fn wait_echo(port: u16, timeout: Duration) -> bool {
    poll(timeout, || echo_once(port))
}

/// Send `len` random bytes through `port` while reading the echo; returns (sent, received)
/// SHA-256 digests.
pub fn echo_random(port: u16, len: usize) -> ([u8; 32], [u8; 32]) {
    let mut data = vec![0u8; len];
    let mut x: u64 = 0x9E3779B97F4A7C15 ^ len as u64;
    for chunk in data.chunks_mut(8) {
        // xorshift: fast, deterministic pseudo-random bytes (incompressible for snappy).
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
    let sent: [u8; 32] = Sha256::digest(&data).into();
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        for chunk in data.chunks(37 * 1024 + 11) {
            w.write_all(chunk).unwrap();
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut r = s;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = r.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        hasher.update(&buf[..n]);
    }
    writer.join().unwrap();
    assert_eq!(total, len, "echoed byte count");
    (sent, hasher.finalize().into())
}

/// A minimal frpc config with one tcp proxy, "echo", from 127.0.0.1:`local_port` to
/// `remote_port`; `common` and `proxy_extra` are raw TOML lines.
pub fn frpc_toml(
    server_port: u16,
    token: &str,
    common: &str,
    local_port: u16,
    remote_port: u16,
    proxy_extra: &str,
) -> String {
    FrpcToml::new(server_port)
        .token(token)
        .line(common)
        .proxy(Proxy::tcp("echo", local_port, remote_port).line(proxy_extra))
        .to_string()
}

/// `kill -SIG pid` (SIG like "TERM", "HUP"); asserts it was delivered.
pub fn send_signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// One HTTP request with curl (`args` before the URL): (status code, body).
pub fn curl(args: &[&str], url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The port frps chose for a `remotePort = 0` proxy of `kind` ("tcp" or "udp"), from its log.
pub fn chosen_port(frps: &Daemon, kind: &str) -> u16 {
    frps.log_text()
        .split(&format!("{kind} proxy listen port ["))
        .nth(1)
        .and_then(|s| s.split(']').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("frps logs the {kind} port it chose:\n{}", frps.log_text()))
}
