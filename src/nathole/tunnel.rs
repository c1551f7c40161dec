//! The xtcp tunnel over a punched UDP socket (protocol.md §10.8 step 9, `quic`): the proxy side
//! (P) is a QUIC server with a fresh self-signed certificate and accepts one connection, from the
//! punched peer; the visitor side (V) is the client, without certificate verification. ALPN
//! `frp` on both. Each user connection is one bidirectional stream opened by V, carrying raw
//! bytes that the caller wraps with §8 (`transport::wrap::wrap` with the secretKey).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::config::types::QuicConfig;
use crate::transport::BoxStream;

/// ALPN of frp's QUIC connections.
pub const ALPN: &[u8] = b"frp";

/// quic-go's default for `MaxIncomingStreams` when the setting is 0.
const QUIC_GO_DEFAULT_STREAMS: u32 = 100;

/// The QUIC transport settings of `transport.quic.*`, mapped the way quic-go reads them:
/// `maxIdleTimeout` 0 = 30 s; `keepalivePeriod` 0 or less = no keepalive; `maxIncomingStreams`
/// 0 = 100, negative = none.
pub fn transport_config(q: &QuicConfig) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    let idle = if q.max_idle_timeout > 0 {
        Duration::from_secs(q.max_idle_timeout.unsigned_abs())
    } else {
        Duration::from_secs(30)
    };
    t.max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok());
    t.keep_alive_interval(if q.keepalive_period > 0 {
        Some(Duration::from_secs(q.keepalive_period.unsigned_abs()))
    } else {
        None
    });
    let streams = match q.max_incoming_streams {
        0 => QUIC_GO_DEFAULT_STREAMS,
        n if n < 0 => 0,
        n => u32::try_from(n).unwrap_or(u32::MAX),
    };
    t.max_concurrent_bidi_streams(streams.into());
    t.max_concurrent_uni_streams(0u8.into());
    t
}

fn endpoint(
    socket: tokio::net::UdpSocket,
    server: Option<quinn::ServerConfig>,
) -> io::Result<quinn::Endpoint> {
    let socket = socket.into_std()?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

/// P's end: the accepted QUIC connection; [`QuicServer::accept`] yields V's streams.
pub struct QuicServer {
    conn: quinn::Connection,
    endpoint: quinn::Endpoint,
}

impl QuicServer {
    /// Serves QUIC on the punched `socket` and accepts one connection from `peer` (others are
    /// refused), waiting at most `timeout`.
    pub async fn accept_from(
        socket: tokio::net::UdpSocket,
        peer: SocketAddr,
        quic: &QuicConfig,
        timeout: Duration,
    ) -> io::Result<QuicServer> {
        let mut tls = (*crate::transport::tls::server_config("", "", "")?).clone();
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = QuicServerConfig::try_from(tls).map_err(io::Error::other)?;
        let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        config.transport_config(Arc::new(transport_config(quic)));
        let endpoint = endpoint(socket, Some(config))?;
        let conn = tokio::time::timeout(timeout, async {
            loop {
                let Some(incoming) = endpoint.accept().await else {
                    return Err(io::Error::other("quic endpoint closed"));
                };
                if incoming.remote_address() != peer {
                    tracing::debug!(
                        "refusing quic connection from {} (tunnel peer is {peer})",
                        incoming.remote_address()
                    );
                    incoming.refuse();
                    continue;
                }
                match incoming.await {
                    Ok(conn) => return Ok(conn),
                    Err(e) => return Err(io::Error::other(format!("quic handshake: {e}"))),
                }
            }
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "quic accept timeout"))??;
        Ok(QuicServer { conn, endpoint })
    }

    /// The next stream V opened; an error once the connection is gone.
    pub async fn accept(&self) -> io::Result<QuicStream> {
        let (send, recv) = self.conn.accept_bi().await.map_err(io::Error::other)?;
        Ok(QuicStream {
            send,
            recv,
            _conn: self.conn.clone(),
            _endpoint: self.endpoint.clone(),
        })
    }

    pub fn remote_address(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// Closes the connection with application error code 0.
    pub fn close(&self) {
        self.conn.close(0u8.into(), b"");
    }
}

/// V's end: the QUIC connection to P; [`QuicClient::open`] makes one stream per user connection.
pub struct QuicClient {
    conn: quinn::Connection,
    endpoint: quinn::Endpoint,
}

impl QuicClient {
    /// Connects over the punched `socket` to `peer` (no certificate verification, no SNI for an
    /// IP), waiting at most `timeout` for the handshake.
    pub async fn connect(
        socket: tokio::net::UdpSocket,
        peer: SocketAddr,
        quic: &QuicConfig,
        timeout: Duration,
    ) -> io::Result<QuicClient> {
        let tls = crate::transport::tls::client_config(&peer.ip().to_string(), "", "", "")?;
        let mut rustls_config = (*tls.config).clone();
        rustls_config.alpn_protocols = vec![ALPN.to_vec()];
        let crypto = QuicClientConfig::try_from(rustls_config).map_err(io::Error::other)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(Arc::new(transport_config(quic)));
        let endpoint = endpoint(socket, None)?;
        let connecting = endpoint
            .connect_with(config, peer, &peer.ip().to_string())
            .map_err(io::Error::other)?;
        let conn = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "quic handshake timeout"))?
            .map_err(|e| io::Error::other(format!("dial quic error: {e}")))?;
        Ok(QuicClient { conn, endpoint })
    }

    /// Opens one bidirectional stream (the tunnel for one user connection).
    pub async fn open(&self) -> io::Result<QuicStream> {
        let (send, recv) = self.conn.open_bi().await.map_err(io::Error::other)?;
        Ok(QuicStream {
            send,
            recv,
            _conn: self.conn.clone(),
            _endpoint: self.endpoint.clone(),
        })
    }

    /// True once the connection has failed or was closed (the visitor then punches again).
    pub fn is_closed(&self) -> bool {
        self.conn.close_reason().is_some()
    }

    /// Closes the connection with application error code 0.
    pub fn close(&self) {
        self.conn.close(0u8.into(), b"");
    }
}

/// One QUIC bidirectional stream as a byte stream. Dropping it finishes the send side and stops
/// the receive side with code 0 (frp: `CancelRead(0)`, `Close()`); it keeps its connection and
/// endpoint alive while it exists.
pub struct QuicStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    _conn: quinn::Connection,
    _endpoint: quinn::Endpoint,
}

impl QuicStream {
    pub fn boxed(self) -> BoxStream {
        Box::new(self)
    }
}

impl AsyncRead for QuicStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.recv).poll_read(cx, buf)
    }
}

impl AsyncWrite for QuicStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        AsyncWrite::poll_write(Pin::new(&mut self.send), cx, buf).map_err(io::Error::from)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.send), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.send), cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn streams_both_ways_with_wrapping() {
        let a = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let q = QuicConfig::default();
        let t = Duration::from_secs(10);
        let (server, client) = tokio::join!(
            QuicServer::accept_from(a, ba, &q, t),
            QuicClient::connect(b, aa, &q, t)
        );
        let (server, client) = (server.unwrap(), client.unwrap());
        assert_eq!(server.remote_address(), ba);
        let key = crate::proto::crypto::derive_key(b"abcdefg");
        let echo = tokio::spawn(async move {
            for _ in 0..2 {
                let s = server.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut s = crate::transport::wrap::wrap(s.boxed(), &key, true, true);
                    let mut buf = vec![0u8; 65536];
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                        s.flush().await.unwrap();
                    }
                    s.shutdown().await.unwrap();
                });
            }
            server
        });
        for round in 0..2u8 {
            let s = client.open().await.unwrap();
            let s = crate::transport::wrap::wrap(s.boxed(), &key, true, true);
            let data: Vec<u8> = (0..200_000u32).map(|i| (i as u8) ^ round).collect();
            let (mut r, mut w) = tokio::io::split(s);
            let d2 = data.clone();
            let writer = tokio::spawn(async move {
                w.write_all(&d2).await.unwrap();
                w.flush().await.unwrap();
                w.shutdown().await.unwrap();
            });
            let mut got = Vec::new();
            r.read_to_end(&mut got).await.unwrap();
            writer.await.unwrap();
            assert_eq!(got, data);
        }
        let server = echo.await.unwrap();
        client.close();
        assert!(server.accept().await.is_err());
    }
}
