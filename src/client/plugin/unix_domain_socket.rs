//! `unix_domain_socket`: each work connection spliced to the unix socket `unixPath`, after the
//! PROXY protocol header when the proxy sends one (the only plugin that writes it, as in frp).

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tracing::{debug, warn};

use super::{ConnInfo, Opts};
use crate::transport::{splice, BoxStream};

pub struct UnixDomainSocket {
    path: PathBuf,
}

pub(super) fn new(o: &Opts) -> Result<UnixDomainSocket, String> {
    Ok(UnixDomainSocket {
        path: PathBuf::from(o.required("unixPath")?),
    })
}

impl UnixDomainSocket {
    pub async fn handle(&self, proxy_name: &str, mut work: BoxStream, info: ConnInfo) {
        let mut local = match UnixStream::connect(&self.path).await {
            Ok(s) => s,
            Err(e) => {
                warn!(proxy_name = %proxy_name, "connect to unix socket {} error: {e}", self.path.display());
                return;
            }
        };
        if let Some(h) = &info.proxy_protocol_header {
            if local.write_all(h).await.is_err() {
                return;
            }
        }
        match splice::splice(&mut work, &mut local).await {
            Ok((down, up)) => {
                debug!(proxy_name = %proxy_name, "unix socket connection closed, {down} bytes to local, {up} bytes back")
            }
            Err(e) => debug!(proxy_name = %proxy_name, "unix socket connection closed: {e}"),
        }
    }
}
