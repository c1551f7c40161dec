//! frpc's proxies (protocol.md §7.7, §10.1): their registration status, the NewProxy they send,
//! and what happens on a work connection once StartWorkConn names them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::{info, warn};

use super::plugin::Plugin;
use crate::config::ProxyConfig;
use crate::proto::msg;
use crate::transport::tcp;
use crate::transport::wrap::{self, Limiter};

/// A NewProxy unanswered this long is sent again.
const WAIT_START_RETRY: Duration = Duration::from_secs(20);
/// A refused proxy is retried this often.
const START_ERROR_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    New,
    WaitStart,
    StartError,
    Running,
    /// The health check failed: closed on frps until the check succeeds again.
    CheckFailed,
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::WaitStart => "wait start",
            Status::StartError => "start error",
            Status::Running => "running",
            Status::CheckFailed => "check failed",
            Status::Closed => "closed",
        }
    }
}

struct Entry {
    cfg: Arc<ProxyConfig>,
    status: Status,
    since: Instant,
    error: String,
    remote_addr: String,
    /// One limiter per proxy, shared by all its connections (`bandwidthLimitMode = "client"`).
    limiter: Option<Arc<Limiter>>,
    /// False while a health check says the local service is down (and before its first
    /// success); such a proxy is not registered.
    healthy: bool,
    _monitor: Option<super::health::Monitor>,
    /// The client plugin serving its work connections, built once per proxy configuration.
    plugin: Option<Arc<Plugin>>,
}

impl Entry {
    /// When a proxy waiting on frps is sent again: no answer yet, or refused.
    fn retry_at(&self) -> Option<Instant> {
        match self.status {
            Status::WaitStart => Some(self.since + WAIT_START_RETRY),
            Status::StartError => Some(self.since + START_ERROR_RETRY),
            _ => None,
        }
    }
}

/// The proxies of this frpc, shared by the control loop and work-connection tasks.
pub struct Proxies {
    /// Handed to health checks, which report back here.
    me: Weak<Proxies>,
    entries: Mutex<HashMap<String, Entry>>,
    /// Proxies removed or changed by a reload that frps still has registered: the control loop
    /// sends CloseProxy for them (before any NewProxy of a changed one).
    pending_close: Mutex<Vec<String>>,
    /// Wakes the control loop after a reload changed something.
    pub changed: Notify,
    /// Work connections being served right now (a graceful stop waits for them).
    active: AtomicUsize,
    /// A session with frps is up (the admin API's status is empty otherwise, as in frp).
    online: AtomicBool,
    /// The live work connection of each udp proxy.
    pub(super) udp: super::udp::Current,
}

/// One proxy in frpc's admin API `GET /api/status` (apis.md §4); every key always present.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProxyStatus {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    pub err: String,
    pub local_addr: String,
    pub plugin: String,
    pub remote_addr: String,
}

/// What a reload changed, by proxy (or visitor) name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: usize,
}

impl Diff {
    /// `what`: "proxies" or "visitors".
    pub fn summary(&self, what: &str) -> String {
        format!(
            "{} {what} added, {} removed, {} changed, {} unchanged",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.unchanged
        )
    }
}

/// Counts the work connection as active while alive.
pub(super) struct ActiveGuard<'a>(&'a AtomicUsize);

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// frps knows a proxy once NewProxy went out for it (answered or not).
fn registered(status: Status) -> bool {
    matches!(status, Status::WaitStart | Status::Running)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxies {
    pub fn new(configs: &[ProxyConfig]) -> Arc<Proxies> {
        let p = Arc::new_cyclic(|me| Proxies {
            me: me.clone(),
            entries: Mutex::new(HashMap::new()),
            pending_close: Mutex::new(Vec::new()),
            changed: Notify::new(),
            active: AtomicUsize::new(0),
            online: AtomicBool::new(false),
            udp: Default::default(),
        });
        // Only now can health checks reach `p` through `me`. Holding the lock while the entries
        // go in makes a check that reports at once wait until its entry exists.
        {
            let mut entries = lock(&p.entries);
            for c in configs {
                let e = p.new_entry(c);
                entries.insert(c.name.clone(), e);
            }
        }
        p
    }

    fn new_entry(&self, c: &ProxyConfig) -> Entry {
        let limiter = match (
            wrap::parse_bandwidth(&c.transport.bandwidth_limit),
            c.transport.bandwidth_limit_mode.as_str(),
        ) {
            (Ok(Some(rate)), "client") => Some(Limiter::new(rate)),
            _ => None,
        };
        let cfg = Arc::new(c.clone());
        let me = self.me.clone();
        let checked = cfg.clone();
        let monitor = super::health::start(cfg.clone(), move |healthy| {
            if let Some(p) = me.upgrade() {
                p.set_health(&checked, healthy);
            }
        });
        // run::check_files built it once already, so this fails only if a file changed since.
        let plugin = c.plugin.as_ref().and_then(|o| match Plugin::new(o) {
            Ok(p) => Some(Arc::new(p)),
            Err(e) => {
                warn!(proxy_name = %c.name, "plugin: {e}");
                None
            }
        });
        Entry {
            cfg,
            status: Status::New,
            since: Instant::now(),
            error: String::new(),
            remote_addr: String::new(),
            limiter,
            healthy: monitor.is_none(),
            _monitor: monitor,
            plugin,
        }
    }

    /// A health check changed its mind about `cfg`: close the proxy on frps while unhealthy,
    /// register it again once healthy (the control loop sends both when `changed` fires).
    fn set_health(&self, cfg: &Arc<ProxyConfig>, healthy: bool) {
        let name = &cfg.name;
        let mut entries = lock(&self.entries);
        // A reload may have replaced the proxy since the check began.
        let Some(e) = entries.get_mut(name).filter(|e| Arc::ptr_eq(&e.cfg, cfg)) else {
            return;
        };
        e.healthy = healthy;
        if healthy {
            info!(proxy_name = %name, "[{name}] health check success");
        } else {
            info!(proxy_name = %name, "[{name}] health check failed");
            if registered(e.status) {
                e.status = Status::CheckFailed;
                e.since = Instant::now();
                drop(entries);
                lock(&self.pending_close).push(name.clone());
            }
        }
        self.changed.notify_one();
    }

    /// A new session starts: every proxy must register again (frps dropped the old session's
    /// proxies, so nothing needs closing); those failing their health check stay so.
    pub fn reset(&self) {
        for e in lock(&self.entries).values_mut() {
            if e.status != Status::CheckFailed {
                e.status = Status::New;
            }
            e.since = Instant::now();
        }
        lock(&self.pending_close).clear();
    }

    /// Apply a reloaded proxy list: unchanged proxies keep their registration, status and live
    /// connections; removed ones are dropped, changed ones start over with the new settings,
    /// and both are closed on frps first; new ones register.
    pub fn apply(&self, configs: &[ProxyConfig]) -> Diff {
        let mut diff = Diff::default();
        let mut entries = lock(&self.entries);
        let mut closes = Vec::new();
        let wanted: HashMap<&str, &ProxyConfig> =
            configs.iter().map(|c| (c.name.as_str(), c)).collect();
        entries.retain(|name, e| {
            if wanted.contains_key(name.as_str()) {
                return true;
            }
            if registered(e.status) {
                closes.push(name.clone());
            }
            diff.removed.push(name.clone());
            false
        });
        for c in configs {
            match entries.get_mut(&c.name) {
                Some(e) if *e.cfg == *c => diff.unchanged += 1,
                Some(e) => {
                    if registered(e.status) {
                        closes.push(c.name.clone());
                    }
                    *e = self.new_entry(c);
                    diff.changed.push(c.name.clone());
                }
                None => {
                    let e = self.new_entry(c);
                    entries.insert(c.name.clone(), e);
                    diff.added.push(c.name.clone());
                }
            }
        }
        drop(entries);
        lock(&self.pending_close).extend(closes);
        diff.removed.sort();
        self.changed.notify_one();
        diff
    }

    /// Names to send CloseProxy for, once.
    pub fn take_pending_close(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.pending_close))
    }

    /// (running, refused) proxy counts and the total, for STATUS=.
    pub fn counts(&self) -> (usize, usize, usize) {
        let entries = lock(&self.entries);
        let running = entries
            .values()
            .filter(|e| e.status == Status::Running)
            .count();
        let failed = entries
            .values()
            .filter(|e| e.status == Status::StartError)
            .count();
        (running, failed, entries.len())
    }

    pub fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
    }

    /// The status of every proxy by type, sorted by name; empty while not logged in.
    /// tcp/udp remote addresses are prefixed with `server_addr`, as frp shows them.
    pub fn status(&self, server_addr: &str) -> BTreeMap<String, Vec<ProxyStatus>> {
        let mut out: BTreeMap<String, Vec<ProxyStatus>> = BTreeMap::new();
        if !self.online.load(Ordering::Relaxed) {
            return out;
        }
        for (name, e) in lock(&self.entries).iter() {
            let c = &e.cfg;
            let remote_addr = if !e.error.is_empty() || e.status != Status::Running {
                String::new()
            } else if matches!(c.kind.as_str(), "tcp" | "udp") {
                format!("{server_addr}{}", e.remote_addr)
            } else {
                e.remote_addr.clone()
            };
            out.entry(c.kind.clone()).or_default().push(ProxyStatus {
                name: name.clone(),
                kind: c.kind.clone(),
                status: e.status.as_str().to_string(),
                err: e.error.clone(),
                local_addr: if c.local_port == 0 {
                    String::new()
                } else {
                    tcp::join_host_port(&c.local_ip, c.local_port as u16)
                },
                plugin: c
                    .plugin
                    .as_ref()
                    .and_then(|p| p.get("type"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string(),
                remote_addr,
            });
        }
        for list in out.values_mut() {
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        out
    }

    /// Work connections being served now.
    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// NewProxy messages due now (new or healthy again, or unanswered for 20 s, or refused 30 s
    /// ago); marks them as waiting. Unhealthy proxies are never due.
    pub fn due(&self) -> Vec<msg::NewProxy> {
        let mut out = Vec::new();
        for e in lock(&self.entries).values_mut() {
            let due = e.healthy
                && match e.status {
                    Status::New | Status::CheckFailed => true,
                    _ => e.retry_at().is_some_and(|at| at <= Instant::now()),
                };
            if due {
                e.status = Status::WaitStart;
                e.since = Instant::now();
                out.push(new_proxy_msg(&e.cfg));
            }
        }
        out
    }

    /// When the next proxy waiting on frps (no answer yet, or refused) is due to be sent
    /// again; None when none waits, so an idle frpc arms no timer.
    pub fn next_retry(&self) -> Option<Instant> {
        lock(&self.entries)
            .values()
            .filter(|e| e.healthy)
            .filter_map(Entry::retry_at)
            .min()
    }

    pub fn on_resp(&self, resp: &msg::NewProxyResp) {
        let mut entries = lock(&self.entries);
        let Some(e) = entries.get_mut(&resp.proxy_name) else {
            return;
        };
        if e.status != Status::WaitStart {
            return;
        }
        e.since = Instant::now();
        if resp.error.is_empty() {
            e.status = Status::Running;
            e.error.clear();
            e.remote_addr = resp.remote_addr.clone();
            info!(proxy_name = %resp.proxy_name, proxy_type = %e.cfg.kind, "[{}] start proxy success", resp.proxy_name);
        } else {
            e.status = Status::StartError;
            e.error = resp.error.clone();
            warn!(proxy_name = %resp.proxy_name, proxy_type = %e.cfg.kind, "[{}] start error: {}", resp.proxy_name, resp.error);
        }
    }

    /// Names of running proxies (to send CloseProxy on shutdown); marks them closed.
    pub fn close_all(&self) -> Vec<String> {
        let mut names = Vec::new();
        for (name, e) in lock(&self.entries).iter_mut() {
            if e.status == Status::Running {
                names.push(name.clone());
            }
            e.status = Status::Closed;
        }
        names
    }

    /// The configuration of the running xtcp proxy `name` (its work connections carry sids).
    pub fn xtcp_config(&self, name: &str) -> Option<Arc<ProxyConfig>> {
        let entries = lock(&self.entries);
        let e = entries.get(name)?;
        (e.status == Status::Running && e.cfg.kind == "xtcp").then(|| e.cfg.clone())
    }

    /// Counts one work connection as being served until the guard drops.
    pub(super) fn active_guard(&self) -> ActiveGuard<'_> {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(&self.active)
    }

    /// A running proxy's config, client-mode limiter and plugin.
    #[allow(clippy::type_complexity)]
    pub(super) fn running(
        &self,
        name: &str,
    ) -> Option<(Arc<ProxyConfig>, Option<Arc<Limiter>>, Option<Arc<Plugin>>)> {
        let entries = lock(&self.entries);
        let e = entries.get(name)?;
        (e.status == Status::Running).then(|| (e.cfg.clone(), e.limiter.clone(), e.plugin.clone()))
    }
}

pub fn new_proxy_msg(c: &ProxyConfig) -> msg::NewProxy {
    let t = &c.transport;
    msg::NewProxy {
        proxy_name: c.name.clone(),
        proxy_type: c.kind.clone(),
        use_encryption: t.use_encryption,
        use_compression: t.use_compression,
        bandwidth_limit: t.bandwidth_limit.clone(),
        // frpc omits the default mode.
        bandwidth_limit_mode: if t.bandwidth_limit_mode == "client" {
            String::new()
        } else {
            t.bandwidth_limit_mode.clone()
        },
        group: c.load_balancer.group.clone(),
        group_key: c.load_balancer.group_key.clone(),
        metas: c.metadatas.clone(),
        annotations: c.annotations.clone(),
        remote_port: c.remote_port.unwrap_or(0),
        custom_domains: c.custom_domains.clone().unwrap_or_default(),
        subdomain: c.subdomain.clone().unwrap_or_default(),
        locations: c.locations.clone().unwrap_or_default(),
        http_user: c.http_user.clone().unwrap_or_default(),
        http_pwd: c.http_password.as_deref().unwrap_or_default().to_string(),
        host_header_rewrite: c.host_header_rewrite.clone().unwrap_or_default(),
        headers: c
            .request_headers
            .as_ref()
            .map(|h| h.set.clone())
            .unwrap_or_default(),
        response_headers: c
            .response_headers
            .as_ref()
            .map(|h| h.set.clone())
            .unwrap_or_default(),
        route_by_http_user: c.route_by_http_user.clone().unwrap_or_default(),
        multiplexer: c.multiplexer.clone().unwrap_or_default(),
        sk: c.secret_key.as_deref().unwrap_or_default().to_string(),
        allow_users: c.allow_users.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(name: &str, local_port: i64, remote: i64) -> ProxyConfig {
        ProxyConfig {
            name: name.into(),
            kind: "tcp".into(),
            local_ip: "127.0.0.1".into(),
            local_port,
            remote_port: Some(remote),
            ..Default::default()
        }
    }

    fn answer(p: &Proxies, name: &str) {
        p.on_resp(&msg::NewProxyResp {
            proxy_name: name.into(),
            remote_addr: ":1".into(),
            error: String::new(),
        });
    }

    #[test]
    fn apply_keeps_unchanged_and_closes_only_what_frps_knows() {
        let p = Proxies::new(&[tcp("a", 1, 10), tcp("b", 2, 20), tcp("c", 3, 30)]);
        let mut sent: Vec<String> = p.due().into_iter().map(|m| m.proxy_name).collect();
        sent.sort();
        assert_eq!(sent, ["a", "b", "c"]);
        answer(&p, "a");
        answer(&p, "b");
        // c is still waiting for its answer: frps may have it, so it must be closed too.
        let diff = p.apply(&[tcp("a", 1, 10), tcp("c", 3, 31), tcp("d", 4, 40)]);
        assert_eq!(diff.added, ["d"]);
        assert_eq!(diff.removed, ["b"]);
        assert_eq!(diff.changed, ["c"]);
        assert_eq!(diff.unchanged, 1);
        let mut closes = p.take_pending_close();
        closes.sort();
        assert_eq!(closes, ["b", "c"]);
        assert!(p.take_pending_close().is_empty(), "closed once");
        // a keeps running untouched; c and d register (c with its new port).
        assert!(p.running("a").is_some());
        let mut due: Vec<(String, i64)> = p
            .due()
            .into_iter()
            .map(|m| (m.proxy_name, m.remote_port))
            .collect();
        due.sort();
        assert_eq!(due, [("c".to_string(), 31), ("d".to_string(), 40)]);
    }

    #[test]
    fn http_new_proxy_is_what_go_frpc_sends() {
        // The NewProxy of the `http` Go capture (tests/fixtures/captures/http/frpc.toml).
        let c = ProxyConfig {
            name: "web".into(),
            kind: "http".into(),
            local_ip: "127.0.0.1".into(),
            local_port: 41683,
            custom_domains: Some(vec!["a.test".into()]),
            ..Default::default()
        };
        let body = msg::Message::NewProxy(new_proxy_msg(&c)).encode_body();
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"proxy_name":"web","proxy_type":"http","custom_domains":["a.test"]}"#
        );
    }

    #[test]
    fn stcp_new_proxy_carries_the_secret_key_and_allowed_users() {
        let c = ProxyConfig {
            name: "alice.secret".into(),
            kind: "stcp".into(),
            local_port: 22,
            secret_key: Some("sk".into()),
            allow_users: Some(vec!["bob".into(), "*".into()]),
            ..Default::default()
        };
        let body = msg::Message::NewProxy(new_proxy_msg(&c)).encode_body();
        assert_eq!(
            String::from_utf8_lossy(&body),
            r#"{"proxy_name":"alice.secret","proxy_type":"stcp","sk":"sk","allow_users":["bob","*"]}"#
        );
    }

    #[test]
    fn a_new_session_forgets_pending_closes() {
        let p = Proxies::new(&[tcp("a", 1, 10)]);
        let _ = p.due();
        answer(&p, "a");
        p.apply(&[]);
        p.reset();
        assert!(p.take_pending_close().is_empty());
        assert_eq!(p.counts(), (0, 0, 0));
    }
}
