//! frpc's proxies (protocol.md §7.7, §10.1): their registration status, the NewProxy they send,
//! and what happens on a work connection once StartWorkConn names them.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tracing::{debug, info, warn};

use crate::config::ProxyConfig;
use crate::proto::msg;
use crate::transport::proxy_protocol::{self, Version};
use crate::transport::wrap::{self, LimitedStream, Limiter};
use crate::transport::{splice, tcp, BoxStream};

const LOCAL_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
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
    Closed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::WaitStart => "wait start",
            Status::StartError => "start error",
            Status::Running => "running",
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
}

/// The proxies of this frpc, shared by the control loop and work-connection tasks.
pub struct Proxies {
    entries: Mutex<HashMap<String, Entry>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxies {
    pub fn new(configs: &[ProxyConfig]) -> Arc<Proxies> {
        let entries = configs
            .iter()
            .map(|c| {
                let limiter = match (
                    wrap::parse_bandwidth(&c.transport.bandwidth_limit),
                    c.transport.bandwidth_limit_mode.as_str(),
                ) {
                    (Ok(Some(rate)), "client") => Some(Limiter::new(rate)),
                    _ => None,
                };
                let e = Entry {
                    cfg: Arc::new(c.clone()),
                    status: Status::New,
                    since: Instant::now(),
                    error: String::new(),
                    remote_addr: String::new(),
                    limiter,
                };
                (c.name.clone(), e)
            })
            .collect();
        Arc::new(Proxies {
            entries: Mutex::new(entries),
        })
    }

    /// A new session starts: every proxy must register again.
    pub fn reset(&self) {
        for e in lock(&self.entries).values_mut() {
            e.status = Status::New;
            e.since = Instant::now();
        }
    }

    /// NewProxy messages due now (new, or unanswered for 20 s, or refused 30 s ago); marks them
    /// as waiting.
    pub fn due(&self) -> Vec<msg::NewProxy> {
        let mut out = Vec::new();
        for e in lock(&self.entries).values_mut() {
            let due = match e.status {
                Status::New => true,
                Status::WaitStart => e.since.elapsed() > WAIT_START_RETRY,
                Status::StartError => e.since.elapsed() > START_ERROR_RETRY,
                Status::Running | Status::Closed => false,
            };
            if due {
                e.status = Status::WaitStart;
                e.since = Instant::now();
                out.push(new_proxy_msg(&e.cfg));
            }
        }
        out
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

    fn running(&self, name: &str) -> Option<(Arc<ProxyConfig>, Option<Arc<Limiter>>)> {
        let entries = lock(&self.entries);
        let e = entries.get(name)?;
        (e.status == Status::Running).then(|| (e.cfg.clone(), e.limiter.clone()))
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
        ..Default::default()
    }
}

/// Serve a work connection after its StartWorkConn: wrap it, dial the local service, write the
/// PROXY header if configured, and splice.
pub async fn serve_work_conn(
    proxies: &Proxies,
    key: &[u8; 16],
    work: BoxStream,
    start: msg::StartWorkConn,
) {
    let name = start.proxy_name.clone();
    let Some((cfg, limiter)) = proxies.running(&name) else {
        debug!(proxy_name = %name, "work connection for a proxy that is not running, closing");
        return;
    };
    // Client-mode bandwidth limiting counts the bytes on the work connection itself.
    let work: BoxStream = match limiter {
        Some(l) => Box::new(LimitedStream::new(work, l)),
        None => work,
    };
    let t = &cfg.transport;
    let mut work = if t.use_encryption || t.use_compression {
        wrap::wrap(work, key, t.use_encryption, t.use_compression)
    } else {
        work
    };
    let local_port = cfg.local_port as u16;
    let mut local = match tcp::dial(&cfg.local_ip, local_port, LOCAL_DIAL_TIMEOUT, None, 7200).await
    {
        Ok(s) => s,
        Err(e) => {
            warn!(proxy_name = %name, "connect to local service [{}] error: {e}", tcp::join_host_port(&cfg.local_ip, local_port));
            return;
        }
    };
    if let Ok(version) = t.proxy_protocol_version.parse::<Version>() {
        if let Some(header) = proxy_protocol_header(version, &start) {
            match header {
                Ok(h) => {
                    if local.write_all(&h).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(proxy_name = %name, "cannot build PROXY protocol header: {e}");
                    return;
                }
            }
        }
    }
    match splice::splice(&mut work, &mut local).await {
        Ok((down, up)) => {
            debug!(proxy_name = %name, "work connection closed, {down} bytes to local, {up} bytes back")
        }
        Err(e) => debug!(proxy_name = %name, "work connection closed: {e}"),
    }
}

/// The header for a StartWorkConn with a known source; `None` when frps sent no source.
fn proxy_protocol_header(
    version: Version,
    start: &msg::StartWorkConn,
) -> Option<Result<Vec<u8>, String>> {
    if start.src_addr.is_empty() || start.src_port == 0 {
        return None;
    }
    let src_ip: IpAddr = match start.src_addr.parse() {
        Ok(ip) => ip,
        Err(_) => return Some(Err(format!("invalid src_addr '{}'", start.src_addr))),
    };
    let dst_ip: IpAddr = if start.dst_addr.is_empty() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        match start.dst_addr.parse() {
            Ok(ip) => ip,
            Err(_) => return Some(Err(format!("invalid dst_addr '{}'", start.dst_addr))),
        }
    };
    let src = SocketAddr::new(src_ip, start.src_port);
    let dst = SocketAddr::new(dst_ip, start.dst_port);
    Some(proxy_protocol::tcp_header(version, src, dst).map_err(|e| e.to_string()))
}
