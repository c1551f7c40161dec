//! Configuration: frp's v1 schema (config.md §3, §4) as serde structs, loading and validation.
//!
//! Struct and field names mirror the TOML keys (`bindPort` → `bind_port`), so the rest of the
//! schema (and the INI/YAML/JSON loaders) can be added without reshaping what exists.

pub mod client;
pub mod diff;
pub mod glob;
pub mod legacy;
pub mod load;
pub mod normalize;
pub mod proxy;
pub mod server;
pub mod support;
pub mod template;
pub mod types;

pub use client::ClientConfig;
pub use load::{load_client, load_server, ConfigError};
pub use proxy::ProxyConfig;
pub use server::ServerConfig;
