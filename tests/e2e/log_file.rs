//! `log.to = <file>` with the real frps: lines land in the file (appended, no ANSI colour, not on
//! the console), and, as in frp, nothing is rotated or pruned at start: frp rotates and prunes
//! `log.maxDays` only at local midnight. Rotation and pruning are driven with an injected clock by
//! the unit tests of `src/service/logfile.rs`.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;

/// `frps.<YYYYMMDD>-000000.log`, the name frp gives the file rotated on that date.
fn rotated_name(days_ago: i64) -> String {
    let d = (time::OffsetDateTime::now_utc() - time::Duration::days(days_ago)).date();
    format!(
        "frps.{:04}{:02}{:02}-000000.log",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

#[test]
fn frps_appends_its_log_to_the_file_without_colour_and_prunes_nothing_at_start() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let log = dir.path().join("frps.log");
    std::fs::write(&log, "previous run\n").unwrap();
    let old = dir.path().join(rotated_name(10));
    let yesterday = dir.path().join(rotated_name(1));
    let unrelated = dir.path().join("notes.txt");
    for p in [&old, &yesterday, &unrelated] {
        std::fs::write(p, "x\n").unwrap();
    }
    let port = next_port();
    let toml = format!(
        "bindAddr = \"127.0.0.1\"\nbindPort = {port}\nlog.to = \"{}\"\nlog.level = \"info\"\nlog.maxDays = 3\n",
        log.display()
    );
    // The daemon's stdout and stderr go to frps-run.log, which is not one of frps.log's names.
    let mut frps = Daemon::start_in(dir.clone(), frps_bin(), "frps-run", &toml);
    wait_port(port, Duration::from_secs(10));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = poll(Duration::from_secs(10), || {
        read().contains("frps started successfully")
    });
    let text = read();
    assert!(started, "no start line in {}:\n{text}", log.display());
    assert!(text.starts_with("previous run\n"), "not appended:\n{text}");
    assert!(!text.contains('\x1b'), "ANSI escapes in the file:\n{text}");
    let started = text
        .lines()
        .find(|l| l.contains("frps started successfully"))
        .unwrap();
    assert!(
        started.contains(" INFO "),
        "not tracing's format: {started}"
    );
    assert!(
        !frps.log_text().contains("frps started successfully"),
        "the log also went to the console:\n{}",
        frps.log_text()
    );
    for p in [&old, &yesterday, &unrelated] {
        assert!(p.exists(), "{} deleted at start", p.display());
    }
    frps.kill();
}

#[cfg(unix)]
#[test]
fn frps_creates_the_log_directories_and_a_0600_file() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Arc::new(tempfile::tempdir().unwrap());
    let log = dir.path().join("logs/frps/frps.log");
    let port = next_port();
    let toml = format!(
        "bindAddr = \"127.0.0.1\"\nbindPort = {port}\nlog.to = \"{}\"\n",
        log.display()
    );
    let mut frps = Daemon::start_in(dir.clone(), frps_bin(), "frps-run", &toml);
    wait_port(port, Duration::from_secs(10));
    wait_until(
        Duration::from_secs(10),
        format_args!("the start line in {}", log.display()),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("frps started successfully")
        },
    );
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    frps.kill();
}
