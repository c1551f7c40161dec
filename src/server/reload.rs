//! frps configuration reload (SIGHUP): what can change while running, in one place.
//!
//! Options read per connection, per login or per proxy registration take effect for the next
//! one (allowPorts, maxPortsPerClient, the auth token for new logins, subDomainHost,
//! detailedErrorsToClient, userConnTimeout, dashboard credentials, log level, ...). Options
//! bound to a listener or loaded once at start keep their running value, and the reload says
//! which ones it ignored. A file that does not load or validate changes nothing.

use tracing::{error, info, warn};

use super::{lock, Server};
use crate::config::diff::{Apply, Rules};
use crate::config::load::ConfigSource;
use crate::daemon::notify;

/// What a reload of frps can apply: the keys (frp's spelling, as prefixes) bound to a listener
/// or read once at start need a restart; everything else is read again for the next
/// connection, login or proxy.
pub const RULES: Rules = Rules {
    restart: &[
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
    ],
    live: &[],
    otherwise: Apply::Live,
    by_name: &[],
};

/// Re-read the config file and apply what can change at run time.
pub fn reload(server: &Server, source: Option<&ConfigSource>) {
    notify::reloading();
    let Some(source) = source else {
        warn!("reload requested, but frps was started without a config file; nothing to reload");
        notify::ready(&server.status_line());
        return;
    };
    let old = server.cfg();
    let read = match source.load_server() {
        Ok((cfg, _)) => cfg,
        Err(e) => return failed(server, &e.to_string()),
    };
    let plan = RULES.plan(&*old, &read);
    let new = match RULES.keep_restart_only(&*old, &read) {
        Ok(new) => new,
        Err(e) => return failed(server, &e),
    };
    let (ignored, applied) = (plan.restart, plan.live);
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
    use crate::config::diff::changed_keys;
    use crate::config::types::PortsRange;
    use crate::config::ServerConfig;

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
        new.max_ports_per_client = 3;
        let plan = RULES.plan(&old, &new);
        assert_eq!(plan.live, ["maxPortsPerClient"]);
        assert!(plan.restart.len() >= 20, "{:?}", plan.restart);
        let kept = RULES.keep_restart_only(&old, &new).unwrap();
        assert_eq!(changed_keys(&old, &kept), ["maxPortsPerClient"]);
        assert_eq!(kept.max_ports_per_client, 3);
    }

    #[test]
    fn a_config_survives_keep_restart_only_unchanged() {
        let mut cfg = ServerConfig::default();
        cfg.auth.token = "t".into();
        cfg.allow_ports = vec![PortsRange {
            start: 7000,
            end: 7010,
            ..Default::default()
        }];
        assert_eq!(RULES.keep_restart_only(&cfg, &cfg).unwrap(), cfg);
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
        let plan = RULES.plan(&old, &new);
        assert_eq!(
            plan.live,
            [
                "allowPorts",
                "auth.token",
                "maxPortsPerClient",
                "webServer.password"
            ]
        );
        assert!(plan.restart.is_empty() && plan.session.is_empty());
        assert!(!plan.live.iter().any(|k| k.contains("secret")));
    }
}
