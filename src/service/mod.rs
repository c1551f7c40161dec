//! What makes a daemon of frps and frpc: logging and signal handling.

pub mod logging;
pub mod signals;
