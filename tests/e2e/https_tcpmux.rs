//! https proxies (routed on the TLS server name, never terminated by frps) and tcpmux proxies
//! (HTTP CONNECT routing, proxy auth, passthrough) through the real binaries.

use crate::common;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::backend::{read_request, Client};
use common::*;

/// A local HTTPS server for `name` with its own self-signed certificate; it answers every
/// request with `hello from <name> sni=<server name it was asked for>`.
fn tls_backend(name: &str) -> u16 {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.key_pair.serialize_der()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let cfg = Arc::new(cfg);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let name = name.to_string();
    thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(tcp) = conn else { continue };
            let (cfg, name) = (cfg.clone(), name.clone());
            thread::spawn(move || {
                let Ok(server) = rustls::ServerConnection::new(cfg) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(server, tcp);
                let mut r = BufReader::new(&mut tls);
                if read_request(&mut r).is_none() {
                    return;
                }
                drop(r);
                let sni = tls.conn.server_name().unwrap_or("").to_string();
                let body = format!("hello from {name} sni={sni}");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

/// A ClientHello for `name`, as rustls writes it.
fn client_hello(name: &str) -> Vec<u8> {
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    let server = rustls::pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), server).unwrap();
    let mut out = Vec::new();
    conn.write_tls(&mut out).unwrap();
    out
}

fn curl_https(port: u16, name: &str) -> (u16, String) {
    let resolve = format!("{name}:{port}:127.0.0.1");
    curl(
        &["-k", "--resolve", &resolve],
        &format!("https://{name}:{port}/"),
    )
}

fn proxy(name: &str, kind: &str, port: u16, extra: &str) -> String {
    Proxy::new(name, kind).local(port).line(extra).to_string()
}

/// frpc with `proxies` (one or more sections).
fn frpc_with(bind: u16, proxies: &str) -> Daemon {
    FrpcToml::new(bind).section(proxies).start()
}

#[test]
fn https_routes_on_the_server_name_without_terminating_tls() {
    let bind = next_port();
    let vhost = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\nvhostHTTPSPort = {vhost}\nsubDomainHost = \"frps.test\""),
    );
    let a = tls_backend("a.test");
    let b = tls_backend("b.test");
    let frpc = frpc_with(
        bind,
        &format!(
            "{}{}",
            proxy("sa", "https", a, "customDomains = [\"a.test\"]"),
            proxy(
                "sb",
                "https",
                b,
                "subdomain = \"b\"\ncustomDomains = [\"b.test\"]"
            )
        ),
    );
    assert!(frpc.wait_log("[sa] start proxy success", Duration::from_secs(10)));
    assert!(frpc.wait_log("[sb] start proxy success", Duration::from_secs(10)));
    // Each name reaches its own server, which completes the handshake itself.
    assert_eq!(
        curl_https(vhost, "a.test"),
        (200, "hello from a.test sni=a.test".to_string())
    );
    assert_eq!(
        curl_https(vhost, "b.test"),
        (200, "hello from b.test sni=b.test".to_string())
    );
    assert_eq!(
        curl_https(vhost, "b.frps.test"),
        (200, "hello from b.test sni=b.frps.test".to_string())
    );
    // An unknown name gets the unrecognized_name alert.
    let mut c = TcpStream::connect(("127.0.0.1", vhost)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(&client_hello("nope.test")).unwrap();
    let mut alert = Vec::new();
    c.read_to_end(&mut alert).unwrap();
    assert_eq!(alert, [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70]);
    // A second proxy for a taken name is refused.
    let frpc2 = frpc_with(
        bind,
        &proxy("sc", "https", a, "customDomains = [\"a.test\"]"),
    );
    assert!(frpc2.wait_log("router config conflict", Duration::from_secs(10)));
}

#[test]
fn https_on_the_bind_port_beside_frpc() {
    let bind = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\nvhostHTTPSPort = {bind}"),
    );
    let a = tls_backend("a.test");
    // With the 0x17 first byte frpc's TLS is told apart from https users at once (frp's way);
    // without it (frp's default) frps sees no https route for frpc's server name and takes the
    // connection as frp's own TLS (frp cannot share the port then).
    let frpc1 = frpc_with(
        bind,
        &format!(
            "transport.tls.disableCustomTLSFirstByte = false
{}",
            proxy("sa", "https", a, "customDomains = [\"a.test\"]")
        ),
    );
    let frpc2 = frpc_with(
        bind,
        &proxy("sb", "https", a, "customDomains = [\"b.test\"]"),
    );
    assert!(frpc1.wait_log("[sa] start proxy success", Duration::from_secs(10)));
    assert!(frpc2.wait_log("[sb] start proxy success", Duration::from_secs(10)));
    assert_eq!(
        curl_https(bind, "a.test"),
        (200, "hello from a.test sni=a.test".to_string())
    );
    assert_eq!(
        curl_https(bind, "b.test"),
        (200, "hello from a.test sni=b.test".to_string())
    );
}

/// Send a CONNECT for `host` with optional credentials; returns the client and the status line
/// frps answered with.
fn connect(port: u16, host: &str, auth: Option<&str>) -> (Client, common::backend::Resp) {
    let mut c = Client::connect(port);
    let auth = auth
        .map(|a| {
            use base64::Engine;
            let enc = base64::engine::general_purpose::STANDARD.encode(a);
            format!("Proxy-Authorization: Basic {enc}\r\n")
        })
        .unwrap_or_default();
    c.send_raw(format!("CONNECT {host}:80 HTTP/1.1\r\nHost: {host}:80\r\n{auth}\r\n").as_bytes());
    let resp = c.read_response().expect("response");
    (c, resp)
}

#[test]
fn tcpmux_connect_routing_and_auth() {
    let bind = next_port();
    let mux = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\ntcpmuxHTTPConnectPort = {mux}"),
    );
    let echo = echo_server();
    let frpc = frpc_with(
        bind,
        &format!(
            "{}{}",
            proxy(
                "open",
                "tcpmux",
                echo.port,
                "multiplexer = \"httpconnect\"\ncustomDomains = [\"mux.test\"]"
            ),
            proxy(
                "locked",
                "tcpmux",
                echo.port,
                "multiplexer = \"httpconnect\"\ncustomDomains = [\"locked.test\"]\nhttpUser = \"u\"\nhttpPassword = \"p\""
            )
        ),
    );
    assert!(frpc.wait_log("[open] start proxy success", Duration::from_secs(10)));
    assert!(frpc.wait_log("[locked] start proxy success", Duration::from_secs(10)));

    // Exactly frp's 200, then the bytes of the tunnel.
    let mut raw = TcpStream::connect(("127.0.0.1", mux)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(b"CONNECT mux.test:80 HTTP/1.1\r\nHost: mux.test:80\r\n\r\n")
        .unwrap();
    let mut ok = vec![0u8; 38];
    raw.read_exact(&mut ok).unwrap();
    assert_eq!(ok, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    raw.write_all(b"through tcpmux").unwrap();
    let mut back = [0u8; 14];
    raw.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"through tcpmux");

    // Proxy auth: 407 (and no 200 before it) without or with wrong credentials.
    for auth in [None, Some("u:wrong")] {
        let (_, resp) = connect(mux, "locked.test", auth);
        assert_eq!(resp.status, 407, "{auth:?}");
        assert_eq!(
            resp.header("proxy-authenticate"),
            Some("Basic realm=\"Restricted\"")
        );
    }
    let (mut c, resp) = connect(mux, "locked.test", Some("u:p"));
    assert_eq!(resp.status, 200);
    assert_eq!(c.echo(b"authorised"), b"authorised");

    // Unknown host: frp's 404 page.
    let (_, resp) = connect(mux, "nope.test", None);
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("server"), Some("frp/0.65.0"));
    assert!(resp.body.contains("The page you requested was not found."));
}

#[test]
fn tcpmux_passthrough_replays_the_request() {
    let bind = next_port();
    let mux = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\ntcpmuxHTTPConnectPort = {mux}\ntcpmuxPassthrough = true"),
    );
    let request = b"CONNECT pass.test:80 HTTP/1.1\r\nHost: pass.test:80\r\n\r\n";
    let (port, seen) = recording_server(request.len());
    let frpc = frpc_with(
        bind,
        &proxy(
            "pass",
            "tcpmux",
            port,
            "multiplexer = \"httpconnect\"\ncustomDomains = [\"pass.test\"]",
        ),
    );
    assert!(frpc.wait_log("[pass] start proxy success", Duration::from_secs(10)));
    let mut raw = TcpStream::connect(("127.0.0.1", mux)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.write_all(request).unwrap();
    raw.write_all(b"after").unwrap();
    // No 200 from frps: the backend sees the CONNECT itself, then the echo comes back.
    let mut back = [0u8; 5];
    raw.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"after");
    assert_eq!(seen.lock().unwrap()[0], request);
}
