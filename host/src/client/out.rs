//! The commands' standard output, where a reader may go away early.
//!
//! `weir status | head -1` closes the pipe after one line. Rust ignores
//! SIGPIPE, so the next write fails with `BrokenPipe`, and `println!` panics
//! on that (exit 101). The commands write with [`outln!`](crate::outln)
//! instead, which returns the error, and the binary ends quietly with success
//! when [`reader_left`] says that is why a command stopped: the reader took
//! all it wanted.

use std::io::ErrorKind;

/// `println!` that returns the write's `io::Result` instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        ::std::writeln!(::std::io::stdout().lock(), $($arg)*)
    }};
}

/// Whether `error` comes from writing to a pipe whose reader has closed it.
pub fn reader_left(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn a_closed_pipe_is_told_apart_from_other_failures() {
        let closed = Err::<(), _>(std::io::Error::from(ErrorKind::BrokenPipe))
            .context("cannot print the table")
            .expect_err("an error");
        assert!(reader_left(&closed));
        let other = anyhow::Error::from(std::io::Error::from(ErrorKind::PermissionDenied));
        assert!(!reader_left(&other));
        assert!(!reader_left(&anyhow::anyhow!("no such event")));
    }
}
