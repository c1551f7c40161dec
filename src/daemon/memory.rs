//! Giving freed memory back to the system. glibc's allocator keeps what a burst of connections
//! freed (thousands of closed connections, or an attack of idle ones) in its arenas for good,
//! so the daemon's resident size stays at its peak; it returns it only when asked
//! (`malloc_trim`). A background task asks when the arenas hold more than a little free memory.
//! musl's and macOS's allocators return freed pages on their own: there it does nothing.

use std::time::Duration;

/// How often the arenas are looked at (a cheap walk of glibc's bins).
const EVERY: Duration = Duration::from_secs(5);

/// Free memory the arenas may keep without a trim.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const KEEP_FREE: usize = 2 << 20;

/// Start the background task on the current runtime.
pub fn spawn_trimmer() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tokio::spawn(async {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if free_in_arenas() > KEEP_FREE {
                trim();
            }
        }
    });
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = EVERY;
}

/// Bytes the allocator holds free (not yet returned to the system).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn free_in_arenas() -> usize {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    info.fordblks
}

/// Return every free page of every arena to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim is safe to call at any time; it takes the arenas' locks itself.
    unsafe {
        libc::malloc_trim(0);
    }
}
