//! The decoding fast path for the packets a client receives most: PUBLISH with a plain ASCII
//! topic, and PUBACK, PUBREC, PUBREL, PUBCOMP in their two-byte form.
//!
//! It reads such a packet straight from the bytes, without the fixed-header struct, the nom
//! combinators or the dispatch over all fifteen types. It accepts only what the general path
//! accepts, with the same result, and answers `None` for anything else (another type, an
//! unusual form, a partial packet, any error): the general path then decodes it, and is the
//! only one that rejects, so what is rejected and the error given do not change.

use super::{Ack, Limits, Packet, Publish, QosPid};
use crate::parse::run;
use crate::properties::{properties, Properties, PropertyContext};
use crate::scan::plain_topic;
use crate::types::{PacketId, ProtocolVersion, TopicName};

/// Decodes the packet at the start of `input` if it is one of the common forms, whole.
#[inline(always)]
pub(super) fn decode<'a>(
    input: &'a [u8],
    v: ProtocolVersion,
    limits: &Limits,
) -> Option<(Packet<'a>, usize)> {
    let (&first, rest) = input.split_first()?;
    // Remaining length in one or two bytes (up to 16,383); a longer or non-minimal one
    // [MQTT-1.5.5-1] goes to the general path.
    let (remaining, header_len) = match *rest {
        [b, ..] if b < 0x80 => (usize::from(b), 2),
        [lo, hi, ..] if hi != 0 && hi < 0x80 => (usize::from(lo & 0x7F) | usize::from(hi) << 7, 3),
        _ => return None,
    };
    let total = header_len + remaining;
    if total > limits.max_packet_size as usize {
        return None;
    }
    let body = input.get(header_len..total)?;
    let packet = match first {
        // PUBLISH: any DUP, QoS 0 to 2, any RETAIN (QoS 3 is left to the general path).
        0x30..=0x3F if (first >> 1) & 0b11 != 0b11 => {
            Packet::Publish(publish(first, input.get(..total)?, header_len, v)?)
        }
        // PUBACK, PUBREC, PUBCOMP with flags 0, PUBREL with flags 0b0010 [MQTT-2.2.2-1], in
        // the two-byte form: the packet identifier alone (3.1.1 always, 5.0 for Success and
        // no properties, §3.4.2.1).
        0x40 | 0x50 | 0x62 | 0x70 => {
            let ack = Ack::new(packet_id(body)?);
            match first {
                0x40 => Packet::PubAck(ack),
                0x50 => Packet::PubRec(ack),
                0x62 => Packet::PubRel(ack),
                _ => Packet::PubComp(ack),
            }
        }
        _ => return None,
    };
    Some((packet, total))
}

/// A non-zero packet identifier that is the whole of `body` [MQTT-2.3.1-1].
#[inline(always)]
fn packet_id(body: &[u8]) -> Option<PacketId> {
    match *body {
        [hi, lo] => PacketId::new(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// A PUBLISH body with a non-empty plain topic.
#[inline(always)]
fn publish<'a>(
    first: u8,
    packet: &'a [u8],
    header_len: usize,
    v: ProtocolVersion,
) -> Option<Publish<'a>> {
    let [hi, lo, rest @ ..] = packet.get(header_len..)? else {
        return None;
    };
    let topic_at = header_len + 2;
    let (raw, rest) = rest.split_at_checked(usize::from(u16::from_be_bytes([*hi, *lo])))?;
    // Non-empty, ASCII without U+0000, '+' or '#' [MQTT-4.7.3-1], [MQTT-4.7.3-2],
    // [MQTT-3.3.2-2]; the empty name of a Topic Alias needs properties, the general path.
    if raw.is_empty() || !plain_topic(raw) {
        return None;
    }
    // ASCII before the topic: its length prefix if under 128 (0x00, len), and the fixed
    // header if its remaining length takes one byte (the first byte, 0x30-0x3D, always is).
    // Under 16 bytes `from_utf8` goes byte by byte wherever it starts: no gain.
    let ascii_before = match (raw.len(), header_len) {
        (16..0x80, 2) => 4,
        (16..0x80, _) => 2,
        _ => 0,
    };
    let topic = TopicName::from_checked(ascii_str(packet, topic_at, raw, ascii_before)?);
    let (qos, rest) = match (first >> 1) & 0b11 {
        0 => (QosPid::AtMostOnce, rest),
        q => {
            let (id, rest) = rest.split_first_chunk::<2>()?;
            let id = PacketId::new(u16::from_be_bytes(*id))?;
            let qos = if q == 1 {
                QosPid::AtLeastOnce(id)
            } else {
                QosPid::ExactlyOnce(id)
            };
            (qos, rest)
        }
    };
    let (properties, payload) = match v {
        ProtocolVersion::V311 => (Properties::EMPTY, rest),
        ProtocolVersion::V5 => match rest.split_first()? {
            (0, payload) => (Properties::EMPTY, payload),
            // Properties: the general path's parser and checks, as they are.
            _ => {
                let (payload, properties) = run(properties(rest, PropertyContext::Publish)).ok()?;
                (properties, payload)
            }
        },
    };
    Some(Publish {
        // DUP means nothing on QoS 0 [MQTT-3.3.1-2]; cleared as the general path does.
        dup: first & 0b1000 != 0 && qos != QosPid::AtMostOnce,
        qos,
        retain: first & 0b0001 != 0,
        topic,
        properties,
        payload,
    })
}

/// `raw`, which starts at `at` in `packet` and is known to be ASCII, as a `&str`.
///
/// `core::str::from_utf8` is the only safe way to a `&str`; it checks eight bytes at a time
/// only from an 8-byte boundary of the address on, and one byte at a time before it (about
/// ten instructions a byte). A topic follows a fixed header and a length prefix, and so is
/// usually unaligned. When the bytes between the boundary at or before the topic and the
/// topic are known to be ASCII (`ascii_before` of them: the length prefix of a topic
/// shorter than 128 bytes, and the fixed header of a packet shorter than 130), the check
/// starts at the boundary and the topic is taken out of the result: fewer instructions than
/// the unaligned bytes would cost. Otherwise the plain check runs.
#[inline(always)]
fn ascii_str<'a>(
    packet: &'a [u8],
    at: usize,
    raw: &'a [u8],
    ascii_before: usize,
) -> Option<&'a str> {
    let before = raw.as_ptr() as usize % 8;
    if before > 0 && before <= ascii_before {
        if let Some(Ok(s)) = packet
            .get(at - before..at + raw.len())
            .map(core::str::from_utf8)
        {
            // `before` ASCII bytes precede the topic in `s`: a character boundary.
            return s.get(before..);
        }
    }
    core::str::from_utf8(raw).ok()
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::super::decode_general;
    use super::*;
    use crate::properties::{PropertiesBuf, Property};
    use crate::types::QoS;

    /// Packets of the forms the fast path takes, and of the forms next to them.
    fn seeds(v: ProtocolVersion) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let payload = [7u8; 200];
        let mut props = PropertiesBuf::new();
        props.push(Property::TopicAlias(3)).expect("valid");
        for topic in [
            "a",
            "sensors/building-7/floor-3/humid",
            "0123456789abcdef/x",
            "é/ü",
        ] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                for size in [0, 5, 130] {
                    let id = PacketId::new(0x1234).expect("non-zero");
                    let mut p = Publish::new(
                        TopicName::new(topic).expect("valid"),
                        &payload[..size],
                        QosPid::new(qos, id),
                    );
                    p.retain = size == 5;
                    let mut wire = Vec::new();
                    Packet::Publish(p).encode(v, &mut wire).expect("encodes");
                    out.push(wire);
                    if v == ProtocolVersion::V5 {
                        p.properties = props.as_properties();
                        let mut wire = Vec::new();
                        Packet::Publish(p).encode(v, &mut wire).expect("encodes");
                        out.push(wire);
                    }
                }
            }
        }
        for first in [0x40, 0x50, 0x62, 0x70] {
            out.push(alloc::vec![first, 2, 0x01, 0x02]);
            out.push(alloc::vec![first, 3, 0x01, 0x02, 0x10]);
        }
        out
    }

    /// Whenever the fast path answers, the general path gives the same packet and length;
    /// checked on every truncation of every seed and on every value of every byte of it.
    #[test]
    fn the_fast_path_agrees_with_the_general_path() {
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            let limits = Limits::default();
            let small = Limits::with_max_packet_size(20);
            let mut taken = 0;
            let mut check = |input: &[u8]| {
                for l in [&limits, &small] {
                    if let Some(fast) = decode(input, v, l) {
                        let general = decode_general::<true>(input, v, l);
                        assert_eq!(general, Ok(Some(fast)), "{input:02x?} in {v:?}");
                        taken += 1;
                    }
                }
            };
            for seed in seeds(v) {
                for len in 0..=seed.len() {
                    check(&seed[..len]);
                }
                // At every alignment of the address (the topic's `from_utf8` depends on it).
                for offset in 1..16 {
                    let mut shifted = alloc::vec![0xFF; offset];
                    shifted.extend_from_slice(&seed);
                    check(&shifted[offset..]);
                }
                for pos in 0..seed.len() {
                    for b in 0..=255u8 {
                        let mut m = seed.clone();
                        m[pos] = b;
                        check(&m);
                    }
                }
            }
            // The fast path did take the common forms.
            assert!(taken > 1000, "{v:?}: only {taken} fast decodes");
        }
    }
}
