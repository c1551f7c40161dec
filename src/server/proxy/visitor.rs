//! stcp and sudp proxies on frps (protocol.md §10.6, §10.7): no public port, only an entry in
//! [`Listeners`] under the proxy's full name. A visitor frpc opens a logical connection whose
//! first message is NewVisitorConn; once its signature and user check out, the rest of that
//! connection (wrapped with the proxy's secret key, §8) is one more user connection of the
//! proxy, carried to the owner by [`Target::serve`]. frps never looks inside (sudp's UDPPacket
//! messages pass through as bytes).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tracing::{debug, info, warn};

use super::running::RunningProxy;
use super::target::Target;
use crate::proto::crypto::{auth_key_matches, derive_key};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, errors};
use crate::server::origin::Origin;
use crate::server::{lock, Server};
use crate::transport::{wrap, BoxStream};

/// One registered stcp/sudp proxy as visitors see it.
struct Listener {
    secret_key: String,
    /// `derive_key(secret_key)`, for the visitor leg's encryption.
    key: [u8; 16],
    /// Who may visit: `*` is anyone; never empty (an empty list means the owner's own user).
    allow_users: Vec<String>,
    target: Arc<Target>,
}

/// The visitor listeners by full proxy name.
#[derive(Default)]
pub struct Listeners {
    map: Mutex<HashMap<String, Arc<Listener>>>,
}

impl Listeners {
    fn get(&self, name: &str) -> Option<Arc<Listener>> {
        lock(&self.map).get(name).cloned()
    }
}

/// Who may visit: the proxy's `allowUsers`, or only its owner's own user when it names none.
fn allowed_users(target: &Target, p: &msg::NewProxy) -> Vec<String> {
    if p.allow_users.is_empty() {
        vec![target.ctl.user.clone()]
    } else {
        p.allow_users.clone()
    }
}

/// Register a NewProxy of type xtcp (protocol.md §10.8): frps only brokers the punching; each
/// sid the controller hands out goes to the owner on a work connection of its own.
pub fn register_xtcp(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let allow_users = allowed_users(target, p);
    let mut sids = server
        .nathole
        .listen_client(&p.proxy_name, &p.sk, allow_users)?;
    let cancel = target.ctl.cancel.child_token();
    let mut running = RunningProxy::new(&target.kind, None, cancel.clone());
    let controller = server.nathole.clone();
    let name = p.proxy_name.clone();
    running.on_close(move || controller.close_client(&name));
    info!(client = %target.ctl.tag, proxy_name = %target.name, proxy_type = "xtcp", "xtcp proxy registered");
    let target = target.clone();
    let task = tokio::spawn(async move {
        loop {
            let sid = tokio::select! {
                s = sids.recv() => s,
                _ = cancel.cancelled() => None,
            };
            let Some(sid) = sid else { return };
            let target = target.clone();
            tokio::spawn(async move {
                let start = msg::StartWorkConn {
                    proxy_name: target.name.clone(),
                    ..Default::default()
                };
                match super::target::start_work_conn(&target.ctl, start).await {
                    Ok(mut conn) => {
                        let m = Message::NatHoleSid(msg::NatHoleSid {
                            sid,
                            ..Default::default()
                        });
                        if let Err(e) = proto_mod::write_msg(&mut conn, &m).await {
                            warn!(proxy_name = %target.name, "write NatHoleSid: {e}");
                        }
                        use tokio::io::AsyncWriteExt;
                        let _ = conn.shutdown().await;
                    }
                    Err(e) => {
                        warn!(proxy_name = %target.name, "get a work connection for xtcp: {e}")
                    }
                }
            });
        }
    });
    Ok((String::new(), running.with_task(task)))
}

/// Register a NewProxy of type stcp or sudp; its `remote_addr` is empty.
pub fn register(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
) -> Result<(String, RunningProxy), String> {
    let allow_users = allowed_users(target, p);
    let listener = Arc::new(Listener {
        key: derive_key(p.sk.as_bytes()),
        secret_key: p.sk.clone(),
        allow_users,
        target: target.clone(),
    });
    {
        let mut map = lock(&server.visitor_listeners.map);
        if map.contains_key(&p.proxy_name) {
            return Err(errors::visitor_listener_repeated(&p.proxy_name));
        }
        map.insert(p.proxy_name.clone(), listener.clone());
    }
    let mut running = RunningProxy::new(&target.kind, None, target.ctl.cancel.child_token());
    let server_weak = Arc::downgrade(server);
    let name = p.proxy_name.clone();
    running.on_close(move || {
        if let Some(server) = server_weak.upgrade() {
            let mut map = lock(&server.visitor_listeners.map);
            // Only our own entry (a later proxy of the same name has its own).
            if map.get(&name).is_some_and(|l| Arc::ptr_eq(l, &listener)) {
                map.remove(&name);
            }
        }
    });
    info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = %target.kind, "{} proxy custom listen success", target.kind);
    Ok((String::new(), running))
}

/// A logical connection whose first message was NewVisitorConn: answer it (plaintext) and, when
/// accepted, serve the rest as a user connection of the proxy it names.
pub async fn serve_conn(
    server: Arc<Server>,
    mut conn: BoxStream,
    m: msg::NewVisitorConn,
    origin: Origin,
    local: Option<SocketAddr>,
) {
    let peer = origin.peer;
    let listener = match admit(&server, &m, &origin) {
        Ok(l) => l,
        Err(detail) => {
            // The peer gets frp's text; the log names the claimed session by its tag only.
            let logged = if m.run_id.is_empty() {
                detail.clone()
            } else {
                detail.replace(&m.run_id, &crate::client_tag(&m.run_id))
            };
            warn!(remote = %peer, proxy_name = %m.proxy_name, "register visitor conn error: {logged}");
            let resp = msg::NewVisitorConnResp {
                proxy_name: m.proxy_name.clone(),
                error: server.client_error(errors::REGISTER_VISITOR, &detail),
            };
            let _ = proto_mod::write_msg(&mut conn, &Message::NewVisitorConnResp(resp)).await;
            return;
        }
    };
    let resp = msg::NewVisitorConnResp {
        proxy_name: m.proxy_name.clone(),
        error: String::new(),
    };
    if let Err(e) = proto_mod::write_msg(&mut conn, &Message::NewVisitorConnResp(resp)).await {
        debug!(remote = %peer, proxy_name = %m.proxy_name, "write NewVisitorConnResp: {e}");
        return;
    }
    debug!(remote = %peer, proxy_name = %m.proxy_name, "visitor connection accepted");
    let user = wrap::wrap(conn, &listener.key, m.use_encryption, m.use_compression);
    listener.target.serve(&server, user, peer, local).await;
}

/// The checks of frp's visitor manager, in its order: the visitor's session, the listener,
/// the signature, the user. Err is the detailed error text.
///
/// The run id names the visitor's own session, whose user `allowUsers` checks: like a work
/// connection, the visitor connection must come by that session's connection (see
/// [`crate::server::origin`]), or it could borrow another client's user name.
fn admit(
    server: &Server,
    m: &msg::NewVisitorConn,
    origin: &Origin,
) -> Result<Arc<Listener>, String> {
    // frp accepts an empty run id (visitors older than v0.50) as the user "".
    let visitor_user = if m.run_id.is_empty() {
        String::new()
    } else {
        match server.control(&m.run_id) {
            Some(ctl) if origin.same_client_as(&ctl.origin) => ctl.user.clone(),
            _ => return Err(errors::no_control_for_run_id(&m.run_id)),
        }
    };
    let listener = server
        .visitor_listeners
        .get(&m.proxy_name)
        .ok_or_else(|| errors::visitor_listener_missing(&m.proxy_name))?;
    if !auth_key_matches(&listener.secret_key, m.timestamp, &m.sign_key) {
        return Err(errors::visitor_auth_failed(&m.proxy_name));
    }
    if !listener
        .allow_users
        .iter()
        .any(|u| u == "*" || *u == visitor_user)
    {
        return Err(errors::visitor_user_not_allowed(
            &m.proxy_name,
            &visitor_user,
        ));
    }
    Ok(listener)
}
