//! The frame codec (type byte, 8-byte length, JSON): whatever the bytes, decoding returns a
//! message or an error, never panics; a decoded message encodes and decodes to itself.
#![no_main]
use frp::proto::codec::{decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((msg, used))) = decode_frame(data) {
        assert!(used <= data.len());
        let again = encode_frame(&msg);
        let (back, n) = decode_frame(&again)
            .expect("our encoding decodes")
            .expect("complete");
        assert_eq!(n, again.len());
        assert_eq!(back, msg);
    }
});
