//! [`QueuePolicy`]: what a publish meets when the offline queue is full.

/// What [`Session::publish`](crate::Session::publish) does when the queue of publishes
/// waiting for a connection (or for room in the window) is full: it holds at most
/// [`SessionConfig::max_queued`](crate::SessionConfig::max_queued) messages and
/// [`SessionConfig::max_queued_bytes`](crate::SessionConfig::max_queued_bytes) bytes.
///
/// No effect without the cargo feature `offline-queue` (on by default): nothing is queued
/// then, and a publish that would wait is refused with
/// [`PublishError::QueueFull`](crate::PublishError::QueueFull).
///
/// ```
/// use mqtt_sansio_session::{QueuePolicy, SessionConfig};
/// use mqtt_sansio_proto::ProtocolVersion;
/// let mut config = SessionConfig::new("meter-4", false, ProtocolVersion::V311);
/// config.max_queued_bytes = 64 * 1024;
/// config.queue_policy = QueuePolicy::DropOldestQos0;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum QueuePolicy {
    /// The new publish is refused with
    /// [`PublishError::QueueFull`](crate::PublishError::QueueFull) and nothing queued
    /// changes; [`Event::PublishUnblocked`](crate::Event::PublishUnblocked) follows when
    /// room frees up. The default.
    #[default]
    RefuseNew,
    /// The oldest queued QoS 0 messages are dropped, as many as it takes to make room, each
    /// reported as [`Event::PublishFailed`](crate::Event::PublishFailed) with
    /// [`PublishFailure::DroppedForNewer`](crate::PublishFailure::DroppedForNewer). QoS 1/2
    /// messages are never dropped: when dropping every queued QoS 0 message would not make
    /// room, the new publish is refused as with [`RefuseNew`](Self::RefuseNew) and nothing
    /// is dropped.
    DropOldestQos0,
}
