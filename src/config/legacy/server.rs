//! `frps.ini` → v1 server document (config.md §6.1, frp's `legacy/server.go` and
//! `Convert_ServerCommonConf_To_v1`).

use serde_json::{Map, Value};

use super::{
    default_section_keys, parse_ports_ranges, put, Converted, Field, IniFile, Kind, LegacyError,
    SectionReader, DEFAULT_SECTION,
};

/// `[common]` keys with a plain one-to-one mapping.
const COMMON: &[Field] = &[
    ("bind_addr", "bindAddr", Kind::Str),
    ("bind_port", "bindPort", Kind::Int),
    ("kcp_bind_port", "kcpBindPort", Kind::Int),
    ("quic_bind_port", "quicBindPort", Kind::Int),
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
    ("proxy_bind_addr", "proxyBindAddr", Kind::Str),
    ("vhost_http_port", "vhostHTTPPort", Kind::Int),
    ("vhost_https_port", "vhostHTTPSPort", Kind::Int),
    ("vhost_http_timeout", "vhostHTTPTimeout", Kind::Int),
    (
        "tcpmux_httpconnect_port",
        "tcpmuxHTTPConnectPort",
        Kind::Int,
    ),
    ("tcpmux_passthrough", "tcpmuxPassthrough", Kind::Bool),
    ("dashboard_user", "webServer.user", Kind::Str),
    ("dashboard_pwd", "webServer.password", Kind::Str),
    ("assets_dir", "webServer.assetsDir", Kind::Str),
    ("enable_prometheus", "enablePrometheus", Kind::Bool),
    ("log_file", "log.to", Kind::Str),
    ("log_level", "log.level", Kind::Str),
    ("log_max_days", "log.maxDays", Kind::Int),
    ("disable_log_color", "log.disablePrintColor", Kind::Bool),
    (
        "detailed_errors_to_client",
        "detailedErrorsToClient",
        Kind::Bool,
    ),
    ("subdomain_host", "subDomainHost", Kind::Str),
    ("custom_404_page", "custom404Page", Kind::Str),
    ("tcp_mux", "transport.tcpMux", Kind::Bool),
    (
        "tcp_mux_keepalive_interval",
        "transport.tcpMuxKeepaliveInterval",
        Kind::Int,
    ),
    ("tcp_keepalive", "transport.tcpKeepalive", Kind::Int),
    ("max_pool_count", "transport.maxPoolCount", Kind::Int),
    ("heartbeat_timeout", "transport.heartbeatTimeout", Kind::Int),
    ("max_ports_per_client", "maxPortsPerClient", Kind::Int),
    // Ours (see the v1 key): not in frp, so an frp INI never sets it.
    ("graceful_stop_timeout", "gracefulStopTimeout", Kind::Int),
    ("user_conn_timeout", "userConnTimeout", Kind::Int),
    ("udp_packet_size", "udpPacketSize", Kind::Int),
    (
        "nat_hole_analysis_data_reserve_hours",
        "natholeAnalysisDataReserveHours",
        Kind::Int,
    ),
    ("tls_only", "transport.tls.force", Kind::Bool),
    ("tls_cert_file", "transport.tls.certFile", Kind::Str),
    ("tls_key_file", "transport.tls.keyFile", Kind::Str),
    (
        "tls_trusted_ca_file",
        "transport.tls.trustedCaFile",
        Kind::Str,
    ),
    ("authentication_method", "auth.method", Kind::Str),
    ("token", "auth.token", Kind::Str),
    ("oidc_issuer", "auth.oidc.issuer", Kind::Str),
    ("oidc_audience", "auth.oidc.audience", Kind::Str),
    (
        "oidc_skip_expiry_check",
        "auth.oidc.skipExpiryCheck",
        Kind::Bool,
    ),
    (
        "oidc_skip_issuer_check",
        "auth.oidc.skipIssuerCheck",
        Kind::Bool,
    ),
];

/// Keys of a `[plugin.NAME]` section (frp's `HTTPPluginOptions`; note `tlsVerify`).
const HTTP_PLUGIN: &[Field] = &[
    ("addr", "addr", Kind::Str),
    ("path", "path", Kind::Str),
    ("ops", "ops", Kind::List),
    ("tlsVerify", "tlsVerify", Kind::Bool),
];

/// frps.ini text (already template-rendered) → the equivalent v1 document as JSON.
pub fn server_ini_to_v1(text: &str) -> Result<Value, LegacyError> {
    server_ini_convert(text).map(|c| c.value)
}

/// [`server_ini_to_v1`] plus the keys and sections frps ignores.
pub fn server_ini_convert(text: &str) -> Result<Converted, LegacyError> {
    let file = IniFile::parse(text)?;
    let common = file.section("common").ok_or_else(|| {
        LegacyError::new(
            None,
            None,
            "invalid configuration file, not found [common] section",
        )
    })?;
    let mut out = Map::new();
    let mut r = SectionReader::new(&file, common);
    r.apply(&mut out, COMMON)?;
    r.mark("log_way"); // read by frp, never used

    // The INI default of dashboard_addr is 0.0.0.0 (v1: 127.0.0.1). frp always copies it; it
    // only matters with a dashboard, so it is written when dashboard_port is set.
    let port = r.int("dashboard_port")?.filter(|&p| p != 0);
    let addr = r.string("dashboard_addr")?;
    if let Some(p) = port {
        put(&mut out, "webServer.port", Value::from(p));
    }
    match (addr, port) {
        (Some(a), _) => put(&mut out, "webServer.addr", Value::from(a)),
        (None, Some(_)) => put(&mut out, "webServer.addr", Value::from("0.0.0.0")),
        (None, None) => {}
    }

    // Dashboard TLS: only with dashboard_tls_mode = true, and pprof_enable is copied only in
    // that case too (a quirk of frp's conversion).
    let tls_mode = r.bool("dashboard_tls_mode")?.unwrap_or(false);
    let cert = r.string("dashboard_tls_cert_file")?.unwrap_or_default();
    let key = r.string("dashboard_tls_key_file")?.unwrap_or_default();
    let pprof = r.bool("pprof_enable")?;
    if tls_mode {
        put(
            &mut out,
            "webServer.tls",
            serde_json::json!({ "certFile": cert, "keyFile": key }),
        );
        if let Some(p) = pprof {
            put(&mut out, "webServer.pprofEnable", Value::from(p));
        }
    }

    r.auth_scopes(&mut out)?;

    if let Some(s) = r.string("allow_ports")? {
        let ranges = parse_ports_ranges(&s).map_err(|m| r.err("allow_ports", m))?;
        put(&mut out, "allowPorts", ranges);
    }

    let mut unknown = default_section_keys(&file);
    unknown.extend(r.unknown());

    // [plugin.NAME] sections → httpPlugins (frp keys them by the trimmed NAME, last one wins).
    let mut plugins: Vec<(String, Value)> = Vec::new();
    for sec in &file.sections {
        if sec.name == "common" || sec.name == DEFAULT_SECTION {
            continue;
        }
        let Some(rest) = sec.name.strip_prefix("plugin.") else {
            unknown.push(format!("[{}]", sec.name));
            continue;
        };
        let name = rest.trim().to_string();
        let mut pr = SectionReader::new(&file, sec);
        pr.mark("name"); // replaced by the section name
        let mut p = Map::new();
        p.insert("name".into(), Value::from(name.clone()));
        pr.apply(&mut p, HTTP_PLUGIN)?;
        unknown.extend(pr.unknown());
        match plugins.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = Value::Object(p),
            None => plugins.push((name, Value::Object(p))),
        }
    }
    if !plugins.is_empty() {
        let list = plugins.into_iter().map(|(_, v)| v).collect();
        out.insert("httpPlugins".into(), Value::Array(list));
    }

    Ok(Converted {
        value: Value::Object(out),
        unknown_keys: unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::AuthScope;
    use crate::config::ServerConfig;

    fn fixture(name: &str) -> String {
        let path = format!(
            "{}/tests/fixtures/config/legacy/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn load(text: &str) -> ServerConfig {
        let v = server_ini_to_v1(text).unwrap();
        serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v:#}"))
    }

    #[test]
    fn full_fixture_equals_toml() {
        let ini = load(&fixture("frps_full.ini"));
        let toml: ServerConfig = toml::from_str(&fixture("frps_full.toml")).unwrap();
        assert_eq!(ini, toml);
        // A few values the fixture exists for, so a wrong TOML cannot make this pass silently.
        assert_eq!(ini.allow_ports.len(), 4);
        assert_eq!(ini.http_plugins[1].name, "port-manager");
        assert_eq!(ini.web_server.addr, "0.0.0.0");
        assert!(!ini.web_server.pprof_enable);
        assert_eq!(ini.auth.additional_scopes, [AuthScope::HeartBeats]);
        assert!(!ini.transport.tcp_mux);
    }

    #[test]
    fn minimal_fixture_equals_toml() {
        let ini = load(&fixture("frps_minimal.ini"));
        let toml: ServerConfig = toml::from_str(&fixture("frps_minimal.toml")).unwrap();
        assert_eq!(ini, toml);
        assert_eq!(ini.web_server, Default::default());
    }

    #[test]
    fn only_set_keys_are_written() {
        let v = server_ini_to_v1("[common]\nbind_port = 7100\ntoken = t\n").unwrap();
        assert_eq!(
            v,
            serde_json::json!({ "bindPort": 7100, "auth": { "token": "t" } })
        );
        // Zero integers are v1's "unset": the v1 default applies, as after frp's conversion.
        let v = server_ini_to_v1("[common]\nbind_port = 0\nheartbeat_timeout = 0\n").unwrap();
        assert_eq!(v, serde_json::json!({}));
        // Empty strings set nothing.
        let v = server_ini_to_v1("[common]\nbind_addr =\noidc_issuer =\n").unwrap();
        assert_eq!(v, serde_json::json!({}));
    }

    #[test]
    fn dashboard_addr_default_and_tls_quirk() {
        let c = load("[common]\ndashboard_port = 7500\npprof_enable = true\n");
        assert_eq!(c.web_server.addr, "0.0.0.0");
        assert_eq!(c.web_server.port, 7500);
        assert!(
            !c.web_server.pprof_enable,
            "pprof_enable needs dashboard_tls_mode"
        );
        assert!(c.web_server.tls.is_none());

        let c = load(concat!(
            "[common]\ndashboard_addr = 127.0.0.2\ndashboard_port = 7500\n",
            "dashboard_tls_mode = true\ndashboard_tls_cert_file = s.crt\n",
            "dashboard_tls_key_file = s.key\npprof_enable = true\n",
        ));
        assert_eq!(c.web_server.addr, "127.0.0.2");
        assert!(c.web_server.pprof_enable);
        let tls = c.web_server.tls.unwrap();
        assert_eq!(
            (tls.cert_file.as_str(), tls.key_file.as_str()),
            ("s.crt", "s.key")
        );

        // Cert/key without the mode: ignored, like frp.
        let c = load("[common]\ndashboard_tls_cert_file = s.crt\ndashboard_tls_key_file = s.key\n");
        assert!(c.web_server.tls.is_none());
    }

    #[test]
    fn auth_scopes_and_oidc() {
        let c = load(concat!(
            "[common]\nauthentication_method = oidc\nauthenticate_heartbeats = true\n",
            "authenticate_new_work_conns\noidc_issuer = https://idp\noidc_audience = frps\n",
            "oidc_skip_expiry_check = yes\n",
        ));
        assert_eq!(c.auth.method, crate::config::types::AuthMethod::Oidc);
        assert_eq!(
            c.auth.additional_scopes,
            [AuthScope::HeartBeats, AuthScope::NewWorkConns]
        );
        assert_eq!(c.auth.oidc.issuer, "https://idp");
        assert_eq!(c.auth.oidc.audience, "frps");
        assert!(c.auth.oidc.skip_expiry_check);
        assert!(!c.auth.oidc.skip_issuer_check);
    }

    #[test]
    fn inline_comment_stays_in_value() {
        let c = load("[common]\ntoken = secret # my token\n");
        assert_eq!(c.auth.token, "secret # my token");
    }

    #[test]
    fn bad_values_name_section_and_key() {
        let e = server_ini_to_v1("[common]\nbind_port = abc\n").unwrap_err();
        assert_eq!(e.section.as_deref(), Some("common"));
        assert_eq!(e.key.as_deref(), Some("bind_port"));
        assert_eq!(e.to_string(), "[common] bind_port: invalid integer 'abc'");

        let e = server_ini_to_v1("[common]\ntcp_mux = maybe\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tcp_mux"));

        let e = server_ini_to_v1("[common]\nallow_ports = 2000-x\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("allow_ports"));

        let e = server_ini_to_v1("[common]\n[plugin.p]\ntlsVerify = 2\n").unwrap_err();
        assert_eq!(e.section.as_deref(), Some("plugin.p"));
        assert_eq!(e.key.as_deref(), Some("tlsVerify"));

        let e = server_ini_to_v1("[other]\nbind_port = 1\n").unwrap_err();
        assert!(e.to_string().contains("[common]"), "{e}");
    }

    #[test]
    fn unknown_keys_are_ignored_and_listed() {
        let c = server_ini_convert(concat!(
            "stray = 1\n[common]\nbind_port = 7001\nlog_way = file\nbind_prot = 1\n",
            "[ssh]\ntype = tcp\n[plugin.a]\naddr = x\nbogus = 1\n",
        ))
        .unwrap();
        assert_eq!(
            c.value,
            serde_json::json!({
                "bindPort": 7001,
                "httpPlugins": [{ "name": "a", "addr": "x" }],
            })
        );
        assert_eq!(
            c.unknown_keys,
            [
                "[DEFAULT] stray",
                "[common] bind_prot",
                "[ssh]",
                "[plugin.a] bogus"
            ]
        );
    }

    #[test]
    fn plugin_sections() {
        let c = load(concat!(
            "[common]\n[plugin. a ]\naddr = https://h:9000\npath = /p\n",
            "ops = Login, NewProxy\ntlsVerify = true\n[plugin.b]\naddr = 127.0.0.1:1\n",
        ));
        assert_eq!(c.http_plugins.len(), 2);
        let a = &c.http_plugins[0];
        assert_eq!(a.name, "a");
        assert_eq!(a.addr, "https://h:9000");
        assert_eq!(a.path, "/p");
        assert_eq!(a.ops, ["Login", "NewProxy"]);
        assert!(a.tls_verify);
        assert_eq!(c.http_plugins[1].name, "b");
        assert!(c.http_plugins[1].ops.is_empty());
    }
}
