//! STUN decoding (xtcp's NAT discovery): binding requests and responses from any peer.
#![no_main]
use frp::nathole::stun::{parse_binding_request, parse_binding_response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_binding_request(data);
    // The transaction id the response must carry: the one in the input, so that the fuzzer
    // reaches the attribute parsing.
    if data.len() >= 20 {
        let tid = data[8..20].try_into().unwrap();
        let _ = parse_binding_response(data, &tid);
    }
});
