//! frps's choice of punching behaviour (frp's `pkg/nathole/analysis.go` and the `analysis` part
//! of `controller.go`): a table of behaviour pairs per mode, scores per pair of NATs learnt from
//! NatHoleReport, and the NatHoleResp sent to each side.
//!
//! Modes: 0 both EasyNAT (or one public); 1 HardNAT with a regular port change and EasyNAT;
//! 2 irregular HardNAT and EasyNAT; 3 both HardNAT with regular changes; 4 both HardNAT, one
//! regular.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::classify::{feature_counts, parse_ips, NatFeature, NatType};
use super::punch::{ROLE_RECEIVER, ROLE_SENDER};
use crate::proto::msg::{
    NatHoleClient, NatHoleDetectBehavior, NatHoleResp, NatHoleVisitor, PortsRange,
};

/// What one side is told to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recommended {
    pub sender: bool,
    pub ttl: i64,
    pub send_delay_ms: i64,
    pub ports_range_number: i64,
    pub ports_random_number: i64,
    pub listen_random_ports: i64,
}

impl Recommended {
    pub fn role(&self) -> &'static str {
        if self.sender {
            ROLE_SENDER
        } else {
            ROLE_RECEIVER
        }
    }
}

const fn s(delay: i64) -> Recommended {
    Recommended {
        sender: true,
        ttl: 0,
        send_delay_ms: delay,
        ports_range_number: 0,
        ports_random_number: 0,
        listen_random_ports: 0,
    }
}

const fn r(ttl: i64) -> Recommended {
    Recommended {
        sender: false,
        ttl,
        send_delay_ms: 0,
        ports_range_number: 0,
        ports_random_number: 0,
        listen_random_ports: 0,
    }
}

const fn range(mut b: Recommended, n: i64) -> Recommended {
    b.ports_range_number = n;
    b
}

const fn random_sender(delay: i64) -> Recommended {
    let mut b = s(delay);
    b.ports_random_number = 1000;
    b
}

const fn listening(mut b: Recommended) -> Recommended {
    b.listen_random_ports = 256;
    b
}

/// (client side, visitor side) before the per-mode swaps.
type Pair = (Recommended, Recommended);

const MODE0: &[Pair] = &[
    (s(0), r(7)),
    (r(7), s(0)),
    (s(0), r(4)),
    (r(4), s(0)),
    (s(0), r(0)),
    (r(0), s(0)),
    (s(5000), r(0)),
    (s(10000), r(0)),
    (r(0), s(5000)),
    (r(0), s(10000)),
];

const MODE1: &[Pair] = &[
    (s(0), range(r(7), 10)),
    (s(2000), range(r(7), 10)),
    (s(0), range(r(4), 10)),
    (s(2000), range(r(4), 10)),
    (s(0), range(r(0), 10)),
    (s(2000), range(r(0), 10)),
];

const MODE2: &[Pair] = &[
    (random_sender(3000), listening(r(7))),
    (random_sender(3000), listening(r(4))),
    (random_sender(3000), listening(r(0))),
];

const MODE3: &[Pair] = &[
    (range(s(0), 10), range(r(7), 10)),
    (range(s(0), 10), range(r(4), 10)),
    (range(s(0), 10), range(r(0), 10)),
    (range(r(7), 10), range(s(0), 10)),
    (range(r(4), 10), range(s(0), 10)),
    (range(r(0), 10), range(s(0), 10)),
];

// frp's comment says sendDelayMs 2000; the table has 3000.
const MODE4: &[Pair] = &[
    (random_sender(3000), range(listening(r(7)), 2)),
    (random_sender(3000), range(listening(r(4)), 2)),
    (random_sender(3000), range(listening(r(0)), 2)),
];

fn behaviors(mode: i64) -> &'static [Pair] {
    match mode {
        1 => MODE1,
        2 => MODE2,
        3 => MODE3,
        4 => MODE4,
        _ => MODE0,
    }
}

/// The pair at (mode, index); both default (receivers without options) past the table's end.
pub fn behavior_pair(mode: i64, index: usize) -> Pair {
    behaviors(mode)
        .get(index)
        .copied()
        .unwrap_or((Recommended::default(), Recommended::default()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Score {
    mode: i64,
    index: usize,
    score: i64,
}

fn scores(mode: i64, sender_score: i64, receiver_score: i64) -> impl Iterator<Item = Score> {
    behaviors(mode)
        .iter()
        .enumerate()
        .map(move |(index, (c, _))| Score {
            mode,
            index,
            score: if c.sender {
                sender_score
            } else {
                receiver_score
            },
        })
}

/// The scores for one pair of NATs.
#[derive(Debug)]
pub struct Records {
    scores: Vec<Score>,
    last_update: Instant,
}

impl Records {
    pub fn new(c: &NatFeature, v: &NatFeature) -> Self {
        let mut list = Vec::new();
        let (easy, hard, regular) = feature_counts(&[c, v]);
        let mode0 = |list: &mut Vec<Score>| {
            if c.public_network {
                list.extend(scores(0, 0, 1));
            } else if v.public_network {
                list.extend(scores(0, 1, 0));
            } else {
                list.extend(scores(0, 0, 0));
            }
        };
        match (easy, hard, regular) {
            (2, _, _) => mode0(&mut list),
            (_, 1, 1) => {
                list.extend(scores(1, 0, 0));
                list.extend(scores(2, 0, 0));
                mode0(&mut list);
            }
            (_, 1, 0) => {
                list.extend(scores(2, 0, 0));
                list.extend(scores(1, 0, 0));
                mode0(&mut list);
            }
            (_, 2, 2) => {
                list.extend(scores(3, 0, 0));
                list.extend(scores(4, 0, 0));
            }
            (_, 2, 1) => list.extend(scores(4, 0, 0)),
            _ => {
                // Hard to punch: just try.
                list.extend(scores(0, 1, 1));
                list.extend(scores(1, 1, 1));
                list.extend(scores(3, 1, 1));
            }
        }
        Records {
            scores: list,
            last_update: Instant::now(),
        }
    }

    /// The best-scored (first on ties) (mode, index), whose score then drops by one so that
    /// repeated attempts walk through the table.
    pub fn recommend(&mut self) -> (i64, usize) {
        self.last_update = Instant::now();
        let mut best: Option<&mut Score> = None;
        for sc in self.scores.iter_mut() {
            let better = match &best {
                None => true,
                Some(b) => sc.score > b.score,
            };
            if better {
                best = Some(sc);
            }
        }
        match best {
            Some(b) => {
                b.score -= 1;
                (b.mode, b.index)
            }
            None => (0, 0),
        }
    }

    /// A success raises the pair's score by 2 (at most 10).
    pub fn report_success(&mut self, mode: i64, index: usize) {
        self.last_update = Instant::now();
        if let Some(sc) = self
            .scores
            .iter_mut()
            .find(|sc| sc.mode == mode && sc.index == index)
        {
            sc.score = (sc.score + 2).min(10);
        }
    }
}

/// Score records per pair of NATs (key: [`analysis_key`]), dropped after `reserve` unused.
pub struct Analyzer {
    records: Mutex<HashMap<String, Records>>,
    reserve: Duration,
}

/// What [`Analyzer::recommend`] chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub mode: i64,
    pub index: usize,
    pub client: Recommended,
    pub visitor: Recommended,
}

impl Analyzer {
    /// `reserve` = `natholeAnalysisDataReserveHours`.
    pub fn new(reserve: Duration) -> Self {
        Analyzer {
            records: Mutex::new(HashMap::new()),
            reserve,
        }
    }

    pub fn recommend(&self, key: &str, c: &NatFeature, v: &NatFeature) -> Choice {
        let (mode, index) = {
            let mut map = self.records.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_string())
                .or_insert_with(|| Records::new(c, v))
                .recommend()
        };
        let (mut client, mut visitor) = behavior_pair(mode, index);
        let swap = match mode {
            1 => c.nat_type == NatType::Easy, // HardNAT sends
            2 => c.nat_type == NatType::Hard, // HardNAT receives
            4 => !c.regular_ports_change,     // the regular side sends
            _ => false,
        };
        if swap {
            std::mem::swap(&mut client, &mut visitor);
        }
        Choice {
            mode,
            index,
            client,
            visitor,
        }
    }

    pub fn report_success(&self, key: &str, mode: i64, index: usize) {
        let mut map = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rec) = map.get_mut(key) {
            rec.report_success(mode, index);
        }
    }

    /// Drops records unused for longer than the reserve; returns (dropped, total before).
    pub fn clean(&self) -> (usize, usize) {
        let mut map = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let total = map.len();
        let reserve = self.reserve;
        map.retain(|_, r| r.last_update.elapsed() <= reserve);
        (total - map.len(), total)
    }
}

fn compact(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.dedup();
    v
}

/// The records key for a visitor/client pair: hex MD5 over each side's first mapped IP and NAT
/// features, visitor first.
pub fn analysis_key(
    v_mapped: &[String],
    v: &NatFeature,
    c_mapped: &[String],
    c: &NatFeature,
) -> String {
    let mut h = Md5::new();
    for (mapped, f) in [(v_mapped, v), (c_mapped, c)] {
        if let Some(ip) = parse_ips(mapped).first() {
            h.update(ip.as_bytes());
        }
        h.update(f.nat_type.as_str().as_bytes());
        h.update(f.behavior.as_str().as_bytes());
        h.update(if f.regular_ports_change {
            b"true".as_slice()
        } else {
            b"false".as_slice()
        });
    }
    hex::encode(h.finalize())
}

/// One range around the last mapped port of the peer, `max_number` wide at most each side
/// (none when `max_number` ≤ 0).
pub fn range_ports(addrs: &[String], difference: i64, max_number: i64) -> Vec<PortsRange> {
    if max_number <= 0 {
        return Vec::new();
    }
    let Some(last) = addrs.last() else {
        return Vec::new();
    };
    let Some(port) =
        super::classify::split_host_port(last).and_then(|(_, p)| p.parse::<i64>().ok())
    else {
        return Vec::new();
    };
    vec![PortsRange {
        from: (port - difference - 5).max(port - max_number).max(1),
        to: (port + difference + 5).min(port + max_number).min(65535),
    }]
}

/// The outcome of analysing a session.
#[derive(Debug, Clone)]
pub struct Plan {
    pub analysis_key: String,
    pub choice: Choice,
    pub visitor_resp: NatHoleResp,
    pub client_resp: NatHoleResp,
}

/// Classifies both sides and builds the NatHoleResp for the visitor and for the client.
pub fn plan(
    analyzer: &Analyzer,
    sid: &str,
    vm: &NatHoleVisitor,
    cm: &NatHoleClient,
) -> Result<Plan, String> {
    let cf = super::classify::classify(&cm.mapped_addrs, &parse_ips(&cm.assisted_addrs))
        .map_err(|e| format!("classify client nat feature error: {e}"))?;
    let vf = super::classify::classify(&vm.mapped_addrs, &parse_ips(&vm.assisted_addrs))
        .map_err(|e| format!("classify visitor nat feature error: {e}"))?;
    let key = analysis_key(&vm.mapped_addrs, &vf, &cm.mapped_addrs, &cf);
    let choice = analyzer.recommend(&key, &cf, &vf);
    let (cb, vb) = (choice.client, choice.visitor);

    let mut timeout_ms = cb.send_delay_ms.max(vb.send_delay_ms) + 5000;
    if cb.listen_random_ports > 0 || vb.listen_random_ports > 0 {
        timeout_ms += 30000;
    }
    let detect =
        |b: &Recommended, peer_mapped: &[String], peer: &NatFeature| NatHoleDetectBehavior {
            role: b.role().to_string(),
            mode: choice.mode,
            ttl: b.ttl,
            send_delay_ms: b.send_delay_ms,
            read_timeout: timeout_ms - b.send_delay_ms,
            candidate_ports: range_ports(peer_mapped, peer.ports_difference, b.ports_range_number),
            send_random_ports: b.ports_random_number,
            listen_random_ports: b.listen_random_ports,
        };
    let visitor_resp = NatHoleResp {
        transaction_id: vm.transaction_id.clone(),
        sid: sid.to_string(),
        protocol: vm.protocol.clone(),
        candidate_addrs: compact(&cm.mapped_addrs),
        assisted_addrs: compact(&cm.assisted_addrs),
        detect_behavior: detect(&vb, &cm.mapped_addrs, &cf),
        error: String::new(),
    };
    let client_resp = NatHoleResp {
        transaction_id: cm.transaction_id.clone(),
        sid: sid.to_string(),
        protocol: vm.protocol.clone(),
        candidate_addrs: compact(&vm.mapped_addrs),
        assisted_addrs: compact(&vm.assisted_addrs),
        detect_behavior: detect(&cb, &vm.mapped_addrs, &vf),
        error: String::new(),
    };
    Ok(Plan {
        analysis_key: key,
        choice,
        visitor_resp,
        client_resp,
    })
}

/// frps delays the response to a sender by 1 s, so the receiver's probes go out first.
pub fn response_delay(resp: &NatHoleResp) -> Duration {
    if resp.detect_behavior.role == ROLE_SENDER {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nathole::classify::classify;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn msgs(vm_addrs: &[&str], cm_addrs: &[&str]) -> (NatHoleVisitor, NatHoleClient) {
        let vm = NatHoleVisitor {
            transaction_id: "tv".into(),
            proxy_name: "u.p".into(),
            protocol: "quic".into(),
            mapped_addrs: v(vm_addrs),
            assisted_addrs: v(&["10.0.0.2:4000"]),
            ..Default::default()
        };
        let cm = NatHoleClient {
            transaction_id: "tc".into(),
            proxy_name: "u.p".into(),
            sid: "sid".into(),
            mapped_addrs: v(cm_addrs),
            assisted_addrs: v(&["192.168.1.2:5000"]),
        };
        (vm, cm)
    }

    #[test]
    fn easy_easy_walks_mode0_in_order() {
        let a = Analyzer::new(Duration::from_secs(3600));
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1000"],
            &["2.2.2.2:2000", "2.2.2.2:2000"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (0, 0));
        // Client sender, visitor receiver with TTL 7; read timeout 5000 ms.
        let c = &p.client_resp;
        assert_eq!(c.transaction_id, "tc");
        assert_eq!(c.protocol, "quic");
        assert_eq!(c.candidate_addrs, v(&["1.1.1.1:1000"]));
        assert_eq!(c.assisted_addrs, v(&["10.0.0.2:4000"]));
        assert_eq!(c.detect_behavior.role, "sender");
        assert_eq!(c.detect_behavior.read_timeout, 5000);
        assert_eq!(response_delay(c), Duration::from_secs(1));
        let vr = &p.visitor_resp;
        assert_eq!(vr.transaction_id, "tv");
        assert_eq!(vr.candidate_addrs, v(&["2.2.2.2:2000"]));
        assert_eq!(vr.detect_behavior.role, "receiver");
        assert_eq!(vr.detect_behavior.ttl, 7);
        assert!(vr.detect_behavior.candidate_ports.is_empty());
        assert_eq!(response_delay(vr), Duration::ZERO);
        // Wire form as frp's: inner fields omitempty, mode 0 omitted.
        assert_eq!(
            String::from_utf8(crate::proto::msg::Message::NatHoleResp(vr.clone()).encode_body())
                .unwrap(),
            r#"{"transaction_id":"tv","sid":"sid","protocol":"quic","candidate_addrs":["2.2.2.2:2000"],"assisted_addrs":["192.168.1.2:5000"],"detect_behavior":{"role":"receiver","ttl":7,"read_timeout":5000}}"#
        );

        // Scores drop by one per use, so the next attempts take the next rows.
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (0, 1));
        assert_eq!(p.client_resp.detect_behavior.role, "receiver");
        assert_eq!(p.client_resp.detect_behavior.ttl, 7);
        for want in 2..10 {
            let p = plan(&a, "sid", &vm, &cm).unwrap();
            assert_eq!(p.choice.index, want);
        }
        // Row 6: sender with 5 s delay; read timeout = 10000 - 5000 for it, 10000 for the peer.
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!(p.choice.index, 0); // all at -1: back to the first
        let key = p.analysis_key.clone();
        a.report_success(&key, 0, 6);
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!(p.choice.index, 6);
        assert_eq!(p.client_resp.detect_behavior.send_delay_ms, 5000);
        assert_eq!(p.client_resp.detect_behavior.read_timeout, 5000);
        assert_eq!(p.visitor_resp.detect_behavior.read_timeout, 10000);
    }

    #[test]
    fn public_network_side_is_receiver() {
        let a = Analyzer::new(Duration::from_secs(3600));
        let (vm, mut cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1000"],
            &["2.2.2.2:2000", "2.2.2.2:2000"],
        );
        cm.assisted_addrs = v(&["2.2.2.2:2000"]);
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        // First row where the client is receiver scores 1: index 1.
        assert_eq!((p.choice.mode, p.choice.index), (0, 1));
        assert_eq!(p.client_resp.detect_behavior.role, "receiver");
    }

    #[test]
    fn hard_regular_client_and_easy_visitor_use_mode1() {
        let a = Analyzer::new(Duration::from_secs(3600));
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1000"],
            &["2.2.2.2:2000", "2.2.2.2:2003"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (1, 0));
        // HardNAT (client) sends; the EasyNAT visitor receives with TTL 7 and probes a range
        // around the client's last port: max(2003-3-5, 2003-10) ..= min(2003+3+5, 2003+10).
        assert_eq!(p.client_resp.detect_behavior.role, "sender");
        let vd = &p.visitor_resp.detect_behavior;
        assert_eq!(vd.role, "receiver");
        assert_eq!(vd.mode, 1);
        assert_eq!(
            vd.candidate_ports,
            vec![PortsRange {
                from: 1995,
                to: 2011
            }]
        );
        assert!(p.client_resp.detect_behavior.candidate_ports.is_empty());
    }

    #[test]
    fn mode1_swaps_when_the_client_is_easy() {
        let a = Analyzer::new(Duration::from_secs(3600));
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1001"],
            &["2.2.2.2:2000", "2.2.2.2:2000"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!(p.choice.mode, 1);
        assert_eq!(p.visitor_resp.detect_behavior.role, "sender");
        assert_eq!(p.client_resp.detect_behavior.role, "receiver");
        assert_eq!(
            p.client_resp.detect_behavior.candidate_ports,
            vec![PortsRange {
                from: 995,
                to: 1007
            }]
        );
    }

    #[test]
    fn irregular_hard_uses_mode2_with_listening_receiver() {
        let a = Analyzer::new(Duration::from_secs(3600));
        // Visitor HardNAT with an irregular port change; client EasyNAT.
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:3000"],
            &["2.2.2.2:2000", "2.2.2.2:2000"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (2, 0));
        let (vd, cd) = (
            &p.visitor_resp.detect_behavior,
            &p.client_resp.detect_behavior,
        );
        // HardNAT (visitor) receives on 256 extra ports; the EasyNAT client sends to 1000
        // random ports after 3 s. Timeout: 3000 + 5000 + 30000.
        assert_eq!(
            (vd.role.as_str(), vd.listen_random_ports, vd.ttl),
            ("receiver", 256, 7)
        );
        assert_eq!(
            (cd.role.as_str(), cd.send_random_ports, cd.send_delay_ms),
            ("sender", 1000, 3000)
        );
        assert_eq!(vd.read_timeout, 38000);
        assert_eq!(cd.read_timeout, 35000);
        // Mode 2 with a hard client: swapped.
        let (vm, cm) = msgs(
            &["2.2.2.2:2000", "2.2.2.2:2000"],
            &["1.1.1.1:1000", "1.1.1.1:3000"],
        );
        let p = plan(&Analyzer::new(Duration::from_secs(1)), "sid", &vm, &cm).unwrap();
        assert_eq!(p.client_resp.detect_behavior.listen_random_ports, 256);
        assert_eq!(p.visitor_resp.detect_behavior.send_random_ports, 1000);
    }

    #[test]
    fn hard_hard() {
        let a = Analyzer::new(Duration::from_secs(3600));
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1002"],
            &["2.2.2.2:2000", "2.2.2.2:2001"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (3, 0));
        let cd = &p.client_resp.detect_behavior;
        assert_eq!(
            cd.candidate_ports,
            vec![PortsRange {
                from: 995,
                to: 1009
            }]
        );
        // One regular: mode 4, the regular one sends.
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1002"],
            &["2.2.2.2:2000", "2.2.2.2:2900"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!(p.choice.mode, 4);
        assert_eq!(p.visitor_resp.detect_behavior.role, "sender");
        let cd = &p.client_resp.detect_behavior;
        assert_eq!(cd.role, "receiver");
        assert_eq!(
            cd.candidate_ports,
            vec![PortsRange {
                from: 1000,
                to: 1004
            }]
        );
        // Neither regular: the "just try" list starts with mode 0 at score 1.
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "3.3.3.3:1000"],
            &["2.2.2.2:2000", "2.2.2.2:2900"],
        );
        let p = plan(&a, "sid", &vm, &cm).unwrap();
        assert_eq!((p.choice.mode, p.choice.index), (0, 0));
    }

    #[test]
    fn errors_and_cleaning() {
        let a = Analyzer::new(Duration::ZERO);
        let (vm, cm) = msgs(&["1.1.1.1:1000"], &["2.2.2.2:2000", "2.2.2.2:2000"]);
        assert_eq!(
            plan(&a, "sid", &vm, &cm).unwrap_err(),
            "classify visitor nat feature error: not enough addresses"
        );
        let (vm, cm) = msgs(
            &["1.1.1.1:1000", "1.1.1.1:1000"],
            &["2.2.2.2:2000", "2.2.2.2:2000"],
        );
        plan(&a, "sid", &vm, &cm).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(a.clean(), (1, 1));
        let f = classify(&v(&["1.1.1.1:1", "1.1.1.1:1"]), &[]).unwrap();
        assert_eq!(
            analysis_key(&v(&["1.1.1.1:1"]), &f, &v(&["1.1.1.1:1"]), &f).len(),
            32
        );
        assert_eq!(
            range_ports(&v(&["1.1.1.1:3"]), 0, 10),
            vec![PortsRange { from: 1, to: 8 }]
        );
        assert!(range_ports(&v(&["bad"]), 0, 10).is_empty());
        assert!(range_ports(&v(&["1.1.1.1:3"]), 0, 0).is_empty());
    }
}
