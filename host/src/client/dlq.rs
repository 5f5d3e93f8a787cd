//! `weir dlq list` and `weir dlq replay`.

use serde_json::Value;

use super::table::print_table;
use super::{Client, cell, list, query, segment};

/// Most rounds of a bulk replay; each round revives up to 10,000 letters.
const MAX_ROUNDS: usize = 1000;

/// Which dead letters a command is about.
#[derive(Debug, Default, clap::Args)]
pub struct DeadFilter {
    /// Only this plugin's.
    #[arg(long)]
    pub plugin: Option<String>,
    /// Only this tenant's.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only events of this type.
    #[arg(long = "type")]
    pub kind: Option<String>,
}

impl DeadFilter {
    fn parameters(&self) -> Vec<(&'static str, Option<&str>)> {
        vec![
            ("plugin", self.plugin.as_deref()),
            ("tenant", self.tenant.as_deref()),
            ("type", self.kind.as_deref()),
        ]
    }
}

/// Prints one page of dead letters, oldest first, and how to get the next.
pub fn list_dead_letters(
    client: &Client,
    filter: &DeadFilter,
    limit: usize,
    cursor: Option<&str>,
) -> anyhow::Result<()> {
    let limit = limit.to_string();
    let mut parameters = filter.parameters();
    parameters.extend([("limit", Some(limit.as_str())), ("cursor", cursor)]);
    let page = client.get(&format!("/v1/dead-letters{}", query(&parameters)))?;
    let rows: Vec<Vec<String>> = list(&page["dead_letters"])
        .iter()
        .map(|letter| {
            vec![
                cell(&letter["id"]),
                cell(&letter["plugin"]),
                cell(&letter["tenant"]),
                cell(&letter["type"]),
                cell(&letter["attempts"]),
                shorten(&cell(&letter["error"]), 72),
            ]
        })
        .collect();
    print_table(
        &["ID", "PLUGIN", "TENANT", "TYPE", "ATTEMPTS", "LAST ERROR"],
        &rows,
    )?;
    if let Some(next) = page["next_cursor"].as_str() {
        crate::outln!("\nmore: weir dlq list --cursor {next}")?;
    }
    Ok(())
}

/// Replays one event's dead deliveries, or with `id` None every letter that
/// matches `filter`, round after round until none is left.
pub fn replay_dead_letters(
    client: &Client,
    id: Option<&str>,
    filter: &DeadFilter,
) -> anyhow::Result<()> {
    if let Some(id) = id {
        let parameters = [
            ("plugin", filter.plugin.as_deref()),
            ("tenant", filter.tenant.as_deref()),
        ];
        let path = format!(
            "/v1/dead-letters/{}/replay{}",
            segment(id),
            query(&parameters)
        );
        let answer = client.post(&path, b"")?;
        let plugins: Vec<String> = list(&answer["replayed"]).iter().map(cell).collect();
        crate::outln!("replayed event {id} for {}", plugins.join(", "))?;
        return Ok(());
    }
    let path = format!("/v1/dead-letters/replay{}", query(&filter.parameters()));
    let mut replayed = 0;
    for _ in 0..MAX_ROUNDS {
        let answer = client.post(&path, b"")?;
        replayed += answer["replayed"].as_u64().unwrap_or(0);
        if answer["more"] != Value::Bool(true) {
            crate::outln!("replayed {replayed} dead deliveries")?;
            return Ok(());
        }
    }
    anyhow::bail!("replayed {replayed} dead deliveries and more keep arriving; run it again")
}

/// `text` cut to `most` characters, marked when cut.
fn shorten(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let kept: String = text.chars().take(most.saturating_sub(1)).collect();
    format!("{kept}…")
}
