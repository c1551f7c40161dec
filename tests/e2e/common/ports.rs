//! The one way tests get ports. A port handed out here cannot be taken by anyone else of the run:
//!
//! - it lies outside the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), so
//!   no outgoing connection and no `bind(0)` (ours, a daemon's or another program's) gets it;
//! - it comes from a counter shared by every test process on the machine (a file in the temp
//!   dir, locked with `flock`; machine-wide rather than per target dir, so two checkouts testing
//!   at once do not collide either), so no two tests, threads or processes get the same one until
//!   the counter wraps around the whole range (about 20,000 ports; a full suite run takes a few
//!   hundred);
//! - it was free for TCP and UDP, on IPv4 and IPv6, when it was handed out (a bind check), so a
//!   port some service of the machine holds is skipped.
//!
//! A daemon that picks a port itself (`remotePort = 0`) must be kept inside a block from here
//! (`allowPorts`), or it could take a port handed out to another test that has not bound it yet.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;

/// The lowest port handed out: below it live the well-known and registered services a test
/// machine may run.
const LOWEST: u16 = 10_000;

/// One port, free for TCP and UDP.
pub fn next_port() -> u16 {
    next_port_block(1)
}

/// `N` ports, each free for TCP and UDP (not necessarily consecutive).
pub fn next_ports<const N: usize>() -> [u16; N] {
    std::array::from_fn(|_| next_port())
}

/// The first of `n` consecutive ports, all free for TCP and UDP: for `allowPorts` ranges.
pub fn next_port_block(n: u16) -> u16 {
    let range = range();
    let size = u32::from(range.end() - range.start()) + 1;
    assert!(
        u32::from(n) <= size,
        "a block of {n} ports does not fit in {range:?}"
    );
    let counter = Counter::lock();
    let mut next = counter.read();
    // Try every start in the range at most once before giving up.
    for _ in 0..size {
        let mut offset = next % size;
        if offset + u32::from(n) > size {
            offset = 0; // wrap: a block never straddles the end of the range
        }
        let first = range.start() + offset as u16;
        next = offset + u32::from(n);
        if (first..first + n).all(is_free) {
            counter.write(next);
            return first;
        }
    }
    panic!("no {n} consecutive free ports in {range:?}");
}

/// The ports tests may use: the larger of the two stretches of [LOWEST, 65535] outside the
/// ephemeral range.
pub fn range() -> RangeInclusive<u16> {
    static RANGE: OnceLock<RangeInclusive<u16>> = OnceLock::new();
    RANGE
        .get_or_init(|| {
            let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .unwrap_or_else(|_| "32768 60999".to_string()); // Linux's default
            let mut it = text
                .split_whitespace()
                .filter_map(|w| w.parse::<u16>().ok());
            let (eph_lo, eph_hi) = (it.next().unwrap_or(32768), it.next().unwrap_or(60999));
            let below = LOWEST..=eph_lo.saturating_sub(1);
            let above = eph_hi.saturating_add(1).max(LOWEST)..=65535;
            let len = |r: &RangeInclusive<u16>| {
                (u32::from(*r.end()) + 1).saturating_sub(u32::from(*r.start()))
            };
            let best = if len(&below) >= len(&above) {
                below
            } else {
                above
            };
            assert!(
                len(&best) >= 2000,
                "the ephemeral port range {eph_lo}-{eph_hi} leaves too few ports for tests"
            );
            best
        })
        .clone()
}

/// Nothing holds `port` for TCP or UDP on any IPv4 or IPv6 address.
fn is_free(port: u16) -> bool {
    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let v6 = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let v4_free = TcpListener::bind(v4).is_ok() && UdpSocket::bind(v4).is_ok();
    // Checked after the IPv4 sockets are closed: a dual-stack [::] bind would collide with them.
    // A machine without IPv6 answers with another error than "in use": nothing holds the port.
    let v6_free =
        |r: std::io::Result<()>| r.map_or_else(|e| e.kind() != ErrorKind::AddrInUse, |_| true);
    v4_free && v6_free(TcpListener::bind(v6).map(drop)) && v6_free(UdpSocket::bind(v6).map(drop))
}

/// The counter file, locked for as long as this lives (the lock goes with the file).
struct Counter(File);

impl Counter {
    fn lock() -> Counter {
        let path = std::env::temp_dir().join("frp-e2e-next-port");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: flock on a descriptor we own; blocks until no other process (or thread, each
        // opening the file anew) holds the lock.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            rc,
            0,
            "flock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        Counter(file)
    }

    fn read(&self) -> u32 {
        let mut text = String::new();
        let mut f = &self.0;
        let _ = f.seek(SeekFrom::Start(0));
        let _ = f.read_to_string(&mut text);
        text.trim().parse().unwrap_or(0)
    }

    fn write(&self, next: u32) {
        let mut f = &self.0;
        f.set_len(0).expect("truncate the port counter");
        f.seek(SeekFrom::Start(0)).expect("seek the port counter");
        f.write_all(format!("{next}\n").as_bytes())
            .expect("write the port counter");
    }
}
