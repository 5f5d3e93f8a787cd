//! The Prometheus text format (0.0.4), made from prometheus-client's
//! OpenMetrics output, for clients that do not ask for OpenMetrics: promtool,
//! and scrapers older than OpenMetrics. The samples are the same; only the
//! metadata differs: OpenMetrics names a counter family without `_total` in
//! `# HELP`/`# TYPE`, has `# UNIT` lines and ends with `# EOF`.

use std::collections::HashSet;

/// The media type of what [`classic_text`] returns.
pub const CLASSIC_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `openmetrics` in the Prometheus text format.
pub fn classic_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let metadata = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match metadata {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(name) {
                    "_total"
                } else {
                    ""
                };
                text.push_str(prefix);
                text.push_str(name);
                text.push_str(suffix);
                text.push(' ');
                text.push_str(tail);
                text.push('\n');
            }
            None => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_with_total_and_openmetrics_only_lines_go() {
        let openmetrics = "# HELP weir_events_ingested Events made durable.\n\
            # TYPE weir_events_ingested counter\n\
            weir_events_ingested_total 3\n\
            # HELP weir_fsync_duration_seconds Time in fsync.\n\
            # TYPE weir_fsync_duration_seconds histogram\n\
            # UNIT weir_fsync_duration_seconds seconds\n\
            weir_fsync_duration_seconds_sum 0.5\n\
            # EOF\n";
        assert_eq!(
            classic_text(openmetrics),
            "# HELP weir_events_ingested_total Events made durable.\n\
             # TYPE weir_events_ingested_total counter\n\
             weir_events_ingested_total 3\n\
             # HELP weir_fsync_duration_seconds Time in fsync.\n\
             # TYPE weir_fsync_duration_seconds histogram\n\
             weir_fsync_duration_seconds_sum 0.5\n"
        );
    }
}
