//! Which connection a logical connection came by, so frps can tell whether a work or visitor
//! connection naming a client's run id really comes from that client.
//!
//! A run id is not a secret a client proves: it is sent in clear (without TLS), it was shown by
//! dashboards, and it lives for the whole session. So frps does not let it alone attach a
//! connection to a client: with tcpMux (frp's default, and what Go frpc does) a work or visitor
//! connection must be a stream of the same multiplexed connection that carried the client's
//! Login; without tcpMux, it must come from the same IP address as the control connection, or
//! carry a valid privilege key (which frpc sends when `auth.additionalScopes` has
//! `NewWorkConns`).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};

/// The physical connection a logical one arrived on.
#[derive(Clone, Copy, Debug)]
pub struct Origin {
    /// Unique per accepted TCP connection of this frps; the streams of one yamux session share it.
    link: u64,
    pub peer: SocketAddr,
    /// Whether logical connections are streams of a yamux session (tcpMux) or whole
    /// connections.
    muxed: bool,
}

impl Origin {
    /// A newly accepted physical connection from `peer`.
    pub fn accepted(peer: SocketAddr, muxed: bool) -> Origin {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Origin {
            link: NEXT.fetch_add(1, Ordering::Relaxed),
            peer,
            muxed,
        }
    }

    /// Whether this is a stream of a yamux session.
    pub fn muxed(&self) -> bool {
        self.muxed
    }

    /// Whether a connection from here may act for the client whose Login came from `control`
    /// without any other proof: the same yamux session, or (without tcpMux) the same IP.
    pub fn same_client_as(&self, control: &Origin) -> bool {
        if self.muxed || control.muxed {
            self.muxed && control.muxed && self.link == control.link
        } else {
            canonical(self.peer.ip()) == canonical(control.peer.ip())
        }
    }
}

/// An IPv4 address seen through an IPv4-mapped IPv6 socket is the same IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn muxed_streams_belong_to_their_session_only() {
        let ctl = Origin::accepted(addr("198.51.100.7:40000"), true);
        let stream = Origin { ..ctl };
        assert!(stream.same_client_as(&ctl));
        // Another session from the very same address is someone else.
        let other = Origin::accepted(addr("198.51.100.7:40000"), true);
        assert!(!other.same_client_as(&ctl));
    }

    #[test]
    fn without_mux_the_source_ip_decides() {
        let ctl = Origin::accepted(addr("198.51.100.7:40000"), false);
        assert!(Origin::accepted(addr("198.51.100.7:40001"), false).same_client_as(&ctl));
        assert!(Origin::accepted(addr("[::ffff:198.51.100.7]:40002"), false).same_client_as(&ctl));
        assert!(!Origin::accepted(addr("198.51.100.8:40001"), false).same_client_as(&ctl));
    }
}
