//! The dashboard page in a real browser: frps with a dashboard, a frpc with tcp, udp and http
//! proxies carrying some traffic, a second frpc that left (its proxy offline), and Debian's
//! chromium driven by playwright-core (tests/browser/dashboard.mjs) reading what the page shows.
//!
//! Needs /usr/bin/chromium and playwright-core, which `scripts/browser-deps` installs (into
//! `<target>/browser`, or `$FRP_BROWSER_DIR`). Without them the test fails; `FRP_SKIP_BROWSER=1`
//! skips it, saying so loudly. The screenshot is kept as `<target>/dashboard.png`.

use crate::common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::backend::http_backend;
use common::*;
use serde_json::Value;

const USER: &str = "admin";
const PASSWORD: &str = "dash-pw";

/// The cargo target directory: `<target>/debug/frps`.
fn target_dir() -> PathBuf {
    Path::new(frps_bin())
        .parent()
        .and_then(Path::parent)
        .expect("frps is in <target>/<profile>/")
        .to_path_buf()
}

fn browser_dir() -> PathBuf {
    std::env::var_os("FRP_BROWSER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("browser"))
}

fn chromium() -> PathBuf {
    std::env::var_os("FRP_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into())
}

/// `GET path` on the dashboard with the credentials, as JSON.
fn api(web: u16, path: &str) -> Value {
    let (status, body) = curl(
        &["-u", &format!("{USER}:{PASSWORD}")],
        &format!("http://127.0.0.1:{web}{path}"),
    );
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// Poll `path` until `ok` holds for its JSON.
fn wait_api(web: u16, path: &str, what: &str, ok: impl Fn(&Value) -> bool) {
    let mut last = Value::Null;
    let held = poll(Duration::from_secs(15), || {
        last = api(web, path);
        ok(&last)
    });
    assert!(held, "{what}: GET {path} still {last}");
}

fn proxy<'a>(list: &'a Value, name: &str) -> Option<&'a Value> {
    list["proxies"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

/// Run the node script; its JSON report.
fn run_browser(web: u16, screenshot: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard.mjs");
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(&script)
        .arg(format!("http://127.0.0.1:{web}"))
        .args([USER, PASSWORD])
        .arg(screenshot)
        .args(["--expand", "echo", "--clear-offline"])
        .env("FRP_BROWSER_DIR", browser_dir())
        .env("FRP_CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let Some(status) = poll_for(Duration::from_secs(120), || child.try_wait().unwrap()) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the browser script took over 120 s:\n{}",
            err.join().unwrap()
        );
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        status.success(),
        "browser script failed ({status}):\n{err}\n{out}"
    );
    eprintln!("browser script: {:?}", started.elapsed());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("report: {e}: {out}\n{err}"))
}

#[test]
fn dashboard_page_in_chromium() {
    if std::env::var("FRP_SKIP_BROWSER").as_deref() == Ok("1") {
        // Straight to the terminal: cargo test would swallow an eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!! SKIPPED the dashboard browser test (FRP_SKIP_BROWSER=1): the page was NOT checked !!!!!!!!\n"
        );
        return;
    }
    let modules = browser_dir().join("node_modules/playwright-core/package.json");
    assert!(
        chromium().exists() && modules.exists(),
        "the browser test needs {} and {}: run scripts/browser-deps (or set FRP_SKIP_BROWSER=1 to skip)",
        chromium().display(),
        modules.display()
    );

    let bind = next_port();
    let web = next_port();
    let vhost = next_port();
    let _frps = start_frps(
        bind,
        &format!(
            "auth.token = \"t\"\nvhostHTTPPort = {vhost}\nwebServer.addr = \"127.0.0.1\"\nwebServer.port = {web}\nwebServer.user = \"{USER}\"\nwebServer.password = \"{PASSWORD}\""
        ),
    );
    wait_port(web, Duration::from_secs(10));

    let echo = echo_server();
    let site = http_backend("site");
    let tcp_port = next_port();
    let udp_port = next_port();
    let frpc = FrpcToml::new(bind)
        .proxy(Proxy::tcp("echo", echo.port, tcp_port))
        .proxy(Proxy::udp("dns", next_port(), udp_port))
        .proxy(
            Proxy::new("web", "http")
                .local(site.port)
                .line("customDomains = [\"web.example.test\"]"),
        )
        .start();
    // A second client whose proxy goes offline when it leaves.
    let mut leaver = FrpcToml::new(bind)
        .proxy(Proxy::tcp("gone", echo.port, next_port()))
        .start();
    for (d, name) in [
        (&frpc, "echo"),
        (&frpc, "dns"),
        (&frpc, "web"),
        (&leaver, "gone"),
    ] {
        assert!(
            d.wait_log(
                &format!("[{name}] start proxy success"),
                Duration::from_secs(15)
            ),
            "{name}:\n{}",
            d.log_text()
        );
    }
    leaver.kill();
    wait_api(web, "/api/proxy/tcp", "gone offline", |v| {
        proxy(v, "gone").is_some_and(|p| p["status"] == "offline")
    });
    wait_api(web, "/api/serverinfo", "one client left", |v| {
        v["clientCounts"] == 1
    });

    // Known traffic through the tcp proxy: 200 kB each way, counted when the connection closes.
    const BYTES: u64 = 200_000;
    assert!(wait_echo(tcp_port, Duration::from_secs(15)));
    let (sent, got) = echo_random(tcp_port, BYTES as usize);
    assert_eq!(sent, got);
    wait_api(web, "/api/proxy/tcp", "traffic counted", |v| {
        proxy(v, "echo").is_some_and(|p| {
            p["todayTrafficIn"].as_u64() >= Some(BYTES)
                && p["todayTrafficOut"].as_u64() >= Some(BYTES)
        })
    });
    let (status, _) = curl(
        &["-H", "Host: web.example.test"],
        &format!("http://127.0.0.1:{vhost}/hello"),
    );
    assert_eq!(status, 200, "the http proxy works");

    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("dashboard.png");
    let r = run_browser(web, &shot);
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());

    // The page loaded through frps's redirect, with no script error and no failed request.
    assert_eq!(r["status"], 200);
    assert!(
        r["finalUrl"].as_str().unwrap().ends_with("/static/"),
        "{}",
        r["finalUrl"]
    );
    assert_eq!(r["title"], "frps dashboard");
    for k in ["pageErrors", "consoleErrors", "failedResponses"] {
        assert_eq!(r[k], serde_json::json!([]), "{k}");
    }
    assert_eq!(r["errorBanner"], Value::Null);

    // Overview.
    assert_eq!(r["serverVersion"], "0.65.0");
    assert_eq!(r["serverVersionText"], "v0.65.0");
    let o = &r["overview"];
    assert_eq!(o["bindPort"], bind.to_string());
    assert_eq!(o["vhostPorts"], format!("{vhost} / off"));
    assert_eq!(o["clientCount"], 1);
    assert!(o["trafficIn"].as_u64() >= Some(BYTES), "{o}");
    assert!(o["trafficOut"].as_u64() >= Some(BYTES), "{o}");
    assert_eq!(o["proxyCounts"]["tcp"], 1, "{o}");
    assert_eq!(o["proxyCounts"]["udp"], 1, "{o}");
    assert_eq!(o["proxyCounts"]["http"], 1, "{o}");
    assert_eq!(o["proxyCounts"]["https"], 0, "{o}");

    // Each proxy in its type's table, online, with its client's version.
    let tables = &r["proxies"];
    let row = |t: &Value, ty: &str, name: &str| -> Value {
        t[ty]
            .as_array()
            .unwrap_or_else(|| panic!("no {ty} table: {t}"))
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} not in the {ty} table: {}", t[ty]))
            .clone()
    };
    let names = |t: &Value, ty: &str| -> Vec<String> {
        t[ty]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(tables, "tcp"), ["echo", "gone"]);
    assert_eq!(names(tables, "udp"), ["dns"]);
    assert_eq!(names(tables, "http"), ["web"]);
    for ty in ["https", "tcpmux", "stcp", "sudp", "xtcp"] {
        assert_eq!(names(tables, ty), Vec::<String>::new(), "{ty}");
    }
    for (ty, name, place) in [
        ("tcp", "echo", format!(":{tcp_port}")),
        ("udp", "dns", format!(":{udp_port}")),
        ("http", "web", "web.example.test".to_string()),
    ] {
        let p = row(tables, ty, name);
        assert_eq!(p["status"], "online", "{p}");
        assert_eq!(p["statusText"], "online", "{p}");
        assert_eq!(p["where"], place, "{p}");
        assert_eq!(p["clientVersion"], "0.65.0", "{p}");
        assert!(
            !p["lastStartTime"].as_str().unwrap().starts_with('–'),
            "{p}"
        );
    }
    let gone = row(tables, "tcp", "gone");
    assert_eq!(gone["status"], "offline", "{gone}");
    assert!(
        !gone["lastCloseTime"].as_str().unwrap().starts_with('–'),
        "{gone}"
    );
    let e = row(tables, "tcp", "echo");
    assert!(e["todayTrafficIn"].as_u64() >= Some(BYTES), "{e}");
    assert!(e["todayTrafficOut"].as_u64() >= Some(BYTES), "{e}");
    assert!(
        e["todayTrafficInText"].as_str().unwrap().ends_with("KiB"),
        "{e}"
    );
    assert_eq!(r["tabCounts"]["tcp"], 2);
    assert_eq!(r["tabCounts"]["http"], 1);

    // The clients table: the frpc that stayed.
    let clients = r["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1, "{clients:?}");
    let c = &clients[0];
    assert_eq!(c["version"], "0.65.0", "{c}");
    assert_eq!(c["proxyCount"], "3", "{c}");
    assert!(
        c["clientAddress"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{c}"
    );
    assert_eq!(c["id"].as_str().map(str::len), Some(8), "{c}");

    // The echo proxy's row opened to its 7-day chart: 7 days x (in, out), today's bars tall.
    let chart = &r["chart"];
    assert_eq!(chart["proxy"], "echo");
    assert_eq!(chart["expanded"], "true");
    let bars = chart["bars"].as_array().unwrap();
    assert_eq!(bars.len(), 14, "{chart}");
    for dir in ["in", "out"] {
        let today = bars
            .iter()
            .find(|b| b["day"] == 0 && b["dir"] == dir)
            .unwrap();
        assert!(today["bytes"].as_u64() >= Some(BYTES), "{today}");
        assert!(today["height"].as_f64() > Some(10.0), "{today}");
    }
    let labels = chart["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 7);
    assert_eq!(labels[6], "today");

    // "Clear offline proxies" removed the offline one and kept the rest.
    assert_eq!(r["noticeAfterClear"], "Offline proxies cleared.");
    assert_eq!(names(&r["proxiesAfterClear"], "tcp"), ["echo"]);
    assert_eq!(names(&r["proxiesAfterClear"], "udp"), ["dns"]);
    assert!(proxy(&api(web, "/api/proxy/tcp"), "gone").is_none());

    // A real PNG of a full page.
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 30_000, "screenshot of {} bytes", png.len());
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 1280 && height >= 800, "{width}x{height}");
    std::fs::copy(&shot, target_dir().join("dashboard.png")).unwrap();
}

/// The page's files over HTTP, without a browser: frp's redirect, types, 404, and basic auth.
#[test]
fn page_files_are_served_behind_basic_auth() {
    let bind = next_port();
    let web = next_port();
    let _frps = start_frps(
        bind,
        &format!(
            "webServer.addr = \"127.0.0.1\"\nwebServer.port = {web}\nwebServer.user = \"{USER}\"\nwebServer.password = \"{PASSWORD}\""
        ),
    );
    wait_port(web, Duration::from_secs(10));
    let auth = format!("{USER}:{PASSWORD}");
    let base = format!("http://127.0.0.1:{web}");
    let head = |path: &str, creds: bool| -> (u16, String) {
        let mut args = vec!["-D", "-", "-o", "/dev/null"];
        if creds {
            args.extend(["-u", auth.as_str()]);
        }
        curl(&args, &format!("{base}{path}"))
    };
    let (status, headers) = head("/", true);
    assert_eq!(status, 301);
    assert!(
        headers.to_ascii_lowercase().contains("location: /static/"),
        "{headers}"
    );
    for (path, ty) in [
        ("/static/", "text/html"),
        ("/static/index.html", "text/html"),
        ("/static/app.js", "text/javascript"),
        ("/static/style.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/favicon.ico", "image/svg+xml"),
    ] {
        let (status, headers) = head(path, true);
        assert_eq!(status, 200, "{path}");
        assert!(
            headers
                .to_ascii_lowercase()
                .contains(&format!("content-type: {ty}")),
            "{path}: {headers}"
        );
        assert_eq!(head(path, false).0, 401, "{path} without credentials");
    }
    assert_eq!(head("/", false).0, 401);
    assert_eq!(head("/static/nope.js", true).0, 404);
    let (_, body) = curl(&["-u", &auth], &format!("{base}/static/"));
    assert!(body.contains("id=\"proxies\""), "{body}");
}
