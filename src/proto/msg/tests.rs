use super::*;

#[test]
fn login_vector_12_3() {
    let login = Login {
        version: "0.65.0".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        privilege_key: "3d8aac6cc09d79da303be74c311e5808".into(),
        timestamp: 1700000000,
        pool_count: 1,
        ..Default::default()
    };
    let body = Message::Login(login).encode_body();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"version":"0.65.0","os":"linux","arch":"amd64","privilege_key":"3d8aac6cc09d79da303be74c311e5808","timestamp":1700000000,"client_spec":{},"pool_count":1}"#
    );
}

#[test]
fn login_with_user_and_metas_matches_go_escaping() {
    let mut metas = StrMap::new();
    metas.insert("z".into(), "1".into());
    metas.insert("a".into(), "<&>".into());
    let login = Login {
        version: "0.65.0".into(),
        os: "linux".into(),
        arch: "amd64".into(),
        user: "alice".into(),
        privilege_key: "3d8aac6cc09d79da303be74c311e5808".into(),
        timestamp: 1700000000,
        run_id: "a1b2c3d4e5f60718".into(),
        metas,
        pool_count: 1,
        ..Default::default()
    };
    let body = Message::Login(login.clone()).encode_body();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"version":"0.65.0","os":"linux","arch":"amd64","user":"alice","privilege_key":"3d8aac6cc09d79da303be74c311e5808","timestamp":1700000000,"run_id":"a1b2c3d4e5f60718","metas":{"a":"\u003c\u0026\u003e","z":"1"},"client_spec":{},"pool_count":1}"#
    );
    assert_eq!(Message::decode(b'o', &body).unwrap(), Message::Login(login));
}

#[test]
fn decode_is_case_insensitive_and_ignores_unknown_keys() {
    let m = Message::decode(
        b'p',
        br#"{"PROXY_NAME":"ssh","Proxy_Type":"tcp","remote_port":6000,"what":1,"metas":{"Key":"V"}}"#,
    )
    .unwrap();
    let Message::NewProxy(p) = m else { panic!() };
    assert_eq!(p.proxy_name, "ssh");
    assert_eq!(p.proxy_type, "tcp");
    assert_eq!(p.remote_port, 6000);
    assert_eq!(p.metas.get("Key").map(String::as_str), Some("V"));
}

#[test]
fn udp_packet_and_nathole_resp_shapes() {
    let m = Message::UdpPacket(UdpPacket {
        c: "aGVsbG8=".into(),
        l: None,
        r: Some(UdpAddr {
            ip: "1.2.3.4".into(),
            port: 5678,
            zone: String::new(),
        }),
    });
    let body = m.encode_body();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"{"c":"aGVsbG8=","r":{"IP":"1.2.3.4","Port":5678,"Zone":""}}"#
    );
    assert_eq!(Message::decode(b'u', &body).unwrap(), m);
    let r = Message::NatHoleResp(NatHoleResp {
        transaction_id: "t1".into(),
        ..Default::default()
    });
    assert_eq!(
        r.encode_body(),
        br#"{"transaction_id":"t1","detect_behavior":{}}"#
    );
}
