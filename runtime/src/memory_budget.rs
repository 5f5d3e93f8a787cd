//! One delivery's linear memory, counted over every memory of its instance.
//! A component may define several memories (one per core module), and a
//! limit checked per memory would let it take `memory_bytes` in each.

/// The bytes an instance's memories may hold together, and hold now.
#[derive(Debug)]
pub struct MemoryBudget {
    limit: usize,
    used: usize,
}

impl MemoryBudget {
    /// A budget of `limit` bytes, none used.
    pub fn new(limit: usize) -> MemoryBudget {
        MemoryBudget { limit, used: 0 }
    }

    /// Whether one memory may grow from `current` to `desired` bytes (from 0
    /// when it is created); if so, counts it.
    pub fn grow(&mut self, current: usize, desired: usize) -> bool {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        let allowed = total <= self.limit;
        if allowed {
            self.used = total;
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 64 << 10;

    #[test]
    fn every_memory_of_the_instance_draws_on_one_budget() {
        let mut budget = MemoryBudget::new(10 * PAGE);
        assert!(budget.grow(0, 4 * PAGE), "the first memory is created");
        assert!(budget.grow(0, 4 * PAGE), "a second one fits beside it");
        assert!(
            !budget.grow(0, 4 * PAGE),
            "a third would take 12 pages: each alone under the limit, together over it"
        );
        assert!(
            budget.grow(4 * PAGE, 6 * PAGE),
            "growing one within what is left"
        );
        assert!(
            !budget.grow(4 * PAGE, 5 * PAGE),
            "the other cannot grow past it"
        );
        assert!(
            budget.grow(4 * PAGE, 4 * PAGE),
            "staying the same size is fine"
        );
    }
}
