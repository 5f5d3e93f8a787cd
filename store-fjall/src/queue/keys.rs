//! Key layouts. Big-endian sequence numbers make range scans run in ingest order.
//!
//! | keyspace      | key                              | value                  |
//! |---------------|----------------------------------|------------------------|
//! | `events`      | seq of a group's first event     | a group of events (`event_log`) |
//! | `event_keys`  | id ‖ 0x00 ‖ tenant ‖ 0x00 ‖ source | seq                  |
//! | `deliveries`  | seq ‖ plugin                     | delivery record (`record_codec`) |
//! | `ready_lanes` | plugin ‖ 0x00 ‖ lane ‖ seq (below) | ready since (ms)     |
//! | `leased`      | plugin ‖ 0x00 ‖ seq              | lease deadline (ms) ‖ attempt |
//! | `scheduled`   | due (ms) ‖ plugin ‖ 0x00 ‖ seq   | empty                  |
//! | `dead`        | plugin ‖ 0x00 ‖ seq              | empty                  |
//! | `state`       | plugin ‖ 0x00 ‖ tenant ‖ 0x00 ‖ key | value               |
//! | `heads`       | ordering key (below)             | seq of the key's head  |
//! | `waiting`     | ordering key ‖ seq               | empty                  |
//! | `held`        | tenant ‖ 0x00 ‖ plugin ‖ 0x00 ‖ seq | empty               |
//! | `kept`        | seq (an expired event still pending) | empty              |
//! | `meta`        | name (the horizon, the layout; `paused/…` for operators' pauses) | value |
//!
//! An event is known by (tenant, source, id), as CloudEvents defines its
//! identity; the id comes first in `event_keys` so that looking an event up by
//! its id alone is one prefix scan. Ids never contain 0x00 (ingest refuses
//! them) and the source is the key's last part.
//! An ordering key is plugin ‖ 0x00 ‖ tenant ‖ 0x00 ‖ partitionkey ‖ 0x00.
//! A lane in `ready_lanes` is priority rank (1 byte) ‖ tenant ‖ 0x00, so one
//! plugin's lanes sort most urgent first and each lane is one range in seq
//! order. (The `ready` keyspace of earlier versions, plugin ‖ 0x00 ‖ seq, is
//! moved into `ready_lanes` at start-up: see `migrate`.)
//! A leased delivery stays in `ready_lanes` until its ending; its key in
//! `leased` is what counts its attempt should weir stop meanwhile.
//! Plugin names, tenants and partition keys never contain 0x00 (all are
//! validated), so the separator keeps one range from running into another.

use super::{Lane, Seq};
use weir_event::Priority;

const SEP: u8 = 0;

/// `seq` as an 8-byte big-endian key.
pub fn seq(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Reads a big-endian sequence number from the first 8 bytes of `bytes`.
pub fn read_seq(bytes: &[u8]) -> Option<Seq> {
    Some(Seq::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

/// Key of the delivery of event `seq` to `plugin`.
pub fn delivery(seq: Seq, plugin: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + plugin.len());
    key.extend_from_slice(&seq.to_be_bytes());
    key.extend_from_slice(plugin.as_bytes());
    key
}

/// The plugin a `deliveries` key names.
pub fn plugin_of_delivery(key: &[u8]) -> Option<&str> {
    std::str::from_utf8(key.get(8..)?).ok()
}

/// Key in a per-plugin index (`leased`, `dead`): plugin ‖ 0x00 ‖ seq.
pub fn plugin_seq(plugin: &str, seq: Seq) -> Vec<u8> {
    let mut key = plugin_prefix(plugin);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The prefix of one plugin's range in a per-plugin index.
pub fn plugin_prefix(plugin: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(plugin.len() + 9);
    key.extend_from_slice(plugin.as_bytes());
    key.push(SEP);
    key
}

/// Splits a per-plugin index key back into (plugin, seq).
pub fn split_plugin_seq(key: &[u8]) -> Option<(&str, Seq)> {
    let split = key.len().checked_sub(9)?;
    if key[split] != SEP {
        return None;
    }
    let plugin = std::str::from_utf8(&key[..split]).ok()?;
    Some((plugin, read_seq(&key[split + 1..])?))
}

/// The plugin a key of a per-plugin keyspace belongs to (its part before the first 0x00).
pub fn plugin_of(key: &[u8]) -> Option<&str> {
    let end = key.iter().position(|&b| b == SEP)?;
    std::str::from_utf8(&key[..end]).ok()
}

/// The prefix of one lane of one plugin in `ready_lanes`.
pub fn lane_prefix(plugin: &str, lane: &Lane) -> Vec<u8> {
    let mut key = plugin_prefix(plugin);
    key.push(lane.priority.rank());
    key.extend_from_slice(lane.tenant.as_bytes());
    key.push(SEP);
    key
}

/// Key in `ready_lanes`: the delivery of event `seq` to `plugin`, waiting in `lane`.
pub fn ready(plugin: &str, lane: &Lane, seq: Seq) -> Vec<u8> {
    let mut key = lane_prefix(plugin, lane);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Splits a `ready_lanes` key back into (plugin, lane, seq).
pub fn split_ready(key: &[u8]) -> Option<(&str, Lane, Seq)> {
    let plugin_end = key.iter().position(|&b| b == SEP)?;
    let plugin = std::str::from_utf8(&key[..plugin_end]).ok()?;
    let priority = Priority::from_rank(*key.get(plugin_end + 1)?)?;
    let seq_at = key.len().checked_sub(8)?;
    let tenant = key.get(plugin_end + 2..seq_at.checked_sub(1)?)?;
    if key[seq_at - 1] != SEP {
        return None;
    }
    let lane = Lane {
        priority,
        tenant: std::str::from_utf8(tenant).ok()?.to_owned(),
    };
    Some((plugin, lane, read_seq(&key[seq_at..])?))
}

/// The prefix of one tenant's range in `held`.
pub fn tenant_prefix(tenant: &str) -> Vec<u8> {
    plugin_prefix(tenant)
}

/// Key in `held`: tenant first, so resuming a tenant reads one range.
pub fn held(tenant: &str, plugin: &str, seq: Seq) -> Vec<u8> {
    let mut key = tenant_prefix(tenant);
    key.extend_from_slice(&plugin_seq(plugin, seq));
    key
}

/// The tenant of a `held` key, and the (plugin, seq) part after it.
pub fn split_held_tenant(key: &[u8]) -> Option<(&str, &[u8])> {
    let end = key.iter().position(|&b| b == 0)?;
    let tenant = std::str::from_utf8(&key[..end]).ok()?;
    Some((tenant, &key[end + 1..]))
}

/// Key in `scheduled`: due time first, so due retries are a prefix of the keyspace.
pub fn scheduled(due_ms: u64, plugin: &str, seq: Seq) -> Vec<u8> {
    let mut key = due_ms.to_be_bytes().to_vec();
    key.extend_from_slice(&plugin_seq(plugin, seq));
    key
}

/// Splits a `scheduled` key into (due, plugin, seq).
pub fn split_scheduled(key: &[u8]) -> Option<(u64, &str, Seq)> {
    let due = read_seq(key)?;
    let (plugin, seq) = split_plugin_seq(key.get(8..)?)?;
    Some((due, plugin, seq))
}

/// Key in `event_keys`: the identity of an event.
pub fn event_key(id: &str, tenant: &str, source: &str) -> Vec<u8> {
    let mut key = event_id_prefix(id);
    key.extend_from_slice(tenant.as_bytes());
    key.push(SEP);
    key.extend_from_slice(source.as_bytes());
    key
}

/// The prefix of every `event_keys` key of events with this id.
pub fn event_id_prefix(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 32);
    key.extend_from_slice(id.as_bytes());
    key.push(SEP);
    key
}

/// Splits an `event_keys` key whose id is `id` into (tenant, source).
pub fn split_event_key<'k>(key: &'k [u8], id: &str) -> Option<(&'k str, &'k str)> {
    let rest = key.strip_prefix(event_id_prefix(id).as_slice())?;
    let tenant_end = rest.iter().position(|&b| b == SEP)?;
    let tenant = std::str::from_utf8(&rest[..tenant_end]).ok()?;
    let source = std::str::from_utf8(&rest[tenant_end + 1..]).ok()?;
    Some((tenant, source))
}

/// The prefix of one (plugin, tenant) state bucket.
pub fn state_prefix(plugin: &str, tenant: &str) -> Vec<u8> {
    let mut key = plugin_prefix(plugin);
    key.extend_from_slice(tenant.as_bytes());
    key.push(SEP);
    key
}

/// The ordering key of (`plugin`, `tenant`, `partitionkey`): the prefix of its
/// `waiting` range and its key in `heads`.
pub fn ordering(plugin: &str, tenant: &str, partitionkey: &str) -> Vec<u8> {
    let mut key = state_prefix(plugin, tenant);
    key.extend_from_slice(partitionkey.as_bytes());
    key.push(SEP);
    key
}

/// Value in `leased`: when the lease expires, and which attempt holds it.
/// Only the attempt is read back (expiry reads the deadlines in memory); the
/// deadline keeps the layout earlier versions wrote and read.
pub fn lease(deadline_ms: u64, attempt: u32) -> [u8; 12] {
    let mut value = [0; 12];
    value[..8].copy_from_slice(&deadline_ms.to_be_bytes());
    value[8..].copy_from_slice(&attempt.to_be_bytes());
    value
}

/// Reads a `leased` value back into (deadline, attempt).
pub fn read_lease(value: &[u8]) -> Option<(u64, u32)> {
    let deadline = read_seq(value)?;
    let attempt = u32::from_be_bytes(value.get(8..12)?.try_into().ok()?);
    Some((deadline, attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort_by_seq() {
        let key = plugin_seq("price-calculator", 42);
        assert_eq!(split_plugin_seq(&key), Some(("price-calculator", 42)));
        assert!(plugin_seq("a", 255) < plugin_seq("a", 256));
        assert!(plugin_seq("a", u64::MAX) < plugin_seq("a-b", 0));
        let key = scheduled(1_700_000_000_000, "x", 7);
        assert_eq!(split_scheduled(&key), Some((1_700_000_000_000, "x", 7)));
        assert_eq!(split_plugin_seq(b"short"), None);
        assert_eq!(read_lease(&lease(99, 3)), Some((99, 3)));
        assert!(!ordering("p", "t", "k").starts_with(&ordering("p", "t", "")));
    }

    #[test]
    fn a_delivery_key_names_its_plugin() {
        assert_eq!(plugin_of_delivery(&delivery(7, "pricing")), Some("pricing"));
        assert_eq!(plugin_of_delivery(&[0, 1, 2]), None, "shorter than a seq");
        assert_eq!(
            plugin_of_delivery(&[0, 0, 0, 0, 0, 0, 0, 7, 0xff]),
            None,
            "not UTF-8"
        );
    }

    #[test]
    fn event_keys_round_trip_and_keep_ids_apart() {
        let key = event_key("e1", "acme", "/a\0b");
        assert_eq!(split_event_key(&key, "e1"), Some(("acme", "/a\0b")));
        assert!(key.starts_with(&event_id_prefix("e1")));
        // An id that extends another is a different range.
        assert!(!event_key("e10", "acme", "s").starts_with(&event_id_prefix("e1")));
        assert_eq!(split_event_key(&key, "e2"), None);
    }

    #[test]
    fn ready_keys_round_trip_and_sort_by_lane_then_seq() {
        let lane = |priority, tenant: &str| Lane {
            priority,
            tenant: tenant.to_owned(),
        };
        let acme = lane(Priority::Normal, "acme");
        let key = ready("p", &acme, 7);
        assert_eq!(split_ready(&key), Some(("p", acme.clone(), 7)));
        assert!(key.starts_with(&lane_prefix("p", &acme)));
        assert!(ready("p", &lane(Priority::Critical, "zeta"), 9) < ready("p", &acme, 1));
        assert!(ready("p", &acme, 255) < ready("p", &acme, 256));
        // A tenant that extends another's name is a different range.
        assert!(
            !ready("p", &lane(Priority::Normal, "acme2"), 1).starts_with(&lane_prefix("p", &acme))
        );
        assert_eq!(split_ready(b"p\0\x09t\0"), None);
    }
}
