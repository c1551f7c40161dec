//! The global allocator.
//!
//! By default, the system's. The Linux packages are static musl builds, whose malloc is slow
//! under many small allocations on several threads: through a tcp proxy it carried 4.8 Gbit/s
//! where glibc's carried 7.2. They are built with the `mimalloc` feature (packaging/build-all):
//! 8.7 Gbit/s, 1.44 CPU s per GB, 6,000 new connections/s. benches/allocators.sh and the README's
//! performance section have the figures.
//!
//! mimalloc's defaults trade memory for speed in ways a daemon that idles for weeks should not:
//! its first arena is committed eagerly (idle frps + frpc with 100 proxies: 35 MiB instead of 17)
//! and freed pages are purged 10 s late (1,000 closed connections left 15 MiB behind). `configure`
//! turns both off; it runs first in `main`, before the runtime allocates anything that matters.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// mimalloc v3's option numbers (`enum mi_option_e` in its mimalloc.h; the version is pinned
/// by Cargo.lock). libmimalloc-sys names only the options older versions had.
#[cfg(feature = "mimalloc")]
mod option {
    pub const ARENA_EAGER_COMMIT: i32 = 4;
    pub const PURGE_DELAY: i32 = 15;
}

/// Set the allocator's options; call it first in `main`. Nothing to do for the others.
pub fn configure() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_option_set only stores a value in mimalloc's option table; any option number
    // below _mi_option_last is valid.
    unsafe {
        libmimalloc_sys::mi_option_set(option::ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(option::PURGE_DELAY, 0);
    }
}

#[cfg(all(test, feature = "mimalloc"))]
mod tests {
    #[test]
    fn the_options_are_the_ones_meant() {
        super::configure();
        // SAFETY: reading mimalloc's option table.
        unsafe {
            assert_eq!(
                libmimalloc_sys::mi_option_get(super::option::PURGE_DELAY),
                0
            );
            // _mi_option_last of the v3 header these numbers come from.
            assert_eq!(libmimalloc_sys::_mi_option_last, 47);
        }
    }
}
