//! Group commit: rounds of ingest requests that arrive while an fsync is
//! running share the next one. One thread owns the ingest write path, so deduplication by event
//! identity (tenant, source, id) is a plain read-then-write with no race. How durable the answer is follows
//! the configured [`crate::queue::Durability`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::embedded::Embedded;
use crate::event::{Event, now_ms};
use crate::failpoint;
use crate::queue::{Queue, QueueError, RequestRecord, Staging};
use weir_core::store::{Admission, Append, id_reused};

/// Most events in one write batch and fsync; more wait for the next one.
const MAX_GROUP_EVENTS: usize = 8192;
/// Most event data (bytes) in one write batch: a group is held in memory
/// until its fsync, and a larger one would hold the write lock, which
/// deliveries commit under, for longer. A single round larger than this
/// still goes in a group of its own (ingest sends rounds of one request,
/// whose size is bounded by max_body_bytes).
const MAX_GROUP_BYTES: usize = 64 << 20;
/// Rounds queued for the committer before `append` waits: backpressure on ingest.
const SUBMISSION_QUEUE: usize = 1024;

/// What the committer answers one request of a round.
type Answer = Result<Vec<Admission>, QueueError>;

/// A round of requests, answered together.
struct Submission {
    requests: Vec<Append>,
    reply: oneshot::Sender<Vec<Answer>>,
}

impl Submission {
    fn events(&self) -> usize {
        self.requests
            .iter()
            .map(|request| request.events.len())
            .sum()
    }

    fn data_bytes(&self) -> usize {
        (self.requests.iter())
            .flat_map(|request| &request.events)
            .map(|event| event.data.len())
            .sum()
    }
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

    /// Routes and stores each request of `round` atomically, with the
    /// record of its idempotency key if it has one; answers each, in the
    /// round's order, once the group holding them is fsync'd.
    pub async fn append(&self, round: Vec<Append>) -> Vec<Answer> {
        let requests = round.len();
        let closed = || (0..requests).map(|_| Err(QueueError::Closed)).collect();
        let (reply, answers) = oneshot::channel();
        let submission = Submission {
            requests: round,
            reply,
        };
        if self.submissions.send(submission).await.is_err() {
            return closed();
        }
        answers.await.unwrap_or_else(|_| closed())
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
    let (mut events, mut bytes) = (first.events(), first.data_bytes());
    let mut group = vec![first];
    while events < max_events && bytes < max_bytes {
        match receiver.try_recv() {
            Ok(next) => {
                events += next.events();
                bytes += next.data_bytes();
                group.push(next);
            }
            Err(_) => break,
        }
    }
    group
}

fn commit_group(embedded: &Embedded, group: Vec<Submission>) {
    let (rounds, replies): (Vec<_>, Vec<_>) = group
        .into_iter()
        .map(|submission| (submission.requests, submission.reply))
        .unzip();
    let sizes: Vec<usize> = rounds.iter().map(Vec::len).collect();
    let mut answers = Vec::with_capacity(sizes.iter().sum());
    let mut stored = 0u64;
    let outcome = stage_group(embedded, rounds, &mut answers, &mut stored).and_then(|staging| {
        if let Some(error) = failpoint::pass(failpoint::Point::GroupCommit) {
            return Err(fjall::Error::Io(error).into());
        }
        // Visible from the write on, leased only once synced.
        embedded.queue.unsynced.hold(staging.new_seqs());
        let staged = embedded.write(staging)?;
        // Outside the write lock: deliveries commit while the fsync runs.
        let started = Instant::now();
        let persisted = match failpoint::pass(failpoint::Point::GroupSync) {
            Some(error) => Err(fjall::Error::Io(error).into()),
            None => embedded.queue.persist(),
        };
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
    let failed = match outcome {
        Ok(staged) => {
            embedded
                .shared
                .metrics
                .group_commit_events
                .observe(stored as f64);
            embedded.wake(&staged);
            None
        }
        Err(error) => {
            tracing::error!(%error, "group commit failed; the events were not stored");
            embedded.storage_failed(&error);
            let disk_full = embedded.queue.failed_for_space(&error);
            Some(move || {
                if disk_full {
                    QueueError::DiskFull
                } else {
                    QueueError::WriteFailed(error.to_string())
                }
            })
        }
    };
    let rounds = answers_per_round(answers, &sizes, failed);
    for (reply, answers) in replies.into_iter().zip(rounds) {
        let _ = reply.send(answers);
    }
}

/// Each round's answers, `sizes[i]` for round `i`, from `answers`, one per
/// request in order (fewer if staging stopped at an error). When the group
/// failed, every request not refused for its own reason gets `failed()`.
fn answers_per_round(
    mut answers: Vec<Answer>,
    sizes: &[usize],
    failed: Option<impl Fn() -> QueueError>,
) -> Vec<Vec<Answer>> {
    if let Some(failed) = failed {
        for answer in &mut answers {
            if answer.is_ok() {
                *answer = Err(failed());
            }
        }
        answers.resize_with(sizes.iter().sum(), || Err(failed()));
    }
    let mut answers = answers.into_iter();
    (sizes.iter())
        .map(|&size| answers.by_ref().take(size).collect())
        .collect()
}

/// Stages every request of `rounds` that reuses no identity, and pushes
/// one answer per request to `answers`, in order: its admissions, or why
/// it was refused.
fn stage_group<'q>(
    embedded: &'q Embedded,
    mut rounds: Vec<Vec<Append>>,
    answers: &mut Vec<Answer>,
    stored: &mut u64,
) -> Result<Staging<'q>, QueueError> {
    let queue = &embedded.queue;
    let mut staging = queue.stage();
    let ingested_at_ms = now_ms();
    let routes = embedded.routes();
    for event in (rounds.iter_mut().flatten()).flat_map(|request| &mut request.events) {
        event.ingested_at_ms = ingested_at_ms;
    }
    let requests = || rounds.iter().flatten();
    // The events staged so far in this group, by identity; sized once, since
    // growing it rehashed every identity again.
    let events_in_group = requests().map(|request| request.events.len()).sum();
    let mut in_group: HashMap<Identity<'_>, &Event> = HashMap::with_capacity(events_in_group);
    for Append {
        events,
        request_key,
    } in requests()
    {
        let duplicates = match find_duplicates(queue, events, &in_group)? {
            Ok(duplicates) => duplicates,
            Err(reused) => {
                answers.push(Err(reused));
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
        answers.push(Ok(admissions));
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
            requests: vec![Append {
                events,
                request_key: None,
            }],
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

    /// The answers as text: the events of each, or the error.
    fn shown(rounds: Vec<Vec<Answer>>) -> Vec<Vec<String>> {
        let show = |answer: Answer| match answer {
            Ok(admissions) => format!("{} stored", admissions.len()),
            Err(error) => error.to_string(),
        };
        (rounds.into_iter())
            .map(|round| round.into_iter().map(show).collect())
            .collect()
    }

    #[test]
    fn each_round_gets_its_own_answers_and_a_failed_write_fails_every_staged_request() {
        let admission = Admission {
            id: "e".into(),
            duplicate: false,
        };
        let admitted = |events: usize| Ok(vec![admission.clone(); events]);
        let refused = || Err(QueueError::IdReused("event 0: reused".into()));
        let answers = || vec![admitted(2), refused(), admitted(1)];
        let no_failure: Option<fn() -> QueueError> = None;
        assert_eq!(
            shown(answers_per_round(answers(), &[2, 1], no_failure)),
            [vec!["2 stored", "event 0: reused"], vec!["1 stored"]]
        );
        // Staging stopped before the last request: it fails as well.
        let mut cut_short = answers();
        cut_short.pop();
        let failed = Some(|| QueueError::DiskFull);
        let full = QueueError::DiskFull.to_string();
        assert_eq!(
            shown(answers_per_round(cut_short, &[2, 1], failed)),
            [vec![full.as_str(), "event 0: reused"], vec![full.as_str()]]
        );
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
