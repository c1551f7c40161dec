//! Counters for the dashboard API, kept with atomics so the data path takes no lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

use super::lock;

#[derive(Default)]
pub struct Stats {
    cur_conns: AtomicI64,
    /// Today's traffic; `day` is the UTC day number the counters belong to.
    day: AtomicU64,
    traffic_in: AtomicU64,
    traffic_out: AtomicU64,
    /// Registered proxies per type; a type stays listed (with 0) once seen, as frp shows it.
    proxy_types: Mutex<BTreeMap<String, i64>>,
}

/// Decrements the open-connection count when dropped.
pub struct ConnGuard<'a>(&'a Stats);

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.cur_conns.fetch_sub(1, Ordering::Relaxed);
    }
}

fn today() -> u64 {
    (crate::unix_now().max(0) as u64) / 86_400
}

impl Stats {
    pub fn connection(&self) -> ConnGuard<'_> {
        self.cur_conns.fetch_add(1, Ordering::Relaxed);
        ConnGuard(self)
    }

    /// For a count that outlives a borrow of the stats (see `vhost::http::ConnCount`).
    pub fn conn_opened(&self) {
        self.cur_conns.fetch_add(1, Ordering::Relaxed);
    }

    pub fn conn_closed(&self) {
        self.cur_conns.fetch_sub(1, Ordering::Relaxed);
    }

    fn roll_day(&self) {
        let now = today();
        if self.day.swap(now, Ordering::Relaxed) != now {
            self.traffic_in.store(0, Ordering::Relaxed);
            self.traffic_out.store(0, Ordering::Relaxed);
        }
    }

    /// Bytes of one finished user connection: `inbound` from the user, `outbound` to the user.
    pub fn add_traffic(&self, inbound: u64, outbound: u64) {
        self.roll_day();
        self.traffic_in.fetch_add(inbound, Ordering::Relaxed);
        self.traffic_out.fetch_add(outbound, Ordering::Relaxed);
    }

    pub fn proxy_opened(&self, kind: &str) {
        *lock(&self.proxy_types).entry(kind.to_string()).or_insert(0) += 1;
    }

    pub fn proxy_closed(&self, kind: &str) {
        if let Some(n) = lock(&self.proxy_types).get_mut(kind) {
            *n = (*n - 1).max(0);
        }
    }

    pub fn cur_conns(&self) -> i64 {
        self.cur_conns.load(Ordering::Relaxed)
    }

    pub fn traffic_today(&self) -> (u64, u64) {
        self.roll_day();
        (
            self.traffic_in.load(Ordering::Relaxed),
            self.traffic_out.load(Ordering::Relaxed),
        )
    }

    pub fn proxy_type_counts(&self) -> BTreeMap<String, i64> {
        lock(&self.proxy_types).clone()
    }
}
