//! udp proxies on frpc (protocol.md §10.2): the work connection carries UDPPacket messages; each
//! distinct user address `r` gets its own connected UDP socket to the local service, so the
//! service's replies can be sent back with the same `r`.
//!
//! [`forward`] is the frpc side of the udp message protocol over any stream: udp work
//! connections (one at a time per proxy) and sudp work connections (one per visitor
//! connection, §10.7) use it the same way.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::ProxyConfig;
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, udp as codec};
use crate::transport::proxy_protocol::{self, Version};
use crate::transport::{tcp, BoxStream};

/// Messages waiting to be written to the work connection.
const QUEUE: usize = 1024;
/// frps drops a udp work connection after 60 s of silence; a Ping every 30 s keeps it.
const PING_INTERVAL: Duration = Duration::from_secs(30);
/// A user's socket to the local service closes after this long without traffic.
const PEER_IDLE: Duration = Duration::from_secs(30);
/// How often idle user sockets are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// At most this many user sockets at once (each is a file descriptor); datagrams of further new
/// users are dropped until some go idle.
const MAX_PEERS: usize = 4096;

/// How [`forward`] talks to the local service.
#[derive(Debug, Clone)]
pub struct Options {
    pub proxy_name: String,
    /// Receive buffer for the local service's replies (`udpPacketSize`); longer ones are cut.
    pub packet_size: usize,
    /// Prefix every datagram to the local service with a PROXY header (§8.5).
    pub proxy_protocol: Option<Version>,
}

/// The live work connection of each udp proxy: a new one replaces the previous.
#[derive(Default)]
pub struct Current {
    conns: Mutex<HashMap<String, (u64, CancellationToken)>>,
    next_id: AtomicU64,
}

impl Current {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, CancellationToken)>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register a new connection for `name`, stopping the one before it.
    fn replace(&self, name: &str) -> (u64, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = CancellationToken::new();
        if let Some((_, old)) = self.lock().insert(name.to_string(), (id, cancel.clone())) {
            old.cancel();
        }
        (id, cancel)
    }

    fn finished(&self, name: &str, id: u64) {
        let mut conns = self.lock();
        if conns.get(name).is_some_and(|(i, _)| *i == id) {
            conns.remove(name);
        }
    }
}

/// Serve a (wrapped) work connection of udp or sudp proxy `cfg` until it ends or, with
/// `current` (udp), a newer one arrives.
pub async fn serve(
    current: Option<&Current>,
    cfg: &ProxyConfig,
    work: BoxStream,
    packet_size: usize,
) {
    let name = &cfg.name;
    let local = tcp::join_host_port(&cfg.local_ip, cfg.local_port as u16);
    let target = match tokio::net::lookup_host(local.as_str()).await {
        Ok(mut addrs) => addrs.next(),
        Err(e) => {
            warn!(proxy_name = %name, "resolve local address [{local}]: {e}");
            return;
        }
    };
    let Some(target) = target else {
        warn!(proxy_name = %name, "local address [{local}] resolves to nothing");
        return;
    };
    let opts = Options {
        proxy_name: name.clone(),
        packet_size: match packet_size {
            0 => 1500,
            n => n.min(65535),
        },
        proxy_protocol: cfg.transport.proxy_protocol_version.parse().ok(),
    };
    info!(proxy_name = %name, "incoming a new work connection for {} proxy", cfg.kind);
    let Some(current) = current else {
        forward(work, target, &opts).await;
        return;
    };
    let (id, replaced) = current.replace(name);
    tokio::select! {
        _ = forward(work, target, &opts) => {}
        _ = replaced.cancelled() => debug!(proxy_name = %name, "udp work connection replaced by a newer one"),
    }
    current.finished(name, id);
}

/// The frpc side of the udp message protocol: UDPPacket messages read from `work` go to
/// `target` from one socket per user address; what `target` answers goes back as UDPPacket with
/// that address; a Ping every 30 s keeps `work` alive. Returns when `work` fails or closes.
pub async fn forward(work: BoxStream, target: SocketAddr, opts: &Options) {
    let (r, mut w) = tokio::io::split(work);
    let (out, mut out_rx) = mpsc::channel::<Message>(QUEUE);
    // read_msg is not cancellation-safe: a task of its own reads, the loop below selects on it.
    let (mut msgs, reader) = proto_mod::codec::spawn_reader(r);
    let _reader = AbortOnDrop(reader);
    let write = async {
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_INTERVAL, PING_INTERVAL);
        loop {
            let m = tokio::select! {
                m = out_rx.recv() => match m {
                    Some(m) => m,
                    None => return,
                },
                _ = ping.tick() => Message::Ping(msg::Ping::default()),
            };
            if let Err(e) = proto_mod::write_msg(&mut w, &m).await {
                debug!(proxy_name = %opts.proxy_name, "write to udp work connection: {e}");
                return;
            }
        }
    };
    let mut peers = Peers {
        map: HashMap::new(),
        target,
        opts,
        out,
        epoch: Instant::now(),
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let read = async {
        let mut sweep = tokio::time::interval(SWEEP_INTERVAL);
        loop {
            tokio::select! {
                m = msgs.recv() => match m {
                    Some(Ok(Message::UdpPacket(p))) => peers.deliver(&p).await,
                    Some(Ok(other)) => {
                        debug!(proxy_name = %opts.proxy_name, "ignoring {} on udp work connection", other.name());
                    }
                    Some(Err(e)) if e.is_disconnect() => return,
                    Some(Err(e)) => {
                        warn!(proxy_name = %opts.proxy_name, "read from udp work connection: {e}");
                        return;
                    }
                    None => return,
                },
                _ = sweep.tick() => peers.sweep(),
            }
        }
    };
    tokio::select! {
        _ = read => {}
        _ = write => {}
    }
    debug!(proxy_name = %opts.proxy_name, "udp work connection closed");
}

/// The user sockets of one work connection; dropping it closes them all.
struct Peers<'a> {
    map: HashMap<SocketAddr, Peer>,
    target: SocketAddr,
    opts: &'a Options,
    out: mpsc::Sender<Message>,
    /// `Peer::last` counts milliseconds from here.
    epoch: Instant,
    /// Replies dropped because the work connection's queue was full.
    dropped: Arc<AtomicU64>,
}

struct Peer {
    sock: Arc<UdpSocket>,
    /// Last traffic either way, in ms since `Peers::epoch`.
    last: Arc<AtomicU64>,
    replies: AbortOnDrop,
}

impl Peers<'_> {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Send one datagram from frps to the local service, from the user's own socket.
    async fn deliver(&mut self, p: &msg::UdpPacket) {
        let name = &self.opts.proxy_name;
        let (data, user) = match codec::decode(p) {
            Ok(d) => d,
            Err(e) => {
                debug!(proxy_name = %name, "dropping a bad UDPPacket: {e}");
                return;
            }
        };
        let alive = self
            .map
            .get(&user)
            .is_some_and(|p| !p.replies.0.is_finished());
        if !alive {
            self.map.remove(&user);
            if self.map.len() >= MAX_PEERS {
                self.sweep();
            }
            if self.map.len() >= MAX_PEERS {
                debug!(proxy_name = %name, remote = %user, "too many udp peers, dropping a datagram");
                return;
            }
            match self.open(user).await {
                Ok(peer) => {
                    self.map.insert(user, peer);
                }
                Err(e) => {
                    warn!(proxy_name = %name, "open udp socket to local service [{}]: {e}", self.target);
                    return;
                }
            }
        }
        let Some(peer) = self.map.get(&user) else {
            return;
        };
        let buf = match self.opts.proxy_protocol {
            Some(v) => match proxy_protocol::udp_header(v, user, self.target) {
                Ok(mut h) => {
                    h.extend_from_slice(&data);
                    h
                }
                // As frp: without a header rather than not at all.
                Err(e) => {
                    debug!(proxy_name = %name, "cannot build PROXY protocol header: {e}");
                    data
                }
            },
            None => data,
        };
        peer.last.store(self.now_ms(), Ordering::Relaxed);
        if let Err(e) = peer.sock.send(&buf).await {
            debug!(proxy_name = %name, remote = %user, "send to local service: {e}");
            self.map.remove(&user);
        }
    }

    /// A socket connected to the local service, and the task returning its replies.
    async fn open(&self, user: SocketAddr) -> std::io::Result<Peer> {
        let any: SocketAddr = match self.target {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let sock = UdpSocket::bind(any).await?;
        sock.connect(self.target).await?;
        let sock = Arc::new(sock);
        let last = Arc::new(AtomicU64::new(self.now_ms()));
        let task = tokio::spawn(replies(
            sock.clone(),
            user,
            self.out.clone(),
            last.clone(),
            self.epoch,
            self.opts.clone(),
            self.dropped.clone(),
        ));
        Ok(Peer {
            sock,
            last,
            replies: AbortOnDrop(task),
        })
    }

    /// Close the sockets of users idle for [`PEER_IDLE`].
    fn sweep(&mut self) {
        let now = self.now_ms();
        let idle = PEER_IDLE.as_millis() as u64;
        self.map.retain(|_, p| {
            !p.replies.0.is_finished() && now.saturating_sub(p.last.load(Ordering::Relaxed)) < idle
        });
    }
}

/// The local service's answers to one user, as UDPPacket messages with the user's address.
async fn replies(
    sock: Arc<UdpSocket>,
    user: SocketAddr,
    out: mpsc::Sender<Message>,
    last: Arc<AtomicU64>,
    epoch: Instant,
    opts: Options,
    dropped: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; opts.packet_size];
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(n) => n,
            // E.g. connection refused: nothing listens on the local port (yet). The next
            // datagram from this user opens a new socket.
            Err(e) => {
                debug!(proxy_name = %opts.proxy_name, remote = %user, "read from local service: {e}");
                return;
            }
        };
        last.store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
        if !codec::fits(n) {
            debug!(proxy_name = %opts.proxy_name, "dropping a {n}-byte reply: too large for one message");
            continue;
        }
        match out.try_send(codec::packet(&buf[..n], user)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = dropped.fetch_add(1, Ordering::Relaxed) + 1;
                debug!(proxy_name = %opts.proxy_name, remote = %user, dropped, "udp queue full, dropping a reply");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn a_new_work_connection_replaces_the_old_one() {
        let c = Current::default();
        let (a, first) = c.replace("p");
        let (b, second) = c.replace("p");
        assert!(first.is_cancelled() && !second.is_cancelled());
        c.finished("p", a);
        assert!(
            c.lock().contains_key("p"),
            "the old one's end keeps the new one"
        );
        c.finished("p", b);
        assert!(c.lock().is_empty());
    }

    /// One datagram through `forward` to a local UDP echo, with a PROXY v2 header, and the
    /// reply back as UDPPacket with the same user address.
    #[tokio::test]
    async fn forward_round_trip_with_proxy_header() {
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let opts = Options {
            proxy_name: "t".into(),
            packet_size: 1500,
            proxy_protocol: Some(Version::V2),
        };
        let task = tokio::spawn(async move { forward(Box::new(ours), target, &opts).await });
        let (mut r, mut w) = tokio::io::split(theirs);
        let user: SocketAddr = "1.2.3.4:5678".parse().unwrap();
        proto_mod::write_msg(&mut w, &codec::packet(b"hi", user))
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = echo.recv_from(&mut buf).await.unwrap();
        let mut want = hex::decode("0d0a0d0a000d0a515549540a2112000c01020304").unwrap();
        want.extend_from_slice(&[127, 0, 0, 1]);
        want.extend_from_slice(&5678u16.to_be_bytes());
        want.extend_from_slice(&target.port().to_be_bytes());
        want.extend_from_slice(b"hi");
        assert_eq!(&buf[..n], &want[..]);
        echo.send_to(b"back", from).await.unwrap();
        let Message::UdpPacket(p) = proto_mod::read_msg(&mut r).await.unwrap() else {
            panic!("expected UDPPacket")
        };
        assert_eq!(codec::decode(&p).unwrap(), (b"back".to_vec(), user));
        w.shutdown().await.unwrap();
        drop(w);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("forward ends when the stream closes")
            .unwrap();
    }
}
