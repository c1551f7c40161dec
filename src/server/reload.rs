//! frps configuration reload (SIGHUP): what can change while running, in one place.
//!
//! Options read per connection, per login or per proxy registration take effect for the next
//! one (allowPorts, maxPortsPerClient, the auth token for new logins, subDomainHost,
//! detailedErrorsToClient, userConnTimeout, dashboard credentials, log level, ...). Options
//! bound to a listener or loaded once at start keep their running value, and the reload says
//! which ones it ignored. A file that does not load or validate changes nothing.

use std::collections::BTreeMap;

use serde_json::Value;
use tracing::{error, info, warn};

use super::{lock, Server};
use crate::config::load::ConfigSource;
use crate::config::ServerConfig;
use crate::daemon::notify;

/// Keys (frp's spelling, as prefixes) that need a restart.
const RESTART_ONLY: &[&str] = &[
    "bindAddr",
    "bindPort",
    "kcpBindPort",
    "quicBindPort",
    "vhostHTTPPort",
    "vhostHTTPSPort",
    "tcpmuxHTTPConnectPort",
    "sshTunnelGateway",
    "webServer.addr",
    "webServer.port",
    "webServer.tls",
    "webServer.assetsDir",
    "webServer.pprofEnable",
    "webServer.allowNoAuth",
    "transport.tls.certFile",
    "transport.tls.keyFile",
    "transport.tls.trustedCaFile",
    "transport.quic",
    "log.to",
    "log.maxDays",
    "log.disablePrintColor",
    "enablePrometheus",
    "httpPlugins",
];

/// Give `new` the running values of everything in [`RESTART_ONLY`].
fn keep_restart_only(old: &ServerConfig, new: &mut ServerConfig) {
    new.bind_addr = old.bind_addr.clone();
    new.bind_port = old.bind_port;
    new.kcp_bind_port = old.kcp_bind_port;
    new.quic_bind_port = old.quic_bind_port;
    new.vhost_http_port = old.vhost_http_port;
    new.vhost_https_port = old.vhost_https_port;
    new.tcpmux_http_connect_port = old.tcpmux_http_connect_port;
    new.ssh_tunnel_gateway = old.ssh_tunnel_gateway.clone();
    let web = &old.web_server;
    new.web_server.addr = web.addr.clone();
    new.web_server.port = web.port;
    new.web_server.tls = web.tls.clone();
    new.web_server.assets_dir = web.assets_dir.clone();
    new.web_server.pprof_enable = web.pprof_enable;
    new.web_server.allow_no_auth = web.allow_no_auth;
    let tls = &old.transport.tls;
    new.transport.tls.cert_file = tls.cert_file.clone();
    new.transport.tls.key_file = tls.key_file.clone();
    new.transport.tls.trusted_ca_file = tls.trusted_ca_file.clone();
    new.transport.quic = old.transport.quic.clone();
    new.log.to = old.log.to.clone();
    new.log.max_days = old.log.max_days;
    new.log.disable_print_color = old.log.disable_print_color;
    new.enable_prometheus = old.enable_prometheus;
    new.http_plugins = old.http_plugins.clone();
}

/// Leaf keys whose values differ, in frp's spelling (`transport.maxPoolCount`). Values are
/// never returned: some are secrets.
fn changed_keys(old: &ServerConfig, new: &ServerConfig) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(
        "",
        &serde_json::to_value(old).unwrap_or(Value::Null),
        &mut a,
    );
    flatten(
        "",
        &serde_json::to_value(new).unwrap_or(Value::Null),
        &mut b,
    );
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn restart_only(key: &str) -> bool {
    RESTART_ONLY
        .iter()
        .any(|p| key == *p || key.starts_with(&format!("{p}.")))
}

/// Re-read the config file and apply what can change at run time.
pub fn reload(server: &Server, source: Option<&ConfigSource>) {
    notify::reloading();
    let Some(source) = source else {
        warn!("reload requested, but frps was started without a config file; nothing to reload");
        notify::ready(&server.status_line());
        return;
    };
    let old = server.cfg();
    let mut new = match source.load_server() {
        Ok((cfg, _)) => cfg,
        Err(e) => return failed(server, &e.to_string()),
    };
    let ignored: Vec<String> = changed_keys(&old, &new)
        .into_iter()
        .filter(|k| restart_only(k))
        .collect();
    keep_restart_only(&old, &mut new);
    let applied = changed_keys(&old, &new);
    if new.log.level != old.log.level {
        if let Err(e) = crate::daemon::logging::set_level(&new.log.level) {
            warn!("reload: log.level: {e}");
        }
    }
    lock(&server.ports).set_allowed(&new.allow_ports);
    lock(&server.udp_ports).set_allowed(&new.allow_ports);
    server.set_cfg(new);
    if !ignored.is_empty() {
        warn!(
            "reload: {} changed but only take effect after a restart",
            ignored.join(", ")
        );
    }
    let what = if applied.is_empty() {
        "no changes".to_string()
    } else {
        format!("applied {}", applied.join(", "))
    };
    info!("configuration reloaded: {what}");
    notify::ready(&format!("reloaded ({what}); {}", server.status_line()));
}

fn failed(server: &Server, e: &str) {
    error!("reload failed, keeping the running configuration: {e}");
    notify::ready(&format!("reload failed: {e}; {}", server.status_line()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::types::PortsRange;

    #[test]
    fn keep_restart_only_covers_every_restart_only_key() {
        let old = ServerConfig::default();
        let mut new = ServerConfig {
            bind_addr: "127.0.0.2".into(),
            bind_port: 1,
            kcp_bind_port: 2,
            quic_bind_port: 3,
            vhost_http_port: 4,
            vhost_https_port: 5,
            tcpmux_http_connect_port: 6,
            ..Default::default()
        };
        new.ssh_tunnel_gateway.bind_port = 7;
        new.web_server.addr = "x".into();
        new.web_server.port = 8;
        new.web_server.assets_dir = "a".into();
        new.web_server.pprof_enable = true;
        new.web_server.allow_no_auth = true;
        new.transport.tls.cert_file = "c".into();
        new.transport.tls.key_file = "k".into();
        new.transport.tls.trusted_ca_file = "t".into();
        new.transport.quic.keepalive_period = 99;
        new.log.to = "f".into();
        new.log.max_days = 9;
        new.log.disable_print_color = true;
        new.enable_prometheus = true;
        let before = changed_keys(&old, &new);
        assert!(before.iter().all(|k| restart_only(k)), "{before:?}");
        assert!(before.len() >= 20, "{before:?}");
        keep_restart_only(&old, &mut new);
        assert_eq!(changed_keys(&old, &new), Vec::<String>::new());
    }

    #[test]
    fn runtime_keys_are_named_in_frps_spelling() {
        let old = ServerConfig::default();
        let mut new = ServerConfig {
            max_ports_per_client: 3,
            ..Default::default()
        };
        new.auth.token = "secret".into();
        new.allow_ports = vec![PortsRange {
            single: 7001,
            ..Default::default()
        }];
        new.web_server.password = "pw".into();
        let keys = changed_keys(&old, &new);
        assert_eq!(
            keys,
            [
                "allowPorts",
                "auth.token",
                "maxPortsPerClient",
                "webServer.password"
            ]
        );
        assert!(keys.iter().all(|k| !restart_only(k)));
        assert!(!keys.iter().any(|k| k.contains("secret")));
    }
}
