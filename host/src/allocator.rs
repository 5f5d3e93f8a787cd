//! weir's allocator: mimalloc rather than the system allocator (with glibc's,
//! allocation took about a fifth of weir's CPU end to end; BENCHMARKS.md,
//! "The allocator"), told to give memory it no longer uses back to the
//! operating system after 10 ms rather than mimalloc 3's default of a
//! second. Under an ingest flood fjall's flushed memtables are freed faster
//! than a second's worth is reused, and holding them raised the peak RSS by
//! about 50 MiB (BENCHMARKS.md, "Freed memory given back sooner").
//!
//! mimalloc reads its options from the environment when the process loads,
//! before `main`, so the delay is set through its C API: the one place weir
//! allows `unsafe`. An operator's `MIMALLOC_PURGE_DELAY` is left as set.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_long};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in `mimalloc.h` of mimalloc 3.3, the version the
/// locked `libmimalloc-sys` builds (its Rust bindings do not name it).
const PURGE_DELAY: c_int = 15;
/// Its default there, in ms: checked before it is changed, so that a
/// mimalloc whose options are numbered otherwise is left alone.
const DEFAULT_PURGE_DELAY_MS: c_long = 1000;
/// weir's delay, in ms: mimalloc 2's default.
const PURGE_DELAY_MS: c_long = 10;

unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
}

/// Sets mimalloc's purge delay to weir's, unless the environment set one;
/// call it first thing in `main`.
pub fn give_back_sooner() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: both functions only read and write an entry of mimalloc's
    // option table, which is initialised when the process loads; any value
    // is valid for this option.
    unsafe {
        if mi_option_get(PURGE_DELAY) == DEFAULT_PURGE_DELAY_MS {
            mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        }
    }
}

/// The purge delay mimalloc runs with, in ms.
#[cfg(test)]
fn purge_delay_ms() -> c_long {
    // SAFETY: reads an entry of mimalloc's option table.
    unsafe { mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_weirs_once_set() {
        // The default is what this module's option number expects, so a
        // mimalloc that numbers its options otherwise fails here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!([DEFAULT_PURGE_DELAY_MS, PURGE_DELAY_MS].contains(&purge_delay_ms()));
            give_back_sooner();
            assert_eq!(purge_delay_ms(), PURGE_DELAY_MS);
        }
    }
}
