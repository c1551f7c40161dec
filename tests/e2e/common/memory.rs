//! Memory of the daemons as the kernel sees it, and the file limit tests with many connections need.

use std::time::Duration;

use super::poll;

/// A process's resident memory, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Let this process (and the daemons it starts) open `n` more files than now.
pub fn allow_open_files(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process's own limit.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        if lim.rlim_cur < n {
            lim.rlim_cur = n.min(lim.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        }
    }
    assert!(
        lim.rlim_cur >= n,
        "RLIMIT_NOFILE hard limit {} < {n}",
        lim.rlim_max
    );
}

/// Wait (up to `timeout`) until the resident memory of every process in `pids` holds still
/// (within 256 KiB over one second), and return it. The daemons give freed memory back every
/// 5 s, so a baseline taken before that is too high.
pub fn settled_rss_kib(pids: &[u32], timeout: Duration) -> Vec<u64> {
    let mut last: Vec<u64> = Vec::new();
    let settled = poll(timeout, || {
        let now: Vec<u64> = pids.iter().map(|&p| rss_kib(p)).collect();
        let still =
            last.len() == now.len() && now.iter().zip(&last).all(|(a, b)| a.abs_diff(*b) < 256);
        last = now;
        if !still {
            std::thread::sleep(Duration::from_secs(1));
        }
        still
    });
    assert!(settled, "resident memory did not settle: {last:?} KiB");
    last
}
