//! The event groups read last, kept so that the next leases, which mostly
//! want the next events of the same groups, do not scan for them again (a
//! scan seeks through every memtable and segment the group may be in).
//!
//! A group changes only when retention writes it again without members it
//! removed: that change forgets everything kept before the write lock is
//! let go ([`super::Staging::commit`]), and a read whose scan may predate it
//! keeps nothing ([`RecentGroups::keep`]), as the lookahead does.

use std::sync::Mutex;

use super::Seq;
use super::event_log::Group;

/// Groups kept: enough for the lanes of ten plugins reading at different
/// places in the log, each group at most 64 KiB.
const KEPT: usize = 16;

/// The groups read last.
#[derive(Default)]
pub struct RecentGroups {
    kept: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    /// Each group with its last member's number, the newest last.
    groups: Vec<(Group, Seq)>,
    /// How many times everything kept was forgotten.
    forgotten: u64,
}

impl RecentGroups {
    /// The kept group whose members' numbers span `seq`, if there is one.
    pub fn spanning(&self, seq: Seq) -> Option<Group> {
        let kept = self.lock();
        (kept.groups.iter().rev())
            .find(|(group, last)| (group.first()..=*last).contains(&seq))
            .map(|(group, _)| group.clone())
    }

    /// How many times everything kept was forgotten: read before a scan,
    /// and shown to [`RecentGroups::keep`].
    pub fn forgotten(&self) -> u64 {
        self.lock().forgotten
    }

    /// Keeps `group`, whose last member is `last`, read by a scan that
    /// started when [`RecentGroups::forgotten`] was `forgotten`.
    pub fn keep(&self, group: Group, last: Seq, forgotten: u64) {
        let mut kept = self.lock();
        if kept.forgotten != forgotten {
            return;
        }
        // Two reads that missed at once keep one copy.
        let first = group.first();
        kept.groups.retain(|(kept, _)| kept.first() != first);
        if kept.groups.len() == KEPT {
            kept.groups.remove(0);
        }
        kept.groups.push((group, last));
    }

    /// Forgets every group kept: some were written again.
    pub fn forget(&self) {
        let mut kept = self.lock();
        kept.groups.clear();
        kept.forgotten += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use fjall::Slice;

    use super::super::{codec, keys};
    use super::*;
    use crate::event::Event;

    /// An event stored alone at `seq`: a group of one.
    fn group_at(seq: Seq) -> Group {
        let event = Event::new("e".into(), "s".into(), "t".into(), "acme".into());
        Group::read(&keys::seq(seq), Slice::from(codec::encode_compact(&event))).expect("read")
    }

    #[test]
    fn a_group_read_before_a_forget_is_not_kept_after_it() {
        let recent = RecentGroups::default();
        let before = recent.forgotten();
        recent.forget();
        recent.keep(group_at(1), 1, before);
        assert!(recent.spanning(1).is_none(), "read before the rewrite");
        recent.keep(group_at(1), 1, recent.forgotten());
        assert!(recent.spanning(1).is_some());
        recent.forget();
        assert!(recent.spanning(1).is_none(), "forgotten");
    }

    #[test]
    fn the_oldest_group_kept_goes_first_and_each_spans_its_members_only() {
        let recent = RecentGroups::default();
        for first in (0..=KEPT as u64).map(|n| 10 * n + 1) {
            recent.keep(group_at(first), first + 4, recent.forgotten());
        }
        assert!(recent.spanning(1).is_none(), "the oldest went");
        assert_eq!(recent.spanning(15).map(|group| group.first()), Some(11));
        assert!(recent.spanning(16).is_none(), "past the last member");

        recent.keep(group_at(11), 14, recent.forgotten());
        assert_eq!(
            recent.spanning(15).map(|group| group.first()),
            None,
            "one copy, the newest"
        );
        assert_eq!(recent.lock().groups.len(), KEPT);
    }
}
