//! What weir calls things in JetStream: streams, subjects, bucket keys and
//! message ids, all derived from `[storage.nats] prefix` so that nodes with
//! the same prefix share one set.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use weir_event::{Event, Priority};

/// Ordering keys of one plugin are spread over this many partitions, each
/// consumed one delivery at a time over all nodes: keyed deliveries run up
/// to this many at once.
pub const PARTITIONS: u32 = 16;

/// Tenants are spread over this many shards per priority, each its own
/// feed: a tenant's burst holds up only the tenants of its shard, and a
/// node's window holds deliveries of every busy shard, among which the
/// tenants take turns (stochastic fairness queueing).
pub const TENANT_SHARDS: u32 = 4;

/// Where a plugin's delivery waits in the deliveries stream, and which of
/// the plugin's consumers hands it out: a partition of the ordering keys,
/// one delivery at a time, or the deliveries of one priority and shard of
/// tenants that wait for no key, so that urgent ones are pulled past a
/// backlog of others and one tenant's past another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// The partition of an ordering key.
    Keyed(u32),
    /// Deliveries of this priority, of the tenants of this shard, that wait
    /// for no key.
    Unkeyed(Priority, u32),
    /// Where an older weir put the deliveries of this priority that wait
    /// for no key, before tenants had subjects: drained, never published to.
    Earlier(Priority),
}

impl Feed {
    /// Every feed of a plugin: the earlier ones, one per priority and
    /// shard of tenants, then one per partition.
    pub fn all() -> impl Iterator<Item = Feed> {
        let earlier = Priority::ALL.into_iter().map(Feed::Earlier);
        let unkeyed = (Priority::ALL.into_iter()).flat_map(|priority| {
            (0..TENANT_SHARDS).map(move |shard| Feed::Unkeyed(priority, shard))
        });
        earlier
            .chain(unkeyed)
            .chain((0..PARTITIONS).map(Feed::Keyed))
    }

    /// Whether this is a key's partition, which hands out one delivery at
    /// a time, in the order published.
    pub fn keyed(self) -> bool {
        matches!(self, Feed::Keyed(_))
    }

    /// The room in a node's window that deliveries from this feed take:
    /// their own feed's, or the key partitions' (`None`), which share one.
    pub fn room(self) -> Option<Feed> {
        (!self.keyed()).then_some(self)
    }

    /// The feed of `event`'s delivery: its key's partition, unless it has
    /// none or its route lets it skip the ordering key.
    pub fn of(event: &Event, ordered: bool) -> Feed {
        match event.partitionkey.as_ref().filter(|_| ordered) {
            Some(key) => Feed::Keyed(partition(&event.tenant, key)),
            None => Feed::Unkeyed(event.priority, tenant_shard(&event.tenant)),
        }
    }
}

/// The names of one prefix's streams, subjects and bucket.
#[derive(Debug, Clone)]
pub struct Names {
    prefix: String,
}

impl Names {
    /// The names under `prefix`.
    pub fn new(prefix: &str) -> Names {
        Names {
            prefix: prefix.to_owned(),
        }
    }

    /// The work-queue stream that holds deliveries until a node finishes them.
    pub fn deliveries_stream(&self) -> String {
        format!("{}_deliveries", self.prefix)
    }

    /// Every subject of the deliveries stream.
    pub fn deliveries_subjects(&self) -> String {
        format!("{}.deliveries.>", self.prefix)
    }

    /// Where a delivery of `tenant` to `plugin` is published: on its feed's
    /// subject, which names the tenant (base64url, since tenant names may
    /// hold dots) if the feed is one of tenants, so that each tenant's
    /// backlog can be counted. Plugin names are `[a-z0-9_-]`, safe as a
    /// subject token.
    pub fn delivery_subject(&self, plugin: &str, feed: Feed, tenant: &str) -> String {
        match feed {
            Feed::Unkeyed(priority, shard) => format!(
                "{}.deliveries.{plugin}.t{shard}.{}.{}",
                self.prefix,
                priority.as_str(),
                URL_SAFE_NO_PAD.encode(tenant)
            ),
            Feed::Keyed(_) | Feed::Earlier(_) => self.feed_subjects(plugin, feed),
        }
    }

    /// The subjects of `plugin`'s `feed`: its consumer's filter. Earlier
    /// normal deliveries are on the subject every unkeyed delivery had
    /// before priorities had subjects.
    pub fn feed_subjects(&self, plugin: &str, feed: Feed) -> String {
        let prefix = &self.prefix;
        match feed {
            Feed::Keyed(partition) => format!("{prefix}.deliveries.{plugin}.k{partition}"),
            Feed::Unkeyed(priority, shard) => {
                format!(
                    "{prefix}.deliveries.{plugin}.t{shard}.{}.*",
                    priority.as_str()
                )
            }
            Feed::Earlier(Priority::Normal) => format!("{prefix}.deliveries.{plugin}.any"),
            Feed::Earlier(priority) => {
                format!("{prefix}.deliveries.{plugin}.any.{}", priority.as_str())
            }
        }
    }

    /// The plugin a subject of the deliveries stream is for, and the tenant,
    /// if the subject names one.
    pub fn delivery_of<'s>(&self, subject: &'s str) -> Option<(&'s str, Option<String>)> {
        let rest = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".deliveries.")?;
        let mut tokens = rest.split('.');
        let plugin = tokens.next().filter(|plugin| !plugin.is_empty())?;
        let tenant = match (tokens.next(), tokens.next(), tokens.next()) {
            (Some(shard), Some(_priority), Some(tenant)) if shard.starts_with('t') => {
                (URL_SAFE_NO_PAD.decode(tenant).ok()).and_then(|name| String::from_utf8(name).ok())
            }
            _ => None,
        };
        Some((plugin, tenant))
    }

    /// The durable consumer of one of `plugin`'s feeds. Plugin names have
    /// no capitals, so `-K`, `-T` and `-P` never clash with one; the
    /// earlier normal feed keeps the plugin's own name, as before priorities.
    pub fn consumer(plugin: &str, feed: Feed) -> String {
        match feed {
            Feed::Keyed(partition) => format!("{plugin}-K{partition}"),
            Feed::Unkeyed(priority, shard) => format!("{plugin}-T{shard}-{}", priority.as_str()),
            Feed::Earlier(Priority::Normal) => plugin.to_owned(),
            Feed::Earlier(priority) => format!("{plugin}-P{}", priority.as_str()),
        }
    }

    /// The stream that keeps every event for replay, until `retention`.
    pub fn events_stream(&self) -> String {
        format!("{}_events", self.prefix)
    }

    /// The subjects of the events stream: an event is stored on the subject
    /// of its id; the first, without one, holds those stored before ids
    /// had subjects.
    pub fn events_subjects(&self) -> Vec<String> {
        vec![
            format!("{}.events", self.prefix),
            format!("{}.events.>", self.prefix),
        ]
    }

    /// Where `event` is stored: on the subject of its id (base64url, since
    /// ids may hold any characters), so that it is found by its id, and of
    /// its identity, so that the one event of an identity is read directly.
    pub fn event_subject(&self, event: &Event) -> String {
        format!(
            "{}.events.{}.{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(&event.id),
            event_digest(event)
        )
    }

    /// The subjects of the events with id `id`: those stored with their
    /// identity, and those stored before identities were in subjects.
    pub fn events_with_id(&self, id: &str) -> Vec<String> {
        let id = URL_SAFE_NO_PAD.encode(id);
        vec![
            format!("{}.events.{id}", self.prefix),
            format!("{}.events.{id}.*", self.prefix),
        ]
    }

    /// The stream of dead deliveries.
    pub fn dead_stream(&self) -> String {
        format!("{}_dead", self.prefix)
    }

    /// Every subject of the dead-letter stream.
    pub fn dead_subjects(&self) -> String {
        format!("{}.dead.>", self.prefix)
    }

    /// Where a dead delivery to `plugin` of the event with id `id` goes, so
    /// that it is found by its plugin and by its event's id (base64url, as
    /// in [`Names::event_subject`]).
    pub fn dead_subject(&self, plugin: &str, id: &str) -> String {
        format!(
            "{}.dead.{plugin}.{}",
            self.prefix,
            URL_SAFE_NO_PAD.encode(id)
        )
    }

    /// Where a delivery to `plugin` that cannot be read goes, its bytes as
    /// they were: it has no event id to file it under (`~` is in no
    /// base64url id).
    pub fn unreadable_subject(&self, plugin: &str) -> String {
        format!("{}.dead.{plugin}.~unreadable", self.prefix)
    }

    /// The subjects of the dead letters of `plugin`, or of every plugin.
    /// A plugin's first subject, without an event id, holds the letters
    /// stored before ids were in their subjects.
    pub fn dead_of_plugin(&self, plugin: Option<&str>) -> Vec<String> {
        match plugin {
            Some(plugin) => vec![
                format!("{}.dead.{plugin}", self.prefix),
                format!("{}.dead.{plugin}.>", self.prefix),
            ],
            None => vec![self.dead_subjects()],
        }
    }

    /// The subjects of the dead letters of the event with id `id` (to
    /// `plugin`, or to any): its own, and those of letters stored before
    /// ids were in their subjects, which only their payload tells apart.
    pub fn dead_of_event(&self, plugin: Option<&str>, id: &str) -> Vec<String> {
        let plugin = plugin.unwrap_or("*");
        vec![
            format!("{}.dead.{plugin}", self.prefix),
            format!(
                "{}.dead.{plugin}.{}",
                self.prefix,
                URL_SAFE_NO_PAD.encode(id)
            ),
        ]
    }

    /// The stream of the deliveries of paused tenants, held until their
    /// tenant is resumed.
    pub fn held_stream(&self) -> String {
        format!("{}_held", self.prefix)
    }

    /// Every subject of the held stream.
    pub fn held_subjects(&self) -> String {
        format!("{}.held.>", self.prefix)
    }

    /// Where the held deliveries of `tenant` go. Tenant names may hold dots,
    /// which split subject tokens, so the name is base64url-encoded.
    pub fn held_subject(&self, tenant: &str) -> String {
        format!("{}.held.{}", self.prefix, URL_SAFE_NO_PAD.encode(tenant))
    }

    /// The tenant whose deliveries a subject of the held stream holds.
    pub fn tenant_of_held(&self, subject: &str) -> Option<String> {
        let encoded = subject
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".held.")?;
        String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
    }

    /// The key/value bucket of commit records and plugin state: one bucket,
    /// so one atomic batch can write both.
    pub fn records_bucket(&self) -> String {
        format!("{}_records", self.prefix)
    }

    /// The key/value bucket of operators' pauses, small enough to list.
    pub fn pauses_bucket(&self) -> String {
        format!("{}_pauses", self.prefix)
    }

    /// The key/value bucket of the answers to requests with an
    /// `Idempotency-Key`.
    pub fn requests_bucket(&self) -> String {
        format!("{}_requests", self.prefix)
    }
}

/// One run of an event through a plugin: the delivery ingest publishes is
/// generation 0, and each replay of the plugin a generation after it, so
/// its effects apply once more.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryId<'a> {
    /// The plugin.
    pub plugin: &'a str,
    /// The event.
    pub event: &'a Event,
    /// 0, or the replay that queued it.
    pub generation: u32,
}

impl DeliveryId<'_> {
    /// The bucket key of its commit record.
    pub fn commit_key(&self) -> String {
        format!("c.{}.{}", self.plugin, self.suffix())
    }

    /// Its bucket key of the faults (traps, limit hits) its latest attempts
    /// ended with, in a row: what tells a poison event.
    pub fn faults_key(&self) -> String {
        format!("f.{}.{}", self.plugin, self.suffix())
    }

    /// Its `Nats-Msg-Id`: a re-sent event, or a child published again after
    /// a crash, is stored once.
    pub fn msg_id(&self) -> String {
        format!("{}.{}", self.suffix(), self.plugin)
    }

    fn suffix(&self) -> String {
        match self.generation {
            0 => event_digest(self.event),
            generation => format!("{}.g{generation}", event_digest(self.event)),
        }
    }
}

/// The bucket key counting `plugin`'s replays: each takes the next generation.
pub fn generation_key(plugin: &str) -> String {
    format!("g.{plugin}")
}

/// The bucket key prefix of `plugin`'s state for `tenant`.
pub fn state_prefix(plugin: &str, tenant: &str) -> String {
    format!("s.{plugin}.{}.", URL_SAFE_NO_PAD.encode(tenant))
}

/// The bucket key of one state entry: tenants and keys may hold any bytes,
/// so they are base64url-encoded into the key characters NATS allows.
pub fn state_key(plugin: &str, tenant: &str, key: &str) -> String {
    format!(
        "{}{}",
        state_prefix(plugin, tenant),
        URL_SAFE_NO_PAD.encode(key)
    )
}

/// The state key a bucket key under [`state_prefix`] names.
pub fn state_key_name(encoded: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    String::from_utf8(bytes).ok()
}

/// The `Nats-Msg-Id` of `event` on the events stream.
pub fn event_msg_id(event: &Event) -> String {
    event_digest(event)
}

/// The partition of the ordering key `key` of `tenant`: deliveries with the
/// same key share one, and run one at a time in the order published.
pub fn partition(tenant: &str, key: &str) -> u32 {
    let hash = Sha256::new()
        .chain_update(tenant.as_bytes())
        .chain_update([0])
        .chain_update(key.as_bytes())
        .finalize();
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % PARTITIONS
}

/// The shard of `tenant`'s deliveries without an ordering key.
pub fn tenant_shard(tenant: &str) -> u32 {
    let hash = Sha256::digest(tenant.as_bytes());
    u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]) % TENANT_SHARDS
}

/// An event's identity (tenant, source and id, as CloudEvents defines it),
/// hashed to a fixed length of key characters.
fn event_digest(event: &Event) -> String {
    let mut hash = Sha256::new();
    for part in [&event.tenant, &event.source, &event.id] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hold_any_tenant_and_key_in_the_characters_nats_allows() {
        let key = state_key("p", "acme corp", "order:a.b/c");
        assert!(
            key.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{key}"
        );
        let encoded = key
            .strip_prefix(&state_prefix("p", "acme corp"))
            .expect("under its prefix");
        assert_eq!(state_key_name(encoded).as_deref(), Some("order:a.b/c"));
    }

    #[test]
    fn delivery_and_held_subjects_name_their_tenant() {
        let names = Names::new("weir");
        for feed in Feed::all() {
            let subject = names.delivery_subject("booking-normalizer", feed, "acme.eu");
            let (plugin, tenant) = names.delivery_of(&subject).expect("a delivery subject");
            assert_eq!(plugin, "booking-normalizer");
            let named = matches!(feed, Feed::Unkeyed(..)).then(|| "acme.eu".to_owned());
            assert_eq!(tenant, named, "{subject}");
        }
        let held = names.held_subject("acme.eu");
        assert_eq!(names.tenant_of_held(&held).as_deref(), Some("acme.eu"));
        assert_eq!(names.tenant_of_held("weir.events.x"), None);
        assert_eq!(names.delivery_of("weir.events"), None);
        assert_eq!(names.delivery_of("other.deliveries.p.any"), None);
    }

    /// Whether the NATS subject filter `filter` takes `subject`.
    fn takes(filter: &str, subject: &str) -> bool {
        let (mut filter, mut subject) = (filter.split('.'), subject.split('.'));
        loop {
            match (filter.next(), subject.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(wanted), Some(token)) if wanted == token => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    #[test]
    fn each_feed_has_subjects_and_a_consumer_of_its_own() {
        let names = Names::new("weir");
        let feeds: Vec<Feed> = Feed::all().collect();
        let priorities = Priority::ALL.len();
        assert_eq!(
            feeds.len(),
            priorities + priorities * TENANT_SHARDS as usize + PARTITIONS as usize
        );
        let filters: Vec<String> = (feeds.iter())
            .map(|&feed| names.feed_subjects("p", feed))
            .collect();
        // A work-queue stream refuses consumers whose filters overlap.
        for (index, filter) in filters.iter().enumerate() {
            let taken = filters.iter().filter(|other| takes(filter, other));
            assert_eq!(taken.count(), 1, "{filter} takes only itself");
            assert!(takes(&names.deliveries_subjects(), filter), "{filter}");
            let published = names.delivery_subject("p", feeds[index], "acme");
            let takers = (filters.iter()).filter(|filter| takes(filter, &published));
            assert_eq!(takers.collect::<Vec<_>>(), vec![filter], "{published}");
            let consumer = Names::consumer("p", feeds[index]);
            let same = (feeds.iter()).filter(|&&feed| Names::consumer("p", feed) == consumer);
            assert_eq!(same.count(), 1, "{consumer}");
        }
        // Where unkeyed deliveries waited before priorities had subjects.
        let earlier = Feed::Earlier(Priority::Normal);
        assert_eq!(names.feed_subjects("p", earlier), "weir.deliveries.p.any");
        assert_eq!(Names::consumer("p", earlier), "p");
        let mut keyed = Event::new("e".into(), "s".into(), "t".into(), "acme".into());
        keyed.priority = Priority::Critical;
        let unkeyed = Feed::Unkeyed(Priority::Critical, tenant_shard("acme"));
        assert_eq!(Feed::of(&keyed, true), unkeyed);
        keyed.partitionkey = Some("order-1".into());
        assert!(matches!(Feed::of(&keyed, true), Feed::Keyed(_)));
        assert_eq!(Feed::of(&keyed, false), unkeyed);
    }

    #[test]
    fn tenants_are_spread_over_every_shard() {
        assert_eq!(tenant_shard("acme"), tenant_shard("acme"));
        let spread: std::collections::BTreeSet<u32> = (0..100)
            .map(|n| tenant_shard(&format!("tenant-{n}")))
            .collect();
        assert_eq!(spread.len(), TENANT_SHARDS as usize, "{spread:?}");
        // The tenants of the fairness test in `tests/tests/e2e/backends.rs`.
        assert_ne!(tenant_shard("heavy"), tenant_shard("light"));
    }

    #[test]
    fn an_event_is_found_by_its_id_and_read_by_its_identity() {
        let names = Names::new("weir");
        let event = Event::new("rec.0/x".into(), "tests".into(), "t".into(), "acme".into());
        let subject = names.event_subject(&event);
        let found_by = |filters: Vec<String>| filters.iter().any(|f| takes(f, &subject));
        assert!(found_by(names.events_subjects()));
        assert!(found_by(names.events_with_id("rec.0/x")));
        assert!(!found_by(names.events_with_id("rec.0")));
        let other_tenant = Event {
            tenant: "globex".into(),
            ..event.clone()
        };
        let theirs = names.event_subject(&other_tenant);
        assert_ne!(subject, theirs, "each identity has a subject of its own");
        assert!(
            names
                .events_with_id("rec.0/x")
                .iter()
                .any(|f| takes(f, &theirs))
        );
        // An event stored before identities were in subjects is still found.
        let earlier = format!("weir.events.{}", URL_SAFE_NO_PAD.encode("rec.0/x"));
        assert!(
            names
                .events_with_id("rec.0/x")
                .iter()
                .any(|f| takes(f, &earlier))
        );
    }

    #[test]
    fn a_dead_letter_is_found_by_its_plugin_and_by_its_event_id() {
        let names = Names::new("weir");
        let letter = names.dead_subject("test-recorder", "rec.0/x");
        let found_by = |filters: Vec<String>| filters.iter().any(|f| takes(f, &letter));
        assert!(found_by(names.dead_of_plugin(None)));
        assert!(found_by(names.dead_of_plugin(Some("test-recorder"))));
        assert!(!found_by(names.dead_of_plugin(Some("test"))));
        assert!(found_by(names.dead_of_event(None, "rec.0/x")));
        assert!(found_by(
            names.dead_of_event(Some("test-recorder"), "rec.0/x")
        ));
        assert!(!found_by(names.dead_of_event(None, "rec.0")));
        assert!(!found_by(names.dead_of_event(Some("other"), "rec.0/x")));
        // A letter stored before ids were in subjects is still found.
        let earlier = "weir.dead.test-recorder";
        assert!(
            names
                .dead_of_plugin(Some("test-recorder"))
                .iter()
                .any(|f| takes(f, earlier))
        );
        assert!(
            names
                .dead_of_event(None, "rec-0")
                .iter()
                .any(|f| takes(f, earlier))
        );
        assert!(takes(&names.dead_subjects(), &letter));
    }

    #[test]
    fn a_key_has_one_partition_per_tenant() {
        assert_eq!(partition("acme", "K1"), partition("acme", "K1"));
        let spread: std::collections::BTreeSet<u32> = (0..200)
            .map(|n| partition("acme", &format!("K{n}")))
            .collect();
        assert_eq!(spread.len(), PARTITIONS as usize, "{spread:?}");
        assert!(spread.iter().all(|p| *p < PARTITIONS));
    }

    #[test]
    fn the_identity_plugin_and_generation_decide_the_message_id_and_record() {
        let event = Event::new("1".into(), "s".into(), "t".into(), "acme".into());
        let other_tenant = Event::new("1".into(), "s".into(), "t".into(), "beta".into());
        let id = |plugin, event, generation| DeliveryId {
            plugin,
            event,
            generation,
        };
        let first = id("p", &event, 0);
        let same = event.clone();
        assert_eq!(first.msg_id(), id("p", &same, 0).msg_id());
        for other in [
            id("p", &other_tenant, 0),
            id("q", &event, 0),
            id("p", &event, 1),
        ] {
            assert_ne!(first.msg_id(), other.msg_id());
            assert_ne!(first.commit_key(), other.commit_key());
        }
    }
}
