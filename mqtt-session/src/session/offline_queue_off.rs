//! Without the cargo feature `offline-queue`: no publish ever waits for a connection or for
//! room in the window, so the queue is an empty type and every publish that would have waited
//! is refused (`PublishError::QueueFull`), as with `SessionConfig::max_queued = 0`. The
//! flows keep calling the queue's methods; here they are constants the optimiser removes,
//! taking the queue's code out of the firmware (issue 15).

use core::convert::Infallible;

use crate::message::Message;
use crate::time::Instant;

use super::*;

/// The queue that is always empty.
#[derive(Debug, Default)]
pub(super) struct OfflineQueue {}

impl OfflineQueue {
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        0
    }

    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        true
    }

    #[inline(always)]
    pub(super) fn front(&self) -> Option<&Message> {
        None
    }

    #[inline(always)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Message> {
        core::iter::empty()
    }

    #[inline(always)]
    pub(super) fn clear_dup(&mut self) {}

    #[inline(always)]
    pub(super) fn pop_front(&mut self, _now: Instant) -> Option<Message> {
        None
    }

    #[inline(always)]
    pub(super) fn remove(&mut self, _index: usize) -> Option<Message> {
        None
    }

    #[inline(always)]
    pub(super) fn retain(&mut self, _keep: impl FnMut(&Message) -> bool) {}

    #[inline(always)]
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        None
    }
}

/// Room in the queue for one more publish: there never is, so no value of this type exists
/// and the compiler proves that nothing is queued.
#[derive(Clone, Copy, Debug)]
pub(super) struct RoomPlan(Infallible);

impl Session {
    /// Publishes waiting to enter the window: always 0 without the cargo feature
    /// `offline-queue` (nothing is ever queued).
    pub fn queued_bytes(&self) -> usize {
        0
    }

    /// When the next queued message's 5.0 Message Expiry Interval passes: always `None`
    /// without the cargo feature `offline-queue` (nothing is ever queued).
    pub fn next_queue_expiry(&self) -> Option<Instant> {
        None
    }

    /// No room, ever: a publish that cannot go into the window is refused.
    #[inline(always)]
    pub(super) fn queue_room_plan(&self, _len: usize) -> Option<RoomPlan> {
        None
    }

    #[inline(always)]
    pub(super) fn enqueue(&mut self, plan: RoomPlan, _message: Message) {
        match plan.0 {}
    }

    /// Nothing is queued, so nothing expires.
    #[inline(always)]
    pub(super) fn expire_queued(&mut self) {}
}
