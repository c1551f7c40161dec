//! The integration tests: one binary (so rustls, quinn and hyper are linked once, not once per
//! area) that drives the real `frps` and `frpc` over loopback. One module per area; `common`
//! holds the harness: the port allocator, daemons, config builders, backends and waits.

mod common;

mod admin_api;
mod captures;
mod cli;
mod config_files;
mod dashboard_api;
mod dashboard_browser;
mod groups;
mod health_check;
mod http_proxy;
mod https_tcpmux;
mod journald;
mod launchd_plists;
mod legacy_ini;
mod log_file;
mod memory;
mod nathole;
mod notify;
mod plugins;
mod reload;
mod security;
mod server_plugins;
#[cfg(target_os = "linux")]
mod service_units;
mod session;
mod stcp_sudp;
mod tcp_proxy;
mod tls;
mod udp_proxy;
mod web;
mod xtcp;
