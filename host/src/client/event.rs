//! `weir events show ID`: an event and what each plugin did with it, as
//! tables like `weir status` prints, with times in RFC 3339 (UTC) rather than
//! the epoch milliseconds weir stores; `--json` prints weir's answer as it is,
//! for scripts.

use serde_json::Value;

use super::table::print_table;
use super::{Client, cell, list, query, segment};

/// The keys printed in their own place, not among the attributes.
const PLACED: [&str; 5] = [
    "deliveries",
    "sequence",
    "ingested_at",
    "data",
    "data_base64",
];

/// Prints one event with its deliveries and their attempts.
pub fn show_event(
    client: &Client,
    id: &str,
    tenant: Option<&str>,
    source: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let path = format!(
        "/v1/events/{}{}",
        segment(id),
        query(&[("tenant", tenant), ("source", source)])
    );
    let event = client.get(&path)?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&event)?)?;
        return Ok(());
    }
    print_attributes(&event)?;
    let deliveries = list(&event["deliveries"]);
    crate::outln!()?;
    print_table(
        &["PLUGIN", "STATE", "ATTEMPTS", "NEXT ATTEMPT", "RESULT"],
        &deliveries.iter().map(delivery_row).collect::<Vec<_>>(),
    )?;
    let attempts: Vec<Vec<String>> = deliveries
        .iter()
        .flat_map(|delivery| {
            list(&delivery["history"])
                .iter()
                .enumerate()
                .map(|(n, attempt)| attempt_row(&delivery["plugin"], n + 1, attempt))
        })
        .collect();
    if !attempts.is_empty() {
        crate::outln!()?;
        print_table(
            &[
                "PLUGIN", "#", "STARTED", "TOOK_MS", "OUTCOME", "FUEL", "VERSION", "ERROR",
            ],
            &attempts,
        )?;
    }
    Ok(())
}

/// The event's CloudEvents attributes, one per line, then its data as
/// compact JSON (whole: it is what an operator came to read).
fn print_attributes(event: &Value) -> std::io::Result<()> {
    let mut rows: Vec<(String, String)> = vec![
        ("sequence".into(), cell(&event["sequence"])),
        ("ingested".into(), cell(&event["ingested_at"])),
    ];
    if let Some(attributes) = event.as_object() {
        rows.extend(
            attributes
                .iter()
                .filter(|(key, _)| !PLACED.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), cell(value))),
        );
    }
    for key in ["data", "data_base64"] {
        if let Some(data) = event.get(key) {
            rows.push((key.into(), cell(data)));
        }
    }
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, value) in rows {
        crate::outln!("{key:<width$}  {value}")?;
    }
    Ok(())
}

/// PLUGIN STATE ATTEMPTS NEXT-ATTEMPT RESULT for one delivery.
fn delivery_row(delivery: &Value) -> Vec<String> {
    let result = &delivery["result"];
    let outcome = if let Some(error) = delivery["error"].as_str() {
        error.to_owned()
    } else if result.is_object() {
        let emitted = list(&result["emitted"]);
        let mut said = cell(&result["outcome"]);
        if !emitted.is_empty() {
            let ids: Vec<String> = emitted.iter().map(cell).collect();
            said.push_str(&format!(" {}", ids.join(",")));
        }
        format!(
            "{said}; {} state writes; committed {}",
            cell(&result["state_writes"]),
            moment(&result["committed_at_ms"])
        )
    } else {
        "-".to_owned()
    };
    vec![
        cell(&delivery["plugin"]),
        cell(&delivery["state"]),
        cell(&delivery["attempts"]),
        moment(&delivery["next_attempt_at_ms"]),
        outcome,
    ]
}

/// PLUGIN # STARTED TOOK OUTCOME FUEL VERSION ERROR for one attempt.
fn attempt_row(plugin: &Value, number: usize, attempt: &Value) -> Vec<String> {
    vec![
        cell(plugin),
        number.to_string(),
        moment(&attempt["started_at_ms"]),
        cell(&attempt["duration_ms"]),
        cell(&attempt["outcome"]),
        cell(&attempt["fuel_consumed"]),
        cell(&attempt["version"]),
        cell(&attempt["error"]),
    ]
}

/// Epoch milliseconds as the API's own times read (`2026-12-01T10:00:00.123Z`),
/// `-` when absent.
fn moment(ms: &Value) -> String {
    match ms.as_u64() {
        Some(ms) => humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string(),
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn epoch_milliseconds_read_as_utc_times() {
        assert_eq!(moment(&json!(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            moment(&json!(1_764_583_200_123_u64)),
            "2025-12-01T10:00:00.123Z"
        );
        assert_eq!(moment(&Value::Null), "-");
    }
}
