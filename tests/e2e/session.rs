//! Control-session rules of our frps, driven by a raw protocol client (the library's codec over
//! a plain TCP connection, tcpMux off), so exact messages can be sent and observed.

use crate::common;

use std::time::{Duration, Instant};

use frp::proto::crypto::{auth_key, derive_key};
use frp::proto::msg::{self, Message};
use frp::proto::{read_msg, write_msg};
use frp::transport::wrap::CryptoStream;
use tokio::net::TcpStream;

type Control = CryptoStream<TcpStream>;

async fn login(port: u16, token: &str, run_id: &str) -> (Control, msg::LoginResp) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let ts = frp::unix_now();
    let login = msg::Login {
        version: "0.65.0".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        privilege_key: auth_key(token, ts),
        timestamp: ts,
        run_id: run_id.into(),
        pool_count: 1,
        ..Default::default()
    };
    write_msg(&mut conn, &Message::Login(login)).await.unwrap();
    let Message::LoginResp(resp) = read_msg(&mut conn).await.unwrap() else {
        panic!("no LoginResp")
    };
    (CryptoStream::new(conn, derive_key(token.as_bytes())), resp)
}

/// Send NewProxy and return the NewProxyResp (skipping ReqWorkConn and Pong).
async fn new_proxy(ctl: &mut Control, name: &str, port: u16) -> msg::NewProxyResp {
    let np = msg::NewProxy {
        proxy_name: name.into(),
        proxy_type: "tcp".into(),
        remote_port: port as i64,
        ..Default::default()
    };
    write_msg(ctl, &Message::NewProxy(np)).await.unwrap();
    loop {
        match read_msg(ctl).await.unwrap() {
            Message::NewProxyResp(r) => return r,
            Message::ReqWorkConn(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn same_run_id_replaces_the_stale_session() {
    let bind = common::next_port();
    let _frps = common::start_frps(bind, "auth.token = \"t\"\ntransport.tcpMux = false");
    let port = common::next_port();
    rt().block_on(async {
        let (mut a, resp) = login(bind, "t", "").await;
        assert_eq!(resp.error, "");
        let run_id = resp.run_id.clone();
        assert_eq!(new_proxy(&mut a, "p", port).await.error, "");
        // The same client comes back on a new connection while the old one still looks alive.
        let (mut b, resp_b) = login(bind, "t", &run_id).await;
        assert_eq!(resp_b.error, "");
        assert_eq!(resp_b.run_id, run_id, "frps reuses the client's run id");
        // The stale session was torn down: its name and port are free for the new one.
        let r = new_proxy(&mut b, "p", port).await;
        assert_eq!(r.error, "", "proxy re-registered on the new session");
        assert_eq!(r.remote_addr, format!(":{port}"));
        // And the old connection was closed by frps.
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if read_msg(&mut a).await.is_err() {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "stale control connection still open");
    });
}

#[test]
fn heartbeat_timeout_closes_a_silent_client() {
    let bind = common::next_port();
    let _frps = common::start_frps(
        bind,
        "auth.token = \"t\"\ntransport.tcpMux = false\ntransport.heartbeatTimeout = 2",
    );
    rt().block_on(async {
        let (mut a, _) = login(bind, "t", "").await;
        let t = Instant::now();
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while read_msg(&mut a).await.is_ok() {}
        })
        .await;
        assert!(closed.is_ok(), "frps kept a client that never pinged");
        assert!(
            t.elapsed() >= Duration::from_millis(1500),
            "closed too early: {:?}",
            t.elapsed()
        );

        // A pinging client is answered with Pong and kept.
        let (mut b, _) = login(bind, "t", "").await;
        for _ in 0..4 {
            write_msg(&mut b, &Message::Ping(msg::Ping::default()))
                .await
                .unwrap();
            let got = loop {
                match read_msg(&mut b).await.unwrap() {
                    Message::ReqWorkConn(_) => continue,
                    m => break m,
                }
            };
            assert_eq!(got, Message::Pong(msg::Pong::default()));
            tokio::time::sleep(Duration::from_millis(900)).await;
        }
    });
}

#[test]
fn heartbeat_auth_scope_rejects_unsigned_pings() {
    let bind = common::next_port();
    let _frps = common::start_frps(
        bind,
        "auth.token = \"t\"\ntransport.tcpMux = false\nauth.additionalScopes = [\"HeartBeats\"]",
    );
    rt().block_on(async {
        let (mut a, _) = login(bind, "t", "").await;
        write_msg(&mut a, &Message::Ping(msg::Ping::default()))
            .await
            .unwrap();
        let pong = loop {
            match read_msg(&mut a).await.unwrap() {
                Message::Pong(p) => break p,
                _ => continue,
            }
        };
        assert_eq!(
            pong.error,
            "token in heartbeat doesn't match token from configuration"
        );
        let ts = frp::unix_now();
        let signed = msg::Ping {
            privilege_key: auth_key("t", ts),
            timestamp: ts,
        };
        write_msg(&mut a, &Message::Ping(signed)).await.unwrap();
        let pong = loop {
            match read_msg(&mut a).await.unwrap() {
                Message::Pong(p) => break p,
                _ => continue,
            }
        };
        assert_eq!(pong.error, "");
    });
}

#[test]
fn detailed_errors_off_sends_only_the_summary() {
    let bind = common::next_port();
    let _frps = common::start_frps(
        bind,
        "auth.token = \"t\"\ntransport.tcpMux = false\ndetailedErrorsToClient = false",
    );
    rt().block_on(async {
        let mut conn = TcpStream::connect(("127.0.0.1", bind)).await.unwrap();
        let login = msg::Login {
            version: "0.65.0".into(),
            privilege_key: "bad".into(),
            timestamp: 1,
            ..Default::default()
        };
        write_msg(&mut conn, &Message::Login(login)).await.unwrap();
        let Message::LoginResp(resp) = read_msg(&mut conn).await.unwrap() else {
            panic!()
        };
        assert_eq!(resp.error, "register control error");
        assert_eq!(resp.run_id, "");
    });
}
