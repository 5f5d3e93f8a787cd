//! Backup and restore as the README describes it: a copy of the data directory
//! taken while weir is stopped opens in a new weir elsewhere and keeps serving,
//! with its events, their results, plugin state and deduplication intact.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Answer, Weir, Workspace, delivery};
use crate::{EXAMPLE_ROUTES, booking_com, settle_bookings};

const PLUGINS: [&str; 2] = ["booking-normalizer", "price-calculator"];

/// Copies the directory `from` to `to`, file by file, as `cp -a` would.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's directory");
    for entry in std::fs::read_dir(from).expect("read the data directory") {
        let entry = entry.expect("a directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}

fn post_booking(weir: &Weir, id: &str, reservation: u64) -> Answer {
    let answer = weir.post_json(
        "/v1/events",
        &booking_com(id, reservation, "L1").to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);
    answer
}

/// Waits until both plugins are done with `ids`, then returns listing L1's totals.
fn settled_totals(weir: &Weir, ids: &[String]) -> Value {
    let entries = settle_bookings(weir, ids);
    entries
        .iter()
        .find(|entry| entry["key"] == "listing:L1")
        .map(|entry| entry["value"].clone())
        .unwrap_or_else(|| panic!("no totals for L1 in {entries:?}"))
}

#[test]
fn a_copy_of_a_stopped_weirs_data_directory_serves_elsewhere() {
    let before: Vec<String> = (0..5).map(|n| format!("before-{n}")).collect();
    let backup = tempfile::tempdir().expect("backup dir");
    let totals = {
        let original = Workspace::new(&PLUGINS, EXAMPLE_ROUTES);
        let weir = original.start();
        for (n, id) in before.iter().enumerate() {
            post_booking(&weir, id, n as u64);
        }
        let totals = settled_totals(&weir, &before);
        weir.stop();
        copy_dir(&original.path().join("data"), backup.path());
        totals
        // The original workspace is deleted here: the copy must not need it.
    };
    assert_eq!(totals["bookings"], 5, "{totals}");

    let restored = Workspace::new(&PLUGINS, EXAMPLE_ROUTES);
    copy_dir(backup.path(), &restored.path().join("data"));
    let weir = restored.start();

    // The events accepted before the copy are there, with their results.
    for id in &before {
        let event = weir.get(&format!("/v1/events/{id}"));
        assert_eq!(event.status, 200, "{id}: {}", event.text);
        assert_eq!(
            delivery(&event.body, "booking-normalizer")["state"],
            "done",
            "{}",
            event.text
        );
    }
    // A resent one is recognised as a duplicate and runs nothing again.
    let resent = post_booking(&weir, &before[0], 0);
    assert_eq!(
        resent.body["duplicates"],
        json!([before[0]]),
        "{}",
        resent.text
    );

    // New events are processed, on top of the restored state.
    let after: Vec<String> = (0..3).map(|n| format!("after-{n}")).collect();
    for (n, id) in after.iter().enumerate() {
        post_booking(&weir, id, 100 + n as u64);
    }
    let totals_after = settled_totals(&weir, &after);
    assert_eq!(totals_after["bookings"], 8, "{totals_after}");
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="booking-normalizer"}"#),
        3.0,
        "only the new events ran"
    );
    weir.stop();
}
