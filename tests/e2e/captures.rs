//! Byte-exact recordings of Go frp v0.65.0 sessions (tests/fixtures/captures, see its README):
//! our decoder must read what Go writes, our encoder must write what Go writes, and our frps must
//! accept a Go frpc's Login.

use crate::common;

use std::path::PathBuf;

use frp::proto::codec::{decode_frame, encode_frame};
use frp::proto::msg::{self, Message};
use frp::proto::{crypto, read_msg, write_msg};
use frp::transport::wrap::CryptoStream;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

fn dir(scenario: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/captures")
        .join(scenario)
}

fn expected(scenario: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir(scenario).join("expected.json")).unwrap()).unwrap()
}

fn bytes(scenario: &str, file: &str) -> Vec<u8> {
    std::fs::read(dir(scenario).join(file)).unwrap()
}

/// Decode one frame at `offset` and check it against a recorded message object: same type,
/// same length, and our re-encoding of it is byte-identical to Go's JSON.
fn check_frame(buf: &[u8], offset: usize, want: &Value) -> usize {
    let (m, used) = decode_frame(&buf[offset..])
        .unwrap_or_else(|e| panic!("decode at {offset}: {e}"))
        .unwrap_or_else(|| panic!("incomplete frame at {offset}"));
    let ty = want["type"].as_str().unwrap().as_bytes()[0];
    assert_eq!(m.type_byte(), ty, "type at {offset}");
    assert_eq!(m.name(), want["name"].as_str().unwrap());
    assert_eq!(used - 9, want["length"].as_u64().unwrap() as usize);
    let go_json = want["json"].as_str().unwrap();
    let ours = encode_frame(&m);
    assert_eq!(
        std::str::from_utf8(&ours[9..]).unwrap(),
        go_json,
        "re-encoding {} matches Go",
        m.name()
    );
    used
}

fn key(hex_key: &Value) -> [u8; 16] {
    hex::decode(hex_key.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

/// Decrypt a direction from its IV on (one continuous CFB stream) and return the plaintext,
/// padded in front so offsets match the file.
fn decrypt_from(buf: &[u8], iv_offset: usize, k: [u8; 16]) -> Vec<u8> {
    let iv: [u8; 16] = buf[iv_offset..iv_offset + 16].try_into().unwrap();
    let mut plain = buf.to_vec();
    crypto::CfbDecryptor::new(&k, &iv).apply(&mut plain[iv_offset + 16..]);
    plain
}

#[test]
fn control_connections_decode_and_reencode_exactly() {
    for scenario in ["tcp-nomux", "tcp-enc-comp", "udp", "http", "login-fail"] {
        let exp = expected(scenario);
        for conn in exp["connections"].as_array().unwrap() {
            for (dir_name, key_name) in [("c2s", "key_hex_frpc"), ("s2c", "key_hex_frps")] {
                let d = &conn[dir_name];
                let file = conn["files"][dir_name].as_str().unwrap();
                let buf = bytes(scenario, file);
                let mut checked = 0;
                for m in d["plain_messages"].as_array().into_iter().flatten() {
                    check_frame(&buf, m["offset"].as_u64().unwrap() as usize, m);
                    checked += 1;
                }
                if conn["role"] == "control" && d["iv_offset"].is_u64() {
                    let plain = decrypt_from(
                        &buf,
                        d["iv_offset"].as_u64().unwrap() as usize,
                        key(&exp[key_name]),
                    );
                    let msgs = d["encrypted_messages"].as_array().unwrap();
                    for m in msgs {
                        check_frame(&plain, m["offset"].as_u64().unwrap() as usize, m);
                        checked += 1;
                    }
                }
                if !d["plain_messages"]
                    .as_array()
                    .map(|a| a.is_empty())
                    .unwrap_or(true)
                {
                    assert!(checked > 0, "{scenario} {file}");
                }
            }
        }
    }
}

#[test]
fn incremental_decoding_in_recorded_chunk_sizes() {
    // Feed the control connection of tcp-nomux to a CryptoStream + read_msg in the chunk sizes
    // the relay saw, and expect the same messages as expected.json lists.
    let exp = expected("tcp-nomux");
    let events: Value =
        serde_json::from_slice(&std::fs::read(dir("tcp-nomux").join("events.json")).unwrap())
            .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for (dir_name, key_name) in [("c2s", "key_hex_frpc"), ("s2c", "key_hex_frps")] {
        let buf = bytes("tcp-nomux", &format!("conn1.{dir_name}.bin"));
        let chunks: Vec<(usize, usize)> = events
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["conn"] == 1 && e["dir"] == dir_name)
            .map(|e| {
                (
                    e["offset"].as_u64().unwrap() as usize,
                    e["len"].as_u64().unwrap() as usize,
                )
            })
            .collect();
        let d = &exp["connections"][0][dir_name];
        let k = key(&exp[key_name]);
        rt.block_on(async {
            let (mut tx, mut rx) = tokio::io::duplex(64);
            let feed = buf.clone();
            let writer = tokio::spawn(async move {
                for (off, len) in chunks {
                    tx.write_all(&feed[off..off + len]).await.unwrap();
                }
            });
            let first = read_msg(&mut rx).await.unwrap();
            assert_eq!(
                first.name(),
                d["plain_messages"][0]["name"].as_str().unwrap()
            );
            let mut enc = CryptoStream::new(rx, k);
            for m in d["encrypted_messages"].as_array().unwrap() {
                let got = read_msg(&mut enc).await.unwrap();
                assert_eq!(got.name(), m["name"].as_str().unwrap());
            }
            writer.await.unwrap();
        });
    }
}

#[test]
fn our_frps_accepts_a_go_frpc_login() {
    // Replay the Login frame a Go frpc v0.65.0 sent (token 12345678), then speak the encrypted
    // control protocol and register a proxy.
    let exp = expected("tcp-nomux");
    let c2s = bytes("tcp-nomux", "conn1.c2s.bin");
    let login_len = 9 + exp["connections"][0]["c2s"]["plain_messages"][0]["length"]
        .as_u64()
        .unwrap() as usize;
    let go_login = c2s[..login_len].to_vec();

    let bind = common::next_port();
    let _frps = common::start_frps(bind, "auth.token = \"12345678\"\ntransport.tcpMux = false");
    let remote = common::next_port();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", bind))
            .await
            .unwrap();
        conn.write_all(&go_login).await.unwrap();
        let resp = read_msg(&mut conn).await.unwrap();
        let Message::LoginResp(resp) = resp else {
            panic!("expected LoginResp, got {resp:?}")
        };
        assert_eq!(resp.error, "");
        assert_eq!(resp.version, "0.65.0");
        assert_eq!(resp.run_id.len(), 16);
        let mut enc = CryptoStream::new(conn, crypto::derive_key(b"12345678"));
        let np = msg::NewProxy {
            proxy_name: "echo".into(),
            proxy_type: "tcp".into(),
            remote_port: remote as i64,
            ..Default::default()
        };
        write_msg(&mut enc, &Message::NewProxy(np)).await.unwrap();
        // pool_count 1 ⇒ one ReqWorkConn first, then our NewProxyResp.
        let mut saw_req = false;
        loop {
            match read_msg(&mut enc).await.unwrap() {
                Message::ReqWorkConn(_) => saw_req = true,
                Message::NewProxyResp(r) => {
                    assert_eq!(r.proxy_name, "echo");
                    assert_eq!(r.error, "");
                    assert_eq!(r.remote_addr, format!(":{remote}"));
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(saw_req);
    });
}

#[test]
fn a_go_frpc_http_proxy_is_served_by_our_vhost() {
    // Replay a Go frpc v0.65.0's whole control stream of the `http` recording (Login, IV,
    // encrypted NewProxy for type http with customDomains a.test, Ping) into our frps, then act
    // as its work connection and check what our vhost sends against what Go's frps sent.
    let exp = expected("http");
    let c2s = bytes("http", "conn1.c2s.bin");
    let work_exp = &exp["connections"][1];
    let go_request = work_exp["s2c"]["plaintext"]["text"].as_str().unwrap();
    let go_response = work_exp["c2s"]["plaintext"]["text"].as_str().unwrap();

    let bind = common::next_port();
    let vhost = common::next_port();
    let _frps = common::start_frps(
        bind,
        &format!("auth.token = \"12345678\"\ntransport.tcpMux = false\nvhostHTTPPort = {vhost}"),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", bind))
            .await
            .unwrap();
        conn.write_all(&c2s).await.unwrap();
        let Message::LoginResp(login) = read_msg(&mut conn).await.unwrap() else {
            panic!("expected LoginResp")
        };
        let mut ctl = CryptoStream::new(conn, crypto::derive_key(b"12345678"));
        loop {
            match read_msg(&mut ctl).await.unwrap() {
                Message::NewProxyResp(r) => {
                    assert_eq!(r.error, "");
                    // Go's frps answered "a.test:57285" for its vhost port.
                    assert_eq!(r.remote_addr, format!("a.test:{vhost}"));
                    break;
                }
                Message::ReqWorkConn(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        // Our work connection for the proxy, as a Go frpc opens it.
        let mut work = tokio::net::TcpStream::connect(("127.0.0.1", bind))
            .await
            .unwrap();
        let nwc = msg::NewWorkConn {
            run_id: login.run_id.clone(),
            ..Default::default()
        };
        write_msg(&mut work, &Message::NewWorkConn(nwc))
            .await
            .unwrap();
        // The user's request, exactly as in the recording.
        let mut user = tokio::net::TcpStream::connect(("127.0.0.1", vhost))
            .await
            .unwrap();
        user.write_all(
            b"GET /x HTTP/1.1\r\nHost: a.test\r\nUser-Agent: frp-capture\r\nAccept: */*\r\n\r\n",
        )
        .await
        .unwrap();
        let Message::StartWorkConn(start) = read_msg(&mut work).await.unwrap() else {
            panic!("expected StartWorkConn")
        };
        assert_eq!(start.proxy_name, "web");
        assert_eq!(start.src_addr, "127.0.0.1");
        assert!(
            start.dst_addr.is_empty(),
            "http work connections carry no dst"
        );
        // Go's transport adds `Accept-Encoding: gzip` (and then decompresses for the user); we
        // pass the request on as the user sent it. Everything else is byte for byte Go's.
        let want = go_request.replace("Accept-Encoding: gzip\r\n", "");
        let mut got = vec![0u8; want.len()];
        work.read_exact(&mut got).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&got), want);
        work.write_all(go_response.as_bytes()).await.unwrap();
        let mut resp = vec![0u8; 4096];
        let mut text = String::new();
        while !text.ends_with("hello from backend /x\n") {
            let n = user.read(&mut resp).await.unwrap();
            assert!(n > 0, "response: {text}");
            text.push_str(&String::from_utf8_lossy(&resp[..n]));
        }
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    });
}

/// One yamux frame as it travels: the 12-byte header and, for a data frame, its payload.
struct YamuxFrame {
    kind: u8,
    stream: u32,
    bytes: Vec<u8>,
}

impl YamuxFrame {
    fn payload(&self) -> &[u8] {
        &self.bytes[12..]
    }
}

/// Split a recorded direction of a yamux connection into its frames.
fn yamux_frames(mut buf: &[u8]) -> Vec<YamuxFrame> {
    let mut frames = Vec::new();
    while buf.len() >= 12 {
        let kind = buf[1];
        let stream = u32::from_be_bytes(buf[4..8].try_into().unwrap());
        let len = u32::from_be_bytes(buf[8..12].try_into().unwrap()) as usize;
        let total = 12 + if kind == 0 { len } else { 0 };
        frames.push(YamuxFrame {
            kind,
            stream,
            bytes: buf[..total].to_vec(),
        });
        buf = &buf[total..];
    }
    frames
}

/// Read frames from frps until a data frame for `stream` arrives; its payload.
async fn next_data(conn: &mut tokio::net::TcpStream, stream: u32) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    loop {
        let mut head = [0u8; 12];
        conn.read_exact(&mut head).await.unwrap();
        let len = u32::from_be_bytes(head[8..12].try_into().unwrap()) as usize;
        if head[1] != 0 {
            continue; // window update, ping, go away: no payload
        }
        let mut payload = vec![0u8; len];
        conn.read_exact(&mut payload).await.unwrap();
        if u32::from_be_bytes(head[4..8].try_into().unwrap()) == stream {
            return payload;
        }
    }
}

#[test]
fn a_go_frpc_mux_session_keeps_its_work_connections() {
    // Go frpc v0.65.0 with tcpMux (the default) opens its work connections as streams of the
    // yamux session that carried its Login; our frps accepts work connections from nowhere else.
    // Replay that session's frames (stream 1: Login, IV, encrypted NewProxy; streams 3 and 5:
    // NewWorkConn) into our frps, with its run id and our remote port put in the recorded
    // bytes (same lengths, so the frames stay valid), then check a user's connection is handed
    // to one of the recorded work streams.
    let exp = expected("tcp-mux");
    let frames = yamux_frames(&bytes("tcp-mux", "conn1.c2s.bin"));
    let go_run_id = "a903c9dc28eaff5f";
    let go_port = "51309";
    assert_eq!(
        exp["connections"][0]["streams"][0]["s2c"]["plain_messages"][0]["body"]["run_id"],
        go_run_id
    );
    // Every NewWorkConn of the recording is on a stream of this one connection.
    let work_streams: Vec<u32> = frames
        .iter()
        .filter(|f| f.kind == 0 && f.payload().first() == Some(&b'w'))
        .map(|f| f.stream)
        .collect();
    assert_eq!(work_streams, [3, 5]);

    let bind = common::next_port();
    let remote = common::next_port();
    let _frps = common::start_frps(bind, "auth.token = \"12345678\"");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let replay = async move {
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", bind))
            .await
            .unwrap();
        // Stream 1's SYN and the Login; frps answers with LoginResp on stream 1.
        for f in &frames[..2] {
            conn.write_all(&f.bytes).await.unwrap();
        }
        let answer = next_data(&mut conn, 1).await;
        let (Message::LoginResp(login), used) = decode_frame(&answer).unwrap().unwrap() else {
            panic!("expected LoginResp")
        };
        assert_eq!(login.error, "");
        assert_eq!(login.run_id.len(), go_run_id.len());
        let mut rest_of_stream_1 = answer[used..].to_vec();

        // The rest up to the echo traffic: NewWorkConn (3), IV and NewProxy (1), NewWorkConn (5).
        let key = crypto::derive_key(b"12345678");
        let mut iv = [0u8; 16];
        for f in &frames[2..8] {
            let mut bytes = f.bytes.clone();
            let payload = &mut bytes[12..];
            if payload.first() == Some(&b'w') {
                let text = String::from_utf8(payload.to_vec()).unwrap();
                payload.copy_from_slice(text.replace(go_run_id, &login.run_id).as_bytes());
            } else if f.stream == 1 && payload.len() == 16 {
                iv.copy_from_slice(payload);
            } else if f.stream == 1 {
                // The encrypted NewProxy: decrypt, put our port in, encrypt again.
                crypto::CfbDecryptor::new(&key, &iv).apply(payload);
                let text =
                    String::from_utf8_lossy(&payload[9..]).replace(go_port, &remote.to_string());
                payload[9..].copy_from_slice(text.as_bytes());
                crypto::CfbEncryptor::new(&key, &iv).apply(payload);
            }
            conn.write_all(&bytes).await.unwrap();
        }

        // frps's IV, then (encrypted) ReqWorkConn and NewProxyResp for our port.
        while rest_of_stream_1.len() < 16 {
            rest_of_stream_1.extend(next_data(&mut conn, 1).await);
        }
        let frps_iv: [u8; 16] = rest_of_stream_1[..16].try_into().unwrap();
        let mut decrypt = crypto::CfbDecryptor::new(&key, &frps_iv);
        let mut plain = rest_of_stream_1[16..].to_vec();
        decrypt.apply(&mut plain);
        let resp = loop {
            if let Some((m, used)) = decode_frame(&plain).unwrap() {
                plain.drain(..used);
                match m {
                    Message::NewProxyResp(r) => break r,
                    Message::ReqWorkConn(_) => continue,
                    other => panic!("unexpected {other:?}"),
                }
            }
            let mut more = next_data(&mut conn, 1).await;
            decrypt.apply(&mut more);
            plain.extend(more);
        };
        assert_eq!(resp.error, "");
        assert_eq!(resp.remote_addr, format!(":{remote}"));

        // A user of the proxy: frps hands the connection to a recorded work stream.
        let _user = tokio::net::TcpStream::connect(("127.0.0.1", remote))
            .await
            .unwrap();
        let start = loop {
            use tokio::io::AsyncReadExt;
            let mut head = [0u8; 12];
            conn.read_exact(&mut head).await.unwrap();
            let stream = u32::from_be_bytes(head[4..8].try_into().unwrap());
            let len = u32::from_be_bytes(head[8..12].try_into().unwrap()) as usize;
            if head[1] != 0 {
                continue;
            }
            let mut payload = vec![0u8; len];
            conn.read_exact(&mut payload).await.unwrap();
            if stream == 3 || stream == 5 {
                break decode_frame(&payload).unwrap().unwrap().0;
            }
        };
        let Message::StartWorkConn(start) = start else {
            panic!("expected StartWorkConn, got {start:?}")
        };
        assert_eq!(start.proxy_name, "echo");
    };
    rt.block_on(async { tokio::time::timeout(std::time::Duration::from_secs(30), replay).await })
        .expect("the replay is answered within 30 s");
}
