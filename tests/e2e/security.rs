//! Hardening against hostile peers and unsafe setups (issue: security hardening): what the
//! adversarial review of the release build found, each reproduced against the real binaries.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;

const UP: Duration = Duration::from_secs(20);

/// The accept-queue length (`ss`'s Send-Q of a listening socket) of every TCP listener on
/// 127.0.0.1:`port`.
fn backlog(port: u16) -> Option<u32> {
    let out = Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
    text.lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port} ")))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|q| q.parse().ok())
}

#[test]
fn every_listener_asks_for_the_systems_largest_accept_queue() {
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let [bind, http, https, mux, dash, admin, remote, visitor] = next_ports();
    let _frps = FrpsToml::new(bind)
        .line(format!(
            "proxyBindAddr = \"127.0.0.1\"\nvhostHTTPPort = {http}\nvhostHTTPSPort = {https}\ntcpmuxHTTPConnectPort = {mux}"
        ))
        .dashboard(dash)
        .start();
    let echo = echo_server();
    let frpc = FrpcToml::new(bind)
        .admin(admin)
        .proxy(Proxy::tcp("t", echo.port, remote))
        .proxy(
            Proxy::new("s", "stcp")
                .local(echo.port)
                .line("secretKey = \"k\""),
        )
        .section(Visitor::new("v", "stcp", "s").line(format!(
            "secretKey = \"k\"\nbindAddr = \"127.0.0.1\"\nbindPort = {visitor}"
        )))
        .start();
    assert!(wait_echo(remote, UP), "{}", frpc.log_text());
    wait_port(visitor, UP);
    wait_port(admin, UP);
    for (what, port) in [
        ("frps bindPort", bind),
        ("vhostHTTPPort", http),
        ("vhostHTTPSPort", https),
        ("tcpmuxHTTPConnectPort", mux),
        ("frps dashboard", dash),
        ("tcp proxy remotePort", remote),
        ("frpc admin API", admin),
        ("stcp visitor bindPort", visitor),
    ] {
        assert_eq!(
            backlog(port),
            Some(somaxconn),
            "{what} (port {port}) accept queue"
        );
    }
}
