//! Exponential reconnect backoff with jitter.
//!
//! The same policy as `transport_mio::Backoff`; kept separate so this crate does not depend on
//! mio. (Candidate for a shared home.)

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Reconnect policy: delays grow from `min` to `max` by doubling, each drawn uniformly from
/// `[delay / 2, delay]` (jitter, so many clients do not reconnect in lockstep), with an
/// optional bound on the number of attempts in a row.
///
/// ```
/// use std::time::Duration;
/// use transport_async::Backoff;
/// let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).max_attempts(3);
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(100));
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(200));
/// assert!(b.next_delay().unwrap() <= Duration::from_millis(400));
/// assert_eq!(b.next_delay(), None); // attempts exhausted
/// b.reset();
/// assert!(b.next_delay().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    max_attempts: Option<u32>,
    attempt: u32,
    seed: u64,
}

impl Backoff {
    /// Delays from `min` doubling up to `max`, unbounded attempts.
    pub fn new(min: Duration, max: Duration) -> Self {
        // A randomly keyed hasher is std's cheapest source of a per-process random seed.
        let seed = RandomState::new().build_hasher().finish() | 1;
        Self {
            min,
            max: max.max(min),
            max_attempts: None,
            attempt: 0,
            seed,
        }
    }

    /// Gives up after `n` failed attempts in a row.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
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
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        let r = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
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
    pub fn attempts(&self) -> u32 {
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
