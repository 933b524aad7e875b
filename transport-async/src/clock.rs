//! The adapter's clock: `std::time::Instant` mapped onto the Session's millisecond clock.

use std::time::Instant as StdInstant;

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

    /// The `std` instant of a Session deadline. Rounds so that when a timer set for it fires,
    /// [`Clock::now`] has reached `deadline` (milliseconds are floored in `now`).
    pub(crate) fn to_std(self, deadline: Instant) -> Option<StdInstant> {
        self.epoch
            .checked_add(std::time::Duration::from_millis(deadline.as_millis()))
    }
}
