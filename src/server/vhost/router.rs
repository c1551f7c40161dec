//! The vhost routing table shared by http, https and tcpmux (protocol.md §9): routes keyed by
//! (domain, location, routeByHTTPUser), looked up with frp's wildcard and catch-all rules.

use std::collections::HashMap;
use std::sync::Arc;

/// One domain's routes for one routing user, sorted by location in descending order so that the
/// first prefix match is the one frp picks (`/pic` before `/`).
type Locations<T> = Vec<(String, Arc<T>)>;

pub struct Router<T> {
    by_domain: HashMap<String, HashMap<String, Locations<T>>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            by_domain: HashMap::new(),
        }
    }
}

impl<T> Router<T> {
    /// Add a route; an identical (domain, location, user) is a conflict, as in frp.
    pub fn add(
        &mut self,
        domain: &str,
        location: &str,
        user: &str,
        v: Arc<T>,
    ) -> Result<(), String> {
        let list = self
            .by_domain
            .entry(domain.to_ascii_lowercase())
            .or_default()
            .entry(user.to_string())
            .or_default();
        if list.iter().any(|(l, _)| l == location) {
            return Err(crate::proto::errors::ROUTER_CONFIG_CONFLICT.into());
        }
        list.push((location.to_string(), v));
        list.sort_by(|a, b| b.0.cmp(&a.0));
        Ok(())
    }

    /// The value registered for exactly this (domain, location, user), if any.
    pub fn exact(&self, domain: &str, location: &str, user: &str) -> Option<&Arc<T>> {
        self.by_domain
            .get(&domain.to_ascii_lowercase())?
            .get(user)?
            .iter()
            .find(|(l, _)| l == location)
            .map(|(_, v)| v)
    }

    pub fn remove(&mut self, domain: &str, location: &str, user: &str) {
        let domain = domain.to_ascii_lowercase();
        let Some(users) = self.by_domain.get_mut(&domain) else {
            return;
        };
        if let Some(list) = users.get_mut(user) {
            list.retain(|(l, _)| l != location);
            if list.is_empty() {
                users.remove(user);
            }
        }
        if users.is_empty() {
            self.by_domain.remove(&domain);
        }
    }

    fn get(&self, host: &str, path: &str, user: &str) -> Option<&Arc<T>> {
        self.by_domain
            .get(host)?
            .get(user)?
            .iter()
            .find(|(l, _)| path.starts_with(l.as_str()))
            .map(|(_, v)| v)
    }

    /// Try `user`, then the routes that do not route by user.
    fn find(&self, host: &str, path: &str, user: &str) -> Option<&Arc<T>> {
        self.get(host, path, user)
            .or_else(|| self.get(host, path, ""))
    }

    /// frp's lookup for a canonical (lower-case) host: the full name, then wildcard forms
    /// (`a.b.example.com` → `*.b.example.com` → `*.example.com`, never `*.com`), then `*`.
    pub fn lookup(&self, host: &str, path: &str, user: &str) -> Option<Arc<T>> {
        if let Some(v) = self.find(host, path, user) {
            return Some(v.clone());
        }
        let labels: Vec<&str> = host.split('.').collect();
        let mut rest = &labels[..];
        while rest.len() >= 3 {
            let wildcard = format!("*.{}", rest[1..].join("."));
            if let Some(v) = self.find(&wildcard, path, user) {
                return Some(v.clone());
            }
            rest = &rest[1..];
        }
        self.find("*", path, user).cloned()
    }
}

/// The request host as frp routes on it: lower-case, port stripped, trailing dot removed.
pub fn canonical_host(host: &str) -> String {
    let host = host.trim();
    let without_port = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    without_port.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str, &str, u32)]) -> Router<u32> {
        let mut r = Router::default();
        for (d, l, u, v) in routes {
            r.add(d, l, u, Arc::new(*v)).expect("add");
        }
        r
    }

    fn at(r: &Router<u32>, host: &str, path: &str, user: &str) -> Option<u32> {
        r.lookup(host, path, user).map(|v| *v)
    }

    #[test]
    fn exact_wildcard_and_catch_all() {
        let r = router(&[
            ("a.example.com", "", "", 1),
            ("*.example.com", "", "", 2),
            ("*.b.example.com", "", "", 3),
            ("*", "", "", 4),
        ]);
        assert_eq!(at(&r, "a.example.com", "/", ""), Some(1));
        assert_eq!(at(&r, "x.example.com", "/", ""), Some(2));
        assert_eq!(at(&r, "x.b.example.com", "/", ""), Some(3));
        assert_eq!(at(&r, "y.x.b.example.com", "/", ""), Some(3));
        assert_eq!(
            at(&r, "example.com", "/", ""),
            Some(4),
            "*.com is never tried"
        );
        assert_eq!(at(&r, "other.org", "/", ""), Some(4));
    }

    #[test]
    fn locations_descending_prefix_and_users() {
        let r = router(&[
            ("a.test", "/", "", 1),
            ("a.test", "/pic", "", 2),
            ("a.test", "/pic", "bob", 3),
        ]);
        assert_eq!(at(&r, "a.test", "/picture", ""), Some(2));
        assert_eq!(at(&r, "a.test", "/pic/1", "bob"), Some(3));
        assert_eq!(
            at(&r, "a.test", "/x", "bob"),
            Some(1),
            "falls back to no-user routes"
        );
        assert_eq!(at(&r, "a.test", "", ""), None, "'/' is not a prefix of ''");
        let mut r = r;
        assert!(r.add("A.test", "/", "", Arc::new(9)).is_err());
        r.remove("a.test", "/pic", "");
        assert_eq!(at(&r, "a.test", "/pic", ""), Some(1));
    }

    #[test]
    fn canonical_hosts() {
        assert_eq!(canonical_host("A.Test:8080"), "a.test");
        assert_eq!(canonical_host("a.test."), "a.test");
        assert_eq!(canonical_host("[::1]:80"), "::1");
        assert_eq!(canonical_host("::1"), "::1");
    }
}
