//! Group commit: ingest requests that arrive while an fsync is running share the
//! next one. One thread owns the ingest write path, so deduplication by event id
//! is a plain read-then-write with no race. How durable the answer is follows
//! the configured [`super::Durability`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{QueueError, RequestKey, RequestRecord, Staging};
use crate::event::{Event, now_ms};
use crate::failpoint;
use crate::pipeline::Pipeline;

/// Most events in one write batch and fsync; more wait for the next one.
const MAX_GROUP_EVENTS: usize = 8192;
/// Requests queued for the committer before `submit` waits: backpressure on ingest.
const SUBMISSION_QUEUE: usize = 1024;

/// What became of one submitted event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Admission {
    /// The event id (generated if the producer sent none).
    pub id: String,
    /// True if an event with this id was already stored; nothing new was written.
    pub duplicate: bool,
}

struct Submission {
    events: Vec<Event>,
    request_key: Option<RequestKey>,
    reply: oneshot::Sender<Result<Vec<Admission>, QueueError>>,
}

/// The handle ingest uses to make events durable.
#[derive(Clone)]
pub struct GroupCommitter {
    submissions: mpsc::Sender<Submission>,
}

impl GroupCommitter {
    /// Starts the commit thread. It stops when every handle is dropped.
    pub fn start(
        pipeline: Arc<Pipeline>,
    ) -> std::io::Result<(GroupCommitter, std::thread::JoinHandle<()>)> {
        let (submissions, receiver) = mpsc::channel(SUBMISSION_QUEUE);
        let thread = std::thread::Builder::new()
            .name("weir-group-commit".into())
            .spawn(move || run(&pipeline, receiver))?;
        Ok((GroupCommitter { submissions }, thread))
    }

    /// Routes and stores `events` in one atomic batch, with the record of
    /// their request's idempotency key if it has one; returns once they are fsync'd.
    pub async fn submit(
        &self,
        events: Vec<Event>,
        request_key: Option<RequestKey>,
    ) -> Result<Vec<Admission>, QueueError> {
        let (reply, answer) = oneshot::channel();
        self.submissions
            .send(Submission {
                events,
                request_key,
                reply,
            })
            .await
            .map_err(|_| QueueError::Closed)?;
        answer.await.map_err(|_| QueueError::Closed)?
    }
}

fn run(pipeline: &Pipeline, mut receiver: mpsc::Receiver<Submission>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut events = first.events.len();
        let mut group = vec![first];
        while events < MAX_GROUP_EVENTS {
            match receiver.try_recv() {
                Ok(next) => {
                    events += next.events.len();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        commit_group(pipeline, group);
    }
}

fn commit_group(pipeline: &Pipeline, group: Vec<Submission>) {
    let mut replies = Vec::with_capacity(group.len());
    let mut stored = 0u64;
    let outcome = stage_group(pipeline, group, &mut replies, &mut stored).and_then(|staging| {
        if let Some(error) = failpoint::pass(failpoint::Point::GroupCommit) {
            return Err(fjall::Error::Io(error).into());
        }
        let staged = staging.commit()?;
        // Outside the write lock: deliveries commit while the fsync runs.
        let started = Instant::now();
        let persisted = pipeline.queue.persist();
        pipeline
            .metrics
            .fsync_duration
            .observe(started.elapsed().as_secs_f64());
        persisted.map(|()| staged)
    });
    match outcome {
        Ok(staged) => {
            pipeline.metrics.events_ingested.inc_by(stored);
            pipeline.metrics.group_commit_events.observe(stored as f64);
            pipeline.staged(&staged);
            for (reply, admissions) in replies {
                let _ = reply.send(Ok(admissions));
            }
        }
        Err(error) => {
            tracing::error!(%error, "group commit failed; the events were not stored");
            pipeline.storage_failed(&error);
            let disk_full = matches!(&error, QueueError::Storage(fjall::Error::Io(e)) if e.kind() == std::io::ErrorKind::StorageFull);
            for (reply, _) in replies {
                let answer = if disk_full {
                    QueueError::DiskFull
                } else {
                    QueueError::WriteFailed(error.to_string())
                };
                let _ = reply.send(Err(answer));
            }
        }
    }
}

type Reply = (
    oneshot::Sender<Result<Vec<Admission>, QueueError>>,
    Vec<Admission>,
);

fn stage_group<'q>(
    pipeline: &'q Pipeline,
    group: Vec<Submission>,
    replies: &mut Vec<Reply>,
    stored: &mut u64,
) -> Result<Staging<'q>, QueueError> {
    let queue = &pipeline.queue;
    let mut staging = queue.stage();
    let mut ids_in_group = HashSet::new();
    let ingested_at_ms = now_ms();
    let routes = pipeline.routes();
    for submission in group {
        let mut admissions = Vec::with_capacity(submission.events.len());
        for mut event in submission.events {
            let duplicate =
                !ids_in_group.insert(event.id.clone()) || queue.seq_of(&event.id)?.is_some();
            if !duplicate {
                event.ingested_at_ms = ingested_at_ms;
                staging.add_event(&event, &routes.targets_for(&event))?;
                *stored += 1;
            }
            admissions.push(Admission {
                id: event.id,
                duplicate,
            });
        }
        if let Some(key) = &submission.request_key {
            let record = RequestRecord {
                fingerprint: key.fingerprint.clone(),
                created_ms: ingested_at_ms,
                admissions: admissions.clone(),
            };
            staging.put_request_record(key, &record);
        }
        replies.push((submission.reply, admissions));
    }
    Ok(staging)
}
