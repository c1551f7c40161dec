//! sd_notify (systemd's readiness protocol): READY, STATUS, STOPPING, RELOADING with
//! MONOTONIC_USEC, and WATCHDOG keep-alives. Everything is a no-op when `NOTIFY_SOCKET` is not
//! set (not started by systemd, or on macOS), so callers never need to check.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::debug;

fn send(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(false, states) {
        debug!("sd_notify failed: {e}");
    }
}

/// Startup is finished; `status` says what the daemon is doing, in one line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new one-line status (clients, proxies, connections, login state...).
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// A configuration reload begins. `Type=notify-reload` (systemd ≥ 253) needs MONOTONIC_USEC
/// with RELOADING=1 to match the reload to its SIGHUP; READY=1 ends the reload.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[
            NotifyState::Reloading,
            now,
            NotifyState::Status("reloading the configuration"),
        ]),
        Err(e) => debug!("cannot read CLOCK_MONOTONIC: {e}"),
    }
}

/// The daemon begins to shut down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Half of `WATCHDOG_USEC` when systemd asks for keep-alives. As in libsystemd's
/// `sd_watchdog_enabled`, `WATCHDOG_PID` is optional but, when set, must be our pid (the crate's
/// helper insists on it being set).
pub fn watchdog_interval() -> Option<Duration> {
    std::env::var_os("NOTIFY_SOCKET")?;
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok()? != std::process::id() {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// Send WATCHDOG=1 every half interval from a task of the daemon's own runtime, so a wedged
/// runtime stops the keep-alives and systemd restarts the service.
pub fn spawn_watchdog() {
    let Some(every) = watchdog_interval() else {
        return;
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            send(&[NotifyState::Watchdog]);
        }
    });
}
