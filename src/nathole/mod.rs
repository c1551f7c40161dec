//! xtcp (P2P) building blocks (protocol.md §10.8): STUN discovery, NAT classification and the
//! punching plan frps chooses, the punching itself, and the QUIC tunnel over the punched socket.
//!
//! - [`stun`]: RFC 5389 Binding Requests, frp's two-request discovery, assisted addresses, and a
//!   small responder for tests.
//! - [`classify`]: EasyNAT / HardNAT and the mapping behaviour from the mapped addresses (frps).
//! - [`analysis`]: the scored table of punching behaviours and the NatHoleResp for each side
//!   (frps).
//! - [`controller`]: frps's sessions: NatHoleVisitor / NatHoleClient / NatHoleReport handling.
//! - [`punch`]: the encrypted NatHoleSid datagrams and the sender/receiver procedure (frpc).
//! - [`tunnel`]: QUIC over the punched socket; each user connection is one stream (frpc).

pub mod analysis;
pub mod classify;
pub mod controller;
mod ifaddrs;
pub mod punch;
pub mod stun;
pub mod tunnel;

/// A transaction id or sid as frp makes them: Unix seconds followed by 16 random hex digits.
pub fn new_transaction_id() -> String {
    format!("{}{}", crate::unix_now(), crate::rand_id())
}
