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
mod tests {
    use super::*;
    use crate::config::types::AuthScope;
    use crate::config::ClientConfig;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/config/legacy/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn no_render(s: &str) -> Result<String, String> {
        Ok(s.to_string())
    }

    fn convert(text: &str) -> Value {
        client_ini_to_v1(text, Path::new("."), &no_render).unwrap()
    }

    fn load(text: &str) -> ClientConfig {
        let v = convert(text);
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
    }

    fn err(text: &str) -> LegacyError {
        client_ini_to_v1(text, Path::new("."), &no_render).unwrap_err()
    }

    #[test]
    fn full_fixture_equals_toml() {
        let ini = load(&fixture("frpc_full.ini"));
        let toml: ClientConfig = toml::from_str(&fixture("frpc_full.toml")).unwrap();
        assert_eq!(ini, toml);
        assert_eq!(ini.proxies.len(), 22);
        assert_eq!(ini.visitors.len(), 3);
        assert_eq!(ini.auth.additional_scopes, [AuthScope::HeartBeats]);
        assert_eq!(ini.metadatas["var1"], "123");
    }

    #[test]
    fn minimal_fixture_equals_toml() {
        let ini = load(&fixture("frpc_minimal.ini"));
        let toml: ClientConfig = toml::from_str(&fixture("frpc_minimal.toml")).unwrap();
        assert_eq!(ini, toml);
    }

    #[test]
    fn range_sections_expand() {
        let c = load(concat!(
            "[common]\n[range:web]\ntype = tcp\nlocal_ip = 10.0.0.1\n",
            "local_port = 6000-6006\nremote_port = 7000-7006\nuse_encryption = true\n",
            "meta_team = ops\n[after]\nlocal_port = 22\n",
        ));
        let names: Vec<&str> = c.proxies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["after", "web_0", "web_1", "web_2", "web_3", "web_4", "web_5", "web_6"]
        );
        for (i, p) in c.proxies[1..].iter().enumerate() {
            assert_eq!(p.local_port, 6000 + i as i64);
            assert_eq!(p.remote_port, Some(7000 + i as i64));
            assert_eq!(p.local_ip, "10.0.0.1");
            assert!(p.transport.use_encryption);
            assert_eq!(p.metadatas["team"], "ops");
        }
        let c = load("[common]\n[range: p ]\nlocal_port = 1,3-4\nremote_port = 5-6,9\n");
        let got: Vec<(&str, i64, Option<i64>)> = c
            .proxies
            .iter()
            .map(|p| (p.name.as_str(), p.local_port, p.remote_port))
            .collect();
        assert_eq!(
            got,
            [
                ("p_0", 1, Some(5)),
                ("p_1", 3, Some(6)),
                ("p_2", 4, Some(9))
            ]
        );
    }

    #[test]
    fn range_errors() {
        let e = err("[common]\n[range:web]\nlocal_port = 6000-6001\nremote_port = 7000\n");
        assert_eq!(e.section.as_deref(), Some("range:web"));
        assert_eq!(e.key.as_deref(), Some("remote_port"));
        let e = err("[common]\n[range:web]\nlocal_port = 6000-6001\n");
        assert_eq!(e.key.as_deref(), Some("remote_port"));
        let e = err("[common]\n[range:web]\nlocal_port = a-b\nremote_port = 1-2\n");
        assert_eq!(e.key.as_deref(), Some("local_port"));
    }

    #[test]
    fn meta_and_header_keys() {
        let c = load(concat!(
            "[common]\nmeta_region = eu\nmeta_a.b = c\noidc_additional_audience = x\n",
            "[web]\ntype = http\ncustom_domains = a.com, b.com\nheader_X-From-Where = frp\n",
            "header_Host = h\nmeta_owner = me\n",
            "[raw]\ntype = tcp\nheader_X = ignored\n",
        ));
        assert_eq!(c.metadatas["region"], "eu");
        assert_eq!(c.metadatas["a.b"], "c");
        assert_eq!(c.auth.oidc.additional_endpoint_params["audience"], "x");
        let web = &c.proxies[0];
        let set = &web.request_headers.as_ref().unwrap().set;
        assert_eq!(set["X-From-Where"], "frp");
        assert_eq!(set["Host"], "h");
        assert_eq!(web.metadatas["owner"], "me");
        assert_eq!(web.custom_domains.as_deref().unwrap(), ["a.com", "b.com"]);
        assert!(c.proxies[1].request_headers.is_none());
    }

    #[test]
    fn oidc_and_transport_renames() {
        let c = load(concat!(
            "[common]\nauthentication_method = oidc\noidc_client_id = id\n",
            "oidc_client_secret = secret\noidc_audience = aud\noidc_scope = s\n",
            "oidc_token_endpoint_url = https://idp/token\nauthenticate_new_work_conns = true\n",
            "connect_server_local_ip = 10.0.0.2\nhttp_proxy = socks5://p:1080\n",
            "disable_custom_tls_first_byte = false\ntls_enable = false\ntcp_mux = false\n",
        ));
        let o = &c.auth.oidc;
        assert_eq!(c.auth.method, "oidc");
        assert_eq!(c.auth.additional_scopes, [AuthScope::NewWorkConns]);
        assert_eq!(
            (
                o.client_id.as_str(),
                o.client_secret.as_str(),
                o.audience.as_str()
            ),
            ("id", "secret", "aud")
        );
        assert_eq!(
            (o.scope.as_str(), o.token_endpoint_url.as_str()),
            ("s", "https://idp/token")
        );
        assert_eq!(c.transport.connect_server_local_ip, "10.0.0.2");
        assert_eq!(c.transport.proxy_url, "socks5://p:1080");
        assert!(!c.transport.tls.disable_custom_tls_first_byte);
        assert!(!c.transport.tls.enable);
        assert!(!c.transport.tcp_mux);
    }

    #[test]
    fn plugin_options() {
        let v = convert(concat!(
            "[common]\n",
            "[a]\nplugin = https2http\nplugin_local_addr = 127.0.0.1:80\nplugin_crt_path = c\n",
            "plugin_key_path = k\nplugin_host_header_rewrite = h\nplugin_header_X-Y = z\n",
            "plugin_header_ = skipped\nplugin_unknown = 1\n",
            "[b]\nplugin = socks5\nplugin_user = u\nplugin_passwd = p\nplugin_http_user = no\n",
            "[c]\nplugin = static_file\nplugin_local_path = /srv\nplugin_strip_prefix = s\n",
            "plugin_http_user = u\nplugin_http_passwd = p\n",
            "[d]\nplugin = unix_domain_socket\nplugin_unix_path = /run/x.sock\n",
            "[e]\nplugin = http_proxy\nplugin_http_user = u\nplugin_http_passwd =\n",
            "[f]\nplugin = tls2raw\nplugin_local_addr = x\n",
            "[g]\nplugin = http2https\nplugin_local_addr = 127.0.0.1:443\n",
        ));
        let plugin = |i: usize| v["proxies"][i]["plugin"].clone();
        assert_eq!(
            plugin(0),
            serde_json::json!({
                "type": "https2http", "localAddr": "127.0.0.1:80", "crtPath": "c", "keyPath": "k",
                "hostHeaderRewrite": "h", "requestHeaders": { "set": { "X-Y": "z" } },
            })
        );
        assert_eq!(
            plugin(1),
            serde_json::json!({ "type": "socks5", "username": "u", "password": "p" })
        );
        assert_eq!(
            plugin(2),
            serde_json::json!({
                "type": "static_file", "localPath": "/srv", "stripPrefix": "s",
                "httpUser": "u", "httpPassword": "p",
            })
        );
        assert_eq!(
            plugin(3),
            serde_json::json!({ "type": "unix_domain_socket", "unixPath": "/run/x.sock" })
        );
        assert_eq!(
            plugin(4),
            serde_json::json!({ "type": "http_proxy", "httpUser": "u" })
        );
        assert_eq!(plugin(5), serde_json::json!({ "type": "tls2raw" }));
        assert_eq!(
            plugin(6),
            serde_json::json!({ "type": "http2https", "localAddr": "127.0.0.1:443" })
        );
        let unknown = client_ini_convert(
            "[common]\n[a]\nplugin = socks5\nplugin_user = u\nplugin_http_user = no\n",
            Path::new("."),
            &no_render,
        )
        .unwrap()
        .unknown_keys;
        assert_eq!(unknown, ["[a] plugin_http_user"]);
    }

    #[test]
    fn visitors() {
        let c = load(concat!(
            "[common]\nuser = me\n",
            "[v1]\nrole = visitor\ntype = xtcp\nserver_user = other\nserver_name = p2p\n",
            "sk = s\nbind_port = 9001\nkeep_tunnel_open = true\nmax_retries_an_hour = 0\n",
            "min_retry_interval = 30\nfallback_to = v2\nfallback_timeout_ms = 500\n",
            "protocol = kcp\nuse_encryption = true\n",
            "[v2]\nrole = visitor\ntype = stcp\nserver_name = secret\nbind_addr = 0.0.0.0\n",
            "bind_port = -1\nkeep_tunnel_open = true\n",
        ));
        assert!(c.proxies.is_empty());
        let v = &c.visitors[0];
        assert_eq!((v.name.as_str(), v.kind.as_str()), ("v1", "xtcp"));
        assert_eq!(v.server_user, "other");
        assert_eq!(v.server_name, "p2p");
        assert_eq!(v.secret_key, "s");
        assert_eq!(v.bind_addr, "127.0.0.1");
        assert_eq!(v.bind_port, 9001);
        assert_eq!(v.keep_tunnel_open, Some(true));
        assert_eq!(v.max_retries_an_hour, None, "≤ 0 means the default");
        assert_eq!(v.min_retry_interval, Some(30));
        assert_eq!(v.fallback_to.as_deref(), Some("v2"));
        assert_eq!(v.fallback_timeout_ms, Some(500));
        assert_eq!(v.protocol.as_deref(), Some("kcp"));
        assert!(v.transport.use_encryption);
        let s = &c.visitors[1];
        assert_eq!(s.bind_addr, "0.0.0.0");
        assert_eq!(s.bind_port, -1);
        assert_eq!(
            s.keep_tunnel_open, None,
            "xtcp-only keys are ignored on stcp"
        );

        let e = err("[common]\n[v]\nrole = visitor\nserver_name = x\n");
        assert_eq!(
            (e.section.as_deref(), e.key.as_deref()),
            (Some("v"), Some("type"))
        );
        let e = err("[common]\n[v]\nrole = visitor\ntype = tcp\n");
        assert_eq!(e.key.as_deref(), Some("type"));
        let e = err("[common]\n[v]\nrole = client\n");
        assert_eq!(e.key.as_deref(), Some("role"));
    }

    #[test]
    fn proxy_types_and_foreign_keys() {
        let c = client_ini_convert(
            concat!(
                "[common]\n[ssh]\nlocal_port = 22\nremote_port = 0\n",
                "[web]\ntype = http\nlocal_port = 80\nremote_port = 8080\nsubdomain = w\n",
                "[mux]\ntype = tcpmux\nmultiplexer = httpconnect\ncustom_domains = t\n",
                "local_port = 1\nhttp_user = u\nlocations = /x\n",
                "[s]\ntype = sudp\nsk = k\nallow_users = *\nlocal_port = 53\n",
            ),
            Path::new("."),
            &no_render,
        )
        .unwrap();
        assert_eq!(c.unknown_keys, ["[web] remote_port", "[mux] locations"]);
        let cfg: ClientConfig = serde_json::from_value(c.value).unwrap();
        let p = &cfg.proxies;
        assert_eq!(p[0].kind, "tcp", "type defaults to tcp");
        assert_eq!(p[0].remote_port, Some(0), "remote_port = 0 is kept");
        assert_eq!(p[1].remote_port, None);
        assert_eq!(p[1].subdomain.as_deref(), Some("w"));
        assert_eq!(p[2].multiplexer.as_deref(), Some("httpconnect"));
        assert_eq!(p[2].http_user.as_deref(), Some("u"));
        assert!(p[2].locations.is_none());
        assert_eq!(p[3].secret_key.as_deref(), Some("k"));
        assert_eq!(p[3].allow_users.as_deref().unwrap(), ["*"]);
        for p in &cfg.proxies {
            p.validate().unwrap();
        }

        let e = err("[common]\n[x]\ntype = ftp\n");
        assert_eq!(
            (e.section.as_deref(), e.key.as_deref()),
            (Some("x"), Some("type"))
        );
    }

    #[test]
    fn bad_values_name_section_and_key() {
        let e = err("[common]\n[ssh]\nlocal_port = abc\n");
        assert_eq!(e.to_string(), "[ssh] local_port: invalid integer 'abc'");
        let e = err("[common]\nserver_port = 70o0\n");
        assert_eq!(
            (e.section.as_deref(), e.key.as_deref()),
            (Some("common"), Some("server_port"))
        );
        let e = err("[common]\n[ssh]\nuse_encryption = sure\n");
        assert_eq!(e.key.as_deref(), Some("use_encryption"));
        let e = err("[common]\n[ssh]\nbandwidth_limit = 1GB\n");
        assert_eq!(e.key.as_deref(), Some("bandwidth_limit"));
        let e = err("[ssh]\nlocal_port = 22\n");
        assert!(e.to_string().contains("[common]"), "{e}");
    }

    #[test]
    fn start_filters_sections_before_parsing() {
        let c = load(concat!(
            "[common]\nstart = ssh, vis\n[ssh]\nlocal_port = 22\n",
            "[broken]\ntype = nonsense\nlocal_port = x\n",
            "[vis]\nrole = visitor\ntype = stcp\nserver_name = s\nbind_port = 1\n",
        ));
        assert_eq!(c.start, ["ssh", "vis"]);
        assert_eq!(c.proxies.len(), 1);
        assert_eq!(c.visitors.len(), 1);
    }

    #[test]
    fn quirks() {
        // Inline comments stay in the value; boolean keys; zero integers mean "default".
        let c = load(concat!(
            "[common]\nserver_addr = frps.example.com # prod\ntoken = \"quoted\"\n",
            "login_fail_exit = false\ntls_enable\nheartbeat_interval = 0\npool_count = 0\n",
            "[ssh]\nlocal_port = 22\nhealth_check_type = tcp\nhealth_check_timeout_s = 0\n",
        ));
        assert_eq!(c.server_addr, "frps.example.com # prod");
        assert_eq!(c.auth.token, "quoted");
        assert!(!c.login_fail_exit);
        assert!(c.transport.tls.enable);
        assert_eq!(c.transport.heartbeat_interval, None);
        assert_eq!(c.transport.pool_count, 1);
        assert_eq!(c.proxies[0].health_check.timeout_seconds, 3);
        // includes is consumed here, never passed on.
        assert!(convert("[common]\n").get("includes").is_none());
    }

    #[test]
    fn includes_are_rendered_and_appended() {
        let dir = tempfile::tempdir().unwrap();
        let confd = dir.path().join("confd");
        std::fs::create_dir(&confd).unwrap();
        std::fs::write(confd.join("b.ini"), "[b]\nlocal_port = {{ PORT }}\n").unwrap();
        std::fs::write(
            confd.join("a.ini"),
            "[a]\nlocal_port = 1\n[common]\nuser = ignored\n",
        )
        .unwrap();
        std::fs::write(confd.join("c.txt"), "[c]\nlocal_port = 3\n").unwrap();
        std::fs::create_dir(confd.join("d.ini")).unwrap();
        std::fs::write(
            dir.path().join("x.ini"),
            "type = udp\n[x]\nlocal_port = 4\n",
        )
        .unwrap();
        let render = |s: &str| -> Result<String, String> { Ok(s.replace("{{ PORT }}", "2")) };
        let main = "[common]\nincludes = ./confd/*.ini, x.ini\n[main]\nlocal_port = 9\n";
        let v = client_ini_to_v1(main, dir.path(), &render).unwrap();
        let c: ClientConfig = serde_json::from_value(v).unwrap();
        assert_eq!(c.user, "", "[common] of included files is ignored");
        let got: Vec<(&str, &str, i64)> = c
            .proxies
            .iter()
            .map(|p| (p.name.as_str(), p.kind.as_str(), p.local_port))
            .collect();
        // Files in name order, appended as text: x.ini's leading key lands in the section
        // before it ([b]), as in frp.
        assert_eq!(
            got,
            [
                ("main", "tcp", 9),
                ("a", "tcp", 1),
                ("b", "udp", 2),
                ("x", "tcp", 4)
            ]
        );

        let e = client_ini_to_v1("[common]\nincludes = nodir/*.ini\n", dir.path(), &render)
            .unwrap_err();
        assert_eq!(
            (e.section.as_deref(), e.key.as_deref()),
            (Some("common"), Some("includes"))
        );
        let failing = |_: &str| -> Result<String, String> { Err("bad template".into()) };
        let e = client_ini_to_v1(main, dir.path(), &failing).unwrap_err();
        assert!(e.message.contains("bad template"), "{e}");
    }
}
