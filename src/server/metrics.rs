//! Prometheus `/metrics` (apis.md §3): frp's metric names and labels, rendered in the text
//! exposition format from the dashboard's counters, plus the standard `process_*` metrics.

use std::fmt::Write;

use super::{lock, Server};

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One metric family: its samples as (labels, value).
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn one(mut self, value: f64) -> Family {
        self.samples.push((Vec::new(), value));
        self
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {}", self.name, self.kind);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(*value));
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

pub fn render(server: &Server) -> String {
    let clients = lock(&server.controls).len();
    let mut families = vec![Family::new(
        "frp_server_client_counts",
        "gauge",
        "The current client counts of frps",
    )
    .one(clients as f64)];

    let mut counts = Family::new(
        "frp_server_proxy_counts",
        "gauge",
        "The current proxy counts",
    );
    for (kind, n) in server.stats.proxy_type_counts() {
        counts.samples.push((vec![("type", kind)], n as f64));
    }
    families.push(counts);

    let mut detailed = Family::new(
        "frp_server_proxy_counts_detailed",
        "gauge",
        "The current number of proxies grouped by type and name",
    );
    let mut conns = Family::new(
        "frp_server_connection_counts",
        "gauge",
        "The current connection counts",
    );
    let mut t_in = Family::new("frp_server_traffic_in", "counter", "The total in traffic");
    let mut t_out = Family::new("frp_server_traffic_out", "counter", "The total out traffic");
    for p in server.stats.proxies() {
        let s = p.snapshot();
        let labels = || vec![("name", s.name.clone()), ("type", s.kind.clone())];
        let (total_in, total_out) = p.counters.total();
        detailed
            .samples
            .push((labels(), if s.online { 1.0 } else { 0.0 }));
        conns.samples.push((labels(), s.cur_conns as f64));
        t_in.samples.push((labels(), total_in as f64));
        t_out.samples.push((labels(), total_out as f64));
    }
    families.extend([detailed, conns, t_in, t_out]);
    families.extend(process_families());

    // As Prometheus's Go client: families sorted by name.
    families.sort_by_key(|f| f.name);
    let mut out = String::new();
    for f in &families {
        f.render(&mut out);
    }
    out
}

/// The standard process metrics, read from /proc (Linux); elsewhere only the start time.
fn process_families() -> Vec<Family> {
    // Only Linux adds to it.
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut v = vec![Family::new(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    )
    .one(*START_TIME)];
    #[cfg(target_os = "linux")]
    {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
                .map(|n| n * 1024.0)
        };
        if let Some(cpu) = cpu_seconds() {
            v.push(
                Family::new(
                    "process_cpu_seconds_total",
                    "counter",
                    "Total user and system CPU time spent in seconds.",
                )
                .one(cpu),
            );
        }
        if let Some(rss) = kib("VmRSS:") {
            v.push(
                Family::new(
                    "process_resident_memory_bytes",
                    "gauge",
                    "Resident memory size in bytes.",
                )
                .one(rss),
            );
        }
        if let Some(vsz) = kib("VmSize:") {
            v.push(
                Family::new(
                    "process_virtual_memory_bytes",
                    "gauge",
                    "Virtual memory size in bytes.",
                )
                .one(vsz),
            );
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            v.push(
                Family::new(
                    "process_open_fds",
                    "gauge",
                    "Number of open file descriptors.",
                )
                .one(dir.count() as f64),
            );
        }
        if let Some(max) = max_fds() {
            v.push(
                Family::new(
                    "process_max_fds",
                    "gauge",
                    "Maximum number of open file descriptors.",
                )
                .one(max),
            );
        }
    }
    v
}

static START_TIME: std::sync::LazyLock<f64> = std::sync::LazyLock::new(|| {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
});

/// Read the start time now (frps calls this as it starts).
pub fn mark_start() {
    std::sync::LazyLock::force(&START_TIME);
}

/// utime + stime of /proc/self/stat, in USER_HZ (100 per second on every Linux port we ship).
#[cfg(target_os = "linux")]
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces: the fields start after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(target_os = "linux")]
fn max_fds() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_in_the_text_format() {
        let mut f = Family::new("frp_server_traffic_in", "counter", "The total in traffic");
        f.samples.push((
            vec![("name", "a\"b\\c".into()), ("type", "tcp".into())],
            1234.0,
        ));
        let mut out = String::new();
        f.render(&mut out);
        assert_eq!(
            out,
            "# HELP frp_server_traffic_in The total in traffic\n# TYPE frp_server_traffic_in counter\nfrp_server_traffic_in{name=\"a\\\"b\\\\c\",type=\"tcp\"} 1234\n"
        );
        assert_eq!(format_value(0.25), "0.25");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_metrics_are_read() {
        let names: Vec<_> = process_families().iter().map(|f| f.name).collect();
        for n in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
    }
}
