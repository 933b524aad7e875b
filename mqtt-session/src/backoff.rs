//! [`Backoff`]: the reconnect delay policy shared by every transport.

use core::time::Duration;

/// Reconnect policy: delays grow from `min` to `max` by doubling, each drawn uniformly from
/// `[delay / 2, delay]` (jitter, so many clients do not reconnect in lockstep), with an
/// optional bound on the number of attempts in a row.
///
/// Pure and deterministic: the jitter comes from a small generator seeded by the caller
/// ([`Backoff::seed`]). Transports seed it from the operating system unless you did.
///
/// ```
/// use core::time::Duration;
/// use mqtt_sansio_session::Backoff;
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
///     .max_attempts(3)
///     .seed(42);
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(100));
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(200));
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(400));
/// assert_eq!(b.next_delay(), None); // attempts exhausted
/// b.reset();
/// assert!(b.next_delay().is_some());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    max_attempts: Option<u32>,
    attempt: u32,
    state: u64,
    seeded: bool,
}

impl Backoff {
    /// Delays from `min` doubling up to `max`, unbounded attempts.
    pub const fn new(min: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < min.as_nanos() {
            min
        } else {
            max
        };
        Self {
            min,
            max,
            max_attempts: None,
            attempt: 0,
            state: 0x9E37_79B9_7F4A_7C15,
            seeded: false,
        }
    }

    /// Gives up after `n` failed attempts in a row.
    pub const fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }

    /// Seeds the jitter.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.state = seed | 1;
        self.seeded = true;
        self
    }

    /// Seeds the jitter from the operating system unless [`seed`](Self::seed) was called, so
    /// clients that lost the broker together do not reconnect in lockstep.
    #[cfg(feature = "std")]
    pub fn seeded_from_os(self) -> Self {
        use std::hash::{BuildHasher, Hasher};
        if self.seeded {
            return self;
        }
        // A randomly keyed hasher is std's cheapest source of a per-process random number.
        self.seed(
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }

    /// Whether [`seed`](Self::seed) was called.
    pub const fn is_seeded(&self) -> bool {
        self.seeded
    }

    /// The delay before the next attempt, or `None` when attempts are exhausted.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if self.max_attempts.is_some_and(|m| self.attempt >= m) {
            return None;
        }
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        let ceiling = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        // xorshift64*: jitter needs no cryptographic quality.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        let r = self.state.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let half = ceiling / 2;
        let span = u64::try_from(ceiling.saturating_sub(half).as_millis()).unwrap_or(u64::MAX);
        let jitter = if span == 0 {
            0
        } else {
            r % span.saturating_add(1)
        };
        Some(half + Duration::from_millis(jitter))
    }

    /// Attempts made since the last success.
    pub const fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Starts over after a successful connection.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    /// 100 ms doubling up to 30 s, unbounded attempts.
    fn default() -> Self {
        Self::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_cap_at_max() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800)).seed(7);
        for ceiling in [100u64, 200, 400, 800, 800, 800] {
            let d = b.next_delay().unwrap().as_millis() as u64;
            assert!(
                (ceiling / 2..=ceiling).contains(&d),
                "{d} outside [{}, {ceiling}]",
                ceiling / 2
            );
        }
    }

    #[test]
    fn same_seed_same_delays_different_seed_different_delays() {
        let run = |seed| {
            let mut b =
                Backoff::new(Duration::from_millis(1000), Duration::from_secs(60)).seed(seed);
            (0..8)
                .map(|_| b.next_delay())
                .collect::<alloc::vec::Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
