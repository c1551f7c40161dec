//! `frpc.ini` → v1 client document (config.md §6.2–§6.4, frp's `legacy/client.go`, `proxy.go`,
//! `visitor.go`, `parse.go` and `conversion.go`).

use std::path::Path;

use serde_json::{Map, Value};

use super::{
    default_section_keys, object, parse_range_numbers, put, Converted, Field, IniFile, Kind,
    LegacyError, SectionReader, DEFAULT_SECTION,
};
use crate::config::glob::glob_files;

const COMMON: &[Field] = &[
    ("server_addr", "serverAddr", Kind::Str),
    ("server_port", "serverPort", Kind::Int),
    ("user", "user", Kind::Str),
    ("dns_server", "dnsServer", Kind::Str),
    ("nat_hole_stun_server", "natHoleStunServer", Kind::Str),
    ("login_fail_exit", "loginFailExit", Kind::Bool),
    // Ours (see the v1 key): not in frp, so an frp INI never sets it.
    ("graceful_stop_timeout", "gracefulStopTimeout", Kind::Int),
    (
        "dial_server_timeout",
        "transport.dialServerTimeout",
        Kind::Int,
    ),
    (
        "dial_server_keepalive",
        "transport.dialServerKeepalive",
        Kind::Int,
    ),
    (
        "connect_server_local_ip",
        "transport.connectServerLocalIP",
        Kind::Str,
    ),
    ("http_proxy", "transport.proxyURL", Kind::Str),
    ("pool_count", "transport.poolCount", Kind::Int),
    ("tcp_mux", "transport.tcpMux", Kind::Bool),
    (
        "tcp_mux_keepalive_interval",
        "transport.tcpMuxKeepaliveInterval",
        Kind::Int,
    ),
    ("protocol", "transport.protocol", Kind::Str),
    (
        "quic_keepalive_period",
        "transport.quic.keepalivePeriod",
        Kind::Int,
    ),
    (
        "quic_max_idle_timeout",
        "transport.quic.maxIdleTimeout",
        Kind::Int,
    ),
    (
        "quic_max_incoming_streams",
        "transport.quic.maxIncomingStreams",
        Kind::Int,
    ),
    (
        "heartbeat_interval",
        "transport.heartbeatInterval",
        Kind::Int,
    ),
    ("heartbeat_timeout", "transport.heartbeatTimeout", Kind::Int),
    ("tls_enable", "transport.tls.enable", Kind::Bool),
    (
        "disable_custom_tls_first_byte",
        "transport.tls.disableCustomTLSFirstByte",
        Kind::Bool,
    ),
    ("tls_cert_file", "transport.tls.certFile", Kind::Str),
    ("tls_key_file", "transport.tls.keyFile", Kind::Str),
    (
        "tls_trusted_ca_file",
        "transport.tls.trustedCaFile",
        Kind::Str,
    ),
    ("tls_server_name", "transport.tls.serverName", Kind::Str),
    ("log_file", "log.to", Kind::Str),
    ("log_level", "log.level", Kind::Str),
    ("log_max_days", "log.maxDays", Kind::Int),
    ("disable_log_color", "log.disablePrintColor", Kind::Bool),
    ("admin_addr", "webServer.addr", Kind::Str),
    ("admin_port", "webServer.port", Kind::Int),
    ("admin_user", "webServer.user", Kind::Str),
    ("admin_pwd", "webServer.password", Kind::Str),
    ("assets_dir", "webServer.assetsDir", Kind::Str),
    ("pprof_enable", "webServer.pprofEnable", Kind::Bool),
    ("udp_packet_size", "udpPacketSize", Kind::Int),
    ("authentication_method", "auth.method", Kind::Str),
    ("token", "auth.token", Kind::Str),
    ("oidc_client_id", "auth.oidc.clientID", Kind::Str),
    ("oidc_client_secret", "auth.oidc.clientSecret", Kind::Str),
    ("oidc_audience", "auth.oidc.audience", Kind::Str),
    ("oidc_scope", "auth.oidc.scope", Kind::Str),
    (
        "oidc_token_endpoint_url",
        "auth.oidc.tokenEndpointURL",
        Kind::Str,
    ),
];

const PROXY_TYPES: &[&str] = &[
    "tcp", "udp", "http", "https", "tcpmux", "stcp", "sudp", "xtcp",
];

/// Keys of every proxy type (`BaseProxyConf`). `bandwidth_limit`, `plugin`, `plugin_*` and
/// `meta_*` are handled separately.
const PROXY_BASE: &[Field] = &[
    ("local_ip", "localIP", Kind::Str),
    ("local_port", "localPort", Kind::Int),
    ("use_encryption", "transport.useEncryption", Kind::Bool),
    ("use_compression", "transport.useCompression", Kind::Bool),
    (
        "bandwidth_limit_mode",
        "transport.bandwidthLimitMode",
        Kind::Str,
    ),
    (
        "proxy_protocol_version",
        "transport.proxyProtocolVersion",
        Kind::Str,
    ),
    ("group", "loadBalancer.group", Kind::Str),
    ("group_key", "loadBalancer.groupKey", Kind::Str),
    ("health_check_type", "healthCheck.type", Kind::Str),
    (
        "health_check_timeout_s",
        "healthCheck.timeoutSeconds",
        Kind::Int,
    ),
    (
        "health_check_max_failed",
        "healthCheck.maxFailed",
        Kind::Int,
    ),
    (
        "health_check_interval_s",
        "healthCheck.intervalSeconds",
        Kind::Int,
    ),
    ("health_check_url", "healthCheck.path", Kind::Str),
];

const REMOTE_PORT: &[Field] = &[("remote_port", "remotePort", Kind::IntKeep)];

const DOMAINS: &[Field] = &[
    ("custom_domains", "customDomains", Kind::List),
    ("subdomain", "subdomain", Kind::Str),
];

const HTTP: &[Field] = &[
    ("locations", "locations", Kind::List),
    ("http_user", "httpUser", Kind::Str),
    ("http_pwd", "httpPassword", Kind::Str),
    ("host_header_rewrite", "hostHeaderRewrite", Kind::Str),
    ("route_by_http_user", "routeByHTTPUser", Kind::Str),
];

const TCPMUX: &[Field] = &[
    ("http_user", "httpUser", Kind::Str),
    ("http_pwd", "httpPassword", Kind::Str),
    ("route_by_http_user", "routeByHTTPUser", Kind::Str),
    ("multiplexer", "multiplexer", Kind::Str),
];

const SECRET: &[Field] = &[
    ("sk", "secretKey", Kind::Str),
    ("allow_users", "allowUsers", Kind::List),
];

const VISITOR_TYPES: &[&str] = &["stcp", "sudp", "xtcp"];

const VISITOR: &[Field] = &[
    ("use_encryption", "transport.useEncryption", Kind::Bool),
    ("use_compression", "transport.useCompression", Kind::Bool),
    ("sk", "secretKey", Kind::Str),
    ("server_user", "serverUser", Kind::Str),
    ("server_name", "serverName", Kind::Str),
    ("bind_addr", "bindAddr", Kind::Str),
    ("bind_port", "bindPort", Kind::Int),
];

/// xtcp visitors: frp resets values ≤ 0 to the defaults (8, 90, 1000), hence `IntPos`.
const XTCP_VISITOR: &[Field] = &[
    ("protocol", "protocol", Kind::Str),
    ("keep_tunnel_open", "keepTunnelOpen", Kind::Bool),
    ("max_retries_an_hour", "maxRetriesAnHour", Kind::IntPos),
    ("min_retry_interval", "minRetryInterval", Kind::IntPos),
    ("fallback_to", "fallbackTo", Kind::Str),
    ("fallback_timeout_ms", "fallbackTimeoutMs", Kind::IntPos),
];

// Client plugin parameters (`Convert_ProxyConf_To_v1_Base`): `plugin_*` key → option.
const LOCAL_ADDR: (&str, &str) = ("plugin_local_addr", "localAddr");
const HOST_REWRITE: (&str, &str) = ("plugin_host_header_rewrite", "hostHeaderRewrite");
const HTTP_USER: (&str, &str) = ("plugin_http_user", "httpUser");
const HTTP_PASSWD: (&str, &str) = ("plugin_http_passwd", "httpPassword");
const HTTP2HTTPS: &[(&str, &str)] = &[LOCAL_ADDR, HOST_REWRITE];
const HTTPS2HTTP: &[(&str, &str)] = &[
    LOCAL_ADDR,
    HOST_REWRITE,
    ("plugin_crt_path", "crtPath"),
    ("plugin_key_path", "keyPath"),
];
const HTTP_PROXY: &[(&str, &str)] = &[HTTP_USER, HTTP_PASSWD];
const SOCKS5: &[(&str, &str)] = &[("plugin_user", "username"), ("plugin_passwd", "password")];
const STATIC_FILE: &[(&str, &str)] = &[
    ("plugin_local_path", "localPath"),
    ("plugin_strip_prefix", "stripPrefix"),
    HTTP_USER,
    HTTP_PASSWD,
];
const UNIX_SOCKET: &[(&str, &str)] = &[("plugin_unix_path", "unixPath")];

/// frpc.ini → v1 JSON (common keys, `"proxies"`, `"visitors"`). Proxy and visitor names are
/// the section names, without the `user.` prefix.
///
/// `includes` in `[common]` is resolved against `base_dir`; each matching file is rendered with
/// `render` and appended to the text before the proxy sections are read (§1.3). `includes`
/// itself is not written to the output (the files are already merged). `start` is written and
/// also applied here, as frp does: sections not listed are skipped, even when invalid.
pub fn client_ini_to_v1(
    text: &str,
    base_dir: &Path,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Value, LegacyError> {
    client_ini_convert(text, base_dir, render).map(|c| c.value)
}

/// [`client_ini_to_v1`] plus the keys frpc ignores.
pub fn client_ini_convert(
    text: &str,
    base_dir: &Path,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Converted, LegacyError> {
    // [common] comes from the main file alone (frp's UnmarshalClientConfFromIni).
    let main = IniFile::parse(text)?;
    let common = main.section("common").ok_or_else(|| {
        LegacyError::new(
            None,
            None,
            "invalid configuration file, not found [common] section",
        )
    })?;
    let mut out = Map::new();
    let mut r = SectionReader::new(&main, common);
    r.apply(&mut out, COMMON)?;
    r.mark("log_way"); // read by frp, never used
    r.auth_scopes(&mut out)?;
    let metas = r.prefixed("meta_");
    if !metas.is_empty() {
        put(&mut out, "metadatas", object(metas));
    }
    let params = r.prefixed("oidc_additional_");
    if !params.is_empty() {
        put(
            &mut out,
            "auth.oidc.additionalEndpointParams",
            object(params),
        );
    }
    let start = r.list("start")?.unwrap_or_default();
    if !start.is_empty() {
        put(&mut out, "start", Value::from(start.clone()));
    }
    let includes = r.list("includes")?.unwrap_or_default();
    let mut unknown = r.unknown();

    // Proxies and visitors come from the main text with the included files appended.
    let mut file = if includes.is_empty() {
        main
    } else {
        let mut buf = String::from(text);
        buf.push('\n');
        for inc in &includes {
            buf.push_str(&include_text(base_dir, inc, render)?);
        }
        IniFile::parse(&buf)?
    };
    expand_ranges(&mut file)?;

    let mut proxies = Vec::new();
    let mut visitors = Vec::new();
    for sec in &file.sections {
        let name = sec.name.as_str();
        if name == DEFAULT_SECTION || name == "common" || name.starts_with("range:") {
            continue;
        }
        if !start.is_empty() && !start.iter().any(|s| s == name) {
            continue;
        }
        let mut r = SectionReader::new(&file, sec);
        let role = r.string("role")?.unwrap_or_else(|| "server".into());
        match role.as_str() {
            "server" => proxies.push(convert_proxy(&mut r)?),
            "visitor" => visitors.push(convert_visitor(&mut r)?),
            other => {
                return Err(r.err(
                    "role",
                    format!("role should be 'server' or 'visitor', not '{other}'"),
                ))
            }
        }
        unknown.extend(r.unknown());
    }
    unknown.extend(default_section_keys(&file));
    if !proxies.is_empty() {
        out.insert("proxies".into(), Value::Array(proxies));
    }
    if !visitors.is_empty() {
        out.insert("visitors".into(), Value::Array(visitors));
    }
    Ok(Converted {
        value: Value::Object(out),
        unknown_keys: unknown,
    })
}

/// The rendered text of every file matching one `includes` entry, each followed by a newline.
fn include_text(
    base_dir: &Path,
    inc: &str,
    render: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, LegacyError> {
    let err = |m: String| LegacyError::at("common", "includes", m);
    let files = glob_files(&base_dir.join(inc))
        .map_err(|e| err(format!("include: directory of {inc} cannot be read: {e}")))?;
    let mut out = String::new();
    for f in files {
        let content = std::fs::read_to_string(&f)
            .map_err(|e| err(format!("include: cannot read {}: {e}", f.display())))?;
        let rendered = render(&content)
            .map_err(|e| err(format!("render extra config {} error: {e}", f.display())))?;
        out.push_str(&rendered);
        out.push('\n');
    }
    Ok(out)
}

/// `[range:PREFIX]` → sections `PREFIX_0` … `PREFIX_{n-1}` appended to the file, each a copy of
/// the range section's keys with one `local_port` / `remote_port` pair (frp's
/// `renderRangeProxyTemplates`).
fn expand_ranges(file: &mut IniFile) -> Result<(), LegacyError> {
    let names: Vec<String> = file
        .sections
        .iter()
        .filter(|s| s.name.starts_with("range:"))
        .map(|s| s.name.clone())
        .collect();
    for name in names {
        let Some(sec) = file.section(&name) else {
            continue;
        };
        let keys = sec.keys.clone();
        let mut r = SectionReader::new(file, sec);
        let local = r.value("local_port")?.unwrap_or_default();
        let remote = r.value("remote_port")?.unwrap_or_default();
        for (key, v) in [("local_port", &local), ("remote_port", &remote)] {
            if v.is_empty() {
                return Err(LegacyError::at(
                    &name,
                    key,
                    "local_port or remote_port is empty",
                ));
            }
        }
        let local =
            parse_range_numbers(&local).map_err(|m| LegacyError::at(&name, "local_port", m))?;
        let remote =
            parse_range_numbers(&remote).map_err(|m| LegacyError::at(&name, "remote_port", m))?;
        if local.len() != remote.len() {
            return Err(LegacyError::at(
                &name,
                "remote_port",
                format!(
                    "local ports number should be same with remote ports number ({} local, {} remote)",
                    local.len(),
                    remote.len()
                ),
            ));
        }
        let prefix = name["range:".len()..].trim().to_string();
        for (i, (l, rp)) in local.iter().zip(&remote).enumerate() {
            let idx = file.section_index_or_create(&format!("{prefix}_{i}"));
            let target = &mut file.sections[idx];
            for (k, v) in &keys {
                target.set(k, v);
            }
            target.set("local_port", &l.to_string());
            target.set("remote_port", &rp.to_string());
        }
    }
    Ok(())
}

fn convert_proxy(r: &mut SectionReader) -> Result<Value, LegacyError> {
    let kind = r.string("type")?.unwrap_or_else(|| "tcp".into());
    if !PROXY_TYPES.contains(&kind.as_str()) {
        return Err(r.err(
            "type",
            format!(
                "invalid proxy type '{kind}', optional values are {}",
                PROXY_TYPES.join(", ")
            ),
        ));
    }
    r.mark("name"); // replaced by the section name
    r.mark("role");
    let mut out = Map::new();
    out.insert("name".into(), Value::from(r.name()));
    out.insert("type".into(), Value::from(kind.as_str()));
    r.apply(&mut out, PROXY_BASE)?;

    if let Some(bw) = r.string("bandwidth_limit")? {
        let bw = bw.trim();
        check_bandwidth(bw).map_err(|m| r.err("bandwidth_limit", m))?;
        if !bw.is_empty() {
            put(&mut out, "transport.bandwidthLimit", Value::from(bw));
        }
    }
    let metas = r.prefixed("meta_");
    if !metas.is_empty() {
        put(&mut out, "metadatas", object(metas));
    }
    if let Some(plugin) = r.string("plugin")? {
        let table = plugin_table(r, &plugin);
        out.insert("plugin".into(), table);
    }

    match kind.as_str() {
        "tcp" | "udp" => r.apply(&mut out, REMOTE_PORT)?,
        "http" => {
            r.apply(&mut out, DOMAINS)?;
            r.apply(&mut out, HTTP)?;
            let headers = r.prefixed("header_");
            if !headers.is_empty() {
                put(&mut out, "requestHeaders.set", object(headers));
            }
        }
        "https" => r.apply(&mut out, DOMAINS)?,
        "tcpmux" => {
            r.apply(&mut out, DOMAINS)?;
            r.apply(&mut out, TCPMUX)?;
        }
        _ => r.apply(&mut out, SECRET)?, // stcp, sudp, xtcp
    }
    Ok(Value::Object(out))
}

/// frp's `BandwidthQuantity`: empty, or a number followed by `MB` or `KB`.
fn check_bandwidth(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    let num = s
        .strip_suffix("MB")
        .or_else(|| s.strip_suffix("KB"))
        .ok_or_else(|| format!("invalid bandwidth '{s}': unit not supported, use KB or MB"))?;
    num.parse::<f64>()
        .map(|_| ())
        .map_err(|_| format!("invalid bandwidth '{s}'"))
}

/// `plugin = TYPE` plus its `plugin_*` parameters → the v1 plugin table. Only the seven plugin
/// types frp's conversion knows get options; any other type is written with `type` alone.
/// Parameters are raw values (ini.v1 `KeysHash`); empty ones are left out.
fn plugin_table(r: &mut SectionReader, kind: &str) -> Value {
    let (params, headers) = match kind {
        "http2https" => (HTTP2HTTPS, true),
        "https2http" | "https2https" => (HTTPS2HTTP, true),
        "http_proxy" => (HTTP_PROXY, false),
        "socks5" => (SOCKS5, false),
        "static_file" => (STATIC_FILE, false),
        "unix_domain_socket" => (UNIX_SOCKET, false),
        _ => (&[][..], false),
    };
    let mut m = Map::new();
    m.insert("type".into(), Value::from(kind));
    for &(ini, v1) in params {
        if let Some(v) = r.own(ini) {
            r.mark(ini);
            if !v.is_empty() {
                m.insert(v1.into(), Value::from(v));
            }
        }
    }
    if headers {
        let set: Vec<(String, String)> = r
            .prefixed("plugin_header_")
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .collect();
        if !set.is_empty() {
            m.insert(
                "requestHeaders".into(),
                serde_json::json!({ "set": object(set) }),
            );
        }
    }
    Value::Object(m)
}

fn convert_visitor(r: &mut SectionReader) -> Result<Value, LegacyError> {
    let kind = r
        .string("type")?
        .ok_or_else(|| r.err("type", "type shouldn't be empty"))?;
    if !VISITOR_TYPES.contains(&kind.as_str()) {
        return Err(r.err(
            "type",
            format!(
                "invalid visitor type '{kind}', optional values are {}",
                VISITOR_TYPES.join(", ")
            ),
        ));
    }
    r.mark("name");
    r.mark("role");
    let mut out = Map::new();
    out.insert("name".into(), Value::from(r.name()));
    out.insert("type".into(), Value::from(kind.as_str()));
    r.apply(&mut out, VISITOR)?;
    if kind == "xtcp" {
        r.apply(&mut out, XTCP_VISITOR)?;
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests;
