//! frp rebuilt in Rust: `frps` and `frpc`, wire-compatible with frp v0.65.0.
//!
//! Module map:
//! - [`config`]: the v1 configuration schema, loading and validation.
//! - [`proto`]: frp's framed JSON messages, auth keys, and the AES-128-CFB stream cipher.
//! - [`transport`]: TCP, TLS, yamux multiplexing and the per-proxy wrapping layers.
//! - [`server`]: the frps service.
//! - [`client`]: the frpc service.

pub mod config;
pub mod proto;
pub mod transport;
pub mod server;
pub mod client;
pub mod util;

/// The frp protocol level we speak; sent as `version` in Login and LoginResp.
pub const FRP_PROTOCOL_VERSION: &str = "0.65.0";
/// This implementation's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
