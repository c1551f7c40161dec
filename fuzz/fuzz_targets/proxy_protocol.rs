//! The PROXY protocol header frpc writes (v1 text, v2 binary) for any pair of addresses: an
//! error or a well-formed header, never a panic.
#![no_main]
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use frp::transport::proxy_protocol::{tcp_header, udp_header, Version};
use libfuzzer_sys::fuzz_target;

fn addr(b: &[u8]) -> SocketAddr {
    let port = u16::from_be_bytes([b[0], b[1]]);
    let ip = if b[2] & 1 == 0 {
        IpAddr::V4(Ipv4Addr::new(b[3], b[4], b[5], b[6]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[3..19]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    SocketAddr::new(ip, port)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 39 {
        return;
    }
    let (src, dst) = (addr(&data[..19]), addr(&data[19..38]));
    let version = if data[38] & 1 == 0 { Version::V1 } else { Version::V2 };
    for header in [tcp_header(version, src, dst), udp_header(version, src, dst)]
        .into_iter()
        .flatten()
    {
        match version {
            Version::V1 => {
                assert!(header.starts_with(b"PROXY ") && header.ends_with(b"\r\n"));
                assert!(header.len() <= 107, "v1 headers fit in 107 bytes");
                assert!(header.is_ascii());
            }
            Version::V2 => {
                assert!(header.starts_with(b"\r\n\r\n\0\r\nQUIT\n"));
                let len = u16::from_be_bytes([header[14], header[15]]) as usize;
                assert_eq!(header.len(), 16 + len);
            }
        }
    }
});
