//! TCP dialing and listening with frp's keepalive and timeout settings.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::net::{lookup_host, TcpListener, TcpSocket, TcpStream};

/// Set TCP keepalive with the given period in seconds; a negative period disables it.
pub fn set_keepalive(stream: &TcpStream, period_secs: i64) {
    let sock = SockRef::from(stream);
    if period_secs < 0 {
        let _ = sock.set_keepalive(false);
        return;
    }
    let period = Duration::from_secs(period_secs.max(1) as u64);
    let ka = TcpKeepalive::new().with_time(period).with_interval(period);
    let _ = sock.set_tcp_keepalive(&ka);
}

/// Dial `host:port` with a connect timeout, optional local bind IP and keepalive period.
pub async fn dial(
    host: &str,
    port: u16,
    timeout: Duration,
    local_ip: Option<std::net::IpAddr>,
    keepalive_secs: i64,
) -> io::Result<TcpStream> {
    let fut = async {
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"));
        for addr in lookup_host((host, port)).await? {
            let sock = if addr.is_ipv4() {
                TcpSocket::new_v4()?
            } else {
                TcpSocket::new_v6()?
            };
            if let Some(ip) = local_ip {
                sock.bind(SocketAddr::new(ip, 0))?;
            }
            match sock.connect(addr).await {
                Ok(s) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    };
    let stream = tokio::time::timeout(timeout, fut).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("dial {host}:{port} timeout"),
        )
    })??;
    let _ = stream.set_nodelay(true);
    set_keepalive(&stream, keepalive_secs);
    Ok(stream)
}

/// The accept queue every listener asks for. The kernel caps it at its own maximum
/// (`net.core.somaxconn` on Linux, `kern.ipc.somaxconn` on macOS), which is what frp (Go) uses;
/// std's 128 and tokio's 1024 lose connections in a burst of connects (the peer sees a
/// connection that is never accepted).
const BACKLOG: i32 = 65535;

/// Bind a TCP listener; `addr` may be an IP or a host name (empty: every address), port 0 picks
/// a free port.
pub async fn listen(addr: &str, port: u16) -> io::Result<TcpListener> {
    let ip = if addr.is_empty() { "0.0.0.0" } else { addr };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {ip}"));
    for sa in lookup_host((ip, port)).await? {
        match bind_listener(sa).and_then(TcpListener::from_std) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// [`listen`] without a runtime, for callers that bind synchronously (the port managers, the
/// visitors). A host name is looked up with the system resolver, blocking. The listener is
/// non-blocking, ready for tokio.
pub fn listen_std(addr: &str, port: u16) -> io::Result<std::net::TcpListener> {
    use std::net::ToSocketAddrs;
    let ip = if addr.is_empty() { "0.0.0.0" } else { addr };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("no address for {ip}"));
    for sa in (ip, port).to_socket_addrs()? {
        match bind_listener(sa) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A non-blocking listener on `sa` with SO_REUSEADDR (as std and tokio set it on Unix: a port
/// binds again at once after its listener closed) and the system's largest accept queue.
fn bind_listener(sa: SocketAddr) -> io::Result<std::net::TcpListener> {
    let sock = Socket::new(Domain::for_address(sa), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    sock.bind(&sa.into())?;
    sock.listen(BACKLOG)?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// `host:port` with brackets around IPv6 literals.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
