//! `weir plugins`.

use super::table::print_table;
use super::{Client, cell, list};

/// Prints every plugin: state, version, slots and limits.
pub fn show_plugins(client: &Client) -> anyhow::Result<()> {
    let plugins = client.get("/v1/plugins")?;
    let rows: Vec<Vec<String>> = list(&plugins["plugins"])
        .iter()
        .map(|plugin| {
            vec![
                cell(&plugin["name"]),
                cell(&plugin["state"]),
                cell(&plugin["version"]),
                cell(&plugin["loaded_at"]),
                format!(
                    "{}/{}",
                    cell(&plugin["instances_free"]),
                    cell(&plugin["instances"])
                ),
                cell(&plugin["fuel"]),
                cell(&plugin["deadline_ms"]),
                cell(&plugin["rejected"]["reason"]),
            ]
        })
        .collect();
    print_table(
        &[
            "PLUGIN",
            "STATE",
            "VERSION",
            "LOADED",
            "FREE/SLOTS",
            "FUEL",
            "DEADLINE_MS",
            "LAST REJECTED",
        ],
        &rows,
    )?;
    Ok(())
}
