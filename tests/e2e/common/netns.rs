//! A small Internet in network namespaces, for NAT traversal tests (needs root, `ip` from
//! iproute2 and `nft` from nftables):
//!
//! ```text
//!   home1 (10.0.1.2) ── router1 (lan 10.0.1.1 | wan 198.18.1.2) ──┐
//!                                                                  public (198.18.1.1, 198.18.2.1;
//!   home2 (10.0.2.2) ── router2 (lan 10.0.2.1 | wan 198.18.2.2) ──┘  lo: 198.18.0.1, 198.18.0.2)
//! ```
//!
//! Each router masquerades its LAN behind its WAN address (Linux keeps the source port when it
//! can: an endpoint-independent mapping, "EasyNAT" for frp) and drops unsolicited packets from
//! the WAN, like a home router: a probe that arrives before the router's own mapping exists is
//! dropped before conntrack confirms it, so it leaves no entry behind. `public` routes between
//! the routers and hosts the STUN responder on its loopback addresses. Only private test
//! addresses (10.0.0.0/8, 198.18.0.0/15) are used, and every interface is created inside the
//! namespaces: the host's own interfaces and routes are never touched. Everything is deleted
//! when the [`Net`] is dropped.
//!
//! Code runs inside a namespace on a thread of its own that has `setns`-ed into it
//! ([`Net::spawn`]): sockets created there belong to that namespace.

use std::future::Future;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Public (WAN) address of router 1 and router 2.
pub const ROUTER1_WAN: &str = "198.18.1.2";
pub const ROUTER2_WAN: &str = "198.18.2.2";
/// LAN address of the two home hosts.
pub const HOME1_IP: &str = "10.0.1.2";
pub const HOME2_IP: &str = "10.0.2.2";
/// The STUN responder's two addresses (primary and alternate), on `public`.
pub const STUN_PRIMARY: &str = "198.18.0.1:3478";
pub const STUN_ALTERNATE: &str = "198.18.0.2:3479";

/// The namespaces of one topology.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Public,
    Router1,
    Router2,
    Home1,
    Home2,
}

const HOSTS: [Host; 5] = [
    Host::Public,
    Host::Router1,
    Host::Router2,
    Host::Home1,
    Host::Home2,
];

impl Host {
    fn suffix(self) -> &'static str {
        match self {
            Host::Public => "pub",
            Host::Router1 => "r1",
            Host::Router2 => "r2",
            Host::Home1 => "h1",
            Host::Home2 => "h2",
        }
    }
}

/// Why the harness cannot run here, if it cannot (not root, or `ip`/`nft` missing).
pub fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespace tests need root".into());
    }
    for tool in ["ip", "nft"] {
        let ok = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(format!(
                "`{tool}` not found: install Debian's iproute2 and nftables (scripts/test does)"
            ));
        }
    }
    None
}

/// One topology; deleted on drop.
pub struct Net {
    prefix: String,
    created: Vec<String>,
}

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn nft(ns: &str, ruleset: &str) {
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run nft");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(ruleset.as_bytes())
        .expect("write ruleset");
    let out = child.wait_with_output().expect("nft");
    assert!(
        out.status.success(),
        "nft in {ns} failed: {}\n{ruleset}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const ROUTER_RULES: &str = r#"
table ip nat {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "wan" masquerade
    }
}
table ip filter {
    chain input {
        type filter hook input priority filter; policy accept;
        iifname "wan" ct state established,related accept
        iifname "wan" drop
    }
    chain forward {
        type filter hook forward priority filter; policy drop;
        ct state established,related accept
        iifname "lan" oifname "wan" accept
    }
}
"#;

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Net {
    /// Builds the topology above.
    pub fn new() -> Net {
        let prefix = format!(
            "frpt{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            prefix,
            created: Vec::new(),
        };
        for h in HOSTS {
            let name = net.name(h);
            run(&["ip", "netns", "add", &name]);
            net.created.push(name.clone());
            run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        }
        let p = net.name(Host::Public);
        for (router, home, wan_net, lan_net) in [
            (Host::Router1, Host::Home1, "198.18.1", "10.0.1"),
            (Host::Router2, Host::Home2, "198.18.2", "10.0.2"),
        ] {
            let (r, h) = (net.name(router), net.name(home));
            let down = router.suffix();
            // public:<r1|r2> <-> router:wan
            run(&[
                "ip", "-n", &p, "link", "add", down, "type", "veth", "peer", "name", "wan",
                "netns", &r,
            ]);
            run(&[
                "ip",
                "-n",
                &p,
                "addr",
                "add",
                &format!("{wan_net}.1/24"),
                "dev",
                down,
            ]);
            run(&["ip", "-n", &p, "link", "set", down, "up"]);
            run(&[
                "ip",
                "-n",
                &r,
                "addr",
                "add",
                &format!("{wan_net}.2/24"),
                "dev",
                "wan",
            ]);
            run(&["ip", "-n", &r, "link", "set", "wan", "up"]);
            // router:lan <-> home:eth0
            run(&[
                "ip", "-n", &r, "link", "add", "lan", "type", "veth", "peer", "name", "eth0",
                "netns", &h,
            ]);
            run(&[
                "ip",
                "-n",
                &r,
                "addr",
                "add",
                &format!("{lan_net}.1/24"),
                "dev",
                "lan",
            ]);
            run(&["ip", "-n", &r, "link", "set", "lan", "up"]);
            run(&[
                "ip",
                "-n",
                &h,
                "addr",
                "add",
                &format!("{lan_net}.2/24"),
                "dev",
                "eth0",
            ]);
            run(&["ip", "-n", &h, "link", "set", "eth0", "up"]);
            run(&[
                "ip",
                "-n",
                &r,
                "route",
                "add",
                "default",
                "via",
                &format!("{wan_net}.1"),
            ]);
            run(&[
                "ip",
                "-n",
                &h,
                "route",
                "add",
                "default",
                "via",
                &format!("{lan_net}.1"),
            ]);
            run(&[
                "ip",
                "netns",
                "exec",
                &r,
                "sysctl",
                "-q",
                "-w",
                "net.ipv4.ip_forward=1",
            ]);
            nft(&r, ROUTER_RULES);
        }
        for a in ["198.18.0.1/32", "198.18.0.2/32"] {
            run(&["ip", "-n", &p, "addr", "add", a, "dev", "lo"]);
        }
        run(&[
            "ip",
            "netns",
            "exec",
            &p,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
        net
    }

    /// The namespace name of `h` (as for `ip netns exec`).
    pub fn name(&self, h: Host) -> String {
        format!("{}{}", self.prefix, h.suffix())
    }

    /// Drops every UDP datagram `public` would forward between the routers.
    pub fn drop_udp_between_routers(&self) {
        nft(
            &self.name(Host::Public),
            r#"
table ip filter {
    chain forward {
        type filter hook forward priority filter; policy accept;
        meta l4proto udp drop
    }
}
"#,
        );
    }

    /// Runs `f` on a new thread inside `h`'s namespace.
    pub fn spawn_blocking<T, F>(&self, h: Host, f: F) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name(h));
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            // SAFETY: a valid namespace fd; CLONE_NEWNET only moves this thread.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            drop(ns);
            f()
        })
    }

    /// Runs the future made by `f` on a current-thread tokio runtime inside `h`'s namespace.
    pub fn spawn<T, F, Fut>(&self, h: Host, f: F) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
    {
        self.spawn_blocking(h, move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime")
                .block_on(f())
        })
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for name in self.created.iter().rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The test's namespaces, or `None` (with a note) when `FRP_SKIP_NETNS=1`; panics with the
/// reason when this machine cannot build them.
pub fn net() -> Option<Net> {
    if std::env::var("FRP_SKIP_NETNS").as_deref() == Ok("1") {
        eprintln!("FRP_SKIP_NETNS=1: skipping");
        return None;
    }
    if let Some(why) = unavailable() {
        panic!("{why} (FRP_SKIP_NETNS=1 skips these tests)");
    }
    Some(Net::new())
}

/// Starts the STUN responder in `public` and waits until it is bound; it stops when the
/// returned sender is dropped.
pub fn start_stun(net: &Net) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready) = std::sync::mpsc::channel();
    net.spawn(Host::Public, move || async move {
        let r = frp::nathole::stun::StunResponder::start(
            STUN_PRIMARY.parse().unwrap(),
            STUN_ALTERNATE.parse().unwrap(),
        )
        .await
        .expect("stun responder binds");
        ready_tx.send(()).unwrap();
        let _ = stopped.await;
        drop(r);
    });
    ready
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("stun ready");
    stop
}
