//! Time as an argument: a caller-chosen monotonic clock in milliseconds.

use core::time::Duration;

/// A point on a monotonic clock chosen by the caller, in milliseconds.
///
/// The Session never reads a clock: every call that can change timers takes `now`. Adapters
/// map their clock onto this one (std: milliseconds since the adapter started; embedded: the
/// HAL's tick). Keepalive is specified in seconds, so milliseconds are ample, and `u64`
/// milliseconds never wrap in practice.
///
/// ```
/// use core::time::Duration;
/// use mqtt_sansio_session::Instant;
/// let t = Instant::from_millis(1_000);
/// assert_eq!(t.checked_add(Duration::from_secs(2)), Some(Instant::from_millis(3_000)));
/// assert_eq!(t.saturating_duration_since(Instant::from_millis(5_000)), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The start of the caller's clock.
    pub const ZERO: Self = Self(0);

    /// The instant `ms` milliseconds after the start of the caller's clock.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the start of the caller's clock.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + d`, or `None` on overflow.
    // Out of line: `Duration::as_millis` is a `u128` multiplication, and inlined at each of
    // the Session's deadlines it took 250 B of a firmware image more (issue 15).
    #[inline(never)]
    pub fn checked_add(self, d: Duration) -> Option<Self> {
        let ms = u64::try_from(d.as_millis()).ok()?;
        self.0.checked_add(ms).map(Self)
    }

    /// `self + d`, saturating at the far future.
    // Out of line for the same reason as `checked_add`: eight deadlines use it.
    #[inline(never)]
    pub fn saturating_add(self, d: Duration) -> Self {
        self.checked_add(d).unwrap_or(Self(u64::MAX))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}
