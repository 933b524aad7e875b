//! The adapter's clock: `std::time::Instant` mapped onto the Session's millisecond clock.

use std::time::{Duration, Instant as StdInstant};

use mqtt_session::Instant;

/// Milliseconds since the clock was made; the Session's time base.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    epoch: StdInstant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            epoch: StdInstant::now(),
        }
    }

    pub(crate) fn now(&self) -> Instant {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        Instant::from_millis(ms)
    }

    /// How long from now until `deadline` (zero if it passed).
    pub(crate) fn until(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(self.now())
    }
}
