//! What makes a daemon of frps and frpc: logging, sd_notify and signal handling.

pub mod logging;
pub mod notify;
pub mod signals;
