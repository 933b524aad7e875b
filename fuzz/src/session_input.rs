//! The `session` fuzz target's interpreter: bytes -> a Session configuration and a sequence of
//! inputs and commands, with the Session's invariants checked after every step.
//!
//! Shared with `mqtt-session/tests/fuzz_corpus.rs`, which includes this file with `#[path]`:
//! it compiles on stable with only `mqtt-sansio-proto`, `mqtt-sansio-session` and `std`, and reads its
//! input with the tiny [`Reader`] below instead of the `arbitrary` crate, so a corpus file
//! means the same thing to the fuzzer and to the replay test.
//!
//! # Input format
//!
//! Four header bytes choose the configuration ([`Header`]); when bit 6 of byte 2 is set
//! (the extended format), a fifth byte chooses the MQTT 5.0 additions ([`Extension`]:
//! outgoing topic alias policy, the broker's Topic Alias Maximum, an authenticator and its
//! challenge rounds). The Session then connects and receives a valid CONNACK (after the
//! AUTH challenges, with an authenticator). The rest is a list of [`Op`]s, each a tag byte
//! (low nibble: the kind, high nibble: flags) and its arguments; a missing byte reads as 0.
//! In the extended format, tag 13 with flags != 0 selects the ops added with it (broker
//! AUTH, `reauthenticate`, publishes with a manual Topic Alias, properties on the broker's
//! acknowledgements); tag 13 with flags 0 is still [`Op::Stall`].
//!
//! When bit 7 of byte 2 is set, a [`Features`] byte follows (after the extension byte, if
//! any): manual acknowledgements, the offline queue's policy and byte budget, a
//! [`MemoryStore`]; tag 13 with flags 6-8 then selects [`Op::Ack`], [`Op::Restart`] and
//! [`Op::PublishExpiring`] (in either format).
//!
//! Compatibility: inputs written before the extended format never had bit 6 of byte 2 set
//! with a meaning (bits 6-7 were unused), so the corpus files that had it set by chance were
//! rewritten with it cleared (same meaning as before, new file name for the hashed ones);
//! every older input means what it meant. Bit 7 of byte 2 was unused until the features
//! byte: the 614 corpus files that had it set by chance were rewritten the same way.
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
//! - `PublishFailed` / `RequestFailed` end a flow the client has, of the matching kind;
//! - one `Disconnected` per connection, after which nothing is sent until the next
//!   `connect`; after a protocol error a 5.0 client sends exactly one DISCONNECT with the
//!   error's reason code, a 3.1.1 client nothing;
//! - topic aliases (5.0 §3.3.2.3.4), from the bytes on the wire: no alias without an alias
//!   policy or above the Topic Alias Maximum of the connection's CONNACK [MQTT-3.3.2-9]; an
//!   alias alone (empty topic) only once it was set on the same connection [MQTT-3.3.2-7];
//!   the topic a PUBLISH stands for (given or resolved) and its other properties are those
//!   published; a manual alias is refused at the call unless the policy is `Manual` and,
//!   while connected, it is within the broker's maximum;
//! - enhanced authentication (5.0 §4.12): CONNECT carries the authenticator's method exactly
//!   when one is attached; AUTH goes out only on a connection whose CONNECT carried a method,
//!   always with that method [MQTT-4.12.0-5]; until CONNACK such a connection sends only AUTH
//!   or DISCONNECT [MQTT-3.1.2-30]; AUTH events only on such connections; `reauthenticate`
//!   answers as the Session's state predicts and changes nothing when it refuses; a failure
//!   of our authenticator ends the connection with exactly one DISCONNECT 0x80;
//! - manual acknowledgements: QoS 1/2 messages carry a token (none under automatic acks);
//!   `unacknowledged` never above the window, and 5.0 CONNECT's Receive Maximum within it;
//!   reading pauses only in 3.1.1 with the window full; `ack` succeeds exactly for a token of
//!   the current connection not yet acknowledged (else changes nothing); a QoS 2 message
//!   acknowledged by the application is never handed over again until its PUBREL or the
//!   broker's session is gone, across reconnects and restarts (once its PUBREC was due, so
//!   recorded in the store);
//! - offline queue: `queued_bytes` within `max_queued_bytes`; a message dropped for a newer
//!   one only under `DropOldestQos0`, and only QoS 0;
//! - store: a restart (a new Session from the store alone) loses no outgoing QoS 1/2 flow,
//!   keeps every held incoming QoS 2 message, and the store's live records stay bounded by
//!   what the Session holds.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU16;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use mqtt_sansio_proto::{
    decode, Ack, Auth, ConnAck, Disconnect, Limits, Packet, PacketId, Properties, PropertiesBuf,
    Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, SubAck, Subscription,
    SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
};
use mqtt_sansio_session::store::{MemoryStore, Record, Store, StoreError};
use mqtt_sansio_session::{
    AckMode, AckToken, AuthError, Authenticator, ConnectOptions, DisconnectReason, Event, Instant,
    PublishError, PublishFailure, QueuePolicy, ReauthError, Session, SessionConfig, SessionState,
    TopicAliasPolicy,
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
///   1 MiB), topic alias maximum (0, 1, 3, 10), two bits each; bit 6: the extended format
///   (an [`Extension`] byte follows the header); bit 7: a [`Features`] byte follows (after
///   the extension byte, if any).
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

    /// Whether an [`Extension`] byte follows (the extended format).
    pub fn extended(&self) -> bool {
        self.0[2] & 0x40 != 0
    }

    /// Whether a [`Features`] byte follows.
    pub fn has_features(&self) -> bool {
        self.0[2] & 0x80 != 0
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

/// The extended format's fifth header byte: the MQTT 5.0 additions (all ignored in 3.1.1).
///
/// - bits 0-1: outgoing topic alias policy: Off, Manual, Auto (2 aliases), Auto (16);
/// - bits 2-4: the broker's CONNACK Topic Alias Maximum, 0-7 (0: not announced);
/// - bit 5: a [`FuzzAuthenticator`] is attached (enhanced authentication);
/// - bits 6-7: AUTH 0x18 challenges the interpreter sends before each CONNACK it feeds to a
///   connection whose CONNECT carried the method (0-3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extension(pub u8);

impl Extension {
    /// The outgoing topic alias policy.
    pub fn alias_policy(&self) -> TopicAliasPolicy {
        match self.0 & 3 {
            0 => TopicAliasPolicy::Off,
            1 => TopicAliasPolicy::Manual,
            2 => TopicAliasPolicy::Auto { max_aliases: 2 },
            _ => TopicAliasPolicy::Auto { max_aliases: 16 },
        }
    }

    /// The broker's Topic Alias Maximum (0: the property is left out).
    pub fn broker_alias_maximum(&self) -> u16 {
        u16::from((self.0 >> 2) & 7)
    }

    /// Whether the Session gets an authenticator.
    pub fn authenticator(&self) -> bool {
        self.0 & 0x20 != 0
    }

    /// Challenges before each CONNACK.
    pub fn challenge_rounds(&self) -> u8 {
        self.0 >> 6
    }
}

/// The features byte (header byte 2 bit 7): manual acknowledgements, the offline queue's
/// policy and byte budget, and a durable store (both protocol versions).
///
/// - bits 0-1: acknowledgements: automatic, or manual with a window of 1, 2 or 4;
/// - bit 2: [`QueuePolicy::DropOldestQos0`] (else `RefuseNew`);
/// - bits 3-4: `max_queued_bytes`: the default (16 MiB), 24, 64 or 256;
/// - bit 5: a [`MemoryStore`] is attached (and [`Op::Restart`] rebuilds the Session from it);
/// - bits 6-7: unused.
///
/// With it, tag 13 with flags 6, 7 and 8 selects [`Op::Ack`], [`Op::Restart`] and
/// [`Op::PublishExpiring`], in either format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features(pub u8);

impl Features {
    /// The acknowledgement mode.
    pub fn acks(&self) -> AckMode {
        match NonZeroU16::new([0, 1, 2, 4][usize::from(self.0 & 3)]) {
            Some(window) => AckMode::manual(window),
            None => AckMode::Automatic,
        }
    }

    /// The offline queue's policy.
    pub fn queue_policy(&self) -> QueuePolicy {
        if self.0 & 4 != 0 {
            QueuePolicy::DropOldestQos0
        } else {
            QueuePolicy::RefuseNew
        }
    }

    /// The queue's byte budget, `None` for the default.
    pub fn max_queued_bytes(&self) -> Option<usize> {
        [None, Some(24), Some(64), Some(256)][usize::from((self.0 >> 3) & 3)]
    }

    /// Whether the Session has a [`MemoryStore`].
    pub fn store(&self) -> bool {
        self.0 & 0x20 != 0
    }

    /// Applies the features to a configuration.
    pub fn configure(&self, c: &mut SessionConfig) {
        c.acks = self.acks();
        c.queue_policy = self.queue_policy();
        if let Some(bytes) = self.max_queued_bytes() {
            c.max_queued_bytes = bytes;
        }
    }
}

/// A [`MemoryStore`] the interpreter keeps a handle on while the Session owns the store: to
/// bound its size, and to hand the same records to the Session built at a restart.
#[derive(Clone, Debug, Default)]
pub struct SharedStore(pub Arc<Mutex<MemoryStore>>);

impl SharedStore {
    fn lock(&self) -> MutexGuard<'_, MemoryStore> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for SharedStore {
    fn bind(&mut self, client_id: &str, version: ProtocolVersion) -> Result<(), StoreError> {
        self.lock().bind(client_id, version)
    }
    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        self.lock().restore(apply)
    }
    fn append(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        self.lock().append(record)
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        self.lock().sync()
    }
}

/// The fuzz authenticator's Authentication Method.
pub const FUZZ_METHOD: &str = "FUZZ-CHALLENGE";
/// Its initial Authentication Data (CONNECT and AUTH 0x19).
pub const FUZZ_INITIAL: &[u8] = b"fuzz-initial";
/// The broker's final data it accepts; any other fails `finish` (an impostor broker).
pub const FUZZ_FINAL: &[u8] = b"fuzz-final";

/// A deterministic authenticator whose answers and failures come from the input: a
/// challenge starting with `!` is refused, any other is answered with its bytes reversed;
/// the broker's final data must be [`FUZZ_FINAL`]; `start` fails while the shared flag (set
/// by [`Op::Reauthenticate`]) says so.
#[derive(Debug, Default)]
pub struct FuzzAuthenticator {
    /// `start` fails while set.
    pub fail_start: Arc<AtomicBool>,
}

impl Authenticator for FuzzAuthenticator {
    fn method(&self) -> &str {
        FUZZ_METHOD
    }
    fn start(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        if self.fail_start.load(Ordering::Relaxed) {
            return Err(AuthError::InvalidInput {
                what: "scripted start failure",
            });
        }
        Ok(Some(FUZZ_INITIAL.to_vec()))
    }
    fn challenge(&mut self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, AuthError> {
        let data = data.unwrap_or_default();
        if data.first() == Some(&b'!') {
            return Err(AuthError::Refused {
                what: "scripted challenge refusal",
            });
        }
        Ok(Some(data.iter().rev().copied().collect()))
    }
    fn finish(&mut self, data: Option<&[u8]>) -> Result<(), AuthError> {
        if data == Some(FUZZ_FINAL) {
            Ok(())
        } else {
            Err(AuthError::ServerNotVerified)
        }
    }
}

/// The properties [`Op::AckProperties`] adds to the broker's acknowledgements, one bit
/// each: Reason String, User Property, two more User Properties (one empty), a 300-byte
/// Reason String (in place of the short one), Server Reference (only where allowed: CONNACK,
/// DISCONNECT); bits 5-7 unused. (Malformed lists cannot be encoded: raw bytes in
/// [`Op::Read`] reach those.)
pub fn ack_properties(bits: u8, server_reference_allowed: bool) -> PropertiesBuf {
    let long = "r".repeat(300);
    let mut p = PropertiesBuf::new();
    let mut push = |prop| {
        let _ = p.push(prop);
    };
    if bits & 0x08 != 0 {
        push(Property::ReasonString(&long));
    } else if bits & 0x01 != 0 {
        push(Property::ReasonString("fuzz reason"));
    }
    if bits & 0x02 != 0 {
        push(Property::UserProperty("k", "v"));
    }
    if bits & 0x04 != 0 {
        push(Property::UserProperty("k", "v2"));
        push(Property::UserProperty("empty", ""));
    }
    if bits & 0x10 != 0 && server_reference_allowed {
        push(Property::ServerReference("backup.example:1883"));
    }
    p
}

/// A PUBLISH property list without its Topic Alias: the alias is the Session's choice per
/// connection (or dropped), so it is not part of what the application published.
fn without_alias(props: &Properties<'_>) -> Vec<u8> {
    let mut p = PropertiesBuf::new();
    for prop in props.iter() {
        match prop {
            Property::TopicAlias(_) => {}
            // The Session lowers the interval by the time the message waited in its queue
            // [MQTT-3.3.2-6]: the signature keeps that there is one, not its value.
            Property::MessageExpiryInterval(_) => {
                let _ = p.push(Property::MessageExpiryInterval(0));
            }
            prop => {
                let _ = p.push(prop);
            }
        }
    }
    p.as_properties().as_bytes().to_vec()
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
    /// Extended format, tag 0x1D: an AUTH from the broker (`kind` modulo 4): 0 continue
    /// (0x18) with a challenge, 1 success (0x00) with final data, 2 continue with another
    /// method, 3 Re-authenticate (0x19, which only a client sends). `data` bit 7 makes the
    /// challenge one the authenticator refuses, or the final data wrong; bits 0-6 vary it.
    BrokerAuth {
        /// Which AUTH.
        kind: u8,
        /// Its data selector.
        data: u8,
    },
    /// Extended format, tag 0x2D (`start` succeeds) / 0x3D (`start` fails): `reauthenticate`.
    Reauthenticate {
        /// The authenticator's `start` fails.
        fail_start: bool,
    },
    /// Extended format, tag 0x4D: `publish_with_properties` with a manual Topic Alias.
    PublishAliased {
        /// Index in the topic table.
        topic: u8,
        /// QoS (modulo 3).
        qos: u8,
        /// The Topic Alias (0 and values above any maximum included).
        alias: u8,
    },
    /// Extended format, tag 0x5D: from now on the broker's acknowledgements (PUBACK, PUBREC,
    /// PUBREL, PUBCOMP, SUBACK, UNSUBACK, CONNACK, DISCONNECT, AUTH) carry these properties
    /// (see [`ack_properties`]).
    AckProperties(u8),
    /// Features, tag 0x6D: `ack` with one of the tokens seen so far (index modulo their
    /// number; stale and already used ones included). Nothing without any token.
    Ack(u8),
    /// Features, tag 0x7D: a restart: the connection closes, the store is taken from the
    /// Session and a new Session is built from it ([`Session::with_store`]); bit 0: connect
    /// again, bit 1: with a CONNACK, bit 2: its session-present flag. Nothing without a store.
    Restart(u8),
    /// Features, tag 0x8D: `publish_with_properties` with a Message Expiry Interval of
    /// `secs` modulo 16 seconds.
    PublishExpiring {
        /// Index in the topic table.
        topic: u8,
        /// QoS (modulo 3).
        qos: u8,
        /// The interval.
        secs: u8,
    },
}

impl Op {
    /// Reads one op of the original format.
    pub fn parse(r: &mut Reader<'_>) -> Self {
        Self::parse_format(r, false)
    }

    /// Reads one op; `extended`: the input uses the extended format (see the module doc).
    pub fn parse_format(r: &mut Reader<'_>, extended: bool) -> Self {
        Self::parse_with(r, extended, false)
    }

    /// Reads one op; `features`: the input has a [`Features`] byte.
    pub fn parse_with(r: &mut Reader<'_>, extended: bool, features: bool) -> Self {
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
            13 if features && (6..=8).contains(&flags) => match flags {
                6 => Self::Ack(r.u8()),
                7 => Self::Restart(r.u8()),
                _ => Self::PublishExpiring {
                    topic: r.u8(),
                    qos: r.u8(),
                    secs: r.u8(),
                },
            },
            13 if !extended || flags == 0 => Self::Stall,
            13 => match flags {
                1 => Self::BrokerAuth {
                    kind: r.u8(),
                    data: r.u8(),
                },
                2 | 3 => Self::Reauthenticate {
                    fail_start: flags == 3,
                },
                4 => Self::PublishAliased {
                    topic: r.u8(),
                    qos: r.u8(),
                    alias: r.u8(),
                },
                5 => Self::AckProperties(r.u8()),
                // Reserved for later ops.
                _ => Self::Stall,
            },
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
            Self::BrokerAuth { kind, data } => out.extend_from_slice(&[0x1D, *kind, *data]),
            Self::Reauthenticate { fail_start } => {
                out.push(if *fail_start { 0x3D } else { 0x2D });
            }
            Self::PublishAliased { topic, qos, alias } => {
                out.extend_from_slice(&[0x4D, *topic, *qos, *alias]);
            }
            Self::AckProperties(bits) => out.extend_from_slice(&[0x5D, *bits]),
            Self::Ack(sel) => out.extend_from_slice(&[0x6D, *sel]),
            Self::Restart(mode) => out.extend_from_slice(&[0x7D, *mode]),
            Self::PublishExpiring { topic, qos, secs } => {
                out.extend_from_slice(&[0x8D, *topic, *qos, *secs]);
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

/// Encodes a whole input in the extended format: header (with its bit set), extension byte,
/// then ops.
pub fn encode_extended_input(header: Header, ext: Extension, ops: &[Op]) -> Vec<u8> {
    let mut h = header.0;
    h[2] |= 0x40;
    let mut out = h.to_vec();
    out.push(ext.0);
    for op in ops {
        op.encode(&mut out);
    }
    out
}

/// Encodes a whole input with a [`Features`] byte (and the extension byte, when `ext` is
/// given): header (with its bits set), extension, features, then ops.
pub fn encode_featured_input(
    header: Header,
    ext: Option<Extension>,
    features: Features,
    ops: &[Op],
) -> Vec<u8> {
    let mut h = header.0;
    h[2] |= 0x80;
    if ext.is_some() {
        h[2] |= 0x40;
    } else {
        h[2] &= !0x40;
    }
    let mut out = h.to_vec();
    if let Some(ext) = ext {
        out.push(ext.0);
    }
    out.push(features.0);
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
            0 => mqtt_sansio_proto::RetainHandling::SendAtSubscribe,
            1 => mqtt_sansio_proto::RetainHandling::SendAtSubscribeIfNew,
            _ => mqtt_sansio_proto::RetainHandling::DoNotSend,
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
    /// Manual acknowledgements the Session accepted.
    pub acked: usize,
    /// Sessions rebuilt from their store.
    pub restarts: usize,
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
    /// The 5.0 additions (zero in the original format).
    ext: Extension,
    /// The authenticator's `start` fails while set (shared with it).
    auth_fail_start: Arc<AtomicBool>,
    /// Properties on the broker's acknowledgements ([`Op::AckProperties`]).
    ack_props: u8,
    /// Mirror of the bytes read on this connection, decoded to learn what the Session was
    /// told (the CONNACK's Topic Alias Maximum); `mirror_ok` false once undecodable.
    rx_mirror: Vec<u8>,
    mirror_ok: bool,
    /// A successful CONNACK was read on this connection, and its Topic Alias Maximum.
    connack_read: bool,
    alias_max: u16,
    /// Topic aliases the client set on this connection, from its PUBLISHes.
    wire_aliases: BTreeMap<u16, String>,
    /// This connection's CONNECT carried an Authentication Method.
    connect_had_method: bool,
    /// The features byte (zero without one).
    features: Features,
    /// The store the Session owns, when the features attach one.
    store: Option<SharedStore>,
    /// Connections (and restarts) so far: a token is live only on its own.
    conn_gen: u64,
    /// The latest tokens handed over (stale ones included), with their connection.
    tokens: Vec<(AckToken, u64)>,
    /// This connection's tokens in arrival order, and whether `ack` accepted each: the
    /// Session sends acknowledgements in this order [MQTT-4.6.0-2] / [MQTT-4.6.0-3].
    pending_acks: Vec<(AckToken, bool)>,
    /// Incoming QoS 2 ids the application acknowledged (manual mode), until their PUBREL or
    /// the broker's session is gone: never handed over again. `true`: their PUBREC was due
    /// (recorded in the store); `false`: acknowledged while an older message was not, so
    /// only this Session value remembers it (not across a restart).
    committed: BTreeMap<u16, bool>,
    /// Events taken from the Session before a command (so that one returning `Err` can be
    /// seen to emit nothing), checked at the next drain, in order.
    stashed: Vec<Event>,
    /// QoS 2 flows dropped at a SessionLost of this drain whose id was already free.
    gone_at_session_loss: BTreeSet<u16>,
    /// PUBREL ids read while reading was paused, maybe not yet decoded by the Session.
    deferred_pubrels: BTreeSet<u16>,
}

impl Interp {
    /// A Session configured by `header`, connected: CONNECT sent, valid CONNACK received.
    pub fn new(header: Header) -> Self {
        Self::with_extension(header, Extension::default())
    }

    /// [`Interp::new`] with the extended format's additions (5.0 only).
    pub fn with_extension(header: Header, ext: Extension) -> Self {
        Self::with_features(header, ext, Features::default())
    }

    /// [`Interp::with_extension`] with a [`Features`] byte.
    pub fn with_features(header: Header, ext: Extension, features: Features) -> Self {
        let mut config = header.config();
        features.configure(&mut config);
        let version = config.version;
        let ext = match version {
            ProtocolVersion::V5 => ext,
            ProtocolVersion::V311 => Extension::default(),
        };
        config.outgoing_topic_aliases = ext.alias_policy();
        let auth_fail_start = Arc::new(AtomicBool::new(false));
        let store = features.store().then(SharedStore::default);
        let mut session = match &store {
            Some(store) => match Session::with_store(config.clone(), Box::new(store.clone())) {
                Ok(s) => s,
                Err(e) => panic!("a new MemoryStore refused: {e}"),
            },
            None => Session::new(config.clone()),
        };
        if ext.authenticator() {
            session.set_authenticator(Some(Box::new(FuzzAuthenticator {
                fail_start: auth_fail_start.clone(),
            })));
        }
        let mut me = Self {
            session,
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
            ext,
            auth_fail_start,
            ack_props: 0,
            rx_mirror: Vec::new(),
            mirror_ok: true,
            connack_read: false,
            alias_max: 0,
            wire_aliases: BTreeMap::new(),
            connect_had_method: false,
            features,
            store,
            conn_gen: 0,
            tokens: Vec::new(),
            pending_acks: Vec::new(),
            committed: BTreeMap::new(),
            stashed: Vec::new(),
            gone_at_session_loss: BTreeSet::new(),
            deferred_pubrels: BTreeSet::new(),
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
        self.rx_mirror.clear();
        self.mirror_ok = true;
        self.connack_read = false;
        self.alias_max = 0;
        self.drain();
    }

    /// The broker's acknowledgement properties (5.0; empty in 3.1.1).
    fn ack_props(&self, server_reference_allowed: bool) -> PropertiesBuf {
        match self.version {
            ProtocolVersion::V5 => ack_properties(self.ack_props, server_reference_allowed),
            ProtocolVersion::V311 => PropertiesBuf::new(),
        }
    }

    fn feed_connack(&mut self, session_present: bool) {
        let mut props = self.header.connack_properties();
        if self.version == ProtocolVersion::V5 {
            let max = self.ext.broker_alias_maximum();
            if max > 0 {
                let _ = props.push(Property::TopicAliasMaximum(max));
            }
            for p in self.ack_props(true).as_properties().iter() {
                let _ = props.push(p);
            }
        }
        if self.session.authentication_method().is_some() {
            // The exchange before CONNACK: challenges, then success with the final data.
            for round in 0..self.ext.challenge_rounds() {
                self.feed_auth(
                    ReasonCode::ContinueAuthentication,
                    FUZZ_METHOD,
                    &[b'c', round],
                );
            }
            let _ = props.push(Property::AuthenticationMethod(FUZZ_METHOD));
            let _ = props.push(Property::AuthenticationData(FUZZ_FINAL));
        }
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

    /// An AUTH from the broker.
    fn feed_auth(&mut self, reason: ReasonCode, method: &str, data: &[u8]) {
        let mut props = PropertiesBuf::new();
        let _ = props.push(Property::AuthenticationMethod(method));
        let _ = props.push(Property::AuthenticationData(data));
        for p in self.ack_props(false).as_properties().iter() {
            let _ = props.push(p);
        }
        self.feed_packet(&Packet::Auth(Auth {
            reason,
            properties: props.as_properties(),
        }));
    }

    fn read(&mut self, bytes: &[u8]) {
        self.read_since_drain += bytes.len();
        let now = self.instant();
        let reading = self.session.state() != SessionState::Disconnected;
        self.session.handle_read(now, bytes);
        if reading {
            self.mirror(bytes);
        }
    }

    /// Decodes the bytes read on this connection, as far as they decode, to learn the
    /// broker's Topic Alias Maximum from its first successful CONNACK.
    fn mirror(&mut self, bytes: &[u8]) {
        if !self.mirror_ok {
            return;
        }
        self.rx_mirror.extend_from_slice(bytes);
        loop {
            match decode(&self.rx_mirror, self.version, &Limits::default()) {
                Ok(Some((packet, n))) => {
                    if let Packet::PubRel(a) = &packet {
                        // Released: a new PUBLISH with this id is a new message.
                        self.committed.remove(&a.packet_id.get());
                        if !self.session.wants_read() {
                            // Kept undecoded (3.1.1, window full): it releases what `ack`
                            // commits before it is decoded.
                            self.deferred_pubrels.insert(a.packet_id.get());
                        }
                    }
                    if let Packet::ConnAck(c) = packet {
                        if c.reason == ReasonCode::Success && !self.connack_read {
                            self.connack_read = true;
                            self.alias_max = c.properties.topic_alias_maximum().unwrap_or(0);
                        }
                    }
                    self.rx_mirror.drain(..n);
                }
                Ok(None) => break,
                Err(_) => {
                    self.mirror_ok = false;
                    self.rx_mirror.clear();
                    break;
                }
            }
        }
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
                let _ = self.publish(topic, &payload, *qos, *retain, Properties::EMPTY);
            }
            Op::PublishBurst { count, qos } => {
                for _ in 0..=(count % 64) {
                    self.counter = self.counter.wrapping_add(1);
                    let payload = [self.counter; 8];
                    let _ = self.publish("burst", &payload, *qos, false, Properties::EMPTY);
                }
            }
            Op::PublishWithProperties { topic, qos, props } => {
                self.counter = self.counter.wrapping_add(1);
                let payload = [self.counter; 4];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                let props = publish_properties(*props);
                let _ = self.publish(topic, &payload, *qos, false, props.as_properties());
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
                let props = self.ack_props(true);
                match kind % 6 {
                    0 => self.read(&[0xD0, 0x00]),
                    1 => self.feed_connack(reason & 1 != 0),
                    2 => self.feed_packet(&Packet::Disconnect(Disconnect {
                        reason: code(mqtt_sansio_proto::PacketType::Disconnect),
                        properties: props.as_properties(),
                    })),
                    3 => self.read(&[0xF0, 0x00]),
                    4 => self.read(&[0xC0, 0x00]),
                    _ => {
                        let refusal = match v {
                            ProtocolVersion::V311 => ReasonCode::from_v311_connack(1 + reason % 5),
                            ProtocolVersion::V5 => ReasonCode::from_u8(*reason).filter(|c| {
                                c.is_error()
                                    && c.is_valid_for(mqtt_sansio_proto::PacketType::ConnAck)
                            }),
                        };
                        self.feed_packet(&Packet::ConnAck(ConnAck {
                            session_present: false,
                            reason: refusal.unwrap_or(ReasonCode::NotAuthorized),
                            properties: props.as_properties(),
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
            Op::BrokerAuth { kind, data } => {
                let bad = data & 0x80 != 0;
                let n = data & 0x7F;
                match kind % 4 {
                    0 => {
                        let challenge = if bad { vec![b'!', n] } else { vec![b'c', n] };
                        self.feed_auth(ReasonCode::ContinueAuthentication, FUZZ_METHOD, &challenge);
                    }
                    1 => {
                        let fin: &[u8] = if bad {
                            b"not-the-final-data"
                        } else {
                            FUZZ_FINAL
                        };
                        self.feed_auth(ReasonCode::Success, FUZZ_METHOD, fin);
                    }
                    2 => self.feed_auth(ReasonCode::ContinueAuthentication, "OTHER", &[n]),
                    _ => self.feed_auth(ReasonCode::ReAuthenticate, FUZZ_METHOD, &[n]),
                }
            }
            Op::Reauthenticate { fail_start } => self.reauthenticate(*fail_start),
            Op::PublishAliased { topic, qos, alias } => {
                self.counter = self.counter.wrapping_add(1);
                let payload = [self.counter; 3];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                let alias = u16::from(*alias);
                let mut props = PropertiesBuf::new();
                // Alias 0 is not a valid property value [MQTT-3.3.2-8]: it cannot be built,
                // and the publish goes without an alias.
                let requested = props
                    .push(Property::TopicAlias(alias))
                    .is_ok()
                    .then_some(alias);
                self.stash_events();
                let before = self.snapshot();
                let r = self.publish(topic, &payload, *qos, false, props.as_properties());
                let manual = v == ProtocolVersion::V5
                    && self.config.outgoing_topic_aliases == TopicAliasPolicy::Manual;
                if let Some(alias) = requested {
                    if !manual {
                        // Aliases are the Session's unless the policy is Manual (5.0).
                        assert!(
                            r.is_err(),
                            "manual alias {alias} accepted without the Manual policy"
                        );
                    } else if r.is_ok()
                        && before.state == SessionState::Connected
                        && self.connack_read
                    {
                        // [MQTT-3.3.2-9]: none above the broker's maximum, refused at the call.
                        assert!(
                            alias <= self.alias_max,
                            "manual alias {alias} accepted, broker maximum {}",
                            self.alias_max
                        );
                    }
                }
            }
            Op::AckProperties(bits) => self.ack_props = *bits,
            Op::Ack(sel) => self.ack(*sel),
            Op::Restart(mode) => self.restart(*mode),
            Op::PublishExpiring { topic, qos, secs } => {
                self.counter = self.counter.wrapping_add(1);
                let payload = [self.counter; 5];
                let topic = TOPICS[usize::from(*topic) % TOPICS.len()];
                let mut props = PropertiesBuf::new();
                let _ = props.push(Property::MessageExpiryInterval(u32::from(secs % 16)));
                let _ = self.publish(topic, &payload, *qos, false, props.as_properties());
            }
        }
        self.drain();
        self.check();
    }

    /// `ack` with a token seen so far, with the result the model predicts.
    fn ack(&mut self, sel: u8) {
        if self.tokens.is_empty() {
            return;
        }
        let (token, gen) = self.tokens[usize::from(sel) % self.tokens.len()];
        let live = gen == self.conn_gen
            && self
                .pending_acks
                .iter()
                .any(|(t, acked)| *t == token && !acked);
        self.stash_events();
        let before = self.snapshot();
        let unacked = self.session.unacknowledged();
        let now = self.instant();
        let r = self.session.ack(now, token);
        match r {
            Ok(()) => {
                assert!(live, "ack of a stale token {token:?} accepted");
                self.stats.acked += 1;
                for (t, acked) in &mut self.pending_acks {
                    if *t == token {
                        *acked = true;
                    }
                }
                // The acknowledged prefix goes out, in arrival order.
                let ready = self.pending_acks.iter().take_while(|(_, a)| *a).count();
                let deferred = &self.deferred_pubrels;
                for (t, _) in self.pending_acks.drain(..ready) {
                    let id = t.packet_id().get();
                    if t.qos() == QoS::ExactlyOnce && !deferred.contains(&id) {
                        self.committed.insert(id, true);
                    }
                }
                let id = token.packet_id().get();
                if token.qos() == QoS::ExactlyOnce && !deferred.contains(&id) {
                    self.committed.entry(id).or_insert(false);
                }
                assert!(
                    self.session.unacknowledged() <= unacked,
                    "ack made more messages unacknowledged"
                );
            }
            Err(e) => {
                assert!(!live, "ack of a live token {token:?} refused: {e}");
                self.assert_unchanged(&before, "ack");
            }
        }
    }

    /// A restart over the store: the connection ends, the Session value is dropped and a new
    /// one is built from the store alone.
    fn restart(&mut self, mode: u8) {
        let Some(store) = self.store.clone() else {
            return;
        };
        if self.session.state() != SessionState::Disconnected {
            let now = self.instant();
            self.session.handle_closed(now);
        }
        // What the transport had not taken is lost with the process.
        self.drain();
        self.unstall();
        let taken = self.session.take_store();
        assert!(taken.is_some(), "the store is gone from the Session");
        drop(taken);
        let mut session = match Session::with_store(self.config.clone(), Box::new(store)) {
            Ok(s) => s,
            Err(e) => panic!("the Session's own store refused at restart: {e}"),
        };
        if self.ext.authenticator() {
            session.set_authenticator(Some(Box::new(FuzzAuthenticator {
                fail_start: self.auth_fail_start.clone(),
            })));
        }
        self.session = session;
        self.stats.restarts += 1;
        self.conn_gen += 1;
        self.pending_acks.clear();
        // A token numbers a message within one Session value: the new one counts from 1 again,
        // so an old token can equal a live one of the new value (found by this target). The
        // application cannot hold a token across a real process restart; here the old ones
        // are forgotten with the value they belong to.
        self.tokens.clear();
        // Acknowledged on a connection whose PUBREC was not yet due: only the old value knew.
        self.committed.retain(|_, durable| *durable);
        self.stale.clear();
        let session = &self.session;
        let mut lost = None;
        self.flows.retain(|id, f| {
            let in_use = PacketId::new(*id).is_some_and(|id| session.is_packet_id_in_use(id));
            match f {
                Flow::Pub1 { dup_ok, .. } | Flow::Pub2 { dup_ok, .. } => {
                    // Resent with DUP = 1: it may have gone out before the restart.
                    *dup_ok = true;
                    if !in_use {
                        lost = Some(*id);
                    }
                    true
                }
                Flow::Rel => {
                    if !in_use {
                        lost = Some(*id);
                    }
                    true
                }
                // Requests waiting for their acknowledgement are not stored.
                Flow::Sub { .. } | Flow::Unsub { .. } => in_use,
            }
        });
        if let Some(id) = lost {
            panic!(
                "outgoing flow {id} lost in a restart: {:?}",
                self.flows.get(&id)
            );
        }
        if mode & 1 != 0 {
            self.connect();
            if mode & 2 != 0 {
                self.feed_connack(mode & 4 != 0);
            }
        }
    }

    /// `reauthenticate`, with the result the Session's state predicts.
    fn reauthenticate(&mut self, fail_start: bool) {
        self.auth_fail_start.store(fail_start, Ordering::Relaxed);
        let s = &self.session;
        let expected = if s.state() != SessionState::Connected {
            Err(ReauthError::NotConnected)
        } else if s.authentication_method().is_none() {
            Err(ReauthError::NoAuthenticationMethod)
        } else if !s.has_authenticator() {
            Err(ReauthError::NoAuthenticator)
        } else if s.is_reauthenticating() {
            Err(ReauthError::InProgress)
        } else if fail_start {
            Err(ReauthError::Authenticator(AuthError::InvalidInput {
                what: "scripted start failure",
            }))
        } else {
            Ok(())
        };
        self.stash_events();
        let before = self.snapshot();
        let now = self.instant();
        let r = self.session.reauthenticate(now);
        self.auth_fail_start.store(false, Ordering::Relaxed);
        assert_eq!(r, expected, "reauthenticate");
        match r {
            Ok(()) => assert!(self.session.is_reauthenticating()),
            Err(_) => self.assert_unchanged(&before, "reauthenticate"),
        }
    }

    fn unstall(&mut self) {
        self.stalled = false;
    }

    /// Publishes and checks the outcome; returns it.
    fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: u8,
        retain: bool,
        props: Properties<'_>,
    ) -> Result<Option<PacketId>, PublishError> {
        let q = QoS::from_u8(qos % 3).unwrap_or_default();
        self.stash_events();
        let before = self.snapshot();
        let can = self.session.can_publish(q);
        let over_transmit = self.session.is_connected()
            && self.session.queued_len() == 0
            && self.session.pending_transmit_bytes() > self.config.max_transmit_bytes;
        let now = self.instant();
        // A queued message whose expiry has passed is dropped by the next publish even when
        // that publish is refused (documented at `next_queue_expiry`): not the command's
        // change, so a refusal is then checked without it.
        let expiry_due = self.session.next_queue_expiry().is_some_and(|t| t <= now);
        let r = self
            .session
            .publish_with_properties(now, topic, payload, q, retain, props);
        match r {
            Ok(id) => {
                // (`can_publish` has no clock: it cannot count expired messages as room.)
                assert!(
                    can || expiry_due,
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
                        let sig = publish_sig(q, retain, topic, &without_alias(&props), payload);
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
                // With a byte budget, a message larger than the room left is refused even
                // where can_publish saw room (documented).
                if e == PublishError::QueueFull && self.features.max_queued_bytes().is_none() {
                    assert!(!can, "QueueFull although can_publish({q:?}) was true");
                }
                if !expiry_due {
                    self.assert_unchanged(&before, "publish");
                }
            }
        }
        r
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
        self.stash_events();
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
        self.stash_events();
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

    /// Takes the events the Session has pending (of earlier commands in the same op) into
    /// `stashed`.
    fn stash_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            self.stashed.push(e);
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
        use mqtt_sansio_proto::PacketType as T;
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
        let props = self.ack_props(false);
        let properties = props.as_properties();
        let ack = |t| Ack {
            packet_id: pid,
            reason: code(t),
            properties,
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
                properties,
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
                properties,
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
            // Every third drain takes the bytes through `transmit_into` with a write buffer
            // of 1 to 449 bytes (packets cut anywhere): the stream must be the one
            // `poll_transmit` gives, in whole packets once drained.
            let chunk = self
                .stats
                .ops
                .is_multiple_of(3)
                .then(|| 1 + (self.stats.ops / 3 % 64) * 7);
            if let Some(chunk) = chunk {
                let mut stream = Vec::new();
                let mut buf = vec![0u8; chunk];
                loop {
                    let n = self.session.transmit_into(now, &mut buf);
                    if n == 0 {
                        break;
                    }
                    assert!(n <= chunk, "transmit_into wrote past its buffer");
                    stream.extend_from_slice(&buf[..n]);
                }
                for packet in split_packets(&stream) {
                    self.on_sent(&packet);
                    packets.push(packet);
                }
            }
            while chunk.is_none() {
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
        let stashed = std::mem::take(&mut self.stashed);
        let fresh = std::iter::from_fn(|| self.session.poll_event()).collect::<Vec<_>>();
        for e in stashed.into_iter().chain(fresh) {
            self.on_event(&e, &packets);
            self.stats.events += 1;
            self.events.push(e);
        }
        self.gone_at_session_loss.clear();
        if self.session.pending_read_bytes() == 0 {
            self.deferred_pubrels.clear();
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
            let Packet::Connect(c) = packet else {
                panic!("the first packet after connect is not CONNECT");
            };
            // The authenticator's method in CONNECT exactly when one is attached (5.0).
            let method = c.properties.authentication_method();
            let expected = (v == ProtocolVersion::V5 && self.session.has_authenticator())
                .then_some(FUZZ_METHOD);
            assert_eq!(method, expected, "CONNECT's Authentication Method");
            self.connect_had_method = method.is_some();
            if let (ProtocolVersion::V5, Some(window)) = (v, self.config.acks.window()) {
                // The broker is told the window as our Receive Maximum.
                let rm = c.properties.receive_maximum().unwrap_or(u16::MAX);
                assert!(
                    rm <= window,
                    "Receive Maximum {rm} above the manual window {window}"
                );
            }
            // A new connection starts without aliases [MQTT-3.3.2-7].
            self.wire_aliases.clear();
            self.connect_pending = false;
            return;
        }
        if self.connect_had_method && !self.connack_read && self.mirror_ok {
            // [MQTT-3.1.2-30]: with an Authentication Method in CONNECT, only AUTH or
            // DISCONNECT until CONNACK.
            assert!(
                matches!(packet, Packet::Auth(_) | Packet::Disconnect(_)),
                "{:?} before CONNACK on a connection with enhanced authentication",
                packet.packet_type()
            );
        }
        match packet {
            Packet::Connect(_) => panic!("CONNECT sent twice on one connection"),
            Packet::Auth(a) => {
                // AUTH only where CONNECT carried a method (5.0 §4.12), with that method
                // [MQTT-4.12.0-5], and only 0x18 or 0x19 from a client.
                assert!(
                    self.connect_had_method,
                    "AUTH on a connection whose CONNECT carried no method"
                );
                assert_eq!(a.properties.authentication_method(), Some(FUZZ_METHOD));
                assert!(
                    matches!(
                        a.reason,
                        ReasonCode::ContinueAuthentication | ReasonCode::ReAuthenticate
                    ),
                    "AUTH {:?} from the client",
                    a.reason
                );
            }
            Packet::Publish(p) => {
                let topic = self.check_alias(&p);
                let Some(id) = p.qos.packet_id() else { return };
                let id = id.get();
                let sig = publish_sig(
                    p.qos.qos(),
                    p.retain,
                    &topic,
                    &without_alias(&p.properties),
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

    /// Checks the Topic Alias of a PUBLISH the client sent (5.0 §3.3.2.3.4) and returns the
    /// topic it stands for.
    fn check_alias(&mut self, p: &Publish<'_>) -> String {
        let Some(alias) = p.properties.topic_alias() else {
            return p.topic.as_str().to_string();
        };
        assert_ne!(
            self.config.outgoing_topic_aliases,
            TopicAliasPolicy::Off,
            "a Topic Alias on the wire with aliases off"
        );
        // Known unless the bytes read stopped decoding before a CONNACK.
        let max = if self.connack_read {
            Some(self.alias_max)
        } else {
            self.mirror_ok.then_some(0)
        };
        if let Some(max) = max {
            assert!(
                alias >= 1 && alias <= max,
                "Topic Alias {alias} on the wire, broker maximum {max} [MQTT-3.3.2-9]"
            );
        }
        if p.topic.as_str().is_empty() {
            match self.wire_aliases.get(&alias) {
                Some(t) => t.clone(),
                None => panic!("Topic Alias {alias} used alone before it was set [MQTT-3.3.2-7]"),
            }
        } else {
            self.wire_aliases
                .insert(alias, p.topic.as_str().to_string());
            p.topic.as_str().to_string()
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
                    // The broker will send none of the acknowledged messages again.
                    self.committed.clear();
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
                // Every token of the connection is stale now; what the application
                // acknowledged stays acknowledged (the Session carries it).
                self.conn_gen += 1;
                for (t, acked) in self.pending_acks.drain(..) {
                    if acked && t.qos() == QoS::ExactlyOnce {
                        self.committed.entry(t.packet_id().get()).or_insert(false);
                    }
                }
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
                if let DisconnectReason::AuthFailed(err) = reason {
                    // Our authenticator refused a step: exactly one DISCONNECT 0x80
                    // (Unspecified error), nothing else.
                    assert!(
                        self.connect_had_method,
                        "AuthFailed without a method: {err}"
                    );
                    if !self.stalled {
                        let mut d = Vec::new();
                        let _ = Packet::Disconnect(Disconnect {
                            reason: ReasonCode::UnspecifiedError,
                            properties: Properties::EMPTY,
                        })
                        .encode(v, &mut d);
                        assert_eq!(packets, [d], "after authentication failure {err}");
                    }
                }
                if let DisconnectReason::Protocol(err) = reason {
                    self.stats.protocol_errors += 1;
                    if !self.stalled {
                        let expected: Vec<Vec<u8>> = match v {
                            ProtocolVersion::V5
                                if err
                                    .reason_code
                                    .is_valid_for(mqtt_sansio_proto::PacketType::Disconnect) =>
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
            // Given up in place of its acknowledgement (for example over a Maximum Packet Size
            // lowered at CONNACK [MQTT-3.2.2-15]): the flow ends here.
            Event::PublishFailed {
                id: Some(id),
                qos,
                reason,
            } => match (self.flows.get(&id.get()), qos) {
                (Some(Flow::Pub1 { .. }), QoS::AtLeastOnce)
                | (Some(Flow::Pub2 { .. }), QoS::ExactlyOnce) => self.end_flow(id.get()),
                (None, QoS::ExactlyOnce) if self.gone_at_session_loss.remove(&id.get()) => {}
                // SPEC "Exactly once, bounded": a PUBREC'd QoS 2 message whose broker session
                // is gone fails "session lost, unconfirmed" (just before SessionLost).
                (Some(Flow::Rel), QoS::ExactlyOnce)
                    if matches!(reason, mqtt_sansio_session::PublishFailure::Unconfirmed) =>
                {
                    self.end_flow(id.get())
                }
                other => panic!("PublishFailed {id} for {other:?}"),
            },
            Event::RequestFailed { id, command, .. } => {
                match (self.flows.get(&id.get()), command) {
                    (Some(Flow::Sub { .. }), mqtt_sansio_session::Command::SubAck)
                    | (Some(Flow::Unsub { .. }), mqtt_sansio_session::Command::UnsubAck) => {
                        self.end_flow(id.get())
                    }
                    other => panic!("RequestFailed {id} for {other:?}"),
                }
            }
            Event::AuthContinue { .. } | Event::Authenticated { .. } => {
                assert!(
                    self.session.authentication_method().is_some(),
                    "{e:?} on a connection without enhanced authentication"
                );
            }
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
            Event::Message(m) if self.config.acks.is_manual() && m.qos != QoS::AtMostOnce => {
                // Handed over at PUBLISH with a token; never again once acknowledged, across
                // reconnects and restarts, until its PUBREL (exactly once).
                let Some(token) = m.ack_token() else {
                    panic!("QoS {:?} message without a token under manual acks", m.qos);
                };
                assert_eq!(Some(token.packet_id()), m.packet_id);
                assert_eq!(token.qos(), m.qos);
                if m.qos == QoS::ExactlyOnce {
                    let id = token.packet_id().get();
                    assert!(
                        !self.committed.contains_key(&id),
                        "QoS 2 message {id} handed over again after its acknowledgement"
                    );
                }
                assert!(
                    !self.pending_acks.iter().any(|(t, _)| *t == token),
                    "token {token:?} handed out twice"
                );
                if self.tokens.len() >= 64 {
                    self.tokens.remove(0);
                }
                self.tokens.push((token, self.conn_gen));
                self.pending_acks.push((token, false));
                self.stats.messages += 1;
            }
            Event::Message(m) if m.ack_token().is_some() => {
                panic!("a token under automatic acks: {m:?}")
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
            Event::PublishFailed {
                id: None,
                qos,
                reason,
            } => {
                // Only QoS 0 has no id; dropped for a newer one only under that policy.
                assert_eq!(*qos, QoS::AtMostOnce, "PublishFailed without id: {e:?}");
                // (Other reasons: expired, or over a Maximum Packet Size lowered at CONNACK.)
                if *reason == PublishFailure::DroppedForNewer {
                    assert_eq!(
                        self.config.queue_policy,
                        QueuePolicy::DropOldestQos0,
                        "a QoS 0 message dropped for a newer one under RefuseNew"
                    );
                }
            }
            Event::SessionLost { .. } => {
                self.committed.clear();
                // The broker lost the session: PUBREC'd QoS 2 messages are dropped (they
                // may not be sent again), everything else goes out again as new.
                let session = &self.session;
                let gone = &mut self.gone_at_session_loss;
                self.flows.retain(|id, f| match f {
                    Flow::Rel => false,
                    Flow::Pub2 { .. } => {
                        let kept =
                            PacketId::new(*id).is_some_and(|id| session.is_packet_id_in_use(id));
                        if !kept {
                            // Its PublishFailed may follow in the same drain (the state seen
                            // here is the one after it: say, too large for the new CONNACK).
                            gone.insert(*id);
                        }
                        kept
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
        self.end_flow(id);
        self.stats.completed += 1;
    }

    /// A flow ended, acknowledged or given up.
    fn end_flow(&mut self, id: u16) {
        if let Some(flow) = self.flows.remove(&id) {
            if self.stalled {
                self.stale.insert(id, flow);
            }
        }
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
        let max_partial = if s.wants_read() {
            (c.max_packet_size as usize).saturating_sub(1).max(4)
        } else {
            // Paused (3.1.1, the manual window full): bytes read anyway wait undecoded, up to
            // this backlog, then the connection ends.
            (c.max_packet_size as usize).max(64 * 1024)
        };
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
        self.check_features();
    }

    /// The invariants of manual acknowledgements, the offline queue and the store.
    fn check_features(&self) {
        let s = &self.session;
        let c = &self.config;
        match c.acks.window() {
            Some(window) => {
                assert!(
                    s.unacknowledged() <= usize::from(window),
                    "{} messages unacknowledged, window {window}",
                    s.unacknowledged()
                );
                let open = self.pending_acks.iter().filter(|(_, a)| !a).count();
                assert!(
                    open <= s.unacknowledged(),
                    "{open} tokens unacknowledged, the Session counts {}",
                    s.unacknowledged()
                );
                if !s.wants_read() {
                    assert_eq!(self.version, ProtocolVersion::V311, "5.0 paused reading");
                    assert!(s.unacknowledged() >= usize::from(window));
                }
            }
            None => {
                assert_eq!(s.unacknowledged(), 0, "unacknowledged under automatic acks");
                assert!(s.wants_read(), "reading paused under automatic acks");
            }
        }
        assert!(
            s.queued_bytes() <= c.max_queued_bytes,
            "{} bytes queued, budget {}",
            s.queued_bytes(),
            c.max_queued_bytes
        );
        if s.queued_len() == 0 {
            assert_eq!(s.queued_bytes(), 0, "queued bytes without a queued message");
        }
        if let Some(store) = &self.store {
            // The store keeps what the Session still needs, not its history: a record or two
            // per packet id in use, per incoming QoS 2 state and per subscription filter.
            let live = store.lock().live();
            let bound = 2 * s.packet_ids_in_use()
                + s.pending_incoming_qos2()
                + s.incoming_qos2_ids_only()
                + FILTERS.len()
                + 4;
            assert!(
                live <= bound,
                "{live} live records in the store, bound {bound}"
            );
        }
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
    let extended = header.extended();
    let ext = if extended {
        Extension(r.u8())
    } else {
        Extension::default()
    };
    if trace && extended {
        eprintln!("extension {ext:?}");
    }
    let featured = header.has_features();
    let features = if featured {
        Features(r.u8())
    } else {
        Features::default()
    };
    if trace && featured {
        eprintln!("features {features:?}");
    }
    let mut interp = Interp::with_features(header, ext, features);
    while !r.is_empty() && interp.stats.ops < MAX_OPS {
        let op = Op::parse_with(&mut r, extended, featured);
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

/// Cuts a drained byte stream into its packets by their fixed headers; every packet must be
/// whole (a drain hands out the rest of a packet it started).
fn split_packets(stream: &[u8]) -> Vec<Vec<u8>> {
    let mut packets = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let byte = *stream
                .get(at + i)
                .unwrap_or_else(|| panic!("a drain ended inside a fixed header at {at}"));
            len |= usize::from(byte & 0x7f) << (7 * (i - 1));
            i += 1;
            if byte & 0x80 == 0 {
                break;
            }
            assert!(i <= 4, "a remaining length over four bytes at {at}");
        }
        let end = at + i + len;
        let packet = stream
            .get(at..end)
            .unwrap_or_else(|| panic!("a drain ended inside a packet at {at}"));
        packets.push(packet.to_vec());
        at = end;
    }
    packets
}
