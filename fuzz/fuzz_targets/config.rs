//! The config loaders: TOML, YAML, JSON and legacy INI (told apart by content, as frps and
//! frpc do), for both frps and frpc, each strict and lenient. A file gives a config or an
//! error, never a panic or a hang.
#![no_main]
use std::io::Write;

use frp::config::load::{load_client_with, load_server_with, LoadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the file's name (its extension is a hint for the format).
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let name = ["frp.toml", "frp.yaml", "frp.json", "frp.ini"][pick as usize % 4];
    let dir = std::env::temp_dir().join(format!("frp-fuzz-config-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(name);
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(text).is_err() {
        return;
    }
    drop(f);
    for strict in [true, false] {
        let opts = LoadOptions { strict };
        let _ = load_server_with(&path, opts);
        let _ = load_client_with(&path, opts);
    }
});
