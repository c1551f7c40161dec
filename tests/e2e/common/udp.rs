//! UDP helpers: an echo server, probes through a udp proxy.

use std::net::UdpSocket;
use std::thread;
use std::time::Duration;

/// A UDP echo server on 127.0.0.1.
pub fn udp_echo() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], from);
        }
    });
    port
}

/// One datagram through `port` on a fresh socket; true when it comes back.
pub fn udp_echo_once(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    if s.send_to(b"probe", ("127.0.0.1", port)).is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.recv_from(&mut buf), Ok((5, _)) if &buf[..5] == b"probe")
}

pub fn wait_udp_echo(port: u16, timeout: Duration) -> bool {
    super::poll(timeout, || udp_echo_once(port))
}
