//! The snappy framing reader (compressed proxies): arbitrary bytes give an error or data,
//! never a panic, and the output of one chunk is bounded (no decompression bomb).
#![no_main]
use frp::transport::wrap::SnappyStream;
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let input = data.to_vec();
    rt.block_on(async move {
        let chunks = input.len() / 4 + 1;
        let io = tokio::io::join(std::io::Cursor::new(input), tokio::io::sink());
        let mut r = SnappyStream::new(io);
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out).await;
        // A chunk (4-byte header at least) decodes to at most 64 KiB.
        assert!(out.len() <= chunks * 65536);
    });
});
