//! STUN (RFC 5389) Binding Requests as frp's NAT discovery uses them (protocol.md §10.8 step 2),
//! and a small responder for tests.
//!
//! Only what discovery needs: a Binding Request without attributes, and in the response the
//! mapped address (XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS) and the server's alternate address
//! (OTHER-ADDRESS, RFC 5780, else the older CHANGED-ADDRESS of RFC 3489). Unknown attributes are
//! skipped; every length is checked against the datagram, so hostile input yields an error,
//! never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// The fixed cookie of RFC 5389 messages.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Message type of a Binding Request.
pub const BINDING_REQUEST: u16 = 0x0001;
/// Message type of a Binding Success Response.
pub const BINDING_SUCCESS: u16 = 0x0101;
/// Message type of a Binding Error Response.
pub const BINDING_ERROR: u16 = 0x0111;

const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_CHANGED_ADDRESS: u16 = 0x0005;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;
const ATTR_OTHER_ADDRESS: u16 = 0x802C;

const HEADER_LEN: usize = 20;
/// How long discovery waits for each response (frp: 3 s).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest datagram read during discovery.
const MAX_DATAGRAM: usize = 1500;

/// A 96-bit STUN transaction id.
pub type TransactionId = [u8; 12];

/// Why a datagram is not a usable Binding Response.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StunError {
    #[error("stun message too short ({0} bytes)")]
    TooShort(usize),
    #[error("not a stun message (bad first bits or magic cookie)")]
    NotStun,
    #[error("stun message length {declared} does not match the datagram ({actual} bytes)")]
    BadLength { declared: usize, actual: usize },
    #[error("stun message type {0:#06x} is not a binding success response")]
    NotSuccess(u16),
    #[error("stun transaction id does not match the request")]
    WrongTransaction,
    #[error("malformed stun attribute {0:#06x}")]
    BadAttribute(u16),
}

/// What a Binding Success Response told us.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindingResponse {
    pub xor_mapped: Option<SocketAddr>,
    pub mapped: Option<SocketAddr>,
    pub other: Option<SocketAddr>,
    pub changed: Option<SocketAddr>,
}

impl BindingResponse {
    /// Our address as the server saw it: XOR-MAPPED-ADDRESS, else MAPPED-ADDRESS.
    pub fn external(&self) -> Option<SocketAddr> {
        self.xor_mapped.or(self.mapped)
    }

    /// The server's alternate address: OTHER-ADDRESS, else CHANGED-ADDRESS.
    pub fn alternate(&self) -> Option<SocketAddr> {
        self.other.or(self.changed)
    }
}

/// A fresh random transaction id.
pub fn new_transaction_id() -> TransactionId {
    rand::random()
}

/// A Binding Request without attributes (20 bytes).
pub fn binding_request(tid: &TransactionId) -> [u8; HEADER_LEN] {
    header(BINDING_REQUEST, 0, tid)
}

fn header(msg_type: u16, len: u16, tid: &TransactionId) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..2].copy_from_slice(&msg_type.to_be_bytes());
    h[2..4].copy_from_slice(&len.to_be_bytes());
    h[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    h[8..20].copy_from_slice(tid);
    h
}

/// Checks the header; returns message type, transaction id and the attribute bytes.
fn parse_header(buf: &[u8]) -> Result<(u16, TransactionId, &[u8]), StunError> {
    if buf.len() < HEADER_LEN {
        return Err(StunError::TooShort(buf.len()));
    }
    let msg_type = u16::from_be_bytes([buf[0], buf[1]]);
    let len = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    let cookie = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if msg_type & 0xC000 != 0 || cookie != MAGIC_COOKIE {
        return Err(StunError::NotStun);
    }
    if len % 4 != 0 || HEADER_LEN + len > buf.len() {
        return Err(StunError::BadLength {
            declared: len,
            actual: buf.len(),
        });
    }
    let mut tid = [0u8; 12];
    tid.copy_from_slice(&buf[8..20]);
    Ok((msg_type, tid, &buf[HEADER_LEN..HEADER_LEN + len]))
}

/// The transaction id of a Binding Request, or `None` for anything else.
pub fn parse_binding_request(buf: &[u8]) -> Option<TransactionId> {
    match parse_header(buf) {
        Ok((BINDING_REQUEST, tid, _)) => Some(tid),
        _ => None,
    }
}

/// Parses a Binding Success Response to the request `tid`.
pub fn parse_binding_response(
    buf: &[u8],
    tid: &TransactionId,
) -> Result<BindingResponse, StunError> {
    let (msg_type, got_tid, mut attrs) = parse_header(buf)?;
    if msg_type != BINDING_SUCCESS {
        return Err(StunError::NotSuccess(msg_type));
    }
    if &got_tid != tid {
        return Err(StunError::WrongTransaction);
    }
    let mut resp = BindingResponse::default();
    while attrs.len() >= 4 {
        let t = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let padded = len.div_ceil(4) * 4;
        if 4 + padded > attrs.len() {
            return Err(StunError::BadAttribute(t));
        }
        let value = &attrs[4..4 + len];
        // The first occurrence of an attribute counts (RFC 5389 §15).
        match t {
            ATTR_XOR_MAPPED_ADDRESS if resp.xor_mapped.is_none() => {
                resp.xor_mapped =
                    Some(decode_address(value, Some(&got_tid)).ok_or(StunError::BadAttribute(t))?);
            }
            ATTR_MAPPED_ADDRESS if resp.mapped.is_none() => {
                resp.mapped = Some(decode_address(value, None).ok_or(StunError::BadAttribute(t))?);
            }
            ATTR_OTHER_ADDRESS if resp.other.is_none() => {
                resp.other = Some(decode_address(value, None).ok_or(StunError::BadAttribute(t))?);
            }
            ATTR_CHANGED_ADDRESS if resp.changed.is_none() => {
                resp.changed = Some(decode_address(value, None).ok_or(StunError::BadAttribute(t))?);
            }
            _ => {}
        }
        attrs = &attrs[4 + padded..];
    }
    Ok(resp)
}

/// Decodes a (XOR-)MAPPED-ADDRESS style value; `xor` holds the transaction id for the XOR form.
fn decode_address(v: &[u8], xor: Option<&TransactionId>) -> Option<SocketAddr> {
    if v.len() < 4 {
        return None;
    }
    let family = v[1];
    let mut port = u16::from_be_bytes([v[2], v[3]]);
    let cookie = MAGIC_COOKIE.to_be_bytes();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let ip = match (family, v.len()) {
        (0x01, 8) => {
            let mut o = [v[4], v[5], v[6], v[7]];
            if xor.is_some() {
                for (b, c) in o.iter_mut().zip(cookie) {
                    *b ^= c;
                }
            }
            IpAddr::V4(Ipv4Addr::from(o))
        }
        (0x02, 20) => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&v[4..20]);
            if let Some(tid) = xor {
                let mask = cookie.iter().chain(tid.iter());
                for (b, m) in o.iter_mut().zip(mask) {
                    *b ^= m;
                }
            }
            IpAddr::V6(Ipv6Addr::from(o))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn encode_address(out: &mut Vec<u8>, attr: u16, addr: SocketAddr, xor: Option<&TransactionId>) {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let mut port = addr.port();
    if xor.is_some() {
        port ^= (MAGIC_COOKIE >> 16) as u16;
    }
    let (family, mut ip): (u8, Vec<u8>) = match addr.ip() {
        IpAddr::V4(ip) => (0x01, ip.octets().to_vec()),
        IpAddr::V6(ip) => (0x02, ip.octets().to_vec()),
    };
    if let Some(tid) = xor {
        let mask = cookie.iter().chain(tid.iter());
        for (b, m) in ip.iter_mut().zip(mask) {
            *b ^= m;
        }
    }
    let len = 4 + ip.len() as u16;
    out.extend_from_slice(&attr.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, family]);
    out.extend_from_slice(&port.to_be_bytes());
    out.extend_from_slice(&ip);
}

/// A Binding Success Response carrying XOR-MAPPED-ADDRESS (and MAPPED-ADDRESS, for old
/// clients) for `mapped`, and OTHER-ADDRESS when `other` is given.
pub fn binding_response(
    tid: &TransactionId,
    mapped: SocketAddr,
    other: Option<SocketAddr>,
) -> Vec<u8> {
    let mut attrs = Vec::with_capacity(64);
    encode_address(&mut attrs, ATTR_XOR_MAPPED_ADDRESS, mapped, Some(tid));
    encode_address(&mut attrs, ATTR_MAPPED_ADDRESS, mapped, None);
    if let Some(other) = other {
        encode_address(&mut attrs, ATTR_OTHER_ADDRESS, other, None);
    }
    let mut out = header(BINDING_SUCCESS, attrs.len() as u16, tid).to_vec();
    out.extend_from_slice(&attrs);
    out
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("resolve stun server {0}: {1}")]
    Resolve(String, String),
    #[error("udp socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("wait response from stun server timeout")]
    Timeout,
    #[error("no external address found")]
    NoExternalAddress,
    #[error("discover error: not enough addresses")]
    NotEnoughAddresses,
}

/// Result of [`discover`]: the mapped addresses (`ip:port`) and the socket they belong to.
pub struct Discovery {
    pub mapped_addrs: Vec<String>,
    /// The socket the requests went out from: punching uses this very socket, so the NAT
    /// mapping it opened is the one announced. (frp closes it and binds a new socket to the
    /// same port; from the NAT's side that is the same flow, and keeping it open leaves no
    /// moment in which another process could take the port.)
    pub socket: UdpSocket,
}

/// Resolves `host:port` to an IPv4 address (frp discovers over `udp4`).
pub async fn resolve_v4(addr: &str) -> Result<SocketAddr, DiscoverError> {
    let addrs = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| DiscoverError::Resolve(addr.to_string(), e.to_string()))?;
    addrs
        .into_iter()
        .find(SocketAddr::is_ipv4)
        .ok_or_else(|| DiscoverError::Resolve(addr.to_string(), "no IPv4 address".into()))
}

/// One Binding Request to `server` from `socket`; waits [`RESPONSE_TIMEOUT`] for the matching
/// response (other datagrams are skipped).
pub async fn request(
    socket: &UdpSocket,
    server: SocketAddr,
) -> Result<BindingResponse, DiscoverError> {
    let tid = new_transaction_id();
    socket.send_to(&binding_request(&tid), server).await?;
    let deadline = tokio::time::Instant::now() + RESPONSE_TIMEOUT;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, _from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| DiscoverError::Timeout)??;
        match parse_binding_response(&buf[..n], &tid) {
            Ok(resp) => return Ok(resp),
            Err(e) => tracing::debug!("ignoring datagram during stun discovery: {e}"),
        }
    }
}

/// frp's discovery (§10.8 step 2): a Binding Request to `stun_server` from a fresh UDP4
/// socket, and a second one to the alternate address it names; at least two mapped addresses
/// or an error.
impl Discovery {
    /// The assisted addresses to announce for this socket's port: none when the config's
    /// `natTraversal.disableAssistedAddrs` is set.
    pub fn assisted_addrs(&self, nat: Option<&crate::config::proxy::NatTraversal>) -> Vec<String> {
        if nat.is_some_and(|n| n.disable_assisted_addrs) {
            return Vec::new();
        }
        let port = self.socket.local_addr().map(|a| a.port()).unwrap_or(0);
        assisted_addrs(port)
    }
}

pub async fn discover(stun_server: &str) -> Result<Discovery, DiscoverError> {
    let server = resolve_v4(stun_server).await?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
    let mut mapped_addrs = Vec::with_capacity(2);
    let first = request(&socket, server).await?;
    let external = first.external().ok_or(DiscoverError::NoExternalAddress)?;
    mapped_addrs.push(external.to_string());
    if let Some(alt) = first.alternate() {
        let second = request(&socket, alt).await?;
        if let Some(external) = second.external() {
            mapped_addrs.push(external.to_string());
        }
    }
    if mapped_addrs.len() < 2 {
        return Err(DiscoverError::NotEnoughAddresses);
    }
    Ok(Discovery {
        mapped_addrs,
        socket,
    })
}

/// Up to `max` local IPv4 addresses usable as assisted addresses: not loopback, not
/// link-local, not unspecified.
pub fn local_ipv4_for_nathole(max: usize) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for ip in super::ifaddrs::ipv4_addrs() {
        if out.len() >= max {
            break;
        }
        if ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_multicast() {
            continue;
        }
        out.push(ip);
    }
    out
}

/// The assisted addresses (`ip:port`) for a socket bound to `port`: at most 10.
pub fn assisted_addrs(port: u16) -> Vec<String> {
    local_ipv4_for_nathole(10)
        .into_iter()
        .map(|ip| SocketAddr::new(IpAddr::V4(ip), port).to_string())
        .collect()
}

/// A STUN responder for tests: answers Binding Requests on two sockets, each naming the other
/// as OTHER-ADDRESS (like an RFC 5780 server with two addresses). Runs until dropped.
pub struct StunResponder {
    pub primary: SocketAddr,
    pub alternate: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl StunResponder {
    /// Binds `primary` and `alternate` and starts answering (inside a tokio runtime).
    pub async fn start(primary: SocketAddr, alternate: SocketAddr) -> std::io::Result<Self> {
        let a = std::sync::Arc::new(UdpSocket::bind(primary).await?);
        let b = std::sync::Arc::new(UdpSocket::bind(alternate).await?);
        let (pa, pb) = (a.local_addr()?, b.local_addr()?);
        let tasks = vec![
            tokio::spawn(answer(a, Some(pb))),
            tokio::spawn(answer(b, Some(pa))),
        ];
        Ok(StunResponder {
            primary: pa,
            alternate: pb,
            tasks,
        })
    }
}

impl Drop for StunResponder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn answer(socket: std::sync::Arc<UdpSocket>, other: Option<SocketAddr>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if let Some(tid) = parse_binding_request(&buf[..n]) {
            let _ = socket
                .send_to(&binding_response(&tid, from, other), from)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let tid = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let r = binding_request(&tid);
        assert_eq!(hex::encode(r), "000100002112a4420102030405060708090a0b0c");
        assert_eq!(parse_binding_request(&r), Some(tid));
    }

    #[test]
    fn rfc5769_ipv4_response() {
        // RFC 5769 §2.2 sample IPv4 response (XOR-MAPPED-ADDRESS 192.0.2.1:32853), with its
        // SOFTWARE, MESSAGE-INTEGRITY and FINGERPRINT attributes (ignored here).
        let msg = hex::decode(concat!(
            "0101003c2112a442b7e7a701bc34d686fa87dfae",
            "8022000b",
            "7465737420766563746f7220",
            "00200008",
            "0001a147e112a643",
            "00080014",
            "2b91f599fd9e90c38c7489f92af9ba53f06be7d7",
            "80280004",
            "c07d4c96"
        ))
        .unwrap();
        let tid: TransactionId = msg[8..20].try_into().unwrap();
        let r = parse_binding_response(&msg, &tid).unwrap();
        assert_eq!(r.external(), Some("192.0.2.1:32853".parse().unwrap()));
        assert_eq!(r.alternate(), None);
        assert_eq!(
            parse_binding_response(&msg, &[0; 12]),
            Err(StunError::WrongTransaction)
        );
    }

    #[test]
    fn rfc5769_ipv6_response() {
        let msg = hex::decode(concat!(
            "010100482112a442b7e7a701bc34d686fa87dfae",
            "8022000b",
            "7465737420766563746f7220",
            "00200014",
            "0002a1470113a9faa5d3f179bc25f4b5bed2b9d9",
            "00080014",
            "a382954e4be67bf11784c97c8292c275bfe3ed41",
            "80280004",
            "c8fb0b4c"
        ))
        .unwrap();
        let tid: TransactionId = msg[8..20].try_into().unwrap();
        let r = parse_binding_response(&msg, &tid).unwrap();
        assert_eq!(
            r.external(),
            Some(
                "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
                    .parse()
                    .unwrap()
            )
        );
    }

    #[test]
    fn roundtrip_with_other_address_and_fallbacks() {
        let tid = new_transaction_id();
        let mapped: SocketAddr = "203.0.113.7:40000".parse().unwrap();
        let other: SocketAddr = "198.18.0.2:3479".parse().unwrap();
        let msg = binding_response(&tid, mapped, Some(other));
        let r = parse_binding_response(&msg, &tid).unwrap();
        assert_eq!(r.xor_mapped, Some(mapped));
        assert_eq!(r.mapped, Some(mapped));
        assert_eq!(r.alternate(), Some(other));

        // MAPPED-ADDRESS and CHANGED-ADDRESS only (an RFC 3489 server).
        let mut attrs = Vec::new();
        encode_address(&mut attrs, ATTR_MAPPED_ADDRESS, mapped, None);
        encode_address(&mut attrs, 0x1234, other, None); // unknown: skipped
        encode_address(&mut attrs, ATTR_CHANGED_ADDRESS, other, None);
        let mut msg = header(BINDING_SUCCESS, attrs.len() as u16, &tid).to_vec();
        msg.extend_from_slice(&attrs);
        let r = parse_binding_response(&msg, &tid).unwrap();
        assert_eq!(r.external(), Some(mapped));
        assert_eq!(r.alternate(), Some(other));
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        let tid = new_transaction_id();
        let good = binding_response(&tid, "1.2.3.4:5".parse().unwrap(), None);
        for cut in 0..good.len() {
            let _ = parse_binding_response(&good[..cut], &tid);
        }
        // Attribute length past the end.
        let mut bad = header(BINDING_SUCCESS, 8, &tid).to_vec();
        bad.extend_from_slice(&[0x00, 0x20, 0xff, 0xff, 0, 1, 0, 0]);
        assert_eq!(
            parse_binding_response(&bad, &tid),
            Err(StunError::BadAttribute(0x20))
        );
        // Wrong address length for the family.
        let mut bad = header(BINDING_SUCCESS, 8, &tid).to_vec();
        bad.extend_from_slice(&[0x00, 0x01, 0x00, 0x04, 0, 2, 0, 0]);
        assert!(parse_binding_response(&bad, &tid).is_err());
        // Pseudo-random garbage.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let len = (x % 80) as usize;
            let mut g = header(BINDING_SUCCESS, (len / 4 * 4) as u16, &tid).to_vec();
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                g.push((x >> 16) as u8);
            }
            let _ = parse_binding_response(&g, &tid);
        }
        assert_eq!(parse_binding_request(b"hello world, not stun"), None);
    }

    #[tokio::test]
    async fn discovery_against_the_responder() {
        let stun = StunResponder::start(
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        let d = discover(&stun.primary.to_string()).await.unwrap();
        let local = d.socket.local_addr().unwrap();
        let want = format!("127.0.0.1:{}", local.port());
        assert_eq!(d.mapped_addrs, vec![want.clone(), want]);
    }

    #[tokio::test]
    async fn discovery_times_out_without_server() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap().to_string();
        let r = discover(&addr).await;
        assert!(matches!(r, Err(DiscoverError::Timeout)), "{:?}", r.err());
    }
}
