//! Health checks of frpc proxies (protocol.md §10.10): `healthCheck.type = "tcp"` connects to
//! the local service, `"http"` GETs `http://localIP:localPort<path>` and wants a 2xx answer.
//! A proxy with a check starts unhealthy; every change is reported to [`Proxies`], which turns
//! it into NewProxy / CloseProxy (§7.7).
//!
//! [`Proxies`]: super::proxy::Proxies

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::proxy::HealthCheck;
use crate::config::ProxyConfig;
use crate::transport::tcp;

/// The most we read of an HTTP answer looking for its status line.
const MAX_STATUS_LINE: usize = 4096;

/// A running health check; dropping it stops the check.
pub struct Monitor(JoinHandle<()>);

impl Drop for Monitor {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start checking `cfg` when it has a health check (and a local port to check); `report` is
/// called with the new state on every change, the first time on the first success.
pub fn start(cfg: Arc<ProxyConfig>, report: impl Fn(bool) + Send + 'static) -> Option<Monitor> {
    if cfg.health_check.kind.is_empty() || cfg.local_port <= 0 {
        return None;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        warn!(proxy_name = %cfg.name, "no runtime to run the health check on");
        return None;
    };
    Some(Monitor(rt.spawn(run(cfg, report))))
}

fn seconds(v: i64, default: u64) -> Duration {
    Duration::from_secs(if v > 0 { v as u64 } else { default })
}

async fn run(cfg: Arc<ProxyConfig>, report: impl Fn(bool)) {
    let hc = &cfg.health_check;
    let interval = seconds(hc.interval_seconds, 10);
    let timeout = seconds(hc.timeout_seconds, 3);
    let max_failed = hc.max_failed.max(1) as u64;
    let addr = tcp::join_host_port(&cfg.local_ip, cfg.local_port as u16);
    let name = &cfg.name;
    let mut healthy = false;
    let mut failures: u64 = 0;
    loop {
        let result = match tokio::time::timeout(timeout, check(&addr, hc)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {}s", timeout.as_secs())),
        };
        match result {
            Ok(()) => {
                // frp v0.65.0 never resets this counter, so once maxFailed failures have
                // accumulated over the proxy's lifetime any single later failure marks it
                // unhealthy. That is a bug: maxFailed means consecutive failures here.
                failures = 0;
                if !healthy {
                    info!(proxy_name = %name, "health check status change to success");
                    healthy = true;
                    report(true);
                }
            }
            Err(e) => {
                failures += 1;
                warn!(proxy_name = %name, "do one health check failed: {e}");
                if healthy && failures >= max_failed {
                    warn!(proxy_name = %name, "health check status change to failed");
                    healthy = false;
                    report(false);
                }
            }
        }
        tokio::time::sleep(interval).await;
    }
}

async fn check(addr: &str, hc: &HealthCheck) -> Result<(), String> {
    let mut conn = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect to [{addr}]: {e}"))?;
    if hc.kind != "http" {
        return Ok(());
    }
    let request = http_request(addr, hc)?;
    conn.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send request: {e}"))?;
    let code = read_status(&mut conn).await?;
    if code / 100 != 2 {
        return Err(format!(
            "do http health check, StatusCode is [{code}] not 2xx"
        ));
    }
    Ok(())
}

/// `GET <path>` with the configured headers; a `Host` entry replaces the default Host
/// (`localIP:localPort`). Line breaks in the configured values would split the request, so they
/// are refused.
fn http_request(addr: &str, hc: &HealthCheck) -> Result<String, String> {
    let bad = |s: &str| s.contains(['\r', '\n']);
    let mut path = hc.path.clone();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    if bad(&path) || path.contains(' ') {
        return Err(format!("invalid healthCheck.path {path:?}"));
    }
    let mut host = addr.to_string();
    let mut headers = String::new();
    for h in &hc.http_headers {
        if bad(&h.name) || bad(&h.value) || h.name.is_empty() || h.name.contains(':') {
            return Err(format!(
                "invalid healthCheck.httpHeaders entry {:?}",
                h.name
            ));
        }
        if h.name.eq_ignore_ascii_case("host") {
            host = h.value.clone();
        } else {
            headers.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
    }
    Ok(format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: frp-health-check\r\n{headers}Connection: close\r\n\r\n"
    ))
}

/// The status code of an HTTP/1.x answer (`HTTP/1.1 200 OK`).
async fn read_status(conn: &mut TcpStream) -> Result<u16, String> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    let line_end = loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            break i;
        }
        if buf.len() >= MAX_STATUS_LINE {
            return Err("no HTTP status line".into());
        }
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read response: {e}"))?;
        if n == 0 {
            return Err("connection closed before an HTTP status line".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    parse_status(&buf[..line_end]).ok_or_else(|| {
        format!(
            "malformed HTTP status line {:?}",
            String::from_utf8_lossy(&buf[..line_end.min(80)])
        )
    })
}

fn parse_status(line: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::proxy::HttpHeader;

    #[test]
    fn request_and_status_line() {
        let hc = HealthCheck {
            kind: "http".into(),
            path: "health".into(),
            http_headers: vec![
                HttpHeader {
                    name: "Host".into(),
                    value: "svc.test".into(),
                },
                HttpHeader {
                    name: "X-Check".into(),
                    value: "1".into(),
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            http_request("127.0.0.1:80", &hc).unwrap(),
            "GET /health HTTP/1.1\r\nHost: svc.test\r\nUser-Agent: frp-health-check\r\nX-Check: 1\r\nConnection: close\r\n\r\n"
        );
        let evil = HealthCheck {
            http_headers: vec![HttpHeader {
                name: "X".into(),
                value: "a\r\nInjected: 1".into(),
            }],
            ..hc
        };
        assert!(http_request("127.0.0.1:80", &evil).is_err());
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 500"), Some(500));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status(b"HTTP/1.1 2000 x"), None);
    }
}
