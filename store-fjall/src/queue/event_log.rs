//! The `events` keyspace as a log of groups. The events one staged batch
//! stores go under one key, the first one's sequence number, rather than a
//! key each: an ingest round of a hundred events costs fjall one write, not a
//! hundred. A group is a u32 header (`GROUPED` and the member count), the
//! members, then an index of (sequence offset, end of the member's bytes)
//! pairs: written in that order, a group is built in the one buffer fjall
//! gets. A member is the plugins its event's deliveries were made for, then
//! the event as `codec::append_compact` encodes it: a delivery that is ready
//! has no record of its own until something happens to it.
//!
//! A value without `GROUPED` in its header is one event stored alone, as
//! builds before groups wrote every event: it reads as a group of one, so
//! old data needs no migration. Retention removes members by writing their
//! group again without them.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use fjall::{Iter, Keyspace, Slice};

use weir_event::compact::{Malformed, Reader, Writer};

use super::{QueueError, Seq, Staging, Target, codec, keys};
use crate::event::Event;

/// Set in a group's header. An event stored alone starts with its
/// attributes' length, which never has it: attributes are far under 1 GiB
/// (the compact form's mark is the bit above).
const GROUPED: u32 = 1 << 30;

/// Most members in one group: a lookup looks back at most this far.
const MAX_MEMBERS: u64 = 256;

/// A group closes once its members' bytes pass this: reading one event
/// reads its whole group.
const MAX_GROUP_BYTES: usize = 64 << 10;

/// The keys a group holding `seq` can be stored under.
pub(super) fn span(seq: Seq) -> RangeInclusive<[u8; 8]> {
    keys::seq(seq.saturating_sub(MAX_MEMBERS - 1))..=keys::seq(seq)
}

/// The group that would hold `seq`, read from a scan of [`span`]`(seq)`:
/// the last group stored at or before it, since groups cover disjoint,
/// ascending ranges.
pub(super) fn group_of(mut scan: Iter) -> Result<Option<Group>, QueueError> {
    scan.next_back()
        .map(|guard| {
            let (key, value) = guard.into_inner()?;
            Group::read(&key, value)
        })
        .transpose()
}

/// The event at `seq` in a scan of [`span`]`(seq)`, if it is stored.
pub(super) fn event_in(scan: Iter, seq: Seq) -> Result<Option<Event>, QueueError> {
    match group_of(scan)? {
        Some(group) => group.member(seq)?.map(|member| member.event()).transpose(),
        None => Ok(None),
    }
}

/// A group being staged.
pub(super) struct GroupBuilder {
    first: Seq,
    /// The header's room, then the members' bytes.
    value: Vec<u8>,
    /// Each member's sequence offset from `first` and the end of its bytes.
    index: Vec<(u32, u32)>,
}

impl Default for GroupBuilder {
    fn default() -> Self {
        GroupBuilder {
            first: 0,
            value: vec![0; 4],
            index: Vec::new(),
        }
    }
}

impl GroupBuilder {
    /// Adds `event`, numbered `seq` (above every member's), with
    /// deliveries to `targets`.
    pub(super) fn push(&mut self, seq: Seq, event: &Event, targets: &[Target]) {
        if self.index.is_empty() {
            self.first = seq;
        }
        let mut out = Writer(std::mem::take(&mut self.value));
        out.u32(targets.len() as u32);
        for target in targets {
            out.str(&target.plugin);
        }
        self.value = out.0;
        codec::append_compact(event, &mut self.value);
        self.end_member(seq);
    }

    /// Records that the member numbered `seq` ends where the value does.
    fn end_member(&mut self, seq: Seq) {
        let end = self.value.len() - 4;
        self.index.push(((seq - self.first) as u32, end as u32));
    }

    /// Whether the group has all it may hold.
    pub(super) fn is_full(&self) -> bool {
        self.index.len() as u64 >= MAX_MEMBERS || self.value.len() - 4 >= MAX_GROUP_BYTES
    }

    /// The group's key and value, leaving the builder empty; `None` if no
    /// event was added since the last take.
    pub(super) fn take(&mut self) -> Option<([u8; 8], Vec<u8>)> {
        if self.index.is_empty() {
            return None;
        }
        let mut value = std::mem::replace(&mut self.value, vec![0; 4]);
        value[..4].copy_from_slice(&(GROUPED | self.index.len() as u32).to_le_bytes());
        value.reserve(8 * self.index.len());
        for (offset, end) in self.index.drain(..) {
            value.extend_from_slice(&offset.to_le_bytes());
            value.extend_from_slice(&end.to_le_bytes());
        }
        Some((keys::seq(self.first), value))
    }
}

/// A stored group.
#[derive(Clone)]
pub(super) struct Group {
    first: Seq,
    value: Slice,
    /// Members; 0 for an event stored alone.
    grouped: usize,
}

impl Group {
    /// The group stored under `key`.
    pub(super) fn read(key: &[u8], value: Slice) -> Result<Group, QueueError> {
        let first = keys::read_seq(key).ok_or_else(|| corrupt("a malformed key"))?;
        let header = value.get(..4).map(|bytes| word(bytes, 0));
        // Without the mark, an event stored alone: its decoder checks it.
        let Some(grouped) = header
            .filter(|header| header & GROUPED != 0)
            .map(|header| (header & !GROUPED) as usize)
        else {
            return Ok(Group {
                first,
                value,
                grouped: 0,
            });
        };
        let fits = (1..=MAX_MEMBERS as usize).contains(&grouped) && value.len() >= 4 + 8 * grouped;
        if !fits {
            return Err(corrupt("a header that does not fit it"));
        }
        Ok(Group {
            first,
            value,
            grouped,
        })
    }

    /// How many members the group has.
    fn len(&self) -> usize {
        self.grouped.max(1)
    }

    /// Member `i`'s sequence number and bytes.
    fn entry(&self, i: usize) -> Result<(Seq, Member<'_>), QueueError> {
        if self.grouped == 0 {
            return Ok((self.first, Member::alone(&self.value)));
        }
        let bodies = &self.value[4..self.value.len() - 8 * self.grouped];
        let (offset, end) = self.index(i);
        let start = if i == 0 { 0 } else { self.index(i - 1).1 };
        let bytes = bodies
            .get(start as usize..end as usize)
            .ok_or_else(|| corrupt("a member that runs past its end"))?;
        let seq = (self.first.checked_add(u64::from(offset)))
            .ok_or_else(|| corrupt("a member numbered past the last number"))?;
        Ok((seq, Member::grouped(bytes)))
    }

    fn index(&self, i: usize) -> (u32, u32) {
        let at = self.value.len() - 8 * (self.grouped - i);
        (word(&self.value, at), word(&self.value, at + 4))
    }

    /// The member numbered `seq`, if the group holds it.
    pub(super) fn member(&self, seq: Seq) -> Result<Option<Member<'_>>, QueueError> {
        let Some(offset) = seq.checked_sub(self.first) else {
            return Ok(None);
        };
        if self.grouped == 0 {
            return Ok((offset == 0).then(|| Member::alone(&self.value)));
        }
        let Ok(offset) = u32::try_from(offset) else {
            return Ok(None);
        };
        // Offsets ascend; in a group not rewritten, member i is at offset i.
        let (mut low, mut high) = (0, self.grouped);
        while low < high {
            let middle = (low + high) / 2;
            match self.index(middle).0.cmp(&offset) {
                Ordering::Less => low = middle + 1,
                Ordering::Greater => high = middle,
                Ordering::Equal => return Ok(Some(self.entry(middle)?.1)),
            }
        }
        Ok(None)
    }

    /// Every member with its sequence number, in order.
    pub(super) fn members(&self) -> impl Iterator<Item = Result<(Seq, Member<'_>), QueueError>> {
        (0..self.len()).map(|i| self.entry(i))
    }

    /// The sequence number the group is stored under.
    pub(super) fn first(&self) -> Seq {
        self.first
    }

    /// The sequence number of the last member.
    pub(super) fn last(&self) -> Result<Seq, QueueError> {
        Ok(self.entry(self.len() - 1)?.0)
    }

    /// The group's value without the members numbered in `removed`;
    /// `None` if none is left.
    fn without(&self, removed: &[Seq]) -> Result<Option<Vec<u8>>, QueueError> {
        // Stored under the same key, so the offsets stay as they are.
        let mut rest = GroupBuilder {
            first: self.first,
            ..GroupBuilder::default()
        };
        for member in self.members() {
            let (seq, member) = member?;
            if !removed.contains(&seq) {
                rest.value.extend_from_slice(member.bytes);
                rest.end_member(seq);
            }
        }
        Ok(rest.take().map(|(_, value)| value))
    }
}

/// One member of a group, as stored.
#[derive(Debug, Clone, Copy)]
pub(super) struct Member<'g> {
    bytes: &'g [u8],
    /// Whether the plugins come before the event: not in an event stored
    /// alone by an earlier build, whose every delivery has a record.
    has_targets: bool,
}

impl<'g> Member<'g> {
    fn alone(bytes: &'g [u8]) -> Self {
        Member {
            bytes,
            has_targets: false,
        }
    }

    fn grouped(bytes: &'g [u8]) -> Self {
        Member {
            bytes,
            has_targets: true,
        }
    }

    /// The event.
    pub(super) fn event(&self) -> Result<Event, QueueError> {
        Ok(codec::decode(self.read_targets(|_| ())?)?)
    }

    /// The plugins the event's deliveries were made for when it was stored
    /// (none named for an event stored alone).
    pub(super) fn targets(&self) -> Result<Vec<&'g str>, QueueError> {
        let mut targets = Vec::new();
        self.read_targets(|plugin| targets.push(plugin))?;
        Ok(targets)
    }

    /// Gives each plugin to `each`; returns the event's bytes after them.
    fn read_targets(&self, mut each: impl FnMut(&'g str)) -> Result<&'g [u8], QueueError> {
        if !self.has_targets {
            return Ok(self.bytes);
        }
        let mut input = Reader(self.bytes);
        let mut read = || -> Result<(), Malformed> {
            for _ in 0..input.u32()? {
                each(input.str()?);
            }
            Ok(())
        };
        read().map_err(|Malformed(why)| {
            corrupt(&format!("a member whose plugins are unreadable: {why}"))
        })?;
        Ok(input.0)
    }
}

/// The little-endian u32 at `at` in `bytes`, which has it.
fn word(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn corrupt(what: &str) -> QueueError {
    QueueError::Corrupt(format!("event group with {what}"))
}

/// Members to remove, staged as one write of each group that held them.
#[derive(Default)]
pub(super) struct LogRemovals {
    groups: BTreeMap<Seq, (Group, Vec<Seq>)>,
}

impl LogRemovals {
    /// Removes member `seq` of `group`.
    pub(super) fn remove(&mut self, group: &Group, seq: Seq) {
        let (_, removed) = self
            .groups
            .entry(group.first)
            .or_insert_with(|| (group.clone(), Vec::new()));
        removed.push(seq);
    }

    /// Removes event `seq`, if `events` holds it, and returns it.
    pub(super) fn remove_seq(
        &mut self,
        events: &Keyspace,
        seq: Seq,
    ) -> Result<Option<Event>, QueueError> {
        let Some(group) = group_of(events.range(span(seq)))? else {
            return Ok(None);
        };
        let Some(event) = group
            .member(seq)?
            .map(|member| member.event())
            .transpose()?
        else {
            return Ok(None);
        };
        self.remove(&group, seq);
        Ok(Some(event))
    }

    /// Stages the removals.
    pub(super) fn stage(self, staging: &mut Staging<'_>) -> Result<(), QueueError> {
        if !self.groups.is_empty() {
            staging.rewrites_log();
        }
        let events = &staging.queue().events;
        for (first, (group, removed)) in self.groups {
            match group.without(&removed)? {
                Some(value) => staging.batch().insert(events, keys::seq(first), value),
                None => staging.batch().remove(events, keys::seq(first)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event::new(id.into(), "s".into(), "t".into(), "acme".into())
    }

    /// The group `builder` holds, as a read of it finds it.
    fn stored(builder: &mut GroupBuilder) -> Group {
        let (key, value) = builder.take().expect("a group");
        Group::read(&key, Slice::from(value)).expect("read")
    }

    fn id_of(group: &Group, seq: Seq) -> Option<String> {
        let member = group.member(seq).expect("member")?;
        Some(member.event().expect("decode").id)
    }

    #[test]
    fn a_group_gives_each_member_by_its_number_and_nothing_outside_it() {
        let mut builder = GroupBuilder::default();
        let targets = ["a", "b"].map(|plugin| Target {
            plugin: plugin.into(),
            ordered: false,
        });
        for (seq, id) in [(7, "e7"), (8, "e8"), (9, "e9")] {
            builder.push(seq, &event(id), &targets[..(seq - 7) as usize]);
        }
        let group = stored(&mut builder);
        let targets_of = |seq| group.member(seq).expect("read").expect("member").targets();
        assert_eq!(targets_of(7).expect("targets"), [] as [&str; 0]);
        assert_eq!(targets_of(9).expect("targets"), ["a", "b"]);
        assert_eq!(id_of(&group, 7).as_deref(), Some("e7"));
        assert_eq!(id_of(&group, 8).as_deref(), Some("e8"));
        assert_eq!(id_of(&group, 9).as_deref(), Some("e9"));
        assert_eq!(id_of(&group, 6), None);
        assert_eq!(id_of(&group, 10), None);
        assert_eq!(group.last().expect("last"), 9);
        assert!(builder.take().is_none(), "the builder starts again empty");
    }

    #[test]
    fn an_event_stored_alone_by_an_earlier_build_reads_as_a_group_of_one() {
        for value in [
            codec::encode(&event("json")),
            codec::encode_compact(&event("compact")),
        ] {
            let group = Group::read(&keys::seq(5), Slice::from(value)).expect("read");
            assert!(id_of(&group, 5).is_some());
            let member = group.member(5).expect("read").expect("member");
            assert!(
                member.targets().expect("targets").is_empty(),
                "each has a record"
            );
            assert_eq!(id_of(&group, 6), None);
            assert_eq!(group.last().expect("last"), 5);
        }
    }

    #[test]
    fn a_group_without_some_members_keeps_the_others_and_without_all_is_nothing() {
        let mut builder = GroupBuilder::default();
        for seq in 1..=4 {
            builder.push(seq, &event(&format!("e{seq}")), &[]);
        }
        let group = stored(&mut builder);
        let rest = group.without(&[1, 3]).expect("without").expect("some left");
        let rest = Group::read(&keys::seq(1), Slice::from(rest)).expect("read");
        let ids: Vec<_> = (1..=4).map(|seq| id_of(&rest, seq)).collect();
        assert_eq!(ids, [None, Some("e2".into()), None, Some("e4".into())]);
        assert_eq!(rest.last().expect("last"), 4);
        assert!(group.without(&[1, 2, 3, 4]).expect("without").is_none());
    }

    #[test]
    fn a_group_fills_at_its_member_count_or_its_bytes() {
        let mut by_count = GroupBuilder::default();
        for seq in 0..MAX_MEMBERS {
            assert!(!by_count.is_full());
            by_count.push(seq, &event("e"), &[]);
        }
        assert!(by_count.is_full());
        let mut by_bytes = GroupBuilder::default();
        let mut large = event("large");
        large.data = vec![0; MAX_GROUP_BYTES];
        by_bytes.push(1, &large, &[]);
        assert!(by_bytes.is_full());
    }

    #[test]
    fn a_damaged_group_is_refused_naming_what_is_wrong() {
        let mut builder = GroupBuilder::default();
        builder.push(1, &event("e1"), &[]);
        builder.push(2, &event("e2"), &[]);
        let (_, value) = builder.take().expect("group");

        let mut empty = value.clone();
        empty[..4].copy_from_slice(&GROUPED.to_le_bytes());
        let mut too_many = value.clone();
        too_many[..4].copy_from_slice(&(GROUPED | 1000).to_le_bytes());
        let mut index_cut = value.clone();
        index_cut[..4].copy_from_slice(&(GROUPED | 2).to_le_bytes());
        index_cut.truncate(4 + 8);
        for damaged in [empty, too_many, index_cut] {
            let error = Group::read(&keys::seq(1), Slice::from(damaged))
                .err()
                .expect("refused");
            assert!(
                error.to_string().contains("a header that does not fit it"),
                "{error}"
            );
        }

        // The last member's end, the value's last word, past every member.
        let mut past = value.clone();
        let at = past.len() - 4;
        past[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        let group = Group::read(&keys::seq(1), Slice::from(past)).expect("the header fits");
        assert!(
            group
                .member(1)
                .expect("the first member is whole")
                .is_some()
        );
        let error = group.member(2).expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("a member that runs past its end"),
            "{error}"
        );

        let mut builder = GroupBuilder::default();
        let p = Target {
            plugin: "p".into(),
            ordered: false,
        };
        builder.push(1, &event("e1"), &[p]);
        let (_, mut plugins_cut) = builder.take().expect("group");
        plugins_cut[4..8].copy_from_slice(&1000u32.to_le_bytes());
        let group = Group::read(&keys::seq(1), Slice::from(plugins_cut)).expect("read");
        let member = group
            .member(1)
            .expect("the index is whole")
            .expect("member");
        let error = member.event().expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("a member whose plugins are unreadable"),
            "{error}"
        );

        let error = Group::read(b"short", Slice::from(value))
            .err()
            .expect("refused");
        assert!(error.to_string().contains("a malformed key"), "{error}");
    }

    #[test]
    fn damage_anywhere_in_a_group_is_an_error_naming_corruption_never_a_panic() {
        let mut builder = GroupBuilder::default();
        let targets = [Target {
            plugin: "p".into(),
            ordered: false,
        }];
        for seq in 1..=3 {
            builder.push(seq, &event(&format!("e{seq}")), &targets);
        }
        let (_, whole) = builder.take().expect("group");
        // A fixed xorshift, so a failure repeats.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let mut damaged = whole.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % damaged.len() as u64) as usize;
                damaged[at] = next() as u8;
            }
            if next() % 8 == 0 {
                damaged.truncate((next() % damaged.len() as u64) as usize);
            }
            let only_corrupt = |result: Result<(), QueueError>| match result {
                Ok(()) | Err(QueueError::Corrupt(_)) => {}
                Err(other) => panic!("not named corrupt: {other}"),
            };
            let read = Group::read(&keys::seq(1), Slice::from(damaged));
            let Ok(group) = read else {
                only_corrupt(read.map(drop));
                continue;
            };
            for seq in 0..=4 {
                only_corrupt(group.member(seq).and_then(|member| match member {
                    Some(member) => member.targets().and(member.event()).map(drop),
                    None => Ok(()),
                }));
            }
            only_corrupt(group.members().try_for_each(|member| member.map(drop)));
            only_corrupt(group.last().map(drop));
            only_corrupt(group.without(&[2]).map(drop));
        }
    }
}
