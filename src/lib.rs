//! frp rebuilt in Rust: `frps` and `frpc`, wire-compatible with frp v0.65.0.
//!
//! Module map:
//! - [`config`]: the v1 configuration schema, loading and validation.
//! - [`proto`]: frp's framed JSON messages, auth keys, and the AES-128-CFB stream cipher.
//! - [`transport`]: TCP, TLS, yamux multiplexing and the per-proxy wrapping layers.
//! - [`nathole`]: xtcp's building blocks: STUN discovery, NAT analysis, hole punching, QUIC tunnel.
//! - [`server`]: the frps service.
//! - [`client`]: the frpc service.
//! - [`cli`]: the frps and frpc command lines.
//! - [`service`]: what makes a daemon of them: logging, sd_notify, signals, shutdown, reload.
//! - [`web`]: the HTTP plumbing of the frps dashboard and the frpc admin API.

pub mod alloc;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod escape;
pub mod nathole;
pub mod proto;
pub mod server;
pub mod transport;
pub mod web;

/// The frp protocol level we speak; sent as `version` in Login and LoginResp.
pub const FRP_PROTOCOL_VERSION: &str = "0.65.0";
/// This implementation's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// 16 random lowercase hex characters, like frp's `util.RandID` (run ids).
pub fn rand_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// The name logs and the dashboard give a client session: 8 hex digits of a hash of its run id.
/// The run id itself is never shown (whoever knew it could once pass for the client); a tag
/// cannot be turned back into it (about 2^32 run ids share each tag), yet frpc and frps derive
/// the same tag, so their logs still line up.
pub fn client_tag(run_id: &str) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::new()
        .chain_update(b"frp client tag\0")
        .chain_update(run_id.as_bytes())
        .finalize();
    hex::encode(&digest[..4])
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
