//! Dead letters: listing them, replaying them, discarding them.

use fjall::{Readable, Snapshot};

use super::{
    DeadFilter, DeliveryRecord, DeliveryState, Queue, QueueError, Seq, Staging, event_log, keys,
    record_codec,
};
use weir_event::Event;

/// Most `dead` index entries one listing looks at, matching or not, so a
/// filter that matches little still answers quickly (with a cursor to go on).
const MAX_SCAN: usize = 10_000;

/// One dead delivery with its event.
#[derive(Debug)]
pub struct DeadLetter {
    /// The event's sequence number.
    pub seq: Seq,
    /// The event.
    pub event: Event,
    /// The delivery, with its history and error.
    pub record: DeliveryRecord,
}

/// A page of dead letters.
#[derive(Debug, Default)]
pub struct DeadPage {
    /// The matches, oldest event first within a plugin.
    pub letters: Vec<DeadLetter>,
    /// The key the next page starts at, if the scan stopped before the end.
    pub next: Option<Vec<u8>>,
}

impl Queue {
    /// Up to `limit` dead letters matching `filter`, from the `dead` key `from`
    /// (a [`DeadPage::next`]) on, read through one snapshot: a letter
    /// revived or discarded meanwhile is either listed as it was or not at
    /// all.
    pub fn dead_letters(
        &self,
        filter: &DeadFilter,
        from: Option<&[u8]>,
        limit: usize,
    ) -> Result<DeadPage, QueueError> {
        let prefix = filter
            .plugin
            .as_deref()
            .map(keys::plugin_prefix)
            .unwrap_or_default();
        let start = match from {
            Some(from) => from.to_vec(),
            None => prefix.clone(),
        };
        let mut page = DeadPage::default();
        let snapshot = self.db.snapshot();
        for (scanned, guard) in snapshot.range(&self.dead, start..).enumerate() {
            let key = guard.key()?;
            if !key.starts_with(&prefix) {
                return Ok(page);
            }
            if scanned == MAX_SCAN || page.letters.len() == limit {
                page.next = Some(key.to_vec());
                return Ok(page);
            }
            let (plugin, seq) = keys::split_plugin_seq(&key)
                .ok_or_else(|| QueueError::Corrupt("malformed dead key".into()))?;
            let Some(letter) = self.letter(&snapshot, seq, plugin)? else {
                continue;
            };
            if filter.takes(&letter.event) {
                page.letters.push(letter);
            }
        }
        Ok(page)
    }

    /// The `limit` dead letters of the latest events, latest first, over
    /// every plugin: each plugin's newest, merged. The `dead` index is in
    /// (plugin, event) order, so this looks at `limit` keys per plugin with
    /// dead letters, not at every letter. One snapshot, as for a listing.
    pub fn newest_dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let malformed = || QueueError::Corrupt("malformed dead key".into());
        let mut newest: Vec<(Seq, String)> = Vec::new();
        let mut from = Vec::new();
        let snapshot = self.db.snapshot();
        while let Some(guard) = snapshot.range(&self.dead, from.as_slice()..).next() {
            let key = guard.key()?;
            let (plugin, _) = keys::split_plugin_seq(&key).ok_or_else(malformed)?;
            let prefix = keys::plugin_prefix(plugin);
            for guard in snapshot.prefix(&self.dead, &prefix).rev().take(limit) {
                let key = guard.key()?;
                let (plugin, seq) = keys::split_plugin_seq(&key).ok_or_else(malformed)?;
                newest.push((seq, plugin.to_owned()));
            }
            // The next plugin's keys start past every key with this prefix.
            from = prefix;
            if let Some(separator) = from.last_mut() {
                *separator += 1;
            }
        }
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest.truncate(limit);
        let mut letters = Vec::with_capacity(newest.len());
        for (seq, plugin) in newest {
            letters.extend(self.letter(&snapshot, seq, &plugin)?);
        }
        Ok(letters)
    }

    /// The dead letter of (`seq`, `plugin`) as `snapshot` has it: its event
    /// and its delivery record, if both are there.
    fn letter(
        &self,
        snapshot: &Snapshot,
        seq: Seq,
        plugin: &str,
    ) -> Result<Option<DeadLetter>, QueueError> {
        let event = event_log::event_in(snapshot.range(&self.events, event_log::span(seq)), seq)?;
        let record = snapshot.get(&self.deliveries, keys::delivery(seq, plugin))?;
        let (Some(event), Some(record)) = (event, record) else {
            return Ok(None);
        };
        Ok(Some(DeadLetter {
            seq,
            event,
            record: record_codec::decode(plugin, &record)?,
        }))
    }

    /// The dead deliveries of event `seq`, to every plugin or to `plugin`.
    pub fn dead_of(
        &self,
        seq: Seq,
        plugin: Option<&str>,
    ) -> Result<Vec<DeliveryRecord>, QueueError> {
        Ok(self
            .deliveries_of(seq)?
            .into_iter()
            .filter(|record| record.state == DeliveryState::Dead)
            .filter(|record| plugin.is_none_or(|p| p == record.plugin))
            .collect())
    }
}

impl Staging<'_> {
    /// Gives a dead delivery a new round of attempts: it is ready again, its
    /// history kept. False if it is not dead (any more).
    pub fn revive(&mut self, seq: Seq, plugin: &str) -> Result<bool, QueueError> {
        let Some(mut record) = self.dead_record(seq, plugin)? else {
            return Ok(false);
        };
        let Some(event) = self.queue().event(seq)? else {
            return Err(QueueError::Corrupt(format!(
                "dead delivery {seq}/{plugin} has no event"
            )));
        };
        record.attempts = 0;
        record.error = None;
        record.replays += 1;
        self.remove_dead(seq, plugin);
        self.make_pending(seq, record, &event);
        Ok(true)
    }

    /// Drops a dead delivery for good. False if it is not dead (any more).
    pub fn discard(&mut self, seq: Seq, plugin: &str) -> Result<bool, QueueError> {
        let Some(mut record) = self.dead_record(seq, plugin)? else {
            return Ok(false);
        };
        record.state = DeliveryState::Discarded;
        self.remove_dead(seq, plugin);
        self.put_record(seq, &record);
        Ok(true)
    }
}
