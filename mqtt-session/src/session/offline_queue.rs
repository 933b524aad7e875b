//! The queue of publishes waiting for a connection or for room in the window: bounded by
//! count and bytes, with a visible policy when full ([`QueuePolicy`]), and 5.0 Message
//! Expiry honoured while queued.

use alloc::collections::VecDeque;
use core::time::Duration;

use mqtt_sansio_proto::{PropertiesBuf, Property, QoS};

use crate::error::PublishFailure;
use crate::event::Event;
use crate::message::Message;
use crate::offline_queue::QueuePolicy;
use crate::time::Instant;

use super::*;

/// Room in the queue for one more publish: how many of the oldest queued QoS 0 messages
/// must be dropped first (see [`Session::queue_room_plan`]). Only the queue hands one out.
#[derive(Clone, Copy, Debug)]
pub(super) struct RoomPlan {
    drop: usize,
}

/// One queued publish and when it expires (5.0 Message Expiry Interval).
#[derive(Debug)]
struct Queued {
    message: Message,
    expires_at: Option<Instant>,
}

/// The queue itself, with the totals its bounds are checked against.
#[derive(Debug, Default)]
pub(super) struct OfflineQueue {
    items: VecDeque<Queued>,
    /// Bytes of topic, properties and payload queued.
    bytes: usize,
    /// Queued messages with an expiry: when 0 (always in 3.1.1) nothing is scanned.
    expiring: usize,
}

impl OfflineQueue {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(super) fn front(&self) -> Option<&Message> {
        self.items.front().map(|q| &q.message)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Message> {
        self.items.iter().map(|q| &q.message)
    }

    /// A new broker session: nothing queued was sent to it (see `requeue_past_window`, the
    /// only source of a queued message marked as possibly sent).
    pub(super) fn clear_dup(&mut self) {
        for q in &mut self.items {
            q.message.dup = false;
        }
    }

    /// Queues `message` at `now`; its expiry counts from now.
    pub(super) fn push_back(&mut self, message: Message, now: Instant) {
        let expires_at = message
            .properties()
            .message_expiry_interval()
            .map(|secs| now.saturating_add(Duration::from_secs(u64::from(secs))));
        self.bytes += message.stored_len();
        self.expiring += usize::from(expires_at.is_some());
        self.items.push_back(Queued {
            message,
            expires_at,
        });
    }

    fn take(&mut self, q: Queued) -> Queued {
        self.bytes = self.bytes.saturating_sub(q.message.stored_len());
        self.expiring = self
            .expiring
            .saturating_sub(usize::from(q.expires_at.is_some()));
        q
    }

    /// The oldest message, with its Message Expiry Interval set to what remains at `now`
    /// [MQTT-3.3.2-6]: the receiver must not see more time than the message has left.
    pub(super) fn pop_front(&mut self, now: Instant) -> Option<Message> {
        let q = self.items.pop_front()?;
        let q = self.take(q);
        Some(match q.expires_at {
            Some(at) => with_remaining_expiry(q.message, at, now),
            None => q.message,
        })
    }

    pub(super) fn remove(&mut self, index: usize) -> Option<Message> {
        let q = crate::vec_map::remove_at(&mut self.items, index)?;
        Some(self.take(q).message)
    }

    pub(super) fn retain(&mut self, mut keep: impl FnMut(&Message) -> bool) {
        let mut removed_bytes = 0;
        let mut removed_expiring = 0;
        // One pass through the queue shared with the Session's other queues (no second
        // `VecDeque::retain` instance in the image: issue 15).
        crate::vec_map::retain_queue(&mut self.items, &mut |q| {
            let k = keep(&q.message);
            if !k {
                removed_bytes += q.message.stored_len();
                removed_expiring += usize::from(q.expires_at.is_some());
            }
            k
        });
        self.bytes = self.bytes.saturating_sub(removed_bytes);
        self.expiring = self.expiring.saturating_sub(removed_expiring);
    }

    /// When the next queued message expires.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        if self.expiring == 0 {
            return None;
        }
        self.items.iter().filter_map(|q| q.expires_at).min()
    }
}

/// `ms` milliseconds in whole seconds, rounded up, saturating at `u32::MAX`.
///
/// In 32-bit steps: a 64-bit division links the compiler's 64-bit division routine, about
/// 900 B of flash on a 32-bit microcontroller (issue 15), for the one place that needs it.
fn whole_seconds_rounded_up(ms: u64) -> u32 {
    const MAX_MS: u64 = u32::MAX as u64 * 1000;
    if ms > MAX_MS {
        return u32::MAX;
    }
    // Long division by 1000 in 16-bit digits: `ms` < 2^42, so the high word is below 1000
    // and every partial dividend below 2^26.
    let high = (ms >> 32) as u32;
    let low = ms as u32;
    let upper = (high << 16) | (low >> 16);
    let (q1, r1) = (upper / 1000, upper % 1000);
    let lower = (r1 << 16) | (low & 0xffff);
    let (q0, r0) = (lower / 1000, lower % 1000);
    let secs = (q1 << 16) | q0;
    // `ms` <= u32::MAX * 1000, so `secs` < u32::MAX whenever a remainder is left.
    secs + u32::from(r0 != 0)
}

/// `message` with its Message Expiry Interval replaced by the whole seconds that remain
/// until `at`, rounded up (a message not yet expired never goes out with 0).
fn with_remaining_expiry(message: Message, at: Instant, now: Instant) -> Message {
    let props = message.properties();
    let Some(original) = props.message_expiry_interval() else {
        return message;
    };
    let left_ms = at.as_millis().saturating_sub(now.as_millis());
    let left = whole_seconds_rounded_up(left_ms).clamp(1, original.max(1));
    if left == original {
        return message;
    }
    let mut buf = PropertiesBuf::new();
    for p in props.iter() {
        let p = match p {
            Property::MessageExpiryInterval(_) => Property::MessageExpiryInterval(left),
            other => other,
        };
        // The properties were valid and the new value is smaller: this cannot fail, and
        // if it did the original message goes out unchanged rather than a broken one.
        if buf.push(p).is_err() {
            return message;
        }
    }
    Message::build(
        message.topic_name(),
        buf.as_properties(),
        message.payload(),
        message.qos,
        message.retain,
        message.dup,
        message.packet_id,
    )
}

impl Session {
    /// Publishes waiting to enter the window: their bytes (topic, properties and payload),
    /// at most [`SessionConfig::max_queued_bytes`]. Always 0 without the cargo feature
    /// `offline-queue`.
    pub fn queued_bytes(&self) -> usize {
        self.queued.bytes()
    }

    /// When the next queued message's 5.0 Message Expiry Interval passes: call
    /// [`handle_timeout`](Self::handle_timeout) then to have it dropped and reported
    /// ([`Event::PublishFailed`] with [`PublishFailure::Expired`]). While connected
    /// [`poll_timeout`](Self::poll_timeout) includes it; while disconnected it does not
    /// (no connection timer runs then), so a transport that is offline for long waits for
    /// this too. Expired messages are also dropped, at the latest, by the next `publish`
    /// or connection, never sent. Always `None` without the cargo feature `offline-queue`.
    pub fn next_queue_expiry(&self) -> Option<Instant> {
        self.queued.next_expiry()
    }

    /// Whether one more message of `len` stored bytes fits in the queue.
    pub(super) fn queue_has_room(&self, len: usize) -> bool {
        self.queued.len() < self.config.max_queued
            && self.queued.bytes().saturating_add(len) <= self.config.max_queued_bytes
    }

    /// How many of the oldest queued QoS 0 messages must be dropped to make room for a
    /// message of `len` stored bytes; `None` when the policy does not allow making room
    /// ([`QueuePolicy::RefuseNew`]) or dropping every queued QoS 0 message would not be
    /// enough (QoS 1/2 messages are never dropped).
    pub(super) fn queue_room_plan(&self, len: usize) -> Option<RoomPlan> {
        if self.queue_has_room(len) {
            return Some(RoomPlan { drop: 0 });
        }
        if self.config.queue_policy != QueuePolicy::DropOldestQos0 {
            return None;
        }
        let max_bytes = self.config.max_queued_bytes;
        let mut count = self.queued.len();
        let mut bytes = self.queued.bytes();
        let mut drop = 0;
        for m in self.queued.iter().filter(|m| m.qos == QoS::AtMostOnce) {
            if count < self.config.max_queued && bytes.saturating_add(len) <= max_bytes {
                break;
            }
            count -= 1;
            bytes = bytes.saturating_sub(m.stored_len());
            drop += 1;
        }
        (count < self.config.max_queued && bytes.saturating_add(len) <= max_bytes)
            .then_some(RoomPlan { drop })
    }

    /// Queues `message` at `self.now`, making room as `plan` says.
    pub(super) fn enqueue(&mut self, plan: RoomPlan, message: Message) {
        self.drop_oldest_qos0(plan.drop);
        self.queued.push_back(message, self.now);
    }

    /// Drops the `n` oldest queued QoS 0 messages (a plan of
    /// [`queue_room_plan`](Self::queue_room_plan)), each reported as [`Event::PublishFailed`]
    /// with [`PublishFailure::DroppedForNewer`].
    fn drop_oldest_qos0(&mut self, mut n: usize) {
        if n == 0 {
            return;
        }
        let events = &mut self.events;
        self.queued.retain(|m| {
            if n > 0 && m.qos == QoS::AtMostOnce {
                n -= 1;
                events.push_back(Event::PublishFailed {
                    id: None,
                    qos: QoS::AtMostOnce,
                    reason: PublishFailure::DroppedForNewer,
                });
                return false;
            }
            true
        });
    }

    /// Drops the queued messages whose Message Expiry Interval has passed at `self.now`,
    /// each reported as [`Event::PublishFailed`] with [`PublishFailure::Expired`]; their
    /// packet ids are free again (they were never sent).
    pub(super) fn expire_queued(&mut self) {
        let now = self.now;
        if self.queued.next_expiry().is_none_or(|at| at > now) {
            return;
        }
        let mut expired = VecDeque::new();
        let items = core::mem::take(&mut self.queued.items);
        for q in items {
            if q.expires_at.is_some_and(|at| at <= now) {
                expired.push_back(q);
            } else {
                self.queued.items.push_back(q);
            }
        }
        for q in expired {
            let q = self.queued.take(q);
            if let Some(id) = q.message.packet_id {
                self.ids.remove(id);
                // A finished flow for the session store too: not resent after a restart.
                self.persist_completed(id);
            }
            self.emit(Event::PublishFailed {
                id: q.message.packet_id,
                qos: q.message.qos,
                reason: PublishFailure::Expired,
            });
        }
        self.unblock_if_room();
    }
}

#[cfg(test)]
mod tests {
    use super::whole_seconds_rounded_up;

    /// The 32-bit long division agrees with the 64-bit one it replaces.
    fn reference(ms: u64) -> u32 {
        u32::try_from(ms.div_ceil(1000)).unwrap_or(u32::MAX)
    }

    #[test]
    fn whole_seconds_match_64_bit_division_at_the_edges() {
        let max_ms = u64::from(u32::MAX) * 1000;
        for ms in [
            0,
            1,
            999,
            1000,
            1001,
            65_535_999,
            65_536_000,
            65_536_001,
            u64::from(u32::MAX),
            u64::from(u32::MAX) + 1,
            max_ms - 1001,
            max_ms - 1000,
            max_ms - 999,
            max_ms - 1,
            max_ms,
            max_ms + 1,
            u64::MAX,
        ] {
            assert_eq!(whole_seconds_rounded_up(ms), reference(ms), "{ms} ms");
        }
    }

    #[test]
    fn whole_seconds_match_64_bit_division_across_the_range() {
        // A fixed linear congruential sequence: reproducible, and it reaches every magnitude.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let ms = x >> (x % 40);
            assert_eq!(whole_seconds_rounded_up(ms), reference(ms), "{ms} ms");
        }
    }
}
