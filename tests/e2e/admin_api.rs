//! frpc's admin API and the commands that use it: `frpc status`, `frpc reload` (the same
//! reload as SIGHUP), `frpc stop`, plus `GET/PUT /api/config` and basic auth.

use crate::common;

use std::process::{Command, Output};
use std::time::Duration;

use common::*;

fn frpc_cmd(sub: &str, config: &std::path::Path) -> Output {
    Command::new(frpc_bin())
        .args([sub, "-c"])
        .arg(config)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

/// frpc (frp's default loginFailExit) with its admin API on `admin`, user admin, password pw.
fn client(bind: u16, admin: u16) -> FrpcToml {
    FrpcToml::new(bind)
        .default_login_fail_exit()
        .admin(admin)
        .line("webServer.user = \"admin\"\nwebServer.password = \"pw\"")
}

#[test]
fn status_reload_config_and_stop_through_the_admin_api() {
    let bind = next_port();
    let _frps = start_frps(
        bind,
        "auth.token = \"t\"\nallowPorts = [{ start = 1024, end = 65535 }]",
    );
    let echo = echo_server();
    let (admin, p1, p2) = (next_port(), next_port(), next_port());
    let mut frpc = client(bind, admin)
        .proxy(Proxy::tcp("one", echo.port, p1))
        .start();
    assert!(wait_echo(p1, Duration::from_secs(10)));
    let url = |path: &str| format!("http://127.0.0.1:{admin}{path}");

    // Auth: none → 401 with the challenge; /healthz is open.
    let (code, _) = curl(&[], &url("/api/status"));
    assert_eq!(code, 401);
    assert_eq!(curl(&[], &url("/healthz")).0, 200);
    let (code, body) = curl(&["-u", "admin:pw"], &url("/api/status"));
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let one = &v["tcp"][0];
    assert_eq!(one["name"], "one");
    assert_eq!(one["type"], "tcp");
    assert_eq!(one["status"], "running");
    assert_eq!(one["err"], "");
    assert_eq!(one["local_addr"], format!("127.0.0.1:{}", echo.port));
    assert_eq!(one["plugin"], "");
    assert_eq!(one["remote_addr"], format!("127.0.0.1:{p1}"));

    // frpc status prints frp's table.
    let out = frpc_cmd("status", &frpc.config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("Proxy Status...\n\nTCP\nName"), "{table}");
    assert!(
        table.contains("one") && table.contains("running"),
        "{table}"
    );

    // GET /api/config returns the file as written.
    let (code, body) = curl(&["-u", "admin:pw"], &url("/api/config"));
    assert_eq!(code, 200);
    assert_eq!(body, std::fs::read_to_string(&frpc.config).unwrap());

    // PUT /api/config writes without reloading; frpc reload applies it.
    let new = client(bind, admin)
        .proxy(Proxy::tcp("one", echo.port, p1))
        .proxy(Proxy::tcp("two", echo.port, p2))
        .to_string();
    let body_file = frpc.config.with_extension("new");
    std::fs::write(&body_file, &new).unwrap();
    let (code, body) = curl(
        &[
            "-u",
            "admin:pw",
            "-X",
            "PUT",
            "--data-binary",
            &format!("@{}", body_file.display()),
        ],
        &url("/api/config"),
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(std::fs::read_to_string(&frpc.config).unwrap(), new);
    assert!(!echo_once(p2), "PUT alone does not reload");
    let mut live = std::net::TcpStream::connect(("127.0.0.1", p1)).unwrap();
    let out = frpc_cmd("reload", &frpc.config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "reload success\n");
    assert!(wait_echo(p2, Duration::from_secs(10)));
    {
        use std::io::{Read, Write};
        live.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        live.write_all(b"still here").unwrap();
        let mut buf = [0u8; 10];
        live.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"still here", "connection kept across the API reload");
    }

    // An empty PUT is refused; a broken file makes `frpc reload` fail with the API's 400 text.
    let (code, body) = curl(&["-u", "admin:pw", "-X", "PUT"], &url("/api/config"));
    assert_eq!((code, body.as_str()), (400, "body can't be empty"));
    let good = std::fs::read_to_string(&frpc.config).unwrap();
    std::fs::write(&frpc.config, good.replace("localPort", "localPrt")).unwrap();
    let (code, body) = curl(&["-u", "admin:pw"], &url("/api/reload?strictConfig=true"));
    assert_eq!(code, 400);
    assert!(body.contains("localPrt"), "{body}");
    std::fs::write(&frpc.config, &good).unwrap();
    assert!(echo_once(p1) && echo_once(p2), "nothing changed");

    // frpc stop: answered, then frpc exits 0.
    let out = frpc_cmd("stop", &frpc.config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "stop success\n");
    assert_eq!(frpc.wait_exit(Duration::from_secs(10)), Some(0));
}

#[test]
fn wrong_credentials_are_refused() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let admin = next_port();
    let frpc = client(bind, admin).start();
    wait_port(admin, Duration::from_secs(10));
    let mut wrong = std::fs::read_to_string(&frpc.config).unwrap();
    wrong = wrong.replace("password = \"pw\"", "password = \"nope\"");
    let other = frpc.config.with_file_name("wrong.toml");
    std::fs::write(&other, wrong).unwrap();
    let out = frpc_cmd("status", &other);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("api status code [401]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_admin_api_serves_https_with_its_status_page_and_frpc_status_uses_it() {
    let bind = next_port();
    let _frps = start_frps(bind, "auth.token = \"t\"");
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
    let echo = echo_server();
    let (admin, remote) = (next_port(), next_port());
    let tls = format!(
        "webServer.tls.certFile = \"{}\"\nwebServer.tls.keyFile = \"{}\"\n",
        c.display(),
        k.display()
    );
    let frpc = client(bind, admin)
        .line(tls)
        .proxy(Proxy::tcp("web", echo.port, remote))
        .start();
    assert!(wait_echo(remote, Duration::from_secs(10)));
    let url = |p: &str| format!("https://127.0.0.1:{admin}{p}");

    // The status page: / redirects to it; it is one HTML file that reads /api/status.
    let (code, _) = curl(&["-k", "-u", "admin:pw"], &url("/"));
    assert_eq!(code, 301);
    let (code, page) = curl(&["-k", "-u", "admin:pw"], &url("/static/"));
    assert_eq!(code, 200);
    assert!(page.contains("<title>frpc status</title>") && page.contains("/api/status"));
    assert_eq!(
        curl(&["-k"], &url("/static/")).0,
        401,
        "the page needs the credentials too"
    );

    // `frpc status` speaks TLS when the config has webServer.tls.
    let out = frpc_cmd("status", &frpc.config);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("TCP") && table.contains("web") && table.contains("running"),
        "{table}"
    );
}
