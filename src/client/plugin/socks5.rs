//! `socks5`: a SOCKS5 server (RFC 1928) on the work connection, as frp's go-socks5: the CONNECT
//! command to IPv4, IPv6 or domain addresses; username/password auth (RFC 1929) when
//! `username`/`password` are set, else no auth.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use super::Opts;
use crate::transport::{splice, tcp, BoxStream};

/// The whole negotiation must finish within this (go-socks5 has no limit; an idle peer should
/// not hold a work connection forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0;
const USER_PASS: u8 = 2;
const NO_ACCEPTABLE: u8 = 0xff;
const USER_PASS_VERSION: u8 = 1;
const CMD_CONNECT: u8 = 1;
const ATYP_IPV4: u8 = 1;
const ATYP_DOMAIN: u8 = 3;
const ATYP_IPV6: u8 = 4;

/// Reply codes (RFC 1928 §6).
const SUCCEEDED: u8 = 0;
const NETWORK_UNREACHABLE: u8 = 3;
const HOST_UNREACHABLE: u8 = 4;
const CONNECTION_REFUSED: u8 = 5;
const COMMAND_NOT_SUPPORTED: u8 = 7;
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 8;

pub struct Socks5 {
    /// (username, password), when either is set.
    credentials: Option<(String, String)>,
}

pub(super) fn new(o: &Opts) -> Result<Socks5, String> {
    let (user, pass) = (o.string("username")?, o.string("password")?);
    let credentials = (!user.is_empty() || !pass.is_empty()).then_some((user, pass));
    Ok(Socks5 { credentials })
}

impl Socks5 {
    pub async fn handle(&self, proxy_name: &str, mut work: BoxStream) {
        let remote = match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.negotiate(&mut work)).await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                debug!(proxy_name = %proxy_name, "socks5: {e}");
                return;
            }
            Err(_) => {
                debug!(proxy_name = %proxy_name, "socks5: handshake timeout");
                return;
            }
        };
        let (mut remote, target) = remote;
        match splice::splice(&mut work, &mut remote).await {
            Ok((up, down)) => {
                debug!(proxy_name = %proxy_name, "socks5 connection to {target} closed, {up} bytes out, {down} bytes back")
            }
            Err(e) => debug!(proxy_name = %proxy_name, "socks5 connection to {target} closed: {e}"),
        }
    }

    /// Method selection, authentication and the request; the connected target on success.
    async fn negotiate(&self, s: &mut BoxStream) -> Result<(TcpStream, String), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).await.map_err(io)?;
        if head[0] != VERSION {
            return Err(format!("unsupported SOCKS version {}", head[0]));
        }
        let mut methods = vec![0u8; head[1] as usize];
        s.read_exact(&mut methods).await.map_err(io)?;
        let wanted = if self.credentials.is_some() {
            USER_PASS
        } else {
            NO_AUTH
        };
        if !methods.contains(&wanted) {
            s.write_all(&[VERSION, NO_ACCEPTABLE]).await.map_err(io)?;
            return Err("no supported authentication method".into());
        }
        s.write_all(&[VERSION, wanted]).await.map_err(io)?;
        if let Some((user, pass)) = &self.credentials {
            let got = read_user_pass(s).await?;
            let ok = super::http::credentials_match(&got, user, pass);
            s.write_all(&[USER_PASS_VERSION, if ok { 0 } else { 1 }])
                .await
                .map_err(io)?;
            if !ok {
                return Err("user authentication failed".into());
            }
        }

        let mut req = [0u8; 4];
        s.read_exact(&mut req).await.map_err(io)?;
        if req[0] != VERSION {
            return Err(format!("unsupported SOCKS version {}", req[0]));
        }
        let target = match read_target(s, req[3]).await {
            Ok(t) => t,
            Err(Some(e)) => return Err(e),
            Err(None) => {
                reply(s, ADDRESS_TYPE_NOT_SUPPORTED, None).await?;
                return Err(format!("unrecognized address type {}", req[3]));
            }
        };
        if req[1] != CMD_CONNECT {
            // BIND and UDP ASSOCIATE are not served, as in go-socks5.
            reply(s, COMMAND_NOT_SUPPORTED, None).await?;
            return Err(format!("unsupported command {}", req[1]));
        }
        let addrs = match target.resolve().await {
            Ok(a) if !a.is_empty() => a,
            Ok(_) => {
                reply(s, HOST_UNREACHABLE, None).await?;
                return Err(format!(
                    "failed to resolve destination {target}: no address"
                ));
            }
            Err(e) => {
                reply(s, HOST_UNREACHABLE, None).await?;
                return Err(format!("failed to resolve destination {target}: {e}"));
            }
        };
        let remote = match connect_any(&addrs).await {
            Ok(r) => r,
            Err(e) => {
                let text = e.to_string().to_ascii_lowercase();
                let code = if text.contains("refused") {
                    CONNECTION_REFUSED
                } else if text.contains("network is unreachable") {
                    NETWORK_UNREACHABLE
                } else {
                    HOST_UNREACHABLE
                };
                reply(s, code, None).await?;
                return Err(format!("connect to {target} failed: {e}"));
            }
        };
        let _ = remote.set_nodelay(true);
        tcp::set_keepalive(&remote, 7200);
        reply(s, SUCCEEDED, remote.local_addr().ok()).await?;
        Ok((remote, target.to_string()))
    }
}

/// RFC 1929: `ver ulen user plen pass`.
async fn read_user_pass(s: &mut BoxStream) -> Result<(String, String), String> {
    let io = |e: std::io::Error| e.to_string();
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await.map_err(io)?;
    if head[0] != USER_PASS_VERSION {
        return Err(format!("unsupported auth version {}", head[0]));
    }
    let mut user = vec![0u8; head[1] as usize];
    s.read_exact(&mut user).await.map_err(io)?;
    let mut plen = [0u8; 1];
    s.read_exact(&mut plen).await.map_err(io)?;
    let mut pass = vec![0u8; plen[0] as usize];
    s.read_exact(&mut pass).await.map_err(io)?;
    Ok((
        String::from_utf8_lossy(&user).into_owned(),
        String::from_utf8_lossy(&pass).into_owned(),
    ))
}

enum Target {
    Ip(SocketAddr),
    Domain(String, u16),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Ip(a) => write!(f, "{a}"),
            Target::Domain(d, p) => write!(f, "{d}:{p}"),
        }
    }
}

impl Target {
    async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match self {
            Target::Ip(a) => Ok(vec![*a]),
            Target::Domain(d, p) => Ok(tokio::net::lookup_host((d.as_str(), *p)).await?.collect()),
        }
    }
}

/// Each address in turn (a name may resolve to ::1 and 127.0.0.1); the last error if none
/// answers.
async fn connect_any(addrs: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for a in addrs {
        match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(a)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = e,
            Err(_) => last = std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"),
        }
    }
    Err(last)
}

/// The request's address; `Err(None)` for an unknown address type.
async fn read_target(s: &mut BoxStream, atyp: u8) -> Result<Target, Option<String>> {
    let io = |e: std::io::Error| Some(e.to_string());
    let ip: Option<IpAddr> = match atyp {
        ATYP_IPV4 => {
            let mut b = [0u8; 4];
            s.read_exact(&mut b).await.map_err(io)?;
            Some(IpAddr::from(b))
        }
        ATYP_IPV6 => {
            let mut b = [0u8; 16];
            s.read_exact(&mut b).await.map_err(io)?;
            Some(IpAddr::from(b))
        }
        ATYP_DOMAIN => None,
        _ => return Err(None),
    };
    let domain = if ip.is_none() {
        let mut len = [0u8; 1];
        s.read_exact(&mut len).await.map_err(io)?;
        let mut name = vec![0u8; len[0] as usize];
        s.read_exact(&mut name).await.map_err(io)?;
        Some(String::from_utf8_lossy(&name).into_owned())
    } else {
        None
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await.map_err(io)?;
    let port = u16::from_be_bytes(port);
    Ok(match (ip, domain) {
        (Some(ip), _) => Target::Ip(SocketAddr::new(ip, port)),
        (None, d) => Target::Domain(d.unwrap_or_default(), port),
    })
}

/// `ver rep rsv atyp addr port`; errors carry 0.0.0.0:0.
async fn reply(s: &mut BoxStream, code: u8, bound: Option<SocketAddr>) -> Result<(), String> {
    let mut out = vec![VERSION, code, 0];
    match bound {
        Some(SocketAddr::V6(a)) => {
            out.push(ATYP_IPV6);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        Some(SocketAddr::V4(a)) => {
            out.push(ATYP_IPV4);
            out.extend_from_slice(&a.ip().octets());
            out.extend_from_slice(&a.port().to_be_bytes());
        }
        None => out.extend_from_slice(&[ATYP_IPV4, 0, 0, 0, 0, 0, 0]),
    }
    s.write_all(&out).await.map_err(|e| e.to_string())
}
