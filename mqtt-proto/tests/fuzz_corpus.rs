//! Replays the fuzz seed corpora (`fuzz/corpus/decode_v311`, `decode_v5`, `roundtrip`) under
//! plain `cargo test`, through the public decoder with the same invariants the fuzz targets
//! check (`fuzz/src/decode_check.rs`, included here). Also holds the generator of the
//! specification-vector seeds and the regression tests for inputs the fuzzer found.
//!
//! Regenerate the seeds after a codec change with
//! `MQTT_FUZZ_WRITE_CORPUS=1 cargo test -p mqtt-sansio-proto --test fuzz_corpus`.

#[path = "../../fuzz/src/decode_check.rs"]
mod decode_check;

use std::fs;
use std::path::{Path, PathBuf};

use decode_check::check_decode;
use mqtt_sansio_proto::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PropertiesBuf, Property,
    ProtocolVersion, Publish, QoS, QosPid, ReasonCode, RetainHandling, SubAck, Subscribe,
    Subscription, SubscriptionOptions, TopicFilter, TopicName, UnsubAck, Unsubscribe, Will,
};

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every file of a corpus, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("directory entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    files
}

fn replay(target: &str, versions: &[ProtocolVersion]) -> (usize, usize) {
    let files = corpus(target);
    assert!(!files.is_empty(), "the {target} corpus is empty");
    let mut packets = 0;
    for (name, data) in &files {
        for &v in versions {
            let stats = std::panic::catch_unwind(|| check_decode(data, v))
                .unwrap_or_else(|_| panic!("{target}/{name} broke an invariant ({v:?})"));
            packets += stats.packets;
        }
    }
    (files.len(), packets)
}

#[test]
fn decode_v311_corpus_replays() {
    let (files, packets) = replay("decode_v311", &[V311]);
    assert!(files > 0);
    assert!(
        packets >= files / 2,
        "only {packets} packets decoded from {files} files"
    );
}

#[test]
fn decode_v5_corpus_replays() {
    let (files, packets) = replay("decode_v5", &[V5]);
    assert!(files > 0);
    assert!(
        packets >= files / 2,
        "only {packets} packets decoded from {files} files"
    );
}

/// The roundtrip target reads its input through `arbitrary`, which this crate does not
/// depend on: its corpus replays through both raw-bytes decoders instead.
#[test]
fn roundtrip_corpus_replays_through_raw_decoders() {
    let (files, _) = replay("roundtrip", &[V311, V5]);
    assert!(files > 0);
}

// ---------------------------------------------------------------------------------------------
// Seeds: valid packets of every type, both versions, from the specifications' examples.

fn topic(s: &str) -> TopicName<'_> {
    TopicName::new(s).expect("valid topic")
}

fn filter(s: &str) -> TopicFilter<'_> {
    TopicFilter::new(s).expect("valid filter")
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

fn props(list: &[Property<'_>]) -> PropertiesBuf {
    let mut p = PropertiesBuf::new();
    for x in list {
        p.push(*x).expect("valid property");
    }
    p
}

/// (name, packet) pairs valid in `v`; property lists only in 5.0.
fn seed_packets(v: ProtocolVersion, keep: &mut Vec<PropertiesBuf>) -> Vec<(String, Vec<u8>)> {
    let v5 = v == V5;
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |name: &str, p: Packet<'_>| {
        let mut bytes = Vec::new();
        p.encode(v, &mut bytes)
            .unwrap_or_else(|e| panic!("seed {name} does not encode in {v:?}: {e}"));
        out.push((name.to_string(), bytes));
    };
    // Property lists live in `keep` (and are rebuilt identically below for borrowing).
    let lists: Vec<Vec<Property<'static>>> = vec![
        // 0: CONNECT
        vec![
            Property::SessionExpiryInterval(3600),
            Property::ReceiveMaximum(20),
            Property::MaximumPacketSize(65536),
            Property::TopicAliasMaximum(10),
            Property::RequestResponseInformation(1),
            Property::UserProperty("region", "eu"),
            Property::AuthenticationMethod("SCRAM-SHA-1"),
            Property::AuthenticationData(b"client-first"),
        ],
        // 1: will
        vec![
            Property::WillDelayInterval(30),
            Property::PayloadFormatIndicator(1),
            Property::MessageExpiryInterval(120),
            Property::ContentType("text/plain"),
            Property::ResponseTopic("will/response"),
            Property::CorrelationData(b"corr"),
        ],
        // 2: CONNACK
        vec![
            Property::SessionExpiryInterval(60),
            Property::ReceiveMaximum(5),
            Property::MaximumQoS(1),
            Property::RetainAvailable(0),
            Property::MaximumPacketSize(4096),
            Property::AssignedClientIdentifier("auto-1234"),
            Property::TopicAliasMaximum(4),
            Property::ReasonString("welcome"),
            Property::WildcardSubscriptionAvailable(1),
            Property::SubscriptionIdentifierAvailable(1),
            Property::SharedSubscriptionAvailable(0),
            Property::ServerKeepAlive(30),
            Property::ResponseInformation("resp/"),
            Property::ServerReference("other:1883"),
        ],
        // 3: PUBLISH
        vec![
            Property::PayloadFormatIndicator(1),
            Property::MessageExpiryInterval(10),
            Property::TopicAlias(3),
            Property::ResponseTopic("reply/here"),
            Property::CorrelationData(b"\x01\x02"),
            Property::UserProperty("a", "b"),
            Property::UserProperty("a", "c"),
            Property::SubscriptionIdentifier(7),
            Property::SubscriptionIdentifier(268_435_455),
            Property::ContentType("application/json"),
        ],
        // 4: acks
        vec![
            Property::ReasonString("quota"),
            Property::UserProperty("k", "v"),
        ],
        // 5: SUBSCRIBE
        vec![
            Property::SubscriptionIdentifier(42),
            Property::UserProperty("s", "1"),
        ],
        // 6: DISCONNECT
        vec![
            Property::SessionExpiryInterval(0),
            Property::ReasonString("bye"),
            Property::ServerReference("backup:1883"),
        ],
        // 7: AUTH
        vec![
            Property::AuthenticationMethod("SCRAM-SHA-1"),
            Property::AuthenticationData(b"server-first"),
            Property::ReasonString("continue"),
        ],
        // 8: PUBLISH with only a topic alias
        vec![Property::TopicAlias(3)],
    ];
    keep.clear();
    keep.extend(lists.iter().map(|l| props(l)));
    let p = |i: usize| {
        if v5 {
            keep[i].as_properties()
        } else {
            mqtt_sansio_proto::Properties::EMPTY
        }
    };

    // CONNECT (3.1.1 Figure 3.6 style: will, user name, password).
    add(
        "connect-minimal",
        Packet::Connect(Connect::new("c", true, 60)),
    );
    add(
        "connect-empty-id",
        Packet::Connect(Connect::new("", true, 0)),
    );
    add(
        "connect-full",
        Packet::Connect(Connect {
            clean_start: false,
            keep_alive: 10,
            client_id: "abc",
            will: Some(Will {
                topic: topic("w/t"),
                payload: b"bye",
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: p(1),
            }),
            username: Some("user"),
            password: Some(b"pw"),
            properties: p(0),
        }),
    );
    // CONNACK.
    for (name, present, reason) in [
        ("connack-accepted", false, ReasonCode::Success),
        ("connack-session-present", true, ReasonCode::Success),
        ("connack-refused", false, ReasonCode::NotAuthorized),
        (
            "connack-bad-credentials",
            false,
            ReasonCode::BadUserNameOrPassword,
        ),
    ] {
        add(
            name,
            Packet::ConnAck(ConnAck {
                session_present: present,
                reason,
                properties: mqtt_sansio_proto::Properties::EMPTY,
            }),
        );
    }
    add(
        "connack-properties",
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: p(2),
        }),
    );
    // PUBLISH (3.1.1 §3.3 example topic "a/b").
    add(
        "publish-qos0",
        Packet::Publish(Publish::new(topic("a/b"), b"hi", QosPid::AtMostOnce)),
    );
    add(
        "publish-qos0-empty-payload",
        Packet::Publish(Publish::new(topic("a"), b"", QosPid::AtMostOnce)),
    );
    let mut dup = Publish::new(topic("a/b"), b"again", QosPid::AtLeastOnce(pid(10)));
    dup.dup = true;
    dup.retain = true;
    add("publish-qos1-dup-retain", Packet::Publish(dup));
    add(
        "publish-qos2",
        Packet::Publish(Publish::new(
            topic("sensors/kitchen/temp"),
            b"21.5",
            QosPid::ExactlyOnce(pid(65535)),
        )),
    );
    let long = vec![0x42u8; 300];
    add(
        "publish-two-byte-length",
        Packet::Publish(Publish::new(
            topic("big"),
            &long,
            QosPid::AtLeastOnce(pid(2)),
        )),
    );
    let mut with_props = Publish::new(topic("p/q"), b"{}", QosPid::AtLeastOnce(pid(3)));
    with_props.properties = p(3);
    add("publish-properties", Packet::Publish(with_props));
    if v5 {
        let mut aliased = Publish::new(TopicName::EMPTY, b"x", QosPid::AtMostOnce);
        aliased.properties = p(8);
        add("publish-alias-empty-topic", Packet::Publish(aliased));
    }
    // PUBACK, PUBREC, PUBREL, PUBCOMP.
    let ack = |id, reason, props| Ack {
        packet_id: pid(id),
        reason,
        properties: props,
    };
    let s = ReasonCode::Success;
    let none = mqtt_sansio_proto::Properties::EMPTY;
    add("puback", Packet::PubAck(ack(1, s, none)));
    add("pubrec", Packet::PubRec(ack(2, s, none)));
    add("pubrel", Packet::PubRel(ack(3, s, none)));
    add("pubcomp", Packet::PubComp(ack(4, s, none)));
    if v5 {
        add(
            "puback-no-subscribers",
            Packet::PubAck(ack(5, ReasonCode::NoMatchingSubscribers, none)),
        );
        add(
            "puback-quota-reason-string",
            Packet::PubAck(ack(6, ReasonCode::QuotaExceeded, p(4))),
        );
        add(
            "pubrec-error",
            Packet::PubRec(ack(7, ReasonCode::PacketIdentifierInUse, none)),
        );
        add(
            "pubrel-not-found",
            Packet::PubRel(ack(8, ReasonCode::PacketIdentifierNotFound, none)),
        );
        add(
            "pubcomp-not-found",
            Packet::PubComp(ack(9, ReasonCode::PacketIdentifierNotFound, p(4))),
        );
    }
    // SUBSCRIBE (3.1.1 §3.8.3 example: "a/b" QoS 1, "c/d" QoS 2).
    let mut options = SubscriptionOptions::qos(QoS::ExactlyOnce);
    if v5 {
        options.no_local = true;
        options.retain_as_published = true;
        options.retain_handling = RetainHandling::DoNotSend;
    }
    add(
        "subscribe",
        Packet::Subscribe(Subscribe {
            packet_id: pid(10),
            properties: p(5),
            subscriptions: vec![
                Subscription::new(filter("a/b"), QoS::AtLeastOnce),
                Subscription {
                    filter: filter("c/d"),
                    options,
                },
                Subscription::new(filter("sport/+/player1/#"), QoS::AtMostOnce),
            ],
        }),
    );
    if v5 {
        add(
            "subscribe-shared",
            Packet::Subscribe(Subscribe::new(
                pid(11),
                [Subscription::new(
                    filter("$share/group/a/#"),
                    QoS::AtLeastOnce,
                )],
            )),
        );
    }
    // SUBACK (3.1.1 §3.9.3 example: 0x00, 0x01, 0x02, 0x80).
    add(
        "suback",
        Packet::SubAck(SubAck {
            packet_id: pid(10),
            properties: if v5 { p(4) } else { none },
            reason_codes: [
                ReasonCode::Success,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError,
            ]
            .into_iter()
            .collect(),
        }),
    );
    if v5 {
        add(
            "suback-errors",
            Packet::SubAck(SubAck {
                packet_id: pid(12),
                properties: none,
                reason_codes: [
                    ReasonCode::TopicFilterInvalid,
                    ReasonCode::SharedSubscriptionsNotSupported,
                    ReasonCode::WildcardSubscriptionsNotSupported,
                ]
                .into_iter()
                .collect(),
            }),
        );
    }
    // UNSUBSCRIBE, UNSUBACK.
    add(
        "unsubscribe",
        Packet::Unsubscribe(Unsubscribe::new(pid(13), [filter("a/b"), filter("c/#")])),
    );
    let mut unsuback = UnsubAck::new(pid(13));
    if v5 {
        unsuback.reason_codes = [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            .into_iter()
            .collect();
    }
    add("unsuback", Packet::UnsubAck(unsuback));
    // PINGREQ, PINGRESP, DISCONNECT, AUTH.
    add("pingreq", Packet::PingReq);
    add("pingresp", Packet::PingResp);
    add("disconnect", Packet::Disconnect(Disconnect::NORMAL));
    if v5 {
        add(
            "disconnect-reason",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::ServerShuttingDown,
                properties: p(6),
            }),
        );
        add(
            "disconnect-will",
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::DisconnectWithWillMessage,
                properties: none,
            }),
        );
        add(
            "auth-continue",
            Packet::Auth(Auth {
                reason: ReasonCode::ContinueAuthentication,
                properties: p(7),
            }),
        );
        add(
            "auth-short",
            Packet::Auth(Auth {
                reason: ReasonCode::Success,
                properties: none,
            }),
        );
    }
    // A stream of several packets back to back, as a broker sends them.
    let stream: Vec<u8> = out
        .iter()
        .filter(|(n, _)| !n.starts_with("connect"))
        .flat_map(|(_, b)| b.clone())
        .collect();
    out.push(("stream-all".into(), stream));
    out
}

/// Hostile and malformed byte vectors: what the codec must reject (or wait on) cleanly.
fn malformed_seeds() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // Remaining length 268,435,455 (the largest, ~256 MiB) then nothing.
        ("huge-remaining-length", vec![0x30, 0xFF, 0xFF, 0xFF, 0x7F]),
        // A fifth length byte [MQTT-1.5.5] and a non-minimal length [MQTT-1.5.5-1].
        (
            "varint-five-bytes",
            vec![0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
        ),
        ("varint-not-minimal", vec![0x30, 0x80, 0x00]),
        // Packet type 0 is reserved; QoS 3 PUBLISH; DUP on QoS 0; PUBREL flags 0.
        ("type-0-reserved", vec![0x00, 0x00]),
        (
            "publish-qos3",
            vec![0x36, 0x05, 0x00, 0x01, b'a', 0x00, 0x01],
        ),
        ("publish-dup-qos0", vec![0x38, 0x03, 0x00, 0x01, b'a']),
        ("pubrel-bad-flags", vec![0x60, 0x02, 0x00, 0x01]),
        // Invalid UTF-8 and U+0000 in a topic; a wildcard in a topic name.
        (
            "topic-invalid-utf8",
            vec![0x30, 0x04, 0x00, 0x02, 0xC3, 0x28],
        ),
        ("topic-nul", vec![0x30, 0x05, 0x00, 0x03, b'a', 0x00, b'b']),
        (
            "topic-wildcard",
            vec![0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'],
        ),
        // Empty topic without a topic alias; packet id 0.
        ("publish-empty-topic", vec![0x30, 0x03, 0x00, 0x00, 0x00]),
        (
            "publish-id-zero",
            vec![0x32, 0x05, 0x00, 0x01, b'a', 0x00, 0x00],
        ),
        // A string longer than its packet; a CONNACK with reserved flags.
        ("string-overruns", vec![0x30, 0x04, 0x00, 0x09, b'a', b'b']),
        ("connack-reserved-flags", vec![0x20, 0x02, 0x02, 0x00]),
        // SUBACK with no codes; PINGRESP with a body.
        ("suback-empty", vec![0x90, 0x02, 0x00, 0x01]),
        ("pingresp-body", vec![0xD0, 0x01, 0x00]),
        // 5.0: a property length past the end; an unknown property; a duplicate property.
        ("props-overrun", vec![0x40, 0x04, 0x00, 0x01, 0x00, 0x09]),
        (
            "props-unknown",
            vec![0x40, 0x06, 0x00, 0x01, 0x00, 0x02, 0x7F, 0x00],
        ),
        (
            "props-duplicate",
            vec![
                0x20, 0x09, 0x00, 0x00, 0x06, 0x24, 0x01, 0x24, 0x01, 0x25, 0x01,
            ],
        ),
    ]
}

/// The seed files of a decode corpus, by file name.
fn decode_seeds(v: ProtocolVersion) -> Vec<(String, Vec<u8>)> {
    let prefix = match v {
        V311 => "v311",
        V5 => "v5",
    };
    let mut keep = Vec::new();
    let mut seeds: Vec<(String, Vec<u8>)> = seed_packets(v, &mut keep)
        .into_iter()
        .map(|(n, b)| (format!("spec-{prefix}-{n}"), b))
        .collect();
    seeds.extend(
        malformed_seeds()
            .into_iter()
            .map(|(n, b)| (format!("malformed-{n}"), b)),
    );
    seeds
}

/// The seeds decode as their invariants say, and are in the corpus (written when
/// `MQTT_FUZZ_WRITE_CORPUS` is set).
#[test]
fn specification_seeds_are_in_the_corpus() {
    let write = std::env::var_os("MQTT_FUZZ_WRITE_CORPUS").is_some();
    for (v, target) in [(V311, "decode_v311"), (V5, "decode_v5")] {
        for (name, bytes) in decode_seeds(v) {
            let stats = check_decode(&bytes, v);
            if name.starts_with("spec-") {
                assert!(
                    stats.packets >= 1 && !stats.error && !stats.incomplete,
                    "{name}: {stats:?}"
                );
            }
            let path = corpus_dir(target).join(&name);
            if write {
                fs::create_dir_all(corpus_dir(target)).unwrap();
                fs::write(&path, &bytes).unwrap();
                // The roundtrip corpus starts from the same bytes (arbitrary input).
                if name.starts_with("spec-") {
                    fs::create_dir_all(corpus_dir("roundtrip")).unwrap();
                    fs::write(corpus_dir("roundtrip").join(&name), &bytes).unwrap();
                }
            } else {
                let on_disk = fs::read(&path).unwrap_or_default();
                assert_eq!(
                    on_disk,
                    bytes,
                    "{} is missing or stale: regenerate with MQTT_FUZZ_WRITE_CORPUS=1",
                    path.display()
                );
            }
        }
    }
}
