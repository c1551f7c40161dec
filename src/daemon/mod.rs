//! What makes a daemon of frps and frpc: logging, sd_notify, signals, shutdown and reload.

pub mod journal;
pub mod lifecycle;
pub mod log_limit;
pub mod logfile;
pub mod logging;
pub mod memory;
pub mod notify;
pub mod shutdown;
pub mod signals;

pub use lifecycle::Lifecycle;
