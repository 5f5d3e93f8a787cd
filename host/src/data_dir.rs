//! The data directory is weir's alone. It holds wasmtime's compilation
//! cache, native code that is loaded and run as weir without a further
//! check, so whoever can write there can run code as weir: weir creates it
//! private (0700) and refuses one that other users can write.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Write permission for the group and for others.
const WRITABLE_BY_OTHERS: u32 = 0o022;

/// Creates `dir` (private) if it is missing, and checks that neither it nor
/// its compilation cache `cache` is writable by other users.
pub fn prepare(dir: &Path, cache: &Path) -> Result<(), Error> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| Error::Io {
            action: "create the data directory",
            path: dir.to_owned(),
            source,
        })?;
    for path in [dir, cache] {
        check_private(path)?;
    }
    Ok(())
}

fn check_private(path: &Path) -> Result<(), Error> {
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode(),
        // The cache is created on first use, private to weir's umask.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                action: "read the permissions of",
                path: path.to_owned(),
                source,
            });
        }
    };
    if mode & WRITABLE_BY_OTHERS == 0 {
        return Ok(());
    }
    Err(Error::WritableByOthers {
        path: PathBuf::from(path),
        mode: mode & 0o777,
    })
}
