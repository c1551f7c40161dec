//! frpc client plugins end to end: real frps and frpc on loopback, a tcp proxy carrying the
//! plugin, curl (or a small client) at the remote port, and a local backend that records what
//! reached it.

use crate::common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

const UP: Duration = Duration::from_secs(20);
const PAGE: &str = "hello from the backend";

/// frps, and frpc with one tcp proxy whose `[proxies.plugin]` table is `plugin` (plus
/// `proxy_extra` lines for the proxy itself); returns them and the remote port once it is up.
fn plugin_tunnel(plugin: &str, proxy_extra: &str) -> (Daemon, Daemon, u16) {
    let [bind, remote] = next_ports();
    let frps = start_frps(bind, "auth.token = \"t\"");
    let frpc = FrpcToml::new(bind)
        .proxy(
            Proxy::new("plug", "tcp")
                .line(format!("remotePort = {remote}"))
                .line(proxy_extra)
                .line(format!("[proxies.plugin]\n{plugin}")),
        )
        .start();
    assert!(
        frpc.wait_log("start proxy success", UP),
        "{}",
        frpc.log_text()
    );
    wait_port(remote, UP);
    (frps, frpc, remote)
}

/// A recording HTTP/1.1 backend: each request head (lower-cased) is kept, the answer is `PAGE`.
struct Backend {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    fn last(&self) -> String {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

fn http_backend() -> Backend {
    backend(None)
}

/// The same backend behind rustls with a fresh self-signed certificate.
fn https_backend() -> Backend {
    let (cert, key) = self_signed("localhost");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    backend(Some(Arc::new(config)))
}

fn backend(tls: Option<Arc<rustls::ServerConfig>>) -> Backend {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(tcp) = conn else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let (s, tls) = (s.clone(), tls.clone());
            thread::spawn(move || match tls {
                None => answer(tcp, &s),
                Some(cfg) => {
                    let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                        return;
                    };
                    let mut stream = rustls::StreamOwned::new(conn, tcp);
                    answer(&mut stream, &s);
                    stream.conn.send_close_notify();
                    let _ = stream.flush();
                }
            });
        }
    });
    Backend { port, seen }
}

fn answer(mut s: impl Read + Write, seen: &Mutex<Vec<String>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    seen.lock()
        .unwrap()
        .push(String::from_utf8_lossy(&head).to_lowercase());
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
        PAGE.len()
    );
    let _ = s.flush();
}

fn self_signed(name: &str) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let key = PrivateKeyDer::try_from(c.key_pair.serialize_der()).unwrap();
    (c.cert.der().clone(), key)
}

/// A certificate for `localhost` written as PEM files: (dir, cert path, key path, DER).
fn cert_files() -> (tempfile::TempDir, PathBuf, PathBuf, CertificateDer<'static>) {
    let dir = tempfile::tempdir().unwrap();
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let crt = dir.path().join("server.crt");
    let key = dir.path().join("server.key");
    std::fs::write(&crt, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (dir, crt, key, c.cert.der().clone())
}

/// curl with `args`; returns (exit success, stdout). `-w` lines come after the body.
fn curl_raw(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn http_proxy_forwards_tunnels_and_asks_for_credentials() {
    let web = http_backend();
    let (_s, _c, remote) = plugin_tunnel(
        "type = \"http_proxy\"\nhttpUser = \"alice\"\nhttpPassword = \"s3cret\"",
        "",
    );
    let page = format!("http://127.0.0.1:{}/page?x=1", web.port);
    let good = format!("http://alice:s3cret@127.0.0.1:{remote}");

    // A plain absolute-form GET, forwarded.
    let (code, body) = curl(&["-x", &good], &page);
    assert_eq!((code, body.as_str()), (200, PAGE));
    let head = web.last();
    assert!(head.starts_with("get /page?x=1 http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("host: 127.0.0.1:{}\r\n", web.port)),
        "{head}"
    );
    assert!(!head.contains("proxy-authorization"), "{head}");

    // CONNECT, then HTTP inside the tunnel.
    let (code, body) = curl(&["-p", "-x", &good], &page);
    assert_eq!((code, body.as_str()), (200, PAGE));
    assert!(web.last().starts_with("get /page?x=1 http/1.1\r\n"));

    // No or wrong credentials: 407 with Proxy-Authenticate, and nothing reaches the backend.
    let before = web.seen.lock().unwrap().len();
    let bad = format!("http://alice:wrong@127.0.0.1:{remote}");
    let anon = format!("http://127.0.0.1:{remote}");
    for proxy in [&anon, &bad] {
        let (_, out) = curl_raw(&["-i", "-x", proxy, &page]);
        assert!(out.starts_with("HTTP/1.1 407"), "{out}");
        assert!(
            out.to_lowercase().contains("proxy-authenticate: basic"),
            "{out}"
        );
        let (_, out) = curl_raw(&["-p", "-x", proxy, "-w", "%{http_connect}", &page]);
        assert_eq!(out, "407", "CONNECT through {proxy}");
    }
    assert_eq!(web.seen.lock().unwrap().len(), before);
}

#[test]
fn socks5_without_auth_connects_to_ips_and_names() {
    let web = http_backend();
    let (_s, _c, remote) = plugin_tunnel("type = \"socks5\"", "");
    let page = format!("http://localhost:{}/s", web.port);
    let ip_page = format!("http://127.0.0.1:{}/s", web.port);
    let proxy = format!("127.0.0.1:{remote}");
    let (code, body) = curl(&["--socks5", &proxy], &ip_page);
    assert_eq!((code, body.as_str()), (200, PAGE));
    // The name travels to frpc, which resolves it.
    let (code, body) = curl(&["--socks5-hostname", &proxy], &page);
    assert_eq!((code, body.as_str()), (200, PAGE));
    assert!(web.last().starts_with("get /s http/1.1\r\n"));
    // IPv6 literal: the plugin dials [::1] (nothing listens there: refused, not a hang).
    let (ok, _) = curl_raw(&[
        "--socks5",
        &proxy,
        &format!("http://[::1]:{}/", next_port()),
    ]);
    assert!(!ok);
}

#[test]
fn socks5_with_auth_refuses_wrong_password() {
    let web = http_backend();
    let (_s, _c, remote) = plugin_tunnel(
        "type = \"socks5\"\nusername = \"bob\"\npassword = \"pw\"",
        "",
    );
    let page = format!("http://127.0.0.1:{}/a", web.port);
    let (code, body) = curl(
        &["-x", &format!("socks5://bob:pw@127.0.0.1:{remote}")],
        &page,
    );
    assert_eq!((code, body.as_str()), (200, PAGE));
    let (code, body) = curl(
        &["-x", &format!("socks5h://bob:pw@127.0.0.1:{remote}")],
        &format!("http://localhost:{}/b", web.port),
    );
    assert_eq!((code, body.as_str()), (200, PAGE));
    let before = web.seen.lock().unwrap().len();
    for proxy in [
        format!("socks5://bob:nope@127.0.0.1:{remote}"),
        format!("socks5://127.0.0.1:{remote}"),
    ] {
        let (ok, out) = curl_raw(&["-x", &proxy, &page]);
        assert!(!ok && out.is_empty(), "{proxy}: {out}");
    }
    assert_eq!(web.seen.lock().unwrap().len(), before);
}

#[test]
fn static_file_serves_under_prefix_with_auth_and_no_traversal() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("site");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("hello.txt"), "static hello\n").unwrap();
    std::fs::write(root.join("sub/inner.txt"), "inner file\n").unwrap();
    std::fs::write(top.path().join("secret.txt"), "TOP SECRET\n").unwrap();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"static_file\"\nlocalPath = \"{}\"\nstripPrefix = \"static\"\nhttpUser = \"u\"\nhttpPassword = \"p\"",
            p(&root)
        ),
        "",
    );
    let url = |path: &str| format!("http://127.0.0.1:{remote}{path}");

    let (code, body) = curl(&["-u", "u:p"], &url("/static/hello.txt"));
    assert_eq!((code, body.as_str()), (200, "static hello\n"));
    let (code, body) = curl(&["-u", "u:p"], &url("/static/sub/inner.txt"));
    assert_eq!((code, body.as_str()), (200, "inner file\n"));
    let (code, body) = curl(&["-u", "u:p", "-r", "7-11"], &url("/static/hello.txt"));
    assert_eq!((code, body.as_str()), (206, "hello"));

    // Directory listing, and the redirect that adds the slash.
    let (code, body) = curl(&["-u", "u:p"], &url("/static/"));
    assert_eq!(code, 200);
    assert!(
        body.contains("<a href=\"hello.txt\">hello.txt</a>"),
        "{body}"
    );
    assert!(body.contains("<a href=\"sub/\">sub/</a>"), "{body}");
    let (_, out) = curl_raw(&["-i", "-u", "u:p", &url("/static/sub")]);
    assert!(out.starts_with("HTTP/1.1 301"), "{out}");
    assert!(out.to_lowercase().contains("location: sub/\r\n"), "{out}");

    // Without or with wrong credentials: 401 and a Basic challenge.
    let (_, out) = curl_raw(&["-i", &url("/static/hello.txt")]);
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("Basic realm=\"Restricted\""), "{out}");
    assert!(!out.contains("static hello"));
    let (code, _) = curl(&["-u", "u:wrong"], &url("/static/hello.txt"));
    assert_eq!(code, 401);
    // Only GET, only under the prefix.
    let (code, _) = curl(&["-u", "u:p", "-X", "POST"], &url("/static/hello.txt"));
    assert_eq!(code, 405);
    let (code, _) = curl(&["-u", "u:p"], &url("/hello.txt"));
    assert_eq!(code, 404);

    // `..` in any spelling never leaves localPath: the clean path is outside the prefix.
    for path in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/sub/../../secret.txt",
    ] {
        let (code, body) = curl(&["--path-as-is", "-u", "u:p"], &url(path));
        assert!(code == 301 || code == 404, "{path}: {code}");
        assert!(!body.contains("TOP SECRET"), "{path}");
        let (code, body) = curl(&["--path-as-is", "-L", "-u", "u:p"], &url(path));
        assert_eq!(code, 404, "{path} followed");
        assert!(!body.contains("TOP SECRET"), "{path}");
    }
}

#[test]
fn unix_domain_socket_echoes_and_gets_the_proxy_protocol_header() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("echo.sock");
    let l = UnixListener::bind(&sock).unwrap();
    let headers = Arc::new(Mutex::new(Vec::new()));
    let h = headers.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let h = h.clone();
            thread::spawn(move || {
                // The PROXY v1 line first, then echo.
                let mut line = Vec::new();
                let mut b = [0u8; 1];
                while !line.ends_with(b"\r\n") && c.read_exact(&mut b).is_ok() {
                    line.push(b[0]);
                }
                h.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&line).into_owned());
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c.shutdown(Shutdown::Write);
            });
        }
    });
    let (_s, _c, remote) = plugin_tunnel(
        &format!("type = \"unix_domain_socket\"\nunixPath = \"{}\"", p(&sock)),
        "transport.proxyProtocolVersion = \"v1\"",
    );
    let mut user = TcpStream::connect(("127.0.0.1", remote)).unwrap();
    user.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let user_port = user.local_addr().unwrap().port();
    user.write_all(b"through the unix socket").unwrap();
    let mut back = [0u8; 23];
    user.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"through the unix socket");
    // (The readiness probe's connection may have come through too, with its own port.)
    let want = format!("PROXY TCP4 127.0.0.1 127.0.0.1 {user_port} {remote}\r\n");
    let seen = headers.lock().unwrap().clone();
    assert!(seen.contains(&want), "{seen:?}");
}

#[test]
fn http2http_rewrites_host_and_sets_headers() {
    let web = http_backend();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"http2http\"\nlocalAddr = \"127.0.0.1:{}\"\nhostHeaderRewrite = \"inside.example\"\nrequestHeaders.set.x-from-where = \"frp\"",
            web.port
        ),
        "",
    );
    let (code, body) = curl(
        &["-H", "X-Forwarded-For: 9.9.9.9"],
        &format!("http://127.0.0.1:{remote}/some/path?q=1"),
    );
    assert_eq!((code, body.as_str()), (200, PAGE));
    let head = web.last();
    assert!(
        head.starts_with("get /some/path?q=1 http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nhost: inside.example\r\n"), "{head}");
    assert!(head.contains("\r\nx-from-where: frp\r\n"), "{head}");
    // Go's ReverseProxy (Rewrite) drops the user's X-Forwarded-*; http2http adds none.
    assert!(!head.contains("x-forwarded-for"), "{head}");
}

#[test]
fn http2https_reaches_a_tls_backend() {
    let web = https_backend();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"http2https\"\nlocalAddr = \"127.0.0.1:{}\"\nhostHeaderRewrite = \"tls.example\"\n[proxies.plugin.requestHeaders.set]\nx-via = \"http2https\"",
            web.port
        ),
        "",
    );
    let (code, body) = curl(
        &["-H", "X-Forwarded-For: 9.9.9.9"],
        &format!("http://127.0.0.1:{remote}/over/tls"),
    );
    assert_eq!((code, body.as_str()), (200, PAGE));
    let head = web.last();
    assert!(head.starts_with("get /over/tls http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: tls.example\r\n"), "{head}");
    assert!(head.contains("\r\nx-via: http2https\r\n"), "{head}");
    // http2https passes the user's X-Forwarded-For through unchanged, as frp does.
    assert!(head.contains("\r\nx-forwarded-for: 9.9.9.9\r\n"), "{head}");
}

#[test]
fn https2http_terminates_tls_with_a_self_signed_certificate() {
    let web = http_backend();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"https2http\"\nlocalAddr = \"127.0.0.1:{}\"\nrequestHeaders.set.x-from-where = \"frp\"",
            web.port
        ),
        "",
    );
    let url = format!("https://127.0.0.1:{remote}/secure?k=v");
    let (ok, out) = curl_raw(&["-k", "--http1.1", "-H", "X-Forwarded-For: 10.1.1.1", &url]);
    assert!(ok && out == PAGE, "{out}");
    let head = web.last();
    assert!(head.starts_with("get /secure?k=v http/1.1\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nhost: 127.0.0.1:{remote}\r\n")),
        "{head}"
    );
    assert!(head.contains("\r\nx-from-where: frp\r\n"), "{head}");
    // SetXForwarded: the user's address appended, the original host, the scheme.
    assert!(
        head.contains("\r\nx-forwarded-for: 10.1.1.1, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nx-forwarded-host: 127.0.0.1:{remote}\r\n")),
        "{head}"
    );
    assert!(head.contains("\r\nx-forwarded-proto: https\r\n"), "{head}");

    // HTTP/2 is offered by default; its split Cookie fields reach HTTP/1.1 as one.
    let (ok, out) = curl_raw(&[
        "-k",
        "--http2",
        "-H",
        "Cookie: a=1",
        "-H",
        "Cookie: b=2",
        "-w",
        "\n%{http_version}",
        &url,
    ]);
    assert!(ok && out == format!("{PAGE}\n2"), "{out}");
    let head = web.last();
    assert!(head.contains("\r\ncookie: a=1; b=2\r\n"), "{head}");

    // A request for another host than the TLS server name: 421.
    let sni = format!("a.example:{remote}:127.0.0.1");
    let (_, out) = curl_raw(&[
        "-k",
        "--resolve",
        &sni,
        "-H",
        "Host: b.example",
        "-w",
        "%{http_code}",
        &format!("https://a.example:{remote}/"),
    ]);
    assert_eq!(out, "421");
}

#[test]
fn https2https_uses_the_configured_certificate() {
    let web = https_backend();
    let (_dir, crt, key, _) = cert_files();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"https2https\"\nlocalAddr = \"127.0.0.1:{}\"\ncrtPath = \"{}\"\nkeyPath = \"{}\"\nhostHeaderRewrite = \"backend.example\"\nenableHTTP2 = false",
            web.port,
            p(&crt),
            p(&key)
        ),
        "",
    );
    // Verified against our certificate: the plugin presents the configured one.
    let (ok, out) = curl_raw(&[
        "--cacert",
        &p(&crt),
        "--resolve",
        &format!("localhost:{remote}:127.0.0.1"),
        "-w",
        "\n%{http_version}",
        &format!("https://localhost:{remote}/both/sides"),
    ]);
    assert!(ok && out == format!("{PAGE}\n1.1"), "{out}");
    let head = web.last();
    assert!(head.starts_with("get /both/sides http/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: backend.example\r\n"), "{head}");
    assert!(
        head.contains(&format!("\r\nx-forwarded-host: localhost:{remote}\r\n")),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-forwarded-for: 127.0.0.1\r\n"),
        "{head}"
    );
}

#[test]
fn tls2raw_splices_plaintext_to_the_local_service() {
    let echo = echo_server();
    let (_dir, crt, key, der) = cert_files();
    let (_s, _c, remote) = plugin_tunnel(
        &format!(
            "type = \"tls2raw\"\nlocalAddr = \"127.0.0.1:{}\"\ncrtPath = \"{}\"\nkeyPath = \"{}\"",
            echo.port,
            p(&crt),
            p(&key)
        ),
        "",
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", remote)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let msg = b"raw bytes under tls\n".repeat(1000);
    tls.write_all(&msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(back, msg);
    assert_eq!(echo.accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn virtual_net_and_broken_plugins_are_refused_at_start() {
    let bind = next_port();
    let toml = |plugin: &str| {
        FrpcToml::new(bind)
            .default_login_fail_exit()
            .proxy(
                Proxy::new("v", "tcp")
                    .line("remotePort = 1")
                    .line(format!("[proxies.plugin]\n{plugin}")),
            )
            .to_string()
    };
    let mut frpc = start_frpc(&toml("type = \"virtual_net\""));
    assert_eq!(frpc.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(
        frpc.log_text()
            .contains("proxy [v]: plugin virtual_net is not supported by this frpc build yet"),
        "{}",
        frpc.log_text()
    );
    let mut frpc = start_frpc(&toml(
        "type = \"tls2raw\"\nlocalAddr = \"127.0.0.1:1\"\ncrtPath = \"/nonexistent/c.crt\"\nkeyPath = \"/nonexistent/c.key\"",
    ));
    assert_eq!(frpc.wait_exit(Duration::from_secs(10)), Some(1));
    assert!(
        frpc.log_text()
            .contains("proxy [v]: plugin tls2raw: gen TLS config error"),
        "{}",
        frpc.log_text()
    );
}

#[test]
fn http2http_carries_an_upgraded_connection() {
    // A backend that switches protocols, then echoes (what a WebSocket server looks like here).
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let s = s.clone();
            thread::spawn(move || {
                let head = read_head(&mut c);
                s.lock().unwrap().push(head.to_lowercase());
                let _ = c.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n",
                );
                let mut buf = [0u8; 4096];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let (_s, _c, remote) = plugin_tunnel(
        &format!("type = \"http2http\"\nlocalAddr = \"127.0.0.1:{port}\""),
        "",
    );
    let mut user = TcpStream::connect(("127.0.0.1", remote)).unwrap();
    user.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    user.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let head = read_head(&mut user);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    user.write_all(b"after the upgrade").unwrap();
    let mut back = [0u8; 17];
    user.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"after the upgrade");
    let backend_saw = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        backend_saw.contains("\r\nconnection: upgrade\r\n"),
        "{backend_saw}"
    );
    assert!(
        backend_saw.contains("\r\nupgrade: echo\r\n"),
        "{backend_saw}"
    );
}

fn read_head(s: &mut impl Read) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 && s.read_exact(&mut b).is_ok() {
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}
