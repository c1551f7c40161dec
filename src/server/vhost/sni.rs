//! Reading a TLS ClientHello far enough to learn its server name (SNI), without terminating TLS
//! (https proxies, protocol.md §10.4). The bytes read are kept to be replayed to the backend.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// A TLS record carries at most 2^14 bytes of plaintext (plus a little slack for old stacks);
/// a ClientHello larger than one record is refused.
const MAX_RECORD: usize = 16384 + 2048;

/// The fatal `unrecognized_name` (112) alert frps answers when no route has the name.
pub const UNRECOGNIZED_NAME_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x70];

/// Read the first TLS record from `r`; returns the bytes read and the lower-cased server name
/// (empty when the hello has none). Errors on anything that is not a ClientHello.
pub async fn read_client_hello<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<(Vec<u8>, String)> {
    let mut buf = vec![0u8; 5];
    r.read_exact(&mut buf).await?;
    if buf[0] != 0x16 {
        return Err(bad("not a TLS handshake record"));
    }
    let len = usize::from(u16::from_be_bytes([buf[3], buf[4]]));
    if len > MAX_RECORD {
        return Err(bad("TLS record too large"));
    }
    buf.resize(5 + len, 0);
    r.read_exact(&mut buf[5..]).await?;
    let name = server_name(&buf[5..]).ok_or_else(|| bad("malformed ClientHello"))?;
    Ok((buf, name))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A cursor over a byte slice that never reads past its end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

/// The host_name of the server_name extension of a ClientHello handshake message (which may be
/// cut short by the record end: the extensions must fit in this record). `Some("")` when the
/// hello is well formed but names no server.
fn server_name(hs: &[u8]) -> Option<String> {
    let mut c = Cursor(hs);
    if c.u8()? != 1 {
        return None; // not a ClientHello
    }
    let body_len = c.u24()?;
    let mut c = Cursor(c.take(body_len.min(c.0.len()))?);
    c.take(2 + 32)?; // client_version, random
    let n = c.u8()?;
    c.take(n)?; // session id
    let n = c.u16()?;
    c.take(n)?; // cipher suites
    let n = c.u8()?;
    c.take(n)?; // compression methods
    if c.0.is_empty() {
        return Some(String::new());
    }
    let n = c.u16()?;
    let mut ext = Cursor(c.take(n)?);
    while !ext.0.is_empty() {
        let kind = ext.u16()?;
        let n = ext.u16()?;
        let data = ext.take(n)?;
        if kind != 0 {
            continue;
        }
        let mut list = Cursor(data);
        let n = list.u16()?;
        let mut list = Cursor(list.take(n)?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let n = list.u16()?;
            let name = list.take(n)?;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                return Some(name.trim_end_matches('.').to_ascii_lowercase());
            }
        }
    }
    Some(String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as rustls writes it, for `name`.
    fn hello(name: &str) -> Vec<u8> {
        use std::sync::Arc;
        let roots = rustls::RootCertStore::empty();
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let server = rustls::pki_types::ServerName::try_from(name.to_string()).expect("name");
        let mut conn = rustls::ClientConnection::new(Arc::new(cfg), server).expect("conn");
        let mut out = Vec::new();
        conn.write_tls(&mut out).expect("write");
        out
    }

    #[tokio::test]
    async fn reads_the_name_and_keeps_the_bytes() {
        let bytes = hello("App.Example.com");
        let (read, name) = read_client_hello(&mut &bytes[..]).await.expect("hello");
        assert_eq!(name, "app.example.com");
        assert_eq!(read, bytes);
    }

    #[tokio::test]
    async fn refuses_garbage_and_truncation() {
        assert!(read_client_hello(&mut &b"GET / HTTP/1.1\r\n"[..])
            .await
            .is_err());
        let bytes = hello("a.test");
        assert!(read_client_hello(&mut &bytes[..bytes.len() - 10])
            .await
            .is_err());
        let mut cut = bytes.clone();
        cut[5] = 2; // ServerHello
        assert!(read_client_hello(&mut &cut[..]).await.is_err());
    }
}
