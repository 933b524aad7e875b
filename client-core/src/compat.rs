//! Calls into the parts of the Session API that branch `p1-session` adds (issue 10, piece 1).
//!
//! SHIM(p1-session): the functions marked so stand in for Session calls that branch has not
//! delivered yet (rejected candidate, abandon, cancel), with the closest behaviour the current
//! Session allows. When they land, replace each body with the real call; nothing outside
//! this file needs to change.

use mqtt_proto::{PacketId, ReasonCode};
use mqtt_session::{DisconnectReason, Instant, PublishFailure, Session};

use crate::completion::Failure;

/// Why a cancel was refused (SHIM(p1-session): becomes `mqtt_session::CancelError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelError {
    /// No queued publish has this token (finished, or never had a packet identifier).
    NotFound,
    /// The publish was already sent at least once: the broker may hold it.
    AlreadySent,
}

impl core::fmt::Display for CancelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotFound => "no queued publish with this token",
            Self::AlreadySent => "the publish was already sent; the broker may hold it",
        })
    }
}

/// The local reason recorded when the application asked for a reconnection.
pub(crate) const RECONNECT_REQUESTED: DisconnectReason = DisconnectReason::ReconnectRequested;

/// Ends the connection without DISCONNECT, reporting `reason`.
pub(crate) fn close(session: &mut Session, now: Instant, reason: DisconnectReason) {
    session.close(now, reason);
}

/// The publish the broker's error DISCONNECT refused.
/// SHIM(p1-session): becomes `session.rejected_candidate()`.
pub(crate) fn rejected_candidate(_session: &Session) -> Option<(PacketId, ReasonCode)> {
    None
}

/// Gives up a publish the broker keeps refusing.
/// SHIM(p1-session): becomes `session.abandon_publish(now, id, reason)`.
pub(crate) fn abandon_publish(
    _session: &mut Session,
    _now: Instant,
    _id: PacketId,
    _reason: ReasonCode,
) -> bool {
    false
}

/// Removes a publish not yet sent.
/// SHIM(p1-session): becomes `session.cancel_publish(now, id)`.
pub(crate) fn cancel_publish(
    _session: &mut Session,
    _now: Instant,
    _id: PacketId,
) -> Result<(), CancelError> {
    Err(CancelError::NotFound)
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
