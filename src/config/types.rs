//! Value types shared by the frps and frpc schemas.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A secret of a config file (a token, a password, a secret key). It is used like a string,
/// but its `Debug` never shows it and it has no `Display`, so it cannot reach a log line, a
/// panic message or an error text by accident: code that needs the value derefs to `str`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
}

impl Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl PartialEq<str> for Secret {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Secret {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A closed set of config values frp spells as strings: serde reads and writes frp's words, and
/// an unknown word is refused with frp's message (naming the allowed ones). An empty value
/// is the default, as frp's `Complete()` makes it. The message names the key.
macro_rules! config_enum {
    ($(#[$doc:meta])* $name:ident, $key:literal, $what:literal, { $($variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub enum $name {
            #[default]
            $($variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                match s.as_str() {
                    "" => Ok($name::default()),
                    $($word => Ok($name::$variant),)+
                    _ => Err(format!(
                        concat!($key, ": invalid ", $what, " '{}', optional values are {}"),
                        s,
                        [$($word),+].join(", ")
                    )),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

config_enum!(
    /// `auth.method`: how frpc proves itself to frps.
    AuthMethod, "auth.method", "auth method", { Token = "token", Oidc = "oidc" }
);

config_enum!(
    /// `transport.protocol`: how frpc reaches frps.
    TransportProtocol, "transport.protocol", "protocol", {
        Tcp = "tcp", Kcp = "kcp", Quic = "quic", Websocket = "websocket", Wss = "wss",
    }
);

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
    pub password: Secret,
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
            password: Secret::default(),
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

#[cfg(test)]
mod secret_tests {
    use super::Secret;
    use crate::config::{ClientConfig, ProxyConfig, ServerConfig};

    /// Debug output of whole configs (what a `{:?}` in a log or a panic would print) never
    /// holds a token, a password or a secret key.
    #[test]
    fn debug_of_a_config_shows_no_secret() {
        let mut s = ServerConfig::default();
        s.auth.token = Secret::new("server-token-1");
        s.web_server.password = Secret::new("dash-pass-2");
        let mut c = ClientConfig::default();
        c.auth.token = Secret::new("client-token-3");
        c.auth.oidc.client_secret = Secret::new("oidc-secret-4");
        c.proxies.push(ProxyConfig {
            secret_key: Some(Secret::new("proxy-sk-5")),
            http_password: Some(Secret::new("http-pass-6")),
            ..ProxyConfig::default()
        });
        let text = format!("{s:?} {c:?}");
        for secret in [
            "server-token-1",
            "dash-pass-2",
            "client-token-3",
            "oidc-secret-4",
            "proxy-sk-5",
            "http-pass-6",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("\"***\""));
        assert_eq!(s.auth.token, "server-token-1");
        assert_eq!(&*c.auth.token, "client-token-3");
    }
}
