//! Manual acknowledgements: [`AckMode`], [`AckToken`] and [`AckError`].
//!
//! By default the Session acknowledges an incoming QoS 1/2 message (PUBACK / PUBREC) as soon
//! as it arrives, before the application has seen it. With [`AckMode::Manual`] the
//! acknowledgement waits until the application calls
//! [`Session::ack`](crate::Session::ack) with the message's token, so a message the
//! application never finished is redelivered by the broker after a reconnect.

use core::fmt;
#[cfg(feature = "manual-acks")]
use core::num::NonZeroU16;
use core::num::NonZeroU32;

use mqtt_sansio_proto::{PacketId, QoS};

/// When the Session acknowledges incoming QoS 1/2 messages.
///
/// [`Manual`](Self::Manual) exists only with the cargo feature `manual-acks` (on by
/// default); without it every message is acknowledged automatically.
///
/// ```
/// # #[cfg(feature = "manual-acks")] {
/// use core::num::NonZeroU16;
/// use mqtt_sansio_session::{AckMode, SessionConfig};
/// use mqtt_sansio_proto::ProtocolVersion;
/// let mut config = SessionConfig::new("worker-1", false, ProtocolVersion::V5);
/// config.acks = AckMode::manual(NonZeroU16::new(10).unwrap());
/// assert_eq!(config.acks.window(), Some(10));
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AckMode {
    /// PUBACK / PUBREC go out as soon as the PUBLISH arrives (the default, as in the seed).
    #[default]
    Automatic,
    /// PUBACK / PUBREC go out only when the application acknowledges the message with
    /// [`Session::ack`](crate::Session::ack), and always in the order the PUBLISH packets
    /// arrived [MQTT-4.6.0-2] / [MQTT-4.6.0-3]: an early acknowledgement waits for the
    /// messages before it.
    ///
    /// QoS 2 messages are handed over at PUBLISH (as [`Event::Message`](crate::Event::Message),
    /// with a token), and acknowledging one sends its PUBREC; from then on its packet id is
    /// kept until PUBREL, so a resent PUBLISH is not handed over again (exactly once). A
    /// message never acknowledged was not received as far as the broker knows: after a
    /// reconnect to the same session the broker sends it again and it is handed over again,
    /// with a new token.
    #[cfg(feature = "manual-acks")]
    Manual {
        /// Most messages handed over and not yet acknowledged on the wire. 5.0: the
        /// Receive Maximum the CONNECT carries is at most this, so the broker never sends
        /// more [MQTT-3.3.4-9] (a broker that does is closed with 0x93). 3.1.1: the broker
        /// cannot know it, so once it is reached the Session stops reading (see
        /// [`Session::wants_read`](crate::Session::wants_read)) until the application
        /// acknowledges; bytes already read wait, undecoded, in the Session.
        window: NonZeroU16,
    },
}

impl AckMode {
    /// Manual acknowledgements with at most `window` messages unacknowledged (cargo feature
    /// `manual-acks`).
    #[cfg(feature = "manual-acks")]
    pub const fn manual(window: NonZeroU16) -> Self {
        Self::Manual { window }
    }

    /// Whether acknowledgements wait for the application (never without the cargo feature
    /// `manual-acks`).
    pub const fn is_manual(&self) -> bool {
        match self {
            Self::Automatic => false,
            #[cfg(feature = "manual-acks")]
            Self::Manual { .. } => true,
        }
    }

    /// The window of manual acknowledgements, `None` when automatic (always without the
    /// cargo feature `manual-acks`).
    pub const fn window(&self) -> Option<u16> {
        match self {
            Self::Automatic => None,
            #[cfg(feature = "manual-acks")]
            Self::Manual { window } => Some(window.get()),
        }
    }
}

/// The handle to acknowledge one incoming QoS 1/2 message under [`AckMode::Manual`]: read
/// it with [`Message::ack_token`](crate::Message::ack_token) and pass it to
/// [`Session::ack`](crate::Session::ack).
///
/// It is valid on the connection the message arrived on; after that connection ends it is
/// stale (the broker sends the message again, with a new token) and acknowledging it is
/// [`AckError::Stale`]. It belongs to the `Session` value that handed it out. Two values
/// of one client (one rebuilt from a store after the other) both number their tokens from 1
/// unless started apart with
/// [`Session::start_ack_tokens_at`](crate::Session::start_ack_tokens_at), and a token
/// kept from the old value could then equal one of the new value's (same packet id and
/// QoS); mqtt-sansio-client starts each of its sessions at a random point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AckToken {
    /// The message's number in the Session's arrival order, so a stale token does not
    /// acknowledge a later message that happens to have the same packet id. 32 bits (the
    /// token rides on every [`Message`](crate::Message), held ones included: issue 15's RAM
    /// budget): a stale token could only match again after 2^32 further messages, and then
    /// only one with the same packet id and QoS, which `ack` checks too.
    pub(crate) seq: NonZeroU32,
    pub(crate) id: PacketId,
    pub(crate) qos: QoS,
}

impl AckToken {
    /// The packet identifier of the message.
    pub fn packet_id(&self) -> PacketId {
        self.id
    }

    /// The QoS of the message (1 or 2): whether acknowledging sends PUBACK or PUBREC.
    pub fn qos(&self) -> QoS {
        self.qos
    }
}

/// A [`Session::ack`](crate::Session::ack) that did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AckError {
    /// The token is not waiting for an acknowledgement: it was acknowledged already, or it
    /// belongs to a connection that has ended (the broker sends such a message again, with
    /// a new token, when it resumes the session).
    Stale,
}

impl fmt::Display for AckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stale => f.write_str(crate::error::text(
                "the acknowledgement token is stale: already acknowledged, or from a \
                 connection that has ended (the broker redelivers such a message with a new token)",
            )),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AckError {}
