//! The machine's IPv4 interface addresses (for xtcp's assisted addresses).

use std::net::Ipv4Addr;

/// Every IPv4 address configured on a local interface, in the order the system lists them.
#[cfg(unix)]
pub fn ipv4_addrs() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we own until freeifaddrs; each node and its
    // `ifa_addr` (when non-null) are valid for reads until then, and an AF_INET address is a
    // `sockaddr_in`.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(not(unix))]
pub fn ipv4_addrs() -> Vec<Ipv4Addr> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_loopback() {
        assert!(super::ipv4_addrs().contains(&std::net::Ipv4Addr::LOCALHOST));
    }
}
