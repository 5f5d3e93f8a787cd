//! Group commit: ingest requests that arrive while an fsync is running share the
//! next one. One thread owns the ingest write path, so deduplication by event
//! identity (tenant, source, id) is a plain read-then-write with no race. How durable the answer is follows
//! the configured [`crate::queue::Durability`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::embedded::Embedded;
use crate::event::{Event, now_ms};
use crate::failpoint;
use crate::queue::{Queue, QueueError, RequestKey, RequestRecord, Staging};
use weir_core::store::Admission;
use weir_core::store::id_reused;

/// Most events in one write batch and fsync; more wait for the next one.
const MAX_GROUP_EVENTS: usize = 8192;
/// Most event data (bytes) in one write batch: a group is held in memory
/// until its fsync, and a larger one would hold the write lock, which
/// deliveries commit under, for longer. A single request larger than this
/// still goes in a group of its own (its size is bounded by max_body_bytes).
const MAX_GROUP_BYTES: usize = 64 << 20;
/// Requests queued for the committer before `submit` waits: backpressure on ingest.
const SUBMISSION_QUEUE: usize = 1024;

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
        embedded: Arc<Embedded>,
    ) -> std::io::Result<(GroupCommitter, std::thread::JoinHandle<()>)> {
        let (submissions, receiver) = mpsc::channel(SUBMISSION_QUEUE);
        let thread = std::thread::Builder::new()
            .name("weir-group-commit".into())
            .spawn(move || run(&embedded, receiver))?;
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

fn run(embedded: &Embedded, mut receiver: mpsc::Receiver<Submission>) {
    while let Some(first) = receiver.blocking_recv() {
        let group = gather(first, &mut receiver, MAX_GROUP_EVENTS, MAX_GROUP_BYTES);
        commit_group(embedded, group);
    }
}

/// `first` and the submissions already waiting behind it, until the group
/// holds `max_events` events or `max_bytes` of event data.
fn gather(
    first: Submission,
    receiver: &mut mpsc::Receiver<Submission>,
    max_events: usize,
    max_bytes: usize,
) -> Vec<Submission> {
    let (mut events, mut bytes) = (first.events.len(), data_bytes(&first.events));
    let mut group = vec![first];
    while events < max_events && bytes < max_bytes {
        match receiver.try_recv() {
            Ok(next) => {
                events += next.events.len();
                bytes += data_bytes(&next.events);
                group.push(next);
            }
            Err(_) => break,
        }
    }
    group
}

fn data_bytes(events: &[Event]) -> usize {
    events.iter().map(|event| event.data.len()).sum()
}

fn commit_group(embedded: &Embedded, group: Vec<Submission>) {
    let mut replies = Vec::with_capacity(group.len());
    let mut stored = 0u64;
    let outcome = stage_group(embedded, group, &mut replies, &mut stored).and_then(|staging| {
        if let Some(error) = failpoint::pass(failpoint::Point::GroupCommit) {
            return Err(fjall::Error::Io(error).into());
        }
        // Visible from the write on, leased only once synced.
        embedded.queue.unsynced.hold(staging.new_seqs());
        let staged = embedded.write(staging)?;
        // Outside the write lock: deliveries commit while the fsync runs.
        let started = Instant::now();
        let persisted = embedded.queue.persist();
        if persisted.is_ok() {
            embedded.queue.unsynced.release();
        }
        embedded
            .shared
            .metrics
            .fsync_duration
            .observe(started.elapsed().as_secs_f64());
        persisted.map(|()| staged)
    });
    match outcome {
        Ok(staged) => {
            embedded
                .shared
                .metrics
                .group_commit_events
                .observe(stored as f64);
            embedded.wake(&staged);
            for (reply, admissions) in replies {
                let _ = reply.send(Ok(admissions));
            }
        }
        Err(error) => {
            tracing::error!(%error, "group commit failed; the events were not stored");
            embedded.storage_failed(&error);
            let disk_full = embedded.queue.failed_for_space(&error);
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
    embedded: &'q Embedded,
    group: Vec<Submission>,
    replies: &mut Vec<Reply>,
    stored: &mut u64,
) -> Result<Staging<'q>, QueueError> {
    let queue = &embedded.queue;
    let mut staging = queue.stage();
    let ingested_at_ms = now_ms();
    let routes = embedded.routes();
    let (mut requests, senders): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|submission| {
            (
                (submission.events, submission.request_key),
                submission.reply,
            )
        })
        .unzip();
    for (events, _) in &mut requests {
        for event in events {
            event.ingested_at_ms = ingested_at_ms;
        }
    }
    // The events staged so far in this group, by identity; sized once, since
    // growing it rehashed every identity again.
    let events_in_group = requests.iter().map(|(events, _)| events.len()).sum();
    let mut in_group: HashMap<Identity<'_>, &Event> = HashMap::with_capacity(events_in_group);
    for ((events, request_key), reply) in requests.iter().zip(senders) {
        let duplicates = match find_duplicates(queue, events, &in_group)? {
            Ok(duplicates) => duplicates,
            Err(reused) => {
                let _ = reply.send(Err(reused));
                continue;
            }
        };
        let mut admissions = Vec::with_capacity(events.len());
        for (event, duplicate) in events.iter().zip(duplicates) {
            if !duplicate {
                staging.add_event(event, &routes.targets_for(event))?;
                *stored += 1;
            }
            admissions.push(Admission {
                id: event.id.clone(),
                duplicate,
            });
            in_group.entry(identity(event)).or_insert(event);
        }
        if let Some(key) = request_key {
            let record = RequestRecord {
                fingerprint: key.fingerprint.clone(),
                created_ms: ingested_at_ms,
                admissions: admissions.clone(),
            };
            staging.put_request_record(key, &record);
        }
        replies.push((reply, admissions));
    }
    Ok(staging)
}

/// What makes an event unique: tenant, source and id.
type Identity<'e> = (&'e str, &'e str, &'e str);

fn identity(event: &Event) -> Identity<'_> {
    (&event.tenant, &event.source, &event.id)
}

/// Which of a request's `events` were stored before (or earlier in this group
/// or request), or the error if one of them has the identity of an event with
/// different content: then nothing of the request is stored.
fn find_duplicates(
    queue: &Queue,
    events: &[Event],
    in_group: &HashMap<Identity<'_>, &Event>,
) -> Result<Result<Vec<bool>, QueueError>, QueueError> {
    let mut in_request: HashMap<Identity<'_>, &Event> = HashMap::with_capacity(events.len());
    let mut duplicates = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let key = identity(event);
        let stored;
        let earlier = match in_request.get(&key).or_else(|| in_group.get(&key)) {
            Some(&earlier) => Some(earlier),
            None => {
                stored = match queue.seq_of(&event.id, &event.tenant, &event.source)? {
                    Some(seq) => queue.event(seq)?,
                    None => None,
                };
                stored.as_ref()
            }
        };
        if let Some(earlier) = earlier
            && !earlier.same_content(event)
        {
            return Ok(Err(QueueError::IdReused(id_reused(index, event))));
        }
        duplicates.push(earlier.is_some());
        in_request.entry(key).or_insert(event);
    }
    Ok(Ok(duplicates))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(events: usize, data_bytes: usize) -> Submission {
        let events = (0..events)
            .map(|n| {
                let mut event = Event::new(n.to_string(), "t".into(), "k".into(), "acme".into());
                event.data = vec![b'x'; data_bytes];
                event
            })
            .collect();
        let (reply, _) = oneshot::channel();
        Submission {
            events,
            request_key: None,
            reply,
        }
    }

    /// Groups of the submissions queued in `sizes` (events, bytes per event).
    fn groups(sizes: &[(usize, usize)], max_events: usize, max_bytes: usize) -> Vec<usize> {
        let (sender, mut receiver) = mpsc::channel(16);
        for &(events, bytes) in sizes {
            sender
                .try_send(submission(events, bytes))
                .unwrap_or_else(|_| panic!("queued"));
        }
        drop(sender);
        let mut lengths = Vec::new();
        while let Ok(first) = receiver.try_recv() {
            lengths.push(gather(first, &mut receiver, max_events, max_bytes).len());
        }
        lengths
    }

    #[test]
    fn a_group_ends_at_its_event_or_byte_bound() {
        // Small events: the event bound ends each group.
        assert_eq!(groups(&[(2, 1), (2, 1), (2, 1)], 4, 1000), [2, 1]);
        // Large ones: the byte bound does, and one request over it goes alone.
        assert_eq!(
            groups(&[(1, 600), (1, 600), (1, 2000), (1, 10)], 100, 1000),
            [2, 1, 1]
        );
        // Under both: one group.
        assert_eq!(groups(&[(1, 10), (1, 10), (1, 10)], 100, 1000), [3]);
    }

    fn event(id: &str, data: &str) -> Event {
        let mut event = Event::new(id.into(), "s".into(), "t".into(), "acme".into());
        event.data = data.as_bytes().to_vec();
        event
    }

    fn store(queue: &Queue, event: &Event) {
        let mut staging = queue.stage();
        staging.add_event(event, &[]).expect("add");
        staging.commit().expect("commit");
    }

    #[test]
    fn a_resent_event_is_a_duplicate_wherever_its_first_copy_is() {
        let (_dir, queue) = crate::queue::scratch();
        store(&queue, &event("stored", "a"));
        let earlier_in_group = event("grouped", "b");
        let in_group = HashMap::from([(identity(&earlier_in_group), &earlier_in_group)]);
        let request = [
            event("stored", "a"),
            event("grouped", "b"),
            event("new", "c"),
            event("new", "c"),
        ];

        let found = find_duplicates(&queue, &request, &in_group).expect("read");
        assert_eq!(found.expect("no conflict"), [true, true, false, true]);
    }

    #[test]
    fn an_id_sent_again_with_other_content_refuses_its_request() {
        let (_dir, queue) = crate::queue::scratch();
        store(&queue, &event("stored", "a"));
        let no_group = HashMap::new();

        for request in [
            vec![event("fine", "x"), event("stored", "changed")],
            vec![event("twice", "x"), event("twice", "y")],
        ] {
            let found = find_duplicates(&queue, &request, &no_group).expect("read");
            let Err(QueueError::IdReused(message)) = found else {
                panic!("{request:?} reuses an id");
            };
            assert!(message.starts_with("event 1: id"), "{message}");
        }
    }
}
