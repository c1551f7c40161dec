//! The frps service.
//!
//! - [`service`]: the bind-port listener; classifies each connection (TLS sniffing, yamux) and
//!   each logical connection by its first message.
//! - [`control`]: one logged-in client: its encrypted control channel and work-connection pool.
//! - [`proxy`]: the proxies a client registers (tcp listeners and their user connections).
//! - [`ports`]: which remote ports proxies may take.
//! - [`stats`]: counters for the dashboard API; [`web`]: the dashboard API server.

pub mod control;
pub mod ports;
pub mod proxy;
pub mod service;
pub mod stats;
pub mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::config::ServerConfig;
use control::ControlHandle;
use ports::PortManager;

/// State shared by every connection of one running frps.
pub struct Server {
    pub cfg: ServerConfig,
    /// AES key derived from `auth.token`, for the control channel and proxy encryption.
    pub key: [u8; 16],
    pub tls: Arc<rustls::ServerConfig>,
    /// Logged-in clients by run id.
    pub controls: Mutex<HashMap<String, Arc<ControlHandle>>>,
    /// Proxy names registered by any client (names are global on frps), with their type.
    pub proxy_names: Mutex<HashMap<String, String>>,
    pub stats: stats::Stats,
    pub ports: Mutex<PortManager>,
}

impl Server {
    pub fn new(cfg: ServerConfig) -> anyhow::Result<Arc<Server>> {
        let t = &cfg.transport.tls;
        let tls =
            crate::transport::tls::server_config(&t.cert_file, &t.key_file, &t.trusted_ca_file)
                .map_err(|e| anyhow::anyhow!("transport.tls: {e}"))?;
        Ok(Arc::new(Server {
            key: crate::proto::crypto::derive_key(cfg.auth.token.as_bytes()),
            tls,
            controls: Mutex::new(HashMap::new()),
            proxy_names: Mutex::new(HashMap::new()),
            stats: stats::Stats::default(),
            ports: Mutex::new(PortManager::new(&cfg.allow_ports)),
            cfg,
        }))
    }

    /// The error text sent to the client: detailed unless `detailedErrorsToClient = false`.
    pub fn client_error(&self, summary: &str, detail: &str) -> String {
        if self.cfg.detailed_errors_to_client {
            detail.to_string()
        } else {
            summary.to_string()
        }
    }

    /// One line for `STATUS=`: what frps serves right now.
    pub fn status_line(&self) -> String {
        let clients = lock(&self.controls).len();
        let proxies = lock(&self.proxy_names).len();
        format!(
            "listening on {}; {clients} clients, {proxies} proxies, {} connections",
            crate::transport::tcp::join_host_port(&self.cfg.bind_addr, self.cfg.bind_port as u16),
            self.stats.cur_conns()
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
