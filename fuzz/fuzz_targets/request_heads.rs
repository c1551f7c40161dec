//! The request heads frps parses itself: tcpmux's CONNECT head, the TLS ClientHello read for
//! SNI routing (https), and HTTP basic credentials.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    frp::server::vhost::tcpmux::fuzz_parse_connect(data);
    if let Ok(v) = hyper::header::HeaderValue::from_bytes(data) {
        let _ = frp::web::basic_credentials(&v, false);
        let _ = frp::web::basic_credentials(&v, true);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut r = data;
        let _ = frp::server::vhost::sni::read_client_hello(&mut r).await;
    });
});
