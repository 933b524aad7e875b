//! Shared proptest generators: owned models of *valid* packets of every type, for both
//! protocol versions, that borrow into a [`Packet`].
//!
//! The generators follow the specifications on their own (they do not ask the codec what is
//! valid, except for the reason-code table): topic names without wildcards or U+0000, filters
//! with `+` and `#` only where allowed, 5.0 properties from the table of §2.2.2.2 with no
//! forbidden repetition, 3.1.1 packets without properties and with Success codes.
#![allow(dead_code)]

use mqtt_sansio_proto::{
    frame_len, Ack, Auth, ConnAck, Connect, Disconnect, Limits, Packet, PacketId, PacketType,
    Properties, PropertiesBuf, Property, PropertyContext, ProtocolVersion, Publish, QoS, QosPid,
    ReasonCode, RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, TopicFilter,
    TopicName, UnsubAck, Unsubscribe, Will,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{BoxedStrategy, Union, ValueTree};
use proptest::test_runner::{Config, RngSeed, TestRunner};

pub(crate) const V311: ProtocolVersion = ProtocolVersion::V311;
pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;
pub(crate) const VERSIONS: [ProtocolVersion; 2] = [V311, V5];

/// The largest subscription identifier (and Variable Byte Integer).
pub(crate) const VARINT_MAX: u32 = 268_435_455;

// ---------------------------------------------------------------------------------------------
// Owned properties
// ---------------------------------------------------------------------------------------------

/// An owned MQTT 5.0 property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum OProp {
    PayloadFormatIndicator(u8),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Vec<u8>),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Vec<u8>),
    RequestProblemInformation(u8),
    WillDelayInterval(u32),
    RequestResponseInformation(u8),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(u8),
    RetainAvailable(u8),
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(u8),
    SubscriptionIdentifierAvailable(u8),
    SharedSubscriptionAvailable(u8),
}

impl OProp {
    pub(crate) fn as_property(&self) -> Property<'_> {
        match self {
            Self::PayloadFormatIndicator(v) => Property::PayloadFormatIndicator(*v),
            Self::MessageExpiryInterval(v) => Property::MessageExpiryInterval(*v),
            Self::ContentType(s) => Property::ContentType(s),
            Self::ResponseTopic(s) => Property::ResponseTopic(s),
            Self::CorrelationData(b) => Property::CorrelationData(b),
            Self::SubscriptionIdentifier(v) => Property::SubscriptionIdentifier(*v),
            Self::SessionExpiryInterval(v) => Property::SessionExpiryInterval(*v),
            Self::AssignedClientIdentifier(s) => Property::AssignedClientIdentifier(s),
            Self::ServerKeepAlive(v) => Property::ServerKeepAlive(*v),
            Self::AuthenticationMethod(s) => Property::AuthenticationMethod(s),
            Self::AuthenticationData(b) => Property::AuthenticationData(b),
            Self::RequestProblemInformation(v) => Property::RequestProblemInformation(*v),
            Self::WillDelayInterval(v) => Property::WillDelayInterval(*v),
            Self::RequestResponseInformation(v) => Property::RequestResponseInformation(*v),
            Self::ResponseInformation(s) => Property::ResponseInformation(s),
            Self::ServerReference(s) => Property::ServerReference(s),
            Self::ReasonString(s) => Property::ReasonString(s),
            Self::ReceiveMaximum(v) => Property::ReceiveMaximum(*v),
            Self::TopicAliasMaximum(v) => Property::TopicAliasMaximum(*v),
            Self::TopicAlias(v) => Property::TopicAlias(*v),
            Self::MaximumQoS(v) => Property::MaximumQoS(*v),
            Self::RetainAvailable(v) => Property::RetainAvailable(*v),
            Self::UserProperty(k, v) => Property::UserProperty(k, v),
            Self::MaximumPacketSize(v) => Property::MaximumPacketSize(*v),
            Self::WildcardSubscriptionAvailable(v) => Property::WildcardSubscriptionAvailable(*v),
            Self::SubscriptionIdentifierAvailable(v) => {
                Property::SubscriptionIdentifierAvailable(*v)
            }
            Self::SharedSubscriptionAvailable(v) => Property::SharedSubscriptionAvailable(*v),
        }
    }
}

/// An owned property list: the properties in order, and the same list built with
/// [`PropertiesBuf`].
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnedProps {
    pub(crate) list: Vec<OProp>,
    pub(crate) buf: PropertiesBuf,
}

impl OwnedProps {
    pub(crate) fn new(list: Vec<OProp>) -> Self {
        let mut buf = PropertiesBuf::new();
        for p in &list {
            buf.push(p.as_property())
                .unwrap_or_else(|e| panic!("generator made an invalid property {p:?}: {e}"));
        }
        Self { list, buf }
    }

    pub(crate) fn empty() -> Self {
        Self::default()
    }

    pub(crate) fn as_properties(&self) -> Properties<'_> {
        self.buf.as_properties()
    }

    pub(crate) fn has_topic_alias(&self) -> bool {
        self.list.iter().any(|p| matches!(p, OProp::TopicAlias(_)))
    }
}

/// Every property identifier of MQTT 5.0.
pub(crate) const PROPERTY_IDS: [u8; 27] = [
    0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C,
    0x1F, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
];

/// Every place a property list can appear.
pub(crate) const CONTEXTS: [PropertyContext; 14] = [
    PropertyContext::Connect,
    PropertyContext::Will,
    PropertyContext::ConnAck,
    PropertyContext::Publish,
    PropertyContext::PubAck,
    PropertyContext::PubRec,
    PropertyContext::PubRel,
    PropertyContext::PubComp,
    PropertyContext::Subscribe,
    PropertyContext::SubAck,
    PropertyContext::Unsubscribe,
    PropertyContext::UnsubAck,
    PropertyContext::Disconnect,
    PropertyContext::Auth,
];

/// The table of MQTT 5.0 §2.2.2.2, written out independently of the codec.
pub(crate) fn spec_allowed(id: u8, ctx: PropertyContext) -> bool {
    use PropertyContext as C;
    match id {
        0x01 | 0x02 | 0x03 | 0x08 | 0x09 => matches!(ctx, C::Publish | C::Will),
        0x0B => matches!(ctx, C::Publish | C::Subscribe),
        0x11 => matches!(ctx, C::Connect | C::ConnAck | C::Disconnect),
        0x12 | 0x13 | 0x1A | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => ctx == C::ConnAck,
        0x15 | 0x16 => matches!(ctx, C::Connect | C::ConnAck | C::Auth),
        0x17 | 0x19 => ctx == C::Connect,
        0x18 => ctx == C::Will,
        0x1C => matches!(ctx, C::ConnAck | C::Disconnect),
        0x1F => matches!(
            ctx,
            C::ConnAck
                | C::PubAck
                | C::PubRec
                | C::PubRel
                | C::PubComp
                | C::SubAck
                | C::UnsubAck
                | C::Disconnect
                | C::Auth
        ),
        0x21 | 0x22 | 0x27 => matches!(ctx, C::Connect | C::ConnAck),
        0x23 => ctx == C::Publish,
        0x26 => true,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Strings, topics, filters
// ---------------------------------------------------------------------------------------------

/// Characters for free-form strings: ASCII, 2-, 3- and 4-byte UTF-8, and the topic specials.
const STR_CHARS: &[char] = &[
    'a',
    'b',
    'c',
    'x',
    'Y',
    'Z',
    '0',
    '9',
    '_',
    '-',
    ' ',
    '.',
    '/',
    '+',
    '#',
    '$',
    'é',
    'ß',
    'ø',
    'Ж',
    '中',
    '文',
    '字',
    '€',
    '😀',
    '🚀',
    '\u{7F}',
    '\u{80}',
    '\u{FFFF}',
    '\u{10FFFF}',
];

/// Characters for topic levels: no `/`, `+`, `#` and no letter of "share" but `a` (so that a
/// plain filter never starts with `$share/`).
const LEVEL_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'Y', 'Z', '0', '9', '_', '-', ' ', '.', '$', 'é', 'ß', 'Ж', '中', '文',
    '😀', '🚀', '\u{FFFF}',
];

/// Any character but U+0000, mostly from [`STR_CHARS`].
fn str_char() -> BoxedStrategy<char> {
    prop_oneof![
        4 => select(STR_CHARS),
        1 => any::<char>().prop_filter("no U+0000", |c| *c != '\0'),
    ]
    .boxed()
}

/// A UTF-8 string of `0..max` characters without U+0000.
pub(crate) fn ustr(max: usize) -> BoxedStrategy<String> {
    vec(str_char(), 0..max)
        .prop_map(|cs| cs.into_iter().collect())
        .boxed()
}

/// One topic level: possibly empty, no `/`, `+`, `#` or U+0000.
fn level() -> BoxedStrategy<String> {
    let c = prop_oneof![
        5 => select(LEVEL_CHARS),
        1 => any::<char>().prop_filter("not a topic special", |c| !matches!(c, '\0' | '/' | '+' | '#')),
    ];
    vec(c, 0..8)
        .prop_map(|cs| cs.into_iter().collect::<String>())
        .prop_filter("not $share", |l| l != "$share")
        .boxed()
}

/// A non-empty topic name without wildcards.
pub(crate) fn topic_name() -> BoxedStrategy<String> {
    prop_oneof![
        8 => vec(level(), 1..6).prop_map(|ls| ls.join("/")),
        1 => Just("$SYS/broker/uptime".to_string()),
        1 => vec(select(LEVEL_CHARS), 200..400).prop_map(|cs| cs.into_iter().collect()),
    ]
    .prop_map(|t: String| if t.is_empty() { "a".to_string() } else { t })
    .boxed()
}

/// A topic filter with `+` levels anywhere and an optional final `#`.
fn plain_filter() -> BoxedStrategy<String> {
    let lvl = prop_oneof![3 => level(), 1 => Just("+".to_string())];
    (vec(lvl, 0..6), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash {
                levels.push("#".to_string());
            }
            let s = levels.join("/");
            if s.is_empty() {
                "#".to_string()
            } else {
                s
            }
        })
        .boxed()
}

/// A topic filter, sometimes a shared subscription `$share/{name}/{filter}`.
pub(crate) fn topic_filter() -> BoxedStrategy<String> {
    let share_name = level().prop_map(|l| if l.is_empty() { "g".to_string() } else { l });
    prop_oneof![
        5 => plain_filter(),
        1 => (share_name, plain_filter()).prop_map(|(n, f)| format!("$share/{n}/{f}")),
    ]
    .boxed()
}

pub(crate) fn bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 0..max).boxed()
}

pub(crate) fn packet_id() -> BoxedStrategy<PacketId> {
    prop_oneof![
        1 => Just(1u16),
        1 => Just(u16::MAX),
        1 => Just(128u16),
        6 => 1..=u16::MAX,
    ]
    .prop_map(|v| PacketId::new(v).expect("non-zero"))
    .boxed()
}

pub(crate) fn qos() -> BoxedStrategy<QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
    .boxed()
}

/// Every reason code the table of 5.0 §2.4 allows in `t`.
pub(crate) fn codes_for(t: PacketType) -> Vec<ReasonCode> {
    (0..=255u8)
        .filter_map(ReasonCode::from_u8)
        .filter(|c| c.is_valid_for(t))
        .collect()
}

fn reason(t: PacketType) -> BoxedStrategy<ReasonCode> {
    let codes = codes_for(t);
    assert!(!codes.is_empty());
    prop_oneof![1 => Just(ReasonCode::Success), 3 => select(codes)].boxed()
}

// ---------------------------------------------------------------------------------------------
// Property lists
// ---------------------------------------------------------------------------------------------

fn bit() -> BoxedStrategy<u8> {
    (0..=1u8).boxed()
}

fn subscription_identifier() -> BoxedStrategy<u32> {
    prop_oneof![
        Just(1u32),
        Just(127u32),
        Just(128u32),
        Just(16_383u32),
        Just(16_384u32),
        Just(2_097_151u32),
        Just(2_097_152u32),
        Just(VARINT_MAX),
        1..=VARINT_MAX,
    ]
    .boxed()
}

/// A valid value for the property with identifier `id`.
fn property_value(id: u8) -> BoxedStrategy<OProp> {
    use OProp as P;
    match id {
        0x01 => bit().prop_map(P::PayloadFormatIndicator).boxed(),
        0x02 => any::<u32>().prop_map(P::MessageExpiryInterval).boxed(),
        0x03 => ustr(16).prop_map(P::ContentType).boxed(),
        0x08 => topic_name().prop_map(P::ResponseTopic).boxed(),
        0x09 => bytes(32).prop_map(P::CorrelationData).boxed(),
        0x0B => subscription_identifier()
            .prop_map(P::SubscriptionIdentifier)
            .boxed(),
        0x11 => any::<u32>().prop_map(P::SessionExpiryInterval).boxed(),
        0x12 => ustr(16).prop_map(P::AssignedClientIdentifier).boxed(),
        0x13 => any::<u16>().prop_map(P::ServerKeepAlive).boxed(),
        0x15 => ustr(16).prop_map(P::AuthenticationMethod).boxed(),
        0x16 => bytes(32).prop_map(P::AuthenticationData).boxed(),
        0x17 => bit().prop_map(P::RequestProblemInformation).boxed(),
        0x18 => any::<u32>().prop_map(P::WillDelayInterval).boxed(),
        0x19 => bit().prop_map(P::RequestResponseInformation).boxed(),
        0x1A => ustr(16).prop_map(P::ResponseInformation).boxed(),
        0x1C => ustr(16).prop_map(P::ServerReference).boxed(),
        0x1F => ustr(24).prop_map(P::ReasonString).boxed(),
        0x21 => (1..=u16::MAX).prop_map(P::ReceiveMaximum).boxed(),
        0x22 => any::<u16>().prop_map(P::TopicAliasMaximum).boxed(),
        0x23 => (1..=u16::MAX).prop_map(P::TopicAlias).boxed(),
        0x24 => bit().prop_map(P::MaximumQoS).boxed(),
        0x25 => bit().prop_map(P::RetainAvailable).boxed(),
        0x26 => (ustr(10), ustr(10))
            .prop_map(|(k, v)| P::UserProperty(k, v))
            .boxed(),
        0x27 => (1..=u32::MAX).prop_map(P::MaximumPacketSize).boxed(),
        0x28 => bit().prop_map(P::WildcardSubscriptionAvailable).boxed(),
        0x29 => bit().prop_map(P::SubscriptionIdentifierAvailable).boxed(),
        0x2A => bit().prop_map(P::SharedSubscriptionAvailable).boxed(),
        _ => unreachable!("no property {id:#04x}"),
    }
}

/// A valid MQTT 5.0 property list for `ctx`, in random order: each property the table allows
/// at most once, User Property any number of times, Subscription Identifier repeated in
/// PUBLISH.
pub(crate) fn props(ctx: PropertyContext) -> BoxedStrategy<OwnedProps> {
    let repeated_sub_id = ctx == PropertyContext::Publish;
    let once: Vec<BoxedStrategy<Option<OProp>>> = PROPERTY_IDS
        .iter()
        .copied()
        .filter(|&id| id != 0x26 && !(id == 0x0B && repeated_sub_id) && spec_allowed(id, ctx))
        .map(|id| proptest::option::weighted(0.3, property_value(id)).boxed())
        .collect();
    let sub_ids = if repeated_sub_id {
        vec(property_value(0x0B), 0..4).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    let full = (once, vec(property_value(0x26), 0..4), sub_ids)
        .prop_flat_map(|(once, users, sub_ids)| {
            let all: Vec<OProp> = once
                .into_iter()
                .flatten()
                .chain(users)
                .chain(sub_ids)
                .collect();
            Just(all).prop_shuffle()
        })
        .prop_map(OwnedProps::new);
    prop_oneof![1 => Just(OwnedProps::empty()), 4 => full].boxed()
}

/// [`props`] in 5.0, nothing in 3.1.1.
fn props_v(v: ProtocolVersion, ctx: PropertyContext) -> BoxedStrategy<OwnedProps> {
    match v {
        ProtocolVersion::V311 => Just(OwnedProps::empty()).boxed(),
        ProtocolVersion::V5 => props(ctx),
    }
}

// ---------------------------------------------------------------------------------------------
// Packet models
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
pub(crate) struct WillModel {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) props: OwnedProps,
}

/// An owned packet that borrows into a [`Packet`].
#[derive(Clone, Debug)]
pub(crate) enum Model {
    Connect {
        clean_start: bool,
        keep_alive: u16,
        client_id: String,
        will: Option<WillModel>,
        username: Option<String>,
        password: Option<Vec<u8>>,
        props: OwnedProps,
    },
    ConnAck {
        session_present: bool,
        reason: ReasonCode,
        props: OwnedProps,
    },
    Publish {
        dup: bool,
        qos: QosPid,
        retain: bool,
        topic: String,
        props: OwnedProps,
        payload: Vec<u8>,
    },
    /// PUBACK, PUBREC, PUBREL or PUBCOMP.
    Ack {
        kind: PacketType,
        packet_id: PacketId,
        reason: ReasonCode,
        props: OwnedProps,
    },
    Subscribe {
        packet_id: PacketId,
        props: OwnedProps,
        subs: Vec<(String, SubscriptionOptions)>,
    },
    SubAck {
        packet_id: PacketId,
        props: OwnedProps,
        codes: Vec<ReasonCode>,
    },
    Unsubscribe {
        packet_id: PacketId,
        props: OwnedProps,
        filters: Vec<String>,
    },
    UnsubAck {
        packet_id: PacketId,
        props: OwnedProps,
        codes: Vec<ReasonCode>,
    },
    PingReq,
    PingResp,
    Disconnect {
        reason: ReasonCode,
        props: OwnedProps,
    },
    Auth {
        reason: ReasonCode,
        props: OwnedProps,
    },
}

fn name(s: &str) -> TopicName<'_> {
    if s.is_empty() {
        TopicName::EMPTY
    } else {
        TopicName::new(s).unwrap_or_else(|e| panic!("generator made a bad topic name {s:?}: {e}"))
    }
}

fn filter(s: &str) -> TopicFilter<'_> {
    TopicFilter::new(s).unwrap_or_else(|e| panic!("generator made a bad topic filter {s:?}: {e}"))
}

impl Model {
    /// The packet, borrowing from the model.
    pub(crate) fn packet(&self) -> Packet<'_> {
        match self {
            Self::Connect {
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                props,
            } => Packet::Connect(Connect {
                clean_start: *clean_start,
                keep_alive: *keep_alive,
                client_id,
                will: will.as_ref().map(|w| Will {
                    topic: name(&w.topic),
                    payload: &w.payload,
                    qos: w.qos,
                    retain: w.retain,
                    properties: w.props.as_properties(),
                }),
                username: username.as_deref(),
                password: password.as_deref(),
                properties: props.as_properties(),
            }),
            Self::ConnAck {
                session_present,
                reason,
                props,
            } => Packet::ConnAck(ConnAck {
                session_present: *session_present,
                reason: *reason,
                properties: props.as_properties(),
            }),
            Self::Publish {
                dup,
                qos,
                retain,
                topic,
                props,
                payload,
            } => Packet::Publish(Publish {
                dup: *dup,
                qos: *qos,
                retain: *retain,
                topic: name(topic),
                properties: props.as_properties(),
                payload,
            }),
            Self::Ack {
                kind,
                packet_id,
                reason,
                props,
            } => {
                let ack = Ack {
                    packet_id: *packet_id,
                    reason: *reason,
                    properties: props.as_properties(),
                };
                match kind {
                    PacketType::PubAck => Packet::PubAck(ack),
                    PacketType::PubRec => Packet::PubRec(ack),
                    PacketType::PubRel => Packet::PubRel(ack),
                    PacketType::PubComp => Packet::PubComp(ack),
                    other => unreachable!("not an ack: {other}"),
                }
            }
            Self::Subscribe {
                packet_id,
                props,
                subs,
            } => Packet::Subscribe(Subscribe {
                packet_id: *packet_id,
                properties: props.as_properties(),
                subscriptions: subs
                    .iter()
                    .map(|(f, o)| Subscription {
                        filter: filter(f),
                        options: *o,
                    })
                    .collect(),
            }),
            Self::SubAck {
                packet_id,
                props,
                codes,
            } => Packet::SubAck(SubAck {
                packet_id: *packet_id,
                properties: props.as_properties(),
                reason_codes: codes.iter().copied().collect(),
            }),
            Self::Unsubscribe {
                packet_id,
                props,
                filters,
            } => Packet::Unsubscribe(Unsubscribe {
                packet_id: *packet_id,
                properties: props.as_properties(),
                filters: filters.iter().map(|f| filter(f)).collect(),
            }),
            Self::UnsubAck {
                packet_id,
                props,
                codes,
            } => Packet::UnsubAck(UnsubAck {
                packet_id: *packet_id,
                properties: props.as_properties(),
                reason_codes: codes.iter().copied().collect(),
            }),
            Self::PingReq => Packet::PingReq,
            Self::PingResp => Packet::PingResp,
            Self::Disconnect { reason, props } => Packet::Disconnect(Disconnect {
                reason: *reason,
                properties: props.as_properties(),
            }),
            Self::Auth { reason, props } => Packet::Auth(Auth {
                reason: *reason,
                properties: props.as_properties(),
            }),
        }
    }

    /// The owned property lists of the model: the packet's own, then the will's.
    pub(crate) fn prop_lists(&self) -> Vec<&OwnedProps> {
        match self {
            Self::Connect { props, will, .. } => {
                let mut v = vec![props];
                if let Some(w) = will {
                    v.push(&w.props);
                }
                v
            }
            Self::ConnAck { props, .. }
            | Self::Publish { props, .. }
            | Self::Ack { props, .. }
            | Self::Subscribe { props, .. }
            | Self::SubAck { props, .. }
            | Self::Unsubscribe { props, .. }
            | Self::UnsubAck { props, .. }
            | Self::Disconnect { props, .. }
            | Self::Auth { props, .. } => vec![props],
            Self::PingReq | Self::PingResp => vec![],
        }
    }

    /// Encodes the model, which must be valid for `v`.
    pub(crate) fn encode(&self, v: ProtocolVersion) -> Vec<u8> {
        let mut out = Vec::new();
        self.packet()
            .encode(v, &mut out)
            .unwrap_or_else(|e| panic!("valid {v:?} packet failed to encode: {e}\n{self:#?}"));
        out
    }
}

/// The property lists of a packet, in the order of [`Model::prop_lists`].
pub(crate) fn packet_props<'a>(p: &Packet<'a>) -> Vec<Properties<'a>> {
    match p {
        Packet::Connect(c) => {
            let mut v = vec![c.properties];
            if let Some(w) = &c.will {
                v.push(w.properties);
            }
            v
        }
        Packet::ConnAck(c) => vec![c.properties],
        Packet::Publish(c) => vec![c.properties],
        Packet::PubAck(c) | Packet::PubRec(c) | Packet::PubRel(c) | Packet::PubComp(c) => {
            vec![c.properties]
        }
        Packet::Subscribe(c) => vec![c.properties],
        Packet::SubAck(c) => vec![c.properties],
        Packet::Unsubscribe(c) => vec![c.properties],
        Packet::UnsubAck(c) => vec![c.properties],
        Packet::PingReq | Packet::PingResp => vec![],
        Packet::Disconnect(c) => vec![c.properties],
        Packet::Auth(c) => vec![c.properties],
    }
}

// ---------------------------------------------------------------------------------------------
// Packet strategies
// ---------------------------------------------------------------------------------------------

fn will(v: ProtocolVersion) -> BoxedStrategy<WillModel> {
    (
        topic_name(),
        bytes(64),
        qos(),
        any::<bool>(),
        props_v(v, PropertyContext::Will),
    )
        .prop_map(|(topic, payload, qos, retain, props)| WillModel {
            topic,
            payload,
            qos,
            retain,
            props,
        })
        .boxed()
}

pub(crate) fn connect(v: ProtocolVersion) -> BoxedStrategy<Model> {
    (
        any::<bool>(),
        any::<u16>(),
        ustr(24),
        proptest::option::of(will(v)),
        proptest::option::of(ustr(16)),
        proptest::option::of(bytes(32)),
        props_v(v, PropertyContext::Connect),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, mut username, password, props)| {
                // 3.1.1: a password needs a user name [MQTT-3.1.2-22].
                if v == V311 && password.is_some() && username.is_none() {
                    username = Some("user".to_string());
                }
                // 5.0: Authentication Data needs an Authentication Method (§3.1.2.11.10).
                let has_data = props
                    .list
                    .iter()
                    .any(|p| matches!(p, OProp::AuthenticationData(_)));
                let props = if has_data {
                    with_auth_method(props)
                } else {
                    props
                };
                Model::Connect {
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    props,
                }
            },
        )
        .boxed()
}

pub(crate) fn connack(v: ProtocolVersion) -> BoxedStrategy<Model> {
    let reason = match v {
        ProtocolVersion::V311 => select(
            (0..=5)
                .map(|c| ReasonCode::from_v311_connack(c).expect("0..=5"))
                .collect::<Vec<_>>(),
        )
        .boxed(),
        ProtocolVersion::V5 => reason(PacketType::ConnAck),
    };
    (any::<bool>(), reason, props_v(v, PropertyContext::ConnAck))
        .prop_map(|(sp, reason, props)| Model::ConnAck {
            // Session present only with Success [MQTT-3.2.2-4] / [MQTT-3.2.2-6].
            session_present: sp && reason == ReasonCode::Success,
            reason,
            props,
        })
        .boxed()
}

pub(crate) fn publish(v: ProtocolVersion, max_payload: usize) -> BoxedStrategy<Model> {
    let payload = prop_oneof![
        3 => bytes(64),
        1 => bytes(max_payload.max(1)),
        1 => ustr(64).prop_map(String::into_bytes),
    ];
    (
        qos(),
        packet_id(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        props_v(v, PropertyContext::Publish),
        payload,
        any::<bool>(),
    )
        .prop_map(
            move |(qos, id, dup, retain, topic, props, payload, empty_topic)| {
                // An empty topic only in 5.0 with a Topic Alias.
                let topic = if v == V5 && empty_topic && props.has_topic_alias() {
                    String::new()
                } else {
                    topic
                };
                Model::Publish {
                    // DUP is never set on QoS 0 [MQTT-3.3.1-2].
                    dup: dup && qos != QoS::AtMostOnce,
                    qos: QosPid::new(qos, id),
                    retain,
                    topic,
                    props,
                    payload,
                }
            },
        )
        .boxed()
}

fn ack_context(kind: PacketType) -> PropertyContext {
    match kind {
        PacketType::PubAck => PropertyContext::PubAck,
        PacketType::PubRec => PropertyContext::PubRec,
        PacketType::PubRel => PropertyContext::PubRel,
        PacketType::PubComp => PropertyContext::PubComp,
        other => unreachable!("not an ack: {other}"),
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
pub(crate) fn ack(v: ProtocolVersion, kind: PacketType) -> BoxedStrategy<Model> {
    let reason = match v {
        ProtocolVersion::V311 => Just(ReasonCode::Success).boxed(),
        ProtocolVersion::V5 => reason(kind),
    };
    (packet_id(), reason, props_v(v, ack_context(kind)))
        .prop_map(move |(packet_id, reason, props)| Model::Ack {
            kind,
            packet_id,
            reason,
            props,
        })
        .boxed()
}

fn subscription(v: ProtocolVersion) -> BoxedStrategy<(String, SubscriptionOptions)> {
    match v {
        ProtocolVersion::V311 => (topic_filter(), qos())
            .prop_map(|(f, q)| (f, SubscriptionOptions::qos(q)))
            .boxed(),
        ProtocolVersion::V5 => {
            let rh = prop_oneof![
                Just(RetainHandling::SendAtSubscribe),
                Just(RetainHandling::SendAtSubscribeIfNew),
                Just(RetainHandling::DoNotSend),
            ];
            (topic_filter(), qos(), any::<bool>(), any::<bool>(), rh)
                .prop_map(|(f, qos, no_local, retain_as_published, retain_handling)| {
                    // No Local is not allowed on a shared subscription [MQTT-3.8.3-4].
                    let no_local = no_local && !f.starts_with("$share/");
                    let o = SubscriptionOptions {
                        qos,
                        no_local,
                        retain_as_published,
                        retain_handling,
                    };
                    (f, o)
                })
                .boxed()
        }
    }
}

pub(crate) fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Model> {
    (
        packet_id(),
        props_v(v, PropertyContext::Subscribe),
        vec(subscription(v), 1..8),
    )
        .prop_map(|(packet_id, props, subs)| Model::Subscribe {
            packet_id,
            props,
            subs,
        })
        .boxed()
}

pub(crate) fn suback(v: ProtocolVersion) -> BoxedStrategy<Model> {
    let code = match v {
        ProtocolVersion::V311 => select(vec![
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ])
        .boxed(),
        ProtocolVersion::V5 => reason(PacketType::SubAck),
    };
    (
        packet_id(),
        props_v(v, PropertyContext::SubAck),
        vec(code, 1..12),
    )
        .prop_map(|(packet_id, props, codes)| Model::SubAck {
            packet_id,
            props,
            codes,
        })
        .boxed()
}

pub(crate) fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Model> {
    (
        packet_id(),
        props_v(v, PropertyContext::Unsubscribe),
        vec(topic_filter(), 1..8),
    )
        .prop_map(|(packet_id, props, filters)| Model::Unsubscribe {
            packet_id,
            props,
            filters,
        })
        .boxed()
}

pub(crate) fn unsuback(v: ProtocolVersion) -> BoxedStrategy<Model> {
    match v {
        ProtocolVersion::V311 => packet_id()
            .prop_map(|packet_id| Model::UnsubAck {
                packet_id,
                props: OwnedProps::empty(),
                codes: Vec::new(),
            })
            .boxed(),
        ProtocolVersion::V5 => (
            packet_id(),
            props(PropertyContext::UnsubAck),
            vec(reason(PacketType::UnsubAck), 1..12),
        )
            .prop_map(|(packet_id, props, codes)| Model::UnsubAck {
                packet_id,
                props,
                codes,
            })
            .boxed(),
    }
}

pub(crate) fn pingreq() -> BoxedStrategy<Model> {
    Just(Model::PingReq).boxed()
}

pub(crate) fn pingresp() -> BoxedStrategy<Model> {
    Just(Model::PingResp).boxed()
}

pub(crate) fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Model> {
    match v {
        ProtocolVersion::V311 => Just(Model::Disconnect {
            reason: ReasonCode::NORMAL_DISCONNECTION,
            props: OwnedProps::empty(),
        })
        .boxed(),
        ProtocolVersion::V5 => (
            reason(PacketType::Disconnect),
            props(PropertyContext::Disconnect),
        )
            .prop_map(|(reason, props)| Model::Disconnect { reason, props })
            .boxed(),
    }
}

/// AUTH: MQTT 5.0 only.
pub(crate) fn auth() -> BoxedStrategy<Model> {
    (reason(PacketType::Auth), props(PropertyContext::Auth))
        .prop_map(|(reason, props)| {
            // Only the empty short form may omit the Authentication Method (§3.15.2.2.2).
            let short = reason == ReasonCode::Success && props.list.is_empty();
            let props = if short {
                props
            } else {
                with_auth_method(props)
            };
            Model::Auth { reason, props }
        })
        .boxed()
}

/// Adds an Authentication Method when the list has none.
pub(crate) fn with_auth_method(props: OwnedProps) -> OwnedProps {
    if props
        .list
        .iter()
        .any(|p| matches!(p, OProp::AuthenticationMethod(_)))
    {
        return props;
    }
    let mut list = props.list;
    list.push(OProp::AuthenticationMethod("SCRAM-SHA-1".into()));
    OwnedProps::new(list)
}

/// One strategy per packet type of `v` (14 for 3.1.1, 15 for 5.0), with the type's name.
pub(crate) fn per_type(
    v: ProtocolVersion,
    max_payload: usize,
) -> Vec<(PacketType, BoxedStrategy<Model>)> {
    let mut all = vec![
        (PacketType::Connect, connect(v)),
        (PacketType::ConnAck, connack(v)),
        (PacketType::Publish, publish(v, max_payload)),
        (PacketType::PubAck, ack(v, PacketType::PubAck)),
        (PacketType::PubRec, ack(v, PacketType::PubRec)),
        (PacketType::PubRel, ack(v, PacketType::PubRel)),
        (PacketType::PubComp, ack(v, PacketType::PubComp)),
        (PacketType::Subscribe, subscribe(v)),
        (PacketType::SubAck, suback(v)),
        (PacketType::Unsubscribe, unsubscribe(v)),
        (PacketType::UnsubAck, unsuback(v)),
        (PacketType::PingReq, pingreq()),
        (PacketType::PingResp, pingresp()),
        (PacketType::Disconnect, disconnect(v)),
    ];
    if v == V5 {
        all.push((PacketType::Auth, auth()));
    }
    all
}

/// Any valid packet of `v`, every type equally likely.
pub(crate) fn any_packet(v: ProtocolVersion, max_payload: usize) -> BoxedStrategy<Model> {
    Union::new(per_type(v, max_payload).into_iter().map(|(_, s)| s)).boxed()
}

/// `n` values of `s`, reproducibly from `seed`.
pub(crate) fn sample<S: Strategy>(s: &S, n: usize, seed: u64) -> Vec<S::Value> {
    let config = Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    (0..n)
        .map(|_| {
            s.new_tree(&mut runner)
                .expect("generators do not reject")
                .current()
        })
        .collect()
}

/// `count` valid packets of every type of `v`, with their encodings.
pub(crate) fn corpus(
    v: ProtocolVersion,
    count: usize,
    max_payload: usize,
    seed: u64,
) -> Vec<(Model, Vec<u8>)> {
    per_type(v, max_payload)
        .into_iter()
        .enumerate()
        .flat_map(|(i, (_, s))| sample(&s, count, seed.wrapping_add(i as u64)))
        .map(|m| {
            let bytes = m.encode(v);
            (m, bytes)
        })
        .collect()
}

/// The length of the fixed header of the encoded packet `bytes` (first byte + remaining
/// length), read independently of the codec.
pub(crate) fn header_len(bytes: &[u8]) -> usize {
    let mut n = 1;
    while bytes[n] & 0x80 != 0 {
        n += 1;
    }
    n + 1
}

/// A proptest config with `cases` cases and no regression files.
pub(crate) fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The default limits, as a shorthand.
pub(crate) fn limits() -> Limits {
    Limits::default()
}

/// `frame_len` as a shorthand with default limits.
pub(crate) fn frame(bytes: &[u8]) -> Result<Option<usize>, mqtt_sansio_proto::DecodeError> {
    frame_len(bytes, &limits())
}
