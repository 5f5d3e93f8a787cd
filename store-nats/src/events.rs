//! `GET /v1/events/{id}` on NATS: an event is stored on a subject of its
//! id, so the events with an id are read through a consumer filtered on it.
//! Each delivery's state, in the latest replay generation that ran it, is
//! what the cluster can tell: `done` with its result where its commit
//! record is, `dead` with its error where its dead letter is, and `ready`
//! otherwise, with the faults kept of it in a row (`faults.rs`) as its
//! history (JetStream does not say whether a node is running it now, or
//! keep its other attempts).

use async_nats::jetstream::consumer::DeliverPolicy;

use super::dead::scan;
use super::names::DeliveryId;
use super::{Nats, NatsError};
use weir_core::route::RouteTable;
use weir_core::store::{
    DeliveryRecord, DeliveryResult, DeliveryState, EventRef, StoreError, StoredEvent,
};
use weir_event::{Event, codec};

/// Most events with one id a lookup reads before it calls the id ambiguous.
const MAX_MATCHES: usize = 100;

/// What a failed step of a lookup was doing.
const LOOKUP: &str = "read an event";

/// Most replay generations of a plugin a lookup reads commit records of,
/// the latest first.
const MAX_GENERATIONS: u32 = 16;

/// A dead delivery of the event looked up.
struct Dead {
    plugin: String,
    generation: u32,
    attempts: u32,
    error: Option<String>,
}

impl Nats {
    /// The one event `named` names, with a delivery to each plugin `routes`
    /// send it to and each it died at.
    pub async fn event(
        &self,
        routes: &RouteTable,
        named: &EventRef,
    ) -> Result<StoredEvent, StoreError> {
        let mut found = Vec::new();
        let subjects = self.names.events_with_id(&named.id);
        scan(&self.events, subjects, DeliverPolicy::All, LOOKUP, |stored, _| {
            match codec::decode(&stored.payload) {
                Ok(event) if named.takes(&event) => found.push((stored.sequence, event)),
                Ok(_) => {}
                Err(error) => {
                    let sequence = stored.sequence;
                    tracing::error!(%error, sequence, "an event on the stream is unreadable; the lookup skips it");
                }
            }
            found.len() < MAX_MATCHES
        })
        .await?;
        let (sequence, event) = named.one_of(found, |(_, event)| {
            (event.tenant.as_str(), event.source.as_str())
        })?;
        let dead = self.dead_of(&event).await?;
        let mut plugins: Vec<String> = (routes.targets_for(&event).into_iter())
            .map(|target| target.plugin)
            .collect();
        plugins.extend(dead.iter().map(|dead| dead.plugin.clone()));
        plugins.sort();
        plugins.dedup();
        let mut deliveries = Vec::with_capacity(plugins.len());
        for plugin in plugins {
            deliveries.push(self.latest_delivery(&plugin, &event, &dead).await?);
        }
        Ok(StoredEvent {
            sequence,
            event,
            deliveries,
        })
    }

    /// The delivery of `event` to `plugin` in the latest replay generation
    /// that ran it (of the last [`MAX_GENERATIONS`]) or else the first run:
    /// `done` where its commit record is, `dead` where its letter is,
    /// `ready` with its faults where they are kept, or else `ready`.
    async fn latest_delivery(
        &self,
        plugin: &str,
        event: &Event,
        dead: &[Dead],
    ) -> Result<DeliveryRecord, NatsError> {
        let latest = self.replay_generations(plugin).await?;
        let oldest = latest.saturating_sub(MAX_GENERATIONS - 1).max(1);
        for generation in (oldest..=latest).rev().chain([0]) {
            let id = DeliveryId {
                plugin,
                event,
                generation,
            };
            // A give-up's mark: its dead letter tells the rest.
            let record = self.committed(&id).await?;
            if let Some(record) = record.filter(|record| record.gave_up.is_none()) {
                return done(plugin, generation, &record);
            }
            let letter = dead
                .iter()
                .find(|dead| dead.plugin == plugin && dead.generation == generation);
            if let Some(dead) = letter {
                return Ok(DeliveryRecord {
                    state: DeliveryState::Dead,
                    generation,
                    attempts: dead.attempts,
                    error: dead.error.clone(),
                    ..DeliveryRecord::ready(plugin)
                });
            }
            let kept = self.kept(&id).await?;
            if !kept.faults.is_empty() {
                return Ok(DeliveryRecord {
                    generation,
                    attempts: u32::try_from(kept.faults.len()).unwrap_or(u32::MAX),
                    history: kept.faults,
                    ..DeliveryRecord::ready(plugin)
                });
            }
        }
        Ok(DeliveryRecord::ready(plugin))
    }

    /// The dead letters of `event`, read from the subjects of its id.
    async fn dead_of(&self, event: &Event) -> Result<Vec<Dead>, NatsError> {
        let mut dead = Vec::new();
        scan(
            &self.dead,
            self.names.dead_of_event(None, &event.id),
            DeliverPolicy::All,
            LOOKUP,
            |letter, _| {
                let same = codec::decode(&letter.payload).is_ok_and(|dead| {
                    dead.id == event.id
                        && dead.tenant == event.tenant
                        && dead.source == event.source
                });
                if let Some(plugin) = letter.header("Weir-Plugin").filter(|_| same) {
                    dead.push(Dead {
                        plugin,
                        generation: (letter.header("Weir-Generation"))
                            .and_then(|generation| generation.parse().ok())
                            .unwrap_or(0),
                        attempts: (letter.header("Weir-Attempts"))
                            .and_then(|attempts| attempts.parse().ok())
                            .unwrap_or(0),
                        error: letter.header("Weir-Error"),
                    });
                }
                true
            },
        )
        .await?;
        Ok(dead)
    }
}

/// The delivery to `plugin` in `generation` whose commit record is `record`.
fn done(
    plugin: &str,
    generation: u32,
    record: &super::commit::Record,
) -> Result<DeliveryRecord, NatsError> {
    let emitted = record
        .children()?
        .into_iter()
        .map(|child| child.id)
        .collect();
    Ok(DeliveryRecord {
        state: DeliveryState::Done,
        generation,
        attempts: record.attempt,
        result: Some(DeliveryResult {
            outcome: record.outcome.clone(),
            emitted,
            state_writes: u32::try_from(record.state_writes).unwrap_or(u32::MAX),
            committed_at_ms: record.committed_at_ms,
        }),
        ..DeliveryRecord::ready(plugin)
    })
}
