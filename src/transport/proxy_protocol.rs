//! PROXY protocol v1/v2 header encoding, byte-compatible with go-proxyproto v0.7.0 as used by
//! frp's `BuildProxyProtocolHeaderStruct` (spec §8.5, vectors §12.9).
//!
//! Family rules (from `HeaderProxyFromAddrs` and `Header.Format`):
//! - the family is chosen from the **source** address; an IPv4-mapped IPv6 source counts as
//!   IPv4 (Go's `To4()` succeeds on it);
//! - IPv4 family + a destination that is a real IPv6 address cannot be encoded (error);
//! - IPv6 family + IPv4 destination: the destination is written as an IPv4-mapped IPv6 address
//!   (v2) and as dotted IPv4 text (v1, Go prints mapped addresses that way);
//! - v1 cannot express UDP: `PROXY UNKNOWN\r\n` whatever the addresses.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

/// The v2 signature.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];

/// `transport.proxyProtocolVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V1,
    V2,
}

impl Version {
    /// The configuration spelling (`"v1"` / `"v2"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        }
    }
}

impl FromStr for Version {
    type Err = ProxyProtocolError;

    /// Accepts exactly `"v1"` or `"v2"` (the empty string means "off" and is the caller's
    /// business).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Version::V1),
            "v2" => Ok(Version::V2),
            other => Err(ProxyProtocolError::UnknownVersion(other.to_string())),
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyProtocolError {
    /// go-proxyproto's `ErrInvalidAddress`: IPv4 source with an IPv6 destination.
    #[error("proxy protocol: cannot encode IPv4 source {src} with IPv6 destination {dst}")]
    InvalidAddress { src: SocketAddr, dst: SocketAddr },
    #[error("unsupported proxy protocol version {0:?}, expected \"v1\" or \"v2\"")]
    UnknownVersion(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    Tcp,
    Udp,
}

/// Header for a TCP connection from `src` (the user) to `dst` (the frps-side address).
pub fn tcp_header(
    version: Version,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<Vec<u8>, ProxyProtocolError> {
    header(version, Transport::Tcp, src, dst)
}

/// Header for a UDP datagram from `src` (the user) to `dst` (the local service).
pub fn udp_header(
    version: Version,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<Vec<u8>, ProxyProtocolError> {
    header(version, Transport::Udp, src, dst)
}

/// The IPv4 view of an address, like Go's `IP.To4()` (IPv4 or IPv4-mapped IPv6).
fn to4(ip: IpAddr) -> Option<Ipv4Addr> {
    match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// The 16-byte view of an address, like Go's `IP.To16()`.
fn to16(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Go's `net.IP.String()` for a 16-byte address: IPv4-mapped addresses print dotted.
fn go_ip6_string(ip: Ipv6Addr, out: &mut String) {
    match ip.to_ipv4_mapped() {
        Some(v4) => write!(out, "{v4}"),
        None => write!(out, "{ip}"),
    }
    .expect("writing to a String cannot fail");
}

fn header(
    version: Version,
    transport: Transport,
    src: SocketAddr,
    dst: SocketAddr,
) -> Result<Vec<u8>, ProxyProtocolError> {
    let v4_family = to4(src.ip()).is_some();
    if version == Version::V1 && transport == Transport::Udp {
        return Ok(b"PROXY UNKNOWN\r\n".to_vec());
    }
    let invalid = || ProxyProtocolError::InvalidAddress { src, dst };
    match version {
        Version::V1 => {
            let mut s = String::with_capacity(108);
            if v4_family {
                let (sip, dip) = (
                    to4(src.ip()).ok_or_else(invalid)?,
                    to4(dst.ip()).ok_or_else(invalid)?,
                );
                write!(s, "PROXY TCP4 {sip} {dip}").expect("String write");
            } else {
                s.push_str("PROXY TCP6 ");
                go_ip6_string(to16(src.ip()), &mut s);
                s.push(' ');
                go_ip6_string(to16(dst.ip()), &mut s);
            }
            write!(s, " {} {}\r\n", src.port(), dst.port()).expect("String write");
            Ok(s.into_bytes())
        }
        Version::V2 => {
            let family = match (v4_family, transport) {
                (true, Transport::Tcp) => 0x11,
                (true, Transport::Udp) => 0x12,
                (false, Transport::Tcp) => 0x21,
                (false, Transport::Udp) => 0x22,
            };
            let addr_len: u16 = if v4_family { 12 } else { 36 };
            let mut out = Vec::with_capacity(16 + usize::from(addr_len));
            out.extend_from_slice(&V2_SIGNATURE);
            out.push(0x21); // version 2, command PROXY
            out.push(family);
            out.extend_from_slice(&addr_len.to_be_bytes());
            if v4_family {
                let sip = to4(src.ip()).ok_or_else(invalid)?;
                let dip = to4(dst.ip()).ok_or_else(invalid)?;
                out.extend_from_slice(&sip.octets());
                out.extend_from_slice(&dip.octets());
            } else {
                out.extend_from_slice(&to16(src.ip()).octets());
                out.extend_from_slice(&to16(dst.ip()).octets());
            }
            out.extend_from_slice(&src.port().to_be_bytes());
            out.extend_from_slice(&dst.port().to_be_bytes());
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn vectors_12_9() {
        let src = sa("1.2.3.4:5678");
        let v1 = tcp_header(Version::V1, src, sa("10.0.0.1:6000")).unwrap();
        assert_eq!(v1, b"PROXY TCP4 1.2.3.4 10.0.0.1 5678 6000\r\n");
        assert_eq!(
            hex(&v1),
            "50524f5859205443503420312e322e332e342031302e302e302e31203536373820363030300d0a"
        );
        assert_eq!(
            hex(&tcp_header(Version::V2, src, sa("10.0.0.1:6000")).unwrap()),
            "0d0a0d0a000d0a515549540a2111000c010203040a000001162e1770"
        );
        assert_eq!(
            hex(&udp_header(Version::V2, src, sa("127.0.0.1:53")).unwrap()),
            "0d0a0d0a000d0a515549540a2112000c010203047f000001162e0035"
        );
        assert_eq!(
            hex(&udp_header(Version::V1, src, sa("127.0.0.1:53")).unwrap()),
            "50524f585920554e4b4e4f574e0d0a"
        );
        assert_eq!(
            udp_header(Version::V1, sa("[::1]:1"), sa("127.0.0.1:53")).unwrap(),
            b"PROXY UNKNOWN\r\n"
        );
    }

    #[test]
    fn family_rules() {
        // IPv4 source, IPv6 destination: error for v1 and v2, TCP and UDP (v2).
        let err = tcp_header(Version::V1, sa("1.2.3.4:1"), sa("[2001:db8::1]:2")).unwrap_err();
        assert!(matches!(err, ProxyProtocolError::InvalidAddress { .. }));
        assert!(tcp_header(Version::V2, sa("1.2.3.4:1"), sa("[2001:db8::1]:2")).is_err());
        assert!(udp_header(Version::V2, sa("1.2.3.4:1"), sa("[2001:db8::1]:2")).is_err());
        // ...but an IPv4-mapped IPv6 destination is fine.
        assert_eq!(
            tcp_header(Version::V1, sa("1.2.3.4:1"), sa("[::ffff:10.0.0.1]:2")).unwrap(),
            b"PROXY TCP4 1.2.3.4 10.0.0.1 1 2\r\n"
        );

        // IPv6 source, IPv4 destination.
        assert_eq!(
            tcp_header(Version::V1, sa("[2001:db8::1]:5678"), sa("10.0.0.1:6000")).unwrap(),
            b"PROXY TCP6 2001:db8::1 10.0.0.1 5678 6000\r\n"
        );
        let v2 = tcp_header(Version::V2, sa("[2001:db8::1]:5678"), sa("10.0.0.1:6000")).unwrap();
        assert_eq!(
            hex(&v2),
            "0d0a0d0a000d0a515549540a21210024\
             20010db8000000000000000000000001\
             00000000000000000000ffff0a000001\
             162e1770"
        );
        let v2 = udp_header(Version::V2, sa("[2001:db8::1]:5678"), sa("[::1]:53")).unwrap();
        assert_eq!(&v2[12..16], &[0x21, 0x22, 0x00, 0x24]);
        assert_eq!(v2.len(), 16 + 36);

        // IPv4-mapped IPv6 source is encoded as TCP4 (Go's To4 succeeds).
        assert_eq!(
            tcp_header(
                Version::V1,
                sa("[::ffff:1.2.3.4]:5678"),
                sa("10.0.0.1:6000")
            )
            .unwrap(),
            b"PROXY TCP4 1.2.3.4 10.0.0.1 5678 6000\r\n"
        );
        assert_eq!(
            hex(&tcp_header(
                Version::V2,
                sa("[::ffff:1.2.3.4]:5678"),
                sa("10.0.0.1:6000")
            )
            .unwrap()),
            "0d0a0d0a000d0a515549540a2111000c010203040a000001162e1770"
        );
        // Canonical IPv6 text (RFC 5952, like Go).
        assert_eq!(
            tcp_header(Version::V1, sa("[2001:db8:0:0:1:0:0:1]:1"), sa("[::1]:2")).unwrap(),
            b"PROXY TCP6 2001:db8::1:0:0:1 ::1 1 2\r\n"
        );
    }

    #[test]
    fn version_parse() {
        assert_eq!("v1".parse::<Version>().unwrap(), Version::V1);
        assert_eq!("v2".parse::<Version>().unwrap(), Version::V2);
        assert!("V1".parse::<Version>().is_err());
        assert!("".parse::<Version>().is_err());
        assert!("v3".parse::<Version>().is_err());
        assert_eq!(Version::V2.to_string(), "v2");
    }
}
