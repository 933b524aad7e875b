//! PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4-§3.7): a packet identifier, and in 5.0 a reason
//! code and properties.

use super::check::{decode_reason, properties_len, reason};
use super::sink::Sink;
use crate::error::{DecodeError, EncodeError};
use crate::parse::{self, packet_id, u8_, PResult};
use crate::properties::{properties, Properties, PropertyContext};
use crate::reason::{PacketType, ReasonCode};
use crate::types::{PacketId, ProtocolVersion};

/// The body of PUBACK, PUBREC, PUBREL and PUBCOMP.
///
/// ```
/// use mqtt_sansio_proto::{Ack, Packet, PacketId, ProtocolVersion};
/// let ack = Ack::new(PacketId::new(7).unwrap());
/// let mut out = Vec::new();
/// Packet::PubRel(ack).encode(ProtocolVersion::V311, &mut out).unwrap();
/// assert_eq!(out, [0x62, 0x02, 0x00, 0x07]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ack<'a> {
    /// The identifier of the PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// The outcome (5.0); always Success in 3.1.1.
    pub reason: ReasonCode,
    /// Properties (5.0).
    pub properties: Properties<'a>,
}

impl<'a> Ack<'a> {
    /// A successful acknowledgement with no properties.
    pub const fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }
    }

    pub(super) fn decode(
        t: PacketType,
        body: &'a [u8],
        v: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        parse::all(ack(body, t, v))
    }

    /// Success and no properties: the packet identifier alone on the wire, in both versions
    /// (5.0 §3.4.2.1), and nothing to validate (Success is valid for every ack type).
    #[cfg(feature = "fast-paths")]
    #[inline(always)]
    pub(super) fn is_plain(&self) -> bool {
        self.reason == ReasonCode::Success && self.properties.is_empty()
    }

    fn context(t: PacketType) -> PropertyContext {
        match t {
            PacketType::PubAck => PropertyContext::PubAck,
            PacketType::PubRec => PropertyContext::PubRec,
            PacketType::PubRel => PropertyContext::PubRel,
            _ => PropertyContext::PubComp,
        }
    }

    // Out of line like the other packets' `body_len`: inlined, it makes `Packet::lengths` save
    // more registers on every encode, PUBLISH included (x86_64, since errors are smaller).
    #[inline(never)]
    pub(super) fn body_len(&self, t: PacketType, v: ProtocolVersion) -> Result<usize, EncodeError> {
        reason(self.reason, t, v)?;
        let props = properties_len(&self.properties, v, Self::context(t))?;
        Ok(match v {
            ProtocolVersion::V311 => 2,
            // The reason code and property length may be left out when they are Success and
            // empty (§3.4.2.1); we use the shortest form.
            ProtocolVersion::V5
                if self.properties.is_empty() && self.reason == ReasonCode::Success =>
            {
                2
            }
            ProtocolVersion::V5 if self.properties.is_empty() => 3,
            ProtocolVersion::V5 => 3 + props,
        })
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u16(self.packet_id.get());
        if v == ProtocolVersion::V5
            && (self.reason != ReasonCode::Success || !self.properties.is_empty())
        {
            s.put_u8(self.reason.as_u8());
            if !self.properties.is_empty() {
                s.put_properties(&self.properties);
            }
        }
    }
}

fn ack(i: &[u8], t: PacketType, v: ProtocolVersion) -> PResult<'_, Ack<'_>> {
    let (i, packet_id) = packet_id(i)?;
    if v == ProtocolVersion::V311 || i.is_empty() {
        return Ok((i, Ack::new(packet_id)));
    }
    let (i, code) = u8_(i)?;
    let reason = match decode_reason(code, t) {
        Ok(r) => r,
        Err(e) => return parse::fail(e),
    };
    if i.is_empty() {
        return Ok((
            i,
            Ack {
                packet_id,
                reason,
                properties: Properties::EMPTY,
            },
        ));
    }
    let (i, props) = properties(i, Ack::context(t))?;
    Ok((
        i,
        Ack {
            packet_id,
            reason,
            properties: props,
        },
    ))
}

#[cfg(all(test, feature = "fast-paths"))]
mod tests {
    use alloc::vec;

    use super::super::Packet;
    use super::*;
    use crate::properties::{PropertiesBuf, Property};

    /// The two-byte shortcut writes the bytes of the general encoder and leaves the other
    /// forms, and the refusals, to it.
    #[test]
    fn the_plain_ack_agrees_with_the_general_encoder() {
        let mut props = PropertiesBuf::new();
        props.push(Property::ReasonString("r")).expect("valid");
        for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
            for id in [1, 0x00FF, 0x1234, u16::MAX] {
                for reason in [
                    ReasonCode::Success,
                    ReasonCode::NoMatchingSubscribers,
                    ReasonCode::PacketIdentifierNotFound,
                ] {
                    for with_props in [false, true] {
                        let mut a = Ack::new(PacketId::new(id).expect("non-zero"));
                        a.reason = reason;
                        if with_props {
                            a.properties = props.as_properties();
                        }
                        for p in [
                            Packet::PubAck(a),
                            Packet::PubRec(a),
                            Packet::PubRel(a),
                            Packet::PubComp(a),
                        ] {
                            let mut general = vec![9];
                            let expected = p.encode_general::<false>(v, &mut general);
                            let mut fast = vec![9];
                            assert_eq!(p.encode(v, &mut fast), expected, "{p:?} {v:?}");
                            assert_eq!(fast, general, "{p:?} {v:?}");
                            assert_eq!(p.encoded_len(v), p.lengths::<false>(v).map(|(_, t)| t));
                        }
                    }
                }
            }
        }
    }
}
