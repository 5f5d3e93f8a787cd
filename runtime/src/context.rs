//! The data one delivery's `Store` holds: WASI (with nothing granted), HTTP
//! (only to granted hosts), the
//! plugin's identity and config, the event's tenant, and the effects the handler
//! buffers until commit.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::committed_state::{CommittedState, Versioned};
use super::egress::Egress;
use super::execute::Attempt;
use super::memory_budget::MemoryBudget;
use super::plugin::Version;

/// Bounds on what a handler may buffer or log, so one delivery cannot flood the host.
pub mod bounds {
    /// Longest state key.
    pub const STATE_KEY_BYTES: usize = 1024;
    /// Largest state value.
    pub const STATE_VALUE_BYTES: usize = 1 << 20;
    /// All state writes of one delivery together.
    pub const STATE_WRITE_BYTES: usize = 8 << 20;
    /// All committed state values one delivery reads (kept to detect conflicts).
    pub const STATE_READ_BYTES: usize = 8 << 20;
    /// Distinct state keys one delivery may read. Its commit reads each again
    /// while it holds the store's write lock, which ingest and every other
    /// commit wait for: this bounds that wait (a handler reads a few keys).
    pub const STATE_READ_KEYS: usize = 1_000;
    /// Longest log message kept (longer ones are cut).
    pub const LOG_MESSAGE_BYTES: usize = 4096;
    /// Longest `fail` reason kept (longer ones are cut): it is logged, kept
    /// in the attempt history and shown with the dead letter.
    pub const FAIL_REASON_BYTES: usize = 4096;
    /// Log lines one delivery may write; later ones are dropped.
    pub const LOG_LINES: u32 = 1000;
    /// Events one delivery may emit.
    pub const EMITTED_EVENTS: usize = 1000;
    /// Table elements one instance may grow to.
    pub const TABLE_ELEMENTS: usize = 100_000;
    /// Outbound HTTP requests one delivery may send: a handler calls an API
    /// or a few, never a crawl; each request is a socket weir opens for it.
    pub const HTTP_REQUESTS: u32 = 16;
    /// Bytes of request and response bodies one delivery's outbound
    /// requests may carry, all together: a handler calls an API, it does
    /// not download files; a body past it is cut with an error.
    pub const HTTP_BODY_BYTES: u64 = 32 << 20;
    /// Host resources (streams, pollables, HTTP fields and requests) one
    /// delivery may hold at once. wasmtime's default is a million: a guest
    /// that creates handles and forgets them would grow the host's memory,
    /// charged to neither fuel nor `memory_bytes`. A handler holds tens.
    pub const RESOURCE_TABLE_ENTRIES: usize = 2048;
    /// Bytes one `wasi:http` fields resource (a header map) may hold, counted
    /// as wasmtime counts them (the text plus each entry's in-memory size).
    /// wasmtime's default is 128 KiB; proxies cap a header section at 8 to
    /// 16 KiB on the wire. With [`RESOURCE_TABLE_ENTRIES`] this bounds what
    /// header maps can take: 2048 × 32 KiB = 64 MiB per delivery at most.
    pub const HTTP_FIELDS_BYTES: usize = 32 << 10;

    /// Cuts `text` to at most `max` bytes (on a character boundary), marking
    /// the cut with an ellipsis.
    pub fn cut(text: &mut String, max: usize) {
        if text.len() <= max {
            return;
        }
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
}

/// What a handler read and asked to change. The writes apply only if the
/// delivery commits, and only if every value it read is still the committed one
/// (otherwise a concurrent delivery changed it and this one runs again).
#[derive(Debug, Default)]
pub struct Effects {
    /// Key → new value, or `None` to delete.
    pub state_writes: BTreeMap<String, Option<Vec<u8>>>,
    /// Bytes held by `state_writes`.
    pub state_bytes: usize,
    /// Key → the committed value the handler first saw (`None`: absent),
    /// with its version.
    pub state_reads: BTreeMap<String, Versioned>,
    /// Bytes held by `state_reads`.
    pub read_bytes: usize,
}

/// The `T` of each delivery's `Store<T>`.
pub struct DeliveryContext {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    /// Checks and sends the handler's outbound HTTP requests.
    egress: Egress,
    /// Read access to committed plugin state.
    pub(super) state: Arc<dyn CommittedState>,
    /// The plugin's name; scopes its state.
    pub(super) plugin: Arc<str>,
    /// Values for the `config` import.
    pub(super) config: Arc<BTreeMap<String, String>>,
    /// The event's id, for log lines.
    pub(super) event_id: String,
    /// The event's tenant; scopes state.
    pub(super) tenant: String,
    /// Buffered effects.
    pub(super) effects: Effects,
    /// Log lines written so far.
    pub(super) log_lines: u32,
    /// `memory_bytes`, shared by every memory of the instance.
    memory: MemoryBudget,
    /// Set when the guest tried to grow memory or a table past its limit.
    pub(super) limit_hit: bool,
}

impl DeliveryContext {
    /// The context of one attempt on `version`: no WASI capabilities (no
    /// files, sockets, env or args), and outbound HTTP only to the hosts the
    /// plugin was granted.
    pub fn new(
        state: Arc<dyn CommittedState>,
        version: &Version,
        attempt: &Attempt<'_>,
    ) -> DeliveryContext {
        let event = attempt.event;
        let mut table = ResourceTable::new();
        table.set_max_capacity(bounds::RESOURCE_TABLE_ENTRIES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(bounds::HTTP_FIELDS_BYTES);
        DeliveryContext {
            wasi: WasiCtx::builder().build(),
            table,
            http,
            egress: Egress::new(version, attempt),
            state,
            plugin: version.name.clone(),
            config: version.config.clone(),
            event_id: event.id.clone(),
            tenant: event.tenant.clone(),
            effects: Effects::default(),
            log_lines: 0,
            memory: MemoryBudget::new(attempt.limits.memory_bytes),
            limit_hit: false,
        }
    }

    /// The buffered effects, taken when the handler returns.
    pub fn take_effects(&mut self) -> Effects {
        std::mem::take(&mut self.effects)
    }

    /// Outbound requests that failed (see [`Egress::failures`]).
    pub fn outbound_failures(&self) -> u32 {
        self.egress.failures()
    }

    /// Whether the guest hit its memory or table limit.
    pub fn limit_hit(&self) -> bool {
        self.limit_hit
    }
}

impl WasiView for DeliveryContext {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for DeliveryContext {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

impl ResourceLimiter for DeliveryContext {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.memory.grow(current, desired);
        self.limit_hit |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= bounds::TABLE_ELEMENTS;
        self.limit_hit |= !allowed;
        Ok(allowed)
    }
}
