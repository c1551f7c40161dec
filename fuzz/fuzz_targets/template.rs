//! The Go-template engine configs are rendered with ({{ .Envs.X }}, parseNumberRange, ...).
#![no_main]
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let envs = BTreeMap::from([
        ("HOME".to_string(), "/root".to_string()),
        ("PORT".to_string(), "7000".to_string()),
    ]);
    let _ = frp::config::template::render(text, &envs, true);
    let _ = frp::config::template::render(text, &envs, false);
});
