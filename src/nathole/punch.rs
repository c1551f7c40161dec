//! Hole punching (protocol.md §10.8 step 7): encrypted NatHoleSid datagrams between the two
//! frpc, driven by the `detect_behavior` frps sent in NatHoleResp.
//!
//! Datagram = `IV(16) ‖ AES-128-CFB(derive_key(secretKey), IV)` of one framed NatHoleSid
//! message (§12.6), a fresh random IV per datagram.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::proto::codec::MAX_MSG_LEN;
use crate::proto::crypto::{derive_key, CfbDecryptor, CfbEncryptor, BLOCK};
use crate::proto::msg::{Message, NatHoleResp, NatHoleSid};

/// Role names in `detect_behavior.role`.
pub const ROLE_SENDER: &str = "sender";
pub const ROLE_RECEIVER: &str = "receiver";

/// Wait limit when `read_timeout` is 0.
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest datagram read while punching (frp reads 1024 bytes).
const MAX_DATAGRAM: usize = 1500;
/// Cap on what a NatHoleResp may ask for, so a hostile frps cannot make us send forever.
const MAX_RANGE_PROBES: usize = 65535;
const MAX_LISTEN_RANDOM_PORTS: usize = 256;
const MAX_SEND_RANDOM_PORTS: usize = 65535;

/// Why punching failed.
#[derive(Debug, thiserror::Error)]
pub enum PunchError {
    #[error("wait detect message timeout")]
    Timeout,
    #[error("udp socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Encrypts one framed NatHoleSid with the given IV.
pub fn encode_sid_with_iv(m: &NatHoleSid, key: &[u8; 16], iv: &[u8; 16]) -> Vec<u8> {
    let frame = crate::proto::codec::encode_frame(&Message::NatHoleSid(m.clone()));
    let mut out = Vec::with_capacity(BLOCK + frame.len());
    out.extend_from_slice(iv);
    let start = out.len();
    out.extend_from_slice(&frame);
    CfbEncryptor::new(key, iv).apply(&mut out[start..]);
    out
}

/// Encrypts one framed NatHoleSid with a fresh random IV.
pub fn encode_sid(m: &NatHoleSid, key: &[u8; 16]) -> Vec<u8> {
    encode_sid_with_iv(m, key, &rand::random())
}

/// Decrypts a punch datagram. Like frp's `ReadMsgInto`, any registered type byte is accepted and
/// its body read as a NatHoleSid; `None` for anything that does not decode.
pub fn decode_sid(datagram: &[u8], key: &[u8; 16]) -> Option<NatHoleSid> {
    if datagram.len() < BLOCK + 9 {
        return None;
    }
    let iv: [u8; 16] = datagram[..BLOCK].try_into().ok()?;
    let mut plain = datagram[BLOCK..].to_vec();
    CfbDecryptor::new(key, &iv).apply(&mut plain);
    if !Message::is_known_type(plain[0]) {
        return None;
    }
    let len = i64::from_be_bytes(plain[1..9].try_into().ok()?);
    if !(0..=MAX_MSG_LEN).contains(&len) {
        return None;
    }
    let body = plain.get(9..9 + len as usize)?;
    match Message::decode(b'5', body).ok()? {
        Message::NatHoleSid(m) => Some(m),
        _ => None,
    }
}

/// The probe a side sends: `response = false`, a nonce of 0–19 `'0'` characters (padding).
fn probe(sid: &str, transaction_id: &str) -> NatHoleSid {
    NatHoleSid {
        transaction_id: transaction_id.to_string(),
        sid: sid.to_string(),
        response: false,
        nonce: "0".repeat(rand::random::<usize>() % 20),
    }
}

/// `ip:port` strings to IPv4 socket addresses (frp resolves with `udp4`); others are skipped.
fn parse_v4(addr: &str) -> Option<SocketAddr> {
    addr.parse::<SocketAddr>().ok().filter(SocketAddr::is_ipv4)
}

/// Drops consecutive duplicates (Go's `slices.Compact`).
fn compact<T: PartialEq>(mut v: Vec<T>) -> Vec<T> {
    v.dedup();
    v
}

/// The IPs of `ip:port` strings, consecutive duplicates removed.
fn candidate_ips(addrs: &[String]) -> Vec<IpAddr> {
    compact(
        addrs
            .iter()
            .filter_map(|a| parse_v4(a))
            .map(|a| a.ip())
            .collect(),
    )
}

struct Probe<'a> {
    sid: &'a str,
    transaction_id: &'a str,
    key: &'a [u8; 16],
    ttl: u32,
}

impl Probe<'_> {
    /// One probe to `to`; with a TTL the socket's TTL is lowered for this datagram only.
    async fn send(&self, socket: &UdpSocket, to: SocketAddr) {
        let buf = encode_sid(&probe(self.sid, self.transaction_id), self.key);
        let original = if self.ttl > 0 {
            match socket.ttl() {
                Ok(orig) => socket.set_ttl(self.ttl).ok().map(|_| orig),
                Err(e) => {
                    tracing::trace!("get ttl error {e}");
                    return;
                }
            }
        } else {
            None
        };
        if let Err(e) = socket.send_to(&buf, to).await {
            tracing::trace!(
                "send sid message from {:?} to {to} error: {e}",
                socket.local_addr()
            );
        }
        if let Some(orig) = original {
            let _ = socket.set_ttl(orig);
        }
    }
}

/// Punches with `socket` (the one STUN discovery used) following `resp` and the proxy's
/// `secret_key`. Returns the socket whose probe exchange completed and the peer's address.
pub async fn make_hole(
    socket: UdpSocket,
    resp: &NatHoleResp,
    secret_key: &str,
) -> Result<(UdpSocket, SocketAddr), PunchError> {
    let key = derive_key(secret_key.as_bytes());
    let b = &resp.detect_behavior;
    let transaction_id = super::new_transaction_id();
    let probe = Probe {
        sid: &resp.sid,
        transaction_id: &transaction_id,
        key: &key,
        ttl: u32::try_from(b.ttl).unwrap_or(0).min(255),
    };
    let is_sender = b.role == ROLE_SENDER;

    let mut sockets = vec![Arc::new(socket)];
    let mut detect: Vec<String> = Vec::new();
    if is_sender {
        if b.send_delay_ms > 0 {
            let ms = u64::try_from(b.send_delay_ms).unwrap_or(0).min(60_000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        detect.extend(resp.assisted_addrs.iter().cloned());
        detect.extend(resp.candidate_addrs.iter().cloned());
    } else {
        if b.candidate_ports.is_empty() {
            detect.extend(resp.candidate_addrs.iter().cloned());
        }
        let extra = usize::try_from(b.listen_random_ports)
            .unwrap_or(0)
            .min(MAX_LISTEN_RANDOM_PORTS);
        for _ in 0..extra {
            match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await {
                Ok(s) => sockets.push(Arc::new(s)),
                Err(e) => tracing::warn!("listen random udp addr error: {e}"),
            }
        }
    }

    for addr in compact(detect) {
        let Some(to) = parse_v4(&addr) else { continue };
        for s in &sockets {
            probe.send(s, to).await;
        }
    }
    if !b.candidate_ports.is_empty() {
        let ips = candidate_ips(&resp.candidate_addrs);
        let mut sent = 0usize;
        for s in &sockets {
            for ip in &ips {
                for range in &b.candidate_ports {
                    for port in range.from.max(1)..=range.to.min(65535) {
                        if sent >= MAX_RANGE_PROBES {
                            break;
                        }
                        sent += 1;
                        // In 1..=65535 by the loop bounds.
                        let port = u16::try_from(port).unwrap_or(0);
                        probe.send(s, SocketAddr::new(*ip, port)).await;
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
            }
        }
    }

    let timeout = match u64::try_from(b.read_timeout) {
        Ok(ms) if ms > 0 => Duration::from_millis(ms.min(600_000)),
        _ => DEFAULT_READ_TIMEOUT,
    };
    let deadline = tokio::time::Instant::now() + timeout;

    let mut random_senders = Vec::new();
    let random = usize::try_from(b.send_random_ports)
        .unwrap_or(0)
        .min(MAX_SEND_RANDOM_PORTS);
    if random > 0 {
        let ips = candidate_ips(&resp.candidate_addrs);
        for s in &sockets {
            let (s, ips) = (s.clone(), ips.clone());
            let (sid, tid) = (resp.sid.clone(), transaction_id.clone());
            let ttl = probe.ttl;
            random_senders.push(tokio::spawn(async move {
                let probe = Probe {
                    sid: &sid,
                    transaction_id: &tid,
                    key: &key,
                    ttl,
                };
                send_random_ports(&s, &ips, random, &probe).await;
            }));
        }
    }

    let mut waits = tokio::task::JoinSet::new();
    for s in sockets {
        let (sid, role_sender) = (resp.sid.clone(), is_sender);
        waits.spawn(async move {
            let r = wait_detect(&s, &sid, &key, deadline, role_sender).await;
            (s, r)
        });
    }
    let mut result = Err(PunchError::Timeout);
    while let Some(done) = waits.join_next().await {
        let Ok((s, r)) = done else { continue };
        match r {
            Ok(peer) => {
                waits.abort_all();
                // The other tasks are gone, so this is the last handle to the socket.
                result = Arc::try_unwrap(s)
                    .map(|s| (s, peer))
                    .map_err(|_| PunchError::Io(std::io::Error::other("socket still shared")));
                break;
            }
            Err(e) => {
                if matches!(result, Err(PunchError::Timeout)) && !matches!(e, PunchError::Timeout) {
                    tracing::debug!("wait detect message error: {e}");
                }
            }
        }
    }
    for t in random_senders {
        t.abort();
        let _ = t.await;
    }
    result
}

async fn send_random_ports(socket: &UdpSocket, ips: &[IpAddr], count: usize, probe: &Probe<'_>) {
    let mut used = std::collections::HashSet::new();
    for _ in 0..count {
        let mut port = 0u16;
        for _ in 0..10 {
            let p = 1024 + (rand::random::<u16>() % (65535 - 1024));
            if used.insert(p) {
                port = p;
                break;
            }
        }
        if port == 0 {
            continue;
        }
        for ip in ips {
            probe.send(socket, SocketAddr::new(*ip, port)).await;
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

/// Waits for a datagram with our sid until `deadline`. A sender accepts only responses; a
/// receiver answers a probe with the same message flipped to `response = true`.
async fn wait_detect(
    socket: &UdpSocket,
    sid: &str,
    key: &[u8; 16],
    deadline: tokio::time::Instant,
    sender: bool,
) -> Result<SocketAddr, PunchError> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
            .await
            .map_err(|_| PunchError::Timeout)??;
        tracing::debug!(
            "get udp message local {:?}, from {from}",
            socket.local_addr()
        );
        let Some(mut m) = decode_sid(&buf[..n], key) else {
            tracing::debug!("decode sid message from {from} failed");
            continue;
        };
        if m.sid != sid {
            tracing::debug!("get sid message with wrong sid: {}, expect: {sid}", m.sid);
            continue;
        }
        if !m.response {
            if sender {
                continue;
            }
            m.response = true;
            let _ = socket.send_to(&encode_sid(&m, key), from).await;
        }
        return Ok(from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::msg::{NatHoleDetectBehavior, PortsRange};

    #[test]
    fn spec_vector_12_6() {
        let m = NatHoleSid {
            transaction_id: "1700000000abcdef0123456789".into(),
            sid: "1700000000fedcba9876543210".into(),
            response: false,
            nonce: "000".into(),
        };
        let key = derive_key(b"abcdefg");
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let got = encode_sid_with_iv(&m, &key, &iv);
        assert_eq!(
            hex::encode(&got),
            "000102030405060708090a0b0c0d0e0fa7eb685d169ff8bf85d4f1f6ea1e68753723767826fea7f6d676b67a4fe0dcffe500490b9feaf5abfa1e500634acba4fed04a8ff8ea7d495adcc234b8006c963533bb63bc36fc8e8ebbf3311752b5fac8693c202df46bdc90e71ac61c139954844e23b9a74aa803502"
        );
        assert_eq!(decode_sid(&got, &key), Some(m.clone()));
        assert_eq!(decode_sid(&got, &derive_key(b"wrong")), None);
        for cut in 0..got.len() {
            let _ = decode_sid(&got[..cut], &key);
        }
        // A random IV each time, still decodable.
        let a = encode_sid(&m, &key);
        assert_ne!(a[..16], encode_sid(&m, &key)[..16]);
        assert_eq!(decode_sid(&a, &key), Some(m));
    }

    fn resp(role: &str, sid: &str, peer: SocketAddr) -> NatHoleResp {
        NatHoleResp {
            sid: sid.into(),
            candidate_addrs: vec![peer.to_string()],
            detect_behavior: NatHoleDetectBehavior {
                role: role.into(),
                read_timeout: 3000,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn sender_and_receiver_on_loopback() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let ra = resp(ROLE_SENDER, "s1", ba);
        let mut rb = resp(ROLE_RECEIVER, "s1", aa);
        rb.detect_behavior.ttl = 4;
        let (x, y) = tokio::join!(make_hole(a, &ra, "k"), make_hole(b, &rb, "k"));
        let (sa, pa) = x.unwrap();
        let (sb, pb) = y.unwrap();
        assert_eq!((pa, pb), (ba, aa));
        // Data flows directly afterwards.
        sa.send_to(b"hi", pa).await.unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = sb.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hi");
    }

    #[tokio::test]
    async fn receiver_probes_a_port_range() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let ra = resp(ROLE_SENDER, "s2", ba);
        // The receiver is told a wrong port for the sender, with a range covering the real one.
        let mut rb = resp(ROLE_RECEIVER, "s2", SocketAddr::new(aa.ip(), aa.port() - 3));
        rb.detect_behavior.candidate_ports = vec![PortsRange {
            from: i64::from(aa.port()) - 5,
            to: i64::from(aa.port()) + 5,
        }];
        let (x, y) = tokio::join!(make_hole(a, &ra, "k"), make_hole(b, &rb, "k"));
        assert_eq!(x.unwrap().1, ba);
        assert_eq!(y.unwrap().1, aa);
    }

    #[tokio::test]
    async fn wrong_key_or_sid_times_out() {
        let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let mut ra = resp(ROLE_SENDER, "s3", ba);
        let mut rb = resp(ROLE_RECEIVER, "s3", aa);
        ra.detect_behavior.read_timeout = 500;
        rb.detect_behavior.read_timeout = 500;
        let (x, y) = tokio::join!(make_hole(a, &ra, "k1"), make_hole(b, &rb, "k2"));
        assert!(matches!(x, Err(PunchError::Timeout)));
        assert!(matches!(y, Err(PunchError::Timeout)));
    }
}
