//! Time as an input: every component that needs "now" takes it from a [`Clock`] it was
//! given, so tests step time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of the current time, in milliseconds since the Unix epoch (the unit of every
/// stored timestamp).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The machine's clock: what production runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The system time in epoch milliseconds.
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }
}

/// A clock that stands still until told to move: for tests that must be exact.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn at(now_ms: i64) -> Self {
        Self {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: i64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// The system clock plus an offset that only grows: time passes as usual, and a test can
/// jump ahead (an offer's deadline, a reservation's release) instead of sleeping. Once
/// paused, it stands still but for the steps (a simulation that must see exact times).
#[derive(Debug, Default)]
pub struct SteppedClock {
    offset_ms: AtomicI64,
    /// The system time it was paused at (0: running).
    paused_at_ms: AtomicI64,
}

impl SteppedClock {
    /// A clock that starts at the system time.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jumps ahead by `by`.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// Stops the clock where it is; from then on only [`SteppedClock::advance`] moves it.
    pub fn pause(&self) {
        let _ = self.paused_at_ms.compare_exchange(
            0,
            system_now_ms(),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }
}

impl Clock for SteppedClock {
    fn now_ms(&self) -> i64 {
        let base = match self.paused_at_ms.load(Ordering::SeqCst) {
            0 => system_now_ms(),
            at => at,
        };
        base + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// A clock that runs `factor` times faster than the machine's: from `start_ms` at the
/// instant it was made, then `start_ms + real elapsed × factor`. For simulations that run an
/// hour of city in minutes through the real services.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start_ms: i64,
    started: std::time::Instant,
    factor: f64,
}

impl ScaledClock {
    /// A clock standing at `start_ms` now, and running `factor` (> 0) times real time.
    pub fn new(start_ms: i64, factor: f64) -> Self {
        Self {
            start_ms,
            started: std::time::Instant::now(),
            factor: if factor > 0.0 { factor } else { 1.0 },
        }
    }

    /// How many times faster than real time it runs.
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The real time that `simulated` of this clock takes.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.factor)
    }

    /// The clock's time after `real` elapsed since it was made: the pure rule.
    pub fn at_elapsed(&self, real: Duration) -> i64 {
        self.start_ms + (real.as_secs_f64() * 1000.0 * self.factor) as i64
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> i64 {
        self.at_elapsed(self.started.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scaled_clock_runs_factor_times_faster() {
        let c = ScaledClock::new(1_000_000, 30.0);
        assert_eq!(c.factor(), 30.0);
        assert_eq!(c.at_elapsed(Duration::ZERO), 1_000_000);
        assert_eq!(c.at_elapsed(Duration::from_secs(2)), 1_060_000);
        assert_eq!(c.at_elapsed(Duration::from_millis(100)), 1_003_000);
        assert_eq!(c.real(Duration::from_secs(60)), Duration::from_secs(2));
        let a = c.now_ms();
        std::thread::sleep(Duration::from_millis(20));
        let b = c.now_ms();
        assert!(b - a >= 600, "{a} {b}");
        // A factor that is not positive runs at real time.
        assert_eq!(ScaledClock::new(0, 0.0).factor(), 1.0);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::at(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now_ms(), 2_500);
        c.set(10);
        assert_eq!(c.now_ms(), 10);
    }

    #[test]
    fn a_paused_stepped_clock_moves_only_by_its_steps() {
        let c = SteppedClock::new();
        c.pause();
        let at = c.now_ms();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now_ms(), at);
        c.advance(Duration::from_millis(1_500));
        assert_eq!(c.now_ms(), at + 1_500);
    }

    #[test]
    fn stepped_clock_follows_the_system_clock_plus_its_steps() {
        let c = SteppedClock::new();
        let before = system_now_ms();
        c.advance(Duration::from_secs(60));
        let now = c.now_ms();
        assert!(now >= before + 60_000 && now < system_now_ms() + 61_000);
    }
}
