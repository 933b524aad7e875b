//! Giving up outgoing messages on request: a message the broker keeps rejecting (SPEC
//! "Exactly once, bounded") and a message the application cancels before it was sent.

use mqtt_sansio_proto::{PacketId, QoS, ReasonCode};

use crate::error::{CancelError, PublishFailure};
use crate::event::Event;
use crate::outgoing::OutgoingState;
use crate::time::Instant;

use super::*;

impl Session {
    /// The message the broker most likely rejected with its last DISCONNECT, with that
    /// DISCONNECT's reason code.
    ///
    /// Recorded when a 5.0 DISCONNECT with an error reason (>= 0x80) arrives: the oldest
    /// outgoing message sent on that connection and still awaiting PUBACK or PUBREC. The
    /// broker acknowledges in order, so every message sent before it was acknowledged first
    /// (in the same read or earlier). Whether it really caused the DISCONNECT cannot be
    /// known from one connection: a client layer counts how many connections in a row end
    /// with the same candidate and calls [`abandon_publish`](Self::abandon_publish) past its
    /// bound (SPEC "Exactly once, bounded": a message the broker keeps rejecting fails after
    /// a bounded number of attempts, never resent forever).
    ///
    /// Valid until the next [`connect`](Self::connect); `None` when the connection ended any
    /// other way, when nothing sent was awaiting an acknowledgement, or once the message was
    /// abandoned. 3.1.1 brokers send no DISCONNECT, so it is always `None` there.
    pub fn rejected_candidate(&self) -> Option<(PacketId, ReasonCode)> {
        self.rejected_candidate
    }

    /// Gives up the outgoing message `id` because the broker keeps rejecting it: removes it
    /// from the in-flight window or the queue, emits [`Event::PublishFailed`] with
    /// [`PublishFailure::Rejected`] carrying `reason` (the broker's), and lets the messages
    /// behind it flow. Returns false, changing nothing, when `id` is no outgoing message or
    /// its PUBREL already went out (the broker then holds the message: it must be completed,
    /// never dropped (§4.3.3)).
    ///
    /// The packet identifier is free again, except for a QoS 2 message published before on
    /// a broker session that may still hold it unreleased: that id stays reserved until the
    /// broker's session ends, as for every failed QoS 2 publish (see
    /// [`Event::PublishFailed`]), so that a new message under it cannot be taken there for a
    /// duplicate. Meant for a client layer between connections (after an error DISCONNECT,
    /// see [`rejected_candidate`](Self::rejected_candidate)); an acknowledgement with an
    /// error reason (>= 0x80) already ends the flow on its own, as [`Event::PubAck`] /
    /// [`Event::PubRec`] with that reason.
    pub fn abandon_publish(&mut self, now: Instant, id: PacketId, reason: ReasonCode) -> bool {
        self.advance(now);
        let qos = if let Some(i) = self.find_outgoing(id) {
            let Some(o) = self.outgoing.get(i) else {
                return false;
            };
            let qos = match &o.state {
                OutgoingState::AwaitingAck(m) => m.qos,
                OutgoingState::AwaitingPubComp => return false,
            };
            let hold = qos == QoS::ExactlyOnce && o.published_before;
            let Some(o) = self.outgoing.remove(i) else {
                return false;
            };
            if !o.sent_on_connection {
                self.unsent = self.unsent.saturating_sub(1);
            }
            if hold {
                self.held_ids.push(id);
            } else {
                self.ids.remove(id);
            }
            qos
        } else if let Some(qos) = self.take_queued(id) {
            // Never sent: nobody else knows this id.
            self.ids.remove(id);
            qos
        } else {
            return false;
        };
        self.persist_completed(id);
        if self.rejected_candidate.is_some_and(|(c, _)| c == id) {
            self.rejected_candidate = None;
        }
        self.emit(Event::PublishFailed {
            id: Some(id),
            qos,
            reason: PublishFailure::Rejected { reason },
        });
        self.pump();
        self.unblock_if_room();
        true
    }

    /// Cancels the QoS 1/2 publish `id` before it was ever transmitted: still in the queue,
    /// or in the in-flight window but not yet handed out on any connection. Emits
    /// [`Event::PublishFailed`] with [`PublishFailure::Cancelled`] and frees the id.
    ///
    /// [`CancelError::AlreadySent`] once the PUBLISH went out (even to a broker session
    /// since lost): the broker may have delivered it, so it can only complete or fail.
    /// [`CancelError::NotFound`] for an id that is no outgoing message. A queued QoS 0
    /// publish has no packet identifier and cannot be named here.
    pub fn cancel_publish(&mut self, now: Instant, id: PacketId) -> Result<(), CancelError> {
        self.advance(now);
        let qos = if let Some(i) = self.find_outgoing(id) {
            let Some(o) = self.outgoing.get(i) else {
                return Err(CancelError::NotFound);
            };
            let qos = match &o.state {
                OutgoingState::AwaitingAck(m) if !o.ever_sent && !o.sent_on_connection => m.qos,
                _ => return Err(CancelError::AlreadySent),
            };
            if self.outgoing.remove(i).is_some() {
                self.unsent = self.unsent.saturating_sub(1);
            }
            qos
        } else if let Some(qos) = self.take_queued(id) {
            qos
        } else {
            return Err(CancelError::NotFound);
        };
        self.ids.remove(id);
        self.persist_completed(id);
        self.emit(Event::PublishFailed {
            id: Some(id),
            qos,
            reason: PublishFailure::Cancelled,
        });
        self.pump();
        self.unblock_if_room();
        Ok(())
    }

    /// The oldest outgoing message transmitted on this connection and still awaiting PUBACK
    /// or PUBREC (see [`rejected_candidate`](Self::rejected_candidate)).
    pub(super) fn oldest_unacknowledged_sent(&self) -> Option<PacketId> {
        self.outgoing
            .iter()
            .find(|o| o.sent_on_connection && matches!(o.state, OutgoingState::AwaitingAck(_)))
            .map(|o| o.id)
    }

    /// Removes the queued publish `id`; returns its QoS.
    fn take_queued(&mut self, id: PacketId) -> Option<QoS> {
        let i = self.queued.iter().position(|m| m.packet_id == Some(id))?;
        self.queued.remove(i).map(|m| m.qos)
    }
}
