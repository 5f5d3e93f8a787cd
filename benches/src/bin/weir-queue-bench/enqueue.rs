//! Enqueue as ingest does it: concurrent submitters hand batches to weir's
//! group committer, which routes, stores and fsyncs them together.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use weir::embedded::Embedded;
use weir::ingest::GroupCommitter;
use weir::queue::Durability;
use weir_core::store::Append;

use weir_bench::queue_setup as setup;

use crate::Measured;

/// How much to submit, and how.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Events per `submit` call.
    pub batch: usize,
    /// Events in all (rounded up to whole batches).
    pub events: u64,
    /// Tasks submitting at once: what lets the committer group them.
    pub concurrency: usize,
}

/// Enqueues `load` into a fresh embedded store.
pub fn scenario(
    base: &Path,
    load: &Load,
    payload: &[u8],
    cap: Duration,
) -> anyhow::Result<Measured> {
    let dir = setup::scratch_dir(base, "enqueue")?;
    let embedded = setup::embedded(dir.path(), Durability::Fsync)?;
    submit_all(&embedded, load, payload, cap)
}

/// Submits `load` to a group committer of `embedded`, and stops the committer
/// before returning, so the caller holds the only handle on the embedded store again.
pub fn submit_all(
    embedded: &Arc<Embedded>,
    load: &Load,
    payload: &[u8],
    cap: Duration,
) -> anyhow::Result<Measured> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .build()
        .context("cannot start the tokio runtime")?;
    let (committer, thread) =
        GroupCommitter::start(embedded.clone()).context("cannot start the group committer")?;
    let submitters = Submitters {
        committer,
        next_batch: Arc::new(AtomicU64::new(0)),
        batches: load.events.div_ceil(load.batch as u64),
        batch: load.batch as u64,
        payload: Arc::from(payload),
        deadline: Instant::now() + cap,
    };
    let started = Instant::now();
    let outcome = runtime.block_on(async {
        let tasks: Vec<_> = (0..load.concurrency)
            .map(|_| tokio::spawn(submitters.clone().run()))
            .collect();
        let mut total = Measured {
            count: 0,
            seconds: 0.0,
            capped: false,
        };
        for task in tasks {
            let (sent, capped) = task.await.context("a submitter panicked")??;
            total.count += sent;
            total.capped |= capped;
        }
        anyhow::Ok(total)
    });
    let seconds = started.elapsed().as_secs_f64();
    // The committer thread stops once the last handle is gone.
    drop(submitters);
    thread
        .join()
        .map_err(|_| anyhow!("the group commit thread panicked"))?;
    Ok(Measured {
        seconds,
        ..outcome?
    })
}

/// What every submitter task shares.
#[derive(Clone)]
struct Submitters {
    /// The last clone to drop stops the commit thread.
    committer: GroupCommitter,
    /// The next batch number to claim; event ids follow from it.
    next_batch: Arc<AtomicU64>,
    /// Batches in all.
    batches: u64,
    /// Events per submit.
    batch: u64,
    /// Every event's data, shared rather than copied per task.
    payload: Arc<[u8]>,
    /// When submitters stop claiming batches, whatever is left.
    deadline: Instant,
}

impl Submitters {
    /// Claims and submits batches until none are left or time is up; returns
    /// the events stored and whether time ran out.
    async fn run(self) -> anyhow::Result<(u64, bool)> {
        let mut sent = 0;
        loop {
            if Instant::now() >= self.deadline {
                return Ok((sent, true));
            }
            let n = self.next_batch.fetch_add(1, Ordering::Relaxed);
            if n >= self.batches {
                return Ok((sent, false));
            }
            let first = n * self.batch;
            let events = (first..first + self.batch)
                .map(|id| setup::event(id, 1, &self.payload))
                .collect();
            let request = Append {
                events,
                request_key: None,
            };
            let answer = self.committer.append(vec![request]).await.pop();
            let admissions = (answer.context("the committer answered no request")?)
                .with_context(|| format!("submitting batch {n}"))?;
            if admissions.iter().any(|admission| admission.duplicate) {
                bail!("batch {n} was taken for a duplicate: event ids collide");
            }
            sent += admissions.len() as u64;
        }
    }
}
