//! What this build can run: frp options whose runtime later work brings (kcp and quic
//! listeners, OIDC, the SSH gateway, ...) are refused here, while loading, so that `verify`,
//! start and reload give the same answer with the file named. Each message names the key.

use super::types::{AuthMethod, TransportProtocol};
use super::{ClientConfig, ServerConfig};

/// Refuse the frps options this build cannot run yet.
pub fn server(cfg: &ServerConfig) -> Result<(), String> {
    let unsupported = [
        (cfg.kcp_bind_port != 0, "kcpBindPort"),
        (cfg.quic_bind_port != 0, "quicBindPort"),
        (
            cfg.ssh_tunnel_gateway.bind_port != 0,
            "sshTunnelGateway.bindPort",
        ),
        (cfg.auth.method == AuthMethod::Oidc, "auth.method = oidc"),
        (cfg.web_server.pprof_enable, "webServer.pprofEnable"),
        (!cfg.web_server.assets_dir.is_empty(), "webServer.assetsDir"),
    ];
    match unsupported.iter().find(|(set, _)| *set) {
        Some((_, name)) => Err(format!("{name} is not supported by this frps build yet")),
        None => Ok(()),
    }
}

/// Refuse the frpc options, proxy and visitor types this build cannot run yet.
pub fn client(cfg: &ClientConfig) -> Result<(), String> {
    let not_yet = |what: String| Err(format!("{what} is not supported by this frpc build yet"));
    if cfg.transport.protocol != TransportProtocol::Tcp {
        return not_yet(format!("transport.protocol = {}", cfg.transport.protocol));
    }
    let unsupported = [
        (!cfg.transport.proxy_url.is_empty(), "transport.proxyURL"),
        (cfg.auth.method == AuthMethod::Oidc, "auth.method = oidc"),
        (!cfg.dns_server.is_empty(), "dnsServer"),
        (!cfg.virtual_net.address.is_empty(), "virtualNet.address"),
    ];
    if let Some((_, name)) = unsupported.iter().find(|(set, _)| *set) {
        return not_yet(name.to_string());
    }
    for v in &cfg.visitors {
        if !matches!(v.kind.as_str(), "stcp" | "sudp" | "xtcp") {
            return not_yet(format!("visitor [{}]: type {}", v.name, v.kind));
        }
        if v.plugin.is_some() {
            return Err(format!(
                "visitor [{}]: visitor plugins are not supported by this frpc build yet",
                v.name
            ));
        }
        let protocol = v.protocol.as_deref().unwrap_or("quic");
        if v.kind == "xtcp" && protocol != "quic" {
            return not_yet(format!("visitor [{}]: protocol {protocol}", v.name));
        }
    }
    for p in &cfg.proxies {
        if !matches!(
            p.kind.as_str(),
            "tcp" | "udp" | "http" | "https" | "tcpmux" | "stcp" | "sudp" | "xtcp"
        ) {
            return not_yet(format!("proxy [{}]: type {}", p.name, p.kind));
        }
        if p.plugin.as_ref().map(super::proxy::plugin_type) == Some("virtual_net") {
            return not_yet(format!("proxy [{}]: plugin virtual_net", p.name));
        }
    }
    Ok(())
}
