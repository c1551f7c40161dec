//! frps server plugins (apis.md §5) end to end: the real frps and frpc binaries, and a small
//! HTTP plugin server in this file that records every request and answers as each test says.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use common::*;

const UP: Duration = Duration::from_secs(20);

/// One request the plugin server received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Request target: path and query.
    target: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: Value,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn op(&self) -> &str {
        self.body["op"].as_str().unwrap_or("")
    }
    fn content(&self) -> &Value {
        &self.body["content"]
    }
}

type Handler = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

/// An HTTP/1.1 plugin server on 127.0.0.1: one request per connection, answered by `handler`
/// with (status, JSON body).
struct PluginServer {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl PluginServer {
    fn start(handler: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> PluginServer {
        Self::start_with(None, Arc::new(handler))
    }

    /// With `tls`, the server speaks HTTPS with that config.
    fn start_with(tls: Option<Arc<rustls::ServerConfig>>, handler: Arc<Handler>) -> PluginServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, h, tls) = (s.clone(), handler.clone(), tls.clone());
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        None => serve_one(conn, &s, &*h),
                        Some(cfg) => {
                            let Ok(session) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            serve_one(rustls::StreamOwned::new(session, conn), &s, &*h)
                        }
                    }
                });
            }
        });
        PluginServer { port, seen }
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn of_op(&self, op: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.op() == op).collect()
    }

    /// Wait until a request for `op` matching `pred` arrived.
    fn wait_op(&self, op: &str, pred: impl Fn(&Seen) -> bool, timeout: Duration) -> Option<Seen> {
        poll_for(timeout, || self.of_op(op).into_iter().find(|s| pred(s)))
    }
}

fn serve_one<S: Read + Write>(stream: S, seen: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut r = BufReader::new(stream);
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let req = Seen {
        method,
        target,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    seen.lock().unwrap().push(req.clone());
    let (status, resp) = handler(&req);
    let out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{resp}",
        resp.len()
    );
    let mut stream = r.into_inner();
    let _ = stream.write_all(out.as_bytes());
    let _ = stream.flush();
}

fn keep() -> (u16, String) {
    (200, r#"{"reject":false,"unchange":true}"#.to_string())
}

fn reject(reason: &str) -> (u16, String) {
    (
        200,
        json!({"reject": true, "reject_reason": reason}).to_string(),
    )
}

/// `[[httpPlugins]]` entries: (name, addr, ops).
fn plugins_toml(plugins: &[(&str, &str, &[&str])]) -> String {
    plugins
        .iter()
        .map(|(name, addr, ops)| {
            let ops: Vec<String> = ops.iter().map(|o| format!("\"{o}\"")).collect();
            format!(
                "\n[[httpPlugins]]\nname = \"{name}\"\naddr = \"{addr}\"\npath = \"/handler\"\nops = [{}]\n",
                ops.join(", ")
            )
        })
        .collect()
}

fn frps_with(plugins: &str) -> (Daemon, u16) {
    frps_with_extra("", plugins)
}

/// `extra` top-level keys go before the `[[httpPlugins]]` tables.
fn frps_with_extra(extra: &str, plugins: &str) -> (Daemon, u16) {
    let bind = next_port();
    let frps = start_frps(
        bind,
        &format!("auth.token = \"s3cret\"\nallowPorts = [{{ start = 1024, end = 65535 }}]\n{extra}\n{plugins}"),
    );
    (frps, bind)
}

fn tcp_proxy(name: &str, local: u16, remote: u16) -> String {
    format!("\n{}", Proxy::tcp(name, local, remote))
}

/// frpc's top-level part (frp's default loginFailExit unless `extra` sets it); proxies follow.
fn frpc_common(bind: u16, extra: &str) -> String {
    FrpcToml::new(bind)
        .token("s3cret")
        .default_login_fail_exit()
        .line(extra)
        .to_string()
}

fn is_reqid(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The query of a request target as (key, value) pairs.
fn query(target: &str) -> Vec<(String, String)> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A connection through `port` is closed by frps without any echoed byte.
fn closed_without_echo(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.write_all(b"ping\n");
    let mut buf = [0u8; 5];
    let timed_out = |e: &std::io::Error| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    };
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !timed_out(&e),
    }
}

#[test]
fn a_rejected_login_fails_with_the_reject_reason() {
    let plugin = PluginServer::start(|_| reject("user alice is banned"));
    let (frps, bind) = frps_with(&plugins_toml(&[("auth", &plugin.addr(), &["Login"])]));
    let echo = echo_server();
    let remote = next_port();
    let mut frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, "user = \"alice\"\nloginFailExit = true"),
        tcp_proxy("echo", echo.port, remote)
    ));
    let code = frpc.wait_exit(UP);
    assert!(matches!(code, Some(c) if c != 0), "frpc exit code {code:?}");
    assert!(
        frpc.log_text()
            .contains("login to the server failed: user alice is banned"),
        "{}",
        frpc.log_text()
    );
    assert!(frps
        .log_text()
        .contains("login refused: user alice is banned"));
    assert!(!echo_once(remote), "no proxy may come up");
    assert_eq!(plugin.of_op("Login").len(), 1);
}

#[test]
fn a_plugin_answering_500_fails_the_login() {
    let plugin = PluginServer::start(|_| (500, "oops".to_string()));
    let (frps, bind) = frps_with(&plugins_toml(&[("broken", &plugin.addr(), &["Login"])]));
    let mut frpc = start_frpc(&frpc_common(bind, "loginFailExit = true"));
    assert!(matches!(frpc.wait_exit(UP), Some(c) if c != 0));
    assert!(
        frpc.log_text()
            .contains("login to the server failed: send Login request to plugin error"),
        "{}",
        frpc.log_text()
    );
    // The detail stays on frps.
    let log = frps.log_text();
    assert!(
        log.contains(
            "send Login request to plugin [broken] error: do http request error code: 500"
        ),
        "{log}"
    );
}

#[test]
fn an_unreachable_plugin_fails_the_login() {
    let dead = next_port();
    let (_frps, bind) = frps_with(&plugins_toml(&[(
        "gone",
        &format!("127.0.0.1:{dead}"),
        &["Login"],
    )]));
    let mut frpc = start_frpc(&frpc_common(bind, "loginFailExit = true"));
    assert!(matches!(frpc.wait_exit(UP), Some(c) if c != 0));
    assert!(frpc
        .log_text()
        .contains("send Login request to plugin error"));
}

#[test]
fn a_new_proxy_rewritten_by_the_plugin_listens_on_the_new_port() {
    let asked = next_port();
    let rewritten = next_port();
    let plugin = PluginServer::start(move |req| {
        let mut content = req.content().clone();
        content["remote_port"] = json!(rewritten);
        (
            200,
            json!({"unchange": false, "content": content}).to_string(),
        )
    });
    let (_frps, bind) = frps_with(&plugins_toml(&[("ports", &plugin.addr(), &["NewProxy"])]));
    let echo = echo_server();
    let frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, ""),
        tcp_proxy("echo", echo.port, asked)
    ));
    assert!(wait_echo(rewritten, UP), "rewritten port did not come up");
    assert!(!echo_once(asked), "the asked-for port must stay closed");
    assert!(frpc.log_text().contains("start proxy success"));
    let req = &plugin.of_op("NewProxy")[0];
    assert_eq!(req.content()["remote_port"], json!(asked));
}

#[test]
fn requests_carry_op_version_reqid_and_the_contents() {
    // Every op subscribed, nothing changed.
    let plugin = PluginServer::start(|_| keep());
    let all: &[&str] = &["Login", "NewProxy", "Ping", "NewWorkConn", "NewUserConn"];
    // Authenticated heartbeats and work connections: their privilege keys reach the plugin,
    // and are verified after it.
    let scopes = "auth.additionalScopes = [\"HeartBeats\", \"NewWorkConns\"]";
    let (_frps, bind) = frps_with_extra(scopes, &plugins_toml(&[("all", &plugin.addr(), all)]));
    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&format!(
        "{}{}metadatas.team = \"blue\"\n",
        frpc_common(
            bind,
            &format!("user = \"alice\"\nmetadatas.region = \"eu\"\ntransport.heartbeatInterval = 1\ntransport.poolCount = 1\n{scopes}")
        ),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(wait_echo(remote, UP), "tunnel did not come up");
    let user_conn = TcpStream::connect(("127.0.0.1", remote)).unwrap();
    let user_port = user_conn.local_addr().unwrap().port();
    let remote_addr = format!("127.0.0.1:{user_port}");
    let nuc = plugin
        .wait_op(
            "NewUserConn",
            |s| s.content()["remote_addr"] == json!(remote_addr),
            UP,
        )
        .expect("NewUserConn for our connection");
    assert!(plugin.wait_op("Ping", |_| true, UP).is_some(), "no Ping");
    drop(user_conn);

    let seen = plugin.seen();
    let mut reqids = Vec::new();
    for s in &seen {
        assert_eq!(s.method, "POST");
        let (path, _) = s.target.split_once('?').unwrap();
        assert_eq!(path, "/handler");
        let mut q = query(&s.target);
        q.sort();
        assert_eq!(
            q,
            vec![
                ("op".to_string(), s.op().to_string()),
                ("version".to_string(), "0.1.0".to_string())
            ],
            "{}",
            s.target
        );
        assert_eq!(s.header("content-type"), Some("application/json"));
        let reqid = s.header("x-frp-reqid").unwrap_or("");
        assert!(is_reqid(reqid), "X-Frp-Reqid {reqid:?}");
        reqids.push(reqid.to_string());
        assert_eq!(s.body["version"], "0.1.0");
        assert!(all.contains(&s.op()), "{}", s.op());
        assert!(s.content().is_object());
    }
    let mut unique = reqids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), reqids.len(), "a new reqid per operation");

    let login = &plugin.of_op("Login")[0];
    let c = login.content();
    assert_eq!(c["user"], "alice");
    assert_eq!(c["metas"], json!({"region": "eu"}));
    assert!(c["privilege_key"].as_str().is_some_and(|k| k.len() == 32));
    assert!(c["timestamp"].as_i64().is_some_and(|t| t > 0));
    assert!(c["client_spec"].is_object());
    assert_eq!(c["pool_count"], 1);
    assert!(c["version"].as_str().is_some_and(|v| !v.is_empty()));
    let client_address = c["client_address"].as_str().unwrap();
    assert!(client_address.starts_with("127.0.0.1:"), "{client_address}");

    let np = &plugin.of_op("NewProxy")[0];
    let c = np.content();
    let run_id = c["user"]["run_id"].as_str().unwrap().to_string();
    assert!(is_reqid(&run_id), "run id {run_id}");
    assert_eq!(
        c["user"],
        json!({"user": "alice", "metas": {"region": "eu"}, "run_id": run_id})
    );
    assert_eq!(c["proxy_name"], "alice.echo");
    assert_eq!(c["proxy_type"], "tcp");
    assert_eq!(c["remote_port"], json!(remote));
    assert_eq!(c["metas"], json!({"team": "blue"}));

    for op in ["NewWorkConn", "Ping"] {
        let c = plugin.of_op(op)[0].content().clone();
        assert_eq!(
            c["user"],
            json!({"user": "alice", "metas": {"region": "eu"}, "run_id": run_id}),
            "{op}"
        );
        assert!(
            c["privilege_key"].as_str().is_some_and(|k| k.len() == 32),
            "{op}: {c}"
        );
        assert!(c["timestamp"].as_i64().is_some_and(|t| t > 0), "{op}: {c}");
    }
    assert_eq!(
        plugin.of_op("NewWorkConn")[0].content()["run_id"],
        json!(run_id)
    );

    assert_eq!(
        nuc.content(),
        &json!({
            "user": {"user": "alice", "metas": {"region": "eu"}, "run_id": run_id},
            "proxy_name": "alice.echo",
            "proxy_type": "tcp",
            "remote_addr": remote_addr,
        })
    );
}

#[test]
fn no_unchange_and_no_content_keeps_the_content() {
    // `{}`: unchange missing (false) and no content. frp would wipe the content (and fail the
    // login's auth); we keep it and log.
    let plugin = PluginServer::start(|_| (200, "{}".to_string()));
    let (frps, bind) = frps_with(&plugins_toml(&[(
        "lazy",
        &plugin.addr(),
        &["Login", "NewProxy"],
    )]));
    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, "loginFailExit = true"),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(wait_echo(remote, UP), "login and proxy must work unchanged");
    let log = frps.log_text();
    assert!(
        log.contains("plugin [lazy] answered Login with unchange = false but no content"),
        "{log}"
    );
    assert!(log.contains("plugin [lazy] answered NewProxy with unchange = false but no content"));
}

#[test]
fn plugins_run_in_order_each_seeing_the_previous_content() {
    let first_port = next_port();
    let second_port = next_port();
    let first = PluginServer::start(move |req| {
        let mut c = req.content().clone();
        c["remote_port"] = json!(first_port);
        (200, json!({"unchange": false, "content": c}).to_string())
    });
    let second = PluginServer::start(move |req| {
        let mut c = req.content().clone();
        c["remote_port"] = json!(second_port);
        (200, json!({"unchange": false, "content": c}).to_string())
    });
    let (_frps, bind) = frps_with(&plugins_toml(&[
        ("first", &first.addr(), &["NewProxy"]),
        ("second", &second.addr(), &["NewProxy"]),
    ]));
    let echo = echo_server();
    let asked = next_port();
    let _frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, ""),
        tcp_proxy("echo", echo.port, asked)
    ));
    assert!(wait_echo(second_port, UP));
    assert_eq!(
        second.of_op("NewProxy")[0].content()["remote_port"],
        json!(first_port)
    );
    assert_eq!(
        first.of_op("NewProxy")[0].content()["remote_port"],
        json!(asked)
    );
}

#[test]
fn a_rejected_new_proxy_fails_only_that_proxy() {
    let plugin = PluginServer::start(|req| {
        if req.content()["proxy_name"] == "blocked" {
            reject("no such proxy for you")
        } else {
            keep()
        }
    });
    let (_frps, bind) = frps_with(&plugins_toml(&[("np", &plugin.addr(), &["NewProxy"])]));
    let echo = echo_server();
    let (ok_port, blocked_port) = (next_port(), next_port());
    let frpc = start_frpc(&format!(
        "{}{}{}",
        frpc_common(bind, ""),
        tcp_proxy("open", echo.port, ok_port),
        tcp_proxy("blocked", echo.port, blocked_port)
    ));
    assert!(wait_echo(ok_port, UP));
    assert!(frpc.wait_log("[blocked] start error: no such proxy for you", UP));
    assert!(!echo_once(blocked_port));
}

#[test]
fn a_rejected_user_connection_is_closed_while_other_proxies_work() {
    let plugin = PluginServer::start(|req| {
        if req.content()["proxy_name"] == "blocked" {
            reject("not now")
        } else {
            keep()
        }
    });
    let (frps, bind) = frps_with(&plugins_toml(&[("uc", &plugin.addr(), &["NewUserConn"])]));
    let echo = echo_server();
    let (ok_port, blocked_port) = (next_port(), next_port());
    let _frpc = start_frpc(&format!(
        "{}{}{}",
        frpc_common(bind, ""),
        tcp_proxy("open", echo.port, ok_port),
        tcp_proxy("blocked", echo.port, blocked_port)
    ));
    assert!(wait_echo(ok_port, UP));
    wait_port(blocked_port, UP);
    let before = echo.accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(closed_without_echo(blocked_port));
    assert!(echo_once(ok_port), "the other proxy keeps working");
    // The rejected connection never reached the backend; the accepted one did.
    assert_eq!(
        echo.accepted.load(std::sync::atomic::Ordering::SeqCst),
        before + 1
    );
    assert!(frps.wait_log("was rejected: not now", UP));
    let blocked = plugin.of_op("NewUserConn");
    assert!(blocked
        .iter()
        .any(|s| s.content()["proxy_name"] == "blocked"));
}

#[test]
fn close_proxy_is_notified_when_frpc_stops() {
    let plugin = PluginServer::start(|_| keep());
    let (_frps, bind) = frps_with(&plugins_toml(&[("bye", &plugin.addr(), &["CloseProxy"])]));
    let echo = echo_server();
    let remote = next_port();
    let mut frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, "user = \"bob\""),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(wait_echo(remote, UP));
    assert!(plugin.of_op("CloseProxy").is_empty());
    frpc.kill();
    let c = plugin
        .wait_op("CloseProxy", |_| true, UP)
        .expect("CloseProxy after frpc stopped");
    assert_eq!(c.content()["proxy_name"], "bob.echo");
    assert_eq!(c.content()["user"]["user"], "bob");
    assert_eq!(c.content()["user"]["metas"], Value::Null);
    assert!(is_reqid(c.content()["user"]["run_id"].as_str().unwrap()));
    assert!(is_reqid(c.header("x-frp-reqid").unwrap()));
}

#[test]
fn a_slow_plugin_for_one_client_does_not_stall_another() {
    // The plugin holds its answer to NewProxy for "slow" until the test opens the gate (or 60 s
    // pass); a second client logs in and gets its proxy meanwhile.
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let held = gate.clone();
    let plugin = PluginServer::start(move |req| {
        if req.content()["proxy_name"] == "slow" {
            let (open, cv) = &*held;
            let open = open.lock().unwrap();
            let _ = cv.wait_timeout_while(open, Duration::from_secs(60), |o| !*o);
        }
        keep()
    });
    let (_frps, bind) = frps_with(&plugins_toml(&[("np", &plugin.addr(), &["NewProxy"])]));
    let echo = echo_server();
    let (slow_port, fast_port) = (next_port(), next_port());
    let _slow = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, ""),
        tcp_proxy("slow", echo.port, slow_port)
    ));
    assert!(plugin
        .wait_op("NewProxy", |s| s.content()["proxy_name"] == "slow", UP)
        .is_some());
    let _fast = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, ""),
        tcp_proxy("fast", echo.port, fast_port)
    ));
    assert!(
        wait_echo(fast_port, UP),
        "the second client's proxy works while the plugin still holds the first"
    );
    assert!(!echo_once(slow_port), "the slow proxy is still held");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    assert!(wait_echo(slow_port, UP));
}

#[test]
fn https_plugins_verify_the_certificate_only_with_tls_verify() {
    let tls = frp::transport::tls::server_config("", "", "").unwrap();
    let handler: Arc<Handler> = Arc::new(|_| keep());
    let plugin = PluginServer::start_with(Some(tls), handler);
    let url = format!("https://127.0.0.1:{}", plugin.port);

    // tlsVerify = false (default): the self-signed certificate is accepted.
    let (_frps, bind) = frps_with(&plugins_toml(&[("tls", &url, &["Login"])]));
    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, ""),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(wait_echo(remote, UP));
    assert_eq!(plugin.of_op("Login").len(), 1);

    // tlsVerify = true: no trusted CA signed it, so the call (and the login) fails.
    let strict = format!(
        "{}tlsVerify = true\n",
        plugins_toml(&[("tls", &url, &["Login"])])
    );
    let (frps2, bind2) = frps_with(&strict);
    let mut frpc2 = start_frpc(&frpc_common(bind2, "loginFailExit = true"));
    assert!(matches!(frpc2.wait_exit(UP), Some(c) if c != 0));
    assert!(frpc2
        .log_text()
        .contains("send Login request to plugin error"));
    assert!(frps2.log_text().contains("tls handshake with 127.0.0.1"));
    assert_eq!(
        plugin.of_op("Login").len(),
        1,
        "no request after a failed handshake"
    );
}

#[test]
fn a_rejected_new_work_conn_gets_start_work_conn_with_the_error() {
    let plugin = PluginServer::start(|_| reject("no work for you"));
    let (frps, bind) = frps_with(&plugins_toml(&[("wc", &plugin.addr(), &["NewWorkConn"])]));
    let echo = echo_server();
    let remote = next_port();
    // poolCount = 1: frpc opens a work connection right after login.
    let frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, "transport.poolCount = 1"),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(frps.wait_log("invalid NewWorkConn: no work for you", UP));
    assert!(frpc.wait_log("StartWorkConn contains error: no work for you", UP));
}

#[test]
fn a_rejected_ping_gets_a_pong_error() {
    let plugin = PluginServer::start(|_| reject("stop pinging"));
    let (frps, bind) = frps_with(&plugins_toml(&[("hb", &plugin.addr(), &["Ping"])]));
    let frpc = start_frpc(&frpc_common(bind, "transport.heartbeatInterval = 1"));
    assert!(frps.wait_log("invalid ping: stop pinging", UP));
    assert!(frpc.wait_log("pong contains error: stop pinging", UP));
}

#[test]
fn https_plugins_with_tls_verify_accept_a_trusted_certificate() {
    // A certificate for 127.0.0.1, trusted by frps through SSL_CERT_FILE (as with Go's frps).
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let (crt, key) = (dir.path().join("plugin.crt"), dir.path().join("plugin.key"));
    std::fs::write(&crt, cert.cert.pem()).unwrap();
    std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
    let tls = frp::transport::tls::server_config(crt.to_str().unwrap(), key.to_str().unwrap(), "")
        .unwrap();
    let handler: Arc<Handler> = Arc::new(|_| keep());
    let plugin = PluginServer::start_with(Some(tls), handler);
    let plugins = format!(
        "{}tlsVerify = true\n",
        plugins_toml(&[(
            "tls",
            &format!("https://127.0.0.1:{}", plugin.port),
            &["Login"]
        )])
    );
    let bind = next_port();
    let config = dir.path().join("frps.toml");
    std::fs::write(
        &config,
        format!("bindAddr = \"127.0.0.1\"\nbindPort = {bind}\nauth.token = \"s3cret\"\n{plugins}"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("frps.log")).unwrap();
    let child = std::process::Command::new(frps_bin())
        .arg("-c")
        .arg(&config)
        .env("SSL_CERT_FILE", &crt)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _frps = Kill(child);
    wait_port(bind, UP);
    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&format!(
        "{}{}",
        frpc_common(bind, "loginFailExit = true"),
        tcp_proxy("echo", echo.port, remote)
    ));
    assert!(
        wait_echo(remote, UP),
        "{}",
        std::fs::read_to_string(dir.path().join("frps.log")).unwrap_or_default()
    );
    assert_eq!(plugin.of_op("Login").len(), 1);
}
