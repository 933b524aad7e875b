//! MQTT 5.0 properties (§2.2.2): validated once at decode, then read lazily from the packet's
//! own bytes, so decoding a packet with properties allocates nothing.

use alloc::vec::Vec;
use core::fmt;

use crate::error::{DecodeError, ValueError};
use crate::parse::{self, binary, fail, string, u16_, u32_, u8_, varint, PResult};
use crate::rule::rules;
use crate::types::{check_binary, check_mqtt_str, TopicName};
use crate::varint;

/// The place a property list appears in: a packet type, or the will properties of CONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// CONNECT.
    Connect,
    /// The will properties inside CONNECT's payload.
    Will,
    /// CONNACK.
    ConnAck,
    /// PUBLISH.
    Publish,
    /// PUBACK.
    PubAck,
    /// PUBREC.
    PubRec,
    /// PUBREL.
    PubRel,
    /// PUBCOMP.
    PubComp,
    /// SUBSCRIBE.
    Subscribe,
    /// SUBACK.
    SubAck,
    /// UNSUBSCRIBE.
    Unsubscribe,
    /// UNSUBACK.
    UnsubAck,
    /// DISCONNECT.
    Disconnect,
    /// AUTH.
    Auth,
}

impl PropertyContext {
    /// This context's bit in the masks of [`ALLOWED_IN`].
    const fn bit(self) -> u16 {
        1 << self as u8
    }
}

/// The contexts of `list` as a mask of [`PropertyContext::bit`]s.
const fn contexts(mut list: &[PropertyContext]) -> u16 {
    let mut mask = 0;
    while let [first, rest @ ..] = list {
        mask |= first.bit();
        list = rest;
    }
    mask
}

/// Where each property may appear, indexed by identifier: the table of 5.0 §2.2.2.2 (0 for
/// an identifier that names no property).
const ALLOWED_IN: [u16; 0x2B] = {
    use PropertyContext as C;
    let message = contexts(&[C::Publish, C::Will]);
    let connack = contexts(&[C::ConnAck]);
    let limits = contexts(&[C::Connect, C::ConnAck]);
    let auth = contexts(&[C::Connect, C::ConnAck, C::Auth]);
    let mut t = [0; 0x2B];
    t[0x01] = message; // Payload Format Indicator
    t[0x02] = message; // Message Expiry Interval
    t[0x03] = message; // Content Type
    t[0x08] = message; // Response Topic
    t[0x09] = message; // Correlation Data
    t[0x0B] = contexts(&[C::Publish, C::Subscribe]); // Subscription Identifier
    t[0x11] = contexts(&[C::Connect, C::ConnAck, C::Disconnect]); // Session Expiry Interval
    t[0x12] = connack; // Assigned Client Identifier
    t[0x13] = connack; // Server Keep Alive
    t[0x15] = auth; // Authentication Method
    t[0x16] = auth; // Authentication Data
    t[0x17] = contexts(&[C::Connect]); // Request Problem Information
    t[0x18] = contexts(&[C::Will]); // Will Delay Interval
    t[0x19] = contexts(&[C::Connect]); // Request Response Information
    t[0x1A] = connack; // Response Information
    t[0x1C] = contexts(&[C::ConnAck, C::Disconnect]); // Server Reference
                                                      // Reason String: in the answers, DISCONNECT and AUTH; not in CONNECT, the will, PUBLISH,
                                                      // SUBSCRIBE or UNSUBSCRIBE.
    t[0x1F] = contexts(&[
        C::ConnAck,
        C::PubAck,
        C::PubRec,
        C::PubRel,
        C::PubComp,
        C::SubAck,
        C::UnsubAck,
        C::Disconnect,
        C::Auth,
    ]);
    t[0x21] = limits; // Receive Maximum
    t[0x22] = limits; // Topic Alias Maximum
    t[0x23] = contexts(&[C::Publish]); // Topic Alias
    t[0x24] = connack; // Maximum QoS
    t[0x25] = connack; // Retain Available
    t[0x26] = u16::MAX; // User Property: everywhere
    t[0x27] = limits; // Maximum Packet Size
    t[0x28] = connack; // Wildcard Subscription Available
    t[0x29] = connack; // Subscription Identifier Available
    t[0x2A] = connack; // Shared Subscription Available
    t
};

/// One MQTT 5.0 property (§2.2.2.2), borrowing its strings and binary data.
///
/// `Debug` shows Authentication Data as [`Redacted`]: it can carry secrets (SCRAM proofs,
/// tokens) and `Debug` output ends up in logs.
#[derive(Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Property<'a> {
    /// 0x01: 0 = unspecified bytes, 1 = UTF-8 payload.
    PayloadFormatIndicator(u8),
    /// 0x02: lifetime of the message in seconds.
    MessageExpiryInterval(u32),
    /// 0x03: content type of the payload.
    ContentType(&'a str),
    /// 0x08: topic name for a response.
    ResponseTopic(&'a str),
    /// 0x09: correlation data of a request/response.
    CorrelationData(&'a [u8]),
    /// 0x0B: subscription identifier (1..=268,435,455).
    SubscriptionIdentifier(u32),
    /// 0x11: session expiry interval in seconds.
    SessionExpiryInterval(u32),
    /// 0x12: client identifier assigned by the server.
    AssignedClientIdentifier(&'a str),
    /// 0x13: keep alive chosen by the server, in seconds.
    ServerKeepAlive(u16),
    /// 0x15: name of the enhanced authentication method.
    AuthenticationMethod(&'a str),
    /// 0x16: enhanced authentication data.
    AuthenticationData(&'a [u8]),
    /// 0x17: 0 or 1.
    RequestProblemInformation(u8),
    /// 0x18: delay before the will is published, in seconds.
    WillDelayInterval(u32),
    /// 0x19: 0 or 1.
    RequestResponseInformation(u8),
    /// 0x1A: basis for response topics.
    ResponseInformation(&'a str),
    /// 0x1C: another server to use.
    ServerReference(&'a str),
    /// 0x1F: human-readable reason.
    ReasonString(&'a str),
    /// 0x21: how many QoS 1/2 publishes the sender accepts at once (not 0).
    ReceiveMaximum(u16),
    /// 0x22: highest topic alias the sender accepts.
    TopicAliasMaximum(u16),
    /// 0x23: topic alias (not 0).
    TopicAlias(u16),
    /// 0x24: 0 or 1.
    MaximumQoS(u8),
    /// 0x25: 0 or 1.
    RetainAvailable(u8),
    /// 0x26: a name/value pair; may repeat.
    UserProperty(&'a str, &'a str),
    /// 0x27: largest packet the sender accepts (not 0).
    MaximumPacketSize(u32),
    /// 0x28: 0 or 1.
    WildcardSubscriptionAvailable(u8),
    /// 0x29: 0 or 1.
    SubscriptionIdentifierAvailable(u8),
    /// 0x2A: 0 or 1.
    SharedSubscriptionAvailable(u8),
}

impl fmt::Debug for Property<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, value): (&str, &dyn fmt::Debug) = match self {
            Self::PayloadFormatIndicator(v) => ("PayloadFormatIndicator", v),
            Self::MessageExpiryInterval(v) => ("MessageExpiryInterval", v),
            Self::ContentType(v) => ("ContentType", v),
            Self::ResponseTopic(v) => ("ResponseTopic", v),
            Self::CorrelationData(v) => ("CorrelationData", v),
            Self::SubscriptionIdentifier(v) => ("SubscriptionIdentifier", v),
            Self::SessionExpiryInterval(v) => ("SessionExpiryInterval", v),
            Self::AssignedClientIdentifier(v) => ("AssignedClientIdentifier", v),
            Self::ServerKeepAlive(v) => ("ServerKeepAlive", v),
            Self::AuthenticationMethod(v) => ("AuthenticationMethod", v),
            Self::AuthenticationData(_) => ("AuthenticationData", &Redacted),
            Self::RequestProblemInformation(v) => ("RequestProblemInformation", v),
            Self::WillDelayInterval(v) => ("WillDelayInterval", v),
            Self::RequestResponseInformation(v) => ("RequestResponseInformation", v),
            Self::ResponseInformation(v) => ("ResponseInformation", v),
            Self::ServerReference(v) => ("ServerReference", v),
            Self::ReasonString(v) => ("ReasonString", v),
            Self::ReceiveMaximum(v) => ("ReceiveMaximum", v),
            Self::TopicAliasMaximum(v) => ("TopicAliasMaximum", v),
            Self::TopicAlias(v) => ("TopicAlias", v),
            Self::MaximumQoS(v) => ("MaximumQoS", v),
            Self::RetainAvailable(v) => ("RetainAvailable", v),
            Self::UserProperty(k, v) => {
                return f.debug_tuple("UserProperty").field(k).field(v).finish()
            }
            Self::MaximumPacketSize(v) => ("MaximumPacketSize", v),
            Self::WildcardSubscriptionAvailable(v) => ("WildcardSubscriptionAvailable", v),
            Self::SubscriptionIdentifierAvailable(v) => ("SubscriptionIdentifierAvailable", v),
            Self::SharedSubscriptionAvailable(v) => ("SharedSubscriptionAvailable", v),
        };
        f.debug_tuple(name).field(value).finish()
    }
}

/// Stands in for a secret in `Debug` output (passwords, Authentication Data, private keys):
/// prints `<redacted>`. Public so that every crate of the client marks secrets the same way.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Property<'_> {
    /// The property's identifier byte.
    pub const fn id(&self) -> u8 {
        match self {
            Self::PayloadFormatIndicator(_) => 0x01,
            Self::MessageExpiryInterval(_) => 0x02,
            Self::ContentType(_) => 0x03,
            Self::ResponseTopic(_) => 0x08,
            Self::CorrelationData(_) => 0x09,
            Self::SubscriptionIdentifier(_) => 0x0B,
            Self::SessionExpiryInterval(_) => 0x11,
            Self::AssignedClientIdentifier(_) => 0x12,
            Self::ServerKeepAlive(_) => 0x13,
            Self::AuthenticationMethod(_) => 0x15,
            Self::AuthenticationData(_) => 0x16,
            Self::RequestProblemInformation(_) => 0x17,
            Self::WillDelayInterval(_) => 0x18,
            Self::RequestResponseInformation(_) => 0x19,
            Self::ResponseInformation(_) => 0x1A,
            Self::ServerReference(_) => 0x1C,
            Self::ReasonString(_) => 0x1F,
            Self::ReceiveMaximum(_) => 0x21,
            Self::TopicAliasMaximum(_) => 0x22,
            Self::TopicAlias(_) => 0x23,
            Self::MaximumQoS(_) => 0x24,
            Self::RetainAvailable(_) => 0x25,
            Self::UserProperty(..) => 0x26,
            Self::MaximumPacketSize(_) => 0x27,
            Self::WildcardSubscriptionAvailable(_) => 0x28,
            Self::SubscriptionIdentifierAvailable(_) => 0x29,
            Self::SharedSubscriptionAvailable(_) => 0x2A,
        }
    }

    /// Whether the property may appear in `ctx` (the table of §2.2.2.2).
    pub fn allowed_in(&self, ctx: PropertyContext) -> bool {
        // One load from `ALLOWED_IN`: smaller and faster than a match over the variants
        // (issue 15: flash).
        ALLOWED_IN
            .get(usize::from(self.id()))
            .is_some_and(|&contexts| contexts & ctx.bit() != 0)
    }

    /// Whether the property may appear more than once in `ctx`: User Property always,
    /// Subscription Identifier in PUBLISH only (§3.3.2.3.8, §3.8.2.1.2).
    pub fn may_repeat_in(&self, ctx: PropertyContext) -> bool {
        match self {
            Self::UserProperty(..) => true,
            Self::SubscriptionIdentifier(_) => ctx == PropertyContext::Publish,
            _ => false,
        }
    }

    /// Checks the value against the range the specification gives it.
    pub fn check_value(&self) -> Result<(), ValueError> {
        let bad = |what| {
            Err(ValueError {
                rule: rules::PROPERTY_VALUE,
                what: crate::error::text(what),
            })
        };
        match *self {
            Self::PayloadFormatIndicator(v)
            | Self::RequestProblemInformation(v)
            | Self::RequestResponseInformation(v)
            | Self::MaximumQoS(v)
            | Self::RetainAvailable(v)
            | Self::WildcardSubscriptionAvailable(v)
            | Self::SubscriptionIdentifierAvailable(v)
            | Self::SharedSubscriptionAvailable(v)
                if v > 1 =>
            {
                bad("this property's value must be 0 or 1")
            }
            Self::SubscriptionIdentifier(v) if v == 0 || v > varint::MAX => Err(ValueError {
                rule: rules::SUBSCRIPTION_ID_ZERO,
                what: crate::error::text(
                    "a subscription identifier must be between 1 and 268435455",
                ),
            }),
            Self::ReceiveMaximum(0) => Err(ValueError {
                rule: rules::RECEIVE_MAXIMUM_ZERO,
                what: crate::error::text("Receive Maximum must not be 0"),
            }),
            Self::MaximumPacketSize(0) => Err(ValueError {
                rule: rules::MAXIMUM_PACKET_SIZE_ZERO,
                what: crate::error::text("Maximum Packet Size must not be 0"),
            }),
            Self::TopicAlias(0) => Err(ValueError {
                rule: rules::TOPIC_ALIAS_ZERO,
                what: crate::error::text("a topic alias must not be 0"),
            }),
            Self::ResponseTopic(t) => TopicName::new(t).map(|_| ()),
            Self::ContentType(s)
            | Self::AssignedClientIdentifier(s)
            | Self::AuthenticationMethod(s)
            | Self::ResponseInformation(s)
            | Self::ServerReference(s)
            | Self::ReasonString(s) => check_mqtt_str(s),
            Self::UserProperty(k, v) => check_mqtt_str(k).and_then(|()| check_mqtt_str(v)),
            Self::CorrelationData(b) | Self::AuthenticationData(b) => check_binary(b),
            _ => Ok(()),
        }
    }

    /// Appends the encoded property; the value must have passed [`Property::check_value`].
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.push(self.id());
        let put_str = |out: &mut Vec<u8>, b: &[u8]| {
            // Lengths were checked by check_value; truncation cannot happen.
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        };
        match *self {
            Self::PayloadFormatIndicator(v)
            | Self::RequestProblemInformation(v)
            | Self::RequestResponseInformation(v)
            | Self::MaximumQoS(v)
            | Self::RetainAvailable(v)
            | Self::WildcardSubscriptionAvailable(v)
            | Self::SubscriptionIdentifierAvailable(v)
            | Self::SharedSubscriptionAvailable(v) => out.push(v),
            Self::ServerKeepAlive(v)
            | Self::ReceiveMaximum(v)
            | Self::TopicAliasMaximum(v)
            | Self::TopicAlias(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::MessageExpiryInterval(v)
            | Self::SessionExpiryInterval(v)
            | Self::WillDelayInterval(v)
            | Self::MaximumPacketSize(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::SubscriptionIdentifier(v) => {
                let mut buf = [0; 4];
                let n = varint::write(v, &mut buf);
                out.extend_from_slice(buf.get(..n).unwrap_or_default());
            }
            Self::ContentType(s)
            | Self::ResponseTopic(s)
            | Self::AssignedClientIdentifier(s)
            | Self::AuthenticationMethod(s)
            | Self::ResponseInformation(s)
            | Self::ServerReference(s)
            | Self::ReasonString(s) => put_str(out, s.as_bytes()),
            Self::CorrelationData(b) | Self::AuthenticationData(b) => put_str(out, b),
            Self::UserProperty(k, v) => {
                put_str(out, k.as_bytes());
                put_str(out, v.as_bytes());
            }
        }
    }
}

/// Parses one property (identifier and value), without context checks.
fn property(i: &[u8]) -> PResult<'_, Property<'_>> {
    use Property as P;
    let (i, id) = varint(i)?;
    // One parse per value type, then the identifier picks the variant: a failed parse is
    // propagated from seven places instead of one per identifier (issue 15: flash).
    let (i, p) = match id {
        0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => {
            let (i, v) = u8_(i)?;
            let p = match id {
                0x01 => P::PayloadFormatIndicator(v),
                0x17 => P::RequestProblemInformation(v),
                0x19 => P::RequestResponseInformation(v),
                0x24 => P::MaximumQoS(v),
                0x25 => P::RetainAvailable(v),
                0x28 => P::WildcardSubscriptionAvailable(v),
                0x29 => P::SubscriptionIdentifierAvailable(v),
                _ => P::SharedSubscriptionAvailable(v),
            };
            (i, p)
        }
        0x13 | 0x21 | 0x22 | 0x23 => {
            let (i, v) = u16_(i)?;
            let p = match id {
                0x13 => P::ServerKeepAlive(v),
                0x21 => P::ReceiveMaximum(v),
                0x22 => P::TopicAliasMaximum(v),
                _ => P::TopicAlias(v),
            };
            (i, p)
        }
        0x02 | 0x11 | 0x18 | 0x27 => {
            let (i, v) = u32_(i)?;
            let p = match id {
                0x02 => P::MessageExpiryInterval(v),
                0x11 => P::SessionExpiryInterval(v),
                0x18 => P::WillDelayInterval(v),
                _ => P::MaximumPacketSize(v),
            };
            (i, p)
        }
        0x03 | 0x08 | 0x12 | 0x15 | 0x1A | 0x1C | 0x1F => {
            let (i, v) = string(i)?;
            let p = match id {
                0x03 => P::ContentType(v),
                0x08 => P::ResponseTopic(v),
                0x12 => P::AssignedClientIdentifier(v),
                0x15 => P::AuthenticationMethod(v),
                0x1A => P::ResponseInformation(v),
                0x1C => P::ServerReference(v),
                _ => P::ReasonString(v),
            };
            (i, p)
        }
        0x09 | 0x16 => {
            let (i, v) = binary(i)?;
            let p = match id {
                0x09 => P::CorrelationData(v),
                _ => P::AuthenticationData(v),
            };
            (i, p)
        }
        0x0B => {
            let (i, v) = varint(i)?;
            (i, P::SubscriptionIdentifier(v))
        }
        0x26 => {
            let (i, k) = string(i)?;
            let (i, v) = string(i)?;
            (i, P::UserProperty(k, v))
        }
        _ => {
            return fail(DecodeError::malformed(
                rules::PROPERTY_NOT_ALLOWED,
                "unknown property identifier",
            ))
        }
    };
    Ok((i, p))
}

/// Checks a whole property list for `ctx`: structure, placement, repetition and values.
fn validate(raw: &[u8], ctx: PropertyContext) -> Result<(), DecodeError> {
    let mut seen: u64 = 0;
    let mut rest = raw;
    while !rest.is_empty() {
        let (next, p) = parse::run(property(rest))?;
        rest = next;
        if !p.allowed_in(ctx) {
            return Err(DecodeError::malformed(
                rules::PROPERTY_NOT_ALLOWED,
                "a property appears in a packet that does not allow it",
            ));
        }
        let bit = 1u64 << p.id();
        if seen & bit != 0 && !p.may_repeat_in(ctx) {
            return Err(DecodeError::protocol(
                rules::PROPERTY_DUPLICATE,
                "a property that may appear only once is repeated",
            ));
        }
        seen |= bit;
        // A value out of range (or a wildcard in a Response Topic) is a Protocol Error.
        p.check_value()
            .map_err(|e| DecodeError::protocol(e.rule, e.what))?;
    }
    let has = |id: u8| seen & (1u64 << id) != 0;
    if ctx == PropertyContext::Connect && has(0x16) && !has(0x15) {
        return Err(DecodeError::protocol(
            rules::AUTH_DATA_WITHOUT_METHOD,
            "Authentication Data without an Authentication Method",
        ));
    }
    if ctx == PropertyContext::Auth && !raw.is_empty() && !has(0x15) {
        return Err(DecodeError::protocol(
            rules::AUTH_METHOD_MISSING,
            "AUTH properties without an Authentication Method",
        ));
    }
    Ok(())
}

/// Parses the property length and list at the start of `i` for `ctx` (5.0 only).
pub(crate) fn properties(i: &[u8], ctx: PropertyContext) -> PResult<'_, Properties<'_>> {
    let (i, len) = varint(i)?;
    let (i, raw) = nom::bytes::complete::take(len as usize)(i)?;
    match validate(raw, ctx) {
        Ok(()) => Ok((i, Properties { raw })),
        Err(e) => fail(e),
    }
}

/// A validated list of MQTT 5.0 properties, read lazily from the bytes it was decoded from.
///
/// Empty for every MQTT 3.1.1 packet. Build one to send with [`PropertiesBuf`].
///
/// ```
/// use mqtt_sansio_proto::{Property, PropertiesBuf};
/// let mut buf = PropertiesBuf::new();
/// buf.push(Property::MessageExpiryInterval(60)).unwrap();
/// buf.push(Property::UserProperty("unit", "celsius")).unwrap();
/// let props = buf.as_properties();
/// assert_eq!(props.message_expiry_interval(), Some(60));
/// assert_eq!(props.user_properties().collect::<Vec<_>>(), [("unit", "celsius")]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Properties<'a> {
    raw: &'a [u8],
}

impl<'a> Properties<'a> {
    /// No properties.
    pub const EMPTY: Properties<'static> = Properties { raw: &[] };

    /// Validates `raw` (the property list without its length prefix) for `ctx`.
    pub fn parse(raw: &'a [u8], ctx: PropertyContext) -> Result<Self, DecodeError> {
        validate(raw, ctx)?;
        Ok(Self { raw })
    }

    /// The encoded property list, without its length prefix.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether there are no properties.
    pub const fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The properties in the order they were written.
    pub fn iter(&self) -> PropertyIter<'a> {
        PropertyIter { rest: self.raw }
    }

    /// Checks that every property may appear in `ctx`, as when decoding.
    pub(crate) fn check(&self, ctx: PropertyContext) -> Result<(), DecodeError> {
        validate(self.raw, ctx)
    }

    /// The bytes the property list takes in a packet, length prefix included.
    pub(crate) fn wire_len(&self) -> usize {
        varint::len(self.raw.len() as u32) + self.raw.len()
    }

    fn find<T>(&self, f: impl FnMut(Property<'a>) -> Option<T>) -> Option<T> {
        self.iter().find_map(f)
    }

    /// Session Expiry Interval (0x11), seconds.
    pub fn session_expiry_interval(&self) -> Option<u32> {
        self.find(|p| match p {
            Property::SessionExpiryInterval(v) => Some(v),
            _ => None,
        })
    }

    /// Receive Maximum (0x21).
    pub fn receive_maximum(&self) -> Option<u16> {
        self.find(|p| match p {
            Property::ReceiveMaximum(v) => Some(v),
            _ => None,
        })
    }

    /// Maximum Packet Size (0x27), bytes.
    pub fn maximum_packet_size(&self) -> Option<u32> {
        self.find(|p| match p {
            Property::MaximumPacketSize(v) => Some(v),
            _ => None,
        })
    }

    /// Topic Alias Maximum (0x22).
    pub fn topic_alias_maximum(&self) -> Option<u16> {
        self.find(|p| match p {
            Property::TopicAliasMaximum(v) => Some(v),
            _ => None,
        })
    }

    /// Topic Alias (0x23).
    pub fn topic_alias(&self) -> Option<u16> {
        self.find(|p| match p {
            Property::TopicAlias(v) => Some(v),
            _ => None,
        })
    }

    /// Server Keep Alive (0x13), seconds.
    pub fn server_keep_alive(&self) -> Option<u16> {
        self.find(|p| match p {
            Property::ServerKeepAlive(v) => Some(v),
            _ => None,
        })
    }

    /// Assigned Client Identifier (0x12).
    pub fn assigned_client_identifier(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::AssignedClientIdentifier(v) => Some(v),
            _ => None,
        })
    }

    /// Maximum QoS (0x24).
    pub fn maximum_qos(&self) -> Option<u8> {
        self.find(|p| match p {
            Property::MaximumQoS(v) => Some(v),
            _ => None,
        })
    }

    /// Retain Available (0x25).
    pub fn retain_available(&self) -> Option<bool> {
        self.find(|p| match p {
            Property::RetainAvailable(v) => Some(v == 1),
            _ => None,
        })
    }

    /// Message Expiry Interval (0x02), seconds.
    pub fn message_expiry_interval(&self) -> Option<u32> {
        self.find(|p| match p {
            Property::MessageExpiryInterval(v) => Some(v),
            _ => None,
        })
    }

    /// Response Topic (0x08).
    pub fn response_topic(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::ResponseTopic(v) => Some(v),
            _ => None,
        })
    }

    /// Correlation Data (0x09).
    pub fn correlation_data(&self) -> Option<&'a [u8]> {
        self.find(|p| match p {
            Property::CorrelationData(v) => Some(v),
            _ => None,
        })
    }

    /// Reason String (0x1F).
    pub fn reason_string(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::ReasonString(v) => Some(v),
            _ => None,
        })
    }

    /// Authentication Method (0x15).
    pub fn authentication_method(&self) -> Option<&'a str> {
        self.find(|p| match p {
            Property::AuthenticationMethod(v) => Some(v),
            _ => None,
        })
    }

    /// Every User Property (0x26), in order.
    pub fn user_properties(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter_map(|p| match p {
            Property::UserProperty(k, v) => Some((k, v)),
            _ => None,
        })
    }

    /// Every Subscription Identifier (0x0B), in order.
    pub fn subscription_identifiers(&self) -> impl Iterator<Item = u32> + 'a {
        self.iter().filter_map(|p| match p {
            Property::SubscriptionIdentifier(v) => Some(v),
            _ => None,
        })
    }
}

impl fmt::Debug for Properties<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for Properties<'a> {
    type Item = Property<'a>;
    type IntoIter = PropertyIter<'a>;
    fn into_iter(self) -> PropertyIter<'a> {
        self.iter()
    }
}

/// Iterator over a [`Properties`] list.
#[derive(Clone)]
pub struct PropertyIter<'a> {
    rest: &'a [u8],
}

impl fmt::Debug for PropertyIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The properties left, not their bytes, which would show Authentication Data.
        f.debug_list().entries(self.clone()).finish()
    }
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = Property<'a>;
    fn next(&mut self) -> Option<Property<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // The list was validated when it was built, so this cannot fail; stop if it does.
        match property(self.rest) {
            Ok((rest, p)) => {
                self.rest = rest;
                Some(p)
            }
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

/// An owned, growable property list for sending.
///
/// Values are checked as they are pushed; whether a property suits the packet is checked when
/// the packet is encoded.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct PropertiesBuf {
    raw: Vec<u8>,
}

impl fmt::Debug for PropertiesBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As the properties (Authentication Data redacted), never the raw bytes.
        self.as_properties().fmt(f)
    }
}

impl PropertiesBuf {
    /// An empty list.
    pub const fn new() -> Self {
        Self { raw: Vec::new() }
    }

    /// Appends a property after checking its value range.
    pub fn push(&mut self, p: Property<'_>) -> Result<&mut Self, ValueError> {
        p.check_value()?;
        // Written, then measured and taken back if too long: no second match over the
        // variants to measure first (issue 15: flash). A checked property is at most
        // 1 + 2 * (2 + 65,535) bytes, so the list never holds much more than the limit.
        let before = self.raw.len();
        p.write(&mut self.raw);
        if self.raw.len() > varint::MAX as usize {
            self.raw.truncate(before);
            return Err(ValueError {
                rule: rules::PACKET_TOO_LARGE,
                what: crate::error::text(
                    "the property list exceeds the largest packet MQTT can carry",
                ),
            });
        }
        Ok(self)
    }

    /// Copies a validated property list.
    pub fn from_properties(props: Properties<'_>) -> Self {
        Self {
            raw: props.raw.to_vec(),
        }
    }

    /// Removes every property.
    pub fn clear(&mut self) {
        self.raw.clear();
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A borrowed view to put in a packet.
    pub fn as_properties(&self) -> Properties<'_> {
        Properties { raw: &self.raw }
    }
}
