//! xtcp's building blocks across two real NATs (network namespaces, see tests/e2e/common/netns.rs):
//! STUN discovery from behind a router, frps's punching plan, hole punching between two home
//! hosts, and a QUIC tunnel over the punched sockets. Needs root, iproute2 and nftables
//! (`FRP_SKIP_NETNS=1` skips).

use crate::common;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use common::netns::{self, net, start_stun, Host, Net};
use frp::config::types::QuicConfig;
use frp::nathole::{analysis, punch, stun, tunnel};
use frp::proto::msg::{NatHoleClient, NatHoleResp, NatHoleVisitor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const SECRET: &str = "abcdefg";

#[test]
fn stun_discovery_reports_the_routers_public_address() {
    let Some(net) = net() else { return };
    let _stun = start_stun(&net);
    let (mapped, port, assisted) = net
        .spawn(Host::Home1, || async {
            let d = stun::discover(netns::STUN_PRIMARY).await.expect("discover");
            let port = d.socket.local_addr().unwrap().port();
            (d.mapped_addrs, port, stun::assisted_addrs(port))
        })
        .join()
        .unwrap();
    // Linux masquerading keeps the source port: both requests see the router's address and
    // our own port (an endpoint-independent mapping).
    let want = format!("{}:{port}", netns::ROUTER1_WAN);
    assert_eq!(mapped, vec![want.clone(), want]);
    assert!(!mapped[0].starts_with(netns::HOME1_IP));
    assert_eq!(assisted, vec![format!("{}:{port}", netns::HOME1_IP)]);
}

#[test]
fn stun_discovery_fails_without_responder() {
    let Some(net) = net() else { return };
    let err = net
        .spawn(Host::Home1, || async {
            stun::discover(netns::STUN_PRIMARY)
                .await
                .err()
                .map(|e| e.to_string())
        })
        .join()
        .unwrap();
    assert_eq!(
        err.as_deref(),
        Some("wait response from stun server timeout")
    );
}

/// What one home host reports to the test's "frps" after discovery.
struct Prepared {
    mapped: Vec<String>,
    assisted: Vec<String>,
}

/// Outcome of one side: the peer address it punched to, and what crossed the QUIC stream.
type Side = Result<(SocketAddr, Vec<u8>), String>;

/// Runs discovery on both homes, frps's plan in the test thread, then punching on both sides
/// and, on success, a QUIC tunnel (home2 = P, the proxy, serves; home1 = V, the visitor, opens a
/// stream, sends a request, reads the answer).
fn punch_and_tunnel(net: &Net, row: usize) -> (Side, Side) {
    let (v_prep_tx, v_prep) = mpsc::channel::<Prepared>();
    let (c_prep_tx, c_prep) = mpsc::channel::<Prepared>();
    let (v_resp_tx, v_resp) = oneshot::channel::<NatHoleResp>();
    let (c_resp_tx, c_resp) = oneshot::channel::<NatHoleResp>();

    let visitor = net.spawn(Host::Home1, move || async move {
        let d = stun::discover(netns::STUN_PRIMARY)
            .await
            .map_err(|e| e.to_string())?;
        let port = d.socket.local_addr().map_err(|e| e.to_string())?.port();
        let _ = v_prep_tx.send(Prepared {
            mapped: d.mapped_addrs,
            assisted: stun::assisted_addrs(port),
        });
        let resp = v_resp.await.map_err(|e| e.to_string())?;
        tokio::time::sleep(analysis::response_delay(&resp)).await;
        let (socket, peer) = punch::make_hole(d.socket, &resp, SECRET)
            .await
            .map_err(|e| e.to_string())?;
        let q = QuicConfig::default();
        let client = tunnel::QuicClient::connect(socket, peer, &q, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        let key = frp::proto::crypto::derive_key(SECRET.as_bytes());
        let stream = client.open().await.map_err(|e| e.to_string())?;
        let mut s = frp::transport::wrap::wrap(stream.boxed(), &key, true, false);
        s.write_all(b"hello from the visitor")
            .await
            .map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        s.shutdown().await.map_err(|e| e.to_string())?;
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
        client.close();
        Ok::<_, String>((peer, got))
    });

    let client = net.spawn(Host::Home2, move || async move {
        let d = stun::discover(netns::STUN_PRIMARY)
            .await
            .map_err(|e| e.to_string())?;
        let port = d.socket.local_addr().map_err(|e| e.to_string())?.port();
        let _ = c_prep_tx.send(Prepared {
            mapped: d.mapped_addrs,
            assisted: stun::assisted_addrs(port),
        });
        let resp = c_resp.await.map_err(|e| e.to_string())?;
        tokio::time::sleep(analysis::response_delay(&resp)).await;
        let (socket, peer) = punch::make_hole(d.socket, &resp, SECRET)
            .await
            .map_err(|e| e.to_string())?;
        let q = QuicConfig::default();
        let server = tunnel::QuicServer::accept_from(socket, peer, &q, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        let key = frp::proto::crypto::derive_key(SECRET.as_bytes());
        let stream = server.accept().await.map_err(|e| e.to_string())?;
        let mut s = frp::transport::wrap::wrap(stream.boxed(), &key, true, false);
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
        s.write_all(b"hello from the proxy")
            .await
            .map_err(|e| e.to_string())?;
        s.flush().await.map_err(|e| e.to_string())?;
        s.shutdown().await.map_err(|e| e.to_string())?;
        // Wait for the visitor to close the connection after reading.
        let _ = tokio::time::timeout(Duration::from_secs(5), server.accept()).await;
        Ok::<_, String>((peer, got))
    });

    // The frps part: both sides' reports in, one plan out.
    let vp = v_prep.recv_timeout(Duration::from_secs(10));
    let cp = c_prep.recv_timeout(Duration::from_secs(10));
    if let (Ok(vp), Ok(cp)) = (vp, cp) {
        let vm = NatHoleVisitor {
            transaction_id: frp::nathole::new_transaction_id(),
            proxy_name: "u.p2p".into(),
            protocol: "quic".into(),
            mapped_addrs: vp.mapped,
            assisted_addrs: vp.assisted,
            ..Default::default()
        };
        let cm = NatHoleClient {
            transaction_id: frp::nathole::new_transaction_id(),
            proxy_name: "u.p2p".into(),
            sid: frp::nathole::new_transaction_id(),
            mapped_addrs: cp.mapped,
            assisted_addrs: cp.assisted,
        };
        let analyzer = analysis::Analyzer::new(Duration::from_secs(3600));
        // Each plan lowers the score of its row, so the next one takes the next row.
        for _ in 0..row {
            analysis::plan(&analyzer, &cm.sid, &vm, &cm).expect("plan");
        }
        let plan = analysis::plan(&analyzer, &cm.sid, &vm, &cm).expect("plan");
        // Both EasyNAT: mode 0; row 0: the client sends, the visitor receives with TTL 7;
        // row 1: the other way round.
        assert_eq!((plan.choice.mode, plan.choice.index), (0, row));
        let _ = v_resp_tx.send(plan.visitor_resp);
        let _ = c_resp_tx.send(plan.client_resp);
    }
    (visitor.join().unwrap(), client.join().unwrap())
}

#[test]
fn punching_through_two_nats_then_quic_both_ways() {
    let Some(net) = net() else { return };
    let _stun = start_stun(&net);
    let (v, c) = punch_and_tunnel(&net, 0);
    let (v_peer, v_got) = v.expect("visitor side");
    let (c_peer, c_got) = c.expect("proxy side");
    // Each side talks to the other's router, never to a private address.
    assert_eq!(v_peer.ip().to_string(), netns::ROUTER2_WAN);
    assert_eq!(c_peer.ip().to_string(), netns::ROUTER1_WAN);
    assert_eq!(c_got, b"hello from the visitor");
    assert_eq!(v_got, b"hello from the proxy");
}

#[test]
fn punching_with_the_roles_swapped() {
    let Some(net) = net() else { return };
    let _stun = start_stun(&net);
    let (v, c) = punch_and_tunnel(&net, 1);
    let (v_peer, v_got) = v.expect("visitor side");
    let (c_peer, c_got) = c.expect("proxy side");
    assert_eq!(v_peer.ip().to_string(), netns::ROUTER2_WAN);
    assert_eq!(c_peer.ip().to_string(), netns::ROUTER1_WAN);
    assert_eq!(c_got, b"hello from the visitor");
    assert_eq!(v_got, b"hello from the proxy");
}

#[test]
fn punching_times_out_when_udp_between_the_routers_is_dropped() {
    let Some(net) = net() else { return };
    let _stun = start_stun(&net);
    net.drop_udp_between_routers();
    let started = std::time::Instant::now();
    let (v, c) = punch_and_tunnel(&net, 0);
    assert_eq!(v.unwrap_err(), "wait detect message timeout");
    assert_eq!(c.unwrap_err(), "wait detect message timeout");
    // read_timeout 5000 ms (+1 s response delay of the sender, +STUN): bounded.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
}
