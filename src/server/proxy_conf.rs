//! What the dashboard shows of a proxy's configuration (apis.md §2.2), built from its NewProxy.

use serde::Serialize;

use crate::proto::msg::{NewProxy, StrMap};

/// The server-side view of a proxy's configuration as the dashboard shows it (apis.md §2.2):
/// frp's v1 JSON keys, in frp's order, filtered per type. Secrets (http password, secret keys)
/// are never part of it.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyConf {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "StrMap::is_empty")]
    annotations: StrMap,
    transport: ConfTransport,
    #[serde(skip_serializing_if = "StrMap::is_empty")]
    metadatas: StrMap,
    #[serde(rename = "loadBalancer")]
    load_balancer: ConfLoadBalancer,
    #[serde(rename = "healthCheck")]
    health_check: ConfHealthCheck,
    #[serde(rename = "localIP")]
    local_ip: &'static str,
    plugin: Option<()>,
    #[serde(rename = "remotePort", skip_serializing_if = "Option::is_none")]
    remote_port: Option<i64>,
    #[serde(rename = "customDomains", skip_serializing_if = "Option::is_none")]
    custom_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subdomain: Option<String>,
    /// `locations` is always present for http (`null` when there are none).
    #[serde(skip_serializing_if = "Option::is_none")]
    locations: Option<Option<Vec<String>>>,
    #[serde(rename = "hostHeaderRewrite", skip_serializing_if = "Option::is_none")]
    host_header_rewrite: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multiplexer: Option<String>,
    #[serde(rename = "routeByHTTPUser", skip_serializing_if = "Option::is_none")]
    route_by_http_user: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfTransport {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    use_encryption: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    use_compression: bool,
    bandwidth_limit: String,
    bandwidth_limit_mode: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfLoadBalancer {
    group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group_key: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ConfHealthCheck {
    #[serde(rename = "type")]
    kind: &'static str,
    interval_seconds: i64,
}

fn non_empty<T>(v: T, empty: bool) -> Option<T> {
    (!empty).then_some(v)
}

impl ProxyConf {
    /// From a registered NewProxy; `remote_port` is the port actually bound (tcp, udp).
    pub fn from_new_proxy(kind: &str, p: &NewProxy, remote_port: i64) -> ProxyConf {
        let mode = if p.bandwidth_limit_mode.is_empty() {
            "client"
        } else {
            &p.bandwidth_limit_mode
        };
        let domains = || {
            (
                non_empty(p.custom_domains.clone(), p.custom_domains.is_empty()),
                non_empty(p.subdomain.clone(), p.subdomain.is_empty()),
            )
        };
        let mut c = ProxyConf {
            name: p.proxy_name.clone(),
            kind: kind.to_string(),
            annotations: p.annotations.clone(),
            transport: ConfTransport {
                use_encryption: p.use_encryption,
                use_compression: p.use_compression,
                bandwidth_limit: p.bandwidth_limit.clone(),
                bandwidth_limit_mode: mode.to_string(),
            },
            metadatas: p.metas.clone(),
            load_balancer: ConfLoadBalancer {
                group: p.group.clone(),
                group_key: String::new(),
            },
            health_check: ConfHealthCheck {
                kind: "",
                interval_seconds: 0,
            },
            local_ip: "127.0.0.1",
            plugin: None,
            remote_port: None,
            custom_domains: None,
            subdomain: None,
            locations: None,
            host_header_rewrite: None,
            multiplexer: None,
            route_by_http_user: None,
        };
        match kind {
            "tcp" | "udp" => c.remote_port = Some(remote_port),
            "http" => {
                (c.custom_domains, c.subdomain) = domains();
                c.locations = Some(non_empty(p.locations.clone(), p.locations.is_empty()));
                c.host_header_rewrite = Some(p.host_header_rewrite.clone());
            }
            "https" => (c.custom_domains, c.subdomain) = domains(),
            "tcpmux" => {
                (c.custom_domains, c.subdomain) = domains();
                c.multiplexer = Some(p.multiplexer.clone());
                c.route_by_http_user = Some(p.route_by_http_user.clone());
            }
            // stcp, sudp, xtcp: the base fields only. (frp v0.65.0 shows sudp's whole
            // configuration, secret key included; we do not.)
            _ => {}
        }
        c
    }
}
