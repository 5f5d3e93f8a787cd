//! The host side of the `log`, `state` and `config` imports. Every guest value is
//! checked against `context::bounds` before the host keeps it.

use super::bindings::weir::plugin::{config, log, state, types};
use super::context::{DeliveryContext, bounds};

/// A guest value over one of the host's bounds; the delivery traps with this.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HostLimitExceeded(pub String);

fn exceeded(message: String) -> wasmtime::Error {
    wasmtime::Error::new(HostLimitExceeded(message))
}

impl types::Host for DeliveryContext {}

impl log::Host for DeliveryContext {
    fn log(
        &mut self,
        level: log::Level,
        context: String,
        mut message: String,
    ) -> wasmtime::Result<()> {
        self.log_lines += 1;
        if self.log_lines > bounds::LOG_LINES {
            return Ok(());
        }
        bounds::cut(&mut message, bounds::LOG_MESSAGE_BYTES);
        let (plugin, event_id) = (&*self.plugin, self.event_id.as_str());
        match level {
            log::Level::Trace => tracing::trace!(plugin, event_id, context, "{message}"),
            log::Level::Debug => tracing::debug!(plugin, event_id, context, "{message}"),
            log::Level::Info => tracing::info!(plugin, event_id, context, "{message}"),
            log::Level::Warn => tracing::warn!(plugin, event_id, context, "{message}"),
            log::Level::Error | log::Level::Critical => {
                tracing::error!(plugin, event_id, context, "{message}")
            }
        }
        Ok(())
    }
}

impl state::Host for DeliveryContext {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        check_key(&key)?;
        if let Some(buffered) = self.effects.state_writes.get(&key) {
            return Ok(buffered.clone());
        }
        if let Some(seen) = self.effects.state_reads.get(&key) {
            return Ok(seen.value.clone());
        }
        if self.effects.state_reads.len() >= bounds::STATE_READ_KEYS {
            return Err(exceeded(format!(
                "state reads of one delivery exceed {} keys",
                bounds::STATE_READ_KEYS
            )));
        }
        let read = self
            .state
            .state_get(&self.plugin, &self.tenant, &key)
            .map_err(wasmtime::Error::new)?;
        let added = key.len() + read.value.as_ref().map_or(0, Vec::len);
        if self.effects.read_bytes + added > bounds::STATE_READ_BYTES {
            return Err(exceeded(format!(
                "state reads of one delivery exceed {} bytes",
                bounds::STATE_READ_BYTES
            )));
        }
        self.effects.read_bytes += added;
        let value = read.value.clone();
        self.effects.state_reads.insert(key, read);
        Ok(value)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        check_key(&key)?;
        if value.len() > bounds::STATE_VALUE_BYTES {
            return Err(exceeded(format!(
                "state value for {key:?} is {} bytes; the limit is {}",
                value.len(),
                bounds::STATE_VALUE_BYTES
            )));
        }
        self.buffer(key, Some(value))
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        check_key(&key)?;
        self.buffer(key, None)
    }
}

impl DeliveryContext {
    fn buffer(&mut self, key: String, value: Option<Vec<u8>>) -> wasmtime::Result<()> {
        let added = key.len() + value.as_ref().map_or(0, Vec::len);
        if self.effects.state_bytes + added > bounds::STATE_WRITE_BYTES {
            return Err(exceeded(format!(
                "state writes of one delivery exceed {} bytes",
                bounds::STATE_WRITE_BYTES
            )));
        }
        self.effects.state_bytes += added;
        self.effects.state_writes.insert(key, value);
        Ok(())
    }
}

fn check_key(key: &str) -> wasmtime::Result<()> {
    if key.is_empty() || key.len() > bounds::STATE_KEY_BYTES {
        return Err(exceeded(format!(
            "state key must be 1 to {} bytes, got {}",
            bounds::STATE_KEY_BYTES,
            key.len()
        )));
    }
    Ok(())
}

impl config::Host for DeliveryContext {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.config.get(&key).cloned())
    }

    fn get_all(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}
