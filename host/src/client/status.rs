//! `weir status`: whether weir is ready, what each plugin has done, and what
//! waits per tenant.

use serde_json::Value;

use super::table::print_table;
use super::{Client, cell, list};

/// Prints the pipeline's summary.
pub fn status(client: &Client) -> anyhow::Result<()> {
    let ready = match client.get("/readyz") {
        Ok(_) => "ready".to_owned(),
        Err(error) => format!("not ready ({error:#})"),
    };
    crate::outln!("weir at {}: {ready}", client.base)?;
    let plugins = client.get("/v1/plugins")?;
    let rows: Vec<Vec<String>> = list(&plugins["plugins"])
        .iter()
        .map(|plugin| {
            let counts = &plugin["deliveries"];
            let failed: u64 = counts["failed"].as_object().map_or(0, |reasons| {
                reasons.values().filter_map(Value::as_u64).sum()
            });
            vec![
                cell(&plugin["name"]),
                cell(&plugin["state"]),
                cell(&counts["processed"]),
                failed.to_string(),
                cell(&counts["retried"]),
                cell(&counts["dead"]),
                cell(&plugin["breaker"]),
            ]
        })
        .collect();
    crate::outln!()?;
    print_table(
        &[
            "PLUGIN",
            "STATE",
            "PROCESSED",
            "FAILED",
            "RETRIED",
            "DEAD",
            "BREAKER",
        ],
        &rows,
    )?;
    let tenants = client.get("/v1/tenants")?;
    let tenants = list(&tenants["tenants"]);
    let waiting: u64 = tenants.iter().filter_map(|t| t["backlog"].as_u64()).sum();
    let rows: Vec<Vec<String>> = tenants
        .iter()
        .map(|tenant| {
            vec![
                cell(&tenant["tenant"]),
                cell(&tenant["backlog"]),
                cell(&tenant["paused"]),
            ]
        })
        .collect();
    crate::outln!()?;
    print_table(&["TENANT", "BACKLOG", "PAUSED"], &rows)?;
    crate::outln!("\n{waiting} deliveries waiting")?;
    Ok(())
}
