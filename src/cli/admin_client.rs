//! The client side of frpc's admin API, for `frpc reload|status|stop`: one blocking HTTP/1.1
//! request to `webServer.addr:port` with the configured basic-auth credentials.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::Engine;

use crate::config::types::WebServerConfig;

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Responses larger than this are refused (a status table is a few KiB).
const MAX_RESPONSE: u64 = 8 << 20;

/// Send `method path` and return the body of a 200 answer; other answers become an error
/// carrying frp's "api status code [N]" and the body text.
pub fn call(
    web: &WebServerConfig,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<String, String> {
    let host = if web.addr.is_empty() {
        "127.0.0.1"
    } else {
        web.addr.as_str()
    };
    let addr = crate::transport::tcp::join_host_port(host, web.port as u16);
    let target = addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let tcp = TcpStream::connect_timeout(&target, timeout)
        .map_err(|e| format!("cannot reach the admin API at {addr}: {e}"))?;
    tcp.set_read_timeout(Some(timeout)).ok();
    tcp.set_write_timeout(Some(timeout)).ok();
    let mut conn: Box<dyn ReadWrite> = match &web.tls {
        None => Box::new(tcp),
        // frpc's own API, on the address its config names: its certificate is often
        // self-signed, so it is not verified (as frpc does not verify frps without a CA).
        Some(_) => {
            let tls = crate::transport::tls::client_config(host, "", "", "")
                .map_err(|e| format!("{addr}: {e}"))?;
            let session = rustls::ClientConnection::new(tls.config, tls.server_name)
                .map_err(|e| format!("{addr}: {e}"))?;
            Box::new(rustls::StreamOwned::new(session, tcp))
        }
    };
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    if !web.user.is_empty() || !web.password.is_empty() {
        let creds = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", web.user, &*web.password));
        req.push_str(&format!("Authorization: Basic {creds}\r\n"));
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut raw = Vec::new();
    match conn.take(MAX_RESPONSE).read_to_end(&mut raw) {
        Ok(_) => {}
        // A TLS peer that closes without close_notify: what arrived is the whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(format!("{addr}: {e}")),
    }
    let (status, body) = parse_response(&raw)?;
    if status != 200 {
        let body = body.trim();
        return Err(if body.is_empty() {
            format!("api status code [{status}]")
        } else {
            format!("api status code [{status}]: {body}")
        });
    }
    Ok(body)
}

/// Status code and body of an HTTP/1.1 response read to EOF (`Connection: close`).
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response from the admin API")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line from the admin API")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// `frpc status`'s table, as frp prints it: one block per proxy type in frp's order.
pub fn status_table(json: &str) -> Result<String, String> {
    let all: BTreeMap<String, Vec<StatusRow>> = serde_json::from_str(json)
        .map_err(|_| format!("unmarshal http response error: {}", json.trim()))?;
    let mut out = String::from("Proxy Status...\n\n");
    for kind in [
        "tcp", "udp", "tcpmux", "http", "https", "stcp", "sudp", "xtcp",
    ] {
        let Some(rows) = all.get(kind).filter(|r| !r.is_empty()) else {
            continue;
        };
        out.push_str(&kind.to_uppercase());
        out.push('\n');
        let mut table = vec![[
            "Name",
            "Status",
            "LocalAddr",
            "Plugin",
            "RemoteAddr",
            "Error",
        ]
        .map(String::from)];
        for r in rows {
            table.push([
                r.name.clone(),
                r.status.clone(),
                r.local_addr.clone(),
                r.plugin.clone(),
                r.remote_addr.clone(),
                r.err.clone(),
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|c| table.iter().map(|row| row[c].len()).max().unwrap_or(0))
            .collect();
        for row in &table {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

/// The fields of `client::proxy::ProxyStatus` the table shows (decoded leniently).
#[derive(serde::Deserialize)]
struct StatusRow {
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    err: String,
    #[serde(default)]
    local_addr: String,
    #[serde(default)]
    plugin: String,
    #[serde(default)]
    remote_addr: String,
}

/// Go-style durations as `--api-timeout` takes them: `30s`, `1500ms`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid duration '{s}'"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration '{s}'")),
    };
    if !(0.0..=86_400.0).contains(&secs) || (secs == 0.0) {
        return Err(format!("invalid duration '{s}'"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_responses_parse() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
        let (code, body) =
            parse_response(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad").unwrap();
        assert_eq!((code, body.as_str()), (400, "bad"));
        let (_, body) = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(body, "abcde");
    }

    #[test]
    fn the_status_table_lists_types_in_frps_order() {
        let json = r#"{"udp":[{"name":"u","type":"udp","status":"running","err":"","local_addr":"127.0.0.1:53","plugin":"","remote_addr":"x:53"}],
                       "tcp":[{"name":"ssh","type":"tcp","status":"start error","err":"port not allowed","local_addr":"127.0.0.1:22","plugin":"","remote_addr":""}]}"#;
        let t = status_table(json).unwrap();
        let tcp = t.find("TCP\n").unwrap();
        let udp = t.find("UDP\n").unwrap();
        assert!(t.starts_with("Proxy Status...\n\n") && tcp < udp, "{t}");
        assert!(t.contains("ssh   start error  127.0.0.1:22"), "{t}");
        assert!(t.contains("port not allowed"), "{t}");
    }
}
