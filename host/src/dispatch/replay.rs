//! Replay jobs: re-run one plugin over a range of the event log, e.g. after
//! deploying a fixed plugin, at a bounded rate so live traffic keeps flowing.
//!
//! A job covers the events from its start sequence to the last one stored
//! when it was created, so it always ends. Jobs live in memory: one that a
//! restart interrupts is not resumed (its progress says how far it got, and a
//! new job from there finishes it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::backend::Requeue;
pub use weir_core::store::ReplaySpec;
use weir_core::store::Seq;

/// How often a job writes a batch; its rate is spread over these ticks.
const TICK: Duration = Duration::from_millis(100);
/// Most finished jobs remembered, so their progress stays readable.
const MAX_JOBS: usize = 100;

/// A job's progress, as `GET /v1/replays/{id}` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReplayProgress {
    /// The job id.
    pub id: String,
    /// The plugin run again.
    pub plugin: String,
    /// The range of sequence numbers covered.
    pub from_sequence: Seq,
    /// The range's end (inclusive).
    pub to_sequence: Seq,
    /// The next sequence number to look at.
    pub next_sequence: Seq,
    /// Deliveries queued to run again.
    pub queued: u64,
    /// Deliveries left alone because they had not finished yet.
    pub pending: u64,
    /// `running`, `done`, `stopped` (weir shut down) or `failed`.
    pub status: &'static str,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The replay jobs of this process.
#[derive(Default)]
pub struct Replays {
    jobs: Mutex<BTreeMap<String, Arc<Mutex<ReplayProgress>>>>,
}

impl Replays {
    /// Starts a job; returns its first progress report.
    pub fn start(
        &self,
        queue: Box<dyn Requeue>,
        spec: ReplaySpec,
        stop: CancellationToken,
    ) -> ReplayProgress {
        let id = uuid::Uuid::now_v7().to_string();
        let progress = Arc::new(Mutex::new(ReplayProgress {
            id: id.clone(),
            plugin: spec.plugin.clone(),
            from_sequence: spec.from,
            to_sequence: spec.to,
            next_sequence: spec.from,
            queued: 0,
            pending: 0,
            status: "running",
            error: None,
        }));
        let first = lock(&progress).clone();
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            // Job ids are UUIDv7, so the first key is the oldest job.
            while jobs.len() >= MAX_JOBS {
                let Some(oldest) = jobs.keys().next().cloned() else {
                    break;
                };
                jobs.remove(&oldest);
            }
            jobs.insert(id, progress.clone());
        }
        tokio::spawn(run(queue, spec, progress, stop));
        first
    }

    /// The progress of job `id`.
    pub fn progress(&self, id: &str) -> Option<ReplayProgress> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(id).map(|progress| lock(progress).clone())
    }
}

fn lock(progress: &Mutex<ReplayProgress>) -> std::sync::MutexGuard<'_, ReplayProgress> {
    progress.lock().unwrap_or_else(|p| p.into_inner())
}

async fn run(
    queue: Box<dyn Requeue>,
    spec: ReplaySpec,
    progress: Arc<Mutex<ReplayProgress>>,
    stop: CancellationToken,
) {
    let per_tick = (u64::from(spec.rate_per_sec) * TICK.as_millis() as u64 / 1000).max(1);
    let mut next = spec.from;
    let status = loop {
        if next > spec.to {
            break "done";
        }
        let end = (next + per_tick - 1).min(spec.to);
        match queue.requeue(&spec, next..=end).await {
            Ok(reruns) => {
                let mut progress = lock(&progress);
                progress.queued += reruns.queued;
                progress.pending += reruns.pending;
                progress.next_sequence = end + 1;
            }
            Err(error) => {
                tracing::error!(%error, plugin = %spec.plugin, "replay failed");
                lock(&progress).error = Some(error.to_string());
                break "failed";
            }
        }
        next = end + 1;
        tokio::select! {
            _ = stop.cancelled() => break "stopped",
            _ = tokio::time::sleep(TICK) => {}
        }
    };
    lock(&progress).status = status;
    tracing::info!(plugin = %spec.plugin, status, "replay ended");
}
