//! Value types shared by the frps and frpc schemas.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfig {
    /// `console` or a file path.
    pub to: String,
    pub level: String,
    pub max_days: i64,
    pub disable_print_color: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            to: "console".into(),
            level: "info".into(),
            max_days: 3,
            disable_print_color: false,
        }
    }
}

pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthScope {
    HeartBeats,
    NewWorkConns,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSource {
    pub path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ValueSource {
    #[serde(rename = "type")]
    pub kind: String,
    pub file: Option<FileSource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct TlsConfig {
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
    pub server_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct QuicConfig {
    pub keepalive_period: i64,
    pub max_idle_timeout: i64,
    pub max_incoming_streams: i64,
}

impl Default for QuicConfig {
    fn default() -> Self {
        QuicConfig {
            keepalive_period: 10,
            max_idle_timeout: 30,
            max_incoming_streams: 100000,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WebServerTls {
    pub cert_file: String,
    pub key_file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct WebServerConfig {
    pub addr: String,
    pub port: i64,
    pub user: String,
    pub password: String,
    pub assets_dir: String,
    pub pprof_enable: bool,
    pub tls: Option<WebServerTls>,
    /// Our addition: allow a dashboard without password on a non-loopback address.
    pub allow_no_auth: bool,
}

impl Default for WebServerConfig {
    fn default() -> Self {
        WebServerConfig {
            addr: "127.0.0.1".into(),
            port: 0,
            user: String::new(),
            password: String::new(),
            assets_dir: String::new(),
            pprof_enable: false,
            tls: None,
            allow_no_auth: false,
        }
    }
}

/// One `allowPorts` entry: `{ start = A, end = B }` or `{ single = P }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct PortsRange {
    pub start: i64,
    pub end: i64,
    pub single: i64,
}

impl PortsRange {
    /// The inclusive bounds this entry allows.
    pub fn bounds(&self) -> (i64, i64) {
        if self.single > 0 {
            (self.single, self.single)
        } else {
            (self.start, self.end)
        }
    }
}

/// Parse the CLI/INI range form `"2000-3000,3001"` as frp's `NewPortsRangeSliceFromString`
/// does: every item is `N` or `A-B` with A ≤ B (an empty item is an error); an empty string is
/// no ranges.
pub fn parse_port_ranges(s: &str) -> Result<Vec<PortsRange>, String> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for item in s.split(',') {
        let num = |t: &str| {
            t.trim()
                .parse::<i64>()
                .map_err(|_| format!("range number is invalid: '{item}'"))
        };
        let parts: Vec<&str> = item.split('-').collect();
        match parts.as_slice() {
            [one] => out.push(PortsRange {
                single: num(one)?,
                ..Default::default()
            }),
            [lo, hi] => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if hi < lo {
                    return Err(format!("range number is invalid: '{item}'"));
                }
                out.push(PortsRange {
                    start: lo,
                    end: hi,
                    single: 0,
                });
            }
            _ => return Err(format!("range number is invalid: '{item}'")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_parse() {
        let r = parse_port_ranges("2000-3000, 3001").unwrap();
        assert_eq!(r[0].bounds(), (2000, 3000));
        assert_eq!(r[1].bounds(), (3001, 3001));
        assert!(parse_port_ranges("3-1").is_err());
        assert!(parse_port_ranges("x").is_err());
        assert!(parse_port_ranges("2000-3000,").is_err());
        assert!(parse_port_ranges("1-2-3").is_err());
        assert!(parse_port_ranges(" ").unwrap().is_empty());
    }
}
