//! Readiness, not sleeps: every wait in the tests polls a condition until a deadline and then
//! says whether it held, so the caller asserts on it. The deadlines are generous (a loaded
//! machine is slow, not broken); a condition that holds returns at once.

use std::fmt::Display;
use std::thread;
use std::time::{Duration, Instant};

/// How often a condition is polled.
pub const POLL_EVERY: Duration = Duration::from_millis(20);

/// Poll `ok` until it holds (true) or `timeout` has passed (false). It is checked once more at
/// the deadline, so a condition that needed the whole time still counts.
pub fn poll(timeout: Duration, mut ok: impl FnMut() -> bool) -> bool {
    poll_for(timeout, || ok().then_some(())).is_some()
}

/// Poll `f` until it gives a value, or `timeout` has passed (None).
pub fn poll_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_EVERY);
    }
}

/// [`poll`], failing the test with `what` when the deadline passes.
pub fn wait_until(timeout: Duration, what: impl Display, ok: impl FnMut() -> bool) {
    assert!(poll(timeout, ok), "{what} (waited {timeout:?})");
}
