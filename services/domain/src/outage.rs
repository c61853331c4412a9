//! Time in an outage does not count against a waiting order.
//!
//! When the dispatch engine cannot reach Redis, nothing can be dispatched; once Redis is
//! back, the engine records the period (`Outage`) in the city's data, merged with the
//! periods other processes recorded, so the stored periods never overlap. Dispatch gives
//! up on an order only when its time in dispatch, less the outages within it, reaches
//! the bound ([`gives_up`]). The store's Lua (`lib.lua`'s `gives_up`) applies exactly
//! this rule; the integration tests hold the two together.

/// A period during which dispatch could not reach Redis, epoch ms, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// The last moment dispatch is known to have reached Redis.
    pub start_ms: i64,
    /// When it reached Redis again.
    pub end_ms: i64,
}

impl Outage {
    /// How much of `[from, to]` this period covers, ms.
    pub fn overlap(&self, from_ms: i64, to_ms: i64) -> i64 {
        (self.end_ms.min(to_ms) - self.start_ms.max(from_ms)).max(0)
    }
}

/// `outages` with `new` added: overlapping or touching periods become one, so the
/// result never overlaps (and no period is counted twice when two processes saw it).
pub fn merge(outages: &[Outage], new: Outage) -> Vec<Outage> {
    let mut joined = new;
    let mut out: Vec<Outage> = Vec::with_capacity(outages.len() + 1);
    for o in outages {
        if o.end_ms >= joined.start_ms && o.start_ms <= joined.end_ms {
            joined.start_ms = joined.start_ms.min(o.start_ms);
            joined.end_ms = joined.end_ms.max(o.end_ms);
        } else {
            out.push(*o);
        }
    }
    out.push(joined);
    out.sort_by_key(|o| o.start_ms);
    out
}

/// How long an order has been in dispatch since `since_ms`, not counting the
/// (non-overlapping) `outages`.
pub fn time_in_dispatch(since_ms: i64, now_ms: i64, outages: &[Outage]) -> i64 {
    let paused: i64 = outages.iter().map(|o| o.overlap(since_ms, now_ms)).sum();
    (now_ms - since_ms - paused).max(0)
}

/// Whether dispatch gives up on a queued order: offered `max_offers` times, or in
/// dispatch for `max_age_ms` not counting outages.
pub fn gives_up(offers: u32, max_offers: u32, time_in_dispatch_ms: i64, max_age_ms: i64) -> bool {
    offers >= max_offers || time_in_dispatch_ms >= max_age_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(start_ms: i64, end_ms: i64) -> Outage {
        Outage { start_ms, end_ms }
    }

    #[test]
    fn outages_within_the_wait_do_not_count() {
        let outages = [o(100, 200), o(500, 900)];
        assert_eq!(time_in_dispatch(0, 1000, &outages), 1000 - 100 - 400);
        // Only the part after the order entered dispatch counts.
        assert_eq!(time_in_dispatch(150, 1000, &outages), 850 - 50 - 400);
        // Nor the part after now (an outage recorded while it was going on).
        assert_eq!(time_in_dispatch(0, 600, &outages), 600 - 100 - 100);
        // An order created after every outage waits its whole time.
        assert_eq!(time_in_dispatch(950, 1000, &outages), 50);
        assert_eq!(time_in_dispatch(0, 1000, &[]), 1000);
    }

    #[test]
    fn periods_seen_by_several_processes_merge_into_one() {
        let merged = merge(&[o(100, 200), o(500, 900)], o(150, 600));
        assert_eq!(merged, vec![o(100, 900)]);
        let apart = merge(&[o(100, 200)], o(300, 400));
        assert_eq!(apart, vec![o(100, 200), o(300, 400)]);
        let same = merge(&[o(100, 200)], o(100, 200));
        assert_eq!(same, vec![o(100, 200)]);
        // Counted once, however many processes saw it.
        assert_eq!(time_in_dispatch(0, 1000, &merge(&same, o(120, 180))), 900);
    }

    #[test]
    fn giving_up_takes_either_bound() {
        assert!(gives_up(5, 5, 0, 180_000));
        assert!(gives_up(0, 5, 180_000, 180_000));
        assert!(!gives_up(4, 5, 179_999, 180_000));
    }
}
