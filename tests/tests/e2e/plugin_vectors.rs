//! `weir plugin test --vectors`: the shared booking-normalizer vectors run
//! through the real component case by case; a case that differs is named with
//! the field that differs and fails the command; a bad file is named.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{Finished, PLUGIN_SOURCES, plugin_component, weir_plugin};

/// `weir plugin test booking-normalizer.wasm --vectors FILE`.
fn run_vectors(file: &Path) -> Finished {
    let component = plugin_component("booking-normalizer");
    weir_plugin(
        &[
            "test",
            &component.to_string_lossy(),
            "--vectors",
            &file.to_string_lossy(),
        ],
        &[],
    )
}

fn shared_vectors() -> Value {
    let text =
        std::fs::read_to_string(Path::new(PLUGIN_SOURCES).join("booking-normalizer.vectors.json"))
            .expect("read the vectors");
    serde_json::from_str(&text).expect("vectors are JSON")
}

#[test]
fn the_shared_vectors_pass_and_a_wrong_expectation_fails_naming_the_field() {
    let shared = Path::new(PLUGIN_SOURCES).join("booking-normalizer.vectors.json");
    let run = run_vectors(&shared);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("pass  airbnb webhook\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("pass  a missing field is named\n"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("all 16 cases passed"), "{}", run.stdout);

    let mut wrong = shared_vectors();
    wrong["vectors"][0]["emit"]["data"]["nights"] = json!(4);
    wrong["vectors"][6]["fail"] = json!("missing field listing");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("wrong.vectors.json");
    std::fs::write(&file, wrong.to_string()).expect("write vectors");
    let run = run_vectors(&file);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("FAIL  airbnb webhook\n      emit.data.nights: expected 4, got 3\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "FAIL  a missing field is named\n      fail: expected \"missing field listing\", got \"missing field reservation.listing_id\"\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("pass  booking.com webhook\n"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("2 of 16 cases failed"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_vectors_file_that_is_not_json_or_lacks_a_field_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let not_json = dir.path().join("broken.vectors.json");
    std::fs::write(&not_json, "{\"type\": \"booking.webhook\", \"vectors\": [").expect("write");
    let run = run_vectors(&not_json);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let named = format!(
        "{} is not a vectors file: EOF while parsing",
        not_json.display()
    );
    assert!(run.stderr.contains(&named), "{}", run.stderr);

    let no_data = dir.path().join("no-data.vectors.json");
    let file = json!({"type": "booking.webhook", "vectors": [{"name": "empty", "fail": "x"}]});
    std::fs::write(&no_data, file.to_string()).expect("write");
    let run = run_vectors(&no_data);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let named = format!(
        "{} is not a vectors file: missing field `data`",
        no_data.display()
    );
    assert!(run.stderr.contains(&named), "{}", run.stderr);

    let neither = dir.path().join("neither.vectors.json");
    let file = json!({"type": "booking.webhook", "vectors": [{"name": "open", "data": {}}]});
    std::fs::write(&neither, file.to_string()).expect("write");
    let run = run_vectors(&neither);
    assert!(
        run.stderr
            .contains("case \"open\" must have exactly one of `emit` and `fail`"),
        "{}",
        run.stderr
    );
}
