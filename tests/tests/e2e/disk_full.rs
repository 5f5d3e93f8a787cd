//! A disk that really fills up: the data directory on a small tmpfs. The
//! request that meets "No space left on device" gets 507, weir exits for a
//! restart, and every event answered 202 is still there afterwards.
//! (`storage.rs` injects the same failure with a failpoint, on any machine.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::Workspace;

/// A tmpfs mounted for the length of a test; unmounted (lazily, since the
/// weir it served may still hold files) when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`, or
    /// says why it cannot (mounting needs root).
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        mount(
            // Private, as weir requires of its data directory (a tmpfs is 1777).
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ],
            dir,
        )?;
        Ok(Tmpfs(dir.to_owned()))
    }

    /// Gives the filesystem `size` of room.
    fn grow(&self, size: &str) {
        mount(&["-o", &format!("remount,size={size}")], &self.0).expect("remount the tmpfs");
    }
}

fn mount(args: &[&str], dir: &Path) -> Result<(), String> {
    let output = Command::new("mount")
        .args(args)
        .arg(dir)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_really_full_disk_answers_507_and_loses_no_acked_event() {
    let workspace = Workspace::new(&[], "");
    let tmpfs = match Tmpfs::mount(&workspace.path().join("data"), "24m") {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            eprintln!(
                "skipped: cannot mount a tmpfs here ({why}); storage.rs covers 507 with a failpoint"
            );
            return;
        }
    };
    let weir = workspace.start();
    // Events of 8 KiB, 64 to a request: 512 KiB a request, so 24 MiB fill
    // within a few dozen requests; the bound only stops a runaway test.
    let padding = "x".repeat(8 << 10);
    let mut acked = Vec::new();
    let mut refused = None;
    for request in 0..400 {
        let events: Vec<_> = (0..64)
            .map(|n| {
                json!({"id": format!("e{request}-{n}"), "source": "tests",
                            "type": "unrouted", "data": {"padding": padding}})
            })
            .collect();
        let Some(answer) =
            weir.try_post("/v1/events", "application/json", &json!(events).to_string())
        else {
            break;
        };
        if answer.status != 202 {
            refused = Some(answer);
            break;
        }
        acked.extend(events.iter().map(|event| event["id"].clone()));
    }
    let refused = refused.expect("the disk fills up and a request is refused");
    assert_eq!(refused.status, 507, "{}", refused.text);
    assert_eq!(refused.body["error"]["code"], "insufficient_storage");
    assert!(
        !acked.is_empty(),
        "some requests fit before the disk filled"
    );
    assert_eq!(weir.wait_exit(Duration::from_secs(30)), Some(1));

    // Room again: weir restarts with every acked event.
    tmpfs.grow("128m");
    let weir = workspace.start();
    for id in &acked {
        let id = id.as_str().expect("ids are strings");
        let answer = weir.get(&format!("/v1/events/{id}"));
        assert_eq!(
            answer.status, 200,
            "acked event {id} is kept: {}",
            answer.text
        );
    }
    weir.stop();
}
