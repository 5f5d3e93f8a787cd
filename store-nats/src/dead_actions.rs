//! Reviving and discarding dead letters on NATS. A revived letter is
//! published again as a delivery in its generation, under a message id of
//! its own (the first one may still be in the duplicate window), so it
//! starts a fresh round of attempts, once the mark of its give-up is taken
//! away (`commit.rs`); then it leaves the dead-letter stream. A discarded
//! one just leaves it.

use async_nats::jetstream::consumer::DeliverPolicy;

use super::dead::Letter;
use super::ingest::stored;
use super::names::DeliveryId;
use super::{Nats, NatsError};
use weir_core::route::RouteTable;
use weir_core::store::{DeadFilter, StoreError, Target};
use weir_core::store::{EventLetters, Revived};
use weir_event::Event;
use weir_event::codec;

/// A dead letter (or a held delivery) to act on: where it is on its
/// stream, and its delivery.
pub(super) struct Found {
    pub(super) sequence: u64,
    pub(super) plugin: String,
    generation: u32,
    event: Event,
    payload: bytes::Bytes,
}

impl Found {
    /// `letter`, if it is readable and matches `wanted`.
    pub(super) fn of(letter: Letter, wanted: impl Fn(&Event) -> bool) -> Option<Found> {
        let event = codec::decode(&letter.payload).ok()?;
        if !wanted(&event) {
            return None;
        }
        Some(Found {
            sequence: letter.sequence,
            plugin: letter.header("Weir-Plugin")?,
            generation: (letter.header("Weir-Generation")?.parse()).ok()?,
            event,
            payload: letter.payload,
        })
    }
}

impl Nats {
    /// Revives the dead deliveries of the event `letters` names.
    pub async fn revive_event(
        &self,
        routes: &RouteTable,
        letters: &EventLetters,
    ) -> Result<Vec<String>, StoreError> {
        let found = self.dead_of_event(letters).await?;
        Ok(self.revive(routes, &found).await?)
    }

    /// Discards the dead deliveries of the event `letters` names.
    pub async fn discard_event(&self, letters: &EventLetters) -> Result<Vec<String>, StoreError> {
        let found = self.dead_of_event(letters).await?;
        Ok(self.remove_letters(&found).await?)
    }

    /// Revives up to `limit` dead deliveries that match `filter`, oldest first.
    pub async fn revive_matching(
        &self,
        routes: &RouteTable,
        filter: &DeadFilter,
        limit: usize,
    ) -> Result<Revived, StoreError> {
        let mut found = Vec::new();
        let wanted = |event: &Event| filter.takes(event);
        // One past the limit, to tell whether more match.
        let subjects = self.names.dead_of_plugin(filter.plugin.as_deref());
        self.scan_dead(subjects, DeliverPolicy::All, |letter, _| {
            found.extend(Found::of(letter, wanted));
            found.len() <= limit
        })
        .await?;
        let more = found.len() > limit;
        found.truncate(limit);
        Ok(Revived {
            plugins: self.revive(routes, &found).await?,
            more,
        })
    }

    /// The dead deliveries of the one event `letters` names: none is a 404,
    /// letters of several events with the id (other tenants or sources) a 409.
    async fn dead_of_event(&self, letters: &EventLetters) -> Result<Vec<Found>, StoreError> {
        let wanted = |event: &Event| letters.event.takes(event);
        let mut found = Vec::new();
        let plugin = letters.plugin.as_deref();
        self.scan_dead(
            self.names.dead_of_event(plugin, &letters.event.id),
            DeliverPolicy::All,
            |letter, _| {
                found.extend(Found::of(letter, wanted));
                true
            },
        )
        .await?;
        if found.is_empty() {
            return Err(letters.none_found());
        }
        // Letters of one event only: several events with the id are a 409.
        (letters.event).one_of(found.iter().collect(), |letter| {
            (letter.event.tenant.as_str(), letter.event.source.as_str())
        })?;
        Ok(found)
    }

    /// Takes away each of `found`'s give-up mark, publishes it as a
    /// delivery again, then takes the letters off the stream; the plugins
    /// revived.
    async fn revive(&self, routes: &RouteTable, found: &[Found]) -> Result<Vec<String>, NatsError> {
        for letter in found {
            let id = DeliveryId {
                plugin: &letter.plugin,
                event: &letter.event,
                generation: letter.generation,
            };
            self.unbury(&id).await?;
        }
        self.republish(routes, found, "r").await?;
        self.remove_letters(found).await
    }

    /// Publishes each of `found` as a delivery again, under a message id of
    /// its own (`tag` and its sequence on the stream it was read from), so
    /// that publishing one twice stores it once; says of each whether it
    /// was such a duplicate.
    pub(super) async fn republish(
        &self,
        routes: &RouteTable,
        found: &[Found],
        tag: &str,
    ) -> Result<Vec<bool>, NatsError> {
        let mut acks = Vec::new();
        for letter in found {
            // Ordered as the routes say now; unordered if none sends it there any more.
            let target = (routes.targets_for(&letter.event).into_iter())
                .find(|target| target.plugin == letter.plugin)
                .unwrap_or_else(|| Target {
                    plugin: letter.plugin.clone(),
                    ordered: false,
                });
            let again = Some(format!("{tag}{}", letter.sequence));
            let ack = self
                .publish_delivery(
                    &target,
                    &letter.event,
                    &letter.payload,
                    letter.generation,
                    again,
                )
                .await?;
            acks.push(ack);
        }
        stored(acks).await
    }

    /// Takes `found` off the dead-letter stream; the plugins they went to.
    async fn remove_letters(&self, found: &[Found]) -> Result<Vec<String>, NatsError> {
        for letter in found {
            self.dead
                .delete_message(letter.sequence)
                .await
                .map_err(|e| NatsError::request("remove a dead letter", e))?;
        }
        Ok(found.iter().map(|letter| letter.plugin.clone()).collect())
    }
}
