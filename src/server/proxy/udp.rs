//! udp proxies on frps (protocol.md §10.2): a UDP socket on the remote port and exactly one work
//! connection at a time carrying `UDPPacket` messages both ways (after the §8 wrapping).
//!
//! Datagrams from users wait in one bounded queue that outlives work connections, so a
//! replacement connection picks up what arrived meanwhile; a full queue drops datagrams (UDP may
//! lose packets, a slow tunnel must not grow frps's memory).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::running::RunningProxy;
use super::target::Target;
use crate::proto::msg::{self, Message};
use crate::proto::{self as proto_mod, errors, udp as codec};
use crate::server::{lock, Server};
use crate::transport::BoxStream;

/// Datagrams waiting for the work connection.
const QUEUE: usize = 1024;
/// frp waits this long before taking the first work connection, so that frpc has seen the
/// NewProxyResp (and knows the proxy) when the StartWorkConn arrives.
const FIRST_WORK_CONN_DELAY: Duration = Duration::from_millis(500);
/// Back-off after failing to get a work connection, or after one died at once.
const RETRY: Duration = Duration::from_secs(1);
/// frpc sends a Ping every 30 s; a work connection silent for longer than this is dead.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

struct UdpProxy {
    name: String,
    /// The client's work connections, wrapped as the proxy asked.
    target: Arc<Target>,
    packet_size: usize,
    /// Datagrams from users dropped because the queue was full.
    dropped: AtomicU64,
}

/// Bind the UDP port of a NewProxy and start serving it; returns the port.
pub fn start(
    server: &Arc<Server>,
    target: &Arc<Target>,
    p: &msg::NewProxy,
    proxies: &HashMap<String, RunningProxy>,
) -> Result<(String, RunningProxy), String> {
    let cfg = server.cfg();
    if super::running::exceeds_max_ports(&cfg, proxies) {
        return Err(errors::EXCEED_MAX_PORTS.into());
    }
    let acquire_err = |e: String| format!("acquire port {} error: {e}", p.remote_port);
    if !(0..=65535).contains(&p.remote_port) {
        return Err(acquire_err(errors::PORT_NOT_ALLOWED.into()));
    }
    let (port, std_socket) = lock(&server.udp_ports)
        .acquire_udp(&p.proxy_name, p.remote_port as u16, &cfg.proxy_bind_addr)
        .map_err(acquire_err)?;
    let socket = match UdpSocket::from_std(std_socket) {
        Ok(s) => s,
        Err(e) => {
            lock(&server.udp_ports).release(&p.proxy_name, port);
            return Err(acquire_err(format!("{}: {e}", errors::PORT_UNAVAILABLE)));
        }
    };
    let packet_size = match cfg.udp_packet_size {
        n if n <= 0 => 1500,
        n => n.min(65535) as usize,
    };
    let info = Arc::new(UdpProxy {
        name: p.proxy_name.clone(),
        target: target.clone(),
        packet_size,
        dropped: AtomicU64::new(0),
    });
    let cancel = target.ctl.cancel.child_token();
    let task = tokio::spawn(run(server.clone(), info, socket, cancel.clone()));
    info!(client = %target.ctl.tag, proxy_name = %p.proxy_name, proxy_type = "udp", "udp proxy listen port [{port}]");
    Ok((
        format!(":{port}"),
        RunningProxy::new("udp", Some(port), cancel).with_task(task),
    ))
}

async fn run(
    server: Arc<Server>,
    proxy: Arc<UdpProxy>,
    socket: UdpSocket,
    cancel: CancellationToken,
) {
    let socket = Arc::new(socket);
    let (tx, mut rx) = mpsc::channel(QUEUE);
    tokio::select! {
        _ = read_users(&proxy, &socket, tx) => {}
        _ = keep_work_conn(&proxy, &socket, &mut rx) => {}
        _ = cancel.cancelled() => {}
        _ = server.stopping.cancelled() => {}
    }
    debug!(proxy_name = %proxy.name, dropped = proxy.dropped.load(Ordering::Relaxed), "udp proxy stopped");
}

/// Datagrams from users → the queue, as UDPPacket messages.
async fn read_users(proxy: &UdpProxy, socket: &UdpSocket, tx: mpsc::Sender<Message>) {
    // A datagram longer than the buffer is truncated, as in frp.
    let mut buf = vec![0u8; proxy.packet_size];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                // Nothing a user sends ends the proxy; just avoid spinning on a broken socket.
                debug!(proxy_name = %proxy.name, "udp read error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if !codec::fits(n) {
            debug!(proxy_name = %proxy.name, remote = %from, "dropping a {n}-byte datagram: too large for one message");
            continue;
        }
        if tx.try_send(codec::packet(&buf[..n], from)).is_err() {
            let dropped = proxy.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            debug!(proxy_name = %proxy.name, remote = %from, dropped, "udp queue full, dropping a datagram");
            continue;
        }
        proxy.target.meter.traffic(n as u64, 0);
    }
}

/// Keep exactly one work connection: take one, serve it until it fails, take the next.
async fn keep_work_conn(proxy: &UdpProxy, socket: &UdpSocket, rx: &mut mpsc::Receiver<Message>) {
    tokio::time::sleep(FIRST_WORK_CONN_DELAY).await;
    loop {
        // No addresses in this StartWorkConn: it carries every user's datagrams.
        let work = match proxy.target.connect(None, None).await {
            Ok(w) => w,
            Err(e) => {
                warn!(proxy_name = %proxy.name, "failed to get work connection for udp proxy: {e}");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        debug!(proxy_name = %proxy.name, "udp work connection started");
        let began = Instant::now();
        serve_work_conn(proxy, socket, work, rx).await;
        info!(proxy_name = %proxy.name, "udp work connection closed, taking a new one");
        // A connection that dies at once (frpc does not know the proxy yet, say) must not turn
        // into a tight loop of work connections.
        if began.elapsed() < RETRY {
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// Run one work connection: queued datagrams out, UDPPacket replies back to their users.
/// Returns when either direction fails or frpc is silent for [`READ_TIMEOUT`].
async fn serve_work_conn(
    proxy: &UdpProxy,
    socket: &UdpSocket,
    work: BoxStream,
    rx: &mut mpsc::Receiver<Message>,
) {
    let (mut r, mut w) = tokio::io::split(work);
    let local = socket.local_addr().ok();
    let read = async {
        loop {
            let m = match tokio::time::timeout(READ_TIMEOUT, proto_mod::read_msg(&mut r)).await {
                Ok(Ok(m)) => m,
                Ok(Err(e)) if e.is_disconnect() => return,
                Ok(Err(e)) => {
                    warn!(proxy_name = %proxy.name, "read from udp work connection: {e}");
                    return;
                }
                Err(_) => {
                    warn!(proxy_name = %proxy.name, "udp work connection silent for {}s", READ_TIMEOUT.as_secs());
                    return;
                }
            };
            let p = match m {
                Message::UdpPacket(p) => p,
                // A Ping only keeps the connection alive (the timeout above restarts).
                Message::Ping(_) => continue,
                other => {
                    debug!(proxy_name = %proxy.name, "ignoring {} on udp work connection", other.name());
                    continue;
                }
            };
            let (data, to) = match codec::decode(&p) {
                Ok(d) => d,
                Err(e) => {
                    debug!(proxy_name = %proxy.name, "dropping a bad UDPPacket: {e}");
                    continue;
                }
            };
            let to = match local {
                Some(l) => codec::for_socket(to, l),
                None => to,
            };
            match socket.send_to(&data, to).await {
                Ok(n) => proxy.target.meter.traffic(0, n as u64),
                Err(e) => debug!(proxy_name = %proxy.name, remote = %to, "udp send error: {e}"),
            }
        }
    };
    let write = async {
        while let Some(m) = rx.recv().await {
            if let Err(e) = proto_mod::write_msg(&mut w, &m).await {
                debug!(proxy_name = %proxy.name, "write to udp work connection: {e}");
                return;
            }
        }
    };
    tokio::select! {
        _ = read => {}
        _ = write => {}
    }
}
