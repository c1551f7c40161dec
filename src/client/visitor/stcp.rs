//! stcp visitors (protocol.md §10.6): every connection accepted on `bindAddr:bindPort` (or
//! handed over by another visitor) becomes one visitor connection to frps, spliced.

use crate::transport::accept::Acceptor;
use std::sync::Arc;

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
    mut listener: Option<Acceptor>,
    mut handed: mpsc::Receiver<BoxStream>,
) {
    loop {
        let user: BoxStream = tokio::select! {
            // Cancel-safe: a connection is never lost between two polls.
            a = super::accept(listener.as_mut()) => {
                debug!(visitor = %cfg.name, remote = %a.peer, "get a new stcp user connection");
                Box::new(a.stream)
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
