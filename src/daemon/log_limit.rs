//! At most one log line per interval for an event a peer can repeat at will (refused work
//! connections, say): a flood of them must not flood the log or the journal. The line that is
//! written says how many were left out since the previous one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LogLimit {
    every: Duration,
    /// When the last line was written, and how many events were not logged since.
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimit {
    pub const fn new(every: Duration) -> LogLimit {
        LogLimit {
            every,
            state: Mutex::new((None, 0)),
        }
    }

    /// Record one event: `Some(left_out)` when its line is to be written now (with the count
    /// of events not logged since the last line), `None` when it is to be left out.
    pub fn check(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < self.every => {
                state.1 += 1;
                None
            }
            _ => {
                let left_out = state.1;
                *state = (Some(now), 0);
                Some(left_out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_left_out() {
        let limit = LogLimit::new(Duration::from_millis(200));
        assert_eq!(limit.check(), Some(0));
        assert_eq!(limit.check(), None);
        assert_eq!(limit.check(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limit.check(), Some(2));
        assert_eq!(limit.check(), None);
    }
}
