//! Load-balancing groups of tcp proxies (protocol.md §10.9): members from any clients that name
//! the same `group` with the same `groupKey` and `remotePort` share one listener, and its
//! connections go to the members in turn. The port is released when the last member leaves.
//! (http and tcpmux groups share a route instead: see [`crate::server::vhost`].)

use crate::transport::accept::Accepted;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use tracing::info;

use super::running::RunningProxy;
use super::target::Target;
use crate::proto::{errors, msg};
use crate::server::{lock, Server};

pub struct TcpGroup {
    key: String,
    /// The remotePort the members asked for (0 = any), which every member must repeat.
    requested_port: i64,
    port: u16,
    /// The name the port is held under in the port manager.
    port_owner: String,
    members: Mutex<Vec<Arc<Target>>>,
    next: AtomicUsize,
    cancel: CancellationToken,
}

impl TcpGroup {
    fn pick(&self) -> Option<Arc<Target>> {
        let members = lock(&self.members);
        if members.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % members.len();
        Some(members[i].clone())
    }
}

/// Join (or found) the tcp group a NewProxy names; returns remote_addr and the running proxy,
/// whose close leaves the group.
pub fn join(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let mut groups = lock(&server.tcp_groups);
    let group = match groups.get(&p.group) {
        Some(g) => {
            if !crate::proto::crypto::ct_eq(g.key.as_bytes(), p.group_key.as_bytes()) {
                return Err(errors::GROUP_AUTH_FAILED.into());
            }
            if g.requested_port != p.remote_port {
                return Err(errors::GROUP_SAME_PORT.into());
            }
            let mut members = lock(&g.members);
            if members.iter().any(|m| m.name == p.proxy_name) {
                return Err(errors::GROUP_PROXY_REPEATED.into());
            }
            members.push(target.clone());
            g.clone()
        }
        None => {
            let (port, listener) = super::tcp::bind(server, p, format!("tcp group [{}]", p.group))?;
            let g = Arc::new(TcpGroup {
                key: p.group_key.clone(),
                requested_port: p.remote_port,
                port,
                port_owner: p.proxy_name.clone(),
                members: Mutex::new(vec![target.clone()]),
                next: AtomicUsize::new(0),
                cancel: CancellationToken::new(),
            });
            let stop = super::tcp::either_cancelled(g.cancel.clone(), server.stopping.clone());
            let (srv, group) = (server.clone(), g.clone());
            tokio::spawn(listener.serve_until(stop, move |a| dispatch(&srv, &group, a)));
            groups.insert(p.group.clone(), g.clone());
            g
        }
    };
    drop(groups);
    let port = group.port;
    info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "tcp", "tcp proxy listen port [{port}] in group [{}]", p.group);
    let mut running = RunningProxy::new("tcp", None, target.ctl.cancel.child_token());
    let (s, name, group_name) = (server.clone(), p.proxy_name.clone(), p.group.clone());
    running.on_close(move || leave(&s, &group_name, &group, &name));
    Ok((format!(":{port}"), running))
}

fn leave(server: &Server, group_name: &str, group: &Arc<TcpGroup>, proxy_name: &str) {
    // Lock order as in `join` (groups, then members), so nobody joins a group being closed.
    let mut groups = lock(&server.tcp_groups);
    let empty = {
        let mut members = lock(&group.members);
        members.retain(|m| m.name != proxy_name);
        members.is_empty()
    };
    if !empty {
        return;
    }
    // Only the group this member joined: a new one of the same name may exist already.
    if groups
        .get(group_name)
        .is_some_and(|g| Arc::ptr_eq(g, group))
    {
        groups.remove(group_name);
    }
    drop(groups);
    group.cancel.cancel();
    lock(&server.ports).release(&group.port_owner, group.port);
    info!("tcp group [{group_name}] closed: its last member left");
}

/// One user connection to the group's port: to the next member, round robin.
fn dispatch(server: &Arc<Server>, group: &TcpGroup, a: Accepted) {
    let Some(target) = group.pick() else {
        return;
    };
    let dst = a.stream.local_addr().ok();
    let server = server.clone();
    tokio::spawn(async move { target.serve(&server, a.stream, a.peer, dst).await });
}
