//! frps's dashboard API (apis.md §2), our `/api/clients`, and Prometheus `/metrics` (§3)
//! through the real binaries: every path, its JSON shape, and values checked against traffic
//! this test sends through tcp, udp and http proxies.

use crate::common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

use common::backend::http_backend;
use common::udp::*;
use common::*;
use serde_json::Value;

const AUTH: &str = "admin:pw";

struct Dash {
    web: u16,
}

impl Dash {
    fn call(&self, method: &str, path: &str) -> (u16, String) {
        curl(
            &["-u", AUTH, "-X", method],
            &format!("http://127.0.0.1:{}{path}", self.web),
        )
    }

    fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// Poll `path` until `ok` holds for its JSON (counters are booked asynchronously).
    fn wait(&self, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let mut v = Value::Null;
        poll(Duration::from_secs(10), || {
            v = self.get(path);
            ok(&v)
        });
        v
    }

    fn proxy(&self, kind: &str, name: &str) -> Value {
        let list = self.get(&format!("/api/proxy/{kind}"));
        list["proxies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} not in /api/proxy/{kind}: {list}"))
    }
}

/// Exactly `len` bytes through a tcp proxy and back, on one connection that is then closed.
fn echo_exact(port: u16, len: usize) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let data = vec![7u8; len];
    s.write_all(&data).unwrap();
    let mut back = vec![0u8; len];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, data);
}

/// Parse the Prometheus text format: `name{labels}` → value; checks every sample line has a
/// `# TYPE` for its family first.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    let mut typed = std::collections::HashSet::new();
    let mut out = HashMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap();
            let kind = it.next().unwrap();
            assert!(["gauge", "counter"].contains(&kind), "{line}");
            typed.insert(name.to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let family = series.split('{').next().unwrap();
        assert!(typed.contains(family), "sample before its TYPE: {line}");
        out.insert(series.to_string(), value.parse::<f64>().unwrap());
    }
    out
}

#[test]
fn dashboard_api_reports_proxies_clients_and_traffic() {
    let bind = next_port();
    let web = next_port();
    let vhost = next_port();
    let _frps = start_frps(
        bind,
        &format!("auth.token = \"t\"\nvhostHTTPPort = {vhost}\nenablePrometheus = true\nwebServer.port = {web}\nwebServer.user = \"admin\"\nwebServer.password = \"pw\""),
    );
    wait_port(web, Duration::from_secs(10));
    let dash = Dash { web };

    let echo = echo_server();
    let udp = udp_echo();
    let backend = http_backend("site");
    let (tcp_port, udp_port) = (next_port(), next_port());
    let mut frpc = FrpcToml::new(bind)
        .proxy(Proxy::new("exact", "tcp").line(format!(
            "localPort = {}\nremotePort = {tcp_port}\ntransport.useEncryption = true",
            echo.port
        )))
        .proxy(
            Proxy::new("dgram", "udp").line(format!("localPort = {udp}\nremotePort = {udp_port}")),
        )
        .proxy(Proxy::new("site", "http").line(format!(
            "localPort = {}\ncustomDomains = [\"site.test\"]",
            backend.port
        )))
        .start();
    // Up, without sending a byte through the tcp proxy: its counters stay exact.
    wait_port(tcp_port, Duration::from_secs(20));
    dash.wait("/api/serverinfo", |v| v["proxyTypeCount"]["http"] == 1);

    // Known traffic: 10 000 bytes each way on one tcp connection; 20 datagrams of 100 bytes.
    echo_exact(tcp_port, 10_000);
    assert!(wait_udp_echo(udp_port, Duration::from_secs(10)));
    let udp_before = dash.proxy("udp", "dgram");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut echoed = 0;
    for _ in 0..20 {
        s.send_to(&[1u8; 100], ("127.0.0.1", udp_port)).unwrap();
        let mut buf = [0u8; 200];
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            echoed += n;
        }
    }
    let (status, body) = curl(
        &["-H", "Host: site.test"],
        &format!("http://127.0.0.1:{vhost}/hello"),
    );
    assert_eq!(status, 200, "{body}");

    // /api/proxy/tcp: one entry, frp's fields in frp's order, the traffic we sent.
    let tcp = dash.wait("/api/proxy/tcp", |v| {
        v["proxies"][0]["todayTrafficIn"] == 10_000 && v["proxies"][0]["curConns"] == 0
    });
    let p = &tcp["proxies"][0];
    assert_eq!(tcp["proxies"].as_array().unwrap().len(), 1, "{tcp}");
    assert_eq!(p["name"], "exact");
    assert_eq!(p["status"], "online");
    assert_eq!(p["clientVersion"], "0.65.0");
    assert_eq!(
        (p["todayTrafficIn"].as_u64(), p["todayTrafficOut"].as_u64()),
        (Some(10_000), Some(10_000)),
        "{p}"
    );
    assert_eq!(p["curConns"], 0);
    assert_eq!(p["lastCloseTime"], "");
    let start = p["lastStartTime"].as_str().unwrap();
    assert_eq!(
        start.len(),
        "12-02 13:40:00".len(),
        "MM-DD HH:MM:SS: {start}"
    );
    let conf = &p["conf"];
    assert_eq!(conf["name"], "exact");
    assert_eq!(conf["type"], "tcp");
    assert_eq!(conf["remotePort"], tcp_port);
    assert_eq!(conf["transport"]["useEncryption"], true);
    assert_eq!(conf["transport"]["bandwidthLimitMode"], "client");
    assert_eq!(conf["localIP"], "127.0.0.1");
    assert!(conf["plugin"].is_null() && conf.get("plugin").is_some());
    let (_, raw) = dash.call("GET", "/api/proxy/tcp");
    let keys: Vec<&str> = raw.split('"').skip(1).step_by(2).take(5).collect();
    assert_eq!(keys, ["proxies", "name", "exact", "conf", "name"], "{raw}");
    let order = [
        "\"todayTrafficIn\"",
        "\"todayTrafficOut\"",
        "\"curConns\"",
        "\"lastStartTime\"",
        "\"lastCloseTime\"",
        "\"status\"",
    ];
    let at: Vec<usize> = order.iter().map(|k| raw.find(k).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "field order: {raw}");

    // A connection held open shows in curConns (proxy, client, frps).
    let held = TcpStream::connect(("127.0.0.1", tcp_port)).unwrap();
    let v = dash.wait("/api/proxy/tcp/exact", |v| v["curConns"] == 1);
    assert_eq!(v["curConns"], 1, "{v}");
    assert!(
        v.get("clientVersion").is_none(),
        "one-proxy path has no clientVersion: {v}"
    );
    assert_eq!(v["conf"]["remotePort"], tcp_port);
    assert_eq!(dash.get("/api/serverinfo")["curConns"], 1);
    drop(held);
    dash.wait("/api/proxy/tcp/exact", |v| v["curConns"] == 0);

    // udp: per datagram, in = bytes sent by users, out = bytes sent back to them.
    // (The probes that found the tunnel up were counted before `udp_before`.)
    let day = |v: &Value, k: &str| v[k].as_u64().unwrap();
    let u = dash.proxy("udp", "dgram");
    assert_eq!(u["conf"]["remotePort"], udp_port);
    assert_eq!(
        day(&u, "todayTrafficIn") - day(&udp_before, "todayTrafficIn"),
        2000,
        "{u}"
    );
    assert!(echoed >= 1000, "most datagrams came back: {echoed}");
    assert!(
        day(&u, "todayTrafficOut") - day(&udp_before, "todayTrafficOut") >= echoed as u64,
        "{u}"
    );

    // http: the filtered conf, and the request's bytes counted on the proxy.
    let h = dash.wait("/api/proxy/http", |v| {
        v["proxies"][0]["todayTrafficOut"].as_u64() > Some(0)
    });
    let h = &h["proxies"][0];
    assert_eq!(h["conf"]["customDomains"][0], "site.test");
    assert!(
        h["conf"]["locations"].is_null() && h["conf"].get("locations").is_some(),
        "{h}"
    );
    assert_eq!(h["conf"]["hostHeaderRewrite"], "");
    assert!(h["conf"].get("remotePort").is_none());
    assert!(
        h["todayTrafficIn"].as_u64().unwrap() > "GET /hello HTTP/1.1".len() as u64,
        "{h}"
    );

    // 7 days of traffic, today first.
    let t = dash.get("/api/traffic/exact");
    assert_eq!(t["name"], "exact");
    let tin = t["trafficIn"].as_array().unwrap();
    assert_eq!(tin.len(), 7);
    assert_eq!(tin[0], 10_000);
    assert!(tin[1..].iter().all(|d| d == 0));
    assert_eq!(t["trafficOut"].as_array().unwrap().len(), 7);

    // serverinfo: totals across proxies; clients.
    let info = dash.get("/api/serverinfo");
    let total_in = info["totalTrafficIn"].as_u64().unwrap();
    assert!(total_in >= 10_000 + 2000, "{info}");
    assert_eq!(info["clientCounts"], 1);
    assert_eq!(info["vhostHTTPPort"], vhost);
    let clients = dash.get("/api/clients");
    let c = &clients["clients"][0];
    assert_eq!(clients["clients"].as_array().unwrap().len(), 1, "{clients}");
    assert_eq!(c["version"], "0.65.0");
    assert_eq!(c["proxyCount"], 3);
    assert!(c["clientAddress"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    // A tag of the session, never its run id (tests/e2e/security.rs checks that).
    let id = c["id"].as_str().unwrap();
    assert!(
        id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{c}"
    );
    assert!(c.get("runId").is_none(), "{c}");
    assert_eq!(c["os"], std::env::consts::OS, "{c}");
    assert!(c["todayTrafficIn"].as_u64().unwrap() >= 12_000, "{c}");

    // Prometheus: frp's names and labels, values from the same counters.
    let (status, text) = dash.call("GET", "/metrics");
    assert_eq!(status, 200);
    let m = parse_metrics(&text);
    assert_eq!(m["frp_server_client_counts"], 1.0);
    assert_eq!(m["frp_server_proxy_counts{type=\"tcp\"}"], 1.0);
    assert_eq!(m["frp_server_proxy_counts{type=\"udp\"}"], 1.0);
    assert_eq!(
        m["frp_server_proxy_counts_detailed{name=\"exact\",type=\"tcp\"}"],
        1.0
    );
    assert_eq!(
        m["frp_server_traffic_in{name=\"exact\",type=\"tcp\"}"],
        10_000.0
    );
    assert_eq!(
        m["frp_server_traffic_out{name=\"exact\",type=\"tcp\"}"],
        10_000.0
    );
    assert_eq!(
        m["frp_server_connection_counts{name=\"exact\",type=\"tcp\"}"],
        0.0
    );
    assert!(m["process_resident_memory_bytes"] > 1e6);
    assert!(m["process_open_fds"] > 3.0);
    assert!(m["process_start_time_seconds"] > 1.7e9);
    assert!(text.contains("# HELP frp_server_traffic_in The total in traffic\n"));

    // Errors: frp's texts and codes.
    assert_eq!(
        dash.call("GET", "/api/proxy/tcp/nope"),
        (404, "no proxy info found".into())
    );
    assert_eq!(
        dash.call("GET", "/api/proxy/udp/exact").0,
        404,
        "type must match too"
    );
    assert_eq!(
        dash.call("GET", "/api/traffic/nope"),
        (404, "no proxy info found".into())
    );
    assert_eq!(
        dash.get("/api/proxy/stcp"),
        serde_json::json!({"proxies": []})
    );
    assert_eq!(dash.call("POST", "/api/serverinfo").0, 405);
    assert_eq!(
        dash.call("DELETE", "/api/proxies?status=online"),
        (400, "status only support offline".into())
    );
    for path in [
        "/api/serverinfo",
        "/api/proxy/tcp",
        "/api/traffic/exact",
        "/api/clients",
        "/metrics",
    ] {
        let (status, body) = curl(&[], &format!("http://127.0.0.1:{web}{path}"));
        assert_eq!((status, body.as_str()), (401, "Unauthorized\n"), "{path}");
    }

    // frpc goes: its proxies stay listed offline (conf null) until cleared.
    frpc.kill();
    let off = dash.wait("/api/proxy/tcp", |v| v["proxies"][0]["status"] == "offline");
    let p = &off["proxies"][0];
    assert_eq!(p["status"], "offline", "{off}");
    assert!(p["conf"].is_null());
    assert!(p.get("clientVersion").is_none());
    assert_eq!(p["todayTrafficIn"], 10_000, "traffic stays with the record");
    assert_ne!(p["lastCloseTime"], "");
    let info = dash.wait("/api/serverinfo", |v| v["clientCounts"] == 0);
    assert_eq!(
        info["proxyTypeCount"]["tcp"], 0,
        "a type stays listed with 0: {info}"
    );
    let m = parse_metrics(&dash.call("GET", "/metrics").1);
    assert_eq!(
        m["frp_server_proxy_counts_detailed{name=\"exact\",type=\"tcp\"}"],
        0.0
    );
    assert_eq!(dash.get("/api/clients")["clients"], serde_json::json!([]));
    assert_eq!(
        dash.call("DELETE", "/api/proxies?status=offline"),
        (200, String::new())
    );
    assert_eq!(
        dash.get("/api/proxy/tcp"),
        serde_json::json!({"proxies": []})
    );
    assert_eq!(dash.call("GET", "/api/traffic/exact").0, 404);
}

#[test]
fn metrics_are_off_unless_enabled_and_the_dashboard_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let bind = next_port();
    let web = next_port();
    let _frps = start_frps(
        bind,
        &format!(
            "webServer.port = {web}\nwebServer.user = \"admin\"\nwebServer.password = \"pw\"\nwebServer.tls.certFile = \"{}\"\nwebServer.tls.keyFile = \"{}\"",
            cert_path.display(),
            key_path.display()
        ),
    );
    wait_port(web, Duration::from_secs(10));
    let url = |p: &str| format!("https://127.0.0.1:{web}{p}");
    let (status, body) = curl(&["-k", "-u", AUTH], &url("/api/serverinfo"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["bindPort"],
        bind
    );
    assert_eq!(curl(&["-k", "-u", AUTH], &url("/metrics")).0, 404);
    // Plain HTTP on the TLS port gets nothing.
    assert_eq!(
        curl(
            &["-u", AUTH],
            &format!("http://127.0.0.1:{web}/api/serverinfo")
        )
        .0,
        0
    );
}
