//! frps's side of xtcp (protocol.md §10.8 steps 1, 3–6, 8), independent of the control
//! connections: xtcp proxies register here, NatHoleVisitor / NatHoleClient / NatHoleReport are
//! handed in with a way to answer on the sender's control channel.
//!
//! Wiring: the xtcp proxy calls [`Controller::listen_client`] and, for every sid it receives,
//! takes a work connection of its client, writes `NatHoleSid{sid}` and closes it (the proxy's
//! `close` calls [`Controller::close_client`]). The control loop hands NatHoleVisitor to
//! [`Controller::handle_visitor`] (in a task of its own: it lasts the whole session),
//! NatHoleClient to [`Controller::handle_client`] and NatHoleReport to
//! [`Controller::handle_report`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, Notify};

use super::analysis::{self, Analyzer};
use crate::proto::msg::{NatHoleClient, NatHoleReport, NatHoleResp, NatHoleVisitor};

/// How long frps waits for the proxy's NatHoleClient after sending the sid (frp: 10 s).
pub const NAT_HOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a session is kept after `read_timeout` for the proxy's NatHoleReport (frp: 30 s).
pub const SESSION_HOLD_EXTRA: Duration = Duration::from_secs(30);
/// How many sids may wait for the proxy before new visitors are turned away.
const SID_QUEUE: usize = 16;

/// Sends one NatHoleResp on a control connection.
pub type Responder = Arc<dyn Fn(NatHoleResp) + Send + Sync>;

struct ClientCfg {
    sk: String,
    allow_users: Vec<String>,
    sid_tx: mpsc::Sender<String>,
}

#[derive(Default)]
struct SessionState {
    client: Option<(NatHoleClient, Responder)>,
    analysis_key: String,
    mode: i64,
    index: usize,
}

struct Session {
    state: Mutex<SessionState>,
    notify: Notify,
}

#[derive(Default)]
struct State {
    clients: HashMap<String, ClientCfg>,
    sessions: HashMap<String, Arc<Session>>,
}

/// The registry of xtcp proxies and punching sessions, with the learnt scores.
pub struct Controller {
    state: Mutex<State>,
    analyzer: Analyzer,
    client_wait: Duration,
    hold_extra: Duration,
}

fn error_resp(transaction_id: &str, error: String) -> NatHoleResp {
    NatHoleResp {
        transaction_id: transaction_id.to_string(),
        error,
        ..Default::default()
    }
}

impl Controller {
    /// `reserve` = `natholeAnalysisDataReserveHours`.
    pub fn new(reserve: Duration) -> Arc<Controller> {
        Self::with_timeouts(reserve, NAT_HOLE_TIMEOUT, SESSION_HOLD_EXTRA)
    }

    /// As [`Controller::new`], with the wait for NatHoleClient and the time a session is kept
    /// after `read_timeout` for the report (frp: 10 s and 30 s) chosen, for tests.
    pub fn with_timeouts(
        reserve: Duration,
        client_wait: Duration,
        hold_extra: Duration,
    ) -> Arc<Controller> {
        Arc::new(Controller {
            state: Mutex::new(State::default()),
            analyzer: Analyzer::new(reserve),
            client_wait,
            hold_extra,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the xtcp proxy `name` (its full name); the receiver yields the sids to send to
    /// the proxy's client. Empty `allow_users` must already be replaced by the owner's user.
    pub fn listen_client(
        &self,
        name: &str,
        sk: &str,
        allow_users: Vec<String>,
    ) -> Result<mpsc::Receiver<String>, String> {
        let mut st = self.lock();
        if st.clients.contains_key(name) {
            return Err(format!("proxy [{name}] is repeated"));
        }
        let (sid_tx, sid_rx) = mpsc::channel(SID_QUEUE);
        st.clients.insert(
            name.to_string(),
            ClientCfg {
                sk: sk.to_string(),
                allow_users,
                sid_tx,
            },
        );
        Ok(sid_rx)
    }

    pub fn close_client(&self, name: &str) {
        self.lock().clients.remove(name);
    }

    /// Drops score records unused for longer than the reserve (frp: hourly).
    pub fn clean(&self) -> (usize, usize) {
        self.analyzer.clean()
    }

    /// A visitor's NatHoleVisitor: the pre-check, or a whole punching session (returns once the
    /// session is over, `read_timeout + 30 s` after the responses).
    pub async fn handle_visitor(&self, m: NatHoleVisitor, visitor_user: &str, reply: Responder) {
        if m.pre_check {
            let err = {
                let st = self.lock();
                match st.clients.get(&m.proxy_name) {
                    None => format!("xtcp server for [{}] doesn't exist", m.proxy_name),
                    Some(c) if !c.allow_users.iter().any(|u| u == visitor_user || u == "*") => {
                        format!(
                            "xtcp visitor user [{visitor_user}] not allowed for [{}]",
                            m.proxy_name
                        )
                    }
                    Some(_) => String::new(),
                }
            };
            reply(error_resp(&m.transaction_id, err));
            return;
        }

        let sid = super::new_transaction_id();
        let session = Arc::new(Session {
            state: Mutex::new(SessionState::default()),
            notify: Notify::new(),
        });
        let sid_tx = {
            let mut st = self.lock();
            let checked = match st.clients.get(&m.proxy_name) {
                None => Err(format!("xtcp server for [{}] doesn't exist", m.proxy_name)),
                Some(c)
                    if !crate::proto::crypto::auth_key_matches(&c.sk, m.timestamp, &m.sign_key) =>
                {
                    Err(format!("xtcp connection of [{}] auth failed", m.proxy_name))
                }
                Some(c) => Ok(c.sid_tx.clone()),
            };
            match checked {
                Ok(tx) => {
                    st.sessions.insert(sid.clone(), session.clone());
                    tx
                }
                Err(e) => {
                    drop(st);
                    tracing::warn!("handle visitorMsg error: {e}");
                    reply(error_resp(&m.transaction_id, e));
                    return;
                }
            }
        };
        self.run_session(&sid, &session, &m, sid_tx, reply).await;
        self.lock().sessions.remove(&sid);
    }

    async fn run_session(
        &self,
        sid: &str,
        session: &Session,
        vm: &NatHoleVisitor,
        sid_tx: mpsc::Sender<String>,
        v_reply: Responder,
    ) {
        if sid_tx.try_send(sid.to_string()).is_err() {
            tracing::debug!(
                "sid [{sid}]: xtcp proxy [{}] is gone or busy",
                vm.proxy_name
            );
            return;
        }
        let notified = session.notify.notified();
        let waited = {
            let has_client = session
                .state
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .client
                .is_some();
            has_client
                || tokio::time::timeout(self.client_wait, notified)
                    .await
                    .is_ok()
        };
        if !waited {
            tracing::debug!("wait for NatHoleClient message timeout, sid [{sid}]");
            return;
        }
        let Some((cm, c_reply)) = session
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .client
            .clone()
        else {
            return;
        };
        let (v_resp, c_resp) = match analysis::plan(&self.analyzer, sid, vm, &cm) {
            Ok(p) => {
                let mut st = session.state.lock().unwrap_or_else(|e| e.into_inner());
                st.analysis_key = p.analysis_key;
                st.mode = p.choice.mode;
                st.index = p.choice.index;
                (p.visitor_resp, p.client_resp)
            }
            Err(e) => {
                tracing::debug!("sid [{sid}] analysis error: {e}");
                (
                    error_resp(&vm.transaction_id, e.clone()),
                    error_resp(&cm.transaction_id, e),
                )
            }
        };
        let hold =
            Duration::from_millis(u64::try_from(c_resp.detect_behavior.read_timeout).unwrap_or(0))
                + self.hold_extra;
        let send = |resp: NatHoleResp, reply: Responder| async move {
            tokio::time::sleep(analysis::response_delay(&resp)).await;
            reply(resp);
        };
        tokio::join!(send(v_resp, v_reply), send(c_resp, c_reply));
        // Keep the session for the proxy's NatHoleReport.
        tokio::time::sleep(hold).await;
    }

    /// The proxy's NatHoleClient for a session waiting in [`Controller::handle_visitor`].
    pub fn handle_client(&self, m: NatHoleClient, reply: Responder) {
        let Some(session) = self.lock().sessions.get(&m.sid).cloned() else {
            return;
        };
        session
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .client = Some((m, reply));
        session.notify.notify_one();
    }

    /// The proxy's NatHoleReport: a success raises the score of the behaviour used.
    pub fn handle_report(&self, m: &NatHoleReport) {
        let Some(session) = self.lock().sessions.get(&m.sid).cloned() else {
            tracing::trace!(
                "sid [{}] report make hole success: {}, but session not found",
                m.sid,
                m.success
            );
            return;
        };
        let st = session.state.lock().unwrap_or_else(|e| e.into_inner());
        if m.success {
            self.analyzer
                .report_success(&st.analysis_key, st.mode, st.index);
        }
        tracing::info!(
            "sid [{}] report make hole success: {}, mode {}, index {}",
            m.sid,
            m.success,
            st.mode,
            st.index
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::crypto::auth_key;

    fn collector() -> (Responder, mpsc::UnboundedReceiver<NatHoleResp>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Arc::new(move |r| drop(tx.send(r))), rx)
    }

    fn visitor(pre_check: bool, sk: &str) -> NatHoleVisitor {
        NatHoleVisitor {
            transaction_id: "tv".into(),
            proxy_name: "alice.p2p".into(),
            pre_check,
            protocol: "quic".into(),
            sign_key: auth_key(sk, 1700000000),
            timestamp: 1700000000,
            mapped_addrs: vec!["1.1.1.1:1000".into(), "1.1.1.1:1000".into()],
            assisted_addrs: vec!["10.0.0.2:1000".into()],
        }
    }

    #[tokio::test]
    async fn pre_check_errors() {
        let c = Controller::new(Duration::from_secs(3600));
        let (reply, mut rx) = collector();
        c.handle_visitor(visitor(true, "sk"), "bob", reply.clone())
            .await;
        assert_eq!(
            rx.recv().await.unwrap().error,
            "xtcp server for [alice.p2p] doesn't exist"
        );
        let _sids = c
            .listen_client("alice.p2p", "sk", vec!["alice".into()])
            .unwrap();
        assert_eq!(
            c.listen_client("alice.p2p", "sk", vec![]).unwrap_err(),
            "proxy [alice.p2p] is repeated"
        );
        c.handle_visitor(visitor(true, "sk"), "bob", reply.clone())
            .await;
        assert_eq!(
            rx.recv().await.unwrap().error,
            "xtcp visitor user [bob] not allowed for [alice.p2p]"
        );
        c.handle_visitor(visitor(true, "sk"), "alice", reply.clone())
            .await;
        let ok = rx.recv().await.unwrap();
        assert_eq!((ok.transaction_id.as_str(), ok.error.as_str()), ("tv", ""));
        c.handle_visitor(visitor(false, "wrong"), "alice", reply)
            .await;
        assert_eq!(
            rx.recv().await.unwrap().error,
            "xtcp connection of [alice.p2p] auth failed"
        );
    }

    #[tokio::test]
    async fn a_whole_session() {
        let c =
            Controller::with_timeouts(Duration::from_secs(3600), NAT_HOLE_TIMEOUT, Duration::ZERO);
        let mut sids = c
            .listen_client("alice.p2p", "sk", vec!["*".into()])
            .unwrap();
        let (v_reply, mut v_rx) = collector();
        let (c_reply, mut c_rx) = collector();
        let c2 = c.clone();
        let session = tokio::spawn(async move {
            c2.handle_visitor(visitor(false, "sk"), "bob", v_reply)
                .await;
        });
        let sid = sids.recv().await.unwrap();
        let start = tokio::time::Instant::now();
        c.handle_client(
            NatHoleClient {
                transaction_id: "tc".into(),
                proxy_name: "alice.p2p".into(),
                sid: sid.clone(),
                mapped_addrs: vec!["2.2.2.2:2000".into(), "2.2.2.2:2000".into()],
                assisted_addrs: vec![],
            },
            c_reply,
        );
        // Mode 0 row 0: the visitor receives (at once), the client sends (1 s later).
        let v = v_rx.recv().await.unwrap();
        assert_eq!(
            (v.sid.as_str(), v.detect_behavior.role.as_str()),
            (sid.as_str(), "receiver")
        );
        assert_eq!(v.candidate_addrs, vec!["2.2.2.2:2000".to_string()]);
        let cr = c_rx.recv().await.unwrap();
        assert_eq!(cr.transaction_id, "tc");
        assert_eq!(cr.detect_behavior.role, "sender");
        assert_eq!(cr.assisted_addrs, vec!["10.0.0.2:1000".to_string()]);
        assert!(start.elapsed() >= Duration::from_secs(1));
        c.handle_report(&NatHoleReport {
            sid: sid.clone(),
            success: true,
        });
        session.await.unwrap();
        assert!(c.lock().sessions.is_empty());
        // The success (+2) beats the untried rows: the same pair gets row 0 again.
        let (v_reply, mut v_rx) = collector();
        let (c_reply, _c_rx) = collector();
        let c2 = c.clone();
        tokio::spawn(async move {
            c2.handle_visitor(visitor(false, "sk"), "bob", v_reply)
                .await
        });
        let sid = sids.recv().await.unwrap();
        c.handle_client(
            NatHoleClient {
                sid,
                mapped_addrs: vec!["2.2.2.2:2000".into(), "2.2.2.2:2000".into()],
                ..Default::default()
            },
            c_reply,
        );
        let v = v_rx.recv().await.unwrap();
        assert_eq!(v.detect_behavior.ttl, 7);
        assert_eq!(v.detect_behavior.role, "receiver");
    }

    #[tokio::test]
    async fn no_client_answer_ends_the_session() {
        let c = Controller::with_timeouts(
            Duration::from_secs(3600),
            Duration::from_millis(200),
            Duration::ZERO,
        );
        let mut sids = c
            .listen_client("alice.p2p", "sk", vec!["*".into()])
            .unwrap();
        let (v_reply, mut v_rx) = collector();
        c.handle_visitor(visitor(false, "sk"), "bob", v_reply).await;
        assert!(sids.recv().await.is_some());
        assert!(v_rx.try_recv().is_err());
        assert!(c.lock().sessions.is_empty());
    }
}
