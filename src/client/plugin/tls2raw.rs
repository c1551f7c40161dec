//! `tls2raw`: TLS terminated on the work connection (`crtPath`/`keyPath`, or a self-signed
//! certificate), the plaintext spliced to the TCP service at `localAddr`.

use std::time::Duration;

use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::{http, server_tls, Opts};
use crate::transport::{splice, BoxStream};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Tls2Raw {
    acceptor: TlsAcceptor,
    local_addr: String,
}

pub(super) fn new(o: &Opts) -> Result<Tls2Raw, String> {
    let local_addr = o.required("localAddr")?;
    Ok(Tls2Raw {
        acceptor: server_tls(o, &[])?,
        local_addr,
    })
}

impl Tls2Raw {
    pub async fn handle(&self, proxy_name: &str, work: BoxStream) {
        let mut tls =
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, self.acceptor.accept(work)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    warn!(proxy_name = %proxy_name, "tls handshake error: {e}");
                    return;
                }
                Err(_) => {
                    warn!(proxy_name = %proxy_name, "tls handshake error: timeout");
                    return;
                }
            };
        let mut local = match http::dial(&self.local_addr, 0).await {
            Ok(s) => s,
            Err(e) => {
                warn!(proxy_name = %proxy_name, "dial to local addr error: {e}");
                return;
            }
        };
        match splice::splice(&mut tls, &mut local).await {
            Ok((down, up)) => {
                debug!(proxy_name = %proxy_name, "tls2raw connection closed, {down} bytes to local, {up} bytes back")
            }
            Err(e) => debug!(proxy_name = %proxy_name, "tls2raw connection closed: {e}"),
        }
    }
}
