//! The yamux reader: frps's session fed arbitrary bytes from a client (then end of input).
//! The session must end cleanly (no panic, no hang), whatever the frames say; every stream it
//! accepts is read to its end. Time is paused, so timers fire at once when all is idle.
#![no_main]
use frp::transport::mux::{Mode, MuxConfig, Session};
use libfuzzer_sys::fuzz_target;
use tokio::io::AsyncReadExt;

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let input = data.to_vec();
    rt.block_on(async move {
        let io = tokio::io::join(std::io::Cursor::new(input), tokio::io::sink());
        let session = Session::new(io, Mode::Server, MuxConfig::default());
        let mut readers = Vec::new();
        while let Some(mut stream) = session.accept().await {
            readers.push(tokio::spawn(async move {
                let mut buf = Vec::new();
                let _ = stream.read_to_end(&mut buf).await;
            }));
        }
        session.closed().await;
        for r in readers {
            let _ = r.await;
        }
    });
});
