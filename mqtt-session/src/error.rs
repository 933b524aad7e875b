//! Errors: the peer's ([`ProtocolError`], reported through [`DisconnectReason`]) and the
//! caller's ([`PublishError`], [`SubscribeError`], [`ConnectError`]).

use core::fmt;
use core::time::Duration;

use crate::auth::AuthError;
use mqtt_sansio_proto::{DecodeError, EncodeError, QoS, ReasonCode, Rule, ValueError};

/// The broker broke a rule of the protocol. The Session closes the connection (5.0: with a
/// DISCONNECT carrying [`ProtocolError::reason_code`]) and keeps every unacknowledged message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProtocolError {
    /// The rule that was broken.
    pub rule: Rule,
    /// What was wrong, in words.
    pub what: &'static str,
    /// The MQTT 5.0 reason code for the DISCONNECT.
    pub reason_code: ReasonCode,
}

/// An error's words, or nothing with the `compact-errors` feature. Always inlined, so that with
/// the feature the literal is referenced nowhere and leaves the binary; the typed error and its
/// rule stay.
#[inline(always)]
pub(crate) const fn text(what: &'static str) -> &'static str {
    if cfg!(feature = "compact-errors") {
        ""
    } else {
        what
    }
}

impl ProtocolError {
    #[inline(always)]
    pub(crate) const fn new(rule: Rule, what: &'static str, reason_code: ReasonCode) -> Self {
        Self {
            rule,
            what: text(what),
            reason_code,
        }
    }
}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        let what = match e {
            DecodeError::Malformed { what, .. } | DecodeError::Protocol { what, .. } => what,
            DecodeError::PacketTooLarge { .. } => {
                text("packet larger than our maximum packet size")
            }
            DecodeError::UnsupportedProtocolVersion { .. } => text("unexpected protocol version"),
            _ => text("invalid packet"),
        };
        Self {
            rule: e.rule(),
            what,
            reason_code: e.reason_code(),
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the broker broke the protocol: {} [{}]",
            self.what, self.rule
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ProtocolError {}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The application called [`Session::disconnect`](crate::Session::disconnect).
    Local,
    /// The broker sent DISCONNECT (5.0) with this reason.
    Remote(ReasonCode),
    /// The broker broke the protocol.
    Protocol(ProtocolError),
    /// Nothing arrived from the broker within the keepalive timeout.
    KeepAliveTimeout,
    /// No CONNACK arrived within the CONNACK timeout.
    ConnAckTimeout,
    /// The broker refused the connection.
    Refused(ReasonCode),
    /// The transport reported the connection closed ([`Session::handle_closed`](crate::Session::handle_closed)).
    TransportClosed,
    /// The broker kept sending packets that need an answer (QoS 1/2 PUBLISH, PUBREL,
    /// PUBREC) while our answers were not taken with
    /// [`Session::poll_transmit`](crate::Session::poll_transmit): more than
    /// [`SessionConfig::max_transmit_bytes`](crate::SessionConfig::max_transmit_bytes) (at
    /// least 64 KiB) of them waited. A broker that respects its flow control (5.0 Receive
    /// Maximum, mosquitto's `max_inflight_messages`) never gets here; one that sends without
    /// reading would otherwise grow this buffer without bound.
    ReplyBacklog,
    /// Enhanced authentication (5.0) failed on our side: the authenticator refused a step,
    /// for example a SCRAM server signature that does not verify. The client sent DISCONNECT
    /// 0x80 (Unspecified error). A refusal by the broker is
    /// [`Refused`](Self::Refused) (CONNACK) or [`Remote`](Self::Remote) (DISCONNECT during
    /// a re-authentication).
    AuthFailed(AuthError),
    /// A packet from the broker started but did not complete within
    /// [`SessionConfig::packet_completion_timeout`](crate::SessionConfig::packet_completion_timeout)
    /// (default 1.5 x keepalive, or the CONNACK timeout before CONNACK). Its bytes trickled
    /// in too slowly or stopped: a stuck or hostile broker, or a link too slow for the
    /// packet sizes in use. The bytes received count as traffic, so keepalive alone would
    /// keep such a connection open forever (SPEC "Bad input and faults").
    IncompletePacket {
        /// Bytes of the packet received when the bound passed.
        received: usize,
        /// The bound that passed, counted from the packet's first byte.
        after: Duration,
    },
    /// The application asked to drop the connection and connect again
    /// ([`Session::close`](crate::Session::close)): no DISCONNECT was sent, so the broker
    /// publishes the will, and unacknowledged messages are kept for the next connection.
    /// Reported as the application's choice, not as a transport failure.
    ReconnectRequested,
    /// Under manual acknowledgements on a 3.1.1 connection, the transport kept handing the
    /// Session bytes while [`Session::wants_read`](crate::Session::wants_read) was `false`
    /// (the application held a whole window of unacknowledged messages), past the larger of
    /// `max_packet_size` and 64 KiB: the Session ends the connection rather than buffer
    /// without bound. The unacknowledged messages come again after a reconnect. A transport
    /// that stops reading while `wants_read` is `false` (both std clients do) never gets here.
    UnreadBacklog,
    /// The session store failed to record or sync state the next packet depends on (see
    /// [`Session::store_error`](crate::Session::store_error)): nothing that depends on it
    /// went out, and the broker sends again what it was not answered.
    StoreFailed,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("disconnected by the application"),
            Self::Remote(r) => write!(f, "the broker disconnected: {r}"),
            Self::Protocol(e) => e.fmt(f),
            Self::KeepAliveTimeout => {
                f.write_str("nothing heard from the broker within the keepalive timeout")
            }
            Self::ConnAckTimeout => f.write_str("the broker did not answer CONNECT in time"),
            Self::Refused(r) => write!(f, "the broker refused the connection: {r}"),
            Self::TransportClosed => f.write_str("the connection was closed by the transport"),
            Self::ReplyBacklog => f.write_str(
                "the broker kept sending while our acknowledgements to it were not being sent",
            ),
            Self::UnreadBacklog => f.write_str(
                "bytes kept arriving while the application held a full window of \
                 unacknowledged messages; the transport must stop reading while \
                 Session::wants_read is false",
            ),
            Self::AuthFailed(e) => write!(f, "authentication failed: {e}"),
            Self::IncompletePacket { received, after } => write!(
                f,
                "a packet from the broker was still incomplete {} ms after its first byte \
                 ({received} bytes received); reconnect, and raise \
                 packet_completion_timeout if the link is this slow",
                after.as_millis()
            ),
            Self::ReconnectRequested => {
                f.write_str("the application closed the connection to reconnect")
            }
            Self::StoreFailed => f.write_str(
                "the session store failed (see Session::store_error); check the disk it writes to",
            ),
        }
    }
}

/// A publish the Session did not accept. Nothing was queued or sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PublishError {
    /// The topic name is not valid (wildcards, U+0000, empty, too long).
    InvalidTopic(ValueError),
    /// The packet would exceed the broker's Maximum Packet Size (5.0) or MQTT's own limit.
    PacketTooLarge {
        /// The size of the PUBLISH packet.
        len: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The in-flight window is full and the queue is full (or disabled); wait for
    /// [`Event::PublishUnblocked`](crate::Event::PublishUnblocked). Without the cargo feature
    /// `offline-queue` there is no queue: a publish while not connected, or with the window
    /// full, is refused with this.
    QueueFull,
    /// 65,535 messages are in flight: no packet identifier is free.
    PacketIdsExhausted,
    /// The broker's Maximum QoS (5.0) is lower than the QoS asked for.
    QosNotSupported {
        /// The highest QoS the broker accepts.
        max: QoS,
    },
    /// The broker does not support retained messages (5.0).
    RetainNotSupported,
    /// The message cannot be encoded (for example properties not allowed in PUBLISH).
    Invalid(EncodeError),
    /// A Topic Alias property was given although
    /// [`SessionConfig::outgoing_topic_aliases`](crate::SessionConfig::outgoing_topic_aliases)
    /// is not [`Manual`](crate::TopicAliasPolicy::Manual) (or the connection is 3.1.1).
    TopicAliasNotAllowed,
    /// A manual topic alias is 0 or above the broker's Topic Alias Maximum
    /// [MQTT-3.3.2-8] / [MQTT-3.3.2-9].
    TopicAliasInvalid {
        /// The alias asked for.
        alias: u16,
        /// The broker's Topic Alias Maximum (0: the broker accepts none).
        max: u16,
    },
    /// The session store could not record the message (see
    /// [`Session::store_error`](crate::Session::store_error)); it was not accepted.
    StoreFailed,
}

impl fmt::Display for PublishError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidTopic(e) => write!(f, "invalid topic name: {e}"),
            Self::PacketTooLarge { len, max } => write!(f, "PUBLISH of {len} bytes exceeds the maximum packet size of {max} bytes; send a smaller payload"),
            Self::QueueFull => f.write_str("the in-flight window and the publish queue are full; wait for Event::PublishUnblocked or raise SessionConfig::max_queued"),
            Self::PacketIdsExhausted => f.write_str("all 65535 packet identifiers are in use; wait for acknowledgements"),
            Self::QosNotSupported { max } => write!(f, "the broker accepts at most QoS {}; publish with a lower QoS", max.as_u8()),
            Self::RetainNotSupported => f.write_str("the broker does not support retained messages; publish with retain = false"),
            Self::Invalid(e) => write!(f, "cannot encode the message: {e}"),
            Self::TopicAliasNotAllowed => f.write_str("a topic alias was given but the session does not use manual topic aliases (SessionConfig::outgoing_topic_aliases)"),
            Self::TopicAliasInvalid { alias, max } => write!(f, "topic alias {alias} is not between 1 and the broker's Topic Alias Maximum of {max}"),
            Self::StoreFailed => f.write_str("the session store could not record the message (see Session::store_error); check the disk it writes to"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PublishError {}

/// A SUBSCRIBE or UNSUBSCRIBE the Session did not accept. Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SubscribeError {
    /// The list of filters is empty [MQTT-3.8.3-3], [MQTT-3.10.3-2].
    Empty,
    /// A topic filter is not valid.
    InvalidFilter(ValueError),
    /// All 65,535 packet identifiers are in use.
    PacketIdsExhausted,
    /// Too many requests are waiting for their acknowledgement.
    QueueFull,
    /// The packet cannot be encoded (for example a 5.0 option in a 3.1.1 session).
    Invalid(EncodeError),
    /// The packet would exceed the broker's Maximum Packet Size [MQTT-3.2.2-15].
    PacketTooLarge {
        /// The size of the SUBSCRIBE or UNSUBSCRIBE packet.
        len: usize,
        /// The largest size the broker accepts.
        max: usize,
    },
}

impl fmt::Display for SubscribeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("at least one topic filter is needed"),
            Self::InvalidFilter(e) => write!(f, "invalid topic filter: {e}"),
            Self::PacketIdsExhausted => {
                f.write_str("all 65535 packet identifiers are in use; wait for acknowledgements")
            }
            Self::QueueFull => f.write_str(
                "too many subscription requests wait for an answer; wait for SUBACK/UNSUBACK",
            ),
            Self::Invalid(e) => write!(f, "cannot encode the request: {e}"),
            Self::PacketTooLarge { len, max } => write!(f, "the request of {len} bytes exceeds the broker's maximum packet size of {max} bytes; split it into smaller requests"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SubscribeError {}

/// Why a publish the Session had accepted was given up later, reported by
/// [`Event::PublishFailed`](crate::Event::PublishFailed). Its packet identifier is free again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublishFailure {
    /// A CONNACK set or lowered the broker's Maximum Packet Size below the size of the
    /// PUBLISH, which may therefore never be sent on this connection [MQTT-3.2.2-15].
    PacketTooLarge {
        /// The size of the PUBLISH packet.
        len: usize,
        /// The broker's Maximum Packet Size.
        max: usize,
    },
    /// A QoS 2 message the broker had received (PUBREC) but not completed, when a CONNACK
    /// said the broker no longer holds the session (SPEC "Exactly once, bounded": "session
    /// lost, unconfirmed"). The broker may or may not have delivered it; sending it again
    /// could deliver it twice, so the Session reports it instead of guessing.
    Unconfirmed,
    /// Given up after the broker kept rejecting the message (SPEC "Exactly once, bounded"):
    /// see [`Session::abandon_publish`](crate::Session::abandon_publish).
    Rejected {
        /// The broker's reason: the error code of its DISCONNECT or acknowledgement.
        reason: ReasonCode,
    },
    /// The application cancelled the message before it was ever sent
    /// ([`Session::cancel_publish`](crate::Session::cancel_publish)).
    Cancelled,
    /// Its MQTT 5.0 Message Expiry Interval passed while it waited in the queue, so it was
    /// dropped unsent: a broker would not deliver it any more either [MQTT-3.3.2-5].
    Expired,
    /// A QoS 0 message dropped from the full queue to make room for a newer publish, under
    /// [`QueuePolicy::DropOldestQos0`](crate::QueuePolicy::DropOldestQos0). It was never sent.
    DroppedForNewer,
}

impl PublishFailure {
    /// The MQTT 5.0 reason code closest to the failure: the broker's own for
    /// [`Rejected`](Self::Rejected); Unspecified error (0x80) for failures no broker
    /// reported ([`Unconfirmed`](Self::Unconfirmed), [`Cancelled`](Self::Cancelled)), so
    /// that every failure reads as one (>= 0x80).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::Rejected { reason } => *reason,
            Self::Unconfirmed | Self::Cancelled | Self::Expired | Self::DroppedForNewer => {
                ReasonCode::UnspecifiedError
            }
        }
    }
}

impl fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PacketTooLarge { len, max } => write!(
                f,
                "PUBLISH of {len} bytes exceeds the broker's maximum packet size of {max} bytes"
            ),
            Self::Unconfirmed => f.write_str(
                "session lost, unconfirmed: the broker received this QoS 2 message but lost its \
                 session before completing it, so it may or may not have been delivered; \
                 publish it again only if a duplicate is acceptable",
            ),
            Self::Rejected { reason } => write!(
                f,
                "the broker kept rejecting this message ({reason}); it was given up, fix the \
                 message (topic, properties, size) before publishing it again"
            ),
            Self::Cancelled => f.write_str(
                "cancelled by the application before it was sent; it never reached the broker",
            ),
            Self::Expired => f.write_str(
                "its message expiry interval passed while it waited for a connection; it was \
                 never sent (publish it again with a longer interval if it still matters)",
            ),
            Self::DroppedForNewer => f.write_str(
                "the publish queue was full and this QoS 0 message was dropped, unsent, to make \
                 room for a newer one (QueuePolicy::DropOldestQos0)",
            ),
        }
    }
}

/// A [`Session::cancel_publish`](crate::Session::cancel_publish) the Session refused.
/// Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CancelError {
    /// No outgoing QoS 1/2 message has this packet identifier (it completed, failed, or was
    /// never published; QoS 0 publishes have none).
    NotFound,
    /// The PUBLISH was already transmitted (on this or an earlier connection): the broker may
    /// have delivered it, so it can no longer be taken back; wait for its completion.
    AlreadySent,
}

impl fmt::Display for CancelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound => f.write_str(
                "no outgoing QoS 1/2 message has this packet identifier; it may have completed \
                 or failed already",
            ),
            Self::AlreadySent => f.write_str(
                "the message was already sent and may have been delivered; wait for its \
                 acknowledgement or failure instead",
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CancelError {}

/// Why a SUBSCRIBE or UNSUBSCRIBE the Session had accepted was given up later, reported by
/// [`Event::RequestFailed`](crate::Event::RequestFailed). Its packet identifier is free again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestFailure {
    /// A CONNACK set or lowered the broker's Maximum Packet Size below the size of the
    /// request [MQTT-3.2.2-15].
    PacketTooLarge {
        /// The size of the SUBSCRIBE or UNSUBSCRIBE packet.
        len: usize,
        /// The broker's Maximum Packet Size.
        max: usize,
    },
}

impl RequestFailure {
    /// The MQTT 5.0 reason code closest to the failure.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
        }
    }
}

impl fmt::Display for RequestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PacketTooLarge { len, max } => write!(
                f,
                "request of {len} bytes exceeds the broker's maximum packet size of {max} bytes"
            ),
        }
    }
}

/// A `connect` the Session did not accept. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConnectError {
    /// The session is already connecting or connected; disconnect first.
    AlreadyConnected,
    /// 3.1.1: an empty client identifier needs `clean_session = true` [MQTT-3.1.3-7]
    /// (5.0 allows it either way).
    EmptyClientIdRequiresCleanSession,
    /// The client identifier is not an MQTT UTF-8 string (longer than 65,535 bytes, or
    /// containing U+0000) [MQTT-1.5.3-2] / [MQTT-1.5.4-2].
    InvalidClientId(ValueError),
    /// [`ConnectOptions::properties`](crate::ConnectOptions::properties) holds a property
    /// the Session sets itself from [`SessionConfig`](crate::SessionConfig) (Session Expiry
    /// Interval, Receive Maximum, Maximum Packet Size, Topic Alias Maximum): set the
    /// configuration field instead.
    PropertySetBySession {
        /// The property's identifier (0x11, 0x21, 0x27 or 0x22).
        property: u8,
    },
    /// The CONNECT cannot be encoded (invalid will topic, credentials too long, ...).
    Invalid(EncodeError),
    /// The attached authenticator could not start, or cannot be used on this connection
    /// (MQTT 3.1.1, or a second Authentication Method in the options).
    Authentication(AuthError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlreadyConnected => {
                f.write_str("the session is already connecting or connected; call disconnect first")
            }
            Self::EmptyClientIdRequiresCleanSession => f.write_str(
                "MQTT 3.1.1: an empty client identifier needs clean_session = true [MQTT-3.1.3-7]",
            ),
            Self::InvalidClientId(e) => write!(f, "invalid client identifier: {e}"),
            Self::PropertySetBySession { property } => write!(
                f,
                "CONNECT property 0x{property:02X} is set by the Session from SessionConfig; set it there"
            ),
            Self::Invalid(e) => write!(f, "cannot encode CONNECT: {e}"),
            Self::Authentication(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ConnectError {}

/// A `disconnect_with_properties` the Session did not accept. Nothing was sent and the
/// connection stays up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DisconnectError {
    /// The CONNECT's Session Expiry Interval was 0: a DISCONNECT may not set a nonzero one
    /// [MQTT-3.14.2-2].
    SessionExpiryAfterZero,
    /// The DISCONNECT cannot be encoded (a property DISCONNECT does not allow, too long).
    Invalid(EncodeError),
}

impl fmt::Display for DisconnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SessionExpiryAfterZero => f.write_str(
                "the CONNECT's Session Expiry Interval was 0; DISCONNECT cannot set a nonzero one [MQTT-3.14.2-2]",
            ),
            Self::Invalid(e) => write!(f, "cannot encode DISCONNECT: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DisconnectError {}
