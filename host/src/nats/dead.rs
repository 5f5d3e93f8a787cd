//! Dead letters on NATS: a delivery that ran out of attempts, failed for
//! good or emitted invalid events goes to the dead-letter stream with why.

use async_nats::HeaderMap;
use async_nats::jetstream::message::PublishMessage;

use super::names::DeliveryId;
use super::{Nats, NatsError};
use crate::queue::codec;

impl Nats {
    /// Stores dead delivery `id`, once (by message id).
    pub async fn dead_letter(
        &self,
        id: &DeliveryId<'_>,
        reason: &str,
        message: &str,
    ) -> Result<(), NatsError> {
        let mut headers = HeaderMap::new();
        headers.insert("Weir-Plugin", id.plugin);
        headers.insert("Weir-Reason", reason);
        // Header values are one line.
        headers.insert("Weir-Error", message.replace(['\r', '\n'], " ").as_str());
        headers.insert("Weir-Node", self.node());
        let publish = PublishMessage::build()
            .headers(headers)
            .payload(codec::encode(id.event).into())
            .message_id(id.msg_id());
        self.jetstream
            .send_publish(self.names.dead_subject(id.plugin), publish)
            .await
            .map_err(|e| NatsError::request("dead letter", e))?
            .await
            .map_err(|e| NatsError::request("dead letter", e))?;
        Ok(())
    }
}
