//! Per-proxy stream wrapping layers (spec §8.1–§8.4): AES-128-CFB encryption, snappy framing
//! compression and the bandwidth limiter.
//!
//! Wrapping order (§8.1): `application ⇄ snappy ⇄ crypto ⇄ stream`, i.e. writes are compressed
//! first and then encrypted, reads are decrypted first and then decompressed. See [`wrap`].
//!
//! Write-side contract shared by [`CryptoStream`] and [`SnappyStream`]: `poll_write` transforms
//! (at most one 64 KiB chunk of) the caller's bytes into an internal reusable buffer, tries to
//! push it to the inner stream at once and returns `Ok(n)` as soon as the transformed bytes are
//! queued. Queued bytes are drained before the next chunk is accepted and by
//! `poll_flush`/`poll_shutdown`; as with any `AsyncWrite`, call `flush` before waiting for an
//! answer (tokio's `copy`/`copy_bidirectional` do).

mod crypto_stream;
mod limit;
mod snappy;
#[cfg(test)]
mod tests;

pub use crypto_stream::CryptoStream;
pub use limit::{parse_bandwidth, LimitedStream, Limiter};
pub use snappy::SnappyStream;

use crate::transport::BoxStream;

/// Applies the per-proxy layers to `stream` (the connection after the StartWorkConn /
/// NewVisitorConnResp frame): `app ⇄ [snappy if compression] ⇄ [AES-CFB if encryption] ⇄
/// stream`. `key` is `derive_key(token)` for work connections and `derive_key(secretKey)` for
/// visitor legs.
pub fn wrap(stream: BoxStream, key: &[u8; 16], encryption: bool, compression: bool) -> BoxStream {
    match (encryption, compression) {
        (false, false) => stream,
        (true, false) => Box::new(CryptoStream::new(stream, *key)),
        (false, true) => Box::new(SnappyStream::new(stream)),
        (true, true) => Box::new(SnappyStream::new(CryptoStream::new(stream, *key))),
    }
}
