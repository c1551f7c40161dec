//! The AES-128-CFB reader (encrypted control channel and proxies): arbitrary bytes decrypt to
//! as many bytes, in any read sizes, without a panic.
#![no_main]
use frp::proto::crypto::derive_key;
use frp::transport::wrap::CryptoStream;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let input = data.to_vec();
    rt.block_on(async move {
        let len = input.len();
        let io = tokio::io::join(std::io::Cursor::new(input), tokio::io::sink());
        let mut r = CryptoStream::new(io, derive_key(b"fuzz"));
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out).await;
        // The first 16 bytes are the IV; everything after it decrypts one to one.
        assert_eq!(out.len(), len.saturating_sub(16));
    });
});
