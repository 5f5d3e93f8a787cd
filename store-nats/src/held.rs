//! A paused tenant's deliveries on NATS. A node that pulls one moves it to
//! the held stream, on its tenant's subject, and acknowledges it: it holds
//! up no partition and spends no attempt. A resume publishes the held
//! deliveries again in the order they were held, and takes them off.
//!
//! Nodes learn of a resume through the pauses bucket a moment apart, so a
//! node may hold a delivery just after another node released the tenant.
//! Each node that marks a tenant resumed therefore releases it too (after
//! [`RELEASE_GRACE`], by which the release that the resume itself ran is
//! done), and a delivery released twice is stored once: its message id
//! names its place on the held stream.

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{DeleteMessageError, DeleteMessageErrorKind};

use super::dead::scan;
use super::dead_actions::Found;
use super::ingest::GENERATION_HEADER;
use super::pulled::Pulled;
use super::{Nats, NatsError};
use weir_core::route::Routes;
use weir_core::tenant_pauses::TenantPauses;

/// How long a node that learns of a resume from another node waits before
/// it releases the deliveries held meanwhile.
pub const RELEASE_GRACE: Duration = Duration::from_secs(2);

/// Held deliveries published again per round of a release.
const RELEASE_BATCH: usize = 256;

/// What a failed step of a release was doing.
const RELEASE: &str = "release held deliveries";

impl Nats {
    /// Moves `pulled` to the held stream if its tenant is paused; whether
    /// it did.
    pub(super) async fn hold_if_paused(
        &self,
        pauses: &TenantPauses,
        pulled: &Pulled,
    ) -> Result<bool, NatsError> {
        let event = &pulled.event;
        if !pauses.is_paused(&event.tenant) {
            return Ok(false);
        }
        let _holding = self.holding.lock().await;
        // Asked again under the lock a resume marks its tenant under.
        if !pauses.is_paused(&event.tenant) {
            return Ok(false);
        }
        let failed = |e: &dyn std::fmt::Display| NatsError::request("hold a delivery", e);
        let mut headers = HeaderMap::new();
        headers.insert("Weir-Plugin", &*pulled.plugin);
        headers.insert(GENERATION_HEADER, pulled.generation.to_string().as_str());
        // Held once, though the delivery is pulled again if its ack is lost.
        let publish = PublishMessage::build()
            .payload(pulled.message.payload.clone())
            .headers(headers)
            .message_id(format!("h{}", pulled.sequence));
        let subject = self.names.held_subject(&event.tenant);
        let ack = (self.jetstream.send_publish(subject, publish).await).map_err(|e| failed(&e))?;
        ack.await.map_err(|e| failed(&e))?;
        pulled.message.double_ack().await.map_err(|e| failed(&e))?;
        Ok(true)
    }

    /// Marks `tenant` resumed on this node, under the lock a delivery is
    /// held under, so that a release that starts after this finds every
    /// delivery this node held; whether it was paused.
    pub(super) async fn mark_resumed(&self, pauses: &TenantPauses, tenant: &str) -> bool {
        let _holding = self.holding.lock().await;
        pauses.set(tenant, false)
    }

    /// Publishes each delivery held for `tenant` again, oldest first, to
    /// the plugin and partition `routes` send it to now, and takes it off
    /// the held stream; how many this call published that no other release
    /// had. An unreadable one stays held, with an error logged.
    pub(super) async fn release_held(
        &self,
        routes: &Routes,
        tenant: &str,
    ) -> Result<u64, NatsError> {
        let routes = routes.current();
        let mut released = 0;
        let mut start = DeliverPolicy::All;
        loop {
            let mut found = Vec::new();
            let mut last = None;
            let subject = vec![self.names.held_subject(tenant)];
            scan(&self.held, subject, start, RELEASE, |letter, _| {
                let sequence = letter.sequence;
                last = Some(sequence);
                match Found::of(letter, |_| true) {
                    Some(held) => found.push(held),
                    None => tracing::error!(
                        tenant,
                        sequence,
                        "a held delivery is unreadable; it stays on the held stream"
                    ),
                }
                found.len() < RELEASE_BATCH
            })
            .await?;
            let Some(last) = last else {
                return Ok(released);
            };
            let duplicates = self.republish(&routes, &found, "h").await?;
            released += duplicates.iter().filter(|duplicate| !**duplicate).count() as u64;
            for held in &found {
                match self.held.delete_message(held.sequence).await {
                    Ok(_) => {}
                    // Another node's release took it off first.
                    Err(error) if already_gone(&error) => {}
                    Err(error) => return Err(NatsError::request(RELEASE, error)),
                }
            }
            start = DeliverPolicy::ByStartSequence {
                start_sequence: last + 1,
            };
        }
    }
}

/// Releases `tenant`'s held deliveries after [`RELEASE_GRACE`]: for a node
/// that learned of the resume from another.
pub(super) async fn release_later(nats: Arc<Nats>, routes: Arc<Routes>, tenant: String) {
    tokio::time::sleep(RELEASE_GRACE).await;
    match nats.release_held(&routes, &tenant).await {
        Ok(0) => {}
        Ok(released) => {
            tracing::info!(%tenant, released, "released deliveries held after the resume")
        }
        Err(error) => {
            tracing::error!(%tenant, %error, "cannot release the deliveries held after the resume; the next resume will")
        }
    }
}

/// Whether a delete failed for want of the message: JetStream answers a
/// delete of a message that is gone with this code ("no message found").
fn already_gone(error: &DeleteMessageError) -> bool {
    matches!(error.kind(), DeleteMessageErrorKind::JetStream(error)
        if error.error_code() == ErrorCode::STREAM_MESSAGE_DELETE_FAILED)
}
