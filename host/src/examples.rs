//! The example plugins and routes weir runs when no one configured it, so that
//! `weir serve` on a fresh machine has something to show.

use std::path::Path;

pub use weir_core::examples::{NAMES, default_routes, keep_routes_if_installed};

/// The bundled example components, built from `plugins/` with the binary.
pub const PLUGINS: [(&str, &[u8]); 2] = [
    (
        NAMES[0],
        include_bytes!(concat!(
            env!("WEIR_EXAMPLE_PLUGINS"),
            "/booking-normalizer.wasm"
        )),
    ),
    (
        NAMES[1],
        include_bytes!(concat!(
            env!("WEIR_EXAMPLE_PLUGINS"),
            "/price-calculator.wasm"
        )),
    ),
];

/// Writes the example plugins into `dir` if it does not exist yet; an existing
/// directory is the operator's and is left as it is. Returns whether it wrote.
pub fn install_if_missing(dir: &Path) -> std::io::Result<bool> {
    if dir.exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(dir)?;
    for (name, bytes) in PLUGINS {
        std::fs::write(dir.join(format!("{name}.wasm")), bytes)?;
    }
    Ok(true)
}
