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
mod tests;
