//! stcp visitors (protocol.md §10.6): every connection accepted on `bindAddr:bindPort` (or
//! handed over by another visitor) becomes one visitor connection to frps, spliced.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{connect, Ctx, Started, HANDOVER_QUEUE};
use crate::config::proxy::VisitorConfig;
use crate::transport::{splice, BoxStream};

/// Bind the listener (none for a negative `bindPort`) and start accepting.
pub fn start(cfg: &Arc<VisitorConfig>, ctx: Ctx) -> Result<Started, String> {
    let listener = super::bind_listener(cfg, "stcp")?;
    let (tx, rx) = mpsc::channel(HANDOVER_QUEUE);
    let task = tokio::spawn(run(cfg.clone(), ctx, listener, rx));
    Ok(Started {
        task,
        handover: Some(tx),
    })
}

async fn run(
    cfg: Arc<VisitorConfig>,
    ctx: Ctx,
    listener: Option<TcpListener>,
    mut handed: mpsc::Receiver<BoxStream>,
) {
    loop {
        let user: BoxStream = tokio::select! {
            // Cancel-safe: a connection is never lost between two polls.
            a = accept(listener.as_ref()) => {
                match a {
                    Ok((s, peer)) => {
                        let _ = s.set_nodelay(true);
                        debug!(visitor = %cfg.name, remote = %peer, "get a new stcp user connection");
                        Box::new(s)
                    }
                    Err(e) => {
                        warn!(visitor = %cfg.name, "accept error: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            Some(c) = handed.recv() => c,
            _ = ctx.cancel.cancelled() => {
                debug!(visitor = %cfg.name, "stcp visitor closed");
                return;
            }
        };
        tokio::spawn(serve(cfg.clone(), ctx.clone(), user));
    }
}

async fn accept(
    l: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, std::net::SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// One user connection: a visitor connection to frps, then bytes both ways. It outlives a
/// reload of its visitor (as in frp) but not the session.
pub async fn serve(cfg: Arc<VisitorConfig>, ctx: Ctx, mut user: BoxStream) {
    let end = ctx.session.cancel.clone();
    let run = async {
        let mut remote = match connect(&ctx, &cfg).await {
            Ok(r) => r,
            Err(e) => {
                warn!(visitor = %cfg.name, "{e}");
                return;
            }
        };
        match splice::splice(&mut user, &mut remote).await {
            Ok((up, down)) => {
                debug!(visitor = %cfg.name, "stcp visitor connection closed, {up} bytes out, {down} bytes in")
            }
            Err(e) => debug!(visitor = %cfg.name, "stcp visitor connection closed: {e}"),
        }
    };
    tokio::select! {
        _ = run => {}
        _ = end.cancelled() => {}
    }
}
