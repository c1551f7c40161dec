//! http proxies through the real binaries: frps's vhost routing table (domains, wildcards,
//! subdomains, locations, route by user), basic auth, header rewriting, X-Forwarded-*, 404 and
//! 504, WebSocket and CONNECT tunnels, h2c, keep-alive reuse and round-robin groups.

use crate::common;

use std::time::Duration;

use common::backend::{http_backend, Backend, Client};
use common::*;

/// One `[[proxies]]` block of type http.
fn http_proxy(name: &str, port: u16, extra: &str) -> String {
    Proxy::new(name, "http").local(port).line(extra).to_string()
}

/// frpc with `proxies` (one or more sections).
fn frpc_with(bind: u16, proxies: &str) -> Daemon {
    FrpcToml::new(bind).section(proxies).start()
}

/// GET through the vhost port with curl, as `host`.
fn get(vhost: u16, host: &str, path: &str, args: &[&str]) -> (u16, String) {
    let host_header = format!("Host: {host}");
    let mut a = vec!["-H", host_header.as_str()];
    a.extend_from_slice(args);
    curl(&a, &format!("http://127.0.0.1:{vhost}{path}"))
}

/// Wait until `host` answers through the vhost port with something other than 404.
fn wait_route(vhost: u16, host: &str, path: &str) {
    wait_until(
        Duration::from_secs(10),
        format_args!("route {host}{path} comes up"),
        || get(vhost, host, path, &[]).0 != 404,
    );
}

struct Setup {
    vhost: u16,
    _frps: Daemon,
    _frpc: Daemon,
    _backends: Vec<Backend>,
}

/// frps with a vhost port and `frps_extra`, frpc with one http proxy per (name, extra).
fn setup(frps_extra: &str, proxies: &[(&str, &str)]) -> Setup {
    let bind = next_port();
    let vhost = next_port();
    let frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\nvhostHTTPPort = {vhost}\n{frps_extra}"),
    );
    let mut blocks = String::new();
    let mut backends = Vec::new();
    for (name, extra) in proxies {
        let b = http_backend(name);
        blocks.push_str(&http_proxy(name, b.port, extra));
        backends.push(b);
    }
    let frpc = frpc_with(bind, &blocks);
    for (name, _) in proxies {
        assert!(
            frpc.wait_log(
                &format!("[{name}] start proxy success"),
                Duration::from_secs(10)
            ),
            "{name} registered:\n{}",
            frpc.log_text()
        );
    }
    Setup {
        vhost,
        _frps: frps,
        _frpc: frpc,
        _backends: backends,
    }
}

#[test]
fn routing_table_domains_wildcards_subdomains_locations_users() {
    let s = setup(
        "subDomainHost = \"frps.test\"",
        &[
            ("root", "customDomains = [\"a.test\"]"),
            (
                "pic",
                "customDomains = [\"a.test\"]\nlocations = [\"/pic\", \"/img\"]",
            ),
            ("wild", "customDomains = [\"*.wild.test\"]"),
            ("sub", "subdomain = \"app\""),
            ("any", "customDomains = [\"*\"]"),
            (
                "bob",
                "customDomains = [\"u.test\"]\nrouteByHTTPUser = \"bob\"\nhttpUser = \"bob\"\nhttpPassword = \"pw\"",
            ),
            ("others", "customDomains = [\"u.test\"]"),
        ],
    );
    let v = s.vhost;
    let who = |host: &str, path: &str, args: &[&str]| {
        let (code, body) = get(v, host, path, args);
        assert_eq!(code, 200, "{host}{path}: {body}");
        body.split(' ').next().unwrap_or("").to_string()
    };
    assert_eq!(who("a.test", "/", &[]), "root");
    assert_eq!(
        who("A.Test:80", "/x/y", &[]),
        "root",
        "host is canonicalised"
    );
    assert_eq!(who("a.test", "/pic", &[]), "pic");
    assert_eq!(
        who("a.test", "/picture/1", &[]),
        "pic",
        "plain prefix match"
    );
    assert_eq!(who("a.test", "/img/2", &[]), "pic");
    assert_eq!(who("x.wild.test", "/", &[]), "wild");
    assert_eq!(who("y.x.wild.test", "/", &[]), "wild");
    assert_eq!(who("app.frps.test", "/", &[]), "sub");
    assert_eq!(who("nobody.else", "/", &[]), "any", "catch-all");
    assert_eq!(who("wild.test", "/", &[]), "any", "*.test is never tried");
    assert_eq!(who("u.test", "/", &["-u", "bob:pw"]), "bob");
    assert_eq!(who("u.test", "/", &["-u", "alice:x"]), "others");
    assert_eq!(who("u.test", "/", &[]), "others");
    // The route bob's user picks needs bob's password.
    let (code, _) = get(v, "u.test", "/", &["-u", "bob:wrong"]);
    assert_eq!(code, 401);

    // The backend saw the request the way frp rewrites it.
    let (_, body) = get(v, "a.test", "/q?x=1", &["-H", "X-Forwarded-For: 10.9.8.7"]);
    assert!(body.starts_with("root GET /q?x=1\n"), "{body}");
    assert!(body.contains("\nHost: a.test\n"), "{body}");
    assert!(
        body.contains("\nX-Forwarded-For: 10.9.8.7, 127.0.0.1\n"),
        "{body}"
    );
    assert!(body.contains("\nX-Forwarded-Host: a.test\n"), "{body}");
    assert!(body.contains("\nX-Forwarded-Proto: http\n"), "{body}");
}

#[test]
fn auth_rewrites_404_custom_page_and_h2c() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("404.html");
    std::fs::write(&page, "<h1>custom not found</h1>").unwrap();
    let s = setup(
        &format!("custom404Page = \"{}\"", page.display()),
        &[
            (
                "auth",
                "customDomains = [\"auth.test\"]\nhttpUser = \"u\"\nhttpPassword = \"p\"",
            ),
            (
                "rw",
                "customDomains = [\"rw.test\"]\nhostHeaderRewrite = \"backend.local\"\nrequestHeaders.set.x-from-frp = \"yes\"\nresponseHeaders.set.x-resp = \"set\"",
            ),
        ],
    );
    let v = s.vhost;
    // Basic auth: 401 with the challenge, then 200 with the right pair.
    let out = std::process::Command::new("curl")
        .args(["-s", "-i", "-H", "Host: auth.test"])
        .arg(format!("http://127.0.0.1:{v}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(
        text.contains("www-authenticate: Basic realm=\"Restricted\""),
        "{text}"
    );
    assert!(text.ends_with("Unauthorized\n"), "{text}");
    assert_eq!(get(v, "auth.test", "/", &["-u", "u:wrong"]).0, 401);
    let (code, body) = get(v, "auth.test", "/", &["-u", "u:p"]);
    assert_eq!(code, 200);
    assert!(body.starts_with("auth GET /"), "{body}");
    assert!(
        body.contains("\nAuthorization: Basic dTpw\n"),
        "Authorization is forwarded: {body}"
    );

    // Host rewrite and header set, both directions.
    let out = std::process::Command::new("curl")
        .args(["-s", "-i", "-H", "Host: rw.test", "-H", "X-From-Frp: no"])
        .arg(format!("http://127.0.0.1:{v}/r"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\nHost: backend.local\n"), "{text}");
    assert!(text.contains("\nX-From-Frp: yes\n"), "{text}");
    assert!(text.contains("\nX-Forwarded-Host: rw.test\n"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("\r\nx-resp: set\r\n"),
        "{text}"
    );

    // Unknown host: the custom 404 page, re-read on every use.
    let (code, body) = get(v, "nowhere.test", "/", &[]);
    assert_eq!((code, body.as_str()), (404, "<h1>custom not found</h1>"));
    std::fs::write(&page, "<h1>edited</h1>").unwrap();
    assert_eq!(get(v, "nowhere.test", "/", &[]).1, "<h1>edited</h1>");

    // h2c with prior knowledge reaches the HTTP/1.1 backend.
    let resolve = format!("auth.test:{v}:127.0.0.1");
    let (code2, body2) = curl(
        &[
            "--http2-prior-knowledge",
            "--resolve",
            &resolve,
            "-u",
            "u:p",
        ],
        &format!("http://auth.test:{v}/h2"),
    );
    assert_eq!(code2, 200, "h2c: {body2}");
    assert!(body2.starts_with("auth GET /h2\n"), "{body2}");
    assert!(body2.contains("\nHost: auth.test"), "{body2}");
}

#[test]
fn timeout_is_504_and_the_builtin_404_page() {
    let s = setup(
        "vhostHTTPTimeout = 1",
        &[("slow", "customDomains = [\"slow.test\"]")],
    );
    let t = std::time::Instant::now();
    let (code, body) = get(s.vhost, "slow.test", "/slow", &[]);
    assert_eq!((code, body.as_str()), (504, ""));
    assert!(
        t.elapsed() < Duration::from_millis(2900),
        "{:?}",
        t.elapsed()
    );
    let (code, body) = get(s.vhost, "other.test", "/", &[]);
    assert_eq!(code, 404);
    assert!(
        body.contains("The page you requested was not found."),
        "{body}"
    );
}

#[test]
fn websocket_and_connect_tunnels() {
    let s = setup("", &[("ws", "customDomains = [\"ws.test\"]")]);
    let mut c = Client::connect(s.vhost);
    c.send_raw(
        b"GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 101);
    assert_eq!(resp.header("upgrade"), Some("websocket"));
    for i in 0..20 {
        let msg = format!("frame {i} through the vhost\n");
        assert_eq!(c.echo(msg.as_bytes()), msg.as_bytes());
    }

    let mut c = Client::connect(s.vhost);
    c.send_raw(b"CONNECT ws.test:443 HTTP/1.1\r\nHost: ws.test:443\r\n\r\n");
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(c.echo(b"tunnelled bytes"), b"tunnelled bytes");

    let mut c = Client::connect(s.vhost);
    c.send_raw(b"CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n");
    let resp = c.read_response().unwrap();
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("content-type"), Some("text/html"));
    assert_eq!(resp.header("server"), Some("frp/0.65.0"));
}

#[test]
fn keep_alive_reuses_work_connections() {
    let s = setup("", &[("ka", "customDomains = [\"ka.test\"]")]);
    let v = s.vhost;
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(v);
                for i in 0..125 {
                    let path = format!("/t{t}/r{i}");
                    let r = c.get("ka.test", &path, "").expect("response");
                    assert_eq!(r.status, 200);
                    assert!(
                        r.body.starts_with(&format!("ka GET {path}\n")),
                        "{}",
                        r.body
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // 1,000 requests on 8 user connections: frps kept its work connections to the backend
    // alive instead of opening one per request.
    let n = s._backends[0]
        .connections
        .load(std::sync::atomic::Ordering::SeqCst);
    // (Without reuse it would be 1,000; the bound allows for releases racing new requests.)
    assert!(n <= 32, "{n} backend connections for 1000 requests");
}

#[test]
fn http_group_round_robin_and_shared_bind_port() {
    let bind = next_port();
    // vhost http on the bind port itself: frpc's TLS (0x17 first byte) and plain HTTP share it.
    let _frps = start_frps(bind, &format!("auth.token = \"t\"\nvhostHTTPPort = {bind}"));
    let a = http_backend("a");
    let b = http_backend("b");
    let group = "loadBalancer.group = \"web\"\nloadBalancer.groupKey = \"k\"\ncustomDomains = [\"lb.test\"]";
    let frpc1 = frpc_with(bind, &http_proxy("a", a.port, group));
    let frpc2 = frpc_with(bind, &http_proxy("b", b.port, group));
    assert!(frpc1.wait_log("[a] start proxy success", Duration::from_secs(10)));
    assert!(frpc2.wait_log("[b] start proxy success", Duration::from_secs(10)));
    wait_route(bind, "lb.test", "/");
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (code, body) = get(bind, "lb.test", "/", &[]);
        assert_eq!(code, 200);
        seen.push(body.split(' ').next().unwrap_or("").to_string());
    }
    let from_a = seen.iter().filter(|s| *s == "a").count();
    assert_eq!(from_a, 3, "round-robin: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "alternates: {seen:?}"
    );

    // A member with the wrong key is refused with frp's text.
    let c = http_backend("c");
    let frpc3 = frpc_with(
        bind,
        &http_proxy(
            "c",
            c.port,
            "loadBalancer.group = \"web\"\nloadBalancer.groupKey = \"bad\"\ncustomDomains = [\"lb.test\"]",
        ),
    );
    assert!(frpc3.wait_log("group auth failed", Duration::from_secs(10)));

    // One member leaves: the other serves everything.
    drop(frpc1);
    wait_until(Duration::from_secs(10), "b takes over", || {
        (0..4).all(|_| get(bind, "lb.test", "/", &[]).1.starts_with("b "))
    });
}

#[test]
fn proxy_style_requests_authenticate_with_proxy_authorization_only() {
    // frp v0.68.1's fix of an auth bypass (its e2e spec "HTTP proxy mode uses proxy auth
    // consistently"): with routeByHTTPUser, a proxy-style request (absolute URI) that carried
    // the right Authorization but no Proxy-Authorization was let through.
    let s = setup(
        "",
        &[(
            "protected",
            "customDomains = [\"normal.example.com\"]\nrouteByHTTPUser = \"alice\"\nhttpUser = \"alice\"\nhttpPassword = \"secret\"",
        )],
    );
    let v = s.vhost;
    let host = "normal.example.com";
    // Origin-form requests: Authorization routes and authenticates.
    assert_eq!(get(v, host, "/", &[]).0, 404, "direct, no auth: no route");
    let (code, body) = get(v, host, "/", &["-u", "alice:secret"]);
    assert_eq!(code, 200, "direct, right auth: {body}");
    assert!(body.starts_with("protected GET /"), "{body}");
    assert_eq!(get(v, host, "/", &["-u", "alice:wrong"]).0, 401);
    let proxy_auth = "Proxy-Authorization: Basic YWxpY2U6c2VjcmV0"; // alice:secret
    assert_eq!(
        get(v, host, "/", &["-u", "alice:wrong", "-H", proxy_auth]).0,
        401,
        "Proxy-Authorization does not authenticate an origin-form request"
    );
    // Proxy-style requests: Proxy-Authorization authenticates, with 407 and the challenge.
    let via = |proxy_user: &str, args: &[&str]| {
        let proxy = if proxy_user.is_empty() {
            format!("http://127.0.0.1:{v}")
        } else {
            format!("http://{proxy_user}@127.0.0.1:{v}")
        };
        let mut a = vec!["-i", "-x", proxy.as_str()];
        a.extend_from_slice(args);
        curl(&a, &format!("http://{host}/"))
    };
    let (code, text) = via("alice:secret", &[]);
    assert_eq!(code, 200, "proxy, right proxy auth: {text}");
    assert!(text.contains("protected GET"), "{text}");
    let (code, text) = via("alice:wrong", &[]);
    assert_eq!(code, 407, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("proxy-authenticate: basic realm=\"restricted\""),
        "{text}"
    );
    assert_eq!(
        via("", &["-u", "alice:secret"]).0,
        407,
        "the bypass: Authorization alone does not authenticate a proxy-style request"
    );
    assert_eq!(via("alice:wrong", &["-u", "alice:secret"]).0, 407);
}

#[test]
fn two_host_headers_are_a_bad_request() {
    use std::io::{Read, Write};
    let s = setup("", &[("one", "customDomains = [\"a.test\"]")]);
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.vhost)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(
        answer.ends_with("400 Bad Request: too many Host headers"),
        "{answer}"
    );
}
