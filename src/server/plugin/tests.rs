//! Server plugin wire forms and answers, against the spec's examples (apis.md §5).

use super::*;
use crate::proto::msg::StrMap;

fn user() -> UserInfo {
    UserInfo {
        user: "alice".into(),
        metas: StrMap::new(),
        run_id: "a1b2c3d4e5f60718".into(),
    }
}

#[test]
fn new_user_conn_body_matches_the_spec_example() {
    let c = NewUserConnContent {
        user: user(),
        proxy_name: "alice.ssh".into(),
        proxy_type: "tcp".into(),
        remote_addr: "198.51.100.7:40022".into(),
    };
    let body = serde_json::to_string(&PluginRequest {
        version: API_VERSION,
        op: "NewUserConn",
        content: &c,
    })
    .unwrap();
    assert_eq!(
        body,
        r#"{"version":"0.1.0","op":"NewUserConn","content":{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"alice.ssh","proxy_type":"tcp","remote_addr":"198.51.100.7:40022"}}"#
    );
}

#[test]
fn login_body_matches_the_spec_example() {
    let mut metas = StrMap::new();
    metas.insert("token".into(), "x".into());
    let c = LoginContent {
        login: msg::Login {
            version: "0.65.0".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            user: "alice".into(),
            privilege_key: "3d8aac6cc09d79da303be74c311e5808".into(),
            timestamp: 1700000000,
            metas,
            pool_count: 1,
            ..Default::default()
        },
        client_address: "203.0.113.5:51234".into(),
    };
    let body = serde_json::to_string(&PluginRequest {
        version: API_VERSION,
        op: "Login",
        content: &c,
    })
    .unwrap();
    assert_eq!(
        body,
        r#"{"version":"0.1.0","op":"Login","content":{"version":"0.65.0","os":"linux","arch":"amd64","user":"alice","privilege_key":"3d8aac6cc09d79da303be74c311e5808","timestamp":1700000000,"metas":{"token":"x"},"client_spec":{},"pool_count":1,"client_address":"203.0.113.5:51234"}}"#
    );
}

#[test]
fn new_proxy_and_close_proxy_flatten_the_messages() {
    let c = NewProxyContent {
        user: user(),
        new_proxy: msg::NewProxy {
            proxy_name: "ssh".into(),
            proxy_type: "tcp".into(),
            remote_port: 6000,
            ..Default::default()
        },
    };
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"ssh","proxy_type":"tcp","remote_port":6000}"#
    );
    let c = CloseProxyContent {
        user: user(),
        close_proxy: msg::CloseProxy {
            proxy_name: "ssh".into(),
        },
    };
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"proxy_name":"ssh"}"#
    );
    let c = PingContent {
        user: user(),
        ping: msg::Ping {
            privilege_key: "k".into(),
            timestamp: 5,
        },
    };
    assert_eq!(
        serde_json::to_string(&c).unwrap(),
        r#"{"user":{"user":"alice","metas":null,"run_id":"a1b2c3d4e5f60718"},"privilege_key":"k","timestamp":5}"#
    );
}

#[test]
fn response_content_decodes_case_insensitively_onto_an_empty_content() {
    let r: PluginResponse<NewProxyContent> = decode_response(
        br#"{"Reject":false,"UNCHANGE":false,"content":{"User":{"USER":"bob","metas":{"K":"v"}},"Proxy_Name":"ssh","remote_port":7001,"unknown":1}}"#,
    )
    .unwrap();
    assert!(!r.reject && !r.unchange);
    let c = r.content.unwrap();
    assert_eq!(c.user.user, "bob");
    assert_eq!(c.user.metas.get("K").map(String::as_str), Some("v"));
    assert_eq!(c.new_proxy.proxy_name, "ssh");
    assert_eq!(c.new_proxy.remote_port, 7001);
    assert_eq!(c.new_proxy.proxy_type, "");
}

#[test]
fn bad_responses_are_errors_that_quote_no_values() {
    // `"false"` as a string is not a bool (the upstream doc's example).
    let e = decode_response::<LoginContent>(br#"{"unchange":"false"}"#)
        .err()
        .unwrap();
    assert!(!e.contains("false"), "{e}");
    let e = decode_response::<LoginContent>(
        br#"{"unchange":false,"content":{"privilege_key":["s3cret"]}}"#,
    )
    .err()
    .unwrap();
    assert!(!e.contains("s3cret"), "{e}");
    assert!(decode_response::<LoginContent>(b"[]").is_err());
    assert!(decode_response::<LoginContent>(b"not json").is_err());
    // null content is absent content.
    let r = decode_response::<LoginContent>(br#"{"content":null}"#).unwrap();
    assert!(r.content.is_none());
}

#[test]
fn endpoints() {
    let ep = Endpoint::parse("http://127.0.0.1:9000/handler", false).unwrap();
    assert_eq!((ep.host.as_str(), ep.port), ("127.0.0.1", 9000));
    assert_eq!(ep.authority, "127.0.0.1:9000");
    assert_eq!(ep.path, "/handler");
    assert!(ep.tls.is_none());
    let ep = Endpoint::parse("http://[::1]", false).unwrap();
    assert_eq!(
        (ep.host.as_str(), ep.port, ep.path.as_str()),
        ("::1", 80, "/")
    );
    let ep = Endpoint::parse("https://plugin.example:8443?x=1", false).unwrap();
    assert_eq!((ep.host.as_str(), ep.port), ("plugin.example", 8443));
    assert_eq!(ep.path, "/?x=1");
    assert!(ep.tls.is_some());
    assert!(Endpoint::parse("http://u:p@h/x", false).is_err());
    assert!(Endpoint::parse("http://h:99999/x", false).is_err());
    assert!(Endpoint::parse("http:///x", false).is_err());
    let p = HttpPlugin::new(&HttpPluginOptions {
        name: "a".into(),
        addr: "127.0.0.1:9000".into(),
        path: "/h".into(),
        ops: vec!["Login".into(), "NewUserConn".into()],
        tls_verify: false,
    });
    let ep = p.endpoint.as_ref().unwrap();
    assert_eq!(
        (ep.authority.as_str(), ep.path.as_str()),
        ("127.0.0.1:9000", "/h")
    );
    assert!(ep.tls.is_none());
    assert_eq!(p.ops, vec![Op::Login, Op::NewUserConn]);
}
