//! One plugin in every language: the booking normalizer's Python, JavaScript
//! and C versions, built with `weir plugin build`, give the Rust one's
//! outcomes for the shared test vectors, through a live weir.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{PLUGIN_SOURCES, Workspace, built_example, delivery, settled_event};

const EVERY_LANGUAGE: [&str; 4] = [
    "booking-normalizer",
    "booking-normalizer-py",
    "booking-normalizer-js",
    "booking-normalizer-c",
];

#[test]
fn the_booking_normalizer_gives_the_same_outcomes_in_every_language() {
    let vectors: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(PLUGIN_SOURCES).join("booking-normalizer.vectors.json"))
            .expect("read the vectors"),
    )
    .expect("vectors are JSON");
    let vectors = vectors["vectors"].as_array().expect("a list of vectors");
    let config = format!(
        "[[route]]\nname = \"normalize\"\nmatch = {{ type = \"booking.webhook\" }}\nplugins = {}\n",
        json!(EVERY_LANGUAGE)
    );
    let workspace = Workspace::new(&["booking-normalizer"], &config);
    for name in &EVERY_LANGUAGE[1..] {
        std::fs::copy(
            built_example(name),
            workspace.path().join(format!("plugins/{name}.wasm")),
        )
        .expect("copy the component");
    }
    let weir = workspace.start();
    let events: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(n, vector)| {
            json!({"specversion": "1.0", "id": format!("vector-{n}"), "source": "https://channels.example",
                   "type": "booking.webhook", "data": vector["data"]})
        })
        .collect();
    let answer = weir.post_json("/v1/events", &Value::Array(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    for (n, vector) in vectors.iter().enumerate() {
        let event = settled_event(&weir, &format!("vector-{n}"));
        for plugin in EVERY_LANGUAGE {
            let got = delivery(&event, plugin);
            let context = format!("vector {:?}, plugin {plugin}: {got:#}", vector["name"]);
            match vector.get("fail") {
                Some(reason) => {
                    assert_eq!(got["state"], "dead", "{context}");
                    assert_eq!(got["error"], *reason, "{context}");
                }
                None => {
                    assert_eq!(got["state"], "done", "{context}");
                    let emitted = got["result"]["emitted"].as_array().expect("emitted ids");
                    assert_eq!(emitted.len(), 1, "{context}");
                    let id = emitted[0].as_str().expect("an id");
                    let normalized = weir.get(&format!("/v1/events/{id}")).body;
                    let expected = &vector["emit"];
                    for attribute in ["type", "subject", "datacontenttype", "data"] {
                        assert_eq!(
                            normalized[attribute], expected[attribute],
                            "{attribute} of {context}"
                        );
                    }
                    assert_eq!(
                        normalized["partitionkey"], expected["extensions"]["partitionkey"],
                        "{context}"
                    );
                }
            }
        }
    }
}
