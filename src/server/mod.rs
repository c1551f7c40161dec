//! The frps service.
//!
//! - [`service`]: the bind-port listener; classifies each connection (TLS sniffing, yamux) and
//!   each logical connection by its first message.
//! - [`control`]: one logged-in client: its encrypted control channel and work-connection pool.
//! - [`proxy`]: the proxies a client registers (tcp listeners and their user connections).
//! - [`udp`]: udp proxies (the public UDP socket and its one work connection).
//! - [`ports`]: which remote ports proxies may take.
//! - [`vhost`]: http, https and tcpmux proxies, routed by host name.
//! - [`visitor`]: stcp and sudp proxies, reached by visitor connections instead of a port.
//! - [`group`]: load-balancing groups of tcp proxies sharing one port.
//! - [`stats`]: counters for the dashboard API; [`web`]: the dashboard API server;
//!   [`metrics`]: its Prometheus `/metrics`; [`dashboard`]: the dashboard's web page.
//! - [`plugin`]: server plugins (`httpPlugins`), asked over HTTP before logins, proxies,
//!   heartbeats, work and user connections.

pub mod control;
pub mod dashboard;
pub mod freshness;
pub mod metrics;
pub mod origin;
pub mod plugin;
pub mod ports;
pub mod proxy;
pub mod proxy_conf;
pub mod reload;
pub mod run;
pub mod session;
pub mod stats;
pub mod vhost;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use ports::PortManager;
use session::ControlHandle;

/// State shared by every connection of one running frps.
pub struct Server {
    /// The running configuration; a reload swaps it (see [`reload`]). Sessions copy what they
    /// need at login (token, key), so a new token only applies to new logins.
    cfg: RwLock<Arc<ServerConfig>>,
    pub tls: Arc<rustls::ServerConfig>,
    /// Cancelled when a stop begins: proxies stop accepting user connections.
    pub stopping: CancellationToken,
    /// Logged-in clients by run id.
    pub controls: Mutex<HashMap<String, Arc<ControlHandle>>>,
    /// Proxy names registered by any client (names are global on frps), with their type.
    pub proxy_names: Mutex<HashMap<String, String>>,
    pub stats: stats::Stats,
    pub ports: Mutex<PortManager>,
    pub vhost: vhost::Vhosts,
    /// tcp load-balancing groups by group name (names are global on frps, as in frp).
    pub tcp_groups: Mutex<HashMap<String, Arc<proxy::group::TcpGroup>>>,
    /// UDP ports: a namespace of their own (tcp and udp may use the same number).
    pub udp_ports: Mutex<PortManager>,
    /// stcp/sudp proxies by full name, for visitor connections.
    pub visitor_listeners: proxy::visitor::Listeners,
    /// The `httpPlugins` at start (a reload keeps them, as frp does).
    pub plugins: plugin::Manager,
    /// xtcp proxies and punching sessions (protocol.md §10.8).
    pub nathole: Arc<crate::nathole::controller::Controller>,
    /// Recent Login keys, for `auth.rejectStaleLogins`.
    pub seen_logins: freshness::SeenLogins,
}

impl Server {
    pub fn new(cfg: ServerConfig) -> anyhow::Result<Arc<Server>> {
        let tls = transport_tls(&cfg)?;
        metrics::mark_start();
        Ok(Arc::new(Server {
            tls,
            stopping: CancellationToken::new(),
            controls: Mutex::new(HashMap::new()),
            proxy_names: Mutex::new(HashMap::new()),
            stats: stats::Stats::default(),
            ports: Mutex::new(PortManager::new(&cfg.allow_ports)),
            vhost: vhost::Vhosts::default(),
            tcp_groups: Mutex::new(HashMap::new()),
            udp_ports: Mutex::new(PortManager::new(&cfg.allow_ports)),
            visitor_listeners: proxy::visitor::Listeners::default(),
            plugins: plugin::Manager::new(&cfg.http_plugins),
            nathole: crate::nathole::controller::Controller::new(std::time::Duration::from_secs(
                u64::try_from(cfg.nathole_analysis_data_reserve_hours.max(0))
                    .unwrap_or(0)
                    .saturating_mul(3600),
            )),
            seen_logins: freshness::SeenLogins::default(),
            cfg: RwLock::new(Arc::new(cfg)),
        }))
    }

    /// A snapshot of the running configuration.
    pub fn cfg(&self) -> Arc<ServerConfig> {
        self.cfg.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_cfg(&self, cfg: ServerConfig) {
        *self.cfg.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(cfg);
    }

    /// The error text sent to the client: detailed unless `detailedErrorsToClient = false`.
    pub fn client_error(&self, summary: &str, detail: &str) -> String {
        if self.cfg().detailed_errors_to_client {
            detail.to_string()
        } else {
            summary.to_string()
        }
    }

    /// One line for `STATUS=`: what frps serves right now.
    pub fn status_line(&self) -> String {
        let clients = lock(&self.controls).len();
        let proxies = lock(&self.proxy_names).len();
        let cfg = self.cfg();
        format!(
            "listening on {}; {clients} clients, {proxies} proxies, {} connections{}",
            crate::transport::tcp::join_host_port(&cfg.bind_addr, cfg.bind_port as u16),
            self.stats.cur_conns(),
            crate::web::status_note(&cfg.web_server, "dashboard")
        )
    }

    pub fn control(&self, run_id: &str) -> Option<Arc<ControlHandle>> {
        lock(&self.controls).get(run_id).cloned()
    }
}

/// Lock a std mutex, recovering the data if a panicking thread poisoned it: the maps guarded
/// here stay consistent between statements, so continuing is safe and keeps the daemon up.
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The TLS server configuration of the bind port (`transport.tls`).
fn transport_tls(cfg: &ServerConfig) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let t = &cfg.transport.tls;
    crate::transport::tls::server_config(&t.cert_file, &t.key_file, &t.trusted_ca_file)
        .map_err(|e| anyhow::anyhow!("transport.tls: {e}"))
}

/// Read the files the config names (certificates, keys, CAs) as start reads them, so that
/// `frps verify` refuses what start would.
pub fn check_files(cfg: &ServerConfig) -> anyhow::Result<()> {
    transport_tls(cfg)?;
    if cfg.web_server.port != 0 {
        crate::web::tls_acceptor(&cfg.web_server)?;
    }
    Ok(())
}
