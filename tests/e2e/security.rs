//! Hardening against hostile peers and unsafe setups (issue: security hardening): what the
//! adversarial review of the release build found, each reproduced against the real binaries.

use crate::common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use frp::proto::crypto::{auth_key, derive_key};
use frp::proto::msg::{self, Message};
use frp::proto::{read_msg, write_msg};
use frp::transport::mux::{Mode, MuxConfig, Session};
use frp::transport::wrap::CryptoStream;
use frp::transport::BoxStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use common::*;

const UP: Duration = Duration::from_secs(20);

/// The accept-queue length (`ss`'s Send-Q of a listening socket) of every TCP listener on
/// 127.0.0.1:`port`.
fn backlog(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
    text.lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port} ")))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|q| q.parse().ok())
}

#[test]
fn every_listener_asks_for_the_systems_largest_accept_queue() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let [bind, http, https, mux, dash, admin, remote, visitor] = next_ports();
    let _frps = FrpsToml::new(bind)
        .line(format!(
            "proxyBindAddr = \"127.0.0.1\"\nvhostHTTPPort = {http}\nvhostHTTPSPort = {https}\ntcpmuxHTTPConnectPort = {mux}"
        ))
        .dashboard(dash)
        .start();
    let echo = echo_server();
    let frpc = FrpcToml::new(bind)
        .admin(admin)
        .proxy(Proxy::tcp("t", echo.port, remote))
        .proxy(
            Proxy::new("s", "stcp")
                .local(echo.port)
                .line("secretKey = \"k\""),
        )
        .section(Visitor::new("v", "stcp", "s").line(format!(
            "secretKey = \"k\"\nbindAddr = \"127.0.0.1\"\nbindPort = {visitor}"
        )))
        .start();
    assert!(wait_echo(remote, UP), "{}", frpc.log_text());
    wait_port(visitor, UP);
    wait_port(admin, UP);
    for (what, port) in [
        ("frps bindPort", bind),
        ("vhostHTTPPort", http),
        ("vhostHTTPSPort", https),
        ("tcpmuxHTTPConnectPort", mux),
        ("frps dashboard", dash),
        ("tcp proxy remotePort", remote),
        ("frpc admin API", admin),
        ("stcp visitor bindPort", visitor),
    ] {
        assert_eq!(
            backlog(port),
            Some(somaxconn),
            "{what} (port {port}) accept queue"
        );
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A TCP connection to frps's bind port from `source` (any port of it).
async fn connect_from(source: &str, bind: u16) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let to: SocketAddr = format!("127.0.0.1:{bind}").parse().unwrap();
    sock.connect(to).await.unwrap()
}

/// A client as Go frpc is one, spoken by hand: with tcpMux, every logical connection (the
/// control first) is a stream of one yamux session; without, each is a TCP connection of its
/// own from 127.0.0.1.
struct RawClient {
    bind: u16,
    session: Option<Session>,
    ctl: CryptoStream<BoxStream>,
    run_id: String,
}

impl RawClient {
    /// Log in with token "t" and no pooled work connections, then register a tcp proxy on
    /// `remote`.
    async fn login(bind: u16, muxed: bool, remote: u16) -> RawClient {
        let (session, mut conn) = if muxed {
            let s = Session::new(
                connect_from("127.0.0.1", bind).await,
                Mode::Client,
                MuxConfig::default(),
            );
            let stream: BoxStream = Box::new(s.open().await.unwrap());
            (Some(s), stream)
        } else {
            let stream: BoxStream = Box::new(connect_from("127.0.0.1", bind).await);
            (None, stream)
        };
        let ts = frp::unix_now();
        let login = msg::Login {
            version: "0.65.0".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            privilege_key: auth_key("t", ts),
            timestamp: ts,
            pool_count: 0,
            ..Default::default()
        };
        write_msg(&mut conn, &Message::Login(login)).await.unwrap();
        let Message::LoginResp(resp) = read_msg(&mut conn).await.unwrap() else {
            panic!("no LoginResp")
        };
        assert_eq!(resp.error, "");
        let mut ctl = CryptoStream::new(conn, derive_key(b"t"));
        let np = msg::NewProxy {
            proxy_name: "p".into(),
            proxy_type: "tcp".into(),
            remote_port: remote as i64,
            ..Default::default()
        };
        write_msg(&mut ctl, &Message::NewProxy(np)).await.unwrap();
        loop {
            match read_msg(&mut ctl).await.unwrap() {
                Message::NewProxyResp(r) => {
                    assert_eq!(r.error, "");
                    break;
                }
                Message::ReqWorkConn(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        RawClient {
            bind,
            session,
            ctl,
            run_id: resp.run_id,
        }
    }

    /// Wait for frps's ReqWorkConn, answer it with a work connection of our own (a stream of
    /// our session, or a new connection), and return it once frps sent StartWorkConn on it.
    async fn serve_one_work_conn(&mut self) -> BoxStream {
        loop {
            match read_msg(&mut self.ctl).await.unwrap() {
                Message::ReqWorkConn(_) => break,
                Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let mut work: BoxStream = match &self.session {
            Some(s) => Box::new(s.open().await.unwrap()),
            None => Box::new(connect_from("127.0.0.1", self.bind).await),
        };
        let nwc = msg::NewWorkConn {
            run_id: self.run_id.clone(),
            ..Default::default()
        };
        write_msg(&mut work, &Message::NewWorkConn(nwc))
            .await
            .unwrap();
        let Message::StartWorkConn(start) = read_msg(&mut work).await.unwrap() else {
            panic!("expected StartWorkConn")
        };
        assert_eq!(start.proxy_name, "p");
        work
    }
}

/// A NewWorkConn for `run_id`, sent from `source` on a connection of its own (a stream of a
/// new yamux session when `muxed`), optionally with a privilege key for token "t". Returns the
/// logical connection and the session that carries it.
async fn forged_work_conn(
    bind: u16,
    source: &str,
    muxed: bool,
    run_id: &str,
    keyed: bool,
) -> (BoxStream, Option<Session>) {
    let tcp = connect_from(source, bind).await;
    let (mut conn, session): (BoxStream, _) = if muxed {
        let s = Session::new(tcp, Mode::Client, MuxConfig::default());
        (Box::new(s.open().await.unwrap()), Some(s))
    } else {
        (Box::new(tcp), None)
    };
    let ts = frp::unix_now();
    let nwc = msg::NewWorkConn {
        run_id: run_id.into(),
        privilege_key: if keyed {
            auth_key("t", ts)
        } else {
            String::new()
        },
        timestamp: if keyed { ts } else { 0 },
    };
    write_msg(&mut conn, &Message::NewWorkConn(nwc))
        .await
        .unwrap();
    (conn, session)
}

/// frps closes `conn` without a word (no StartWorkConn: it never joined a pool).
async fn closed_without_a_word(conn: &mut BoxStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        timeout(Duration::from_secs(10), conn.read_to_end(&mut rest)).await,
        Ok(Ok(0)) | Ok(Err(_))
    ) && rest.is_empty()
}

/// A user of the proxy on `remote` sends a line; `work` (the client's side) echoes it.
async fn user_reaches(remote: u16, client: &mut RawClient) {
    let mut user = TcpStream::connect(("127.0.0.1", remote)).await.unwrap();
    user.write_all(b"hello\n").await.unwrap();
    let mut work = timeout(UP, client.serve_one_work_conn())
        .await
        .expect("frps asks the real client for a work connection");
    let mut line = [0u8; 6];
    work.read_exact(&mut line).await.unwrap();
    assert_eq!(&line, b"hello\n");
    work.write_all(b"world\n").await.unwrap();
    user.read_exact(&mut line).await.unwrap();
    assert_eq!(&line, b"world\n");
}

#[test]
fn a_work_connection_from_another_mux_session_is_refused() {
    let [bind, remote, dash] = next_ports();
    let frps = FrpsToml::new(bind).dashboard(dash).start();
    let run_id = rt().block_on(async {
        let mut client = RawClient::login(bind, true, remote).await;
        // Someone who learnt the run id offers six work connections on a session of its own,
        // from the client's own address even: each is closed, none joins the pool.
        let mut forged = Vec::new();
        for _ in 0..6 {
            forged.push(forged_work_conn(bind, "127.0.0.1", true, &client.run_id, false).await);
        }
        for (conn, _session) in forged.iter_mut() {
            assert!(
                closed_without_a_word(conn).await,
                "a forged work connection was kept"
            );
        }
        // So the proxy's user reaches the real client.
        user_reaches(remote, &mut client).await;
        // The dashboard names the client by its tag, never by its run id.
        let (code, clients) = curl(
            &["-u", "admin:pw"],
            &format!("http://127.0.0.1:{dash}/api/clients"),
        );
        assert_eq!(code, 200);
        assert!(
            clients.contains(&frp::client_tag(&client.run_id)),
            "{clients}"
        );
        assert!(!clients.contains(&client.run_id), "{clients}");
        client.run_id.clone()
    });
    // Logged once for the six, without the run id.
    let log = frps.log_text();
    assert_eq!(log.matches("refused a work connection").count(), 1, "{log}");
    assert!(
        !log.contains(&run_id),
        "the run id is in frps's log:\n{log}"
    );
}

#[test]
fn without_tcp_mux_a_work_connection_needs_the_clients_address_or_a_privilege_key() {
    let [bind, remote] = next_ports();
    let _frps = FrpsToml::new(bind).line("transport.tcpMux = false").start();
    rt().block_on(async {
        let mut client = RawClient::login(bind, false, remote).await;
        // From another address without a privilege key: refused.
        let (mut conn, _) = forged_work_conn(bind, "127.0.0.2", false, &client.run_id, false).await;
        assert!(closed_without_a_word(&mut conn).await);
        // From the client's address (Go frpc's work connections without tcpMux): accepted, as
        // the user's connection shows.
        user_reaches(remote, &mut client).await;
        // From another address with a valid privilege key (frpc's NewWorkConns scope):
        // accepted into the pool, so the next user connection arrives on it.
        let (mut keyed, _) = forged_work_conn(bind, "127.0.0.2", false, &client.run_id, true).await;
        let mut user = TcpStream::connect(("127.0.0.1", remote)).await.unwrap();
        user.write_all(b"again\n").await.unwrap();
        let Message::StartWorkConn(start) =
            timeout(UP, read_msg(&mut keyed)).await.unwrap().unwrap()
        else {
            panic!("expected StartWorkConn on the keyed work connection")
        };
        assert_eq!(start.proxy_name, "p");
    });
}

/// Log in over a yamux session with `user` and `run_id` (token "t"); the LoginResp, and the
/// encrypted control stream when the login succeeded.
async fn raw_login(
    bind: u16,
    user: &str,
    run_id: &str,
) -> (msg::LoginResp, CryptoStream<BoxStream>, Session) {
    raw_login_at(bind, user, run_id, frp::unix_now()).await
}

/// [`raw_login`] with the Login's timestamp `ts`.
async fn raw_login_at(
    bind: u16,
    user: &str,
    run_id: &str,
    ts: i64,
) -> (msg::LoginResp, CryptoStream<BoxStream>, Session) {
    let session = Session::new(
        connect_from("127.0.0.1", bind).await,
        Mode::Client,
        MuxConfig::default(),
    );
    let mut conn: BoxStream = Box::new(session.open().await.unwrap());
    let login = msg::Login {
        version: "0.65.0".into(),
        user: user.into(),
        run_id: run_id.into(),
        privilege_key: auth_key("t", ts),
        timestamp: ts,
        ..Default::default()
    };
    write_msg(&mut conn, &Message::Login(login)).await.unwrap();
    let Message::LoginResp(resp) = read_msg(&mut conn).await.unwrap() else {
        panic!("no LoginResp")
    };
    (resp, CryptoStream::new(conn, derive_key(b"t")), session)
}

/// No line of `log` was written by anyone but frps's logger: each starts with a timestamp.
fn every_line_is_frps_own(log: &str) {
    for line in log.lines() {
        assert!(
            line.starts_with("20") && line.as_bytes().get(4) == Some(&b'-'),
            "a forged or broken line: {line:?}\nin:\n{log}"
        );
    }
    assert!(!log.contains('\0'), "a raw NUL in the log");
}

#[test]
fn control_characters_from_peers_are_escaped_in_the_log_and_names_refused() {
    let bind = next_port();
    let frps = FrpsToml::new(bind).start();
    rt().block_on(async {
        // A user with a newline: refused, with frp's login error path.
        let (resp, _, _s) = raw_login(bind, "eve\n2026-01-01T00:00:00Z  INFO forged", "").await;
        assert!(
            resp.error.contains("contains the control character U+000A"),
            "{}",
            resp.error
        );
        // A run id with a NUL and an escape sequence: refused too.
        let (resp, _, _s) = raw_login(bind, "", "ab\0\u{1b}[31mcd").await;
        assert!(resp.error.contains("run id"), "{}", resp.error);
        // A good login, then a proxy name with a carriage return and a newline: refused.
        let (resp, mut ctl, _s) = raw_login(bind, "", "").await;
        assert_eq!(resp.error, "");
        let np = msg::NewProxy {
            proxy_name: "web\r\nforged".into(),
            proxy_type: "tcp".into(),
            remote_port: next_port() as i64,
            ..Default::default()
        };
        write_msg(&mut ctl, &Message::NewProxy(np)).await.unwrap();
        let r = loop {
            match read_msg(&mut ctl).await.unwrap() {
                Message::NewProxyResp(r) => break r,
                _ => continue,
            }
        };
        assert!(
            r.error.contains("contains the control character U+000D"),
            "{}",
            r.error
        );
    });
    assert!(frps.wait_log("web\\r\\nforged", UP), "{}", frps.log_text());
    let log = frps.log_text();
    every_line_is_frps_own(&log);
    assert!(
        log.contains("eve\\n2026-01-01T00:00:00Z  INFO forged"),
        "{log}"
    );
    assert!(log.contains("ab\\u{0}\\u{1b}[31mcd"), "{log}");
}

#[test]
fn frpc_refuses_names_with_control_characters_in_its_config() {
    let dir = tempfile::tempdir().unwrap();
    for (what, toml) in [
        (
            "proxy [we\\nb]: name: name [we\\nb] contains the control character U+000A",
            "[[proxies]]\nname = \"we\\nb\"\ntype = \"tcp\"\nlocalPort = 22\nremotePort = 6000\n",
        ),
        (
            "user: user [a\\u{0}b] contains the control character U+0000",
            "user = \"a\\u0000b\"\n",
        ),
        (
            "visitor [v\\tx]: name: name [v\\tx] contains the control character U+0009",
            "[[visitors]]\nname = \"v\\tx\"\ntype = \"stcp\"\nserverName = \"s\"\nsecretKey = \"k\"\nbindPort = 9000\n",
        ),
    ] {
        let config = format!("serverAddr = \"127.0.0.1\"\n{toml}");
        let (ok, err) = verify(frpc_bin(), dir.path(), "frpc.toml", &config);
        assert!(!ok, "{toml}");
        assert!(err.contains(what), "want {what:?} in:\n{err}");
        assert!(err.contains("frpc.toml"), "the file is named: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    }
}

/// `verify` of `config` (file name `name`): exit success and its stderr.
fn verify(bin: &str, dir: &std::path::Path, name: &str, config: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, config).unwrap();
    let out = Command::new(bin)
        .args(["verify", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const READ_ONLY_WARNING: &str = "has no password, so it is read-only";

/// `verify` accepts the config and warns that `what` on 0.0.0.0 will be read-only.
fn assert_verify_warns_read_only(
    bin: &str,
    dir: &std::path::Path,
    name: &str,
    config: &str,
    what: &str,
) {
    let (ok, err) = verify(bin, dir, name, config);
    assert!(ok, "{err}");
    assert!(
        err.contains(&format!("WARNING: webServer: the {what} on 0.0.0.0"))
            && err.contains(READ_ONLY_WARNING),
        "{err}"
    );
}

#[test]
fn a_dashboard_without_a_password_on_a_public_address_starts_read_only() {
    // The frps.ini of many guides: dashboard on every address, no password. frp serves it
    // fully; we start (no outage after switching), warn, and serve it read-only.
    let [bind, dash, remote] = next_ports();
    let ini = format!(
        "[common]\nbind_addr = 127.0.0.1\nbind_port = {bind}\ntoken = t\ndashboard_addr = 0.0.0.0\ndashboard_port = {dash}\nenable_prometheus = true\n"
    );
    let dir = tempfile::tempdir().unwrap();
    assert_verify_warns_read_only(frps_bin(), dir.path(), "frps.ini", &ini, "dashboard");
    let (frps, ready) = start_notified(frps_bin(), "frps.ini", &ini);
    assert!(
        ready.contains("dashboard read-only: no password"),
        "{ready}"
    );
    assert!(
        frps.log_text().contains(READ_ONLY_WARNING),
        "{}",
        frps.log_text()
    );
    let echo = echo_server();
    let _frpc = FrpcToml::new(bind)
        .proxy(Proxy::tcp("t", echo.port, remote))
        .start();
    assert!(wait_echo(remote, UP));
    let url = |p: &str| format!("http://127.0.0.1:{dash}{p}");
    // Reads without secrets answer as usual.
    for path in [
        "/api/serverinfo",
        "/api/proxy/tcp",
        "/api/traffic/t",
        "/api/clients",
        "/metrics",
    ] {
        assert_eq!(curl(&[], &url(path)).0, 200, "GET {path}");
    }
    // A change is refused, saying how to allow it.
    let (code, body) = curl(&["-X", "DELETE"], &url("/api/proxies?status=offline"));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("set webServer.password"), "{body}");
    // The page says so.
    let (code, page) = curl(&[], &url("/static/"));
    assert_eq!(code, 200);
    assert!(page.contains("id=\"read-only\""), "{page}");

    // allowNoAuth = true: full access, no warning, no banner.
    let [bind2, dash2] = next_ports();
    let toml = format!(
        "bindAddr = \"127.0.0.1\"\nbindPort = {bind2}\nwebServer.addr = \"0.0.0.0\"\nwebServer.port = {dash2}\nwebServer.allowNoAuth = true\n"
    );
    let (ok, err) = verify(frps_bin(), dir.path(), "open.toml", &toml);
    assert!(ok && !err.contains(READ_ONLY_WARNING), "{err}");
    let (open, ready) = start_notified(frps_bin(), "frps.toml", &toml);
    assert!(!ready.contains("read-only"), "{ready}");
    let url2 = |p: &str| format!("http://127.0.0.1:{dash2}{p}");
    assert_eq!(
        curl(&["-X", "DELETE"], &url2("/api/proxies?status=offline")).0,
        200
    );
    assert!(!curl(&[], &url2("/static/")).1.contains("id=\"read-only\""));
    assert!(!open.log_text().contains(READ_ONLY_WARNING));
}

#[test]
fn an_admin_api_without_a_password_on_a_public_address_starts_read_only() {
    let [bind, admin] = next_ports();
    let _frps = FrpsToml::new(bind).start();
    let toml = FrpcToml::new(bind)
        .line(format!(
            "webServer.addr = \"0.0.0.0\"\nwebServer.port = {admin}"
        ))
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    assert_verify_warns_read_only(frpc_bin(), dir.path(), "frpc.toml", &toml, "admin API");
    let (mut frpc, ready) = start_notified(frpc_bin(), "frpc.toml", &toml);
    assert!(
        ready.contains("admin API read-only: no password"),
        "{ready}"
    );
    assert!(frpc.log_text().contains(READ_ONLY_WARNING));
    let url = |p: &str| format!("http://127.0.0.1:{admin}{p}");
    assert_eq!(curl(&[], &url("/api/status")).0, 200);
    let page = curl(&[], &url("/static/")).1;
    assert!(page.contains("id=\"read-only\""), "{page}");
    // The config file holds the token: reading it is refused too; so are all changes.
    for (method, path) in [
        ("GET", "/api/config"),
        ("PUT", "/api/config"),
        ("GET", "/api/reload"),
        ("POST", "/api/stop"),
    ] {
        let (code, body) = curl(&["-X", method, "--data-binary", "x"], &url(path));
        assert_eq!(code, 403, "{method} {path}: {body}");
        assert!(body.contains("set webServer.password"), "{body}");
    }
    assert!(!curl(&[], &url("/api/config")).1.contains("auth.token"));
    assert_eq!(
        frpc.wait_exit(Duration::from_millis(500)),
        None,
        "still running"
    );
}

#[test]
fn connections_that_prove_nothing_close_at_10_s_cost_little_and_give_it_back() {
    // Three kinds of peers that never log in, 1,000 of each at once: a few junk bytes, a TLS
    // handshake then silence, one yamux ping then silence. One 10 s deadline from accept to
    // the first message closes them all; while open they cost a few KiB each; afterwards
    // frps gives the memory back.
    const EACH: usize = 1000;
    allow_open_files(8192);
    let bind = next_port();
    let frps = FrpsToml::new(bind).start();
    let pid = frps.pid();
    // Settle: one round trip of each kind, so lazily built state is in the baseline.
    let tls = frp::transport::tls::client_config("localhost", "", "", "").unwrap();
    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
    let open_all = |n: usize| {
        let connector = connector.clone();
        let name = tls.server_name.clone();
        async move {
            let mut held: Vec<BoxStream> = Vec::new();
            for _ in 0..n {
                let mut junk = TcpStream::connect(("127.0.0.1", bind)).await.unwrap();
                junk.write_all(&[0, 1, 2]).await.unwrap();
                held.push(Box::new(junk));
                let tcp = TcpStream::connect(("127.0.0.1", bind)).await.unwrap();
                let quiet_tls = connector.connect(name.clone(), tcp).await.unwrap();
                held.push(Box::new(quiet_tls));
                let mut ping = TcpStream::connect(("127.0.0.1", bind)).await.unwrap();
                // yamux Ping with SYN, opaque value 1.
                ping.write_all(&[0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])
                    .await
                    .unwrap();
                held.push(Box::new(ping));
            }
            held
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let warm = open_all(20).await;
        drop(warm);
    });
    // Wait for frps to close the warm-up connections and trim (it looks every 5 s).
    let baseline = settled_rss_kib(&[pid], Duration::from_secs(30))[0];
    let opened_at = std::time::Instant::now();
    let mut held = rt.block_on(open_all(EACH));
    let open_kib = rss_kib(pid);
    let per_conn = (open_kib.saturating_sub(baseline)) as f64 / (3 * EACH) as f64;
    // Each is closed by frps (end of stream, nothing written) by the deadline plus slack.
    rt.block_on(async {
        for conn in held.iter_mut() {
            let left = Duration::from_secs(20).saturating_sub(opened_at.elapsed());
            let mut rest = Vec::new();
            let end = timeout(left, conn.read_to_end(&mut rest)).await;
            assert!(
                end.is_ok(),
                "a connection still open {:?} after accept",
                opened_at.elapsed()
            );
        }
    });
    let all_closed_after = opened_at.elapsed();
    drop(held);
    // Back near the baseline: what stays is bookkeeping sized for the peak (tokio's socket
    // slab, for one), not the connections' memory (~60 MiB before frps gave it back).
    let returned = poll(Duration::from_secs(20), || {
        rss_kib(pid) <= baseline + 6 * 1024
    });
    eprintln!(
        "baseline {baseline} KiB, with {} open {open_kib} KiB ({per_conn:.1} KiB each), all closed by frps after {all_closed_after:?}, then {} KiB",
        3 * EACH,
        rss_kib(pid)
    );
    assert!(
        per_conn <= 12.0,
        "{per_conn:.1} KiB per connection that proved nothing"
    );
    assert!(
        all_closed_after < Duration::from_secs(20),
        "{all_closed_after:?}"
    );
    assert!(
        returned,
        "frps kept {} KiB after they closed (baseline {baseline} KiB)",
        rss_kib(pid)
    );
}

#[test]
fn stale_and_replayed_logins_are_warned_about_and_refused_when_asked() {
    let twenty_minutes_ago = frp::unix_now() - 20 * 60;
    // By default (frp's behaviour): accepted, with a warning; a replay is accepted too.
    let bind = next_port();
    let frps = FrpsToml::new(bind).start();
    rt().block_on(async {
        let (resp, _, _s) = raw_login_at(bind, "", "", twenty_minutes_ago).await;
        assert_eq!(resp.error, "");
        let (resp, _, _s2) = raw_login_at(bind, "", "", twenty_minutes_ago).await;
        assert_eq!(resp.error, "", "the same Login again");
    });
    assert!(
        frps.wait_log("login timestamp is 20m", UP),
        "{}",
        frps.log_text()
    );
    assert!(frps.log_text().contains("more than 15 minutes: accepted"));

    // auth.rejectStaleLogins = true: a stale timestamp and a replay are refused.
    let bind = next_port();
    let _frps = FrpsToml::new(bind)
        .line("auth.rejectStaleLogins = true")
        .start();
    rt().block_on(async {
        let (resp, _, _s) = raw_login_at(bind, "", "", twenty_minutes_ago).await;
        assert!(
            resp.error
                .contains("more than 15 minutes (auth.rejectStaleLogins)"),
            "{}",
            resp.error
        );
        let now = frp::unix_now();
        let (resp, _, _s1) = raw_login_at(bind, "", "", now).await;
        assert_eq!(resp.error, "", "a fresh Login");
        let (resp, _, _s2) = raw_login_at(bind, "", "", now).await;
        assert!(resp.error.contains("as a replay"), "{}", resp.error);
        let (resp, _, _s3) = raw_login_at(bind, "", "", now + 1).await;
        assert_eq!(resp.error, "", "a fresh Login a second later");
    });
}

/// frps's CPU time so far (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / hz)
}

/// Out of file descriptors, frps's accept loop waits between tries (5 ms doubling to 1 s)
/// instead of spinning, and accepts again once descriptors are free: a flood of connections
/// that exhausts them costs little CPU and leaves frps working.
#[test]
fn out_of_descriptors_frps_backs_off_and_recovers() {
    let (bind, remote) = (next_port(), next_port());
    let frps = FrpsToml::new(bind).start();
    wait_port(bind, UP);
    let pid = frps.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as u64;
    let limit = libc::rlimit {
        rlim_cur: open + 16,
        rlim_max: open + 16,
    };
    // SAFETY: prlimit on a child we own, with a valid rlimit and no old-value pointer.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &limit,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
    // Unauthenticated connections, held: frps keeps each up to its 10 s login deadline.
    let flood: Vec<std::net::TcpStream> = (0..64)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", bind)).unwrap())
        .collect();
    assert!(
        frps.wait_log("trying again in", UP),
        "frps reports the failing accept: {}",
        frps.log_text()
    );
    let before = cpu_time(pid);
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_time(pid) - before;
    assert!(
        spent < Duration::from_millis(500),
        "frps spent {spent:?} of CPU in 2 s out of descriptors"
    );
    drop(flood);
    let echo = echo_server();
    let _frpc = FrpcToml::new(bind)
        .proxy(Proxy::tcp("t", echo.port, remote))
        .start();
    assert!(
        wait_echo(remote, UP),
        "frps accepts again once descriptors are free: {}",
        frps.log_text()
    );
}
