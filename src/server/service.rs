//! frps's bind port: accept, sniff TLS, run yamux, and dispatch each logical connection on its
//! first message (protocol.md §2.2, §7.1). A bad peer only ever loses its own connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};

use super::origin::Origin;
use super::plugin::{NewWorkConnContent, UserInfo};
use super::{control, vhost, Server};
use crate::config::load::ConfigSource;
use crate::proto::{self, msg, Message};
use crate::service::log_limit::LogLimit;
use crate::service::signals::next_reload;
use crate::service::{notify, Lifecycle};
use crate::transport::mux::{self, MuxConfig};
use crate::transport::prefixed::Prefixed;
use crate::transport::tls::{sniff, Sniffed};
use crate::transport::{tcp, BoxStream};

const FIRST_MSG_TIMEOUT: Duration = Duration::from_secs(10);

/// Run frps until a stop is requested; `source` is the file a reload (SIGHUP) reads again.
pub async fn run(
    cfg: crate::config::ServerConfig,
    source: Option<ConfigSource>,
    life: Lifecycle,
) -> anyhow::Result<()> {
    let Lifecycle {
        stop, mut reloads, ..
    } = life;
    check_supported(&cfg)?;
    let server = Server::new(cfg)?;
    let cfg = server.cfg();
    let listener = tcp::listen(&cfg.bind_addr, cfg.bind_port as u16)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "listen on {}: {e}",
                tcp::join_host_port(&cfg.bind_addr, cfg.bind_port as u16)
            )
        })?;
    info!("frps tcp listen on {}", listener.local_addr()?);
    start_vhost_listeners(&server).await?;
    if cfg.web_server.port > 0 {
        let web = super::web::bind(&cfg.web_server).await?;
        tokio::spawn(super::web::serve(server.clone(), web));
    }
    {
        // natholeAnalysisDataReserveHours: drop stale punching scores hourly.
        let server = server.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => { server.nathole.clean(); }
                    _ = server.stopping.cancelled() => return,
                }
            }
        });
    }
    info!("frps started successfully");
    notify::ready(&server.status_line());
    notify::spawn_watchdog();
    // STATUS= follows the connection count too, without a message per connection.
    let mut status_tick = tokio::time::interval(Duration::from_secs(2));
    let mut last_status = server.status_line();
    loop {
        tokio::select! {
            _ = status_tick.tick() => {
                let line = server.status_line();
                if line != last_status {
                    notify::status(&line);
                    last_status = line;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let server = server.clone();
                    tokio::spawn(async move { handle_conn(server, stream, peer).await });
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!("accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = next_reload(&mut reloads) => super::reload::reload(&server, source.as_ref()),
            _ = stop.requested() => break,
        }
    }
    info!("frps is stopping");
    notify::stopping();
    // Stop accepting (the bind port and every proxy port), then let the connections already
    // flowing finish, up to gracefulStopTimeout or a second signal.
    drop(listener);
    server.stopping.cancel();
    let limit = server.cfg().graceful_stop_timeout;
    let open = server.stats.cur_conns();
    if open > 0 && limit > 0 {
        info!("waiting up to {limit}s for {open} connections to finish");
        let drained = stop
            .drain(Duration::from_secs(limit as u64), || {
                server.stats.cur_conns() == 0
            })
            .await;
        if !drained {
            warn!(
                "stopping with {} connections still open",
                server.stats.cur_conns()
            );
        }
    }
    Ok(())
}

/// Refuse at start (and on reload) the options whose runtime later issues bring, naming the
/// option.
pub fn check_supported(cfg: &crate::config::ServerConfig) -> anyhow::Result<()> {
    let unsupported = [
        (cfg.kcp_bind_port != 0, "kcpBindPort"),
        (cfg.quic_bind_port != 0, "quicBindPort"),
        (
            cfg.ssh_tunnel_gateway.bind_port != 0,
            "sshTunnelGateway.bindPort",
        ),
        (cfg.auth.method == "oidc", "auth.method = oidc"),
        (cfg.web_server.pprof_enable, "webServer.pprofEnable"),
        (!cfg.web_server.assets_dir.is_empty(), "webServer.assetsDir"),
    ];
    match unsupported.iter().find(|(set, _)| *set) {
        Some((_, name)) => anyhow::bail!("{name} is not supported by this frps build yet"),
        None => Ok(()),
    }
}

/// Which vhost servers share the bind port (frp's rule, protocol.md §2.3: same port, and
/// proxies bind where frps binds).
fn vhost_on_bind_port(cfg: &crate::config::ServerConfig) -> (bool, bool) {
    let same_addr = cfg.bind_addr == cfg.proxy_bind_addr;
    (
        same_addr && cfg.vhost_http_port == cfg.bind_port,
        same_addr && cfg.vhost_https_port == cfg.bind_port,
    )
}

/// Bind the vhost http, https and tcpmux listeners that have ports of their own.
async fn start_vhost_listeners(server: &Arc<Server>) -> anyhow::Result<()> {
    let cfg = server.cfg();
    let (http_shared, https_shared) = vhost_on_bind_port(&cfg);
    let bind = |port: i64, what: &'static str| {
        let addr = cfg.proxy_bind_addr.clone();
        async move {
            let l = tcp::listen(&addr, port as u16).await.map_err(|e| {
                anyhow::anyhow!(
                    "{what}: listen on {}: {e}",
                    tcp::join_host_port(&addr, port as u16)
                )
            })?;
            info!(
                "{what} listen on {}",
                tcp::join_host_port(&addr, port as u16)
            );
            anyhow::Ok(l)
        }
    };
    if cfg.vhost_http_port > 0 && !http_shared {
        let l = bind(cfg.vhost_http_port, "http service").await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, _| async move { vhost::http::serve_conn(server, conn, peer).await },
        ));
    }
    if cfg.vhost_https_port > 0 && !https_shared {
        let l = bind(cfg.vhost_https_port, "https service").await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, dst| async move {
                vhost::https::serve_conn(server, conn, peer, dst).await
            },
        ));
    }
    if cfg.tcpmux_http_connect_port > 0 {
        let l = bind(
            cfg.tcpmux_http_connect_port,
            "tcpmux httpconnect multiplexer",
        )
        .await?;
        tokio::spawn(accept_each(
            server.clone(),
            l,
            |server, conn, peer, dst| async move {
                vhost::tcpmux::serve_conn(server, conn, peer, dst).await
            },
        ));
    }
    Ok(())
}

/// Accept on `listener` until frps stops, running `serve` for each connection.
async fn accept_each<F, Fut>(server: Arc<Server>, listener: tokio::net::TcpListener, serve: F)
where
    F: Fn(Arc<Server>, TcpStream, SocketAddr, Option<SocketAddr>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = server.stopping.cancelled() => return,
        };
        match accepted {
            Ok((conn, peer)) => {
                let _ = conn.set_nodelay(true);
                let dst = conn.local_addr().ok();
                tokio::spawn(serve(server.clone(), conn, peer, dst));
            }
            Err(e) => {
                warn!("accept error: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// The first bytes of an HTTP/1 request, as frp's bind-port muxer matches them.
const HTTP_METHOD_PREFIXES: [&[u8; 3]; 9] = [
    b"GET", b"HEA", b"POS", b"PUT", b"DEL", b"CON", b"OPT", b"TRA", b"PAT",
];

async fn handle_conn(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    let cfg = server.cfg();
    tcp::set_keepalive(&stream, cfg.transport.tcp_keepalive);
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok();
    // With vhost http/https on the bind port, the first bytes decide who gets the connection.
    let (http_shared, https_shared) = vhost_on_bind_port(&cfg);
    let mut head = Vec::new();
    if http_shared || https_shared {
        head = match read_head(&mut stream, 3).await {
            Ok(h) => h,
            Err(e) => {
                debug!(remote = %peer, "closing connection: {e}");
                return;
            }
        };
        let dst = stream.local_addr().ok();
        if http_shared
            && HTTP_METHOD_PREFIXES
                .iter()
                .any(|m| head.starts_with(&m[..]))
        {
            let conn = Prefixed::new(head, stream);
            return vhost::http::serve_conn(server, conn, peer).await;
        }
        if https_shared && head.first() == Some(&0x16) {
            // A ClientHello: an https user when its server name has a route, else frpc's own
            // TLS. (frp sends every 0x16 to the https muxer, so there frpc needs the 0x17 byte.)
            let mut conn = Prefixed::new(head, stream);
            let Some((hello, name)) = vhost::https::read_hello(&mut conn, peer).await else {
                return;
            };
            if let Some(target) = vhost::https::route(&server, &name) {
                return vhost::https::serve_routed(&server, &target, hello, &name, conn, peer, dst)
                    .await;
            }
            let (unread, inner) = conn.into_parts();
            head = hello;
            head.extend_from_slice(&unread);
            stream = inner;
        }
    }
    let stream = Prefixed::new(head, stream);
    let mut tls = false;
    let conn: BoxStream = match sniff(stream, cfg.transport.tls.force).await {
        Ok(Sniffed::Tls(s)) => {
            // A peer that starts a handshake and stalls must not hold its socket for ever.
            let handshake = TlsAcceptor::from(server.tls.clone()).accept(s);
            match tokio::time::timeout(FIRST_MSG_TIMEOUT, handshake).await {
                Ok(Ok(stream)) => {
                    tls = true;
                    Box::new(stream)
                }
                Ok(Err(e)) => {
                    warn!(remote = %peer, "tls handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    debug!(remote = %peer, "tls handshake not done within {}s", FIRST_MSG_TIMEOUT.as_secs());
                    return;
                }
            }
        }
        Ok(Sniffed::Plain(s)) => Box::new(s),
        Err(e) => {
            debug!(remote = %peer, "closing connection: {e}");
            return;
        }
    };
    debug!(remote = %peer, "new connection (tls: {tls}, tcp mux: {})", cfg.transport.tcp_mux);
    let origin = Origin::accepted(peer, cfg.transport.tcp_mux);
    if !cfg.transport.tcp_mux {
        handle_logical(server, conn, origin, local).await;
        return;
    }
    let interval = cfg.transport.tcp_mux_keepalive_interval;
    let mux_cfg = MuxConfig {
        keepalive_interval: (interval > 0).then(|| Duration::from_secs(interval as u64)),
        ..MuxConfig::default()
    };
    let session = mux::Session::new(conn, mux::Mode::Server, mux_cfg);
    while let Some(stream) = session.accept().await {
        let server = server.clone();
        tokio::spawn(async move { handle_logical(server, Box::new(stream), origin, local).await });
    }
    debug!(remote = %peer, "mux session closed");
}

/// One logical connection: a yamux stream or a whole physical connection.
/// Read up to `n` bytes (fewer only at EOF) within the bind port's 10 s sniffing limit.
async fn read_head(stream: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = vec![0u8; n];
    let mut got = 0;
    let read = async {
        while got < n {
            let k = stream.read(&mut head[got..]).await?;
            if k == 0 {
                break;
            }
            got += k;
        }
        std::io::Result::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no data within 10s"))??;
    if got == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "early eof",
        ));
    }
    head.truncate(got);
    Ok(head)
}

/// `local` is frps's own address of the physical connection.
async fn handle_logical(
    server: Arc<Server>,
    mut conn: BoxStream,
    origin: Origin,
    local: Option<SocketAddr>,
) {
    let peer = origin.peer;
    let first = match tokio::time::timeout(FIRST_MSG_TIMEOUT, proto::read_msg(&mut conn)).await {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            warn!(remote = %peer, "failed to read first message: {e}");
            return;
        }
        Err(_) => {
            warn!(remote = %peer, "no message within {}s, closing", FIRST_MSG_TIMEOUT.as_secs());
            return;
        }
    };
    match first {
        Message::Login(login) => control::serve(server, conn, login, origin).await,
        Message::NewWorkConn(m) => register_work_conn(&server, conn, m, origin).await,
        Message::NewVisitorConn(m) => {
            super::visitor::serve_conn(server, conn, m, origin, local).await
        }
        other => warn!(remote = %peer, "unexpected first message {}, closing", other.name()),
    }
}

/// A NewWorkConn joins its client's pool only when it comes from that client (see
/// [`super::origin`]); anything else is closed, and logged at most once a minute.
async fn register_work_conn(
    server: &Server,
    mut conn: BoxStream,
    m: msg::NewWorkConn,
    origin: Origin,
) {
    static REFUSED: LogLimit = LogLimit::new(Duration::from_secs(60));
    let peer = origin.peer;
    let Some(ctl) = server.control(&m.run_id) else {
        if let Some(left_out) = REFUSED.check() {
            warn!(remote = %peer, "refused a work connection for an unknown client ({left_out} more refusals not logged)");
        }
        return;
    };
    let from_client = origin.same_client_as(&ctl.origin)
        || (!origin.muxed()
            && crate::proto::crypto::auth_key_matches(&ctl.token, m.timestamp, &m.privilege_key));
    if !from_client {
        if let Some(left_out) = REFUSED.check() {
            warn!(remote = %peer, client = %ctl.tag, "refused a work connection that did not come by the client's own connection ({left_out} more refusals not logged)");
        }
        return;
    }
    // Plugins see (and may rewrite) the NewWorkConn before it is verified.
    let checked = server
        .plugins
        .call(NewWorkConnContent {
            user: UserInfo::of(&ctl),
            new_work_conn: m,
        })
        .await
        .and_then(|c| {
            let m = c.new_work_conn;
            if ctl.auth_work_conns
                && !crate::proto::crypto::auth_key_matches(
                    &ctl.token,
                    m.timestamp,
                    &m.privilege_key,
                )
            {
                return Err(crate::proto::errors::TOKEN_MISMATCH_WORK_CONN.to_string());
            }
            Ok(())
        });
    if let Err(detail) = checked {
        warn!(remote = %peer, client = %ctl.tag, "invalid NewWorkConn: {detail}");
        let resp = msg::StartWorkConn {
            error: server.client_error(crate::proto::errors::INVALID_NEW_WORK_CONN, &detail),
            ..Default::default()
        };
        let _ = proto::write_msg(&mut conn, &Message::StartWorkConn(resp)).await;
        return;
    }
    ctl.put_work_conn(conn);
}
