//! Config files of every format (tests/fixtures/config): what they load to, that the formats
//! agree, and that broken files are refused by `verify` with a located, actionable error.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use frp::config::load::{load_server_with, Format, LoadOptions};
use frp::config::types::AuthScope;
use frp::config::{load_client, load_server, ClientConfig, ServerConfig};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/config")
        .join(rel)
}

fn server(rel: &str) -> ServerConfig {
    load_server(&fixture(rel)).unwrap_or_else(|e| panic!("{e}"))
}

fn client(rel: &str) -> ClientConfig {
    load_client(&fixture(rel)).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn frps_full_toml_sets_every_key() {
    let c = server("v1/frps_full.toml");
    assert_eq!(
        (
            c.bind_addr.as_str(),
            c.bind_port,
            c.kcp_bind_port,
            c.quic_bind_port
        ),
        ("127.0.0.1", 7001, 7002, 7003)
    );
    assert_eq!(c.proxy_bind_addr, "127.0.0.2");
    assert_eq!(
        (c.vhost_http_port, c.vhost_http_timeout, c.vhost_https_port),
        (8080, 61, 8443)
    );
    assert_eq!(
        (c.tcpmux_http_connect_port, c.tcpmux_passthrough),
        (1337, true)
    );
    assert_eq!(c.sub_domain_host, "frps.example.com");
    assert_eq!(c.custom_404_page, "/etc/frp/404.html");
    assert!(c.enable_prometheus && !c.detailed_errors_to_client);
    assert_eq!(
        (
            c.max_ports_per_client,
            c.user_conn_timeout,
            c.udp_packet_size
        ),
        (9, 11, 1400)
    );
    assert_eq!(c.nathole_analysis_data_reserve_hours, 100);
    assert!(
        c.port_allowed(2500)
            && c.port_allowed(3001)
            && !c.port_allowed(3002)
            && c.port_allowed(3003)
    );
    assert_eq!(c.ssh_tunnel_gateway.bind_port, 2200);
    assert_eq!(
        c.ssh_tunnel_gateway.authorized_keys_file,
        "/etc/frp/authorized_keys"
    );
    let w = &c.web_server;
    assert_eq!(
        (w.addr.as_str(), w.port, w.user.as_str(), &*w.password),
        ("0.0.0.0", 7500, "admin", "hunter2")
    );
    assert!(w.pprof_enable);
    assert_eq!(
        w.tls.as_ref().map(|t| t.key_file.as_str()),
        Some("/etc/frp/web.key")
    );
    assert_eq!(
        (c.log.to.as_str(), c.log.level.as_str(), c.log.max_days),
        ("/var/log/frps.log", "debug", 7)
    );
    assert!(c.log.disable_print_color);
    assert_eq!(c.auth.token, "s3cret");
    assert_eq!(
        c.auth.additional_scopes,
        vec![AuthScope::HeartBeats, AuthScope::NewWorkConns]
    );
    assert_eq!(c.auth.oidc.issuer, "https://issuer.example.com");
    assert!(c.auth.oidc.skip_expiry_check && c.auth.oidc.skip_issuer_check);
    let t = &c.transport;
    assert!(!t.tcp_mux);
    assert_eq!(
        (
            t.tcp_mux_keepalive_interval,
            t.tcp_keepalive,
            t.max_pool_count
        ),
        (31, 3600, 6)
    );
    assert_eq!(c.heartbeat_timeout(), 95);
    assert_eq!(
        (
            t.quic.keepalive_period,
            t.quic.max_idle_timeout,
            t.quic.max_incoming_streams
        ),
        (11, 32, 1000)
    );
    assert!(t.tls.force);
    assert_eq!(t.tls.trusted_ca_file, "/etc/frp/ca.crt");
    assert_eq!(c.http_plugins.len(), 2);
    assert_eq!(c.http_plugins[1].ops.len(), 5);
    assert!(c.http_plugins[1].tls_verify);
}

#[test]
fn frpc_full_toml_sets_every_key() {
    let c = client("v1/frpc_full.toml");
    assert_eq!(c.user, "alice");
    assert_eq!(
        (c.server_addr.as_str(), c.server_port),
        ("frps.example.com", 7001)
    );
    assert_eq!(c.nat_hole_stun_server, "stun.example.com:3478");
    assert_eq!(c.dns_server, "8.8.8.8");
    assert!(!c.login_fail_exit);
    assert_eq!(c.udp_packet_size, 1400);
    assert_eq!(c.feature_gates.get("VirtualNet"), Some(&true));
    assert_eq!(
        c.metadatas.get("Mixed.Case").map(String::as_str),
        Some("kept")
    );
    assert_eq!(c.virtual_net.address, "100.86.1.1/24");
    assert_eq!((c.log.level.as_str(), c.log.max_days), ("warn", 5));
    assert_eq!(
        (c.web_server.port, &*c.web_server.password),
        (7400, "admin-pass")
    );
    assert_eq!(c.auth.additional_scopes, vec![AuthScope::HeartBeats]);
    let o = &c.auth.oidc;
    assert_eq!(
        (o.client_id.as_str(), o.token_endpoint_url.as_str()),
        ("frpc", "https://issuer.example.com/token")
    );
    assert_eq!(
        o.additional_endpoint_params
            .get("resource")
            .map(String::as_str),
        Some("frp")
    );
    assert!(o.insecure_skip_verify);
    let t = &c.transport;
    assert_eq!(
        (t.dial_server_timeout, t.dial_server_keepalive, t.pool_count),
        (12, 3600, 3)
    );
    assert_eq!(t.connect_server_local_ip, "192.0.2.10");
    assert_eq!(t.proxy_url, "socks5://user:pass@proxy.example.com:1080");
    assert_eq!((c.heartbeat_interval(), c.heartbeat_timeout()), (20, 60));
    assert!(!t.tls.disable_custom_tls_first_byte);
    assert_eq!(c.tls_server_name(), "frps.internal");
    assert_eq!(t.quic.max_incoming_streams, 200);

    // Names get the user prefix (§1.4).
    let names: Vec<&str> = c.proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "alice.ssh",
            "alice.web",
            "alice.dns",
            "alice.https-site",
            "alice.tunnel",
            "alice.secret",
            "alice.p2p",
            "alice.plugin-socks"
        ]
    );
    let ssh = &c.proxies[0];
    assert_eq!(
        (ssh.local_ip.as_str(), ssh.local_port, ssh.remote_port),
        ("192.168.1.10", 22, Some(6000))
    );
    assert!(ssh.transport.use_encryption && ssh.transport.use_compression);
    assert_eq!(ssh.transport.bandwidth_limit, "1MB");
    assert_eq!(ssh.transport.bandwidth_limit_mode, "server");
    assert_eq!(ssh.transport.proxy_protocol_version, "v2");
    assert_eq!(ssh.load_balancer.group, "ssh-group");
    assert_eq!(
        (ssh.health_check.kind.as_str(), ssh.health_check.max_failed),
        ("tcp", 3)
    );
    let web = &c.proxies[1];
    assert_eq!(
        web.locations.as_deref(),
        Some(&["/".to_string(), "/pic".to_string()][..])
    );
    assert_eq!(
        web.request_headers
            .as_ref()
            .and_then(|h| h.set.get("X-From-Where"))
            .map(String::as_str),
        Some("frp")
    );
    assert_eq!(web.health_check.http_headers[0].value, "health.local");
    assert_eq!(
        c.proxies[5].allow_users.as_deref(),
        Some(&["bob".to_string(), "carol".to_string()][..])
    );
    assert_eq!(
        c.proxies[6]
            .nat_traversal
            .as_ref()
            .map(|n| n.disable_assisted_addrs),
        Some(true)
    );
    let plugin = c.proxies[7].plugin.as_ref().unwrap();
    assert_eq!(plugin.get("type").and_then(|v| v.as_str()), Some("socks5"));

    let v = &c.visitors[0];
    assert_eq!(v.name, "alice.secret-visitor");
    assert_eq!(
        v.server_name, "bob.secret",
        "serverUser prefixes serverName"
    );
    assert!(v.transport.use_encryption);
    let x = &c.visitors[1];
    assert_eq!(x.server_name, "alice.p2p", "own user prefixes serverName");
    assert_eq!(x.fallback_to.as_deref(), Some("alice.secret-visitor"));
    assert_eq!(
        (
            x.max_retries_an_hour,
            x.min_retry_interval,
            x.fallback_timeout_ms
        ),
        (Some(4), Some(60), Some(500))
    );
}

#[test]
fn yaml_and_json_load_to_the_same_value_as_toml() {
    for (base, kind) in [("v1/frps_full", "s"), ("v1/frpc_full", "c")] {
        for ext in ["yaml", "json"] {
            let other = format!("{base}.{ext}");
            if kind == "s" {
                let (a, ra) =
                    load_server_with(&fixture(&format!("{base}.toml")), LoadOptions::default())
                        .unwrap();
                let (b, rb) = load_server_with(&fixture(&other), LoadOptions::default()).unwrap();
                assert_eq!(a, b, "{other}");
                assert_eq!(ra.format, Some(Format::Toml));
                assert_eq!(
                    rb.format,
                    Some(if ext == "yaml" {
                        Format::Yaml
                    } else {
                        Format::Json
                    })
                );
            } else {
                assert_eq!(client(&format!("{base}.toml")), client(&other), "{other}");
            }
        }
    }
    // Go matches keys case-insensitively.
    assert_eq!(
        server("v1/frps_full.toml"),
        server("v1/frps_full_mixed_case.json")
    );
}

#[test]
fn non_strict_mode_ignores_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("frps.toml");
    std::fs::write(
        &p,
        "bindPort = 7100\nsomethingNew = true\n[transport]\nfutureKnob = 3\n",
    )
    .unwrap();
    assert!(load_server_with(&p, LoadOptions { strict: true }).is_err());
    let (c, _) = load_server_with(&p, LoadOptions { strict: false }).unwrap();
    assert_eq!(c.bind_port, 7100);
}

#[test]
fn templates_render_env_and_number_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("frpc.toml");
    std::fs::write(
        &p,
        r#"serverAddr = "{{ .Envs.FRP_TEST_SERVER_ADDR }}"
serverPort = 7000
{{- range $_, $v := parseNumberRangePair "6000-6002" "7000-7002" }}
[[proxies]]
name = "tcp-{{ $v.First }}"
type = "tcp"
localPort = {{ $v.First }}
remotePort = {{ $v.Second }}
{{- end }}
"#,
    )
    .unwrap();
    let out = Command::new(common::frpc_bin())
        .args(["verify", "-c"])
        .arg(&p)
        .env("FRP_TEST_SERVER_ADDR", "10.1.2.3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The same rendering in the library, with the environment given rather than set in this
    // process (setting a variable races with the other tests' threads reading theirs).
    let envs = [("FRP_TEST_SERVER_ADDR".to_string(), "10.1.2.3".to_string())].into();
    let text = std::fs::read_to_string(&p).unwrap();
    let rendered = frp::config::template::render(&text, &envs, true).unwrap();
    let p = dir.path().join("rendered.toml");
    std::fs::write(&p, rendered).unwrap();
    let c = load_client(&p).unwrap();
    assert_eq!(c.server_addr, "10.1.2.3");
    let ports: Vec<(i64, Option<i64>)> = c
        .proxies
        .iter()
        .map(|p| (p.local_port, p.remote_port))
        .collect();
    assert_eq!(
        ports,
        [(6000, Some(7000)), (6001, Some(7001)), (6002, Some(7002))]
    );
    assert_eq!(c.proxies[2].name, "tcp-6002");
}

#[test]
fn includes_add_proxies_and_visitors_only() {
    let dir = tempfile::tempdir().unwrap();
    let confd = dir.path().join("confd");
    std::fs::create_dir(&confd).unwrap();
    std::fs::write(
        confd.join("a.toml"),
        "serverPort = 1\n[[proxies]]\nname = \"inc-a\"\ntype = \"tcp\"\nlocalPort = 1\n",
    )
    .unwrap();
    std::fs::write(
        confd.join("b.yaml"),
        "visitors:\n  - name: inc-v\n    type: stcp\n    serverName: s\n    bindPort: 9000\n",
    )
    .unwrap();
    std::fs::write(confd.join("ignored.txt"), "not a config").unwrap();
    let main = dir.path().join("frpc.toml");
    std::fs::write(
        &main,
        format!("serverPort = 7000\nincludes = [\"{0}/*.toml\", \"{0}/*.yaml\"]\n[[proxies]]\nname = \"main\"\ntype = \"tcp\"\nlocalPort = 2\n", confd.display()),
    )
    .unwrap();
    let c = load_client(&main).unwrap();
    assert_eq!(
        c.server_port, 7000,
        "common settings of included files are ignored"
    );
    let names: Vec<&str> = c.proxies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["main", "inc-a"]);
    assert_eq!(c.visitors[0].name, "inc-v");
}

#[test]
fn legacy_ini_and_toml_equivalents_load_to_the_same_value() {
    let dir = fixture("legacy");
    let mut pairs = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let ini = entry.unwrap().path();
        if ini.extension().and_then(|e| e.to_str()) != Some("ini") {
            continue;
        }
        let toml = ini.with_extension("toml");
        if !toml.exists() {
            continue;
        }
        let name = ini.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("frps") {
            let (a, report) =
                load_server_with(&ini, LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(report.format, Some(Format::LegacyIni));
            assert!(
                !report.warnings.is_empty(),
                "legacy INI logs a deprecation warning"
            );
            assert_eq!(
                a,
                load_server(&toml).unwrap_or_else(|e| panic!("{e}")),
                "{name}"
            );
        } else {
            let a = load_client(&ini).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                a,
                load_client(&toml).unwrap_or_else(|e| panic!("{e}")),
                "{name}"
            );
        }
        pairs += 1;
    }
    assert!(pairs >= 2, "expected INI/TOML pairs in {}", dir.display());
}

#[test]
fn broken_files_are_refused_by_verify_with_located_errors() {
    let dir = fixture("bad");
    let table = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut cols = line.split('\t');
        let (file, bin, expect) = (
            cols.next().unwrap(),
            cols.next().unwrap(),
            cols.next().unwrap_or(""),
        );
        let path = dir.join(file);
        let exe = if bin == "frps" {
            common::frps_bin()
        } else {
            common::frpc_bin()
        };
        let out = Command::new(exe)
            .args(["verify", "-c"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("verify succeeded".to_string());
        }
        if stderr.lines().count() != 1 {
            problems.push(format!(
                "expected exactly one error line, got {}",
                stderr.lines().count()
            ));
        }
        if !stderr.contains(&path.display().to_string()) {
            problems.push("error does not name the file".into());
        }
        for want in expect.split('|').filter(|w| !w.is_empty()) {
            if !stderr.contains(want) {
                problems.push(format!("missing '{want}'"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{file}: {} -- stderr: {}",
                problems.join("; "),
                stderr.trim()
            ));
        }
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} broken files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
