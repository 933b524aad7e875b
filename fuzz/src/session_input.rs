//! The `session` fuzz target's interpreter: bytes -> a Session configuration and a sequence of
//! inputs and commands, with the Session's invariants checked after every step.
//!
//! Shared with `mqtt-session/tests/fuzz_corpus.rs`, which includes this file with `#[path]`:
//! it compiles on stable with only `mqtt-proto`, `mqtt-session` and `std`, and reads its
//! input with the tiny [`Reader`] below instead of the `arbitrary` crate, so a corpus file
//! means the same thing to the fuzzer and to the replay test.
//!
//! # Input format
//!
//! Four header bytes choose the configuration ([`Header`]); the Session then connects and
//! receives a valid CONNACK. The rest is a list of [`Op`]s, each a tag byte (low nibble: the
//! kind, high nibble: flags) and its arguments; a missing byte reads as 0.
//!
//! # Invariants (checked after every op; a violation panics)
//!
//! - no panic in the Session;
//! - `inflight_len`, `queued_len`, `pending_incoming_qos2`, `pending_read_bytes` and
//!   `pending_transmit_bytes` within the configured limits; a QoS 0 publish is refused while
//!   more than `max_transmit_bytes` wait;
//! - every packet the client sends decodes, whole, as a client packet;
//! - no packet identifier in use twice: the ids the client sent in PUBLISH, SUBSCRIBE and
//!   UNSUBSCRIBE minus those acknowledged (as the Session's events report) are all still in
//!   use in the Session, a new publish or request never gets one of them, a PUBLISH is never
//!   sent again after its PUBREL, DUP is never set on a first transmission (unless a
//!   connection ended while the PUBLISH waited in the transmit queue: the Session counts it
//!   as attempted), and (5.0) a PUBLISH is never resent on the same connection;
//! - incoming QoS 2: released once, only after being received, and the count matches; one
//!   past the held-message budget is delivered once at PUBLISH and never again before its
//!   PUBREL (SPEC "Exactly once, bounded");
//! - a command that returns `Err` changed nothing; `can_publish` agrees with `publish`;
//! - one `Disconnected` per connection, after which nothing is sent until the next
//!   `connect`; after a protocol error a 5.0 client sends exactly one DISCONNECT with the
//!   error's reason code, a 3.1.1 client nothing.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mqtt_proto::{
    decode, Ack, ConnAck, Disconnect, Limits, Packet, PacketId, Properties, PropertiesBuf,
    Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, SubAck, Subscription,
    SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
};
use mqtt_session::{
    ConnectOptions, DisconnectReason, Event, Instant, PublishError, Session, SessionConfig,
    SessionState,
};

/// Most ops run per input, so every input stays fast.
pub const MAX_OPS: usize = 400;

/// Reads an input byte by byte; past the end every read gives zeros.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte (0 past the end).
    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A big-endian u16.
    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
}

/// The four header bytes: protocol version, session flags and limits, and the 5.0 CONNACK
/// properties of the (simulated) broker.
///
/// - byte 0: bit 0 MQTT 5.0; bit 1 clean session; bits 2-3 keepalive (0, 1, 10, 60 s);
///   bit 4 resubscribe on session loss; bit 5 3.1.1 retry interval 2 s; bit 6 CONNACK
///   timeout 1 s (else 30 s); bit 7 keepalive timeout 500 ms (else 1.5 x keepalive).
/// - byte 1: max in-flight (1, 2, 5, 100), max queued (0, 1, 4, 1000), max pending
///   requests (0, 1, 3, 64), max incoming QoS 2 (1, 2, 4, 100), two bits each.
/// - byte 2: max packet size (32, 128, 1024, 1 MiB), max transmit bytes (0, 64, 1024,
///   1 MiB), topic alias maximum (0, 1, 3, 10), two bits each.
/// - byte 3 (5.0 CONNACK): bit 0 Receive Maximum 1 + bits 1-2; bit 3 Maximum QoS bit 4;
///   bit 5 Retain Available 0; bit 6 Server Keep Alive 5 s; bit 7 Maximum Packet Size 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header(pub [u8; 4]);

impl Header {
    /// The protocol version.
    pub fn version(&self) -> ProtocolVersion {
        if self.0[0] & 1 != 0 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        }
    }

    /// The keepalive sent in CONNECT, in seconds.
    pub fn keep_alive(&self) -> u16 {
        [0, 1, 10, 60][usize::from((self.0[0] >> 2) & 3)]
    }

    /// The Session configuration.
    pub fn config(&self) -> SessionConfig {
        let [b0, b1, b2, _] = self.0;
        let pick = |b: u8, shift: u8| usize::from((b >> shift) & 3);
        let mut c = SessionConfig::new("fuzz", b0 & 2 != 0, self.version());
        c.resubscribe_on_session_loss = b0 & 0x10 != 0;
        c.retry_interval_v311 = (b0 & 0x20 != 0).then_some(Duration::from_secs(2));
        c.connack_timeout = Duration::from_secs(if b0 & 0x40 != 0 { 1 } else { 30 });
        c.keepalive_timeout = (b0 & 0x80 != 0).then_some(Duration::from_millis(500));
        c.max_inflight = [1, 2, 5, 100][pick(b1, 0)];
        c.max_queued = [0, 1, 4, 1000][pick(b1, 2)];
        c.max_pending_requests = [0, 1, 3, 64][pick(b1, 4)];
        c.max_incoming_qos2 = [1, 2, 4, 100][pick(b1, 6)];
        c.max_packet_size = [32, 128, 1024, 1 << 20][pick(b2, 0)];
        c.max_transmit_bytes = [0, 64, 1024, 1 << 20][pick(b2, 2)];
        c.topic_alias_maximum = [0, 1, 3, 10][pick(b2, 4)];
        c
    }

    /// The broker's CONNACK properties (5.0; empty in 3.1.1).
    pub fn connack_properties(&self) -> PropertiesBuf {
        let mut p = PropertiesBuf::new();
        let b = self.0[3];
        if self.version() == ProtocolVersion::V311 {
            return p;
        }
        let mut push = |prop| {
            let _ = p.push(prop);
        };
        if b & 1 != 0 {
            push(Property::ReceiveMaximum(1 + u16::from((b >> 1) & 3)));
        }
        if b & 0x08 != 0 {
            push(Property::MaximumQoS((b >> 4) & 1));
        }
        if b & 0x20 != 0 {
            push(Property::RetainAvailable(0));
        }
        if b & 0x40 != 0 {
            push(Property::ServerKeepAlive(5));
        }
        if b & 0x80 != 0 {
            push(Property::MaximumPacketSize(64));
        }
        p
    }
}

/// How an op names a packet identifier: one the client or broker has in flight (by index),
/// or a raw value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSel {
    /// The n-th (modulo) identifier in flight; 1 when there is none.
    Tracked(u8),
    /// This identifier (0 is read as 1).
    Raw(u16),
}

impl IdSel {
    fn parse(r: &mut Reader<'_>) -> Self {
        let b = r.u8();
        if b & 0x80 == 0 {
            Self::Tracked(b)
        } else {
            Self::Raw(r.u16())
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Self::Tracked(i) => out.push(i & 0x7F),
            Self::Raw(id) => {
                out.push(0x80);
                out.extend_from_slice(&id.to_be_bytes());
            }
        }
    }

    fn resolve(&self, ids: &[u16]) -> PacketId {
        let id = match *self {
            Self::Tracked(i) if !ids.is_empty() => ids[usize::from(i) % ids.len()],
            Self::Tracked(_) => 1,
            Self::Raw(id) => id,
        };
        PacketId::new(id).unwrap_or(PacketId::MIN)
    }
}

/// One step of a session input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// 0: bytes from the broker, in one read (tag flag 0x80: 16-bit length).
    Read(Vec<u8>),
    /// 1: bytes from the broker, in reads of `chunk` bytes (1..=16).
    ReadChunked {
        /// The bytes.
        data: Vec<u8>,
        /// Read size.
        chunk: u8,
    },
    /// 2: the clock advances this many milliseconds, then `handle_timeout`.
    Advance(u32),
    /// 3: the clock jumps to the Session's deadline, then `handle_timeout`.
    ToDeadline,
    /// 4: the transport closed.
    Closed,
    /// 5: `publish` (topic from a table; payload of `len` bytes).
    Publish {
        /// Index in the topic table.
        topic: u8,
        /// QoS (modulo 3).
        qos: u8,
        /// Retain flag.
        retain: bool,
        /// Payload length.
        len: u8,
    },
    /// 6: `subscribe` to (filter index, options byte) pairs.
    Subscribe(Vec<(u8, u8)>),
    /// 7: `unsubscribe` from filter indexes.
    Unsubscribe(Vec<u8>),
    /// 8: `disconnect` with this reason code byte.
    Disconnect(u8),
    /// 9: close if open, `connect` again, and (if `connack`) receive an accepting CONNACK.
    Reconnect {
        /// Feed a CONNACK at once.
        connack: bool,
        /// Its session-present flag (never with a clean session).
        session_present: bool,
    },
    /// 10: an acknowledgement from the broker: PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK,
    /// UNSUBACK (`kind` modulo 6).
    BrokerAck {
        /// Which acknowledgement.
        kind: u8,
        /// Its packet identifier.
        id: IdSel,
        /// Reason code byte (5.0; replaced by Success where not allowed).
        reason: u8,
        /// SUBACK/UNSUBACK code count: 0 = as many as requested, else modulo 5.
        count: u8,
    },
    /// 11: a PUBLISH from the broker.
    BrokerPublish {
        /// QoS (modulo 3).
        qos: u8,
        /// Packet identifier.
        id: IdSel,
        /// Index in the broker's topic table.
        topic: u8,
        /// Payload length.
        len: u8,
        /// Bit 0 DUP, bit 1 retain, bit 2 Topic Alias (1 + bits 4-5), bit 3 empty topic.
        flags: u8,
    },
    /// 12: PINGRESP, CONNACK, DISCONNECT, AUTH, PINGREQ or a refusing CONNACK (`kind`
    /// modulo 6) from the broker.
    BrokerControl {
        /// Which packet.
        kind: u8,
        /// Reason code byte, or session present.
        reason: u8,
    },
    /// 13: the transport stops (or resumes) taking bytes from `poll_transmit`.
    Stall,
    /// 14: `count` QoS `qos` publishes in a row.
    PublishBurst {
        /// How many (modulo 64).
        count: u8,
        /// QoS (modulo 3).
        qos: u8,
    },
    /// 15: `publish_with_properties` with a selection of 5.0 properties.
    PublishWithProperties {
        /// Index in the topic table.
        topic: u8,
        /// QoS (modulo 3).
        qos: u8,
        /// One bit per property (see [`publish_properties`]).
        props: u8,
    },
}

impl Op {
    /// Reads one op.
    pub fn parse(r: &mut Reader<'_>) -> Self {
        let tag = r.u8();
        let flags = tag >> 4;
        let read_len = |r: &mut Reader<'_>| {
            if flags & 0x8 != 0 {
                usize::from(r.u16())
            } else {
                usize::from(r.u8())
            }
        };
        match tag & 0x0F {
            0 => {
                let n = read_len(r);
                Self::Read(r.bytes(n).to_vec())
            }
            1 => {
                let n = read_len(r);
                let chunk = r.u8();
                Self::ReadChunked {
                    data: r.bytes(n).to_vec(),
                    chunk,
                }
            }
            2 => {
                let ms = u32::from(r.u16());
                Self::Advance(if flags & 1 != 0 { ms * 100 } else { ms })
            }
            3 => Self::ToDeadline,
            4 => Self::Closed,
            5 => Self::Publish {
                topic: r.u8(),
                qos: flags & 3,
                retain: flags & 4 != 0,
                len: r.u8(),
            },
            6 => Self::Subscribe((0..=(flags & 3)).map(|_| (r.u8(), r.u8())).collect()),
            7 => Self::Unsubscribe((0..=(flags & 3)).map(|_| r.u8()).collect()),
            8 => Self::Disconnect(r.u8()),
            9 => Self::Reconnect {
                connack: flags & 1 == 0,
                session_present: flags & 2 != 0,
            },
            10 => Self::BrokerAck {
                kind: r.u8(),
                id: IdSel::parse(r),
                reason: r.u8(),
                count: r.u8(),
            },
            11 => Self::BrokerPublish {
                qos: flags & 3,
                id: IdSel::parse(r),
                topic: r.u8(),
                len: r.u8(),
                flags: r.u8(),
            },
            12 => Self::BrokerControl {
                kind: r.u8(),
                reason: r.u8(),
            },
            13 => Self::Stall,
            14 => Self::PublishBurst {
                count: r.u8(),
                qos: flags & 3,
            },
            _ => Self::PublishWithProperties {
                topic: r.u8(),
                qos: flags & 3,
                props: r.u8(),
            },
        }
    }

    /// Appends the op in the form [`Op::parse`] reads. Long reads are split.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let put_data = |out: &mut Vec<u8>, kind: u8, data: &[u8], chunk: Option<u8>| {
            if data.len() <= usize::from(u8::MAX) {
                out.push(kind);
                out.push(data.len() as u8);
            } else {
                out.push(kind | 0x80);
                out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            }
            if let Some(c) = chunk {
                out.push(c);
            }
            out.extend_from_slice(data);
        };
        match self {
            Self::Read(data) => {
                for part in data.chunks(usize::from(u16::MAX)) {
                    put_data(out, 0, part, None);
                }
            }
            Self::ReadChunked { data, chunk } => {
                for part in data.chunks(usize::from(u16::MAX)) {
                    put_data(out, 1, part, Some(*chunk));
                }
            }
            Self::Advance(ms) => {
                if *ms <= u32::from(u16::MAX) {
                    out.push(2);
                    out.extend_from_slice(&(*ms as u16).to_be_bytes());
                } else {
                    let hundreds = (*ms / 100).min(u32::from(u16::MAX)) as u16;
                    out.push(0x12);
                    out.extend_from_slice(&hundreds.to_be_bytes());
                }
            }
            Self::ToDeadline => out.push(3),
            Self::Closed => out.push(4),
            Self::Publish {
                topic,
                qos,
                retain,
                len,
            } => {
                out.push(5 | ((qos & 3) << 4) | (u8::from(*retain) << 6));
                out.extend_from_slice(&[*topic, *len]);
            }
            Self::Subscribe(subs) => {
                let n = subs.len().clamp(1, 4);
                out.push(6 | (((n - 1) as u8) << 4));
                for i in 0..n {
                    let (f, o) = subs.get(i).copied().unwrap_or((0, 0));
                    out.extend_from_slice(&[f, o]);
                }
            }
            Self::Unsubscribe(filters) => {
                let n = filters.len().clamp(1, 4);
                out.push(7 | (((n - 1) as u8) << 4));
                for i in 0..n {
                    out.push(filters.get(i).copied().unwrap_or(0));
                }
            }
            Self::Disconnect(reason) => out.extend_from_slice(&[8, *reason]),
            Self::Reconnect {
                connack,
                session_present,
            } => out.push(9 | (u8::from(!connack) << 4) | (u8::from(*session_present) << 5)),
            Self::BrokerAck {
                kind,
                id,
                reason,
                count,
            } => {
                out.extend_from_slice(&[10, *kind]);
                id.encode(out);
                out.extend_from_slice(&[*reason, *count]);
            }
            Self::BrokerPublish {
                qos,
                id,
                topic,
                len,
                flags,
            } => {
                out.push(11 | ((qos & 3) << 4));
                id.encode(out);
                out.extend_from_slice(&[*topic, *len, *flags]);
            }
            Self::BrokerControl { kind, reason } => out.extend_from_slice(&[12, *kind, *reason]),
            Self::Stall => out.push(13),
            Self::PublishBurst { count, qos } => {
                out.extend_from_slice(&[14 | ((qos & 3) << 4), *count]);
            }
            Self::PublishWithProperties { topic, qos, props } => {
                out.extend_from_slice(&[15 | ((qos & 3) << 4), *topic, *props]);
            }
        }
    }
}

/// Encodes a whole input: header, then ops.
pub fn encode_input(header: Header, ops: &[Op]) -> Vec<u8> {
    let mut out = header.0.to_vec();
    for op in ops {
        op.encode(&mut out);
    }
    out
}

/// Topics the client publishes to (index modulo the length); the last three are invalid.
pub const TOPICS: [&str; 8] = [
    "a",
    "a/b",
    "t/1",
    "sensors/kitchen/temp",
    "x/y/z",
    "",
    "a/+",
    "bad\0topic",
];

/// Filters the client subscribes to; the last two are invalid.
pub const FILTERS: [&str; 8] = ["a/#", "#", "+/b", "a/b", "$share/g/a/#", "t/+", "a/#/b", ""];

/// Topics the broker publishes to.
pub const BROKER_TOPICS: [&str; 6] = ["a", "a/b", "t/1", "$SYS/up", "sensors/kitchen/temp", "x"];

/// The properties op 15 selects, one bit each: Message Expiry Interval, User Property,
/// Content Type, Response Topic, Correlation Data, Payload Format Indicator, Session Expiry
/// Interval (not allowed in PUBLISH), Subscription Identifier.
pub fn publish_properties(bits: u8) -> PropertiesBuf {
    let all = [
        Property::MessageExpiryInterval(60),
        Property::UserProperty("k", "v"),
        Property::ContentType("text/plain"),
        Property::ResponseTopic("reply/to"),
        Property::CorrelationData(b"cd"),
        Property::PayloadFormatIndicator(1),
        Property::SessionExpiryInterval(10),
        Property::SubscriptionIdentifier(7),
    ];
    let mut p = PropertiesBuf::new();
    for (i, prop) in all.into_iter().enumerate() {
        if bits & (1 << i) != 0 {
            let _ = p.push(prop);
        }
    }
    p
}

/// A flow of the client's packet identifier space, as seen from outside the Session.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Flow {
    /// QoS 1 PUBLISH allocated (and maybe sent), awaiting PUBACK. `dup_ok`: it may have
    /// been queued for a transport that never took it, so DUP is allowed on its first
    /// appearance on the wire.
    Pub1 {
        sig: Vec<u8>,
        on_wire: bool,
        dup_ok: bool,
    },
    /// QoS 2 PUBLISH allocated (and maybe sent), awaiting PUBREC; `recd`: the Session
    /// reported its PUBREC (a PUBREL follows).
    Pub2 {
        sig: Vec<u8>,
        on_wire: bool,
        dup_ok: bool,
        recd: bool,
    },
    /// PUBREL sent, awaiting PUBCOMP.
    Rel,
    /// SUBSCRIBE with this many filters, awaiting SUBACK.
    Sub { sig: Vec<u8>, filters: usize },
    /// UNSUBSCRIBE with this many filters, awaiting UNSUBACK.
    Unsub { sig: Vec<u8>, filters: usize },
}

fn publish_sig(qos: QoS, retain: bool, topic: &str, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut s = vec![qos.as_u8(), u8::from(retain)];
    s.extend_from_slice(&(topic.len() as u32).to_be_bytes());
    s.extend_from_slice(topic.as_bytes());
    s.extend_from_slice(&(props.len() as u32).to_be_bytes());
    s.extend_from_slice(props);
    s.extend_from_slice(payload);
    s
}

fn filters_sig<'s>(filters: impl Iterator<Item = (&'s str, u8)>) -> Vec<u8> {
    let mut s = Vec::new();
    for (f, o) in filters {
        s.extend_from_slice(&(f.len() as u32).to_be_bytes());
        s.extend_from_slice(f.as_bytes());
        s.push(o);
    }
    s
}

fn options_byte(o: &SubscriptionOptions) -> u8 {
    o.qos.as_u8()
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn subscription_options(b: u8, v: ProtocolVersion) -> SubscriptionOptions {
    let mut o = SubscriptionOptions::qos(QoS::from_u8(b % 3).unwrap_or_default());
    if v == ProtocolVersion::V5 {
        o.no_local = b & 0x04 != 0;
        o.retain_as_published = b & 0x08 != 0;
        o.retain_handling = match (b >> 4) % 3 {
            0 => mqtt_proto::RetainHandling::SendAtSubscribe,
            1 => mqtt_proto::RetainHandling::SendAtSubscribeIfNew,
            _ => mqtt_proto::RetainHandling::DoNotSend,
        };
    }
    o
}

/// What a run did, for the corpus replay's bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Ops run.
    pub ops: usize,
    /// Packets the client sent.
    pub packets_sent: usize,
    /// Events the client emitted.
    pub events: usize,
    /// Application messages delivered (QoS 0/1 on PUBLISH, QoS 2 on PUBREL).
    pub messages: usize,
    /// Connections that ended in a protocol error.
    pub protocol_errors: usize,
    /// Publishes and requests completed (PUBACK, PUBCOMP, SUBACK, UNSUBACK).
    pub completed: usize,
}

/// The state `Err` from a command must leave untouched.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    state: SessionState,
    inflight: usize,
    queued: usize,
    incoming: usize,
    ids: usize,
    transmit: usize,
    read: usize,
}

/// A Session under test, the clock, and what is known about it from outside.
pub struct Interp {
    /// The Session.
    pub session: Session,
    /// The clock, in milliseconds.
    pub now: u64,
    header: Header,
    config: SessionConfig,
    version: ProtocolVersion,
    /// The transport does not take bytes (`poll_transmit` is not called).
    stalled: bool,
    /// Packet identifiers the client allocated and that are not complete.
    flows: BTreeMap<u16, Flow>,
    /// Flows completed while the transport was stalled, whose packets may still wait in the
    /// Session's transmit queue: a (hostile) broker can acknowledge what it never received.
    stale: BTreeMap<u16, Flow>,
    /// PUBLISH ids sent on the current connection (5.0: never twice).
    sent_this_connection: BTreeSet<u16>,
    /// Incoming QoS 2 ids received and not yet released.
    incoming: BTreeSet<u16>,
    /// Incoming QoS 2 ids delivered at PUBLISH (past the budget) and not yet released: the
    /// Session's id-only set, while `id_only_known`.
    id_only: BTreeSet<u16>,
    /// `id_only` is exactly the Session's set. False after bytes the interpreter did not
    /// write (or a session not resumed) released ids it cannot name, until the set is empty
    /// again; meanwhile duplicates of those ids cannot be checked.
    id_only_known: bool,
    /// `connect` was called and CONNECT not yet seen.
    connect_pending: bool,
    /// DISCONNECT was sent on this connection: nothing may follow.
    disconnect_sent: bool,
    connected_events: usize,
    disconnected_events: usize,
    /// Bytes read and ops run since the last drain (bound for a stalled transport).
    read_since_drain: usize,
    ops_since_drain: usize,
    counter: u8,
    /// Packets sent since the last [`Interp::take_sent`].
    sent: Vec<Vec<u8>>,
    /// Events since the last [`Interp::take_events`].
    events: Vec<Event>,
    /// What happened so far.
    pub stats: Stats,
}

impl Interp {
    /// A Session configured by `header`, connected: CONNECT sent, valid CONNACK received.
    pub fn new(header: Header) -> Self {
        let config = header.config();
        let version = config.version;
        let mut me = Self {
            session: Session::new(config.clone()),
            now: 0,
            header,
            config,
            version,
            stalled: false,
            flows: BTreeMap::new(),
            stale: BTreeMap::new(),
            sent_this_connection: BTreeSet::new(),
            incoming: BTreeSet::new(),
            id_only: BTreeSet::new(),
            id_only_known: true,
            connect_pending: false,
            disconnect_sent: false,
            connected_events: 0,
            disconnected_events: 0,
            read_since_drain: 0,
            ops_since_drain: 0,
            counter: 0,
            sent: Vec::new(),
            events: Vec::new(),
            stats: Stats::default(),
        };
        me.connect();
        me.feed_connack(false);
        me.drain();
        me.check();
        me
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// Packets the client sent since the last call.
    pub fn take_sent(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.sent)
    }

    /// Events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn connect(&mut self) {
        let now = self.instant();
        let r = self
            .session
            .connect(now, &ConnectOptions::new(self.header.keep_alive()));
        assert_eq!(r, Ok(()), "connect refused on a disconnected session");
        assert_eq!(self.session.state(), SessionState::Connecting);
        self.connect_pending = true;
        self.disconnect_sent = false;
        self.connected_events = 0;
        self.disconnected_events = 0;
        self.sent_this_connection.clear();
        self.stale.clear();
        self.drain();
    }

    fn feed_connack(&mut self, session_present: bool) {
        let props = self.header.connack_properties();
        let ack = ConnAck {
            session_present: session_present && !self.config.clean_session,
            reason: ReasonCode::Success,
            properties: match self.version {
                ProtocolVersion::V5 => props.as_properties(),
                ProtocolVersion::V311 => Properties::EMPTY,
            },
        };
        self.feed_packet(&Packet::ConnAck(ack));
    }

    fn feed_packet(&mut self, p: &Packet<'_>) {
        let mut bytes = Vec::new();
        if p.encode(self.version, &mut bytes).is_ok() {
            let before = self.session.incoming_qos2_ids_only();
            self.read(&bytes);
            if let Packet::PubRel(a) = p {
                if self.session.incoming_qos2_ids_only() < before {
                    self.id_only.remove(&a.packet_id.get());
                }
            }
        }
    }

    fn read(&mut self, bytes: &[u8]) {
        self.read_since_drain += bytes.len();
        let now = self.instant();
        self.session.handle_read(now, bytes);
    }

    fn snapshot(&self) -> Snapshot {
        let s = &self.session;
        Snapshot {
            state: s.state(),
            inflight: s.inflight_len(),
            queued: s.queued_len(),
            incoming: s.pending_incoming_qos2(),
            ids: s.packet_ids_in_use(),
            transmit: s.pending_transmit_bytes(),
            read: s.pending_read_bytes(),
        }
    }

    /// Runs one op, drains, and checks every invariant.
    pub fn apply(&mut self, op: &Op) {
        self.stats.ops += 1;
        self.ops_since_drain += 1;
        let v = self.version;
        match op {
            Op::Read(data) => self.read(data),
            Op::ReadChunked { data, chunk } => {
                for part in data.chunks(usize::from(1 + chunk % 16)) {
                    self.read(part);
                }
            }
            Op::Advance(ms) => {
                self.now += u64::from(*ms);
                let now = self.instant();
                self.session.handle_timeout(now);
            }
            Op::ToDeadline => {
                if let Some(t) = self.session.poll_timeout() {
                    self.now = self.now.max(t.as_millis());
                }
                let now = self.instant();
                self.session.handle_timeout(now);
            }
            Op::Closed => {
                let now = self.instant();
                self.session.handle_closed(now);
            }
            Op::Publish {
                topic,
                qos,
                retain,
                len,
            } => {
                self.counter = self.counter.wrapping_add(1);
                let payload = vec![self.counter; usize::from(*len)];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                self.publish(topic, &payload, *qos, *retain, Properties::EMPTY);
            }
            Op::PublishBurst { count, qos } => {
                for _ in 0..=(count % 64) {
                    self.counter = self.counter.wrapping_add(1);
                    let payload = [self.counter; 8];
                    self.publish("burst", &payload, *qos, false, Properties::EMPTY);
                }
            }
            Op::PublishWithProperties { topic, qos, props } => {
                self.counter = self.counter.wrapping_add(1);
                let payload = [self.counter; 4];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                let props = publish_properties(*props);
                self.publish(topic, &payload, *qos, false, props.as_properties());
            }
            Op::Subscribe(list) => self.subscribe(list),
            Op::Unsubscribe(list) => self.unsubscribe(list),
            Op::Disconnect(reason) => {
                let reason = ReasonCode::from_u8(*reason).unwrap_or(ReasonCode::Success);
                let now = self.instant();
                self.session.disconnect(now, reason);
            }
            Op::Reconnect {
                connack,
                session_present,
            } => {
                if self.session.state() != SessionState::Disconnected {
                    let now = self.instant();
                    self.session.handle_closed(now);
                }
                // The close is seen while the transport is still stalled (what it held is
                // lost with it), then the new transport takes bytes again.
                self.drain();
                self.unstall();
                self.drain();
                self.connect();
                if *connack {
                    self.feed_connack(*session_present);
                }
            }
            Op::BrokerAck {
                kind,
                id,
                reason,
                count,
            } => self.broker_ack(*kind, *id, *reason, *count),
            Op::BrokerPublish {
                qos,
                id,
                topic,
                len,
                flags,
            } => self.broker_publish(*qos, *id, *topic, *len, *flags),
            Op::BrokerControl { kind, reason } => {
                let code = |t| {
                    ReasonCode::from_u8(*reason)
                        .filter(|c| c.is_valid_for(t) && v == ProtocolVersion::V5)
                        .unwrap_or(ReasonCode::Success)
                };
                match kind % 6 {
                    0 => self.read(&[0xD0, 0x00]),
                    1 => self.feed_connack(reason & 1 != 0),
                    2 => self.feed_packet(&Packet::Disconnect(Disconnect {
                        reason: code(mqtt_proto::PacketType::Disconnect),
                        properties: Properties::EMPTY,
                    })),
                    3 => self.read(&[0xF0, 0x00]),
                    4 => self.read(&[0xC0, 0x00]),
                    _ => {
                        let refusal = match v {
                            ProtocolVersion::V311 => ReasonCode::from_v311_connack(1 + reason % 5),
                            ProtocolVersion::V5 => ReasonCode::from_u8(*reason).filter(|c| {
                                c.is_error() && c.is_valid_for(mqtt_proto::PacketType::ConnAck)
                            }),
                        };
                        self.feed_packet(&Packet::ConnAck(ConnAck {
                            session_present: false,
                            reason: refusal.unwrap_or(ReasonCode::NotAuthorized),
                            properties: Properties::EMPTY,
                        }));
                    }
                }
            }
            Op::Stall => {
                if self.stalled {
                    self.unstall();
                } else {
                    self.stalled = true;
                }
            }
        }
        self.drain();
        self.check();
    }

    fn unstall(&mut self) {
        self.stalled = false;
    }

    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        props: Properties<'_>,
    ) {
        let q = QoS::from_u8(qos % 3).unwrap_or_default();
        let before = self.snapshot();
        let can = self.session.can_publish(q);
        let over_transmit = self.session.is_connected()
            && self.session.queued_len() == 0
            && self.session.pending_transmit_bytes() > self.config.max_transmit_bytes;
        let now = self.instant();
        let r = self
            .session
            .publish_with_properties(now, topic, payload, q, retain, props);
        match r {
            Ok(id) => {
                assert!(
                    can,
                    "publish accepted although can_publish({q:?}) was false"
                );
                assert!(
                    !(q == QoS::AtMostOnce && over_transmit),
                    "QoS 0 publish accepted with more than max_transmit_bytes waiting"
                );
                match (q, id) {
                    (QoS::AtMostOnce, None) => {}
                    (QoS::AtMostOnce, Some(id)) => panic!("QoS 0 publish got packet id {id}"),
                    (_, None) => panic!("QoS {q:?} publish without a packet id"),
                    (_, Some(id)) => {
                        assert!(self.session.is_packet_id_in_use(id));
                        let sig = publish_sig(q, retain, topic, props.as_bytes(), payload);
                        let flow = if q == QoS::AtLeastOnce {
                            Flow::Pub1 {
                                sig,
                                on_wire: false,
                                dup_ok: false,
                            }
                        } else {
                            Flow::Pub2 {
                                sig,
                                on_wire: false,
                                dup_ok: false,
                                recd: false,
                            }
                        };
                        if let Some(old) = self.flows.insert(id.get(), flow) {
                            panic!("publish got packet id {id}, still in use by {old:?}");
                        }
                    }
                }
            }
            Err(e) => {
                if e == PublishError::QueueFull {
                    assert!(!can, "QueueFull although can_publish({q:?}) was true");
                }
                self.assert_unchanged(&before, "publish");
            }
        }
    }

    fn subscribe(&mut self, list: &[(u8, u8)]) {
        let v = self.version;
        let subs: Vec<(&str, SubscriptionOptions)> = list
            .iter()
            .map(|&(f, o)| {
                (
                    FILTERS[usize::from(f) % FILTERS.len()],
                    subscription_options(o, v),
                )
            })
            .collect();
        let valid: Option<Vec<Subscription<'_>>> = subs
            .iter()
            .map(|(f, o)| {
                TopicFilter::new(f).ok().map(|filter| Subscription {
                    filter,
                    options: *o,
                })
            })
            .collect();
        let Some(valid) = valid else {
            // Invalid filters cannot even be built: nothing to ask the Session.
            return;
        };
        let before = self.snapshot();
        let now = self.instant();
        match self.session.subscribe(now, &valid) {
            Ok(id) => {
                let sig = filters_sig(subs.iter().map(|(f, o)| (*f, options_byte(o))));
                let flow = Flow::Sub {
                    sig,
                    filters: subs.len(),
                };
                if let Some(old) = self.flows.insert(id.get(), flow) {
                    panic!("subscribe got packet id {id}, still in use by {old:?}");
                }
            }
            Err(_) => self.assert_unchanged(&before, "subscribe"),
        }
    }

    fn unsubscribe(&mut self, list: &[u8]) {
        let filters: Vec<&str> = list
            .iter()
            .map(|&f| FILTERS[usize::from(f) % FILTERS.len()])
            .collect();
        let Some(valid) = filters
            .iter()
            .map(|f| TopicFilter::new(f).ok())
            .collect::<Option<Vec<_>>>()
        else {
            return;
        };
        let before = self.snapshot();
        let now = self.instant();
        match self.session.unsubscribe(now, &valid) {
            Ok(id) => {
                let sig = filters_sig(filters.iter().map(|f| (*f, 0)));
                let flow = Flow::Unsub {
                    sig,
                    filters: filters.len(),
                };
                if let Some(old) = self.flows.insert(id.get(), flow) {
                    panic!("unsubscribe got packet id {id}, still in use by {old:?}");
                }
            }
            Err(_) => self.assert_unchanged(&before, "unsubscribe"),
        }
    }

    fn assert_unchanged(&mut self, before: &Snapshot, what: &str) {
        assert_eq!(
            &self.snapshot(),
            before,
            "{what} returned Err but changed the Session"
        );
        assert_eq!(
            self.session.poll_event(),
            None,
            "{what} returned Err but emitted an event"
        );
    }

    fn broker_ack(&mut self, kind: u8, id: IdSel, reason: u8, count: u8) {
        use mqtt_proto::PacketType as T;
        let v = self.version;
        let code = |t: T| match v {
            ProtocolVersion::V311 => ReasonCode::Success,
            ProtocolVersion::V5 => ReasonCode::from_u8(reason)
                .filter(|c| c.is_valid_for(t))
                .unwrap_or(ReasonCode::Success),
        };
        let kind = kind % 6;
        let ids: Vec<u16> = if kind == 2 {
            self.incoming.union(&self.id_only).copied().collect()
        } else {
            self.flows.keys().copied().collect()
        };
        let pid = id.resolve(&ids);
        let ack = |t| Ack {
            packet_id: pid,
            reason: code(t),
            properties: Properties::EMPTY,
        };
        let requested = match self.flows.get(&pid.get()) {
            Some(Flow::Sub { filters, .. } | Flow::Unsub { filters, .. }) => *filters,
            _ => 1,
        };
        let n = if count == 0 {
            requested
        } else {
            usize::from(count % 5)
        };
        let packet = match kind {
            0 => Packet::PubAck(ack(T::PubAck)),
            1 => Packet::PubRec(ack(T::PubRec)),
            2 => Packet::PubRel(ack(T::PubRel)),
            3 => Packet::PubComp(ack(T::PubComp)),
            4 => Packet::SubAck(SubAck {
                packet_id: pid,
                properties: Properties::EMPTY,
                reason_codes: (0..n.max(1))
                    .map(|i| match v {
                        ProtocolVersion::V311 => [
                            ReasonCode::Success,
                            ReasonCode::GrantedQoS1,
                            ReasonCode::GrantedQoS2,
                            ReasonCode::UnspecifiedError,
                        ][(usize::from(reason) + i) % 4],
                        ProtocolVersion::V5 => code(T::SubAck),
                    })
                    .collect(),
            }),
            _ => Packet::UnsubAck(UnsubAck {
                packet_id: pid,
                properties: Properties::EMPTY,
                reason_codes: match v {
                    ProtocolVersion::V311 => Default::default(),
                    ProtocolVersion::V5 => (0..n.max(1)).map(|_| code(T::UnsubAck)).collect(),
                },
            }),
        };
        self.feed_packet(&packet);
    }

    fn broker_publish(&mut self, qos: u8, id: IdSel, topic: u8, len: u8, flags: u8) {
        let q = QoS::from_u8(qos % 3).unwrap_or_default();
        let ids: Vec<u16> = self.incoming.union(&self.id_only).copied().collect();
        let pid = id.resolve(&ids);
        let payload = vec![0x5A; usize::from(len)];
        let name = BROKER_TOPICS[usize::from(topic) % BROKER_TOPICS.len()];
        let mut props = PropertiesBuf::new();
        let mut topic = TopicName::new(name).unwrap_or(TopicName::EMPTY);
        if self.version == ProtocolVersion::V5 && flags & 0x04 != 0 {
            let _ = props.push(Property::TopicAlias(1 + u16::from((flags >> 4) & 3)));
            if flags & 0x08 != 0 {
                topic = TopicName::EMPTY;
            }
        }
        let p = Publish {
            dup: flags & 1 != 0 && q != QoS::AtMostOnce,
            qos: QosPid::new(q, pid),
            retain: flags & 2 != 0,
            topic,
            properties: props.as_properties(),
            payload: &payload,
        };
        self.feed_packet(&Packet::Publish(p));
    }

    /// Takes what the Session has to send (unless stalled) and its events.
    fn drain(&mut self) {
        let mut packets = Vec::new();
        if !self.stalled {
            let now = self.instant();
            loop {
                let mut buf = Vec::new();
                let Some(n) = self.session.poll_transmit(now, &mut buf) else {
                    break;
                };
                assert_eq!(
                    n,
                    buf.len(),
                    "poll_transmit length differs from bytes appended"
                );
                self.on_sent(&buf);
                packets.push(buf);
            }
            assert_eq!(
                self.session.pending_transmit_bytes(),
                0,
                "bytes left after a drain"
            );
            self.stale.clear();
            self.read_since_drain = 0;
            self.ops_since_drain = 0;
        }
        while let Some(e) = self.session.poll_event() {
            self.on_event(&e, &packets);
            self.stats.events += 1;
            self.events.push(e);
        }
        // A count that differs means ids were released by input `feed_packet` did not
        // attribute (a PUBREL in raw bytes, a session not resumed): stop checking until empty.
        let kept = self.session.incoming_qos2_ids_only();
        if kept != self.id_only.len() {
            self.id_only_known = false;
        }
        if kept == 0 {
            self.id_only.clear();
            self.id_only_known = true;
        }
        self.stats.packets_sent += packets.len();
        self.sent.extend(packets);
    }

    /// Checks one packet the client sent.
    fn on_sent(&mut self, bytes: &[u8]) {
        let v = self.version;
        let packet = match decode(bytes, v, &Limits::default()) {
            Ok(Some((p, n))) if n == bytes.len() => p,
            other => panic!("the client sent an invalid packet {bytes:02x?}: {other:?}"),
        };
        assert!(
            !self.disconnect_sent,
            "the client sent {:?} after DISCONNECT",
            packet.packet_type()
        );
        if self.connect_pending {
            assert!(
                matches!(packet, Packet::Connect(_)),
                "the first packet after connect is not CONNECT"
            );
            self.connect_pending = false;
            return;
        }
        match packet {
            Packet::Connect(_) => panic!("CONNECT sent twice on one connection"),
            Packet::Publish(p) => {
                let Some(id) = p.qos.packet_id() else { return };
                let id = id.get();
                let sig = publish_sig(
                    p.qos.qos(),
                    p.retain,
                    p.topic.as_str(),
                    p.properties.as_bytes(),
                    p.payload,
                );
                if v == ProtocolVersion::V5 {
                    // No resend within a connection [MQTT-4.4.0-1].
                    assert!(
                        self.sent_this_connection.insert(id),
                        "5.0: PUBLISH {id} sent twice on one connection"
                    );
                }
                let stale = matches!(
                    self.stale.get(&id),
                    Some(Flow::Pub1 { sig: s, .. } | Flow::Pub2 { sig: s, .. }) if *s == sig
                );
                match self.flows.get_mut(&id) {
                    Some(
                        Flow::Pub1 {
                            sig: s,
                            on_wire,
                            dup_ok,
                        }
                        | Flow::Pub2 {
                            sig: s,
                            on_wire,
                            dup_ok,
                            ..
                        },
                    ) if *s == sig => {
                        assert!(
                            *on_wire || *dup_ok || !p.dup,
                            "DUP on the first transmission of {id}"
                        );
                        *on_wire = true;
                    }
                    // Kept until the queue is drained: its PUBREL may follow.
                    _ if stale => {}
                    Some(Flow::Rel) => panic!("PUBLISH {id} sent again after its PUBREL"),
                    other => panic!("PUBLISH with packet id {id} in use twice: {other:?}"),
                }
            }
            Packet::PubRel(a) => {
                let id = a.packet_id.get();
                // 5.0 says which PUBREL answers a PUBREC for an id not in flight (0x92); in
                // 3.1.1 it is ours if its PUBLISH went out or its PUBREC was reported.
                let not_found =
                    v == ProtocolVersion::V5 && a.reason == ReasonCode::PacketIdentifierNotFound;
                let ours = !not_found
                    && match self.flows.get(&id) {
                        Some(Flow::Pub2 { on_wire, recd, .. }) => *on_wire || *recd,
                        Some(Flow::Rel) => true,
                        _ => false,
                    };
                if ours {
                    assert!(
                        !a.reason.is_error(),
                        "PUBREL {id} for our own flow with {:?}",
                        a.reason
                    );
                    self.flows.insert(id, Flow::Rel);
                } else if matches!(self.stale.get(&id), Some(Flow::Pub2 { .. } | Flow::Rel)) {
                    // The PUBREL of a flow completed while it waited in the queue.
                } else if v == ProtocolVersion::V5 {
                    // An answer to a PUBREC for an id we do not have in flight.
                    assert!(not_found, "PUBREL {id} for an unknown flow: {:?}", a.reason);
                }
            }
            Packet::Subscribe(s) => {
                let id = s.packet_id.get();
                let sig = filters_sig(
                    s.subscriptions
                        .iter()
                        .map(|x| (x.filter.as_str(), options_byte(&x.options))),
                );
                match self.flows.get(&id) {
                    Some(Flow::Sub { sig: x, .. }) if *x == sig => {}
                    _ if matches!(self.stale.get(&id), Some(Flow::Sub { sig: x, .. }) if *x == sig) =>
                        {}
                    None if self.config.resubscribe_on_session_loss => {
                        let filters = s.subscriptions.len();
                        self.flows.insert(id, Flow::Sub { sig, filters });
                    }
                    other => panic!("SUBSCRIBE with packet id {id} in use twice: {other:?}"),
                }
            }
            Packet::Unsubscribe(u) => {
                let id = u.packet_id.get();
                let sig = filters_sig(u.filters.iter().map(|f| (f.as_str(), 0)));
                match self.flows.get(&id) {
                    Some(Flow::Unsub { sig: x, .. }) if *x == sig => {}
                    _ if matches!(self.stale.get(&id), Some(Flow::Unsub { sig: x, .. }) if *x == sig) =>
                        {}
                    other => panic!("UNSUBSCRIBE with packet id {id} in use twice: {other:?}"),
                }
            }
            Packet::Disconnect(_) => self.disconnect_sent = true,
            Packet::PubAck(_) | Packet::PubRec(_) | Packet::PubComp(_) | Packet::PingReq => {}
            other => panic!("the client sent a packet only a server sends: {other:?}"),
        }
    }

    /// Checks one event; `packets` are those sent in the same drain, before the event.
    fn on_event(&mut self, e: &Event, packets: &[Vec<u8>]) {
        let v = self.version;
        match e {
            Event::Connected {
                session_present, ..
            } => {
                if !session_present {
                    // The broker holds no session: a SUBSCRIBE it never acknowledged on the lost
                    // session may be dropped (the Session replaces its automatic
                    // resubscription), freeing the id.
                    let session = &self.session;
                    self.flows.retain(|id, f| {
                        !matches!(f, Flow::Sub { .. })
                            || PacketId::new(*id).is_some_and(|id| session.is_packet_id_in_use(id))
                    });
                }
                self.connected_events += 1;
                assert_eq!(
                    self.connected_events, 1,
                    "two Connected events on one connection"
                );
                assert_eq!(self.disconnected_events, 0, "Connected after Disconnected");
            }
            Event::Disconnected { reason, .. } => {
                self.disconnected_events += 1;
                // PUBLISHes queued for the transport and not taken (the transport was
                // stalled, or the connection ended in the same step that queued them: a
                // protocol error or a close clears the queue) are gone with the connection,
                // but the Session counts them as attempted: their next transmission may carry
                // DUP ("might be a re-delivery", §3.3.1.1).
                for f in self.flows.values_mut() {
                    if let Flow::Pub1 { dup_ok, .. } | Flow::Pub2 { dup_ok, .. } = f {
                        *dup_ok = true;
                    }
                }
                assert_eq!(
                    self.disconnected_events, 1,
                    "two Disconnected events on one connection"
                );
                if let DisconnectReason::Protocol(err) = reason {
                    self.stats.protocol_errors += 1;
                    if !self.stalled {
                        let expected: Vec<Vec<u8>> = match v {
                            ProtocolVersion::V5
                                if err
                                    .reason_code
                                    .is_valid_for(mqtt_proto::PacketType::Disconnect) =>
                            {
                                let mut d = Vec::new();
                                let _ = Packet::Disconnect(Disconnect {
                                    reason: err.reason_code,
                                    properties: Properties::EMPTY,
                                })
                                .encode(v, &mut d);
                                vec![d]
                            }
                            _ => Vec::new(),
                        };
                        assert_eq!(
                            packets, expected,
                            "after protocol error {err}: sent {packets:02x?}"
                        );
                    }
                }
            }
            Event::PubAck { id, .. } => match self.flows.get(&id.get()) {
                Some(Flow::Pub1 { .. }) => self.complete(id.get()),
                other => panic!("PubAck {id} for {other:?}"),
            },
            Event::PubRec { id, reason, .. } => match self.flows.get_mut(&id.get()) {
                Some(Flow::Pub2 { recd, .. }) if !reason.is_error() => *recd = true,
                Some(Flow::Rel) if !reason.is_error() => {}
                Some(Flow::Pub2 { .. } | Flow::Rel) => self.complete(id.get()),
                other => panic!("PubRec {id} for {other:?}"),
            },
            Event::PubComp { id, .. } => match self.flows.get(&id.get()) {
                Some(Flow::Pub2 { .. } | Flow::Rel) => self.complete(id.get()),
                other => panic!("PubComp {id} for {other:?}"),
            },
            Event::SubAck { id, .. } => match self.flows.get(&id.get()) {
                Some(Flow::Sub { .. }) => self.complete(id.get()),
                other => panic!("SubAck {id} for {other:?}"),
            },
            Event::UnsubAck { id, .. } => match self.flows.get(&id.get()) {
                Some(Flow::Unsub { .. }) => self.complete(id.get()),
                other => panic!("UnsubAck {id} for {other:?}"),
            },
            Event::Qos2Received { id } => {
                assert!(
                    self.incoming.insert(id.get()),
                    "Qos2Received {id} twice before release"
                );
            }
            Event::MessageReleased(m) => {
                let id = m.packet_id.map(PacketId::get);
                assert!(
                    id.is_some_and(|id| self.incoming.remove(&id)),
                    "MessageReleased {id:?} that was not received (or released twice)"
                );
                assert_eq!(m.qos, QoS::ExactlyOnce);
                self.stats.messages += 1;
            }
            Event::Message(m) if m.qos == QoS::ExactlyOnce => {
                // Past the held-message budget: delivered at PUBLISH, once until its PUBREL.
                let id = m.packet_id.map(PacketId::get);
                assert!(
                    id.is_some_and(|id| !self.incoming.contains(&id)
                        && (self.id_only.insert(id) || !self.id_only_known)),
                    "QoS 2 message {id:?} delivered at PUBLISH twice, or while held"
                );
                self.stats.messages += 1;
            }
            Event::Message(_) => self.stats.messages += 1,
            Event::SessionLost { .. } => {
                // The broker lost the session: PUBREC'd QoS 2 messages are dropped (they
                // may not be sent again), everything else goes out again as new.
                let session = &self.session;
                self.flows.retain(|id, f| match f {
                    Flow::Rel => false,
                    Flow::Pub2 { .. } => {
                        PacketId::new(*id).is_some_and(|id| session.is_packet_id_in_use(id))
                    }
                    _ => true,
                });
                assert!(
                    self.incoming.is_empty(),
                    "unreleased QoS 2 messages after SessionLost"
                );
                self.id_only.clear();
            }
            _ => {}
        }
    }

    /// A flow ended (acknowledged). While the transport is stalled its packets may still wait
    /// in the transmit queue.
    fn complete(&mut self, id: u16) {
        if let Some(flow) = self.flows.remove(&id) {
            if self.stalled {
                self.stale.insert(id, flow);
            }
        }
        self.stats.completed += 1;
    }

    /// The invariants that hold between ops.
    fn check(&self) {
        let s = &self.session;
        let c = &self.config;
        assert!(
            s.inflight_len() <= usize::from(c.max_inflight.max(1)),
            "in flight {} > max_inflight {}",
            s.inflight_len(),
            c.max_inflight
        );
        assert!(
            s.queued_len() <= c.max_queued,
            "queued {} > max_queued {}",
            s.queued_len(),
            c.max_queued
        );
        assert!(
            s.pending_incoming_qos2() <= usize::from(c.max_incoming_qos2),
            "pending incoming QoS 2 {} > {}",
            s.pending_incoming_qos2(),
            c.max_incoming_qos2
        );
        assert_eq!(
            s.pending_incoming_qos2(),
            self.incoming.len(),
            "incoming QoS 2 count"
        );
        let max_partial = (c.max_packet_size as usize).saturating_sub(1).max(4);
        assert!(
            s.pending_read_bytes() <= max_partial,
            "{} bytes of a partial packet buffered, limit {}",
            s.pending_read_bytes(),
            c.max_packet_size
        );
        // Without the transport taking bytes, the queue is bounded by the configured limits:
        // max_transmit_bytes (QoS 0), the window, queue and requests (at most ~512 bytes each
        // here), and answers to what was read.
        let slack = (usize::from(c.max_inflight) + c.max_queued + c.max_pending_requests + 4) * 512
            + 16 * self.read_since_drain
            + 64 * self.ops_since_drain;
        assert!(
            s.pending_transmit_bytes() <= c.max_transmit_bytes + slack,
            "{} bytes wait to be sent",
            s.pending_transmit_bytes()
        );
        match s.state() {
            SessionState::Disconnected => {
                assert_eq!(s.poll_timeout(), None, "a timer runs while disconnected");
                assert_eq!(
                    s.pending_read_bytes(),
                    0,
                    "read bytes kept while disconnected"
                );
            }
            SessionState::Connecting => assert!(s.poll_timeout().is_some(), "no CONNACK timer"),
            SessionState::Connected => {}
        }
        // Every identifier still in flight on the wire is still reserved in the Session, so
        // it cannot be handed out twice.
        for id in self.flows.keys() {
            let pid = PacketId::new(*id).unwrap_or(PacketId::MIN);
            assert!(
                s.is_packet_id_in_use(pid),
                "packet id {id} freed while in flight: {:?}",
                self.flows.get(id)
            );
        }
        assert!(self.flows.len() <= s.packet_ids_in_use());
    }

    /// Ends a run: resume the transport and drain.
    pub fn finish(&mut self) {
        self.unstall();
        self.drain();
        self.check();
    }
}

/// Runs one fuzz input; panics if an invariant breaks.
pub fn run(data: &[u8]) -> Stats {
    let mut r = Reader::new(data);
    let header = Header([r.u8(), r.u8(), r.u8(), r.u8()]);
    // SESSION_INPUT_TRACE=1 prints every op and what the client sent: for reading crashes.
    let trace = std::env::var_os("SESSION_INPUT_TRACE").is_some();
    if trace {
        eprintln!("header {header:?}: {:?}", header.config());
    }
    let mut interp = Interp::new(header);
    while !r.is_empty() && interp.stats.ops < MAX_OPS {
        let op = Op::parse(&mut r);
        if trace {
            eprintln!(
                "op {op:02x?} (t={} ms, {:?})",
                interp.now,
                interp.session.state()
            );
        }
        interp.apply(&op);
        if trace {
            for p in interp.take_sent() {
                eprintln!("   sent {p:02x?}");
            }
            for e in interp.take_events() {
                eprintln!("   event {e:?}");
            }
        }
    }
    interp.finish();
    interp.stats
}
