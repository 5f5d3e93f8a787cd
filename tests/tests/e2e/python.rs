//! Running Python with the official client packages (`standardwebhooks`,
//! `cloudevents`), so tests talk to weir the way real senders do. `.ci/run`
//! installs the packages.

use std::process::Command;

/// Runs `script` with `args` under `python3` and returns what it printed.
pub fn run(script: &str, args: &[&str]) -> String {
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (install it, or run .ci/run)");
    assert!(
        output.status.success(),
        "python3 failed (the packages come from `pip install -r tests/requirements.txt`):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("python prints text")
        .trim_end()
        .to_owned()
}
