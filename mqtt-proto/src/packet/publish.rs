//! PUBLISH (§3.3).

use super::check::properties_len;
use super::sink::Sink;
use crate::error::{DecodeError, EncodeError};
use crate::parse::{self, packet_id, topic_name, PResult};
use crate::properties::{properties, Properties, PropertyContext};
use crate::rule::rules;
use crate::types::{PacketId, ProtocolVersion, QoS, TopicName};
#[cfg(feature = "fast-paths")]
use crate::varint;

/// The QoS of a PUBLISH together with its packet identifier: QoS 0 has none, QoS 1 and 2
/// always have one [MQTT-2.3.1-5], [MQTT-2.3.1-1].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QosPid {
    /// QoS 0, no packet identifier.
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

impl QosPid {
    /// Pairs `qos` with `id`; the id is ignored for QoS 0.
    pub const fn new(qos: QoS, id: PacketId) -> Self {
        match qos {
            QoS::AtMostOnce => Self::AtMostOnce,
            QoS::AtLeastOnce => Self::AtLeastOnce(id),
            QoS::ExactlyOnce => Self::ExactlyOnce(id),
        }
    }

    /// The QoS.
    pub const fn qos(self) -> QoS {
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce(_) => QoS::AtLeastOnce,
            Self::ExactlyOnce(_) => QoS::ExactlyOnce,
        }
    }

    /// The packet identifier, `None` for QoS 0.
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            Self::AtMostOnce => None,
            Self::AtLeastOnce(id) | Self::ExactlyOnce(id) => Some(id),
        }
    }
}

/// PUBLISH: an application message (§3.3).
///
/// ```
/// use mqtt_sansio_proto::{Packet, ProtocolVersion, Publish, QosPid, TopicName, PacketId};
/// let topic = TopicName::new("a/b").unwrap();
/// let publish = Publish::new(topic, b"hello", QosPid::AtLeastOnce(PacketId::new(10).unwrap()));
/// let mut out = Vec::new();
/// Packet::Publish(publish).encode(ProtocolVersion::V311, &mut out).unwrap();
/// assert_eq!(out[0], 0x32); // PUBLISH, QoS 1
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Set when this is a redelivery of a QoS 1 or 2 message; always clear for QoS 0
    /// [MQTT-3.3.1-2].
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos: QosPid,
    /// Whether the server should retain the message.
    pub retain: bool,
    /// The topic; empty only in 5.0 together with a Topic Alias property.
    pub topic: TopicName<'a>,
    /// PUBLISH properties (5.0).
    pub properties: Properties<'a>,
    /// The application payload.
    pub payload: &'a [u8],
}

impl<'a> Publish<'a> {
    /// A PUBLISH with no DUP, no retain and no properties.
    pub const fn new(topic: TopicName<'a>, payload: &'a [u8], qos: QosPid) -> Self {
        Self {
            dup: false,
            qos,
            retain: false,
            topic,
            properties: Properties::EMPTY,
            payload,
        }
    }

    pub(super) fn flags(&self) -> u8 {
        (u8::from(self.dup) << 3) | (self.qos.qos().as_u8() << 1) | u8::from(self.retain)
    }

    /// Checks the fixed-header flags of a PUBLISH: QoS 3 is malformed [MQTT-3.3.1-4].
    ///
    /// DUP on QoS 0 is accepted: [MQTT-3.3.1-2] binds the sender only, and SPEC.md ("On the
    /// wire") says a receiver accepts what it may accept, so such a PUBLISH is delivered with
    /// DUP ignored. The encoder still refuses to produce one.
    pub(super) fn check_flags(flags: u8) -> Result<QoS, DecodeError> {
        parse::qos(
            (flags >> 1) & 0b11,
            rules::PUBLISH_QOS_INVALID,
            "PUBLISH with QoS 3",
        )
    }

    pub(super) fn decode(
        flags: u8,
        body: &'a [u8],
        v: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let retain = flags & 0b0001 != 0;
        let qos = Self::check_flags(flags)?;
        // DUP means nothing on QoS 0 [MQTT-3.3.1-2]; cleared so the decoded packet can be
        // encoded again (the encoder refuses DUP on QoS 0).
        let dup = flags & 0b1000 != 0 && qos != QoS::AtMostOnce;
        let (topic, qos, properties, payload) = parse::all(publish_body(body, v, qos))?;
        if topic.is_empty() && properties.topic_alias().is_none() {
            return Err(DecodeError::protocol(
                rules::TOPIC_EMPTY_WITHOUT_ALIAS,
                "PUBLISH with an empty topic name and no topic alias",
            ));
        }
        Ok(Self {
            dup,
            qos,
            retain,
            topic,
            properties,
            payload,
        })
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.dup && self.qos == QosPid::AtMostOnce {
            return Err(EncodeError::invalid(
                rules::PUBLISH_DUP_QOS0,
                "DUP must be clear on a QoS 0 PUBLISH",
            ));
        }
        if self.topic.is_empty()
            && (v == ProtocolVersion::V311 || self.properties.topic_alias().is_none())
        {
            return Err(EncodeError::invalid(
                rules::TOPIC_EMPTY_WITHOUT_ALIAS,
                "an empty topic name needs a topic alias (MQTT 5.0 only)",
            ));
        }
        let id = if self.qos.packet_id().is_some() { 2 } else { 0 };
        // A TopicName was validated when it was made (length, U+0000, wildcards): only its
        // length prefix is added here, no second scan.
        Ok(2 + self.topic.as_str().len()
            + id
            + properties_len(&self.properties, v, PropertyContext::Publish)?
            + self.payload.len())
    }

    /// The common case of [`Packet::encode`](super::Packet::encode) in one go: no properties
    /// and nothing the general path would refuse. The topic was validated when the
    /// [`TopicName`] was made, so there is nothing left to check but the few rules on how
    /// the fields combine, and the length is known without a pass over the packet. `None`:
    /// not the common case, the general path encodes it (and is the only one that refuses).
    /// `v` is enabled and compiled.
    #[cfg(feature = "fast-paths")]
    #[inline(always)]
    pub(super) fn encode_plain(
        &self,
        v: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Option<usize> {
        let (total, head, head_len) = self.plain_head(v)?;
        let start = out.len();
        // Room for the short fields written whole (7 + 3 bytes) before their unused tails
        // are cut: a fixed-size copy is a store or two, a variable one a call to memcpy.
        out.reserve(total + 10);
        out.extend_from_slice(&head);
        out.truncate(start + head_len);
        out.extend_from_slice(self.topic.as_str().as_bytes());
        // Packet identifier and, in 5.0, a property length of 0: at most three bytes.
        let mut mid = [0; 3];
        let mut mid_len = 0;
        if let Some(id) = self.qos.packet_id() {
            let [hi, lo] = id.get().to_be_bytes();
            mid = [hi, lo, 0];
            mid_len = 2;
        }
        if v == ProtocolVersion::V5 {
            mid_len += 1;
        }
        let at = out.len();
        out.extend_from_slice(&mid);
        out.truncate(at + mid_len);
        out.extend_from_slice(self.payload);
        Some(total)
    }

    /// The length of the whole packet, for [`Packet::encoded_len`](super::Packet::encoded_len),
    /// in the cases [`encode_plain`](Self::encode_plain) takes.
    #[cfg(feature = "fast-paths")]
    #[inline(always)]
    pub(super) fn plain_len(&self, v: ProtocolVersion) -> Option<usize> {
        self.plain_head(v).map(|(total, _, _)| total)
    }

    /// For the common case: the whole length, and the fixed header followed by the topic's
    /// length prefix (at most 1 + 4 + 2 bytes) with its length.
    #[cfg(feature = "fast-paths")]
    #[inline(always)]
    fn plain_head(&self, v: ProtocolVersion) -> Option<(usize, [u8; 7], usize)> {
        // The rules the general path checks: no DUP on QoS 0 [MQTT-3.3.1-2], no empty topic
        // without a Topic Alias (a property) [MQTT-3.3.2-1]; properties go the general way.
        if (self.dup && self.qos == QosPid::AtMostOnce)
            || self.topic.is_empty()
            || !self.properties.is_empty()
        {
            return None;
        }
        let topic = self.topic.as_str().len();
        let body = 2
            + topic
            + if self.qos == QosPid::AtMostOnce { 0 } else { 2 }
            + usize::from(v == ProtocolVersion::V5)
            + self.payload.len();
        // Over the largest remaining length: the general path says PacketTooLarge.
        let remaining = u32::try_from(body).ok().filter(|&b| b <= varint::MAX)?;
        let mut head = [(3 << 4) | self.flags(), 0, 0, 0, 0, 0, 0];
        let mut n = 1;
        let mut rest = remaining;
        loop {
            let byte = (rest & 0x7F) as u8;
            rest >>= 7;
            if let Some(slot) = head.get_mut(n) {
                *slot = if rest > 0 { byte | 0x80 } else { byte };
            }
            n += 1;
            if rest == 0 {
                break;
            }
        }
        // The topic's length prefix; a TopicName is at most 65,535 bytes [MQTT-4.7.3-3].
        let [hi, lo] = (topic as u16).to_be_bytes();
        if let Some(prefix) = head.get_mut(n..n + 2) {
            prefix.copy_from_slice(&[hi, lo]);
        }
        Some((n + body, head, n + 2))
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_prefixed(self.topic.as_str().as_bytes());
        if let Some(id) = self.qos.packet_id() {
            s.put_u16(id.get());
        }
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
        }
        s.put(self.payload);
    }
}

fn publish_body(
    i: &[u8],
    v: ProtocolVersion,
    qos: QoS,
) -> PResult<'_, (TopicName<'_>, QosPid, Properties<'_>, &[u8])> {
    let (i, topic) = topic_name(i, v == ProtocolVersion::V5)?;
    let (i, qos) = match qos {
        QoS::AtMostOnce => (i, QosPid::AtMostOnce),
        q => {
            let (i, id) = packet_id(i)?;
            (i, QosPid::new(q, id))
        }
    };
    let (i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::Publish)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    // The payload is everything that is left; an empty payload is valid.
    Ok((&[], (topic, qos, props, i)))
}

#[cfg(all(test, feature = "fast-paths"))]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;

    use super::super::Packet;
    use super::*;
    use crate::properties::{PropertiesBuf, Property};

    /// The one-go encoder writes the bytes of the general one, with the same length, and
    /// leaves every case it does not take to it.
    #[test]
    fn the_plain_encoder_agrees_with_the_general_one() {
        let payload = vec![0xA5u8; 2_100_000];
        let long_topic: Vec<u8> = (0..300).map(|i| b'a' + (i % 26) as u8).collect();
        let long_topic = core::str::from_utf8(&long_topic).expect("ASCII");
        let mut props = PropertiesBuf::new();
        props
            .push(Property::MessageExpiryInterval(9))
            .expect("valid");
        let id = PacketId::new(0xBEEF).expect("non-zero");
        let mut plain = 0;
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            for topic in ["a", "sensors/temp", long_topic, "é"] {
                for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                    // Remaining lengths of one to four bytes.
                    for size in [0, 1, 100, 200, 16_500, 2_097_200] {
                        for (dup, retain, with_props) in [
                            (false, false, false),
                            (true, true, false),
                            (false, true, true),
                        ] {
                            let mut p = Publish::new(
                                TopicName::new(topic).expect("valid"),
                                &payload[..size],
                                QosPid::new(qos, id),
                            );
                            (p.dup, p.retain) = (dup, retain);
                            if with_props {
                                p.properties = props.as_properties();
                            }
                            let packet = Packet::Publish(p);
                            let mut general = vec![1, 2, 3];
                            let expected = packet.encode_general::<false>(v, &mut general);
                            let mut fast = vec![1, 2, 3];
                            assert_eq!(packet.encode(v, &mut fast), expected);
                            assert_eq!(fast, general);
                            assert_eq!(
                                packet.encoded_len(v),
                                packet.lengths::<false>(v).map(|(_, total)| total)
                            );
                            plain += usize::from(p.plain_len(v).is_some());
                        }
                    }
                }
            }
        }
        assert!(plain > 200, "the plain encoder took only {plain} cases");
    }
}
