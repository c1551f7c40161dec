//! Copy bytes both ways between two streams until both directions are done (with half-close).

use tokio::io::{AsyncRead, AsyncWrite};

/// Size of each direction's copy buffer; large buffers keep syscalls and mux frames few.
pub const SPLICE_BUF: usize = 128 * 1024;

/// Returns (bytes a→b, bytes b→a). Each side's EOF shuts down writing on the other side, so
/// half-closed connections keep working in the other direction.
pub async fn splice<A, B>(a: &mut A, b: &mut B) -> std::io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    tokio::io::copy_bidirectional_with_sizes(a, b, SPLICE_BUF, SPLICE_BUF).await
}
