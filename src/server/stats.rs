//! Counters for the dashboard API and Prometheus (apis.md §2, §3): frps as a whole, each
//! client and each proxy. The data path only touches atomics, once per finished connection (per
//! datagram for udp); the maps are locked when a proxy or client comes or goes, or an API reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use std::pin::Pin;
use std::task::{Context, Poll};

use time::{OffsetDateTime, UtcOffset};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::lock;
use super::proxy_conf::ProxyConf;

/// Days of traffic history kept per proxy (frp keeps 7).
pub const HISTORY_DAYS: usize = 7;

/// Offline proxies' records are dropped after this long (frp: 7 days).
const OFFLINE_KEEP_SECS: i64 = 7 * 86_400;

/// Bytes per day for the last [`HISTORY_DAYS`] days: slot `day % 7` holds day `day`, so a new
/// day claims its slot (and clears it) with one compare-and-swap, without a lock.
#[derive(Default)]
pub struct DayTraffic {
    slots: [DaySlot; HISTORY_DAYS],
}

#[derive(Default)]
struct DaySlot {
    day: AtomicI64,
    inbound: AtomicU64,
    outbound: AtomicU64,
}

impl DayTraffic {
    fn add(&self, day: i64, inbound: u64, outbound: u64) {
        let s = &self.slots[day.rem_euclid(HISTORY_DAYS as i64) as usize];
        let seen = s.day.load(Relaxed);
        if seen != day && s.day.compare_exchange(seen, day, Relaxed, Relaxed).is_ok() {
            // A connection finishing in this very instant on another thread may lose its
            // bytes to the clearing; that costs a few bytes once a day, never a lock.
            s.inbound.store(0, Relaxed);
            s.outbound.store(0, Relaxed);
        }
        s.inbound.fetch_add(inbound, Relaxed);
        s.outbound.fetch_add(outbound, Relaxed);
    }

    /// (in, out) per day, index 0 = `today`, 1 = yesterday, …
    fn history(&self, today: i64) -> ([u64; HISTORY_DAYS], [u64; HISTORY_DAYS]) {
        let (mut i, mut o) = ([0; HISTORY_DAYS], [0; HISTORY_DAYS]);
        for back in 0..HISTORY_DAYS {
            let day = today - back as i64;
            let s = &self.slots[day.rem_euclid(HISTORY_DAYS as i64) as usize];
            if s.day.load(Relaxed) == day {
                i[back] = s.inbound.load(Relaxed);
                o[back] = s.outbound.load(Relaxed);
            }
        }
        (i, o)
    }
}

/// Open connections and traffic of one scope (frps, a client, a proxy). "In" is bytes from the
/// public user towards frpc, "out" the other way.
#[derive(Default)]
pub struct Counters {
    conns: AtomicI64,
    days: DayTraffic,
    total_in: AtomicU64,
    total_out: AtomicU64,
}

impl Counters {
    pub fn cur_conns(&self) -> i64 {
        self.conns.load(Relaxed)
    }

    pub fn today(&self) -> (u64, u64) {
        let (i, o) = self.days.history(today());
        (i[0], o[0])
    }

    pub fn history(&self) -> ([u64; HISTORY_DAYS], [u64; HISTORY_DAYS]) {
        self.days.history(today())
    }

    /// Bytes since frps started (Prometheus counters).
    pub fn total(&self) -> (u64, u64) {
        (self.total_in.load(Relaxed), self.total_out.load(Relaxed))
    }

    fn add(&self, day: i64, inbound: u64, outbound: u64) {
        self.days.add(day, inbound, outbound);
        self.total_in.fetch_add(inbound, Relaxed);
        self.total_out.fetch_add(outbound, Relaxed);
    }
}

/// Where one proxy's connections are counted: the proxy, its client and frps as a whole.
#[derive(Clone)]
pub struct Meter {
    proxy: Arc<ProxyStats>,
    client: Arc<Counters>,
    global: Arc<Counters>,
}

impl Meter {
    fn each(&self, f: impl Fn(&Counters)) {
        f(&self.proxy.counters);
        f(&self.client);
        f(&self.global);
    }

    /// Count an open user connection until the guard drops.
    pub fn open(&self) -> OpenConn {
        self.each(|c| {
            c.conns.fetch_add(1, Relaxed);
        });
        OpenConn(self.clone())
    }

    /// Bytes of one finished connection, or of one datagram (udp).
    pub fn traffic(&self, inbound: u64, outbound: u64) {
        let day = today();
        self.each(|c| c.add(day, inbound, outbound));
    }

    pub fn proxy(&self) -> &Arc<ProxyStats> {
        &self.proxy
    }
}

/// A work connection whose bytes are booked on `meter` as they pass: for http, where one work
/// connection carries many requests and may idle in the pool for a minute (frp books them when
/// it closes; we do not wait). Open connections are counted per request instead (see
/// `vhost::http`), so an idle pooled connection is not one.
pub struct MeteredStream<S> {
    inner: S,
    meter: Meter,
}

impl<S> MeteredStream<S> {
    pub fn new(inner: S, meter: &Meter) -> MeteredStream<S> {
        MeteredStream {
            inner,
            meter: meter.clone(),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if n > 0 {
            self.meter.traffic(0, n as u64);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.meter.traffic(n as u64, 0);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// An open user connection, counted until dropped.
pub struct OpenConn(Meter);

impl Drop for OpenConn {
    fn drop(&mut self) {
        self.0.each(|c| {
            c.conns.fetch_sub(1, Relaxed);
        });
    }
}

/// One proxy's record: kept after the proxy closes ("offline") until purged.
pub struct ProxyStats {
    pub name: String,
    pub counters: Counters,
    state: Mutex<ProxyState>,
}

struct ProxyState {
    kind: String,
    /// The server-side view of its configuration while online (apis.md §2.2 `conf`).
    conf: Option<ProxyConf>,
    client_version: String,
    last_start: Option<OffsetDateTime>,
    last_close: Option<OffsetDateTime>,
}

/// What the API shows of one proxy.
pub struct ProxySnapshot {
    pub name: String,
    pub kind: String,
    pub conf: Option<ProxyConf>,
    pub client_version: String,
    pub today_in: u64,
    pub today_out: u64,
    pub cur_conns: i64,
    pub last_start: String,
    pub last_close: String,
    pub online: bool,
}

impl ProxyStats {
    pub fn snapshot(&self) -> ProxySnapshot {
        let st = lock(&self.state);
        let (today_in, today_out) = self.counters.today();
        ProxySnapshot {
            name: self.name.clone(),
            kind: st.kind.clone(),
            conf: st.conf.clone(),
            client_version: st.client_version.clone(),
            today_in,
            today_out,
            cur_conns: self.counters.cur_conns(),
            last_start: st.last_start.map(format_time).unwrap_or_default(),
            last_close: st.last_close.map(format_time).unwrap_or_default(),
            online: st.conf.is_some(),
        }
    }
}

/// frp's time format in the API: local time `MM-DD HH:MM:SS`.
pub fn format_time(t: OffsetDateTime) -> String {
    format!(
        "{:02}-{:02} {:02}:{:02}:{:02}",
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// frps-wide statistics.
#[derive(Default)]
pub struct Stats {
    pub global: Arc<Counters>,
    /// Registered proxies per type; a type stays listed (with 0) once seen, as frp shows it.
    proxy_types: Mutex<BTreeMap<String, i64>>,
    proxies: Mutex<HashMap<String, Arc<ProxyStats>>>,
}

/// Decrements the open-connection count when dropped (connections not tied to one proxy).
pub struct ConnGuard<'a>(&'a Stats);

impl Drop for ConnGuard<'_> {
    fn drop(&mut self) {
        self.0.conn_closed();
    }
}

impl Stats {
    pub fn connection(&self) -> ConnGuard<'_> {
        self.conn_opened();
        ConnGuard(self)
    }

    fn conn_opened(&self) {
        self.global.conns.fetch_add(1, Relaxed);
    }

    fn conn_closed(&self) {
        self.global.conns.fetch_sub(1, Relaxed);
    }

    pub fn cur_conns(&self) -> i64 {
        self.global.cur_conns()
    }

    pub fn traffic_today(&self) -> (u64, u64) {
        self.global.today()
    }

    /// The meter for a proxy about to be registered: its old record if the name was seen with
    /// the same type before (its traffic stays), else a new one, listed by [`proxy_opened`].
    ///
    /// [`proxy_opened`]: Stats::proxy_opened
    pub fn meter(&self, name: &str, kind: &str, client: &Arc<Counters>) -> Meter {
        let known = lock(&self.proxies)
            .get(name)
            .filter(|p| lock(&p.state).kind == kind)
            .cloned();
        let proxy = known.unwrap_or_else(|| {
            Arc::new(ProxyStats {
                name: name.to_string(),
                counters: Counters::default(),
                state: Mutex::new(ProxyState {
                    kind: kind.to_string(),
                    conf: None,
                    client_version: String::new(),
                    last_start: None,
                    last_close: None,
                }),
            })
        });
        Meter {
            proxy,
            client: client.clone(),
            global: self.global.clone(),
        }
    }

    /// The proxy of `meter` is registered, with this configuration.
    pub fn proxy_opened(&self, meter: &Meter, conf: ProxyConf, client_version: &str) {
        let p = &meter.proxy;
        *lock(&self.proxy_types)
            .entry(conf.kind.clone())
            .or_insert(0) += 1;
        {
            let mut st = lock(&p.state);
            st.conf = Some(conf);
            st.client_version = client_version.to_string();
            st.last_start = Some(local_now());
        }
        lock(&self.proxies).insert(p.name.clone(), p.clone());
    }

    pub fn proxy_closed(&self, name: &str, kind: &str) {
        if let Some(n) = lock(&self.proxy_types).get_mut(kind) {
            *n = (*n - 1).max(0);
        }
        if let Some(p) = lock(&self.proxies).get(name) {
            let mut st = lock(&p.state);
            st.conf = None;
            st.client_version.clear();
            st.last_close = Some(local_now());
        }
    }

    pub fn proxy_type_counts(&self) -> BTreeMap<String, i64> {
        lock(&self.proxy_types).clone()
    }

    /// Every proxy record, online and offline, sorted by name.
    pub fn proxies(&self) -> Vec<Arc<ProxyStats>> {
        self.purge_old();
        let mut v: Vec<_> = lock(&self.proxies).values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    pub fn proxy(&self, name: &str) -> Option<Arc<ProxyStats>> {
        self.purge_old();
        lock(&self.proxies).get(name).cloned()
    }

    /// `DELETE /api/proxies?status=offline`: (cleared, total before).
    pub fn clear_offline(&self) -> (usize, usize) {
        let mut proxies = lock(&self.proxies);
        let total = proxies.len();
        proxies.retain(|_, p| lock(&p.state).conf.is_some());
        (total - proxies.len(), total)
    }

    /// Records offline for more than 7 days go (frp purges them every 12 h; we do it when
    /// the records are read, which is the only time it shows).
    fn purge_old(&self) {
        let now = crate::unix_now();
        lock(&self.proxies).retain(|_, p| {
            let st = lock(&p.state);
            st.conf.is_some()
                || st
                    .last_close
                    .map_or(true, |t| now - t.unix_timestamp() <= OFFLINE_KEEP_SECS)
        });
    }
}

/// Today as a local day number (frp's daily counters roll over at local midnight). Called for
/// every finished connection and datagram: the day is cached with the moment it must be
/// worked out again (the next local midnight, or the next hour, when the offset may change).
fn today() -> i64 {
    static DAY: AtomicI64 = AtomicI64::new(0);
    static RECHECK_AT: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::unix_now();
    if now < RECHECK_AT.load(Relaxed) {
        return DAY.load(Relaxed);
    }
    let local = local_now();
    let day = local.date().to_julian_day() as i64;
    let since_midnight =
        i64::from(local.hour()) * 3600 + i64::from(local.minute()) * 60 + i64::from(local.second());
    let next_midnight = now - since_midnight + 86_400;
    let next_hour = (now.div_euclid(3600) + 1) * 3600;
    DAY.store(day, Relaxed);
    RECHECK_AT.store(next_midnight.min(next_hour), Relaxed);
    day
}

/// The local time. The offset is read once an hour: `time` may refuse to read it once threads
/// run (then the last one read, or UTC, stays).
pub fn local_now() -> OffsetDateTime {
    static OFFSET: Mutex<Option<(i64, UtcOffset)>> = Mutex::new(None);
    let utc = OffsetDateTime::now_utc();
    let hour = utc.unix_timestamp().div_euclid(3600);
    let mut cached = lock(&OFFSET);
    let offset = match *cached {
        Some((h, o)) if h == hour => o,
        prev => {
            let o = UtcOffset::local_offset_at(utc)
                .ok()
                .or(prev.map(|(_, o)| o))
                .unwrap_or(UtcOffset::UTC);
            *cached = Some((hour, o));
            o
        }
    };
    utc.to_offset(offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::msg::NewProxy;

    #[test]
    fn day_traffic_keeps_seven_days_and_clears_a_reused_slot() {
        let d = DayTraffic::default();
        d.add(100, 1, 2);
        d.add(100, 10, 20);
        d.add(101, 5, 6);
        let (i, o) = d.history(101);
        assert_eq!((i[0], o[0], i[1], o[1]), (5, 6, 11, 22));
        assert_eq!(&i[2..], &[0; 5]);
        // Day 107 reuses day 100's slot: the old bytes are gone, not added.
        d.add(107, 3, 4);
        let (i, o) = d.history(107);
        assert_eq!((i[0], o[0]), (3, 4));
        assert_eq!(i[6], 5, "day 101 is still within the 7 days");
        assert_eq!(d.history(120).0, [0; 7], "nothing is that recent");
    }

    #[test]
    fn conf_is_filtered_per_type_in_frps_key_order() {
        let p = NewProxy {
            proxy_name: "alice.ssh".into(),
            proxy_type: "tcp".into(),
            use_encryption: true,
            remote_port: 0,
            http_pwd: "secret".into(),
            ..Default::default()
        };
        let tcp = serde_json::to_string(&ProxyConf::from_new_proxy("tcp", &p, 6000)).unwrap();
        assert_eq!(
            tcp,
            r#"{"name":"alice.ssh","type":"tcp","transport":{"useEncryption":true,"bandwidthLimit":"","bandwidthLimitMode":"client"},"loadBalancer":{"group":""},"healthCheck":{"type":"","intervalSeconds":0},"localIP":"127.0.0.1","plugin":null,"remotePort":6000}"#
        );
        let http = serde_json::to_string(&ProxyConf::from_new_proxy("http", &p, 0)).unwrap();
        assert!(http.ends_with(r#""plugin":null,"locations":null,"hostHeaderRewrite":""}"#));
        assert!(!http.contains("secret"));
    }

    #[test]
    fn a_proxy_record_outlives_the_proxy_and_counts_every_scope() {
        let s = Stats::default();
        let client = Arc::new(Counters::default());
        let p = NewProxy {
            proxy_name: "web".into(),
            ..Default::default()
        };
        let m = s.meter("web", "tcp", &client);
        assert!(s.proxy("web").is_none(), "listed once registered");
        s.proxy_opened(&m, ProxyConf::from_new_proxy("tcp", &p, 1), "0.65.0");
        {
            let _c = m.open();
            assert_eq!((s.cur_conns(), client.cur_conns()), (1, 1));
            m.traffic(100, 200);
        }
        assert_eq!(s.cur_conns(), 0);
        assert_eq!(client.today(), (100, 200));
        s.proxy_closed("web", "tcp");
        let snap = s.proxy("web").unwrap().snapshot();
        assert!(!snap.online && !snap.last_close.is_empty());
        assert_eq!((snap.today_in, snap.today_out), (100, 200));
        // The same name and type again: the traffic stays.
        let m = s.meter("web", "tcp", &client);
        s.proxy_opened(&m, ProxyConf::from_new_proxy("tcp", &p, 1), "0.65.0");
        assert_eq!(m.proxy().snapshot().today_in, 100);
        assert_eq!(s.proxy_type_counts().get("tcp"), Some(&1));
        s.proxy_closed("web", "tcp");
        assert_eq!(s.clear_offline(), (1, 1));
        assert!(s.proxy("web").is_none());
    }
}
