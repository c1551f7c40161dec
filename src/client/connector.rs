//! frpc's way to frps (protocol.md §1, §2): a TCP dial, the optional 0x17 byte and TLS, then
//! either one yamux session whose streams are the logical connections, or (tcpMux off) a new
//! physical connection per logical connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio_rustls::TlsConnector;

use crate::config::ClientConfig;
use crate::transport::mux::{self, MuxConfig};
use crate::transport::tls::{ClientTls, CUSTOM_TLS_FIRST_BYTE};
use crate::transport::{tcp, BoxStream};

pub struct Connector {
    cfg: Arc<ClientConfig>,
    tls: Option<Arc<ClientTls>>,
    session: Option<mux::Session>,
}

impl Connector {
    /// Establish the physical connection (and yamux session when tcpMux is on).
    pub async fn connect(
        cfg: Arc<ClientConfig>,
        tls: Option<Arc<ClientTls>>,
    ) -> io::Result<Connector> {
        let session = if cfg.transport.tcp_mux {
            let conn = dial_physical(&cfg, tls.as_deref()).await?;
            let interval = cfg.transport.tcp_mux_keepalive_interval;
            let mux_cfg = MuxConfig {
                keepalive_interval: (interval > 0).then(|| Duration::from_secs(interval as u64)),
                ..MuxConfig::default()
            };
            Some(mux::Session::new(conn, mux::Mode::Client, mux_cfg))
        } else {
            None
        };
        Ok(Connector { cfg, tls, session })
    }

    /// Open a logical connection: a new stream, or a new physical connection.
    pub async fn open(&self) -> io::Result<BoxStream> {
        match &self.session {
            Some(s) => Ok(Box::new(s.open().await?)),
            None => dial_physical(&self.cfg, self.tls.as_deref()).await,
        }
    }

    pub fn close(&self) {
        if let Some(s) = &self.session {
            s.close();
        }
    }

    /// Resolves when the yamux session dies; never without tcpMux (the control stream's own
    /// read error tells then).
    pub async fn closed(&self) {
        match &self.session {
            Some(s) => s.closed().await,
            None => std::future::pending().await,
        }
    }
}

async fn dial_physical(cfg: &ClientConfig, tls: Option<&ClientTls>) -> io::Result<BoxStream> {
    let t = &cfg.transport;
    let local_ip = if t.connect_server_local_ip.is_empty() {
        None
    } else {
        Some(t.connect_server_local_ip.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid connectServerLocalIP '{}'",
                    t.connect_server_local_ip
                ),
            )
        })?)
    };
    let port = u16::try_from(cfg.server_port)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "invalid serverPort"))?;
    let mut stream = tcp::dial(
        &cfg.server_addr,
        port,
        Duration::from_secs(t.dial_server_timeout.max(1) as u64),
        local_ip,
        t.dial_server_keepalive,
    )
    .await?;
    let Some(tls) = tls else {
        return Ok(Box::new(stream));
    };
    if !t.tls.disable_custom_tls_first_byte {
        stream.write_all(&[CUSTOM_TLS_FIRST_BYTE]).await?;
    }
    let connector = TlsConnector::from(tls.config.clone());
    let tls_stream = connector.connect(tls.server_name.clone(), stream).await?;
    Ok(Box::new(tls_stream))
}
