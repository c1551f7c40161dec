//! Message JSON decoding: a known type byte with arbitrary JSON-ish text (the frame header is
//! built here, so the fuzzer spends its time in the JSON).
#![no_main]
use frp::proto::codec::{decode_frame, encode_frame};
use libfuzzer_sys::fuzz_target;

/// The type bytes of frp's messages (protocol.md §4).
const TYPES: &[u8] = b"o1p2cwrsv3h4uinm56";

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let mut frame = vec![TYPES[pick as usize % TYPES.len()]];
    frame.extend_from_slice(&(json.len() as i64).to_be_bytes());
    frame.extend_from_slice(json);
    if let Ok(Some((msg, _))) = decode_frame(&frame) {
        let again = encode_frame(&msg);
        let (back, _) = decode_frame(&again).unwrap().unwrap();
        assert_eq!(back, msg);
    }
});
