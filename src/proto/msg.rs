//! frp's control messages (protocol.md §4.3, §4.4) as serde structs.
//!
//! Encoding follows Go's `encoding/json` as frp uses it: fields in declaration order, `omitempty`
//! everywhere except the nested structs `client_spec` and `detect_behavior`, map keys sorted.
//! Decoding ignores unknown keys, treats every key as optional and matches keys case-insensitively
//! (see [`Message::decode`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

pub type StrMap = BTreeMap<String, String>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSpec {
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "is_false")]
    pub always_auth_pass: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Login {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub os: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub arch: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub privilege_key: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timestamp: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metas: StrMap,
    pub client_spec: ClientSpec,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub pool_count: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginResp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxy {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_type: String,
    #[serde(skip_serializing_if = "is_false")]
    pub use_encryption: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub use_compression: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bandwidth_limit: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub bandwidth_limit_mode: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group_key: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metas: StrMap,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: StrMap,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub remote_port: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_domains: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subdomain: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub http_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub http_pwd: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host_header_rewrite: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: StrMap,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: StrMap,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub route_by_http_user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sk: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_users: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub multiplexer: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewProxyResp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub remote_addr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CloseProxy {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewWorkConn {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub privilege_key: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReqWorkConn {}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StartWorkConn {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src_addr: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub dst_addr: String,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub src_port: u16,
    #[serde(skip_serializing_if = "is_zero_u16")]
    pub dst_port: u16,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewVisitorConn {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sign_key: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timestamp: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub use_encryption: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub use_compression: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewVisitorConnResp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ping {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub privilege_key: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timestamp: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pong {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// Go's `net.UDPAddr`: `{"IP":"1.2.3.4","Port":5678,"Zone":""}`, `Zone` always present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UdpAddr {
    #[serde(rename(serialize = "IP", deserialize = "ip"))]
    pub ip: String,
    #[serde(rename(serialize = "Port", deserialize = "port"))]
    pub port: u16,
    #[serde(rename(serialize = "Zone", deserialize = "zone"))]
    pub zone: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UdpPacket {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub c: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l: Option<UdpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r: Option<UdpAddr>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleVisitor {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transaction_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub pre_check: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sign_key: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub timestamp: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapped_addrs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assisted_addrs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleClient {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transaction_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub proxy_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mapped_addrs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assisted_addrs: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortsRange {
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub from: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub to: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleDetectBehavior {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub mode: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub ttl: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub send_delay_ms: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub read_timeout: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidate_ports: Vec<PortsRange>,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub send_random_ports: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub listen_random_ports: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleResp {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transaction_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidate_addrs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assisted_addrs: Vec<String>,
    pub detect_behavior: NatHoleDetectBehavior,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleSid {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub transaction_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
    #[serde(skip_serializing_if = "is_false")]
    pub response: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NatHoleReport {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sid: String,
    #[serde(skip_serializing_if = "is_false")]
    pub success: bool,
}

/// Every frp message, tagged by its one-byte type on the wire.
// Messages are few and short-lived (control traffic), so a large NewProxy variant costs nothing
// worth the boxing noise in every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Login(Login),
    LoginResp(LoginResp),
    NewProxy(NewProxy),
    NewProxyResp(NewProxyResp),
    CloseProxy(CloseProxy),
    NewWorkConn(NewWorkConn),
    ReqWorkConn(ReqWorkConn),
    StartWorkConn(StartWorkConn),
    NewVisitorConn(NewVisitorConn),
    NewVisitorConnResp(NewVisitorConnResp),
    Ping(Ping),
    Pong(Pong),
    UdpPacket(UdpPacket),
    NatHoleVisitor(NatHoleVisitor),
    NatHoleClient(NatHoleClient),
    NatHoleResp(NatHoleResp),
    NatHoleSid(NatHoleSid),
    NatHoleReport(NatHoleReport),
}

/// Keys of nested *structs* (not maps) whose own keys are matched case-insensitively too.
const NESTED_STRUCT_KEYS: &[&str] = &["client_spec", "l", "r", "detect_behavior"];

impl Message {
    /// True for type bytes frp registers; anything else kills the connection before the length.
    pub fn is_known_type(t: u8) -> bool {
        b"o1p2cwrsv3h4uinm56".contains(&t)
    }

    pub fn type_byte(&self) -> u8 {
        match self {
            Message::Login(_) => b'o',
            Message::LoginResp(_) => b'1',
            Message::NewProxy(_) => b'p',
            Message::NewProxyResp(_) => b'2',
            Message::CloseProxy(_) => b'c',
            Message::NewWorkConn(_) => b'w',
            Message::ReqWorkConn(_) => b'r',
            Message::StartWorkConn(_) => b's',
            Message::NewVisitorConn(_) => b'v',
            Message::NewVisitorConnResp(_) => b'3',
            Message::Ping(_) => b'h',
            Message::Pong(_) => b'4',
            Message::UdpPacket(_) => b'u',
            Message::NatHoleVisitor(_) => b'i',
            Message::NatHoleClient(_) => b'n',
            Message::NatHoleResp(_) => b'm',
            Message::NatHoleSid(_) => b'5',
            Message::NatHoleReport(_) => b'6',
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Message::Login(_) => "Login",
            Message::LoginResp(_) => "LoginResp",
            Message::NewProxy(_) => "NewProxy",
            Message::NewProxyResp(_) => "NewProxyResp",
            Message::CloseProxy(_) => "CloseProxy",
            Message::NewWorkConn(_) => "NewWorkConn",
            Message::ReqWorkConn(_) => "ReqWorkConn",
            Message::StartWorkConn(_) => "StartWorkConn",
            Message::NewVisitorConn(_) => "NewVisitorConn",
            Message::NewVisitorConnResp(_) => "NewVisitorConnResp",
            Message::Ping(_) => "Ping",
            Message::Pong(_) => "Pong",
            Message::UdpPacket(_) => "UDPPacket",
            Message::NatHoleVisitor(_) => "NatHoleVisitor",
            Message::NatHoleClient(_) => "NatHoleClient",
            Message::NatHoleResp(_) => "NatHoleResp",
            Message::NatHoleSid(_) => "NatHoleSid",
            Message::NatHoleReport(_) => "NatHoleReport",
        }
    }

    /// The JSON body exactly as Go's encoder writes it (including its `\u003c`-style escapes).
    pub fn encode_body(&self) -> Vec<u8> {
        let json = match self {
            Message::Login(m) => serde_json::to_vec(m),
            Message::LoginResp(m) => serde_json::to_vec(m),
            Message::NewProxy(m) => serde_json::to_vec(m),
            Message::NewProxyResp(m) => serde_json::to_vec(m),
            Message::CloseProxy(m) => serde_json::to_vec(m),
            Message::NewWorkConn(m) => serde_json::to_vec(m),
            Message::ReqWorkConn(m) => serde_json::to_vec(m),
            Message::StartWorkConn(m) => serde_json::to_vec(m),
            Message::NewVisitorConn(m) => serde_json::to_vec(m),
            Message::NewVisitorConnResp(m) => serde_json::to_vec(m),
            Message::Ping(m) => serde_json::to_vec(m),
            Message::Pong(m) => serde_json::to_vec(m),
            Message::UdpPacket(m) => serde_json::to_vec(m),
            Message::NatHoleVisitor(m) => serde_json::to_vec(m),
            Message::NatHoleClient(m) => serde_json::to_vec(m),
            Message::NatHoleResp(m) => serde_json::to_vec(m),
            Message::NatHoleSid(m) => serde_json::to_vec(m),
            Message::NatHoleReport(m) => serde_json::to_vec(m),
        };
        // Serialising plain structs of strings, numbers and string maps cannot fail.
        go_escape(json.unwrap_or_else(|_| b"{}".to_vec()))
    }

    /// Decode a body of type `t`. Unknown keys are ignored and keys match case-insensitively,
    /// as Go's `encoding/json` does.
    pub fn decode(t: u8, body: &[u8]) -> Result<Message, serde_json::Error> {
        let mut value: serde_json::Value = serde_json::from_slice(body)?;
        lowercase_keys(&mut value, Some(NESTED_STRUCT_KEYS));
        let v = value;
        Ok(match t {
            b'o' => Message::Login(serde_json::from_value(v)?),
            b'1' => Message::LoginResp(serde_json::from_value(v)?),
            b'p' => Message::NewProxy(serde_json::from_value(v)?),
            b'2' => Message::NewProxyResp(serde_json::from_value(v)?),
            b'c' => Message::CloseProxy(serde_json::from_value(v)?),
            b'w' => Message::NewWorkConn(serde_json::from_value(v)?),
            b'r' => Message::ReqWorkConn(serde_json::from_value(v)?),
            b's' => Message::StartWorkConn(serde_json::from_value(v)?),
            b'v' => Message::NewVisitorConn(serde_json::from_value(v)?),
            b'3' => Message::NewVisitorConnResp(serde_json::from_value(v)?),
            b'h' => Message::Ping(serde_json::from_value(v)?),
            b'4' => Message::Pong(serde_json::from_value(v)?),
            b'u' => Message::UdpPacket(serde_json::from_value(v)?),
            b'i' => Message::NatHoleVisitor(serde_json::from_value(v)?),
            b'n' => Message::NatHoleClient(serde_json::from_value(v)?),
            b'm' => Message::NatHoleResp(serde_json::from_value(v)?),
            b'5' => Message::NatHoleSid(serde_json::from_value(v)?),
            b'6' => Message::NatHoleReport(serde_json::from_value(v)?),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "unknown message type {other:#04x}"
                )))
            }
        })
    }
}

/// Decode a JSON object the way Go's `encoding/json` fills a struct: keys of the object and of
/// its nested structs named in `nested` match case-insensitively, unknown keys are ignored and
/// `null` leaves a field empty. User maps (`metas`, ...) keep their keys. For JSON that is not
/// a frp message itself, such as the content a server plugin answers with.
pub fn from_go_json<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
    nested: &[&str],
) -> Result<T, serde_json::Error> {
    lowercase_keys(&mut value, Some(nested));
    serde_json::from_value(value)
}

/// Lower-case the keys of a message object and of its nested structs (`nested`, given for the
/// top level only), leaving user maps (`metas`, `headers`, ...) untouched. A JSON `null` becomes
/// "absent" like in Go.
fn lowercase_keys(v: &mut serde_json::Value, nested: Option<&[&str]>) {
    if let serde_json::Value::Object(map) = v {
        let entries: Vec<(String, serde_json::Value)> = std::mem::take(map).into_iter().collect();
        for (k, mut val) in entries {
            if val.is_null() {
                continue;
            }
            let key = k.to_ascii_lowercase();
            if nested.is_some_and(|n| n.contains(&key.as_str())) {
                lowercase_keys(&mut val, None);
            }
            if nested.is_none() && key == "candidate_ports" {
                if let serde_json::Value::Array(items) = &mut val {
                    items.iter_mut().for_each(|i| lowercase_keys(i, None));
                }
            }
            // Go's decoder: an exact-case key wins over a case-insensitive one; keep the first.
            map.entry(key).or_insert(val);
        }
    }
}

/// Go's encoder escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings. These bytes can only
/// occur inside JSON strings, so a plain replacement is exact.
pub fn go_escape(json: Vec<u8>) -> Vec<u8> {
    let needs = json
        .iter()
        .any(|&b| b == b'<' || b == b'>' || b == b'&' || b == 0xE2);
    if !needs {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut i = 0;
    while i < json.len() {
        match json[i] {
            b'<' => out.extend_from_slice(b"\\u003c"),
            b'>' => out.extend_from_slice(b"\\u003e"),
            b'&' => out.extend_from_slice(b"\\u0026"),
            0xE2 if json.get(i + 1) == Some(&0x80)
                && matches!(json.get(i + 2), Some(0xA8) | Some(0xA9)) =>
            {
                out.extend_from_slice(if json[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests;
