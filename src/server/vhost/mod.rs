//! Virtual hosts on frps: http (§10.3), https (§10.4) and tcpmux (§10.5) proxies share one
//! routing table per listener (§9). A route is served by one proxy, or round-robin by the
//! members of a load-balancing group (§10.9) that registered the same route with the same key.

pub mod http;
pub mod https;
pub mod router;
pub mod sni;
pub mod tcpmux;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use router::Router;

use super::lock;
use crate::proto::errors;

/// The routing tables of the three vhost listeners.
#[derive(Default)]
pub struct Vhosts {
    pub http: Table<http::Backend>,
    pub https: Table<crate::server::proxy::target::Target>,
    pub tcpmux: Table<crate::server::proxy::target::Target>,
}

/// What a route does besides choosing a member; taken from the first member of a group.
#[derive(Debug, Clone, Default)]
pub struct RouteSettings {
    pub http_user: String,
    pub http_pwd: String,
    pub host_header_rewrite: String,
    pub request_headers: Vec<(String, String)>,
    pub response_headers: Vec<(String, String)>,
}

/// One (domain, location, routeByHTTPUser) entry and the proxies serving it.
pub struct Route<M> {
    pub settings: RouteSettings,
    group: String,
    group_key: String,
    members: Mutex<Vec<(String, Arc<M>)>>,
    next: AtomicUsize,
}

impl<M> Route<M> {
    /// The next member, round-robin; `None` once the last one left.
    pub fn pick(&self) -> Option<Arc<M>> {
        let members = lock(&self.members);
        if members.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % members.len();
        Some(members[i].1.clone())
    }

    /// Whether the user/password pair passes this route's basic auth (none set = anyone).
    pub fn auth_ok(&self, user: &str, pwd: &str) -> bool {
        let s = &self.settings;
        if s.http_user.is_empty() && s.http_pwd.is_empty() {
            return true;
        }
        crate::proto::crypto::ct_eq(user.as_bytes(), s.http_user.as_bytes())
            & crate::proto::crypto::ct_eq(pwd.as_bytes(), s.http_pwd.as_bytes())
    }
}

/// Where one proxy's route lives, to take it out again when the proxy closes.
#[derive(Clone)]
pub struct RouteKey {
    pub domain: String,
    pub location: String,
    pub user: String,
}

/// One listener's routing table.
pub struct Table<M> {
    router: RwLock<Router<Route<M>>>,
}

impl<M> Default for Table<M> {
    fn default() -> Self {
        Table {
            router: RwLock::new(Router::default()),
        }
    }
}

/// What a proxy asks to register on a table.
pub struct Registration<'a> {
    pub proxy_name: &'a str,
    pub group: &'a str,
    pub group_key: &'a str,
    pub settings: RouteSettings,
}

impl<M> Table<M> {
    pub fn lookup(&self, host: &str, path: &str, user: &str) -> Option<Arc<Route<M>>> {
        self.router
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .lookup(host, path, user)
    }

    /// Register `member` for one route, alone or joining its group.
    pub fn add(
        &self,
        key: &RouteKey,
        reg: &Registration<'_>,
        member: Arc<M>,
    ) -> Result<(), String> {
        let mut router = self.router.write().unwrap_or_else(|p| p.into_inner());
        if let Some(route) = router.exact(&key.domain, &key.location, &key.user) {
            if reg.group.is_empty() || route.group.is_empty() {
                return Err(errors::ROUTER_CONFIG_CONFLICT.into());
            }
            if route.group != reg.group {
                return Err(errors::GROUP_PARAMS_INVALID.into());
            }
            if !crate::proto::crypto::ct_eq(route.group_key.as_bytes(), reg.group_key.as_bytes()) {
                return Err(errors::GROUP_AUTH_FAILED.into());
            }
            let mut members = lock(&route.members);
            if members.iter().any(|(n, _)| n == reg.proxy_name) {
                return Err(errors::GROUP_PROXY_REPEATED.into());
            }
            members.push((reg.proxy_name.to_string(), member));
            return Ok(());
        }
        let route = Route {
            settings: reg.settings.clone(),
            group: reg.group.to_string(),
            group_key: reg.group_key.to_string(),
            members: Mutex::new(vec![(reg.proxy_name.to_string(), member)]),
            next: AtomicUsize::new(0),
        };
        router.add(&key.domain, &key.location, &key.user, Arc::new(route))
    }

    /// Take `proxy_name` out of a route; the route goes with its last member.
    pub fn remove(&self, key: &RouteKey, proxy_name: &str) {
        let mut router = self.router.write().unwrap_or_else(|p| p.into_inner());
        let Some(route) = router.exact(&key.domain, &key.location, &key.user) else {
            return;
        };
        let empty = {
            let mut members = lock(&route.members);
            members.retain(|(n, _)| n != proxy_name);
            members.is_empty()
        };
        if empty {
            router.remove(&key.domain, &key.location, &key.user);
        }
    }
}

/// Register `member` under every key of `keys` on the table `table` picks; the first failure
/// undoes what was added, and each route goes again when `running` closes.
pub fn add_routes<M: Send + Sync + 'static>(
    server: &Arc<crate::server::Server>,
    table: fn(&crate::server::Server) -> &Table<M>,
    keys: &[RouteKey],
    reg: &Registration<'_>,
    member: &Arc<M>,
    running: &mut crate::server::proxy::running::RunningProxy,
) -> Result<(), String> {
    for key in keys {
        if let Err(e) = table(server).add(key, reg, member.clone()) {
            running.undo();
            return Err(e);
        }
        let (s, name) = (server.clone(), reg.proxy_name.to_string());
        let key = key.clone();
        running.on_close(move || table(&s).remove(&key, &name));
    }
    Ok(())
}

/// The domains a proxy asks for: its custom domains and `subdomain.subDomainHost`, with frps's
/// checks and error texts (protocol.md §7.8).
pub fn build_domains(
    custom_domains: &[String],
    subdomain: &str,
    sub_domain_host: &str,
) -> Result<Vec<String>, String> {
    let host = sub_domain_host.to_ascii_lowercase();
    let mut out = Vec::new();
    for d in custom_domains {
        let d = d.trim().to_ascii_lowercase();
        if d.is_empty() {
            continue;
        }
        if !host.is_empty() && d.split('.').count() > host.split('.').count() && d.contains(&host) {
            return Err(format!(
                "custom domain [{d}] should not belong to subdomain host [{host}]"
            ));
        }
        out.push(d);
    }
    if !subdomain.is_empty() {
        if host.is_empty() {
            return Err(
                "subdomain is not supported because this feature is not enabled in server".into(),
            );
        }
        if subdomain.contains('.') || subdomain.contains('*') {
            return Err("'.' and '*' are not supported in subdomain".into());
        }
        out.push(format!("{}.{host}", subdomain.to_ascii_lowercase()));
    }
    Ok(out)
}

/// `domain` or `domain:port` as frp reports a vhost proxy's address (no port for 80 and 443).
pub fn canonical_addr(domain: &str, port: i64) -> String {
    if port == 80 || port == 443 {
        domain.to_string()
    } else {
        format!("{domain}:{port}")
    }
}

/// frp's built-in 404 page (pkg/util/vhost/resource.go), in our words where it has any.
pub const NOT_FOUND_PAGE: &str = r#"<!DOCTYPE html>
<html>
<head>
<title>Not Found</title>
<style>
    body {
        width: 35em;
        margin: 0 auto;
        font-family: Tahoma, Verdana, Arial, sans-serif;
    }
</style>
</head>
<body>
<h1>The page you requested was not found.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
<p>The server is powered by <a href="https://github.com/fatedier/frp">frp</a>.</p>
<p><em>Faithfully yours, frp.</em></p>
</body>
</html>
"#;

/// The 404 body: `custom404Page` read on every use (so it can be edited live), else the built-in.
pub async fn not_found_body(custom_404_page: &str) -> Vec<u8> {
    if !custom_404_page.is_empty() {
        match tokio::fs::read(custom_404_page).await {
            Ok(b) => return b,
            Err(e) => tracing::warn!("read custom 404 page {custom_404_page}: {e}"),
        }
    }
    NOT_FOUND_PAGE.as_bytes().to_vec()
}

/// The raw 404 response that https-less muxers (tcpmux, CONNECT) write before closing.
pub async fn raw_not_found(custom_404_page: &str) -> Vec<u8> {
    let body = not_found_body(custom_404_page).await;
    let mut out = format!(
        "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nContent-Type: text/html\r\nServer: frp/{}\r\n\r\n",
        body.len(),
        crate::FRP_PROTOCOL_VERSION
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_follow_frps_rules() {
        let d = |c: &[&str], s: &str, h: &str| {
            build_domains(&c.iter().map(|x| x.to_string()).collect::<Vec<_>>(), s, h)
        };
        assert_eq!(
            d(&["A.test"], "web", "frps.com").unwrap(),
            ["a.test", "web.frps.com"]
        );
        assert!(d(&[], "web", "")
            .unwrap_err()
            .contains("not enabled in server"));
        assert!(d(&[], "a.b", "x.com").unwrap_err().contains("'.' and '*'"));
        assert!(d(&["a.x.com"], "", "x.com")
            .unwrap_err()
            .contains("should not belong"));
        assert_eq!(canonical_addr("a.test", 80), "a.test");
        assert_eq!(canonical_addr("a.test", 8080), "a.test:8080");
    }

    #[test]
    fn groups_share_a_route_with_the_same_key() {
        let t: Table<u32> = Table::default();
        let key = RouteKey {
            domain: "a.test".into(),
            location: "".into(),
            user: "".into(),
        };
        let reg = |name: &'static str, group: &'static str, k: &'static str| Registration {
            proxy_name: name,
            group,
            group_key: k,
            settings: RouteSettings::default(),
        };
        t.add(&key, &reg("p1", "g", "k"), Arc::new(1)).unwrap();
        t.add(&key, &reg("p2", "g", "k"), Arc::new(2)).unwrap();
        assert_eq!(
            t.add(&key, &reg("p3", "g", "bad"), Arc::new(3))
                .unwrap_err(),
            errors::GROUP_AUTH_FAILED
        );
        assert_eq!(
            t.add(&key, &reg("p4", "", ""), Arc::new(4)).unwrap_err(),
            errors::ROUTER_CONFIG_CONFLICT
        );
        let route = t.lookup("a.test", "/", "").unwrap();
        let picks: Vec<u32> = (0..4).map(|_| *route.pick().unwrap()).collect();
        assert_eq!(picks, [1, 2, 1, 2]);
        t.remove(&key, "p1");
        assert_eq!(*t.lookup("a.test", "/", "").unwrap().pick().unwrap(), 2);
        t.remove(&key, "p2");
        assert!(t.lookup("a.test", "/", "").is_none());
    }
}
