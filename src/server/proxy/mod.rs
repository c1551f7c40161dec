//! Proxies registered on frps (protocol.md §7.7, §10.1): a NewProxy is checked, counted and
//! handed to its type's file, which binds or routes it and gives back a [`RunningProxy`].
//!
//! - [`running`]: a registered proxy, how it is closed, and the per-client port limit;
//! - [`target`]: how a user connection of any type becomes a wrapped work connection;
//! - [`tcp`], [`udp`], [`group`] (load-balanced tcp ports), [`visitor`] (stcp, sudp, xtcp);
//!   http, https and tcpmux proxies are routes of [`super::vhost`].

pub mod group;
pub mod running;
pub mod target;
pub mod tcp;
pub mod udp;
pub mod visitor;

use std::collections::HashMap;
use std::sync::Arc;

use super::proxy_conf::ProxyConf;
use super::session::ControlHandle;
use super::{lock, Server};
use crate::proto::errors;
use crate::proto::msg;
use crate::transport::wrap;
use running::RunningProxy;
use target::Target;

/// Register a NewProxy for this client; returns `remote_addr` or the detailed error text.
pub fn register(
    server: &Arc<Server>,
    ctl: &Arc<ControlHandle>,
    p: msg::NewProxy,
    proxies: &mut HashMap<String, RunningProxy>,
) -> Result<String, String> {
    crate::escape::check_no_control("proxy name", &p.proxy_name)?;
    let kind = if p.proxy_type.is_empty() {
        "tcp".to_string()
    } else {
        p.proxy_type.clone()
    };
    if !crate::config::proxy::PROXY_TYPES.contains(&kind.as_str()) {
        return Err(errors::unknown_proxy_type(&kind));
    }
    let limit =
        wrap::parse_bandwidth(&p.bandwidth_limit).map_err(|e| format!("bandwidth_limit: {e}"))?;
    {
        let mut names = lock(&server.proxy_names);
        if names.contains_key(&p.proxy_name) {
            return Err(errors::proxy_already_exists(&p.proxy_name));
        }
        names.insert(p.proxy_name.clone(), kind.clone());
    }
    let meter = server.stats.meter(&p.proxy_name, &kind, &ctl.counters);
    let target = Target::new(ctl, &kind, &p, limit, meter.clone());
    let result = match kind.as_str() {
        "tcp" => tcp::start(server, &target, &p, proxies),
        "udp" => udp::start(server, &target, &p, proxies),
        "http" => super::vhost::http::register(server, &target, &p),
        "https" => super::vhost::https::register(server, &target, &p),
        "tcpmux" => super::vhost::tcpmux::register(server, &target, &p),
        "stcp" | "sudp" => visitor::register(server, &target, &p),
        "xtcp" => visitor::register_xtcp(server, &target, &p),
        _ => Err(format!(
            "proxy type [{kind}] is not supported by this frps build yet"
        )),
    };
    match result {
        Ok((remote_addr, running)) => {
            let port = running.port.map_or(p.remote_port, i64::from);
            let conf = ProxyConf::from_new_proxy(&kind, &p, port);
            server.stats.proxy_opened(&meter, conf, &ctl.info.version);
            proxies.insert(p.proxy_name.clone(), running);
            Ok(remote_addr)
        }
        Err(e) => {
            lock(&server.proxy_names).remove(&p.proxy_name);
            Err(e)
        }
    }
}
