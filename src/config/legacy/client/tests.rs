use super::*;
use crate::config::types::{AuthMethod, AuthScope};
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
    assert_eq!(c.auth.method, AuthMethod::Oidc);
    assert_eq!(c.auth.additional_scopes, [AuthScope::NewWorkConns]);
    assert_eq!(
        (o.client_id.as_str(), &*o.client_secret, o.audience.as_str()),
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

    let e =
        client_ini_to_v1("[common]\nincludes = nodir/*.ini\n", dir.path(), &render).unwrap_err();
    assert_eq!(
        (e.section.as_deref(), e.key.as_deref()),
        (Some("common"), Some("includes"))
    );
    let failing = |_: &str| -> Result<String, String> { Err("bad template".into()) };
    let e = client_ini_to_v1(main, dir.path(), &failing).unwrap_err();
    assert!(e.message.contains("bad template"), "{e}");
}
