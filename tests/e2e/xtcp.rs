//! xtcp end to end across two NATs (network namespaces, tests/e2e/common/netns.rs): frps and the
//! STUN responder on `public`, the owner frpc behind router 1, the visitor frpc behind router 2.
//! An echo through the xtcp visitor goes peer to peer (frps carries none of it); with UDP
//! between the routers dropped, `fallbackTo` hands the connection to an stcp visitor (through
//! frps). Needs root, iproute2 and nftables (`FRP_SKIP_NETNS=1` skips).

use crate::common;

use std::time::Duration;

use common::netns::{self, net, start_stun, Host, Net};
use common::{frpc_bin, frps_bin, Daemon, FrpcToml};

const TOKEN: &str = "tok";
const SK: &str = "abcdefg";
const FRPS_PORT: u16 = 7000;
const DASHBOARD_PORT: u16 = 7500;

/// Starts `bin` inside `h` (the child inherits the spawning thread's namespace).
fn daemon_in(net: &Net, h: Host, bin: &'static str, name: &'static str, toml: String) -> Daemon {
    net.spawn_blocking(h, move || Daemon::start(bin, name, &toml))
        .join()
        .expect("daemon start")
}

fn in_ns<T: Send + 'static>(net: &Net, h: Host, f: impl FnOnce() -> T + Send + 'static) -> T {
    net.spawn_blocking(h, f).join().expect("namespace thread")
}

/// `todayTrafficIn + todayTrafficOut` of the frps proxy `name` of `kind` (dashboard API).
fn frps_traffic(net: &Net, kind: &'static str, name: &'static str) -> u64 {
    in_ns(net, Host::Public, move || {
        let (code, body) = common::curl(
            &["-u", "admin:admin"],
            &format!("http://127.0.0.1:{DASHBOARD_PORT}/api/proxy/{kind}"),
        );
        assert_eq!(code, 200, "dashboard: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let p = v["proxies"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("{kind} proxy {name} in {body}"))
            .clone();
        p["todayTrafficIn"].as_u64().unwrap_or(0) + p["todayTrafficOut"].as_u64().unwrap_or(0)
    })
}

fn common_toml(server_addr: &str) -> String {
    FrpcToml::new(FRPS_PORT)
        .server_addr(server_addr)
        .token(TOKEN)
        .line(format!("natHoleStunServer = \"{}\"", netns::STUN_PRIMARY))
        .to_string()
}

#[test]
fn xtcp_echo_goes_peer_to_peer_and_falls_back_to_stcp() {
    let Some(net) = net() else { return };
    let _stun = start_stun(&net);
    let frps = daemon_in(
        &net,
        Host::Public,
        frps_bin(),
        "frps",
        format!(
            "bindPort = {FRPS_PORT}\nauth.token = \"{TOKEN}\"\nwebServer.addr = \"127.0.0.1\"\n\
             webServer.port = {DASHBOARD_PORT}\nwebServer.user = \"admin\"\nwebServer.password = \"admin\"\n"
        ),
    );
    in_ns(&net, Host::Public, || {
        common::wait_port(FRPS_PORT, Duration::from_secs(10))
    });

    // The owner's local echo service, on home1's loopback.
    let echo_port = in_ns(&net, Host::Home1, || common::echo_server().port);
    let owner = daemon_in(
        &net,
        Host::Home1,
        frpc_bin(),
        "owner",
        format!(
            "{}\n[[proxies]]\nname = \"p2p\"\ntype = \"xtcp\"\nsecretKey = \"{SK}\"\n\
             localIP = \"127.0.0.1\"\nlocalPort = {echo_port}\n\n\
             [[proxies]]\nname = \"relay\"\ntype = \"stcp\"\nsecretKey = \"{SK}\"\n\
             localIP = \"127.0.0.1\"\nlocalPort = {echo_port}\n",
            common_toml("198.18.1.1")
        ),
    );
    assert!(
        frps.wait_log("xtcp proxy registered", Duration::from_secs(15)),
        "owner's xtcp proxy on frps:\n{}\n{}",
        frps.log_text(),
        owner.log_text()
    );

    // Peer to peer.
    let visitor = daemon_in(
        &net,
        Host::Home2,
        frpc_bin(),
        "visitor",
        format!(
            "{}\n[[visitors]]\nname = \"v-p2p\"\ntype = \"xtcp\"\nserverName = \"p2p\"\n\
             secretKey = \"{SK}\"\nbindAddr = \"127.0.0.1\"\nbindPort = 9001\n",
            common_toml("198.18.2.1")
        ),
    );
    assert!(
        visitor.wait_log("xtcp tunnel established", Duration::from_secs(30)),
        "tunnel:\n--- visitor\n{}\n--- owner\n{}\n--- frps\n{}",
        visitor.log_text(),
        owner.log_text(),
        frps.log_text()
    );
    let ok = in_ns(&net, Host::Home2, || {
        common::wait_echo(9001, Duration::from_secs(20)) && {
            let (sent, got) = common::echo_random(9001, 256 * 1024);
            sent == got
        }
    });
    assert!(
        ok,
        "echo through xtcp:\n{}\n{}",
        visitor.log_text(),
        owner.log_text()
    );
    assert_eq!(
        frps_traffic(&net, "stcp", "relay"),
        0,
        "nothing went through frps"
    );
    assert_eq!(
        frps_traffic(&net, "xtcp", "p2p"),
        0,
        "nothing went through frps"
    );
    drop(visitor);

    // No UDP between the routers: punching fails, fallbackTo carries the echo through frps.
    net.drop_udp_between_routers();
    let fallback = daemon_in(
        &net,
        Host::Home2,
        frpc_bin(),
        "fallback",
        format!(
            "{}\n[[visitors]]\nname = \"v-relay\"\ntype = \"stcp\"\nserverName = \"relay\"\n\
             secretKey = \"{SK}\"\nbindPort = -1\n\n\
             [[visitors]]\nname = \"v-p2p2\"\ntype = \"xtcp\"\nserverName = \"p2p\"\n\
             secretKey = \"{SK}\"\nbindAddr = \"127.0.0.1\"\nbindPort = 9002\n\
             fallbackTo = \"v-relay\"\nfallbackTimeoutMs = 1000\n",
            common_toml("198.18.2.1")
        ),
    );
    let ok = in_ns(&net, Host::Home2, || {
        common::wait_echo(9002, Duration::from_secs(30)) && {
            let (sent, got) = common::echo_random(9002, 64 * 1024);
            sent == got
        }
    });
    assert!(
        ok,
        "echo through the fallback:\n{}\n{}",
        fallback.log_text(),
        frps.log_text()
    );
    assert!(
        frps_traffic(&net, "stcp", "relay") > 0,
        "the fallback went through frps"
    );
}
