use super::*;

fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| (n.clone(), HeaderValue::from_str(v).unwrap()))
        .collect()
}

// frp v0.68.1's getRequestRouteUser cases (pkg/util/vhost/http_test.go).
#[test]
fn the_route_user_of_each_kind_of_request() {
    let proxy = "Basic cHJveHktdXNlcjpwcm94eS1wYXNz"; // proxy-user:proxy-pass
    let direct = "Basic ZGlyZWN0LXVzZXI6ZGlyZWN0LXBhc3M="; // direct-user:direct-pass
    let both = headers(&[
        (header::PROXY_AUTHORIZATION, proxy),
        (header::AUTHORIZATION, direct),
    ]);
    assert_eq!(route_user(&both, true), "proxy-user");
    assert_eq!(route_user(&both, false), "direct-user");
    let only_direct = headers(&[(header::AUTHORIZATION, direct)]);
    assert_eq!(
        route_user(&only_direct, true),
        "direct-user",
        "proxy-style without Proxy-Authorization still finds its route"
    );
    let broken_proxy = headers(&[
        (header::PROXY_AUTHORIZATION, "Basic !!!"),
        (header::AUTHORIZATION, direct),
    ]);
    assert_eq!(route_user(&broken_proxy, true), "", "no fallback");
}
