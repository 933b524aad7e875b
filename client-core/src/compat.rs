//! The Session calls the core makes for issue 10's client support (piece 1 in
//! mqtt-sansio-session), in one place.

use mqtt_sansio_proto::{PacketId, ReasonCode};
use mqtt_sansio_session::{DisconnectReason, Instant, PublishFailure, Session};

pub use mqtt_sansio_session::CancelError;

use crate::completion::Failure;

/// The local reason recorded when the application asked for a reconnection.
pub(crate) const RECONNECT_REQUESTED: DisconnectReason = DisconnectReason::ReconnectRequested;

/// Ends the connection without DISCONNECT, reporting `reason`.
pub(crate) fn close(session: &mut Session, now: Instant, reason: DisconnectReason) {
    session.close(now, reason);
}

/// The publish the broker's error DISCONNECT refused: the oldest sent on that connection and
/// not acknowledged (the broker acknowledges in order).
pub(crate) fn rejected_candidate(session: &Session) -> Option<(PacketId, ReasonCode)> {
    session.rejected_candidate()
}

/// Gives up a publish the broker keeps refusing; its `PublishFailed { Rejected }` follows.
pub(crate) fn abandon_publish(
    session: &mut Session,
    now: Instant,
    id: PacketId,
    reason: ReasonCode,
) -> bool {
    session.abandon_publish(now, id, reason)
}

/// Removes a publish never sent; its `PublishFailed { Cancelled }` follows.
pub(crate) fn cancel_publish(
    session: &mut Session,
    now: Instant,
    id: PacketId,
) -> Result<(), CancelError> {
    session.cancel_publish(now, id)
}

/// What a `PublishFailed` means for its completion. `attempts` is the poison count when the
/// core itself gave the message up.
pub(crate) fn failure_of(reason: PublishFailure, attempts: u32) -> Failure {
    match reason {
        // SPEC "Exactly once, bounded": PUBREC'd, then the broker's session was lost.
        PublishFailure::Unconfirmed => Failure::SessionLost,
        PublishFailure::Rejected { reason } => Failure::Rejected { reason, attempts },
        PublishFailure::Cancelled => Failure::Cancelled,
        other => Failure::Dropped(other),
    }
}
