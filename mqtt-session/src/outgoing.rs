//! The states of outgoing QoS 1/2 messages and subscription requests.

use alloc::string::String;
use alloc::vec::Vec;

use mqtt_sansio_proto::{PacketId, SubscriptionOptions};

use crate::message::Message;

/// Where an outgoing QoS 1/2 message is in its flow. The message body is kept only while a
/// resend of the PUBLISH may still be needed.
#[derive(Clone, Debug)]
// The names follow the QoS flows of the specification: "awaiting PUBACK", ...
#[allow(clippy::enum_variant_names)]
pub(crate) enum OutgoingState {
    /// PUBLISH sent (or to be sent); waiting for PUBACK (QoS 1) or PUBREC (QoS 2): the
    /// message's QoS says which. One variant for both, so the state is the message itself
    /// (the box pointer's niche tags `AwaitingPubComp`), four bytes less per in-flight entry
    /// on a 32-bit target (issue 15: RAM per session).
    AwaitingAck(Message),
    /// PUBREC received and PUBREL sent; waiting for PUBCOMP. The payload is gone: once
    /// PUBREL was sent, the PUBLISH must never be sent again (§4.3.3), only the PUBREL.
    AwaitingPubComp,
}

/// One outgoing QoS 1/2 message in the in-flight window, kept in original send order so
/// resends after a reconnect go out in that order [MQTT-4.6.0-1].
#[derive(Clone, Debug)]
pub(crate) struct Outgoing {
    pub(crate) id: PacketId,
    pub(crate) state: OutgoingState,
    /// The PUBLISH went out on some connection before: the next one carries DUP
    /// [MQTT-3.3.1-1]. (PUBREL never carries DUP: its flags are fixed [MQTT-3.6.1-1].)
    pub(crate) published_before: bool,
    /// Transmitted on the current connection (so it counts against the window).
    pub(crate) sent_on_connection: bool,
    /// The PUBLISH went out on some connection, even one to a broker session since lost
    /// (which clears `published_before`): such a message may have been delivered, so it
    /// can no longer be cancelled.
    pub(crate) ever_sent: bool,
}

/// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgement.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) id: PacketId,
    pub(crate) kind: RequestKind,
    /// Raw MQTT 5.0 properties of the request.
    pub(crate) properties: Vec<u8>,
    pub(crate) sent_on_connection: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum RequestKind {
    Subscribe(Vec<(String, SubscriptionOptions)>),
    Unsubscribe(Vec<String>),
}
