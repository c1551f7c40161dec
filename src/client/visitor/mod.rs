//! frpc's visitors (`[[visitors]]`, protocol.md §10.6, §10.7): local listeners whose users reach
//! another frpc's stcp/sudp proxy through frps.
//!
//! - [`Manager`]: the configured visitors; starts them when a session with frps is up, stops
//!   them when it ends, applies a reload by name (unchanged visitors are not touched), retries
//!   the ones that failed to start every 10 s, and hands connections from one visitor to
//!   another ([`Manager::transfer`], for xtcp's `fallbackTo`).
//! - [`stcp`], [`sudp`]: one module per visitor type.
//!
//! A visitor type is a `start` function: given its configuration and a [`Ctx`] it binds what it
//! listens on (synchronously, so a start error is known at once), spawns its task and returns a
//! [`Started`]. Every visitor connection is one logical connection to frps opened by
//! [`connect`]: NewVisitorConn, NewVisitorConnResp, then the §8 wrapping with the secret key.

pub mod stcp;
pub mod sudp;
pub mod xtcp;

use crate::transport::accept::{Accepted, Acceptor};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::control::Session;
use crate::config::proxy::VisitorConfig;
use crate::proto::crypto::{auth_key, derive_key};
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod};
use crate::transport::{wrap, BoxStream};

/// How long frpc waits for NewVisitorConnResp.
const RESP_TIMEOUT: Duration = Duration::from_secs(10);
/// Visitors that failed to start (e.g. their port was taken) are tried again this often.
const RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Connections handed over by other visitors, waiting to be served.
const HANDOVER_QUEUE: usize = 64;

/// What a visitor task gets.
#[derive(Clone)]
pub struct Ctx {
    pub session: Arc<Session>,
    /// Cancelled when the visitor stops (removed or changed by a reload, or the session ended).
    pub cancel: CancellationToken,
    /// `derive_key(secretKey)`: the visitor leg's encryption key.
    pub key: [u8; 16],
    /// To hand a connection to another visitor.
    pub manager: Weak<Manager>,
}

/// A visitor that started: its task, and where connections handed over to it go (`None` for
/// types that carry datagrams, not streams).
pub struct Started {
    pub task: JoinHandle<()>,
    pub handover: Option<mpsc::Sender<BoxStream>>,
}

struct Running {
    cfg: Arc<VisitorConfig>,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    handover: Option<mpsc::Sender<BoxStream>>,
}

#[derive(Default)]
struct State {
    cfgs: BTreeMap<String, Arc<VisitorConfig>>,
    running: HashMap<String, Running>,
    /// The session visitors run in; none while not logged in.
    session: Option<Arc<Session>>,
}

/// What a reload changed, by visitor name (the same record as for proxies).
pub use crate::client::proxy::Diff;

/// The visitors of this frpc.
pub struct Manager {
    me: Weak<Manager>,
    state: Mutex<State>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Manager {
    pub fn new(cfgs: &[VisitorConfig]) -> Arc<Manager> {
        Arc::new_cyclic(|me| Manager {
            me: me.clone(),
            state: Mutex::new(State {
                cfgs: cfgs
                    .iter()
                    .map(|c| (c.name.clone(), Arc::new(c.clone())))
                    .collect(),
                ..Default::default()
            }),
        })
    }

    /// A session with frps is up: start every visitor, and keep retrying those that fail until
    /// the session ends.
    pub fn start(&self, session: Arc<Session>) {
        let end = session.cancel.clone();
        {
            let mut st = lock(&self.state);
            for (_, r) in st.running.drain() {
                r.cancel.cancel();
            }
            st.session = Some(session);
        }
        self.start_missing();
        let me = self.me.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + RETRY_INTERVAL,
                RETRY_INTERVAL,
            );
            loop {
                tokio::select! {
                    _ = tick.tick() => match me.upgrade() {
                        Some(m) => m.start_missing(),
                        None => return,
                    },
                    _ = end.cancelled() => return,
                }
            }
        });
    }

    /// The session ended: stop every visitor (they start again after the next login). Returns
    /// once their sockets are closed, so the next session can bind the same ports.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut st = lock(&self.state);
            st.session = None;
            st.running
                .drain()
                .map(|(name, r)| {
                    debug!(visitor = %name, "stopping visitor");
                    r.cancel.cancel();
                    r.task
                })
                .collect()
        };
        let all = async {
            for t in tasks {
                let _ = t.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), all).await;
    }

    /// Apply a reloaded visitor list: removed and changed visitors stop, new and changed ones
    /// start (a changed one once its old listener is closed); unchanged ones keep running.
    pub fn apply(&self, cfgs: &[VisitorConfig]) -> Diff {
        let mut diff = Diff::default();
        let wanted: BTreeMap<String, Arc<VisitorConfig>> = cfgs
            .iter()
            .map(|c| (c.name.clone(), Arc::new(c.clone())))
            .collect();
        let mut stopped = Vec::new();
        {
            let mut st = lock(&self.state);
            for (name, old) in &st.cfgs {
                match wanted.get(name) {
                    None => diff.removed.push(name.clone()),
                    Some(new) if **new != **old => diff.changed.push(name.clone()),
                    Some(_) => diff.unchanged += 1,
                }
            }
            diff.added = wanted
                .keys()
                .filter(|n| !st.cfgs.contains_key(*n))
                .cloned()
                .collect();
            for name in diff.removed.iter().chain(&diff.changed) {
                if let Some(r) = st.running.remove(name) {
                    info!(visitor = %name, "stopping visitor");
                    r.cancel.cancel();
                    stopped.push(r.task);
                }
            }
            st.cfgs = wanted;
        }
        if stopped.is_empty() {
            self.start_missing();
        } else {
            // The new added ones now; the changed ones when their old sockets are closed.
            self.start_only(&diff.added);
            let me = self.me.clone();
            tokio::spawn(async move {
                for t in stopped {
                    let _ = t.await;
                }
                if let Some(m) = me.upgrade() {
                    m.start_missing();
                }
            });
        }
        diff
    }

    /// Hand one accepted connection to the visitor `name` (xtcp's `fallbackTo`).
    pub fn transfer(&self, name: &str, conn: BoxStream) -> Result<(), String> {
        let tx = {
            let st = lock(&self.state);
            let r = st
                .running
                .get(name)
                .ok_or_else(|| format!("visitor [{name}] not found"))?;
            r.handover
                .clone()
                .ok_or_else(|| format!("visitor [{name}] does not accept connections"))?
        };
        tx.try_send(conn)
            .map_err(|_| format!("visitor [{name}] is busy or closed"))
    }

    /// Names of the visitors running now (sorted).
    pub fn running(&self) -> Vec<String> {
        let st = lock(&self.state);
        let mut names: Vec<String> = st
            .running
            .iter()
            .filter(|(_, r)| !r.task.is_finished())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    fn start_missing(&self) {
        let names: Vec<String> = lock(&self.state).cfgs.keys().cloned().collect();
        self.start_only(&names);
    }

    /// Start those of `names` that are configured and not running, if a session is up.
    fn start_only(&self, names: &[String]) {
        let mut st = lock(&self.state);
        let Some(session) = st.session.clone() else {
            return;
        };
        if session.cancel.is_cancelled() {
            return;
        }
        for name in names {
            let Some(cfg) = st.cfgs.get(name).cloned() else {
                continue;
            };
            if st.running.get(name).is_some_and(|r| !r.task.is_finished()) {
                continue;
            }
            let ctx = Ctx {
                session: session.clone(),
                cancel: session.cancel.child_token(),
                key: derive_key(cfg.secret_key.as_bytes()),
                manager: self.me.clone(),
            };
            let cancel = ctx.cancel.clone();
            let started = match cfg.kind.as_str() {
                "stcp" => stcp::start(&cfg, ctx),
                "sudp" => sudp::start(&cfg, ctx),
                "xtcp" => xtcp::start(&cfg, ctx),
                other => Err(format!("visitor type {other} is not supported")),
            };
            match started {
                Ok(s) => {
                    info!(visitor = %name, "start visitor success");
                    st.running.insert(
                        name.clone(),
                        Running {
                            cfg,
                            cancel,
                            task: s.task,
                            handover: s.handover,
                        },
                    );
                }
                Err(e) => warn!(visitor = %name, "start visitor error: {e}"),
            }
        }
    }

    /// The configuration a running visitor was started with.
    pub fn config(&self, name: &str) -> Option<Arc<VisitorConfig>> {
        lock(&self.state).running.get(name).map(|r| r.cfg.clone())
    }
}

/// Open one visitor connection to frps for `cfg`: a new logical connection, NewVisitorConn,
/// NewVisitorConnResp (10 s), then the stream wrapped with the secret key per the visitor's
/// flags. Err is what to log (frp's wording; frps's refusal text included verbatim).
pub async fn connect(ctx: &Ctx, cfg: &VisitorConfig) -> Result<BoxStream, String> {
    let mut conn = ctx
        .session
        .connector
        .open()
        .await
        .map_err(|e| format!("connect to server error: {e}"))?;
    let now = crate::unix_now();
    let m = msg::NewVisitorConn {
        run_id: ctx.session.run_id.clone(),
        proxy_name: cfg.server_name.clone(),
        sign_key: auth_key(&cfg.secret_key, now),
        timestamp: now,
        use_encryption: cfg.transport.use_encryption,
        use_compression: cfg.transport.use_compression,
    };
    proto_mod::write_msg(&mut conn, &Message::NewVisitorConn(m))
        .await
        .map_err(|e| format!("send newVisitorConnMsg to server error: {e}"))?;
    let resp = tokio::time::timeout(RESP_TIMEOUT, proto_mod::read_msg(&mut conn))
        .await
        .map_err(|_| "read newVisitorConnRespMsg error: timeout".to_string())?
        .map_err(|e| format!("read newVisitorConnRespMsg error: {e}"))?;
    let resp = match resp {
        Message::NewVisitorConnResp(r) => r,
        other => {
            return Err(format!(
                "read newVisitorConnRespMsg error: unexpected {}",
                other.name()
            ))
        }
    };
    if !resp.error.is_empty() {
        return Err(format!(
            "start new visitor connection error: {}",
            resp.error
        ));
    }
    let t = &cfg.transport;
    Ok(wrap::wrap(
        conn,
        &ctx.key,
        t.use_encryption,
        t.use_compression,
    ))
}

/// The visitor's local listener on `bindAddr:bindPort`; none for a `bindPort` of 0 or below
/// (a visitor used only as a `fallbackTo` target).
pub(super) fn bind_listener(cfg: &VisitorConfig, kind: &str) -> Result<Option<Acceptor>, String> {
    if cfg.bind_port <= 0 {
        return Ok(None);
    }
    let addr = crate::transport::tcp::join_host_port(&cfg.bind_addr, cfg.bind_port as u16);
    let l = crate::transport::tcp::listen_std(&cfg.bind_addr, cfg.bind_port as u16)
        .and_then(tokio::net::TcpListener::from_std)
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    tracing::info!(visitor = %cfg.name, "{kind} visitor listen on {addr}");
    Ok(Some(Acceptor::new(l, format!("visitor [{}]", cfg.name))))
}

/// The next user connection on a visitor's listener; none ever without one (a visitor with no
/// `bindPort` only takes connections handed over by another visitor).
pub(super) async fn accept(l: Option<&mut Acceptor>) -> Accepted {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NewVisitorConn as frp v0.65.0 encodes it (protocol.md §4.4 field names, omitempty).
    #[test]
    fn new_visitor_conn_json() {
        let m = Message::NewVisitorConn(msg::NewVisitorConn {
            run_id: "abcdef0123456789".into(),
            proxy_name: "alice.secret".into(),
            sign_key: auth_key("sk", 1488720000),
            timestamp: 1488720000,
            use_encryption: true,
            use_compression: false,
        });
        assert_eq!(m.type_byte(), b'v');
        let body = String::from_utf8(m.encode_body()).unwrap();
        assert_eq!(
            body,
            format!(
                r#"{{"run_id":"abcdef0123456789","proxy_name":"alice.secret","sign_key":"{}","timestamp":1488720000,"use_encryption":true}}"#,
                auth_key("sk", 1488720000)
            )
        );
        let back = Message::decode(b'v', body.as_bytes()).unwrap();
        assert_eq!(back, m);
    }

    fn stcp(name: &str, port: i64) -> VisitorConfig {
        VisitorConfig {
            name: name.into(),
            kind: "stcp".into(),
            server_name: "s".into(),
            bind_port: port,
            ..Default::default()
        }
    }

    #[test]
    fn apply_diffs_by_name() {
        let m = Manager::new(&[stcp("a", 1), stcp("b", 2), stcp("gone", 3)]);
        let d = m.apply(&[stcp("a", 1), stcp("b", 20), stcp("c", 4)]);
        assert_eq!(
            d,
            Diff {
                added: vec!["c".into()],
                removed: vec!["gone".into()],
                changed: vec!["b".into()],
                unchanged: 1,
            }
        );
        assert_eq!(
            d.summary("visitors"),
            "1 visitors added, 1 removed, 1 changed, 1 unchanged"
        );
        // Not logged in: nothing runs, so nothing can take a handed-over connection.
        assert!(m.running().is_empty());
        let (conn, _peer) = tokio::io::duplex(64);
        assert_eq!(
            m.transfer("a", Box::new(conn)).unwrap_err(),
            "visitor [a] not found"
        );
    }

    #[test]
    fn new_visitor_conn_resp_json() {
        let ok = Message::NewVisitorConnResp(msg::NewVisitorConnResp {
            proxy_name: "alice.secret".into(),
            error: String::new(),
        });
        assert_eq!(ok.type_byte(), b'3');
        assert_eq!(
            String::from_utf8(ok.encode_body()).unwrap(),
            r#"{"proxy_name":"alice.secret"}"#
        );
        let err = Message::decode(
            b'3',
            br#"{"proxy_name":"x","error":"visitor connection of [x] auth failed"}"#,
        )
        .unwrap();
        let Message::NewVisitorConnResp(r) = err else {
            panic!("expected NewVisitorConnResp")
        };
        assert_eq!(r.error, crate::proto::errors::visitor_auth_failed("x"));
    }
}
