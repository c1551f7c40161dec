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
