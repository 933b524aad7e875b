//! What the Session reports: [`Event`], and the [`Command`] each event is dispatched under.

use alloc::boxed::Box;

use mqtt_sansio_proto::{PacketId, QoS, ReasonCode};
use smallvec::SmallVec;

use crate::ack_properties::{AckProperties, ConnAckProperties, ServerReference};
use crate::error::{DisconnectReason, PublishFailure, RequestFailure};
use crate::message::Message;

/// The control packet kinds that callbacks are registered for (the seed's `command`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    /// CONNACK received (5.0 users; also fires for 3.1.1).
    ConnAck,
    /// PUBLISH received: data carries the message for QoS 0 and 1, only the id for QoS 2 —
    /// except a QoS 2 message past the held-message budget (`max_incoming_qos2` in 3.1.1,
    /// `max_incoming_qos2_bytes` in both versions), which arrives here, whole, exactly once,
    /// and is not delivered again on PUBREL.
    ///
    /// QoS 2 messages silently skip `on_if(Command::Publish, topic_condition)` handlers: they
    /// arrive as PubRel. To route messages by topic at every QoS, register for both commands
    /// ([`Dispatcher::on_topic`](crate::Dispatcher::on_topic), the clients' `on_topic`).
    Publish,
    /// PUBACK received.
    PubAck,
    /// PUBREC received.
    PubRec,
    /// PUBREL received: data carries the QoS 2 message, delivered now, exactly once (unless it
    /// overflowed the held-message budget: then it came on [`Command::Publish`]).
    PubRel,
    /// PUBCOMP received.
    PubComp,
    /// SUBACK received.
    SubAck,
    /// UNSUBACK received.
    UnsubAck,
    /// PINGREQ (a client never receives one; kept for the seed's command list).
    PingReq,
    /// PINGRESP received.
    PingResp,
    /// The connection ended (5.0: possibly with a DISCONNECT from the server).
    Disconnect,
    /// AUTH received (5.0).
    Auth,
    /// The broker did not resume the session the client held state for
    /// ([`Event::SessionLost`]). Not a packet kind: it has a command so that callback users
    /// can learn of the loss (and resubscribe, or count unconfirmed messages) without reading
    /// the event queue themselves.
    SessionLost,
}

/// Something that happened, returned by [`Session::poll_event`](crate::Session::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected {
        /// Whether the broker resumed a stored session.
        session_present: bool,
        /// Everything the 5.0 CONNACK said about the connection (empty in 3.1.1). Boxed:
        /// it is large and comes once per connection.
        properties: Box<ConnAckProperties>,
    },
    /// The broker did not resume the session the client holds state for (clean session, or
    /// the broker lost it). Unacknowledged publishes are being sent again as new messages.
    SessionLost {
        /// How many outgoing messages are sent again from the start.
        resent: usize,
        /// QoS 2 messages the broker had received (PUBREC) but not completed; they are not
        /// sent again, since that could deliver them twice. Each was reported just before
        /// this event as [`Event::PublishFailed`] with
        /// [`PublishFailure::Unconfirmed`](crate::PublishFailure::Unconfirmed).
        unconfirmed: usize,
        /// Incoming QoS 2 messages whose PUBREL will now never come; they are delivered as
        /// [`Event::MessageReleased`] just before this event.
        released: usize,
    },
    /// CONNACK refused the connection.
    ConnectRefused {
        /// The broker's reason (a 3.1.1 return code maps onto its 5.0 equivalent).
        reason: ReasonCode,
        /// 5.0: where to connect instead (reason 0x9C Use another server, 0x9D Server moved).
        server_reference: Option<ServerReference>,
        /// 5.0: the CONNACK's reason string and user properties.
        properties: AckProperties,
    },
    /// An application message arrived (on PUBLISH): QoS 0 or 1, or QoS 2 past the
    /// held-message budget (`SessionConfig::max_incoming_qos2` in 3.1.1,
    /// `max_incoming_qos2_bytes` in both versions). Such a QoS 2 message is delivered here
    /// exactly once; only its packet id is kept until PUBREL, and no
    /// [`Event::MessageReleased`] follows (SPEC "Exactly once, bounded").
    Message(Message),
    /// A QoS 2 PUBLISH arrived and is stored until the broker releases it.
    Qos2Received {
        /// Its packet identifier.
        id: PacketId,
    },
    /// A QoS 2 message was released (on PUBREL) and is delivered now, exactly once.
    MessageReleased(Message),
    /// PUBACK for one of our QoS 1 publishes.
    PubAck {
        /// The publish's packet identifier.
        id: PacketId,
        /// The broker's reason code (always Success in 3.1.1).
        reason: ReasonCode,
        /// 5.0: the acknowledgement's reason string and user properties.
        properties: AckProperties,
    },
    /// PUBREC for one of our QoS 2 publishes. With an error reason (5.0) the flow ends here.
    PubRec {
        /// The publish's packet identifier.
        id: PacketId,
        /// The broker's reason code.
        reason: ReasonCode,
        /// 5.0: the acknowledgement's reason string and user properties.
        properties: AckProperties,
    },
    /// PUBCOMP: one of our QoS 2 publishes is complete.
    PubComp {
        /// The publish's packet identifier.
        id: PacketId,
        /// The broker's reason code.
        reason: ReasonCode,
        /// 5.0: the acknowledgement's reason string and user properties.
        properties: AckProperties,
    },
    /// SUBACK: one code per requested filter, in order.
    SubAck {
        /// The SUBSCRIBE's packet identifier.
        id: PacketId,
        /// Granted QoS (as `Success`, `GrantedQoS1`, `GrantedQoS2`) or a failure code.
        results: SmallVec<[ReasonCode; 4]>,
        /// 5.0: the acknowledgement's reason string and user properties.
        properties: AckProperties,
    },
    /// UNSUBACK (5.0: one code per filter; 3.1.1: empty).
    UnsubAck {
        /// The UNSUBSCRIBE's packet identifier.
        id: PacketId,
        /// Reason codes (5.0 only).
        results: SmallVec<[ReasonCode; 4]>,
        /// 5.0: the acknowledgement's reason string and user properties.
        properties: AckProperties,
    },
    /// PINGRESP arrived.
    PingResp,
    /// Enhanced authentication (5.0): the broker sent a challenge (AUTH 0x18) and the
    /// authenticator's answer is queued. The data stays between the two: it is secret.
    AuthContinue {
        /// Whether the exchange is a re-authentication (else it precedes CONNACK).
        reauthentication: bool,
    },
    /// Enhanced authentication (5.0) succeeded and the broker's final data was verified by
    /// the authenticator: on CONNACK (just before [`Event::Connected`]) or, for a
    /// re-authentication, on the broker's AUTH 0x00.
    Authenticated {
        /// Whether this ends a re-authentication started by
        /// [`Session::reauthenticate`](crate::Session::reauthenticate).
        reauthentication: bool,
    },
    /// A publish the Session had accepted was given up (it was removed from the queue or the
    /// window and will never be sent again); a QoS 1/2 publish gets no other completion.
    PublishFailed {
        /// The publish's packet identifier (`None` for QoS 0), free again (a QoS 2 one
        /// that a resumed broker session may still hold stays reserved until that session
        /// ends, so a new message cannot be mistaken there for a duplicate).
        id: Option<PacketId>,
        /// The QoS it was published with (which completion it replaces: PUBACK or PUBCOMP).
        qos: QoS,
        /// Why.
        reason: PublishFailure,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE the Session had accepted was given up; no SUBACK or
    /// UNSUBACK will come for it.
    RequestFailed {
        /// The request's packet identifier, free again.
        id: PacketId,
        /// [`Command::SubAck`] for a SUBSCRIBE, [`Command::UnsubAck`] for an UNSUBSCRIBE: the
        /// acknowledgement this failure stands in for.
        command: Command,
        /// Why.
        reason: RequestFailure,
    },
    /// The in-flight window or the queue has room again after a publish was refused.
    PublishUnblocked,
    /// The connection is over; emitted once per connection. Drain `poll_transmit` (it may
    /// hold a final DISCONNECT), then close the transport.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// 5.0: where to connect instead, from the broker's DISCONNECT or refusing CONNACK
        /// (reason 0x9C Use another server, 0x9D Server moved).
        server_reference: Option<ServerReference>,
        /// 5.0: the reason string and user properties of the broker's DISCONNECT or refusing
        /// CONNACK; empty when the connection ended for any other cause.
        properties: AckProperties,
    },
}

impl Event {
    /// The command a callback for this event is registered under, if any.
    pub fn command(&self) -> Option<Command> {
        Some(match self {
            Self::Connected { .. } | Self::ConnectRefused { .. } => Command::ConnAck,
            Self::Message(_) | Self::Qos2Received { .. } => Command::Publish,
            Self::MessageReleased(_) => Command::PubRel,
            Self::PubAck { .. } => Command::PubAck,
            Self::PubRec { .. } => Command::PubRec,
            Self::PubComp { .. } => Command::PubComp,
            Self::SubAck { .. } => Command::SubAck,
            Self::UnsubAck { .. } => Command::UnsubAck,
            Self::PingResp => Command::PingResp,
            Self::AuthContinue { .. } | Self::Authenticated { .. } => Command::Auth,
            // A failure completes the flow in place of the acknowledgement, so a callback
            // waiting for that acknowledgement hears of it.
            Self::PublishFailed { qos, .. } => match qos {
                QoS::AtMostOnce => return None,
                QoS::AtLeastOnce => Command::PubAck,
                QoS::ExactlyOnce => Command::PubComp,
            },
            Self::RequestFailed { command, .. } => *command,
            Self::Disconnected { .. } => Command::Disconnect,
            Self::SessionLost { .. } => Command::SessionLost,
            Self::PublishUnblocked => return None,
        })
    }

    /// The application message this event carries, if any.
    pub fn message(&self) -> Option<&Message> {
        match self {
            Self::Message(m) | Self::MessageReleased(m) => Some(m),
            _ => None,
        }
    }

    /// The packet identifier this event concerns (the seed's `mid`), if any.
    pub fn packet_id(&self) -> Option<PacketId> {
        match self {
            Self::Message(m) | Self::MessageReleased(m) => m.packet_id,
            Self::Qos2Received { id }
            | Self::PubAck { id, .. }
            | Self::PubRec { id, .. }
            | Self::PubComp { id, .. }
            | Self::SubAck { id, .. }
            | Self::UnsubAck { id, .. }
            | Self::RequestFailed { id, .. } => Some(*id),
            Self::PublishFailed { id, .. } => *id,
            _ => None,
        }
    }

    /// The reason string and user properties of the broker's packet behind this event
    /// (acknowledgements, a refusing CONNACK, DISCONNECT), if the event has them.
    pub fn ack_properties(&self) -> Option<&AckProperties> {
        match self {
            Self::ConnectRefused { properties, .. }
            | Self::PubAck { properties, .. }
            | Self::PubRec { properties, .. }
            | Self::PubComp { properties, .. }
            | Self::SubAck { properties, .. }
            | Self::UnsubAck { properties, .. }
            | Self::Disconnected { properties, .. } => Some(properties),
            _ => None,
        }
    }

    /// The broker's Server Reference (5.0: CONNACK or DISCONNECT 0x9C / 0x9D), if any.
    pub fn server_reference(&self) -> Option<&ServerReference> {
        match self {
            Self::ConnectRefused {
                server_reference, ..
            }
            | Self::Disconnected {
                server_reference, ..
            } => server_reference.as_ref(),
            Self::Connected { properties, .. } => properties.server_reference.as_ref(),
            _ => None,
        }
    }

    /// The reason or return code this event carries, if any.
    pub fn reason(&self) -> Option<ReasonCode> {
        match self {
            Self::ConnectRefused { reason, .. }
            | Self::PubAck { reason, .. }
            | Self::PubRec { reason, .. }
            | Self::PubComp { reason, .. } => Some(*reason),
            Self::Connected { .. } => Some(ReasonCode::Success),
            Self::PublishFailed { reason, .. } => Some(reason.reason_code()),
            Self::RequestFailed { reason, .. } => Some(reason.reason_code()),
            _ => None,
        }
    }
}
