//! How fresh a Login is (our hardening; frp checks neither). A Login proves the token with
//! `privilege_key = md5(token + timestamp)`, so a recorded Login works again as long as
//! frps accepts its timestamp, which frp does for ever. frps warns when a timestamp is more
//! than [`MAX_SKEW`] off its clock; with `auth.rejectStaleLogins` it refuses such a Login, and
//! any Login whose privilege key it has already seen within that window (a replay).
//!
//! The cost of the option: clients that share a token and log in within the same second send
//! the same key, so all but the first are refused; frpc tries again a moment later with a new
//! timestamp.

use std::collections::HashMap;
use std::sync::Mutex;

/// How far a Login's timestamp may be from frps's clock.
pub const MAX_SKEW: i64 = 15 * 60;

/// The privilege keys of recent Logins, each kept until its timestamp leaves the window.
#[derive(Default)]
pub struct SeenLogins {
    until: Mutex<HashMap<String, i64>>,
}

impl SeenLogins {
    /// Record a Login's key at `now`; false when the key was seen before (a replay).
    pub fn first_use(&self, privilege_key: &str, timestamp: i64, now: i64) -> bool {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        until.retain(|_, t| *t >= now);
        if until.contains_key(privilege_key) {
            return false;
        }
        until.insert(privilege_key.to_string(), timestamp + MAX_SKEW);
        true
    }
}

/// `secs` as "20m 5s"-like text, for the log and the refusal.
pub fn skew_text(secs: i64) -> String {
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a % 3600 / 60, a % 60);
    let text = match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m"),
    };
    if secs < 0 {
        format!("{text} ahead")
    } else {
        format!("{text} behind")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_again_until_its_timestamp_leaves_the_window() {
        let seen = SeenLogins::default();
        assert!(seen.first_use("k1", 1000, 1000));
        assert!(!seen.first_use("k1", 1000, 1000 + MAX_SKEW), "a replay");
        assert!(seen.first_use("k2", 1001, 1001));
        // Once the timestamp is too old to be accepted, the key is forgotten.
        assert!(seen.first_use("k1", 1000, 1001 + MAX_SKEW));
    }

    #[test]
    fn skew_reads_naturally() {
        assert_eq!(skew_text(1205), "20m 5s behind");
        assert_eq!(skew_text(-40), "40s ahead");
        assert_eq!(skew_text(315_360_000), "87600h 0m behind");
    }
}
