//! Endings gathered into rounds. Each delivery hands its ending to its
//! plugin's finisher and waits for the store's answer; the finisher hands
//! the store every ending that arrived while it had
//! [`Deliveries::ROUNDS_AT_ONCE`] rounds being written, so under load one
//! write carries many deliveries' endings (as group commit does for
//! ingest), and when it is quiet a round holds one.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::task::TaskTracker;

use super::{Deliveries, Ending, Finished};
use crate::store::StoreError;

/// The most endings one round carries.
const MAX_ROUND: usize = 256;

/// The store's answer for one ending.
pub type Answer<L> = Result<Finished<L>, StoreError>;

/// Where a plugin's deliveries hand in their endings.
pub struct Finisher<S: Deliveries> {
    endings: mpsc::UnboundedSender<Handed<S::Leased>>,
}

/// One ending waiting for its round.
struct Handed<L> {
    leased: L,
    ending: Ending,
    answer: oneshot::Sender<Answer<L>>,
}

impl<S: Deliveries + 'static> Finisher<S> {
    /// Starts writing rounds of endings to `store` on `tasks`; it runs until
    /// the finisher and every delivery holding it are gone, so a delivery
    /// in flight at shutdown still has its ending written.
    pub fn start(store: Arc<S>, tasks: &TaskTracker) -> Arc<Finisher<S>> {
        let (endings, handed) = mpsc::unbounded_channel();
        tasks.spawn(write_rounds(store, handed, tasks.clone()));
        Arc::new(Finisher { endings })
    }

    /// Has the store keep how `leased` ended, in the next round.
    pub async fn finish(&self, leased: S::Leased, ending: Ending) -> Answer<S::Leased> {
        let (answer, answered) = oneshot::channel();
        let handed = Handed {
            leased,
            ending,
            answer,
        };
        if self.endings.send(handed).is_err() {
            return Err(gone());
        }
        answered.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// What a delivery hears if the rounds stopped before its ending was written.
fn gone() -> StoreError {
    StoreError::Unavailable("the writer of delivery endings stopped".to_owned())
}

/// Writes the endings handed in, a round at a time (up to the store's
/// rounds at once, each a task on `tasks`), and answers each.
async fn write_rounds<S: Deliveries + 'static>(
    store: Arc<S>,
    mut handed: mpsc::UnboundedReceiver<Handed<S::Leased>>,
    tasks: TaskTracker,
) {
    let writing = Arc::new(Semaphore::new(S::ROUNDS_AT_ONCE));
    loop {
        let Ok(permit) = writing.clone().acquire_owned().await else {
            return;
        };
        let mut round = Vec::with_capacity(MAX_ROUND);
        if handed.recv_many(&mut round, MAX_ROUND).await == 0 {
            return;
        }
        let store = store.clone();
        tasks.spawn(async move {
            write_round(&*store, round).await;
            drop(permit);
        });
    }
}

/// Writes one round and answers each of its endings.
async fn write_round<S: Deliveries>(store: &S, round: Vec<Handed<S::Leased>>) {
    let mut answers = Vec::with_capacity(round.len());
    let endings = (round.into_iter())
        .map(|handed| {
            answers.push(handed.answer);
            (handed.leased, handed.ending)
        })
        .collect();
    let finished = store.finish(endings).await;
    for (answer, finished) in answers.into_iter().zip(finished) {
        // A delivery that stopped waiting has nothing to be told.
        let _ = answer.send(finished);
    }
}
