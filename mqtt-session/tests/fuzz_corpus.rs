//! Replays the `session` fuzz corpus (`fuzz/corpus/session`) under plain `cargo test`
//! through the fuzz target's own interpreter (`fuzz/src/session_input.rs`, included here),
//! and records seed transcripts from SimBroker scenarios: the bytes the broker sent to the
//! client, the client's commands and the clock, as session fuzz inputs.
//!
//! Rewrite the transcript seeds (and the broker byte streams in the decode corpora) with
//! `MQTT_FUZZ_WRITE_CORPUS=1 cargo test -p mqtt-sansio-session --test fuzz_corpus`.

mod support;

#[path = "../../fuzz/src/session_input.rs"]
mod session_input;

use std::fs;
use std::path::{Path, PathBuf};

use mqtt_sansio_proto::{
    Ack, ConnAck, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    SubAck, TopicFilter, TopicName, Unsubscribe,
};
use session_input::{
    encode_extended_input, encode_featured_input, encode_input, run, Extension, Features, Header,
    IdSel, Interp, Op, Reader, Stats,
};
use support::SimBroker;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

#[test]
fn session_corpus_replays() {
    let dir = corpus_dir("session");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "the session corpus is empty");
    let mut total = Stats::default();
    for path in &files {
        let data = fs::read(path).expect("corpus file");
        let stats = std::panic::catch_unwind(|| run(&data))
            .unwrap_or_else(|_| panic!("{} broke an invariant", path.display()));
        total.ops += stats.ops;
        total.packets_sent += stats.packets_sent;
        total.messages += stats.messages;
        total.protocol_errors += stats.protocol_errors;
        total.completed += stats.completed;
    }
    // The corpus reaches deep: deliveries, completed flows and protocol errors.
    assert!(total.ops > files.len(), "{total:?}");
    assert!(total.messages > 0, "{total:?}");
    assert!(total.completed > 0, "{total:?}");
    assert!(total.protocol_errors > 0, "{total:?}");
}

// ---------------------------------------------------------------------------------------------
// Transcripts: a SimBroker drives the interpreter; every broker output becomes a Read op.

struct Recorder {
    header: Header,
    interp: Interp,
    broker: SimBroker,
    ops: Vec<Op>,
    /// Everything the broker sent to the client, for the decode corpora.
    stream: Vec<u8>,
}

impl Recorder {
    fn new(header: [u8; 4]) -> Self {
        let header = Header(header);
        let mut interp = Interp::new(header);
        let mut broker = SimBroker::new(header.version());
        // The broker sees the CONNECT; the interpreter fed its own (equal) CONNACK.
        for p in interp.take_sent() {
            broker.handle(&p);
        }
        let _ = broker.take_output();
        Self {
            header,
            interp,
            broker,
            ops: Vec::new(),
            stream: Vec::new(),
        }
    }

    /// Runs a client-side op, then lets the broker answer until quiet.
    fn op(&mut self, op: Op) {
        self.apply(op);
        self.settle();
    }

    fn apply(&mut self, op: Op) {
        self.interp.apply(&op);
        self.ops.push(op);
    }

    /// Hands the client's packets to the broker and the broker's answers to the client.
    fn settle(&mut self) {
        for _ in 0..1000 {
            for p in self.interp.take_sent() {
                self.broker.handle(&p);
            }
            let out = self.broker.take_output();
            if out.is_empty() {
                return;
            }
            self.stream.extend_from_slice(&out);
            self.apply(Op::Read(out));
        }
        panic!("the transcript did not settle");
    }

    /// Broker bytes the client reads, without passing the client's answers on.
    fn raw(&mut self, bytes: &[u8]) {
        self.stream.extend_from_slice(bytes);
        self.apply(Op::Read(bytes.to_vec()));
    }

    /// The connection drops: what is in flight either way is lost.
    fn drop_connection(&mut self) {
        let _ = self.interp.take_sent();
        self.broker.connection_lost();
        self.apply(Op::Closed);
    }

    /// A new connection; the broker's CONNACK (and resends) come through Read ops.
    fn reconnect(&mut self) {
        let _ = self.interp.take_sent();
        self.broker.connection_lost();
        self.op(Op::Reconnect {
            connack: false,
            session_present: false,
        });
    }

    fn advance(&mut self, ms: u32) {
        self.op(Op::Advance(ms));
    }

    fn publish(&mut self, topic: u8, qos: u8, len: u8) {
        self.op(Op::Publish {
            topic,
            qos,
            retain: false,
            len,
        });
    }

    /// The encoded input; checks it parses back to the same ops and replays identically.
    fn finish(mut self) -> (Vec<u8>, Vec<u8>) {
        self.interp.finish();
        let input = encode_input(self.header, &self.ops);
        let mut r = Reader::new(&input[4..]);
        let mut parsed = Vec::new();
        while !r.is_empty() {
            parsed.push(Op::parse(&mut r));
        }
        assert_eq!(parsed, self.ops, "ops do not survive encode/parse");
        assert_eq!(
            run(&input),
            self.interp.stats,
            "the replay differs from the recording"
        );
        (input, self.stream)
    }
}

const V5_BIT: u8 = 0x01;
const CLEAN: u8 = 0x02;
const KA_10: u8 = 2 << 2;
/// Generous limits: in-flight 100, queue 1000, requests 64, incoming QoS 2 100; packets
/// up to 1 MiB; topic alias maximum 1.
const ROOMY: [u8; 2] = [0xFF, 0x1F];

fn header(v5: bool, clean: bool, extra0: u8, limits: [u8; 2], connack: u8) -> [u8; 4] {
    let b0 = if v5 { V5_BIT } else { 0 } | if clean { CLEAN } else { 0 } | KA_10 | extra0;
    [b0, limits[0], limits[1], connack]
}

/// Scenarios of the harness, each as a named session input.
fn transcripts(v5: bool) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let mut save = |name: &str, rec: Recorder| {
        let (input, stream) = rec.finish();
        out.push((name.to_string(), input, stream));
    };

    // Subscribe, publish at every QoS, get the routed copies back, unsubscribe.
    let mut rec = Recorder::new(header(v5, true, 0, ROOMY, 0));
    rec.op(Op::Subscribe(vec![(0, 2), (5, 1)])); // "a/#" QoS 2, "t/+" QoS 1
    rec.publish(0, 0, 3); // "a" QoS 0
    rec.publish(1, 1, 5); // "a/b" QoS 1
    rec.publish(2, 2, 7); // "t/1" QoS 2
    rec.publish(0, 2, 1); // "a" QoS 2
    rec.op(Op::Unsubscribe(vec![0]));
    rec.publish(1, 1, 2);
    rec.advance(5000);
    rec.op(Op::Disconnect(0));
    save("pubsub", rec);

    // Keepalive: PINGREQ after 10 s of silence, PINGRESP back, for a minute.
    let mut rec = Recorder::new(header(v5, true, 0, ROOMY, 0));
    for _ in 0..6 {
        rec.advance(10_000);
    }
    save("keepalive", rec);

    // Unacknowledged QoS 1 and 2 publishes survive a dropped connection and are resent
    // (DUP, same ids) to a broker that resumed the session.
    let mut rec = Recorder::new(header(v5, false, 0, ROOMY, 0));
    rec.broker.script.withhold_pub_acks = true;
    rec.publish(1, 1, 10);
    rec.publish(2, 2, 10);
    rec.drop_connection();
    rec.broker.script.withhold_pub_acks = false;
    rec.reconnect();
    rec.advance(1000);
    save("resend-after-reconnect", rec);

    // PUBREL sent, PUBCOMP withheld, then the broker loses the session.
    let mut rec = Recorder::new(header(v5, false, 0, ROOMY, 0));
    rec.broker.script.withhold_pubcomp = true;
    rec.publish(2, 2, 4);
    rec.publish(1, 1, 4);
    rec.drop_connection();
    rec.broker.script.withhold_pubcomp = false;
    rec.broker.script.lose_session = true;
    rec.reconnect();
    save("session-lost", rec);

    // An incoming QoS 2 message interrupted before PUBREL, released after the resume.
    let mut rec = Recorder::new(header(v5, false, 0, ROOMY, 0));
    rec.op(Op::Subscribe(vec![(0, 2)]));
    rec.broker.deliver("a/b", b"exactly-once", QoS::ExactlyOnce);
    let publish = rec.broker.take_output();
    rec.raw(&publish);
    rec.drop_connection();
    rec.reconnect();
    save("incoming-qos2-resume", rec);

    // A small window (5.0 Receive Maximum 2 from the broker; 3.1.1: max_inflight 2) and a
    // burst of QoS 1 publishes that queue behind it.
    let limits = [0x01 | 0xFC, 0x1F]; // max_inflight 2
    let mut rec = Recorder::new(header(v5, true, 0, limits, 0x03));
    rec.op(Op::PublishBurst { count: 5, qos: 1 });
    rec.op(Op::PublishBurst { count: 3, qos: 2 });
    save("window", rec);

    // A valid PUBLISH trickled one byte per second: the bytes keep the connection alive.
    let mut rec = Recorder::new(header(v5, true, 0, ROOMY, 0));
    rec.op(Op::Subscribe(vec![(3, 0)])); // "a/b"
    rec.broker.deliver("a/b", b"slow", QoS::AtMostOnce);
    let bytes = rec.broker.take_output();
    // On a real stream a PINGRESP would queue behind the trickle; here it is withheld.
    rec.broker.script.withhold_pingresp = true;
    for b in &bytes {
        rec.raw(std::slice::from_ref(b));
        rec.advance(1000);
    }
    rec.broker.script.withhold_pingresp = false;
    rec.advance(20_000);
    save("one-byte-per-second", rec);

    // A broker that never answers CONNECT (CONNACK timeout 1 s).
    let mut rec = Recorder::new(header(v5, false, 0x40, ROOMY, 0));
    rec.publish(0, 1, 1);
    rec.drop_connection();
    rec.broker.script.silent_on_connect = true;
    rec.reconnect();
    rec.advance(1500);
    rec.broker.script.silent_on_connect = false;
    rec.reconnect();
    save("connack-timeout", rec);

    // Hostile bytes after the CONNACK, one transcript each (small limits: max packet size
    // 1024, max incoming QoS 2 = 1).
    let v = if v5 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let enc = |p: Packet<'_>| {
        let mut b = Vec::new();
        p.encode(v, &mut b).expect("valid packet");
        b
    };
    let id = |n: u16| PacketId::new(n).expect("non-zero");
    let hostile: Vec<(&str, Vec<u8>)> = vec![
        (
            "huge-remaining-length",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F, 0x00, 0x01, b'a'],
        ),
        (
            "publish-qos3",
            vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
        ),
        (
            "topic-invalid-utf8",
            vec![0x30, 0x04, 0x00, 0x02, 0xC3, 0x28],
        ),
        ("empty-topic-no-alias", vec![0x30, 0x03, 0x00, 0x00, 0x00]),
        (
            "connack-twice",
            enc(Packet::ConnAck(ConnAck {
                session_present: false,
                reason: ReasonCode::Success,
                properties: Properties::EMPTY,
            })),
        ),
        ("unsolicited-acks", {
            let mut b = Vec::new();
            b.extend(enc(Packet::PubAck(Ack::new(id(0x1234)))));
            b.extend(enc(Packet::PubRec(Ack::new(id(0x1235)))));
            b.extend(enc(Packet::PubComp(Ack::new(id(0x1236)))));
            b.extend(enc(Packet::SubAck(SubAck {
                packet_id: id(0x1237),
                properties: Properties::EMPTY,
                reason_codes: [ReasonCode::Success].into_iter().collect(),
            })));
            b.extend(enc(Packet::PubRel(Ack::new(id(0x1238)))));
            b.extend(enc(Packet::PingResp));
            b
        }),
        ("qos2-flood", {
            let mut b = Vec::new();
            for n in 1..=5 {
                let topic = TopicName::new("f").expect("valid");
                b.extend(enc(Packet::Publish(Publish::new(
                    topic,
                    b"x",
                    QosPid::ExactlyOnce(id(n)),
                ))));
            }
            b
        }),
        ("server-only-packets", {
            let mut b = enc(Packet::PingReq);
            b.extend(enc(Packet::Unsubscribe(Unsubscribe::new(
                id(1),
                [TopicFilter::new("a").expect("valid")],
            ))));
            b
        }),
    ];
    for (name, bytes) in hostile {
        let limits = [0x3F, 0x1E];
        let mut rec = Recorder::new(header(v5, false, 0, limits, 0));
        rec.broker.script.withhold_pub_acks = true;
        rec.publish(1, 1, 3);
        rec.raw(&bytes);
        rec.broker.script.withhold_pub_acks = false;
        rec.reconnect();
        save(&format!("hostile-{name}"), rec);
    }

    // Structured broker ops the fuzzer can mutate: acks for tracked ids, PUBREL, aliases.
    let mut rec = Recorder::new(header(v5, false, 0, ROOMY, 0));
    rec.broker.script.withhold_pub_acks = true;
    rec.publish(1, 1, 2);
    rec.publish(2, 2, 2);
    rec.op(Op::BrokerAck {
        kind: 1,
        id: IdSel::Tracked(1),
        reason: 0,
        count: 0,
    });
    rec.op(Op::BrokerPublish {
        qos: 2,
        id: IdSel::Raw(7),
        topic: 0,
        len: 3,
        flags: 0x04,
    });
    rec.op(Op::BrokerAck {
        kind: 2,
        id: IdSel::Tracked(0),
        reason: 0,
        count: 0,
    });
    rec.op(Op::BrokerAck {
        kind: 0,
        id: IdSel::Tracked(0),
        reason: 0x10,
        count: 0,
    });
    rec.op(Op::Stall);
    rec.op(Op::PublishBurst { count: 3, qos: 0 });
    rec.op(Op::Stall);
    rec.op(Op::BrokerControl {
        kind: 2,
        reason: 0x8B,
    });
    save("structured", rec);

    out
}

/// The transcripts replay through the interpreter without breaking an invariant (and are
/// written to the corpus when `MQTT_FUZZ_WRITE_CORPUS` is set).
#[test]
fn harness_transcripts_replay() {
    let write = std::env::var_os("MQTT_FUZZ_WRITE_CORPUS").is_some();
    for v5 in [false, true] {
        let tag = if v5 { "v5" } else { "v311" };
        for (name, input, stream) in transcripts(v5) {
            let stats = run(&input);
            assert!(stats.ops > 0, "{name}");
            eprintln!("transcript {tag}-{name}: {stats:?}");
            if write {
                let dir = corpus_dir("session");
                fs::create_dir_all(&dir).unwrap();
                fs::write(dir.join(format!("transcript-{tag}-{name}")), &input).unwrap();
                let decode = corpus_dir(if v5 { "decode_v5" } else { "decode_v311" });
                if !stream.is_empty() {
                    fs::write(decode.join(format!("transcript-{name}")), &stream).unwrap();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Regressions of the interpreter itself: inputs the fuzzer found where the checker, not the
// Session, was wrong (the fuzzer's own inputs are in fuzz/corpus/session/regression-*; these
// are the same situations, reduced by hand). They must keep replaying cleanly.

/// PUBLISHes queued while the transport took nothing are dropped with the connection (a
/// second CONNACK ends it); after the reconnect they go out with DUP, which is allowed: the
/// Session counts them as attempted.
#[test]
fn regression_dup_after_publishes_dropped_with_a_stalled_transport() {
    let ops = [
        Op::Stall,
        Op::PublishBurst { count: 0, qos: 1 },
        Op::Publish {
            topic: 1,
            qos: 1,
            retain: false,
            len: 3,
        },
        Op::Read(vec![0x20, 0x03, 0x00, 0x00, 0x00]),
        Op::Reconnect {
            connack: false,
            session_present: false,
        },
        Op::Read(vec![0x20, 0x03, 0x01, 0x00, 0x00]),
    ];
    let stats = run(&encode_input(Header([9, 63, 29, 29]), &ops));
    assert_eq!(stats.protocol_errors, 1);
}

/// A broker acknowledges PUBLISHes still waiting in the Session's transmit queue (it guessed
/// the ids); the stale packets then leave after the flow completed.
#[test]
fn regression_ack_for_a_publish_not_yet_handed_to_the_transport() {
    let ops = [
        Op::Stall,
        Op::PublishBurst { count: 5, qos: 1 },
        Op::Read(vec![0x40, 0x02, 0x00, 0x01, 0x40, 0x02, 0x00, 0x02]),
        Op::Disconnect(0),
        Op::Stall,
    ];
    let stats = run(&encode_input(Header([11, 253, 31, 3]), &ops));
    assert_eq!(stats.completed, 2);
}

/// The same through a reconnect: the close is seen while the transport is stalled, so the
/// QoS 1 PUBLISH it never took may carry DUP on the next connection.
#[test]
fn regression_dup_after_reconnect_with_a_stalled_transport() {
    let ops = [
        Op::Stall,
        Op::Publish {
            topic: 1,
            qos: 1,
            retain: false,
            len: 0xF2,
        },
        Op::Reconnect {
            connack: true,
            session_present: true,
        },
    ];
    let stats = run(&encode_input(Header([8, 63, 30, 42]), &ops));
    assert_eq!(stats.packets_sent, 3, "CONNECT, CONNECT, PUBLISH (DUP)");
}

/// With `resubscribe_on_session_loss`, a second session loss replaces the unacknowledged
/// automatic SUBSCRIBE of the first: its id is freed, legitimately (the broker lost the
/// session that id belonged to).
#[test]
fn regression_unacknowledged_resubscription_replaced_at_the_next_session_loss() {
    let ops = [
        Op::Subscribe(vec![(0, 2)]),
        Op::BrokerAck {
            kind: 4,
            id: IdSel::Tracked(0),
            reason: 0,
            count: 0,
        },
        Op::Reconnect {
            connack: true,
            session_present: false,
        },
        Op::Reconnect {
            connack: true,
            session_present: false,
        },
    ];
    let stats = run(&encode_input(Header([0x16, 0x16, 0x16, 0x17]), &ops));
    assert_eq!(stats.completed, 1);
}

/// A PUBREC for an id not yet in use is answered "not found" (0x92) while the transport is
/// stalled; the id is then allocated to a new QoS 2 publish whose PUBLISH waits behind that
/// answer, and a local disconnect drops the connection. The answer is not the flow's PUBREL.
#[test]
fn regression_not_found_pubrel_queued_before_the_publish_of_the_same_id() {
    let ops = [
        Op::Stall,
        Op::BrokerAck {
            kind: 1,
            id: IdSel::Raw(1),
            reason: 0,
            count: 0,
        },
        Op::PublishBurst { count: 0, qos: 2 },
        Op::Disconnect(0),
        Op::Stall,
    ];
    let stats = run(&encode_input(Header([11, 255, 31, 0]), &ops));
    assert_eq!(
        stats.packets_sent, 4,
        "CONNECT, PUBREL 0x92, PUBLISH, DISCONNECT"
    );
}

/// No stall needed: a PUBACK frees the window, the queued QoS 1 PUBLISH is queued for
/// transmission, and a malformed packet in the same read clears the queue with the
/// connection. The Session counts that PUBLISH as attempted, so it carries DUP after the
/// reconnect ("might be a re-delivery", §3.3.1.1): allowed, and nothing is lost.
#[test]
fn regression_dup_after_a_publish_dropped_by_a_protocol_error_in_the_same_read() {
    let ops = [
        Op::Publish {
            topic: 0,
            qos: 1,
            retain: false,
            len: 1,
        },
        Op::Publish {
            topic: 1,
            qos: 1,
            retain: false,
            len: 1,
        },
        Op::Read(vec![0x40, 0x02, 0x00, 0x01, 0x00, 0x00]),
        Op::Reconnect {
            connack: true,
            session_present: true,
        },
        Op::Read(vec![0x40, 0x02, 0x00, 0x02]),
    ];
    let stats = run(&encode_input(Header([0x08, 0x04, 0x00, 0x00]), &ops));
    assert_eq!((stats.protocol_errors, stats.completed), (1, 2));
}

/// A broker sends PUBREC and PUBCOMP for a QoS 2 PUBLISH still waiting in the queue of a
/// stalled transport: when the transport resumes, the stale PUBLISH and then its PUBREL
/// leave, both for a flow already complete.
#[test]
fn regression_stale_publish_and_pubrel_of_a_flow_completed_in_the_queue() {
    let ops = [
        Op::Stall,
        Op::Publish {
            topic: 1,
            qos: 1,
            retain: false,
            len: 2,
        },
        Op::Publish {
            topic: 2,
            qos: 2,
            retain: false,
            len: 2,
        },
        Op::BrokerAck {
            kind: 1,
            id: IdSel::Tracked(1),
            reason: 0,
            count: 0,
        },
        Op::Read(vec![0x70, 0x02, 0x00, 0x02]),
        Op::Stall,
    ];
    let stats = run(&encode_input(Header([9, 255, 31, 0]), &ops));
    assert_eq!(stats.completed, 1);
}

// ---------------------------------------------------------------------------------------------
// Seeds of the extended format (5.0 additions): enhanced authentication, topic aliases and
// property-rich acknowledgements. Each is a hand-made input with the behaviour it must reach
// asserted here, so a seed that stops reaching its path fails instead of silently shrinking
// the fuzzer's start. `MQTT_FUZZ_WRITE_CORPUS=1` writes them to fuzz/corpus/session/ext-*;
// the committed files must equal what is generated here.

/// A 5.0 header: clean session, keepalive 10 s, roomy limits.
const V5_ROOMY: [u8; 4] = [V5_BIT | CLEAN | KA_10, 0xFF, 0x1F, 0x00];
const EXT_AUTH: u8 = 0x20;
const fn ext_rounds(n: u8) -> u8 {
    n << 6
}
const EXT_MANUAL: u8 = 1;
const EXT_AUTO_2: u8 = 2;
const fn ext_broker_alias_max(n: u8) -> u8 {
    (n & 7) << 2
}

const PUBACK: u8 = 0;
const PUBREC: u8 = 1;
const PUBREL: u8 = 2;
const PUBCOMP: u8 = 3;
const SUBACK: u8 = 4;
const UNSUBACK: u8 = 5;
const DISCONNECT: u8 = 2;
const REFUSING_CONNACK: u8 = 5;

fn ack(kind: u8, reason: u8) -> Op {
    Op::BrokerAck {
        kind,
        id: IdSel::Tracked(0),
        reason,
        count: 0,
    }
}

fn auth(kind: u8, data: u8) -> Op {
    Op::BrokerAuth { kind, data }
}

fn reconnect() -> Op {
    Op::Reconnect {
        connack: true,
        session_present: false,
    }
}

/// What a seed made the client do.
struct SeedRun {
    sent: Vec<Vec<u8>>,
    events: Vec<mqtt_sansio_session::Event>,
}

impl SeedRun {
    fn packets(&self) -> Vec<Packet<'_>> {
        self.sent
            .iter()
            .map(|b| {
                mqtt_sansio_proto::decode(
                    b,
                    ProtocolVersion::V5,
                    &mqtt_sansio_proto::Limits::default(),
                )
                .unwrap()
                .unwrap()
                .0
            })
            .collect()
    }

    fn auth_sent(&self, reason: ReasonCode) -> usize {
        self.packets()
            .iter()
            .filter(|p| matches!(p, Packet::Auth(a) if a.reason == reason))
            .count()
    }

    fn has(&self, f: impl Fn(&mqtt_sansio_session::Event) -> bool) -> bool {
        self.events.iter().any(f)
    }

    fn disconnects(&self, f: impl Fn(&mqtt_sansio_session::DisconnectReason) -> bool) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, mqtt_sansio_session::Event::Disconnected { reason, .. } if f(reason)))
            .count()
    }

    /// (topic, alias) of every PUBLISH sent.
    fn publish_forms(&self) -> Vec<(String, Option<u16>)> {
        self.packets()
            .iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => {
                    Some((p.topic.as_str().to_string(), p.properties.topic_alias()))
                }
                _ => None,
            })
            .collect()
    }
}

/// Runs a seed op by op through the interpreter (every invariant checked), and checks that
/// its encoding parses back to the same ops and replays to the same statistics.
fn run_seed(ext: u8, ops: &[Op]) -> (Vec<u8>, SeedRun) {
    let header = Header(V5_ROOMY);
    let ext = Extension(ext);
    let mut interp = Interp::with_extension(header, ext);
    let mut sent = interp.take_sent();
    let mut events = interp.take_events();
    for op in ops {
        interp.apply(op);
        sent.extend(interp.take_sent());
        events.extend(interp.take_events());
    }
    interp.finish();
    sent.extend(interp.take_sent());
    events.extend(interp.take_events());
    let input = encode_extended_input(header, ext, ops);
    let mut r = Reader::new(&input[5..]);
    let mut parsed = Vec::new();
    while !r.is_empty() {
        parsed.push(Op::parse_format(&mut r, true));
    }
    assert_eq!(parsed, ops, "ops do not survive encode/parse");
    assert_eq!(run(&input), interp.stats, "the replay differs");
    (input, SeedRun { sent, events })
}

/// The extended seeds: name, input, and the check of what the run must reach.
fn extended_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use mqtt_sansio_session::{DisconnectReason as D, Event as E};
    let mut out = Vec::new();

    // Two challenges before each CONNACK, traffic, a reconnect with the exchange again.
    let (input, run) = run_seed(
        EXT_AUTH | ext_rounds(2),
        &[
            Op::Publish {
                topic: 1,
                qos: 1,
                retain: false,
                len: 4,
            },
            ack(PUBACK, 0),
            Op::Closed,
            reconnect(),
            Op::Publish {
                topic: 2,
                qos: 2,
                retain: false,
                len: 4,
            },
            ack(PUBREC, 0),
            ack(PUBCOMP, 0),
        ],
    );
    assert_eq!(run.auth_sent(ReasonCode::ContinueAuthentication), 4);
    assert_eq!(
        run.events
            .iter()
            .filter(|e| matches!(
                e,
                E::Authenticated {
                    reauthentication: false
                }
            ))
            .count(),
        2
    );
    assert!(run.has(|e| matches!(e, E::PubComp { .. })));
    out.push(("ext-auth-connect-two-challenges-and-traffic", input));

    // A re-authentication with one challenge, accepted, while a QoS 1 message is in flight.
    let (input, run) = run_seed(
        EXT_AUTH,
        &[
            Op::Publish {
                topic: 3,
                qos: 1,
                retain: false,
                len: 8,
            },
            Op::Reauthenticate { fail_start: false },
            auth(0, 5),
            ack(PUBACK, 0),
            auth(1, 0),
            Op::Reauthenticate { fail_start: true },
        ],
    );
    assert_eq!(run.auth_sent(ReasonCode::ReAuthenticate), 1);
    assert_eq!(run.auth_sent(ReasonCode::ContinueAuthentication), 1);
    assert!(run.has(|e| matches!(
        e,
        E::Authenticated {
            reauthentication: true
        }
    )));
    assert!(run.has(|e| matches!(e, E::PubAck { .. })));
    out.push(("ext-auth-reauthenticate-accepted", input));

    // The broker refuses a re-authentication (DISCONNECT 0x87 with a reason string and a
    // Server Reference); the messages in flight go out again on the next connection.
    let (input, run) = run_seed(
        EXT_AUTH | ext_rounds(1),
        &[
            Op::Publish {
                topic: 1,
                qos: 1,
                retain: false,
                len: 2,
            },
            Op::Publish {
                topic: 2,
                qos: 2,
                retain: false,
                len: 2,
            },
            Op::Reauthenticate { fail_start: false },
            auth(0, 1),
            Op::AckProperties(0x13),
            Op::BrokerControl {
                kind: DISCONNECT,
                reason: 0x87,
            },
            reconnect(),
            ack(PUBACK, 0),
            ack(PUBREC, 0),
            ack(PUBCOMP, 0),
        ],
    );
    assert_eq!(
        run.disconnects(|r| *r == D::Remote(ReasonCode::NotAuthorized)),
        1
    );
    assert!(run.has(|e| matches!(e, E::PubAck { .. })));
    assert!(run.has(|e| matches!(e, E::PubComp { .. })));
    out.push(("ext-auth-reauthenticate-refused-0x87-keeps-messages", input));

    // Our authenticator refuses: a challenge it rejects, then a wrong final data.
    let (input, run) = run_seed(
        EXT_AUTH,
        &[
            Op::Reauthenticate { fail_start: false },
            auth(0, 0x80),
            reconnect(),
            Op::Reauthenticate { fail_start: false },
            auth(1, 0x80),
        ],
    );
    assert_eq!(run.disconnects(|r| matches!(r, D::AuthFailed(_))), 2);
    out.push((
        "ext-auth-authenticator-refuses-challenge-and-final-data",
        input,
    ));

    // AUTH out of turn: Re-authenticate from the broker, another method, success outside a
    // re-authentication; each a protocol error.
    let (input, run) = run_seed(
        EXT_AUTH,
        &[
            auth(3, 0),
            reconnect(),
            Op::Reauthenticate { fail_start: false },
            auth(2, 0),
            reconnect(),
            auth(1, 0),
        ],
    );
    assert_eq!(run.disconnects(|r| matches!(r, D::Protocol(_))), 3);
    out.push(("ext-auth-out-of-turn-and-wrong-method", input));

    // No authenticator: AUTH from the broker is a protocol error [MQTT-4.12.0-1], and
    // `reauthenticate` is refused.
    let (input, run) = run_seed(0, &[Op::Reauthenticate { fail_start: false }, auth(0, 0)]);
    assert_eq!(run.auth_sent(ReasonCode::ReAuthenticate), 0);
    assert_eq!(run.disconnects(|r| matches!(r, D::Protocol(_))), 1);
    out.push(("ext-auth-from-broker-without-method", input));

    // Auto aliases, 2 of them against a broker maximum of 2, over 3 long topics; reset on
    // reconnect.
    let mut ops = Vec::new();
    for topic in [3u8, 4, 3, 4, 1, 3, 4] {
        ops.push(Op::Publish {
            topic,
            qos: 0,
            retain: false,
            len: 2,
        });
    }
    ops.push(Op::Closed);
    ops.push(reconnect());
    ops.push(Op::Publish {
        topic: 3,
        qos: 1,
        retain: false,
        len: 2,
    });
    let (input, run) = run_seed(EXT_AUTO_2 | ext_broker_alias_max(2), &ops);
    let forms = run.publish_forms();
    assert!(forms.iter().any(|(t, a)| t.is_empty() && a.is_some()));
    assert!(forms
        .iter()
        .all(|(_, a)| a.is_none_or(|a| (1..=2).contains(&a))));
    assert_eq!(
        forms.last().map(|(t, a)| (t.as_str(), *a)),
        Some(("sensors/kitchen/temp", Some(1))),
        "the first use after a reconnect carries the topic"
    );
    out.push(("ext-alias-auto-more-topics-than-aliases", input));

    // Manual aliases against a broker maximum of 3: set, reuse, rebind, 4 and 9 refused at
    // the call, 7 queued while disconnected and left out on the next connection.
    let aliased = |topic, alias| Op::PublishAliased {
        topic,
        qos: 1,
        alias,
    };
    let (input, run) = run_seed(
        EXT_MANUAL | ext_broker_alias_max(3),
        &[
            aliased(3, 1),
            aliased(3, 1),
            aliased(4, 1),
            aliased(3, 9),
            aliased(3, 4),
            Op::Closed,
            aliased(4, 7),
            reconnect(),
            aliased(4, 2),
        ],
    );
    let forms = run.publish_forms();
    // The three unacknowledged ones go again on the new connection, with the alias set
    // again before it is used alone.
    let topic = |t: &str, a| (t.to_string(), a);
    let first = [
        topic("sensors/kitchen/temp", Some(1)),
        topic("", Some(1)),
        topic("x/y/z", Some(1)),
    ];
    let mut expected = [first.clone(), first].concat();
    expected.extend([topic("x/y/z", None), topic("x/y/z", Some(2))]);
    assert_eq!(forms, expected);
    out.push(("ext-alias-manual-reuse-rebind-and-over-maximum", input));

    // Property-rich acknowledgements: reason strings, user properties, a Server Reference on
    // CONNACK and DISCONNECT, then a long reason string.
    let (input, run) = run_seed(
        0,
        &[
            Op::AckProperties(0x17),
            Op::Subscribe(vec![(0, 1)]),
            ack(SUBACK, 0),
            Op::Unsubscribe(vec![0]),
            ack(UNSUBACK, 0),
            Op::Publish {
                topic: 1,
                qos: 1,
                retain: false,
                len: 1,
            },
            ack(PUBACK, 0x10),
            Op::Publish {
                topic: 1,
                qos: 2,
                retain: false,
                len: 1,
            },
            ack(PUBREC, 0),
            ack(PUBCOMP, 0),
            Op::BrokerPublish {
                qos: 2,
                id: IdSel::Raw(9),
                topic: 1,
                len: 1,
                flags: 0,
            },
            ack(PUBREL, 0),
            Op::BrokerControl {
                kind: DISCONNECT,
                reason: 0x9C,
            },
            Op::Reconnect {
                connack: false,
                session_present: false,
            },
            Op::BrokerControl {
                kind: REFUSING_CONNACK,
                reason: 0x9D,
            },
            reconnect(),
            Op::AckProperties(0x0A),
            Op::Publish {
                topic: 1,
                qos: 1,
                retain: false,
                len: 1,
            },
            ack(PUBACK, 0),
        ],
    );
    assert!(run.has(|e| matches!(e, E::SubAck { .. })));
    assert!(run.has(|e| matches!(e, E::UnsubAck { .. })));
    assert!(run.has(|e| matches!(e, E::PubComp { .. })));
    assert!(run.has(|e| matches!(e, E::MessageReleased(_))));
    assert!(run.has(|e| matches!(e, E::ConnectRefused { .. })));
    assert_eq!(
        run.disconnects(|r| *r == D::Remote(ReasonCode::UseAnotherServer)),
        1
    );
    assert_eq!(
        run.events
            .iter()
            .filter(|e| matches!(e, E::PubAck { .. }))
            .count(),
        2
    );
    out.push(("ext-property-rich-acks-and-server-reference", input));

    out
}

#[test]
fn extended_seeds_reach_their_paths_and_are_in_the_corpus() {
    let write = std::env::var_os("MQTT_FUZZ_WRITE_CORPUS").is_some();
    let dir = corpus_dir("session");
    for (name, input) in extended_seeds() {
        let path = dir.join(name);
        if write {
            fs::write(&path, &input).unwrap();
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert_eq!(
            committed, input,
            "{name} in the corpus differs; rewrite with MQTT_FUZZ_WRITE_CORPUS=1"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds with the features byte: manual acknowledgements, the offline queue's policy, byte
// budget and message expiry, and restarts over a MemoryStore. As with the extended seeds,
// each asserts what it reaches; `MQTT_FUZZ_WRITE_CORPUS=1` writes them to
// fuzz/corpus/session/feat-*.

const FEAT_WINDOW_2: u8 = 0x02;
const FEAT_WINDOW_4: u8 = 0x03;
const FEAT_DROP_OLDEST: u8 = 0x04;
const FEAT_BYTES_64: u8 = 0x10;
const FEAT_STORE: u8 = 0x20;
/// Restart, connect again, CONNACK with session present.
const RESUME: u8 = 0b111;

/// Runs a featured seed op by op (every invariant checked) and checks its encoding parses
/// back to the same ops and replays to the same statistics.
fn run_featured(header: [u8; 4], features: u8, ops: &[Op]) -> (Vec<u8>, Stats, SeedRun) {
    let header = Header(header);
    let features = Features(features);
    let mut interp = Interp::with_features(header, Extension::default(), features);
    let mut sent = interp.take_sent();
    let mut events = interp.take_events();
    for op in ops {
        interp.apply(op);
        sent.extend(interp.take_sent());
        events.extend(interp.take_events());
    }
    interp.finish();
    sent.extend(interp.take_sent());
    events.extend(interp.take_events());
    let input = encode_featured_input(header, None, features, ops);
    let mut r = Reader::new(&input[5..]);
    let mut parsed = Vec::new();
    while !r.is_empty() {
        parsed.push(Op::parse_with(&mut r, false, true));
    }
    assert_eq!(parsed, ops, "ops do not survive encode/parse");
    assert_eq!(run(&input), interp.stats, "the replay differs");
    (input, interp.stats, SeedRun { sent, events })
}

/// The packets a featured seed's client sent, decoded for `v`.
fn decoded(run: &SeedRun, v: ProtocolVersion) -> Vec<Packet<'_>> {
    run.sent
        .iter()
        .map(|b| {
            mqtt_sansio_proto::decode(b, v, &mqtt_sansio_proto::Limits::default())
                .unwrap()
                .unwrap()
                .0
        })
        .collect()
}

fn broker_publish(qos: u8, id: u16, dup: bool) -> Op {
    Op::BrokerPublish {
        qos,
        id: IdSel::Raw(id),
        topic: 1,
        len: 3,
        flags: u8::from(dup),
    }
}

fn broker_ack_raw(kind: u8, id: u16) -> Op {
    Op::BrokerAck {
        kind,
        id: IdSel::Raw(id),
        reason: 0,
        count: 0,
    }
}

fn featured_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use mqtt_sansio_session::{Event as E, PublishFailure};
    let mut out = Vec::new();
    let persistent_v311 = header(false, false, 0, ROOMY, 0);
    let persistent_v5 = header(true, false, 0, ROOMY, 0);
    let count = |run: &SeedRun, v, f: &dyn Fn(&Packet<'_>) -> bool| {
        decoded(run, v).iter().filter(|p| f(p)).count()
    };

    // 3.1.1, manual window 2, a store: a QoS 2 message acknowledged, a restart, the broker's
    // resend answered with PUBREC and not handed over again; the QoS 1 one never
    // acknowledged is handed over again; a stale token refused.
    let (input, stats, run) = run_featured(
        persistent_v311,
        FEAT_WINDOW_2 | FEAT_STORE,
        &[
            broker_publish(2, 5, false),
            broker_publish(1, 6, false),
            Op::Ack(0),
            Op::Restart(RESUME),
            broker_publish(2, 5, true),
            broker_publish(1, 6, true),
            broker_ack_raw(PUBREL, 5),
            Op::Ack(1),
            Op::Ack(2),
        ],
    );
    let v = ProtocolVersion::V311;
    let handed = |id: u16| {
        run.events
            .iter()
            .filter(|e| matches!(e, E::Message(m) if m.packet_id.map(PacketId::get) == Some(id)))
            .count()
    };
    assert_eq!(handed(5), 1, "QoS 2 message handed over once");
    assert_eq!(
        handed(6),
        2,
        "unacknowledged QoS 1 message handed over again"
    );
    assert_eq!(
        count(
            &run,
            v,
            &|p| matches!(p, Packet::PubRec(a) if a.packet_id.get() == 5)
        ),
        2
    );
    assert_eq!(count(&run, v, &|p| matches!(p, Packet::PubComp(_))), 1);
    assert_eq!(count(&run, v, &|p| matches!(p, Packet::PubAck(_))), 1);
    assert_eq!((stats.restarts, stats.acked), (1, 2));
    out.push(("feat-manual-ack-qos2-restart-no-redelivery", input));

    // 5.0, manual window 4: acknowledged out of order, the acknowledgements go out in
    // arrival order; the Receive Maximum is the window.
    let (input, stats, run) = run_featured(
        persistent_v5,
        FEAT_WINDOW_4,
        &[
            broker_publish(1, 1, false),
            broker_publish(2, 2, false),
            broker_publish(1, 3, false),
            Op::Ack(2),
            Op::Ack(1),
            Op::Ack(0),
            broker_ack_raw(PUBREL, 2),
        ],
    );
    let v = ProtocolVersion::V5;
    let acks: Vec<(u8, u16)> = decoded(&run, v)
        .iter()
        .filter_map(|p| match p {
            Packet::PubAck(a) => Some((0, a.packet_id.get())),
            Packet::PubRec(a) => Some((1, a.packet_id.get())),
            _ => None,
        })
        .collect();
    assert_eq!(acks, [(0, 1), (1, 2), (0, 3)]);
    let rm = decoded(&run, v).iter().find_map(|p| match p {
        Packet::Connect(c) => c.properties.receive_maximum(),
        _ => None,
    });
    assert_eq!(rm, Some(4));
    assert_eq!(stats.acked, 3);
    out.push(("feat-manual-ack-out-of-order-v5", input));

    // 5.0, queue of 4 messages and 64 bytes, DropOldestQos0, a store: offline QoS 0 messages
    // dropped for newer ones, a QoS 1 message expiring in the queue, never sent.
    let mut limits = ROOMY;
    limits[0] = 0xFB;
    let (input, _, run) = run_featured(
        header(true, false, 0, limits, 0),
        FEAT_DROP_OLDEST | FEAT_BYTES_64 | FEAT_STORE,
        &[
            Op::Closed,
            Op::PublishExpiring {
                topic: 1,
                qos: 1,
                secs: 2,
            },
            Op::PublishBurst { count: 5, qos: 0 },
            Op::Advance(3000),
            Op::Reconnect {
                connack: true,
                session_present: true,
            },
            Op::PublishExpiring {
                topic: 2,
                qos: 2,
                secs: 9,
            },
            Op::Restart(RESUME),
            ack(PUBREC, 0),
            ack(PUBCOMP, 0),
        ],
    );
    assert!(run.has(|e| matches!(
        e,
        E::PublishFailed {
            reason: PublishFailure::DroppedForNewer,
            ..
        }
    )));
    assert!(run.has(|e| matches!(
        e,
        E::PublishFailed {
            id: Some(_),
            reason: PublishFailure::Expired,
            ..
        }
    )));
    assert!(run.has(|e| matches!(e, E::PubComp { .. })));
    out.push(("feat-queue-drop-oldest-expiry-and-restart", input));

    // 3.1.1, a store: QoS 1 and 2 messages in flight, one PUBREC'd, a restart: the PUBLISH
    // again with DUP, only the PUBREL for the other, both completed.
    let (input, stats, run) = run_featured(
        persistent_v311,
        FEAT_STORE,
        &[
            Op::Publish {
                topic: 1,
                qos: 1,
                retain: false,
                len: 2,
            },
            Op::Publish {
                topic: 2,
                qos: 2,
                retain: false,
                len: 2,
            },
            broker_ack_raw(PUBREC, 2),
            Op::Restart(RESUME),
            ack(PUBACK, 0),
            ack(PUBCOMP, 0),
        ],
    );
    let v = ProtocolVersion::V311;
    assert_eq!(
        count(&run, v, &|p| matches!(p, Packet::Publish(p) if p.dup)),
        1
    );
    assert_eq!(count(&run, v, &|p| matches!(p, Packet::PubRel(_))), 2);
    assert_eq!((stats.completed, stats.restarts), (2, 1));
    out.push(("feat-store-restart-resends-publish-and-pubrel", input));

    out
}

#[test]
fn featured_seeds_reach_their_paths_and_are_in_the_corpus() {
    let write = std::env::var_os("MQTT_FUZZ_WRITE_CORPUS").is_some();
    let dir = corpus_dir("session");
    for (name, input) in featured_seeds() {
        let path = dir.join(name);
        if write {
            fs::write(&path, &input).unwrap();
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert_eq!(
            committed, input,
            "{name} in the corpus differs; rewrite with MQTT_FUZZ_WRITE_CORPUS=1"
        );
    }
}
