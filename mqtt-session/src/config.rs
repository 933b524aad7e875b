//! [`SessionConfig`] (identity and limits, fixed for the Session's life) and
//! [`ConnectOptions`] (parameters of one connection).

use alloc::string::String;
use core::fmt;
use core::time::Duration;

use mqtt_sansio_proto::{
    rules, EncodeError, Properties, ProtocolVersion, Redacted, ValueError, Will,
};

use crate::error::ConnectError;
use crate::manual_ack::AckMode;
use crate::offline_queue::QueuePolicy;

/// [`SessionConfig::max_packet_size`] meaning "no limit beyond MQTT's own": a 5.0 CONNECT
/// then carries no Maximum Packet Size. Any value from 268,435,455 (the largest Remaining
/// Length) up means the same.
pub const NO_PACKET_SIZE_LIMIT: u32 = 268_435_455;

/// Identity, protocol version and limits of a [`Session`](crate::Session).
///
/// Every collection the Session keeps is bounded by a field here; when a bound is reached the
/// command that would exceed it returns an error and an event tells when there is room again.
///
/// ```
/// use mqtt_sansio_session::SessionConfig;
/// use mqtt_sansio_proto::ProtocolVersion;
/// let mut config = SessionConfig::new("sensor-17", false, ProtocolVersion::V5);
/// config.max_inflight = 16;
/// config.max_queued = 100;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The client identifier. Empty: the broker assigns one (5.0 reports it as Assigned
    /// Client Identifier, and the Session reuses it on reconnect). 3.1.1 allows an empty id
    /// only with `clean_session` [MQTT-3.1.3-7]; 5.0 allows it with Clean Start 0 too. See
    /// [`validate`](Self::validate).
    pub client_id: String,
    /// `true`: every connection starts a new session. `false`: the broker keeps
    /// subscriptions and queued messages, and the Session keeps unacknowledged outgoing
    /// messages and half-done incoming QoS 2 messages across disconnects.
    pub clean_session: bool,
    /// The protocol version spoken on every connection.
    pub version: ProtocolVersion,
    /// Most outgoing QoS 1/2 messages awaiting acknowledgement at once. The window used is
    /// the smaller of this and the broker's Receive Maximum (5.0).
    pub max_inflight: u16,
    /// Most publishes waiting to enter the window (made while disconnected, or while the
    /// window was full). Policy: when full, `publish` returns
    /// [`PublishError::QueueFull`](crate::PublishError::QueueFull) and
    /// [`Event::PublishUnblocked`](crate::Event::PublishUnblocked) follows when room frees
    /// up (see [`queue_policy`](Self::queue_policy) for the alternative). 0 disables
    /// queueing: a full window (or no connection) is an error at once. Without the cargo
    /// feature `offline-queue` this is what happens whatever the value: the field has no
    /// effect.
    pub max_queued: usize,
    /// Most bytes (topic, properties and payload) of the publishes waiting to enter the
    /// window, whatever their number. Default 16 MiB. No effect without the cargo feature
    /// `offline-queue`.
    pub max_queued_bytes: usize,
    /// What a publish meets when the queue is full (by count or by bytes): refused (the
    /// default) or room made by dropping the oldest QoS 0 messages. Either way, a 5.0
    /// message with a Message Expiry Interval that expires while queued is dropped and
    /// reported as [`Event::PublishFailed`](crate::Event::PublishFailed) with
    /// [`PublishFailure::Expired`](crate::PublishFailure::Expired), and one that goes out
    /// carries the interval that remains [MQTT-3.3.2-6]. No effect without the cargo
    /// feature `offline-queue`.
    pub queue_policy: QueuePolicy,
    /// Whether incoming QoS 1/2 messages are acknowledged at once (the default) or when the
    /// application says so ([`AckMode::Manual`], [`Session::ack`](crate::Session::ack));
    /// always at once without the cargo feature `manual-acks`.
    pub acks: AckMode,
    /// Most SUBSCRIBE/UNSUBSCRIBE requests awaiting acknowledgement or a connection.
    pub max_pending_requests: usize,
    /// Most incoming QoS 2 messages held until their PUBREL. Sent to a 5.0 broker as
    /// Receive Maximum; a 5.0 broker exceeding it is a protocol error (reason 0x93,
    /// [MQTT-3.3.4-9]). A 3.1.1 broker cannot know it: past it, further QoS 2 messages are
    /// delivered at PUBLISH (as [`Event::Message`](crate::Event::Message)) and only their
    /// packet id is kept until PUBREL, so exactly once holds, memory stays bounded and the
    /// connection stays up (SPEC "Exactly once, bounded").
    pub max_incoming_qos2: u16,
    /// Most bytes (topic, properties and payload) of incoming QoS 2 messages held until their
    /// PUBREL. Past it, in 3.1.1 and 5.0 alike (no broker knows this budget), a QoS 2 message
    /// is delivered at PUBLISH and only its packet id is kept, as past `max_incoming_qos2`
    /// in 3.1.1. Default 1 MiB. The ids of such messages take one 8 KiB set, allocated the
    /// first time the budget is exceeded.
    pub max_incoming_qos2_bytes: usize,
    /// Largest incoming packet accepted, in bytes. Sent to a 5.0 broker as Maximum Packet
    /// Size; a larger packet closes the connection (5.0 reason 0x95). 268,435,455 or more
    /// (for example [`NO_PACKET_SIZE_LIMIT`](crate::NO_PACKET_SIZE_LIMIT)) means no limit
    /// beyond MQTT's own, and the CONNECT then leaves the property out.
    pub max_packet_size: u32,
    /// Most bytes waiting in the Session for `poll_transmit`. Past it, QoS 0 publishes are
    /// refused with `QueueFull`: the transport is not keeping up. Acknowledgements to the
    /// broker waiting past it (or past 64 KiB, whichever is larger) end the connection with
    /// [`DisconnectReason::ReplyBacklog`](crate::DisconnectReason::ReplyBacklog).
    pub max_transmit_bytes: usize,
    /// Most topic aliases the broker may use towards us (5.0 Topic Alias Maximum); 0 = none.
    pub topic_alias_maximum: u16,
    /// Whether PUBLISH packets we send use topic aliases (5.0 §3.3.2.3.4), always within the
    /// broker's CONNACK Topic Alias Maximum. Default: automatic, within at most
    /// [`TopicAliasPolicy::DEFAULT_MAX_ALIASES`] aliases; see there why.
    pub outgoing_topic_aliases: TopicAliasPolicy,
    /// How long to wait for CONNACK after CONNECT.
    pub connack_timeout: Duration,
    /// How long the broker may stay silent before the connection is declared lost.
    /// `None`: 1.5 x keepalive, as the seed does.
    pub keepalive_timeout: Option<Duration>,
    /// How long a packet from the broker may take to arrive whole, counted from its first
    /// byte; past it the connection ends with
    /// [`DisconnectReason::IncompletePacket`](crate::DisconnectReason::IncompletePacket).
    /// Every byte counts as traffic for keepalive, so without this bound a broker that
    /// trickles a packet and never finishes it would hold the connection forever (SPEC "Bad
    /// input and faults"). `None`: the CONNACK timeout before CONNACK; afterwards 1.5 x
    /// keepalive, or the CONNACK timeout when keepalive is off.
    pub packet_completion_timeout: Option<Duration>,
    /// When the broker did not resume the session (CONNACK session present = 0) but the
    /// client had subscriptions: subscribe to them again automatically.
    pub resubscribe_on_session_loss: bool,
    /// MQTT 3.1.1 only: every this long within a connection, resend every unacknowledged
    /// publish (with DUP) and PUBREL, as the seed did every 20 s. Off by default; MQTT 5.0 forbids it
    /// [MQTT-4.4.0-1], so it is ignored there.
    pub retry_interval_v311: Option<Duration>,
    /// MQTT 5.0 Session Expiry Interval in seconds. `None`: 0 with a clean session, and
    /// 0xFFFFFFFF (never) without one, which is what 3.1.1 means by a persistent session.
    /// A DISCONNECT that changes it
    /// ([`Session::disconnect_with_properties`](crate::Session::disconnect_with_properties))
    /// also updates this field, so the next CONNECT asks for the interval the broker now
    /// holds the session under.
    pub session_expiry_interval: Option<u32>,
}

impl SessionConfig {
    /// Checks what a CONNECT needs from the configuration before any I/O is asked for.
    /// Transports call it before opening a socket, so a bad identity is a typed
    /// configuration error rather than a connection that closes with nothing sent;
    /// [`Session::connect`](crate::Session::connect) calls it too.
    ///
    /// - The client id is an MQTT UTF-8 string: at most 65,535 bytes, no U+0000
    ///   [MQTT-1.5.3-2] / [MQTT-1.5.4-2].
    /// - 3.1.1: an empty client id needs `clean_session` [MQTT-3.1.3-7]. 5.0 has no such
    ///   rule: the server assigns an id and may keep a session under it [MQTT-3.1.3-6].
    /// - The version is compiled in (cargo features `v311`, `v5`), else
    ///   [`ConnectError::Invalid`] citing [MQTT-3.1.2-2].
    pub fn validate(&self) -> Result<(), ConnectError> {
        if !self.version.is_enabled() {
            // Built with one version only (cargo features `v311`, `v5`): a typed error, not a
            // CONNECT in a version this build cannot decode [MQTT-3.1.2-2].
            return Err(ConnectError::Invalid(EncodeError::Invalid {
                rule: rules::PROTOCOL_LEVEL,
                what: crate::error::text(
                    "this protocol version is not compiled in (cargo features v311, v5)",
                ),
            }));
        }
        if self.client_id.len() > usize::from(u16::MAX) {
            return Err(ConnectError::InvalidClientId(ValueError {
                rule: rules::STRING_TOO_LONG,
                what: crate::error::text("the client identifier is longer than 65535 bytes"),
            }));
        }
        if self.client_id.as_bytes().contains(&0) {
            return Err(ConnectError::InvalidClientId(ValueError {
                rule: rules::UTF8_NO_NULL,
                what: crate::error::text("the client identifier contains U+0000"),
            }));
        }
        if self.version == ProtocolVersion::V311 && self.client_id.is_empty() && !self.clean_session
        {
            return Err(ConnectError::EmptyClientIdRequiresCleanSession);
        }
        Ok(())
    }

    /// A configuration with the given identity and defaults for every limit.
    pub fn new(
        client_id: impl Into<String>,
        clean_session: bool,
        version: ProtocolVersion,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            clean_session,
            version,
            max_inflight: 100,
            max_queued: 1000,
            max_queued_bytes: 16 * 1024 * 1024,
            queue_policy: QueuePolicy::RefuseNew,
            acks: AckMode::Automatic,
            max_pending_requests: 64,
            max_incoming_qos2: 100,
            max_incoming_qos2_bytes: 1024 * 1024,
            max_packet_size: 1024 * 1024,
            max_transmit_bytes: 1024 * 1024,
            topic_alias_maximum: 0,
            outgoing_topic_aliases: TopicAliasPolicy::default(),
            connack_timeout: Duration::from_secs(30),
            keepalive_timeout: None,
            packet_completion_timeout: None,
            resubscribe_on_session_loss: false,
            retry_interval_v311: None,
            session_expiry_interval: None,
        }
    }
}

/// How the Session uses topic aliases on the PUBLISH packets it sends (MQTT 5.0 only; a
/// 3.1.1 connection never carries one).
///
/// The default is [`Auto`](Self::Auto) with up to [`DEFAULT_MAX_ALIASES`](Self::DEFAULT_MAX_ALIASES)
/// aliases: a broker that announces a Topic Alias Maximum (mosquitto: 10) has asked for them,
/// and a long topic published often then costs its bytes once per connection instead of once
/// per message (see `BENCHMARKS.md`, "Topic aliases on the wire"). A broker that announces
/// none gets none. The price is a copy of each aliased topic, at most `max_aliases` of them,
/// for the life of the connection. Choose [`Off`](Self::Off) when captures, broker logs or
/// bridges must show every topic in every packet, or to keep no per-topic memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicAliasPolicy {
    /// No alias is ever sent; a Topic Alias property given to
    /// [`Session::publish_with_properties`](crate::Session::publish_with_properties) is
    /// refused with [`PublishError::TopicAliasNotAllowed`](crate::PublishError::TopicAliasNotAllowed).
    Off,
    /// The caller chooses: a Topic Alias property on `publish_with_properties`, always with
    /// the full topic. The Session sends the topic with the alias the first time on each
    /// connection (or when the alias now names another topic) and the alias alone after. An
    /// alias of 0 or above the broker's maximum is refused at the call while connected; one
    /// queued while disconnected that the next broker does not allow is left out (the full
    /// topic goes instead).
    Manual,
    /// The Session assigns aliases itself: the first PUBLISH of a topic on a connection
    /// carries the topic and a new alias, later ones the alias alone. With more topics than
    /// aliases the least recently used alias is given to the new topic (sent with it again).
    /// A caller's Topic Alias property is refused ([`PublishError::TopicAliasNotAllowed`](crate::PublishError::TopicAliasNotAllowed)).
    Auto {
        /// Most aliases used at once: the table holds the smaller of this and the broker's
        /// Topic Alias Maximum, bounding the memory spent on copies of topics.
        max_aliases: u16,
    },
}

impl TopicAliasPolicy {
    /// The table size of the default policy: enough for the topics a device typically
    /// publishes to, small enough that the copies stay a few kilobytes at most.
    pub const DEFAULT_MAX_ALIASES: u16 = 16;
}

impl Default for TopicAliasPolicy {
    fn default() -> Self {
        Self::Auto {
            max_aliases: Self::DEFAULT_MAX_ALIASES,
        }
    }
}

/// Parameters of one connection, given to [`Session::connect`](crate::Session::connect).
///
/// ```
/// use mqtt_sansio_session::ConnectOptions;
/// let options = ConnectOptions::new(60).credentials("user", b"secret");
/// assert_eq!(options.keep_alive, 60);
/// ```
///
/// `Debug` shows the password as `<redacted>` (and the properties' Authentication Data
/// likewise): options end up in logs, secrets must not.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions<'a> {
    /// Keepalive in seconds: a PINGREQ goes out when nothing was sent for this long; 0 = off.
    /// A 5.0 broker may override it (Server Keep Alive).
    pub keep_alive: u16,
    /// The will message, published by the broker if the connection ends without DISCONNECT.
    pub will: Option<Will<'a>>,
    /// User name.
    pub username: Option<&'a str>,
    /// Password.
    pub password: Option<&'a [u8]>,
    /// Extra MQTT 5.0 CONNECT properties (user properties, authentication method, request
    /// problem/response information), sent after the Session's own. The Session sets
    /// Session Expiry Interval, Receive Maximum, Maximum Packet Size and Topic Alias Maximum
    /// itself from [`SessionConfig`] (leaving out those at their protocol default); any of
    /// them here is refused with
    /// [`ConnectError::PropertySetBySession`](crate::ConnectError::PropertySetBySession), so
    /// the broker is never told a limit other than the one the Session enforces.
    pub properties: Properties<'a>,
}

impl fmt::Debug for ConnectOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("keep_alive", &self.keep_alive)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.map(|_| Redacted))
            .field("properties", &self.properties)
            .finish()
    }
}

impl<'a> ConnectOptions<'a> {
    /// Options with this keepalive and nothing else.
    pub const fn new(keep_alive: u16) -> Self {
        Self {
            keep_alive,
            will: None,
            username: None,
            password: None,
            properties: Properties::EMPTY,
        }
    }

    /// Sets the will message.
    pub const fn will(mut self, will: Will<'a>) -> Self {
        self.will = Some(will);
        self
    }

    /// Sets user name and password.
    pub const fn credentials(mut self, username: &'a str, password: &'a [u8]) -> Self {
        self.username = Some(username);
        self.password = Some(password);
        self
    }

    /// Sets the extra 5.0 CONNECT properties.
    pub const fn properties(mut self, properties: Properties<'a>) -> Self {
        self.properties = properties;
        self
    }
}
