//! One work connection on frpc, after frps's StartWorkConn: unwrap it as the proxy asked,
//! then hand it to the proxy's plugin, its udp loop, or a fresh connection to the local
//! service (with a PROXY protocol header when configured) and carry bytes both ways.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::{debug, warn};

use super::plugin::ConnInfo;
use super::proxy::Proxies;
use crate::proto::msg;
use crate::transport::proxy_protocol::{self, Version};
use crate::transport::wrap::{self, LimitedStream};
use crate::transport::{splice, tcp, BoxStream};

const LOCAL_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Serve a work connection after its StartWorkConn: wrap it, then udp runs its message loop;
/// tcp-like proxies hand it to their plugin, or dial the local service, write the PROXY header
/// if configured, and splice.
pub async fn serve(
    proxies: &Proxies,
    key: &[u8; 16],
    work: BoxStream,
    start: msg::StartWorkConn,
    udp_packet_size: usize,
) {
    let name = start.proxy_name.clone();
    let Some((cfg, limiter, plugin)) = proxies.running(&name) else {
        debug!(proxy_name = %name, "work connection for a proxy that is not running, closing");
        return;
    };
    let _active = proxies.active_guard();
    // Client-mode bandwidth limiting counts the bytes on the work connection itself.
    let work: BoxStream = match limiter {
        Some(l) => Box::new(LimitedStream::new(work, l)),
        None => work,
    };
    let t = &cfg.transport;
    let mut work = if t.use_encryption || t.use_compression {
        wrap::wrap(work, key, t.use_encryption, t.use_compression)
    } else {
        work
    };
    match cfg.kind.as_str() {
        // One work connection at a time: a new one replaces the old.
        "udp" => return super::udp::serve(Some(&proxies.udp), &cfg, work, udp_packet_size).await,
        // One work connection per visitor connection, all at once.
        "sudp" => return super::udp::serve(None, &cfg, work, udp_packet_size).await,
        _ => {}
    }
    let header = match t
        .proxy_protocol_version
        .parse::<Version>()
        .ok()
        .and_then(|v| proxy_protocol_header(v, &start))
    {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            warn!(proxy_name = %name, "cannot build PROXY protocol header: {e}");
            return;
        }
    };
    if cfg.plugin.is_some() {
        let Some(plugin) = plugin else {
            warn!(proxy_name = %name, "the proxy's plugin could not be created, closing the work connection");
            return;
        };
        debug!(proxy_name = %name, "handle by plugin: {}", plugin.kind());
        plugin
            .handle(&name, work, ConnInfo::new(&start, header))
            .await;
        debug!(proxy_name = %name, "handle by plugin finished");
        return;
    }
    let local_port = cfg.local_port as u16;
    let mut local = match tcp::dial(&cfg.local_ip, local_port, LOCAL_DIAL_TIMEOUT, None, 7200).await
    {
        Ok(s) => s,
        Err(e) => {
            warn!(proxy_name = %name, "connect to local service [{}] error: {e}", tcp::join_host_port(&cfg.local_ip, local_port));
            return;
        }
    };
    if let Some(h) = header {
        if local.write_all(&h).await.is_err() {
            return;
        }
    }
    match splice::splice(&mut work, &mut local).await {
        Ok((down, up)) => {
            debug!(proxy_name = %name, "work connection closed, {down} bytes to local, {up} bytes back")
        }
        Err(e) => debug!(proxy_name = %name, "work connection closed: {e}"),
    }
}

/// The header for a StartWorkConn with a known source; `None` when frps sent no source.
fn proxy_protocol_header(
    version: Version,
    start: &msg::StartWorkConn,
) -> Option<Result<Vec<u8>, String>> {
    if start.src_addr.is_empty() || start.src_port == 0 {
        return None;
    }
    let src_ip: IpAddr = match start.src_addr.parse() {
        Ok(ip) => ip,
        Err(_) => return Some(Err(format!("invalid src_addr '{}'", start.src_addr))),
    };
    let dst_ip: IpAddr = if start.dst_addr.is_empty() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        match start.dst_addr.parse() {
            Ok(ip) => ip,
            Err(_) => return Some(Err(format!("invalid dst_addr '{}'", start.dst_addr))),
        }
    };
    let src = SocketAddr::new(src_ip, start.src_port);
    let dst = SocketAddr::new(dst_ip, start.dst_port);
    Some(proxy_protocol::tcp_header(version, src, dst).map_err(|e| e.to_string()))
}
