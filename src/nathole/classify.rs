//! NAT classification from the mapped addresses STUN reported (frp's `pkg/nathole/classify.go`).

/// `EasyNAT` when every mapped address is the same, else `HardNAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatType {
    Easy,
    Hard,
}

impl NatType {
    pub fn as_str(self) -> &'static str {
        match self {
            NatType::Easy => "EasyNAT",
            NatType::Hard => "HardNAT",
        }
    }
}

/// How the mapping changed between the STUN requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    NoChange,
    IpChanged,
    PortChanged,
    BothChanged,
}

impl Behavior {
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::NoChange => "BehaviorNoChange",
            Behavior::IpChanged => "BehaviorIPChanged",
            Behavior::PortChanged => "BehaviorPortChanged",
            Behavior::BothChanged => "BehaviorBothChanged",
        }
    }
}

/// What frps learns about one side's NAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatFeature {
    pub nat_type: NatType,
    pub behavior: Behavior,
    /// Spread of the mapped ports (only for [`Behavior::PortChanged`]).
    pub ports_difference: i64,
    /// Port-only change with a spread of 1–5: predictable.
    pub regular_ports_change: bool,
    /// A mapped IP is one of the side's own addresses: no NAT in front of it.
    pub public_network: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    #[error("not enough addresses")]
    NotEnoughAddresses,
    #[error("address {0}: missing port in address")]
    BadAddress(String),
    #[error("address {0}: invalid port")]
    BadPort(String),
}

/// Splits `host:port` / `[v6]:port` like Go's `net.SplitHostPort`.
pub fn split_host_port(addr: &str) -> Option<(&str, &str)> {
    if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        if host.contains('[') || port.contains(':') {
            return None;
        }
        return Some((host, port));
    }
    let (host, port) = addr.rsplit_once(':')?;
    if host.contains(':') {
        return None; // an IPv6 address needs brackets
    }
    Some((host, port))
}

/// The hosts of `host:port` strings; malformed ones are skipped (frp's `parseIPs`).
pub fn parse_ips(addrs: &[String]) -> Vec<String> {
    addrs
        .iter()
        .filter_map(|a| split_host_port(a).map(|(h, _)| h.to_string()))
        .collect()
}

/// Classifies a NAT from its mapped addresses (at least two) and the side's own IPs.
pub fn classify(addresses: &[String], local_ips: &[String]) -> Result<NatFeature, ClassifyError> {
    if addresses.len() <= 1 {
        return Err(ClassifyError::NotEnoughAddresses);
    }
    let mut public_network = false;
    let (mut ip_changed, mut port_changed) = (false, false);
    let mut base: Option<(&str, &str)> = None;
    let (mut port_max, mut port_min) = (0i64, 0i64);
    for addr in addresses {
        let (ip, port) =
            split_host_port(addr).ok_or_else(|| ClassifyError::BadAddress(addr.clone()))?;
        let port_num: i64 = port
            .parse()
            .map_err(|_| ClassifyError::BadPort(addr.clone()))?;
        if local_ips.iter().any(|l| l == ip) {
            public_network = true;
        }
        match base {
            None => {
                base = Some((ip, port));
                port_max = port_num;
                port_min = port_num;
            }
            Some((bip, bport)) => {
                port_max = port_max.max(port_num);
                port_min = port_min.min(port_num);
                ip_changed |= bip != ip;
                port_changed |= bport != port;
            }
        }
    }
    let (nat_type, behavior) = match (ip_changed, port_changed) {
        (true, true) => (NatType::Hard, Behavior::BothChanged),
        (true, false) => (NatType::Hard, Behavior::IpChanged),
        (false, true) => (NatType::Hard, Behavior::PortChanged),
        (false, false) => (NatType::Easy, Behavior::NoChange),
    };
    let mut f = NatFeature {
        nat_type,
        behavior,
        ports_difference: 0,
        regular_ports_change: false,
        public_network,
    };
    if behavior == Behavior::PortChanged {
        f.ports_difference = port_max - port_min;
        f.regular_ports_change = (1..=5).contains(&f.ports_difference);
    }
    Ok(f)
}

/// (easy, hard, hard with regular port change) counts over the features.
pub fn feature_counts(features: &[&NatFeature]) -> (usize, usize, usize) {
    let (mut easy, mut hard, mut regular) = (0, 0, 0);
    for f in features {
        if f.nat_type == NatType::Easy {
            easy += 1;
        } else {
            hard += 1;
            if f.regular_ports_change {
                regular += 1;
            }
        }
    }
    (easy, hard, regular)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn classification() {
        let f = classify(&v(&["1.1.1.1:100", "1.1.1.1:100"]), &[]).unwrap();
        assert_eq!(
            (f.nat_type, f.behavior),
            (NatType::Easy, Behavior::NoChange)
        );
        assert!(!f.public_network && !f.regular_ports_change);

        let f = classify(&v(&["1.1.1.1:100", "1.1.1.1:103"]), &[]).unwrap();
        assert_eq!(
            (f.nat_type, f.behavior),
            (NatType::Hard, Behavior::PortChanged)
        );
        assert_eq!(f.ports_difference, 3);
        assert!(f.regular_ports_change);

        let f = classify(&v(&["1.1.1.1:100", "1.1.1.1:200"]), &[]).unwrap();
        assert_eq!(f.ports_difference, 100);
        assert!(!f.regular_ports_change);

        let f = classify(&v(&["1.1.1.1:100", "2.2.2.2:100"]), &[]).unwrap();
        assert_eq!(f.behavior, Behavior::IpChanged);
        assert_eq!(f.ports_difference, 0);

        let f = classify(&v(&["1.1.1.1:100", "2.2.2.2:101"]), &[]).unwrap();
        assert_eq!(f.behavior, Behavior::BothChanged);
        assert!(!f.regular_ports_change);

        let f = classify(&v(&["1.1.1.1:100", "1.1.1.1:100"]), &v(&["1.1.1.1"])).unwrap();
        assert!(f.public_network);

        assert_eq!(
            classify(&v(&["1.1.1.1:100"]), &[]),
            Err(ClassifyError::NotEnoughAddresses)
        );
        assert!(classify(&v(&["1.1.1.1", "1.1.1.1:1"]), &[]).is_err());
        assert!(classify(&v(&["1.1.1.1:x", "1.1.1.1:1"]), &[]).is_err());
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("1.2.3.4:5"), Some(("1.2.3.4", "5")));
        assert_eq!(split_host_port("[::1]:5"), Some(("::1", "5")));
        assert_eq!(split_host_port("::1:5"), None);
        assert_eq!(split_host_port("nope"), None);
        assert_eq!(
            parse_ips(&v(&["1.2.3.4:5", "bad", "[::1]:7"])),
            v(&["1.2.3.4", "::1"])
        );
    }
}
