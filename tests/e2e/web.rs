//! frps's web server: basic auth and `/api/serverinfo` against live state.

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::*;

fn get(port: u16, path: &str, auth: Option<(&str, &str)>) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    if let Some((u, p)) = auth {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        req.push_str(&format!("Authorization: Basic {b64}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn serverinfo_requires_auth_and_reports_live_state() {
    let bind = next_port();
    let web = next_port();
    // allowPorts: every port the allocator hands out (the proxy's among them), and one more.
    let (lo, hi) = (*ports::range().start(), *ports::range().end());
    let _frps = FrpsToml::new(bind)
        .line(format!(
            "allowPorts = [{{ start = {lo}, end = {hi} }}, {{ single = 3001 }}]"
        ))
        .dashboard(web)
        .start();
    wait_port(web, Duration::from_secs(10));
    assert_eq!(get(web, "/api/serverinfo", None).0, 401);
    assert_eq!(get(web, "/api/serverinfo", Some(("admin", "wrong"))).0, 401);
    assert_eq!(get(web, "/healthz", None).0, 200);

    let echo = echo_server();
    let remote = next_port();
    let _frpc = start_frpc(&frpc_toml(bind, "t", "", echo.port, remote, ""));
    assert!(wait_echo(remote, Duration::from_secs(20)));
    let (status, body) = get(web, "/api/serverinfo", Some(("admin", "pw")));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], "0.65.0");
    assert_eq!(v["bindPort"], bind);
    assert_eq!(v["clientCounts"], 1);
    assert_eq!(v["proxyTypeCount"]["tcp"], 1);
    assert_eq!(v["allowPortsStr"], format!("{lo}-{hi},3001"));
    assert!(v.get("tlsForce").is_none());
    assert_eq!(v["heartbeatTimeout"], -1);
    // The echo round trips so far are counted once frps has seen their connections close.
    let mut traffic = v["totalTrafficIn"].as_u64().unwrap();
    poll(Duration::from_secs(5), || {
        let (_, b) = get(web, "/api/serverinfo", Some(("admin", "pw")));
        traffic = serde_json::from_str::<serde_json::Value>(&b).unwrap()["totalTrafficIn"]
            .as_u64()
            .unwrap();
        traffic >= 5
    });
    assert!(traffic >= 5, "{body}");
    let keys: Vec<&str> = body.split('"').skip(1).step_by(2).take(3).collect();
    assert_eq!(
        keys,
        ["version", "0.65.0", "bindPort"],
        "field order as frp"
    );
}
