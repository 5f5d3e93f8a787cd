//! Which lane of a plugin to serve next: the order in which one plugin's free
//! slots go to its waiting deliveries.
//!
//! Priorities share by weight (smooth weighted round-robin: with weights 8:1,
//! `critical` gets eight of every nine dispatches while both have work, and
//! `low` is never starved). Within a priority, tenants take turns (deficit
//! round-robin with unit cost: a tenant with weight `w` gets `w` dispatches per
//! turn), so a tenant's burst delays another tenant by at most one turn of
//! every tenant with work, however deep the burst is.
//!
//! Each lane keeps a cursor into its `ready` range: leasing scans from it, so
//! the deliveries leased before it (still running, or ended and left as
//! tombstones) are never rescanned. A delivery made
//! ready again behind the cursor (a retry come due, a released hold) keeps
//! its place in seq order but does not move the cursor back: it is noted
//! apart and leased by its own seq, so the next lease after it starts at the
//! cursor again instead of walking every lease in between. This is
//! bookkeeping only; the caller leases from storage and reports what it found.

use std::collections::{BTreeSet, HashMap, VecDeque};

use crate::config::LaneWeights;
use crate::event::Priority;
use crate::store::{Lane, Seq};

/// The scheduling state of one plugin's lanes.
pub struct Fair {
    weights: LaneWeights,
    /// One band per priority, most urgent first.
    bands: [Band; 4],
    /// Smooth weighted round-robin credit per band.
    credit: [i64; 4],
}

/// The tenants of one priority.
#[derive(Default)]
struct Band {
    /// Tenants that may have ready deliveries, in turn order; the front is served.
    turn: VecDeque<String>,
    tenants: HashMap<String, TenantLane>,
}

#[derive(Default)]
struct TenantLane {
    /// No ready delivery of the lane is before it but those in `behind`.
    cursor: Seq,
    /// Deliveries made ready before the cursor since it passed them.
    behind: BTreeSet<Seq>,
    /// In `turn`.
    active: bool,
    /// Dispatches in the current turn.
    served: u32,
}

/// What [`Fair::next`] needs to know about tenants.
pub trait Tenants {
    /// The tenant's share within a priority.
    fn weight(&self, tenant: &str) -> u32;
    /// Whether another of the tenant's deliveries may start now.
    fn has_room(&self, tenant: &str) -> bool;
}

impl Fair {
    /// No lane has work yet.
    pub fn new(weights: LaneWeights) -> Fair {
        Fair {
            weights,
            bands: Default::default(),
            credit: [0; 4],
        }
    }

    /// Notes that a delivery (`seq`) is ready in `lane`.
    pub fn ready(&mut self, lane: &Lane, seq: Seq) {
        let band = &mut self.bands[usize::from(lane.priority.rank())];
        let entry = band.tenants.entry(lane.tenant.clone()).or_default();
        if seq < entry.cursor {
            entry.behind.insert(seq);
        }
        if !entry.active {
            entry.active = true;
            band.turn.push_back(lane.tenant.clone());
        }
    }

    /// The lane to lease from next and where to start in it, or `None` when
    /// no lane has work a tenant has room for.
    pub fn next(&mut self, tenants: &impl Tenants) -> Option<(Lane, Seq)> {
        let mut eligible = [false; 4];
        let mut total = 0;
        for (rank, band) in self.bands.iter_mut().enumerate() {
            if band.turn.is_empty() {
                self.credit[rank] = 0;
            }
            if band.front_with_room(tenants).is_some() {
                eligible[rank] = true;
                total += i64::from(self.weights.of(priority(rank)));
            }
        }
        let mut pick = None;
        for rank in (0..4).filter(|&rank| eligible[rank]) {
            self.credit[rank] += i64::from(self.weights.of(priority(rank)));
            if pick.is_none_or(|best: usize| self.credit[rank] > self.credit[best]) {
                pick = Some(rank);
            }
        }
        let rank = pick?;
        self.credit[rank] -= total;
        let band = &self.bands[rank];
        let tenant = band.turn.front()?;
        let from = band.tenants.get(tenant).map_or(0, TenantLane::from);
        let lane = Lane {
            priority: priority(rank),
            tenant: tenant.clone(),
        };
        Some((lane, from))
    }

    /// Notes that delivery `seq` of `lane` was leased.
    pub fn leased(&mut self, lane: &Lane, seq: Seq, tenants: &impl Tenants) {
        let band = &mut self.bands[usize::from(lane.priority.rank())];
        let Some(entry) = band.tenants.get_mut(&lane.tenant) else {
            return;
        };
        // Leasing took the first ready delivery at or after where it started,
        // so none of those noted behind it up to `seq` is ready any more.
        entry.behind = entry.behind.split_off(&(seq + 1));
        entry.cursor = entry.cursor.max(seq + 1);
        entry.served += 1;
        if entry.served >= tenants.weight(&lane.tenant) {
            entry.served = 0;
            if band.turn.front() == Some(&lane.tenant) {
                band.turn.rotate_left(1);
            }
        }
    }

    /// Notes that `lane` has nothing ready at or after its cursor.
    pub fn exhausted(&mut self, lane: &Lane) {
        let band = &mut self.bands[usize::from(lane.priority.rank())];
        let Some(entry) = band.tenants.get_mut(&lane.tenant) else {
            return;
        };
        entry.active = false;
        entry.served = 0;
        entry.behind.clear();
        if let Some(at) = band.turn.iter().position(|tenant| *tenant == lane.tenant) {
            band.turn.remove(at);
        }
    }

    /// Every lane that may have work, with its cursor.
    pub fn active(&self) -> Vec<(Lane, Seq)> {
        let mut lanes = Vec::new();
        for (rank, band) in self.bands.iter().enumerate() {
            for tenant in &band.turn {
                let from = band.tenants.get(tenant).map_or(0, TenantLane::from);
                let lane = Lane {
                    priority: priority(rank),
                    tenant: tenant.clone(),
                };
                lanes.push((lane, from));
            }
        }
        lanes
    }

    /// How many lanes may have work.
    pub fn active_count(&self) -> usize {
        self.bands.iter().map(|band| band.turn.len()).sum()
    }
}

impl TenantLane {
    /// Where leasing starts: no ready delivery of the lane is before it.
    fn from(&self) -> Seq {
        self.behind.first().copied().unwrap_or(self.cursor)
    }
}

impl Band {
    /// The first tenant in turn with room for another delivery. Tenants at
    /// their cap go to the back, with the rest of their turn forfeited.
    fn front_with_room(&mut self, tenants: &impl Tenants) -> Option<&str> {
        for _ in 0..self.turn.len() {
            let front = self.turn.front()?;
            if tenants.has_room(front) {
                return self.turn.front().map(String::as_str);
            }
            if let Some(entry) = self.tenants.get_mut(front) {
                entry.served = 0;
            }
            self.turn.rotate_left(1);
        }
        None
    }
}

fn priority(rank: usize) -> Priority {
    Priority::ALL[rank]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tenants with weights; `capped` tenants have no room.
    struct Shares {
        weights: HashMap<&'static str, u32>,
        capped: Vec<&'static str>,
    }

    impl Tenants for Shares {
        fn weight(&self, tenant: &str) -> u32 {
            self.weights.get(tenant).copied().unwrap_or(1)
        }
        fn has_room(&self, tenant: &str) -> bool {
            !self.capped.contains(&tenant)
        }
    }

    fn lane(priority: Priority, tenant: &str) -> Lane {
        Lane {
            priority,
            tenant: tenant.to_owned(),
        }
    }

    /// Serves `picks` dispatches from lanes that never run dry; returns the
    /// lanes served, in order.
    fn serve(fair: &mut Fair, shares: &Shares, picks: usize) -> Vec<Lane> {
        let mut served = Vec::new();
        for seq in 0..picks as Seq {
            let (lane, _) = fair.next(shares).expect("work is ready");
            fair.leased(&lane, seq, shares);
            served.push(lane);
        }
        served
    }

    fn no_caps() -> Shares {
        Shares {
            weights: HashMap::new(),
            capped: Vec::new(),
        }
    }

    #[test]
    fn tenants_of_one_priority_take_turns_whatever_their_backlog() {
        let mut fair = Fair::new(LaneWeights::default());
        // A arrived first with a deep backlog; B and C came later.
        fair.ready(&lane(Priority::Normal, "a"), 1);
        fair.ready(&lane(Priority::Normal, "b"), 50_001);
        fair.ready(&lane(Priority::Normal, "c"), 50_002);
        let served = serve(&mut fair, &no_caps(), 6);
        let tenants: Vec<&str> = served.iter().map(|lane| lane.tenant.as_str()).collect();
        assert_eq!(tenants, ["a", "b", "c", "a", "b", "c"]);
    }

    #[test]
    fn a_tenants_weight_is_its_dispatches_per_turn() {
        let mut fair = Fair::new(LaneWeights::default());
        fair.ready(&lane(Priority::Normal, "big"), 1);
        fair.ready(&lane(Priority::Normal, "small"), 2);
        let shares = Shares {
            weights: HashMap::from([("big", 3)]),
            capped: Vec::new(),
        };
        let served = serve(&mut fair, &shares, 8);
        let tenants: Vec<&str> = served.iter().map(|lane| lane.tenant.as_str()).collect();
        assert_eq!(
            tenants,
            ["big", "big", "big", "small", "big", "big", "big", "small"]
        );
    }

    #[test]
    fn priorities_share_by_weight_and_the_lowest_still_progresses() {
        let mut fair = Fair::new(LaneWeights::default());
        fair.ready(&lane(Priority::Low, "a"), 1);
        fair.ready(&lane(Priority::Critical, "a"), 2);
        let served = serve(&mut fair, &no_caps(), 90);
        let low = served
            .iter()
            .filter(|lane| lane.priority == Priority::Low)
            .count();
        // Weights 8:1.
        assert_eq!(low, 10);
        assert_eq!(served[0].priority, Priority::Critical);
    }

    #[test]
    fn a_capped_tenant_is_passed_over_and_an_exhausted_lane_leaves_its_turn() {
        let mut fair = Fair::new(LaneWeights::default());
        fair.ready(&lane(Priority::Normal, "a"), 1);
        fair.ready(&lane(Priority::Normal, "b"), 2);
        let capped = Shares {
            weights: HashMap::new(),
            capped: vec!["a"],
        };
        let served = serve(&mut fair, &capped, 3);
        assert!(served.iter().all(|lane| lane.tenant == "b"));
        fair.exhausted(&lane(Priority::Normal, "b"));
        assert!(
            fair.next(&capped).is_none(),
            "only a capped tenant has work"
        );
        assert_eq!(fair.active_count(), 1);
        // A lane that runs dry and fills again starts from the earliest ready seq.
        fair.ready(&lane(Priority::Normal, "b"), 1);
        assert_eq!(fair.next(&capped), Some((lane(Priority::Normal, "b"), 1)));
    }

    #[test]
    fn a_delivery_ready_again_behind_the_cursor_does_not_move_it_back() {
        let mut fair = Fair::new(LaneWeights::default());
        let normal = lane(Priority::Normal, "a");
        let shares = no_caps();
        fair.ready(&normal, 1);
        fair.leased(&normal, 1, &shares);
        fair.leased(&normal, 100, &shares);
        // Retries of 7 and 3 come due while the lane is at 101.
        fair.ready(&normal, 7);
        fair.ready(&normal, 3);
        assert_eq!(fair.next(&shares), Some((normal.clone(), 3)), "seq order");
        fair.leased(&normal, 3, &shares);
        assert_eq!(fair.next(&shares), Some((normal.clone(), 7)));
        fair.leased(&normal, 7, &shares);
        assert_eq!(
            fair.next(&shares),
            Some((normal.clone(), 101)),
            "back at the cursor, not at 8"
        );
        // A lease from a noted seq that finds a later one passes both.
        fair.ready(&normal, 50);
        fair.ready(&normal, 60);
        fair.leased(&normal, 60, &shares);
        assert_eq!(fair.next(&shares), Some((normal.clone(), 101)));
        assert_eq!(fair.active(), [(normal, 101)]);
    }
}
