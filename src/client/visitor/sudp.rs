//! sudp visitors (protocol.md §10.7): a local UDP socket; the first datagram opens a visitor
//! connection to frps that carries UDPPacket messages both ways (`r` = the local user's
//! address, the key of the reply path). Pings from the owner are ignored, but a connection
//! silent for 60 s is dead; after a failure the next datagram opens a new one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{connect, Ctx, Started};
use crate::config::proxy::VisitorConfig;
use crate::proto::msg::Message;
use crate::proto::{self as proto_mod, udp as codec};
use crate::transport::BoxStream;

/// Datagrams from local users waiting for the visitor connection; more are dropped.
const QUEUE: usize = 1024;
/// The owner pings every 30 s; a visitor connection silent this long is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Bind the UDP socket and start serving it.
pub fn start(cfg: &Arc<VisitorConfig>, ctx: Ctx) -> Result<Started, String> {
    let port =
        u16::try_from(cfg.bind_port).map_err(|_| format!("invalid bindPort {}", cfg.bind_port))?;
    let addr = crate::transport::tcp::join_host_port(&cfg.bind_addr, port);
    let sock = std::net::UdpSocket::bind(addr.as_str())
        .and_then(|s| s.set_nonblocking(true).map(|()| s))
        .and_then(UdpSocket::from_std)
        .map_err(|e| format!("listen udp port {addr} error: {e}"))?;
    info!(visitor = %cfg.name, "sudp start to work, listen on {addr}");
    let packet_size = match ctx.session.cfg.udp_packet_size {
        n if n <= 0 => 1500,
        n => n.min(65535) as usize,
    };
    let task = tokio::spawn(run(cfg.clone(), ctx, Arc::new(sock), packet_size));
    Ok(Started {
        task,
        handover: None,
    })
}

async fn run(cfg: Arc<VisitorConfig>, ctx: Ctx, sock: Arc<UdpSocket>, packet_size: usize) {
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let reader = tokio::spawn(read_local(cfg.clone(), sock.clone(), tx, packet_size));
    let _reader = AbortOnDrop(reader);
    loop {
        let first = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = ctx.cancel.cancelled() => {
                debug!(visitor = %cfg.name, "sudp visitor closed");
                return;
            }
        };
        let conn = tokio::select! {
            c = connect(&ctx, &cfg) => c,
            _ = ctx.cancel.cancelled() => return,
        };
        let conn = match conn {
            Ok(c) => c,
            Err(e) => {
                warn!(visitor = %cfg.name, "newVisitorConn to frps error: {e}, try to reconnect");
                continue;
            }
        };
        debug!(visitor = %cfg.name, "starting sudp proxy worker");
        tokio::select! {
            _ = worker(&cfg, conn, first, &mut rx, &sock) => {}
            _ = ctx.cancel.cancelled() => return,
        }
        info!(visitor = %cfg.name, "sudp worker is closed");
    }
}

/// Datagrams from local users, as UDPPacket messages with their address.
async fn read_local(
    cfg: Arc<VisitorConfig>,
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<Message>,
    packet_size: usize,
) {
    let mut buf = vec![0u8; packet_size];
    loop {
        let (n, from) = match sock.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // E.g. ICMP port unreachable for an earlier reply; the socket stays usable.
                debug!(visitor = %cfg.name, "read from udp socket: {e}");
                continue;
            }
        };
        if !codec::fits(n) {
            debug!(visitor = %cfg.name, "dropping a {n}-byte datagram: too large for one message");
            continue;
        }
        match tx.try_send(codec::packet(&buf[..n], from)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                debug!(visitor = %cfg.name, remote = %from, "udp queue full, dropping a datagram")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// Carry datagrams over one visitor connection until it fails or is silent for 60 s.
async fn worker(
    cfg: &VisitorConfig,
    conn: BoxStream,
    first: Message,
    rx: &mut mpsc::Receiver<Message>,
    sock: &UdpSocket,
) {
    let (r, mut w) = tokio::io::split(conn);
    let (mut msgs, reader) = proto_mod::codec::spawn_reader(r);
    let _reader = AbortOnDrop(reader);
    if let Err(e) = proto_mod::write_msg(&mut w, &first).await {
        warn!(visitor = %cfg.name, "sender goroutine for udp work connection closed: {e}");
        return;
    }
    let deadline = tokio::time::sleep(READ_TIMEOUT);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            out = rx.recv() => {
                let Some(m) = out else { return };
                if let Err(e) = proto_mod::write_msg(&mut w, &m).await {
                    warn!(visitor = %cfg.name, "sender goroutine for udp work connection closed: {e}");
                    return;
                }
            }
            m = msgs.recv() => {
                deadline.as_mut().reset(tokio::time::Instant::now() + READ_TIMEOUT);
                match m {
                    Some(Ok(Message::UdpPacket(p))) => match codec::decode(&p) {
                        Ok((data, to)) => send_local(cfg, sock, &data, to).await,
                        Err(e) => debug!(visitor = %cfg.name, "dropping a bad UDPPacket: {e}"),
                    },
                    Some(Ok(Message::Ping(_))) => {
                        debug!(visitor = %cfg.name, "frpc visitor get ping message from frpc")
                    }
                    Some(Ok(other)) => {
                        debug!(visitor = %cfg.name, "ignoring {} on sudp visitor connection", other.name())
                    }
                    Some(Err(e)) => {
                        warn!(visitor = %cfg.name, "read from workconn for user udp conn error: {e}");
                        return;
                    }
                    None => return,
                }
            }
            _ = &mut deadline => {
                warn!(visitor = %cfg.name, "read from workconn for user udp conn error: no message for {}s", READ_TIMEOUT.as_secs());
                return;
            }
        }
    }
}

async fn send_local(cfg: &VisitorConfig, sock: &UdpSocket, data: &[u8], to: SocketAddr) {
    let to = match sock.local_addr() {
        Ok(local) => codec::for_socket(to, local),
        Err(_) => to,
    };
    if let Err(e) = sock.send_to(data, to).await {
        debug!(visitor = %cfg.name, remote = %to, "send to local user: {e}");
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
