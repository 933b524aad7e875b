//! Exponential reconnect backoff with full jitter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Reconnect policy: delays grow from `min` to `max` by doubling, each one drawn uniformly
/// from `[delay / 2, delay]` (jitter, so many clients do not reconnect in lockstep), with an
/// optional bound on the number of attempts.
///
/// ```
/// use std::time::Duration;
/// use transport_mio::Backoff;
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
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9_7F4A_7C15)
            | 1;
        Self {
            min,
            max: max.max(min),
            max_attempts: None,
            attempt: 0,
            seed,
        }
    }

    /// Gives up after `n` attempts in a row.
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
        self.attempt += 1;
        // xorshift64*: jitter needs no cryptographic quality.
        self.seed ^= self.seed >> 12;
        self.seed ^= self.seed << 25;
        self.seed ^= self.seed >> 27;
        let r = self.seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let half = ceiling / 2;
        let span = ceiling.saturating_sub(half).as_millis() as u64;
        let jitter = if span == 0 { 0 } else { r % (span + 1) };
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
