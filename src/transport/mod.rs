//! Transports: TCP dialing, TLS, yamux multiplexing and the per-proxy wrapping layers.

pub mod accept;
pub mod mux;
pub mod prefixed;
pub mod proxy_protocol;
pub mod splice;
pub mod tcp;
pub mod tls;
pub mod wrap;

use tokio::io::{AsyncRead, AsyncWrite};

/// Any bidirectional byte stream we can carry frp traffic over.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}

/// A type-erased stream: TCP, TLS over TCP, a yamux stream, or any of those wrapped.
pub type BoxStream = Box<dyn AsyncStream>;
