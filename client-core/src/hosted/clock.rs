//! [`StdClock`]: the operating system's monotonic clock as the Session's [`Instant`].

use std::time::Duration;

use mqtt_sansio_session::Instant;

/// Milliseconds since the clock was made, as the Session's [`Instant`]. One per client, so
/// every part of it (commands, the I/O loop, completions) uses the same time line.
#[derive(Clone, Copy, Debug)]
pub struct StdClock {
    epoch: std::time::Instant,
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl StdClock {
    /// A clock starting now.
    pub fn new() -> Self {
        Self {
            epoch: std::time::Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }

    /// How long until `deadline` (zero when it passed).
    pub fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }

    /// `deadline` on the operating system's clock, for timers.
    pub fn to_std(&self, deadline: Instant) -> std::time::Instant {
        let d = Duration::from_millis(deadline.as_millis());
        self.epoch
            .checked_add(d)
            .unwrap_or(self.epoch + Duration::from_secs(86_400 * 365))
    }
}
