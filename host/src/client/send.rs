//! `weir send [FILE]`: posts an event, an array of events or a file of JSON
//! lines (one event per line) to `POST /v1/events`, in batches, with a
//! progress bar on a terminal when there is more than one batch.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{Client, Refused};

/// Reads events from `file` (standard input for `-` or none) and posts them
/// `batch` at a time. Events before a failed batch stay stored; the error
/// says which events that batch held, by their place in the file.
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
        let places: Vec<Place> = chunk.iter().map(|(place, _)| *place).collect();
        let bodies: Vec<&Value> = chunk.iter().map(|(_, event)| event).collect();
        let body = serde_json::to_vec(&bodies).context("cannot encode the events")?;
        let answer = client
            .post("/v1/events", &body)
            .map_err(|error| in_the_file(error, &places))
            .with_context(|| {
                let before = index * batch;
                format!(
                    "{} not stored ({} before them {})",
                    span(&places),
                    plural(before, "event"),
                    if before == 1 { "was" } else { "were" }
                )
            })?;
        let repeated = answer["duplicates"].as_array().map_or(0, Vec::len);
        duplicates += repeated;
        stored += chunk.len() - repeated;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    crate::outln!(
        "sent {} in {}: {stored} stored, {duplicates} already there ({seconds:.1} s, {:.0} events/s)",
        plural(events.len(), "event"),
        plural(events.len().div_ceil(batch), "request"),
        events.len() as f64 / seconds.max(1e-3)
    )?;
    Ok(())
}

/// Where an event is in the file, counted from 1 as an editor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The line of a JSON-lines file.
    Line(usize),
    /// The place in a JSON array (or the one event of a JSON object).
    Element(usize),
}

impl Place {
    fn noun(self) -> &'static str {
        match self {
            Place::Line(_) => "line",
            Place::Element(_) => "event",
        }
    }

    fn number(self) -> usize {
        match self {
            Place::Line(number) | Place::Element(number) => number,
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.noun(), self.number())
    }
}

/// The events of a JSON object, a JSON array, or JSON lines, each with its place.
fn read_events(text: &str) -> anyhow::Result<Vec<(Place, Value)>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(events)) => Ok(events
            .into_iter()
            .enumerate()
            .map(|(index, event)| (Place::Element(index + 1), event))
            .collect()),
        Ok(event @ Value::Object(_)) => Ok(vec![(Place::Element(1), event)]),
        Ok(_) => bail!("expected an event object, an array of events, or one event per line"),
        // Not one JSON document: one event per line.
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(index, line)| {
                let place = Place::Line(index + 1);
                serde_json::from_str(line)
                    .map(|event| (place, event))
                    .with_context(|| format!("{place} is not a JSON event"))
            })
            .collect::<anyhow::Result<Vec<_>>>()
            .and_then(|events| {
                anyhow::ensure!(!events.is_empty(), "it is empty");
                Ok(events)
            }),
    }
}

/// `error` with the event it names by its index in the request ("event 3: ...",
/// as weir says it) named by its place in the file instead.
fn in_the_file(error: anyhow::Error, places: &[Place]) -> anyhow::Error {
    match error.downcast::<Refused>() {
        Ok(mut refused) => {
            let named = refused
                .message
                .strip_prefix("event ")
                .and_then(|rest| rest.split_once(": "))
                .and_then(|(index, why)| Some((places.get(index.parse::<usize>().ok()?)?, why)));
            if let Some((place, why)) = named {
                refused.message = format!("{place}: {why}");
            }
            refused.into()
        }
        Err(error) => error,
    }
}

/// "line 4 was" or "lines 3 to 4 were": the events of one request.
fn span(places: &[Place]) -> String {
    match (places.first(), places.last()) {
        (Some(first), Some(last)) if first != last => format!(
            "{}s {} to {} were",
            first.noun(),
            first.number(),
            last.number()
        ),
        (Some(only), _) => format!("{only} was"),
        _ => "nothing was".to_owned(),
    }
}

/// "1 event", "2 events".
fn plural(count: usize, noun: &str) -> String {
    match count {
        1 => format!("1 {noun}"),
        _ => format!("{count} {noun}s"),
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
        assert_eq!(array[1].0, Place::Element(2));
        let lines = read_events("{\"type\":\"a\"}\n\n{\"type\":\"b\"}\n").expect("lines");
        assert_eq!(lines[1].0, Place::Line(3), "blank lines count");
        assert_eq!(lines[1].1["type"], "b");
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

    #[test]
    fn weirs_index_in_the_request_becomes_the_place_in_the_file() {
        let refused = |message: &str| {
            anyhow::Error::from(Refused {
                path: "/v1/events".into(),
                status: 400,
                code: "invalid_event".into(),
                message: message.into(),
            })
        };
        let places = [Place::Line(150), Place::Line(151)];
        let named = in_the_file(refused("event 1: no source"), &places);
        assert_eq!(
            named.to_string(),
            "/v1/events: invalid_event: line 151: no source"
        );
        let unnamed = in_the_file(refused("the batch is empty"), &places);
        assert_eq!(
            unnamed.to_string(),
            "/v1/events: invalid_event: the batch is empty"
        );
        let beyond = in_the_file(refused("event 9: no source"), &places);
        assert!(beyond.to_string().contains("event 9: no source"));
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(plural(1, "event"), "1 event");
        assert_eq!(plural(0, "request"), "0 requests");
        assert_eq!(span(&[Place::Line(4)]), "line 4 was");
        assert_eq!(
            span(&[Place::Element(3), Place::Element(4)]),
            "events 3 to 4 were"
        );
    }
}
