//! The UDPPacket message as udp and sudp use it (protocol.md §4.4, §10.2): a datagram travels
//! base64-encoded in `c`, the user's address in `r` is the key of the reply path.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use base64::Engine;

use super::codec::MAX_MSG_LEN;
use super::msg::{Message, UdpAddr, UdpPacket};

/// Room for the JSON around `c` (keys, the address object with an IPv6 text and zone).
const JSON_OVERHEAD: usize = 160;

/// Whether a datagram of `len` bytes fits into one message under the 10240-byte body limit
/// (about 7.5 KB). A larger one would make the peer drop the whole connection, so it is
/// dropped instead.
pub fn fits(len: usize) -> bool {
    len.div_ceil(3) * 4 + JSON_OVERHEAD <= MAX_MSG_LEN as usize
}

/// `UDPPacket{c: base64(data), r: addr}`.
pub fn packet(data: &[u8], addr: SocketAddr) -> Message {
    Message::UdpPacket(UdpPacket {
        c: base64::engine::general_purpose::STANDARD.encode(data),
        l: None,
        r: Some(udp_addr(addr)),
    })
}

/// The payload and the user address of a UDPPacket; an error names what is wrong.
pub fn decode(p: &UdpPacket) -> Result<(Vec<u8>, SocketAddr), String> {
    let data = base64::engine::general_purpose::STANDARD
        .decode(p.c.as_bytes())
        .map_err(|e| format!("invalid base64 content: {e}"))?;
    let r = p.r.as_ref().ok_or("no remote address")?;
    Ok((data, socket_addr(r)?))
}

/// Go's `net.UDPAddr` JSON: the IP as Go prints it (IPv4-mapped addresses dotted), the IPv6
/// scope as `Zone`.
pub fn udp_addr(a: SocketAddr) -> UdpAddr {
    let (ip, zone) = match a {
        SocketAddr::V4(v4) => (v4.ip().to_string(), String::new()),
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => (v4.to_string(), String::new()),
            None if v6.scope_id() != 0 => (v6.ip().to_string(), v6.scope_id().to_string()),
            None => (v6.ip().to_string(), String::new()),
        },
    };
    UdpAddr {
        ip,
        port: a.port(),
        zone,
    }
}

/// The reverse of [`udp_addr`]; a non-numeric zone (Go's interface names) is ignored.
pub fn socket_addr(a: &UdpAddr) -> Result<SocketAddr, String> {
    let ip: IpAddr =
        a.ip.parse()
            .map_err(|_| format!("invalid address IP '{}'", a.ip))?;
    Ok(match ip {
        IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(
            v6,
            a.port,
            0,
            a.zone.parse().unwrap_or(0),
        )),
        IpAddr::V4(_) => SocketAddr::new(ip, a.port),
    })
}

/// `addr` in the form a socket bound to `local` can send to: an IPv4 peer of a dual-stack
/// IPv6 socket is written IPv4-mapped.
pub fn for_socket(addr: SocketAddr, local: SocketAddr) -> SocketAddr {
    match (addr, local) {
        (SocketAddr::V4(v4), SocketAddr::V6(_)) => {
            SocketAddr::V6(SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0))
        }
        _ => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::codec::encode_frame;

    #[test]
    fn round_trip_and_go_shapes() {
        let user: SocketAddr = "127.0.0.1:60746".parse().unwrap();
        let m = packet(b"three", user);
        assert_eq!(
            std::str::from_utf8(&m.encode_body()).unwrap(),
            r#"{"c":"dGhyZWU=","r":{"IP":"127.0.0.1","Port":60746,"Zone":""}}"#
        );
        let Message::UdpPacket(p) = m else { panic!() };
        assert_eq!(decode(&p).unwrap(), (b"three".to_vec(), user));
        // IPv4-mapped peers of a dual-stack socket are shown dotted, as Go does.
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:5".parse().unwrap();
        assert_eq!(udp_addr(mapped).ip, "1.2.3.4");
        let back = socket_addr(&udp_addr(mapped)).unwrap();
        assert_eq!(for_socket(back, "[::]:1".parse().unwrap()), mapped);
        let v6: SocketAddr = "[fe80::1%3]:53".parse().unwrap();
        assert_eq!(socket_addr(&udp_addr(v6)).unwrap(), v6);
    }

    #[test]
    fn bad_packets_are_errors() {
        let p = UdpPacket {
            c: "not base64!".into(),
            ..Default::default()
        };
        assert!(decode(&p).is_err());
        let p = UdpPacket {
            c: "aGk=".into(),
            ..Default::default()
        };
        assert_eq!(decode(&p).unwrap_err(), "no remote address");
        let p = UdpPacket {
            c: "aGk=".into(),
            l: None,
            r: Some(UdpAddr {
                ip: "nonsense".into(),
                ..Default::default()
            }),
        };
        assert!(decode(&p).is_err());
    }

    #[test]
    fn fits_matches_the_frame_limit() {
        let user: SocketAddr = "[2001:db8::1234:5678:9abc:def0]:65535".parse().unwrap();
        let mut n = 1;
        while fits(n + 1) {
            n += 1;
        }
        assert!(n > 7000, "{n}");
        let frame = encode_frame(&packet(&vec![0u8; n], user));
        assert!(frame.len() - 9 <= MAX_MSG_LEN as usize);
    }
}
