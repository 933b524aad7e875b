//! [`Message`]: an owned application message, stored in a single allocation.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU32;

use mqtt_sansio_proto::{
    PacketId, Properties, PropertyContext, Publish, QoS, TopicName, ValueError,
};

use crate::manual_ack::AckToken;

/// Bytes of the acknowledgement token number at the start of `buf` (manual acks).
const ACK_PREFIX: usize = 4;

/// An application message: topic, payload, QoS, retain, DUP, packet id and (5.0) properties.
///
/// Topic, properties and payload live in one buffer, so receiving a message costs one
/// allocation.
///
/// ```
/// use mqtt_sansio_session::Message;
/// use mqtt_sansio_proto::QoS;
/// let m = Message::new("home/kitchen/temp", b"21.5", QoS::AtLeastOnce, false).unwrap();
/// assert_eq!(m.topic(), "home/kitchen/temp");
/// assert_eq!(m.payload(), b"21.5");
/// assert!(Message::new("home/+/temp", b"", QoS::AtMostOnce, false).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// A boxed slice, not a `Vec`: the capacity is the length, so the word is saved on every
    /// held message (issue 15: RAM per session).
    buf: Box<[u8]>,
    /// A topic name is at most 65,535 bytes [MQTT-1.5.3-1].
    topic_len: u16,
    props_len: usize,
    /// Quality of service the message was sent or received with.
    pub qos: QoS,
    /// Whether the message is (to be) retained by the broker.
    pub retain: bool,
    /// Whether the packet carrying it was marked as a redelivery.
    pub dup: bool,
    /// The packet identifier (the seed's `mid`); `None` for QoS 0.
    pub packet_id: Option<PacketId>,
    /// `buf` starts with the number of the token this incoming message is acknowledged with
    /// ([`AckMode::Manual`](crate::AckMode::Manual), QoS 1/2 only). In the allocation rather
    /// than a field, so that the flag fits the struct's padding and no other message (held,
    /// queued or in flight) pays for it (issue 15: RAM per session).
    has_ack: bool,
}

impl Message {
    /// A message to publish. Fails on an invalid topic name [MQTT-3.3.2-2], [MQTT-4.7.3-1].
    pub fn new(topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Result<Self, ValueError> {
        let topic = TopicName::new(topic)?;
        Ok(Self::build(
            topic,
            Properties::EMPTY,
            payload,
            qos,
            retain,
            false,
            None,
        ))
    }

    /// Attaches MQTT 5.0 PUBLISH properties (message expiry, user properties, response topic,
    /// ...). They must be allowed in PUBLISH.
    pub fn with_properties(
        mut self,
        props: Properties<'_>,
    ) -> Result<Self, mqtt_sansio_proto::DecodeError> {
        // Re-validate for PUBLISH so a CONNECT-only property cannot slip in.
        let props = Properties::parse(props.as_bytes(), PropertyContext::Publish)?;
        let mut buf = Vec::with_capacity(
            usize::from(self.topic_len) + props.as_bytes().len() + self.payload().len(),
        );
        buf.extend_from_slice(self.topic().as_bytes());
        buf.extend_from_slice(props.as_bytes());
        buf.extend_from_slice(self.payload());
        // A message to publish: no acknowledgement token comes along.
        self.has_ack = false;
        self.props_len = props.as_bytes().len();
        self.buf = buf.into_boxed_slice();
        Ok(self)
    }

    pub(crate) fn build(
        topic: TopicName<'_>,
        props: Properties<'_>,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        dup: bool,
        packet_id: Option<PacketId>,
    ) -> Self {
        let t = topic.as_str().as_bytes();
        let p = props.as_bytes();
        let mut buf = Vec::with_capacity(t.len() + p.len() + payload.len());
        buf.extend_from_slice(t);
        // Most messages carry no properties (always in 3.1.1): skip the empty copy.
        if !p.is_empty() {
            buf.extend_from_slice(p);
        }
        buf.extend_from_slice(payload);
        Self {
            // Exact capacity: no reallocation.
            buf: buf.into_boxed_slice(),
            topic_len: u16::try_from(t.len()).unwrap_or(u16::MAX),
            props_len: p.len(),
            qos,
            retain,
            dup,
            packet_id,
            has_ack: false,
        }
    }

    /// A received PUBLISH, copied out of the read buffer.
    pub(crate) fn from_publish(p: &Publish<'_>, topic: TopicName<'_>) -> Self {
        Self::build(
            topic,
            p.properties,
            p.payload,
            p.qos.qos(),
            p.retain,
            p.dup,
            p.qos.packet_id(),
        )
    }

    /// A received QoS 1/2 PUBLISH under manual acknowledgements, carrying token number `seq`.
    #[cfg(feature = "manual-acks")]
    pub(crate) fn from_publish_with_ack(
        p: &Publish<'_>,
        topic: TopicName<'_>,
        seq: NonZeroU32,
    ) -> Self {
        let t = topic.as_str().as_bytes();
        let props = p.properties.as_bytes();
        let mut buf = Vec::with_capacity(ACK_PREFIX + t.len() + props.len() + p.payload.len());
        buf.extend_from_slice(&seq.get().to_be_bytes());
        buf.extend_from_slice(t);
        buf.extend_from_slice(props);
        buf.extend_from_slice(p.payload);
        Self {
            buf: buf.into_boxed_slice(),
            topic_len: u16::try_from(t.len()).unwrap_or(u16::MAX),
            props_len: props.len(),
            qos: p.qos.qos(),
            retain: p.retain,
            dup: p.dup,
            packet_id: p.qos.packet_id(),
            has_ack: true,
        }
    }

    /// Where the topic starts in `buf`.
    fn start(&self) -> usize {
        // Without manual acknowledgements no message has a token: a constant.
        if cfg!(feature = "manual-acks") && self.has_ack {
            ACK_PREFIX
        } else {
            0
        }
    }

    /// Bytes of topic, properties and payload: what holding the message costs.
    pub(crate) fn stored_len(&self) -> usize {
        self.buf.len()
    }

    /// [`stored_len`](Self::stored_len) of the message `from_publish` would build, without
    /// building it.
    pub(crate) fn stored_len_of(p: &Publish<'_>, topic: TopicName<'_>) -> usize {
        topic.as_str().len() + p.properties.as_bytes().len() + p.payload.len()
    }

    /// The topic the message was published to.
    pub fn topic(&self) -> &str {
        // The bytes came from a validated TopicName.
        let start = self.start();
        core::str::from_utf8(
            self.buf
                .get(start..start + usize::from(self.topic_len))
                .unwrap_or_default(),
        )
        .unwrap_or_default()
    }

    /// The topic as a validated [`TopicName`].
    pub fn topic_name(&self) -> TopicName<'_> {
        TopicName::new(self.topic()).unwrap_or(TopicName::EMPTY)
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.buf
            .get(self.start() + usize::from(self.topic_len) + self.props_len..)
            .unwrap_or_default()
    }

    /// The MQTT 5.0 PUBLISH properties (empty in 3.1.1).
    pub fn properties(&self) -> Properties<'_> {
        let raw = self
            .buf
            .get(self.start() + usize::from(self.topic_len)..)
            .and_then(|rest| rest.get(..self.props_len))
            .unwrap_or_default();
        Properties::parse(raw, PropertyContext::Publish).unwrap_or(Properties::EMPTY)
    }

    /// The token to pass to [`Session::ack`](crate::Session::ack): `Some` for a QoS 1/2
    /// message received under [`AckMode::Manual`](crate::AckMode::Manual), whose PUBACK /
    /// PUBREC waits for it; `None` otherwise (always without the cargo feature
    /// `manual-acks`).
    pub fn ack_token(&self) -> Option<AckToken> {
        if !cfg!(feature = "manual-acks") || !self.has_ack {
            return None;
        }
        let prefix: [u8; ACK_PREFIX] = self.buf.get(..ACK_PREFIX)?.try_into().ok()?;
        Some(AckToken {
            seq: NonZeroU32::new(u32::from_be_bytes(prefix))?,
            id: self.packet_id?,
            qos: self.qos,
        })
    }

    /// The payload as UTF-8, if it is.
    pub fn payload_str(&self) -> Option<&str> {
        core::str::from_utf8(self.payload()).ok()
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("topic", &self.topic())
            .field("payload_len", &self.payload().len())
            .field("qos", &self.qos)
            .field("retain", &self.retain)
            .field("dup", &self.dup)
            .field("packet_id", &self.packet_id)
            .finish()
    }
}

/// Topic and metadata, with the payload's length rather than its bytes (it may be binary, and
/// large), like this type's `Debug`.
#[cfg(feature = "defmt")]
impl defmt::Format for Message {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Message {{ topic: {=str}, payload: {=usize} B, qos: {}, retain: {=bool}, dup: {=bool}, packet_id: {} }}",
            self.topic(),
            self.payload().len(),
            self.qos,
            self.retain,
            self.dup,
            self.packet_id
        );
    }
}
