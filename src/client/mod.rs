//! The frpc service.
//!
//! - [`service`]: login, reconnect with backoff, run-id reuse, shutdown.
//! - [`connector`]: the physical connection to frps (TCP, TLS, yamux) and its logical streams.
//! - [`control`]: one logged-in session: the encrypted control channel, heartbeats.
//! - [`proxy`]: the configured proxies, their registration status and their work connections.
//! - [`udp`]: the udp message loop of udp and sudp proxies' work connections.
//! - [`visitor`]: stcp and sudp visitors: local listeners reaching another frpc's proxy.
//! - [`health`]: health checks that register and close proxies as their service comes and goes.
//! - [`plugin`]: client plugins that serve a proxy's work connections inside frpc.
//! - [`admin`]: the admin API (`webServer.*`): reload, stop, status, config.

pub mod admin;
pub mod connector;
pub mod control;
pub mod health;
pub mod plugin;
pub mod proxy;
pub mod run;
pub mod udp;
pub mod visitor;
pub mod work_conn;
pub mod xtcp;

pub use run::run;

/// Go's `GOOS` name for this platform, as frpc reports it in Login.
pub fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Go's `GOARCH` name for this platform.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        other => other,
    }
}
