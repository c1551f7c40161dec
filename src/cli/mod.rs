//! The command lines of frps and frpc, as frp v0.65.0 has them (config.md §5).

pub mod frpc;
pub mod frps;
