//! `weir send [FILE]`: posts an event, an array of events or a file of JSON
//! lines (one event per line) to `POST /v1/events`, in batches, with a
//! progress bar on a terminal when there is more than one batch.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::Client;

/// Reads events from `file` (standard input for `-` or none) and posts them
/// `batch` at a time. Events before a failed batch stay stored; the error
/// says which events that batch held.
pub fn send(client: &Client, file: Option<&Path>, batch: usize) -> anyhow::Result<()> {
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    let (text, name) = match file.filter(|path| path.as_os_str() != "-") {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read events from standard input")?;
            (text, "standard input".to_owned())
        }
    };
    let events =
        read_events(&text).with_context(|| format!("{name} holds no events weir reads"))?;
    let progress = if events.len() > batch {
        let bar = ProgressBar::new(events.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {eta} left")
                .context("progress bar template")?,
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let (mut stored, mut duplicates) = (0, 0);
    for (index, chunk) in events.chunks(batch).enumerate() {
        let body = serde_json::to_vec(chunk).context("cannot encode the events")?;
        let answer = client
            .post("/v1/events", "application/json", &body)
            .with_context(|| {
                let first = index * batch;
                format!(
                    "events {first} to {} were not stored ({first} before them were)",
                    first + chunk.len() - 1
                )
            })?;
        let repeated = answer["duplicates"].as_array().map_or(0, Vec::len);
        duplicates += repeated;
        stored += chunk.len() - repeated;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {} events in {} requests: {stored} stored, {duplicates} already there ({seconds:.1} s, {:.0} events/s)",
        events.len(),
        events.len().div_ceil(batch),
        events.len() as f64 / seconds.max(1e-3)
    );
    Ok(())
}

/// The events of a JSON object, a JSON array, or JSON lines.
fn read_events(text: &str) -> anyhow::Result<Vec<Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(events)) => Ok(events),
        Ok(event @ Value::Object(_)) => Ok(vec![event]),
        Ok(_) => bail!("expected an event object, an array of events, or one event per line"),
        // Not one JSON document: one event per line.
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(number, line)| {
                serde_json::from_str(line)
                    .with_context(|| format!("line {} is not a JSON event", number + 1))
            })
            .collect::<anyhow::Result<Vec<Value>>>()
            .and_then(|events| {
                anyhow::ensure!(!events.is_empty(), "it is empty");
                Ok(events)
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_event_an_array_and_json_lines() {
        let one = read_events(r#"{"source":"s","type":"t"}"#).expect("one");
        assert_eq!(one.len(), 1);
        let array = read_events(r#"[{"type":"a"},{"type":"b"}]"#).expect("array");
        assert_eq!(array.len(), 2);
        let lines = read_events("{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n").expect("lines");
        assert_eq!(lines[1]["type"], "b");
    }

    #[test]
    fn names_the_line_that_is_not_an_event() {
        let error = read_events("{\"type\":\"a\"}\n{broken\n").expect_err("broken");
        assert!(format!("{error:#}").contains("line 2"), "{error:#}");
        let error = read_events("42").expect_err("a number");
        assert!(
            format!("{error:#}").contains("expected an event"),
            "{error:#}"
        );
        assert!(read_events("\n\n").is_err());
    }
}
