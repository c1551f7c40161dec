//! yamux stream multiplexing, wire-compatible with hashicorp/yamux as frp v0.65.0 configures it
//! (protocol.md §3).
//!
//! A [`Session`] wraps one physical connection and spawns three tasks on the current tokio
//! runtime:
//! - a reader that parses frames, routes payload into per-stream receive buffers (bounded by
//!   the stream window), answers pings and enforces the protocol;
//! - a writer that owns the outgoing queue: each batch writes control frames (window
//!   updates, SYN/ACK, RST, pings, GoAway) before data frames, so a control frame never waits
//!   behind more than one batch (≤ ~192 KiB of data). Stream writes are appended to a shared,
//!   bounded buffer (128 KiB; writers wait beyond it, so a slow connection back-pressures
//!   them) and consecutive writes of one stream coalesce into frames of up to 64 KiB;
//! - a timer task for keepalive pings, the stream-open timeout (75 s) and the stream-close
//!   timeout (5 min).
//!
//! Fast path: a write of ≥ 32 KiB made while nothing is queued and the writer is idle goes
//! straight to the connection as one vectored write of header + payload (up to 256 KiB) from
//! the caller's buffer; whatever the connection does not take is queued to go out before
//! anything else. Reads use a 128 KiB buffer; large payload remainders are read directly into
//! buffers that the stream's reader then consumes without another copy.
//!
//! Semantics follow hashicorp/yamux (`session.go`, `stream.go`): open sends `WindowUpdate SYN`
//! with delta = max window − 256 KiB, accept answers `ACK` with the same delta, receivers
//! send a window update once the freed space reaches half the max window, FIN is a
//! `WindowUpdate FIN` (ordered after the stream's data), RST resets, receive-window overflow,
//! duplicate stream ids and unexpected FINs send `GoAway(1)` and end the session, session
//! close sends no GoAway.
//!
//! Differences from the Go implementation, all invisible on the wire: a [`MuxStream`] can
//! half-close (`poll_shutdown` sends FIN and the stream keeps reading until the peer's FIN);
//! a write that makes no progress on the connection for `write_timeout` ends the session
//! (Go fails the individual stream write instead); the session is closed gracefully (pending
//! frames flushed) once every [`Session`] handle and every [`MuxStream`] has been dropped; no
//! window update is sent after the peer's FIN (nothing more can arrive); a peer that keeps
//! provoking control frames (RSTs, ping replies) while not reading is disconnected once 4 MiB
//! of them are queued (Go stops reading instead).

mod frame;
mod reader;
mod session;
mod shared;
mod stream;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_capture;
#[cfg(test)]
mod tests_load;
#[cfg(test)]
mod tests_raw;

use std::time::Duration;

pub use frame::{
    FrameError, FrameType, Header, FLAG_ACK, FLAG_FIN, FLAG_RST, FLAG_SYN, GOAWAY_INTERNAL_ERR,
    GOAWAY_NORMAL, GOAWAY_PROTO_ERR, HEADER_LEN, PROTO_VERSION,
};
pub use session::Session;
pub use stream::MuxStream;

/// Every stream starts with this window in both directions (yamux `initialStreamWindow`).
pub const INITIAL_STREAM_WINDOW: u32 = 256 * 1024;
/// frp's `MaxStreamWindowSize` (6 MiB).
pub const DEFAULT_MAX_STREAM_WINDOW: u32 = 6 * 1024 * 1024;
/// The session is closed when an opened stream is not ACKed within this time.
pub const STREAM_OPEN_TIMEOUT: Duration = Duration::from_secs(75);
/// A stream we closed is reset and forgotten when the peer does not close within this time.
pub const STREAM_CLOSE_TIMEOUT: Duration = Duration::from_secs(300);

/// Session settings. `Default` is what frp uses on both sides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MuxConfig {
    /// Ping interval (`transport.tcpMuxKeepaliveInterval`); `None` disables keepalive.
    pub keepalive_interval: Option<Duration>,
    /// `MaxStreamWindowSize`; values below 256 KiB are raised to 256 KiB.
    pub max_stream_window: u32,
    /// Accept backlog and cap on un-ACKed outgoing opens; 0 is raised to 1.
    pub accept_backlog: usize,
    /// `ConnectionWriteTimeout`: ping-reply timeout and connection write stall limit.
    pub write_timeout: Duration,
}

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            keepalive_interval: Some(Duration::from_secs(30)),
            max_stream_window: DEFAULT_MAX_STREAM_WINDOW,
            accept_backlog: 256,
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// Which end of the session we are: the client (frpc) opens odd stream ids, the server even.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// yamux client: stream ids 1, 3, 5, …
    Client,
    /// yamux server: stream ids 2, 4, 6, …
    Server,
}
