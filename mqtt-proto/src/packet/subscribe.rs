//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (§3.8-§3.11).

use alloc::vec::Vec;

use smallvec::SmallVec;

use super::check::{decode_reason, properties_len, str_len};
use super::sink::Sink;
use crate::error::{DecodeError, EncodeError};
use crate::parse::{self, fail, packet_id, topic_filter, u8_, PResult};
use crate::properties::{properties, Properties, PropertyContext};
use crate::reason::{PacketType, ReasonCode};
use crate::rule::rules;
use crate::types::{PacketId, ProtocolVersion, QoS, TopicFilter};

/// When the server sends retained messages for a new subscription (5.0 §3.8.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe (the 3.1.1 behaviour).
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// The options byte of one subscription. In 3.1.1 only `qos` exists; the others must keep
/// their defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SubscriptionOptions {
    /// The largest QoS the client wants to receive on this subscription.
    pub qos: QoS,
    /// 5.0: do not send back messages this client published.
    pub no_local: bool,
    /// 5.0: keep the retain flag as published.
    pub retain_as_published: bool,
    /// 5.0: when to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with this QoS and 3.1.1 behaviour for the rest.
    pub const fn qos(qos: QoS) -> Self {
        Self {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }

    fn byte(&self) -> u8 {
        self.qos.as_u8()
            | (u8::from(self.no_local) << 2)
            | (u8::from(self.retain_as_published) << 3)
            | ((self.retain_handling as u8) << 4)
    }
}

/// One topic filter of a SUBSCRIBE with its options.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Subscription<'a> {
    /// The topic filter.
    pub filter: TopicFilter<'a>,
    /// Its options.
    pub options: SubscriptionOptions,
}

impl<'a> Subscription<'a> {
    /// A subscription to `filter` at `qos`.
    pub const fn new(filter: TopicFilter<'a>, qos: QoS) -> Self {
        Self {
            filter,
            options: SubscriptionOptions::qos(qos),
        }
    }
}

/// SUBSCRIBE (§3.8).
///
/// ```
/// use mqtt_sansio_proto::{Packet, PacketId, ProtocolVersion, QoS, Subscribe, Subscription, TopicFilter};
/// let sub = Subscription::new(TopicFilter::new("a/+").unwrap(), QoS::AtLeastOnce);
/// let packet = Subscribe::new(PacketId::new(1).unwrap(), [sub]);
/// let mut out = Vec::new();
/// Packet::Subscribe(packet).encode(ProtocolVersion::V311, &mut out).unwrap();
/// assert_eq!(out, [0x82, 8, 0, 1, 0, 3, b'a', b'/', b'+', 1]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe<'a> {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// SUBSCRIBE properties (5.0): subscription identifier, user properties.
    pub properties: Properties<'a>,
    /// The subscriptions; at least one [MQTT-3.8.3-3].
    ///
    /// A `Vec` rather than an inline list: `SmallVec` would make the packet invariant over
    /// `'a`, so packets with different borrows could not be compared or mixed.
    pub subscriptions: Vec<Subscription<'a>>,
}

impl<'a> Subscribe<'a> {
    /// A SUBSCRIBE with no properties.
    pub fn new(
        packet_id: PacketId,
        subscriptions: impl IntoIterator<Item = Subscription<'a>>,
    ) -> Self {
        Self {
            packet_id,
            properties: Properties::EMPTY,
            subscriptions: subscriptions.into_iter().collect(),
        }
    }

    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(subscribe(body, v))
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::invalid(
                rules::SUBSCRIBE_EMPTY,
                "SUBSCRIBE needs at least one topic filter",
            ));
        }
        let mut len = 2 + properties_len(&self.properties, v, PropertyContext::Subscribe)?;
        for s in &self.subscriptions {
            check_options(&s.filter, &s.options, v)?;
            len += str_len(s.filter.as_str())? + 1;
        }
        Ok(len)
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u16(self.packet_id.get());
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
        }
        for sub in &self.subscriptions {
            s.put_prefixed(sub.filter.as_str().as_bytes());
            s.put_u8(sub.options.byte());
        }
    }
}

fn check_options(
    f: &TopicFilter<'_>,
    o: &SubscriptionOptions,
    v: ProtocolVersion,
) -> Result<(), EncodeError> {
    match v {
        ProtocolVersion::V311 => {
            if *o != SubscriptionOptions::qos(o.qos) {
                return Err(EncodeError::invalid(
                    rules::NOT_IN_V311,
                    "No Local, Retain As Published and Retain Handling are MQTT 5.0 options",
                ));
            }
        }
        ProtocolVersion::V5 => {
            f.check_shared_v5()?;
            if o.no_local && f.is_shared() {
                return Err(EncodeError::invalid(
                    rules::SHARED_NO_LOCAL,
                    "No Local cannot be set on a shared subscription",
                ));
            }
        }
    }
    Ok(())
}

fn subscribe(i: &[u8], v: ProtocolVersion) -> PResult<'_, Subscribe<'_>> {
    let (i, packet_id) = packet_id(i)?;
    let (mut i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::Subscribe)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    let mut subscriptions = Vec::new();
    while !i.is_empty() {
        let (j, filter) = topic_filter(i)?;
        let (j, byte) = u8_(j)?;
        i = j;
        let options = match subscription_options(byte, v) {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        if v == ProtocolVersion::V5 {
            if let Err(e) = filter.check_shared_v5() {
                return fail(DecodeError::protocol(e.rule, e.what));
            }
            if options.no_local && filter.is_shared() {
                return fail(DecodeError::protocol(
                    rules::SHARED_NO_LOCAL,
                    "No Local set on a shared subscription",
                ));
            }
        }
        subscriptions.push(Subscription { filter, options });
    }
    if subscriptions.is_empty() {
        return fail(DecodeError::protocol(
            rules::SUBSCRIBE_EMPTY,
            "SUBSCRIBE without any topic filter",
        ));
    }
    Ok((
        i,
        Subscribe {
            packet_id,
            properties: props,
            subscriptions,
        },
    ))
}

fn subscription_options(b: u8, v: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = match v {
        ProtocolVersion::V311 => 0b1111_1100,
        ProtocolVersion::V5 => 0b1100_0000,
    };
    let bad = DecodeError::malformed(
        rules::SUBSCRIPTION_OPTIONS,
        "reserved subscription option bits set, or QoS 3",
    );
    if b & reserved != 0 {
        return Err(bad);
    }
    let qos = match QoS::from_u8(b & 0b11) {
        Some(q) => q,
        // 5.0 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
        // (3.1.1 [MQTT-3-8.3-4] calls it malformed.)
        None if v == ProtocolVersion::V5 => {
            return Err(DecodeError::protocol(
                rules::SUBSCRIPTION_OPTIONS,
                "subscription QoS 3 is not valid",
            ))
        }
        None => return Err(bad),
    };
    let retain_handling = match (b >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => {
            return Err(DecodeError::protocol(
                rules::RETAIN_HANDLING,
                "Retain Handling 3 is not valid",
            ))
        }
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: b & 0b0100 != 0,
        retain_as_published: b & 0b1000 != 0,
        retain_handling,
    })
}

/// SUBACK (§3.9): one code per subscription, in order.
///
/// In 3.1.1 the return codes 0x00, 0x01, 0x02 and 0x80 are the same values as the 5.0 reason
/// codes Granted QoS 0/1/2 and Unspecified error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubAck<'a> {
    /// Identifier of the SUBSCRIBE being acknowledged.
    pub packet_id: PacketId,
    /// SUBACK properties (5.0).
    pub properties: Properties<'a>,
    /// One code per requested subscription.
    pub reason_codes: SmallVec<[ReasonCode; 8]>,
}

impl<'a> SubAck<'a> {
    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(suback(body, v))
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::invalid(
                rules::SUBACK_RETURN_CODE,
                "SUBACK needs one code per subscription",
            ));
        }
        for &c in &self.reason_codes {
            let ok = match v {
                ProtocolVersion::V311 => v311_suback_code(c.as_u8()),
                ProtocolVersion::V5 => c.is_valid_for(PacketType::SubAck),
            };
            if !ok {
                return Err(EncodeError::invalid(
                    rules::SUBACK_RETURN_CODE,
                    "code not allowed in SUBACK",
                ));
            }
        }
        Ok(
            2 + properties_len(&self.properties, v, PropertyContext::SubAck)?
                + self.reason_codes.len(),
        )
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u16(self.packet_id.get());
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
        }
        for c in &self.reason_codes {
            s.put_u8(c.as_u8());
        }
    }
}

fn v311_suback_code(b: u8) -> bool {
    matches!(b, 0x00 | 0x01 | 0x02 | 0x80)
}

fn suback(i: &[u8], v: ProtocolVersion) -> PResult<'_, SubAck<'_>> {
    let (i, packet_id) = packet_id(i)?;
    let (i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::SubAck)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    if i.is_empty() {
        return fail(DecodeError::protocol(
            rules::SUBACK_RETURN_CODE,
            "SUBACK without any return code",
        ));
    }
    let mut reason_codes = SmallVec::new();
    for &b in i {
        let code = match v {
            ProtocolVersion::V311 if v311_suback_code(b) => ReasonCode::from_u8(b),
            ProtocolVersion::V311 => None,
            ProtocolVersion::V5 => decode_reason(b, PacketType::SubAck).ok(),
        };
        match code {
            Some(c) => reason_codes.push(c),
            None => {
                let rule = match v {
                    ProtocolVersion::V311 => rules::SUBACK_RETURN_CODE,
                    ProtocolVersion::V5 => rules::REASON_CODE,
                };
                return fail(DecodeError::malformed(rule, "code not allowed in SUBACK"));
            }
        }
    }
    Ok((
        &[],
        SubAck {
            packet_id,
            properties: props,
            reason_codes,
        },
    ))
}

/// UNSUBSCRIBE (§3.10).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsubscribe<'a> {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// UNSUBSCRIBE properties (5.0): user properties.
    pub properties: Properties<'a>,
    /// The filters to remove; at least one [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter<'a>>,
}

impl<'a> Unsubscribe<'a> {
    /// An UNSUBSCRIBE with no properties.
    pub fn new(packet_id: PacketId, filters: impl IntoIterator<Item = TopicFilter<'a>>) -> Self {
        Self {
            packet_id,
            properties: Properties::EMPTY,
            filters: filters.into_iter().collect(),
        }
    }

    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(unsubscribe(body, v))
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::invalid(
                rules::UNSUBSCRIBE_EMPTY,
                "UNSUBSCRIBE needs at least one topic filter",
            ));
        }
        let mut len = 2 + properties_len(&self.properties, v, PropertyContext::Unsubscribe)?;
        for f in &self.filters {
            if v == ProtocolVersion::V5 {
                f.check_shared_v5()?;
            }
            len += str_len(f.as_str())?;
        }
        Ok(len)
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u16(self.packet_id.get());
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
        }
        for f in &self.filters {
            s.put_prefixed(f.as_str().as_bytes());
        }
    }
}

fn unsubscribe(i: &[u8], v: ProtocolVersion) -> PResult<'_, Unsubscribe<'_>> {
    let (i, packet_id) = packet_id(i)?;
    let (mut i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::Unsubscribe)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    let mut filters = Vec::new();
    while !i.is_empty() {
        let (j, f) = topic_filter(i)?;
        i = j;
        if v == ProtocolVersion::V5 {
            if let Err(e) = f.check_shared_v5() {
                return fail(DecodeError::protocol(e.rule, e.what));
            }
        }
        filters.push(f);
    }
    if filters.is_empty() {
        return fail(DecodeError::protocol(
            rules::UNSUBSCRIBE_EMPTY,
            "UNSUBSCRIBE without any topic filter",
        ));
    }
    Ok((
        i,
        Unsubscribe {
            packet_id,
            properties: props,
            filters,
        },
    ))
}

/// UNSUBACK (§3.11). In 3.1.1 it carries only the packet identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsubAck<'a> {
    /// Identifier of the UNSUBSCRIBE being acknowledged.
    pub packet_id: PacketId,
    /// UNSUBACK properties (5.0).
    pub properties: Properties<'a>,
    /// One code per filter (5.0); empty in 3.1.1.
    pub reason_codes: SmallVec<[ReasonCode; 8]>,
}

impl<'a> UnsubAck<'a> {
    /// A 3.1.1-style UNSUBACK: the packet identifier alone.
    pub fn new(packet_id: PacketId) -> Self {
        Self {
            packet_id,
            properties: Properties::EMPTY,
            reason_codes: SmallVec::new(),
        }
    }

    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(unsuback(body, v))
    }

    // Out of line like the other packets' `body_len`: inlined, it makes `Packet::lengths` save
    // more registers on every encode, PUBLISH included (x86_64, since errors are smaller).
    #[inline(never)]
    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        match v {
            ProtocolVersion::V311 => {
                if !self.reason_codes.is_empty() {
                    return Err(EncodeError::invalid(
                        rules::NOT_IN_V311,
                        "MQTT 3.1.1 UNSUBACK has no reason codes",
                    ));
                }
                properties_len(&self.properties, v, PropertyContext::UnsubAck)?;
                Ok(2)
            }
            ProtocolVersion::V5 => {
                if self.reason_codes.is_empty() {
                    return Err(EncodeError::invalid(
                        rules::UNSUBSCRIBE_EMPTY,
                        "UNSUBACK needs one reason code per filter",
                    ));
                }
                if self
                    .reason_codes
                    .iter()
                    .any(|c| !c.is_valid_for(PacketType::UnsubAck))
                {
                    return Err(EncodeError::invalid(
                        rules::REASON_CODE,
                        "not an UNSUBACK reason code",
                    ));
                }
                Ok(
                    2 + properties_len(&self.properties, v, PropertyContext::UnsubAck)?
                        + self.reason_codes.len(),
                )
            }
        }
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u16(self.packet_id.get());
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
            for c in &self.reason_codes {
                s.put_u8(c.as_u8());
            }
        }
    }
}

fn unsuback(i: &[u8], v: ProtocolVersion) -> PResult<'_, UnsubAck<'_>> {
    let (i, packet_id) = packet_id(i)?;
    if v == ProtocolVersion::V311 {
        return Ok((i, UnsubAck::new(packet_id)));
    }
    let (i, props) = properties(i, PropertyContext::UnsubAck)?;
    if i.is_empty() {
        return fail(DecodeError::protocol(
            rules::UNSUBSCRIBE_EMPTY,
            "UNSUBACK without any reason code",
        ));
    }
    let mut reason_codes = SmallVec::new();
    for &b in i {
        match decode_reason(b, PacketType::UnsubAck) {
            Ok(c) => reason_codes.push(c),
            Err(e) => return fail(e),
        }
    }
    Ok((
        &[],
        UnsubAck {
            packet_id,
            properties: props,
            reason_codes,
        },
    ))
}
