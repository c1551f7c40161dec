//! The port managers (protocol.md §10.1, §10.2): which ports proxies may bind, which are taken,
//! and the 24 h per-name reservation that lets a reconnecting `remotePort = 0` proxy keep its
//! port. frps keeps one manager for tcp and one for udp: the two namespaces are independent.

use std::collections::{HashMap, HashSet};
use std::net::{TcpListener as StdListener, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use rand::Rng;

use crate::config::types::PortsRange;
use crate::proto::errors;

const RESERVATION: Duration = Duration::from_secs(24 * 3600);
/// How many random free ports to try for `remotePort = 0` before giving up.
const RANDOM_TRIES: usize = 64;

pub struct PortManager {
    allowed: Vec<(u16, u16)>,
    used: HashSet<u16>,
    reserved: HashMap<String, (u16, Instant)>,
}

impl PortManager {
    pub fn new(allow: &[PortsRange]) -> Self {
        PortManager {
            allowed: allowed_ranges(allow),
            used: HashSet::new(),
            reserved: HashMap::new(),
        }
    }

    /// A reload changed `allowPorts`: new proxies follow it; ports in use stay open.
    pub fn set_allowed(&mut self, allow: &[PortsRange]) {
        self.allowed = allowed_ranges(allow);
    }

    pub fn is_allowed(&self, port: u16) -> bool {
        self.allowed.iter().any(|&(a, b)| a <= port && port <= b)
    }

    /// Take a port for proxy `name` and bind a TCP listener on `bind_addr`. `port = 0` reuses
    /// the name's reserved port if free, else picks a random free allowed port.
    pub fn acquire(
        &mut self,
        name: &str,
        port: u16,
        bind_addr: &str,
    ) -> Result<(u16, StdListener), String> {
        self.acquire_with(name, port, |p| bind(bind_addr, p))
    }

    /// [`acquire`](Self::acquire) for the udp manager: binds a UDP socket instead.
    pub fn acquire_udp(
        &mut self,
        name: &str,
        port: u16,
        bind_addr: &str,
    ) -> Result<(u16, StdUdpSocket), String> {
        self.acquire_with(name, port, |p| bind_udp(bind_addr, p))
    }

    /// The port rules, with `bind` making the real socket: a port is free when it binds.
    fn acquire_with<T>(
        &mut self,
        name: &str,
        port: u16,
        bind: impl Fn(u16) -> Option<T>,
    ) -> Result<(u16, T), String> {
        if port != 0 {
            if !self.is_allowed(port) {
                return Err(errors::PORT_NOT_ALLOWED.into());
            }
            if self.used.contains(&port) {
                return Err(errors::PORT_ALREADY_USED.into());
            }
            let l = bind(port).ok_or_else(|| errors::PORT_UNAVAILABLE.to_string())?;
            self.take(name, port);
            return Ok((port, l));
        }
        let now = Instant::now();
        self.reserved
            .retain(|_, (_, at)| now.duration_since(*at) < RESERVATION);
        if let Some(&(p, _)) = self.reserved.get(name) {
            if self.is_allowed(p) && !self.used.contains(&p) {
                if let Some(l) = bind(p) {
                    self.take(name, p);
                    return Ok((p, l));
                }
            }
        }
        let total: u32 = self.allowed.iter().map(|&(a, b)| (b - a) as u32 + 1).sum();
        let mut rng = rand::thread_rng();
        for _ in 0..RANDOM_TRIES {
            let mut k = rng.gen_range(0..total);
            let mut candidate = 0u16;
            for &(a, b) in &self.allowed {
                let n = (b - a) as u32 + 1;
                if k < n {
                    candidate = a + k as u16;
                    break;
                }
                k -= n;
            }
            if candidate == 0
                || self.used.contains(&candidate)
                || self.reserved_by_other(name, candidate)
            {
                continue;
            }
            if let Some(l) = bind(candidate) {
                self.take(name, candidate);
                return Ok((candidate, l));
            }
        }
        Err(errors::NO_AVAILABLE_PORT.into())
    }

    fn reserved_by_other(&self, name: &str, port: u16) -> bool {
        self.reserved
            .iter()
            .any(|(n, (p, _))| *p == port && n != name)
    }

    fn take(&mut self, name: &str, port: u16) {
        self.used.insert(port);
        self.reserved
            .insert(name.to_string(), (port, Instant::now()));
    }

    /// Free a port; the name keeps its reservation (refreshed to now) for 24 h.
    pub fn release(&mut self, name: &str, port: u16) {
        self.used.remove(&port);
        self.reserved
            .insert(name.to_string(), (port, Instant::now()));
    }
}

/// Empty means every port.
fn allowed_ranges(allow: &[PortsRange]) -> Vec<(u16, u16)> {
    let mut allowed: Vec<(u16, u16)> = allow
        .iter()
        .map(|r| r.bounds())
        .map(|(a, b)| (a.clamp(1, 65535) as u16, b.clamp(1, 65535) as u16))
        .collect();
    if allowed.is_empty() {
        allowed.push((1, 65535));
    }
    allowed
}

fn bind(addr: &str, port: u16) -> Option<StdListener> {
    crate::transport::tcp::listen_std(addr, port).ok()
}

fn bind_udp(addr: &str, port: u16) -> Option<StdUdpSocket> {
    let ip = if addr.is_empty() { "0.0.0.0" } else { addr };
    let s = StdUdpSocket::bind((ip, port)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where these tests let `remotePort = 0` pick: below Linux's ephemeral range, so no port the
    /// kernel hands to an outgoing connection or a `bind(0)` meanwhile is picked, or taken from
    /// under a released reservation.
    fn quiet_ports() -> PortManager {
        PortManager::new(&[PortsRange {
            start: 20000,
            end: 32767,
            single: 0,
        }])
    }

    #[test]
    fn allow_ports_and_reuse() {
        let mut pm = PortManager::new(&[PortsRange {
            start: 1,
            end: 1023,
            single: 0,
        }]);
        // Outside the allowed range.
        assert_eq!(
            pm.acquire("a", 40000, "127.0.0.1").unwrap_err(),
            "port not allowed"
        );
        let mut pm = quiet_ports();
        let (p, l) = pm.acquire("a", 0, "127.0.0.1").unwrap();
        assert_eq!(
            pm.acquire("b", p, "127.0.0.1").unwrap_err(),
            "port already used"
        );
        drop(l);
        pm.release("a", p);
        let (p2, _l) = pm.acquire("a", 0, "127.0.0.1").unwrap();
        assert_eq!(p, p2, "a reconnecting proxy gets its port back");
        // Held by a foreign socket: unavailable.
        let mut any = PortManager::new(&[]);
        let foreign = StdListener::bind("127.0.0.1:0").unwrap();
        let fp = foreign.local_addr().unwrap().port();
        assert_eq!(
            any.acquire("c", fp, "127.0.0.1").unwrap_err(),
            "port unavailable"
        );
    }

    #[test]
    fn udp_namespace_is_separate_from_tcp() {
        let mut tcp = quiet_ports();
        let mut udp = quiet_ports();
        let (p, _l) = tcp.acquire("t", 0, "127.0.0.1").unwrap();
        let (q, _s) = udp.acquire_udp("u", p, "127.0.0.1").unwrap();
        assert_eq!(p, q, "the same number is free for udp");
        assert_eq!(
            udp.acquire_udp("v", p, "127.0.0.1").unwrap_err(),
            "port already used"
        );
        let mut any = PortManager::new(&[]);
        let foreign = StdUdpSocket::bind("127.0.0.1:0").unwrap();
        let fp = foreign.local_addr().unwrap().port();
        assert_eq!(
            any.acquire_udp("w", fp, "127.0.0.1").unwrap_err(),
            "port unavailable"
        );
    }
}
