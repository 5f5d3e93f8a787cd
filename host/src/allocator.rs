//! weir's allocator: mimalloc rather than the system allocator (with glibc's,
//! allocation took about a fifth of weir's CPU end to end; BENCHMARKS.md,
//! "The allocator"), giving memory it no longer uses back to the operating
//! system after 10 ms rather than mimalloc 3's default of a second. Under an
//! ingest flood fjall's flushed memtables are freed faster than a second's
//! worth is reused, and holding them raised the peak RSS by about 50 MiB
//! (BENCHMARKS.md, "Freed memory given back sooner").
//!
//! mimalloc reads its options from the environment when the process loads,
//! before `main`, and weir allows no `unsafe` to call its C API: so `weir
//! serve` starts itself again in place with `MIMALLOC_PURGE_DELAY` set, once.
//! An operator's own setting is kept.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The environment variable mimalloc reads its purge delay from, in ms.
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";
/// weir's delay: mimalloc 2's default.
pub const PURGE_DELAY_MS: &str = "10";

/// Replaces this process (same id, arguments and other environment) with
/// weir started again with its purge delay, unless the environment sets
/// one (then `None`); otherwise returns only if it could not, with why.
pub fn give_back_sooner() -> Option<std::io::Error> {
    // An empty value would be read as no delay at all: replaced too.
    if std::env::var_os(PURGE_DELAY).is_some_and(|delay| !delay.is_empty()) {
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => return Some(error),
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| OsString::from("weir"));
    let error = Command::new(exe)
        .arg0(arg0)
        .args(args)
        .env(PURGE_DELAY, PURGE_DELAY_MS)
        .exec();
    Some(error)
}
