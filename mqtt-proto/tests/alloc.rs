//! Decoding borrows, so it allocates nothing: PUBLISH in both versions (5.0 with a full set of
//! properties), acks, PINGRESP, CONNACK, DISCONNECT; reading properties allocates nothing;
//! encoding into a reserved `Vec` or a slice allocates nothing.
//!
//! A counting global allocator counts allocations per thread, so tests running in parallel
//! do not see each other's allocations.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use common::{limits, V311, V5, VERSIONS};
use mqtt_sansio_proto::{
    decode, frame_len, Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketId, Properties,
    PropertiesBuf, Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, SubAck, Subscribe,
    Subscription, TopicFilter, TopicName, UnsubAck, Unsubscribe, Will,
};

struct Counting;

thread_local! {
    /// Allocations (and reallocations) made by this thread.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the thread may be tearing down its locals while still allocating.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// const-initialized thread-local `Cell`, which neither allocates nor has a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations it made on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = black_box(f());
    let after = ALLOCATIONS.with(Cell::get);
    (r, after - before)
}

/// Asserts that decoding `bytes` allocates nothing and yields `expected`.
fn assert_decode_allocates_nothing(bytes: &[u8], v: ProtocolVersion, expected: &Packet<'_>) {
    let lim = limits();
    let (framed, n) = allocations(|| frame_len(black_box(bytes), &lim));
    assert_eq!(n, 0, "frame_len allocated");
    assert_eq!(framed, Ok(Some(bytes.len())));
    let (r, n) = allocations(|| decode(black_box(bytes), v, &lim));
    assert_eq!(
        n,
        0,
        "decoding {} ({v:?}) allocated",
        expected.packet_type()
    );
    let (p, used) = r.expect("valid").expect("whole");
    assert_eq!(used, bytes.len());
    assert_eq!(&p, expected);
}

fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(v, &mut out).expect("valid packet");
    out
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A 5.0 PUBLISH property list with every PUBLISH property and repeated ones.
fn publish_properties() -> PropertiesBuf {
    let mut b = PropertiesBuf::new();
    b.push(Property::TopicAlias(7)).unwrap();
    b.push(Property::MessageExpiryInterval(3600)).unwrap();
    b.push(Property::UserProperty("unit", "°C")).unwrap();
    b.push(Property::UserProperty("room", "kitchen")).unwrap();
    b.push(Property::CorrelationData(&[1, 2, 3, 4, 5, 6, 7, 8]))
        .unwrap();
    b.push(Property::ContentType("application/json; charset=utf-8"))
        .unwrap();
    b.push(Property::SubscriptionIdentifier(1)).unwrap();
    b.push(Property::SubscriptionIdentifier(268_435_455))
        .unwrap();
    b.push(Property::PayloadFormatIndicator(1)).unwrap();
    b.push(Property::ResponseTopic("reply/to/me")).unwrap();
    b.push(Property::UserProperty("trace", "0af7651916cd43dd"))
        .unwrap();
    b
}

fn connack_properties() -> PropertiesBuf {
    let mut b = PropertiesBuf::new();
    b.push(Property::SessionExpiryInterval(300)).unwrap();
    b.push(Property::ReceiveMaximum(20)).unwrap();
    b.push(Property::MaximumQoS(1)).unwrap();
    b.push(Property::RetainAvailable(1)).unwrap();
    b.push(Property::MaximumPacketSize(1 << 20)).unwrap();
    b.push(Property::AssignedClientIdentifier("auto-4f2a"))
        .unwrap();
    b.push(Property::TopicAliasMaximum(10)).unwrap();
    b.push(Property::ReasonString("welcome")).unwrap();
    b.push(Property::UserProperty("region", "eu")).unwrap();
    b.push(Property::WildcardSubscriptionAvailable(1)).unwrap();
    b.push(Property::SubscriptionIdentifierAvailable(1))
        .unwrap();
    b.push(Property::SharedSubscriptionAvailable(0)).unwrap();
    b.push(Property::ServerKeepAlive(30)).unwrap();
    b.push(Property::ResponseInformation("resp/")).unwrap();
    b.push(Property::ServerReference("other.example")).unwrap();
    b.push(Property::AuthenticationMethod("SCRAM-SHA-256"))
        .unwrap();
    b.push(Property::AuthenticationData(b"server-final"))
        .unwrap();
    b
}

fn reason_properties() -> PropertiesBuf {
    let mut b = PropertiesBuf::new();
    b.push(Property::ReasonString("quota")).unwrap();
    b.push(Property::UserProperty("k", "v")).unwrap();
    b
}

fn disconnect_properties() -> PropertiesBuf {
    let mut b = PropertiesBuf::new();
    b.push(Property::SessionExpiryInterval(0)).unwrap();
    b.push(Property::ReasonString("bye")).unwrap();
    b.push(Property::ServerReference("backup.example")).unwrap();
    b.push(Property::UserProperty("k", "v")).unwrap();
    b
}

#[test]
fn the_counter_counts() {
    let (v, n) = allocations(|| Vec::<u8>::with_capacity(16));
    assert_eq!(n, 1);
    drop(v);
    let (s, n) = allocations(|| String::from("grows"));
    assert_eq!(n, 1);
    let (s, n) = allocations(move || s + " once more");
    assert_eq!(n, 1);
    drop(s);
}

#[test]
fn decoding_v311_publish_allocates_nothing() {
    let payload = vec![0xAB; 1000];
    let topic = TopicName::new("sensors/kitchen/température").unwrap();
    for qos in [
        QosPid::AtMostOnce,
        QosPid::AtLeastOnce(pid(17)),
        QosPid::ExactlyOnce(pid(65535)),
    ] {
        let mut publish = Publish::new(topic, &payload, qos);
        publish.retain = true;
        let p = Packet::Publish(publish);
        assert_decode_allocates_nothing(&encode(&p, V311), V311, &p);
    }
}

#[test]
fn decoding_v5_publish_with_properties_allocates_nothing() {
    let props = publish_properties();
    let payload = br#"{"temperature": 21.5}"#;
    for topic in [TopicName::new("sensors/kitchen").unwrap(), TopicName::EMPTY] {
        for qos in [QosPid::AtMostOnce, QosPid::AtLeastOnce(pid(9))] {
            let p = Packet::Publish(Publish {
                dup: false,
                qos,
                retain: false,
                topic,
                properties: props.as_properties(),
                payload,
            });
            let bytes = encode(&p, V5);
            assert_decode_allocates_nothing(&bytes, V5, &p);

            // Reading the properties of the decoded packet allocates nothing either.
            let Some((Packet::Publish(d), _)) = decode(&bytes, V5, &limits()).unwrap() else {
                panic!("not a PUBLISH");
            };
            let (summary, n) = allocations(|| read_publish_properties(d.properties));
            assert_eq!(n, 0, "reading properties allocated");
            assert_eq!(
                summary,
                (
                    11,
                    Some(7),
                    Some(3600),
                    Some(&[1u8, 2, 3, 4, 5, 6, 7, 8][..]),
                    3,
                    268_435_456,
                    Some("reply/to/me"),
                    Some("application/json; charset=utf-8"),
                )
            );
        }
    }
}

type Summary<'a> = (
    usize,
    Option<u16>,
    Option<u32>,
    Option<&'a [u8]>,
    usize,
    u64,
    Option<&'a str>,
    Option<&'a str>,
);

fn read_publish_properties(props: Properties<'_>) -> Summary<'_> {
    let mut count = 0;
    let mut content_type = None;
    for p in props.iter() {
        count += 1;
        if let Property::ContentType(c) = black_box(p) {
            content_type = Some(c);
        }
    }
    let user = props
        .user_properties()
        .inspect(|(k, v)| {
            black_box((k.len(), v.len()));
        })
        .count();
    let ids: u64 = props.subscription_identifiers().map(u64::from).sum();
    (
        count,
        props.topic_alias(),
        props.message_expiry_interval(),
        props.correlation_data(),
        user,
        ids,
        props.response_topic(),
        content_type,
    )
}

/// SUBSCRIBE and UNSUBSCRIBE: their decoded topic lists are heap-allocated (a client never
/// receives them), but encoding them allocates nothing.
fn subscribe_packets<'a>(filters: &'a [TopicFilter<'a>]) -> [Packet<'a>; 2] {
    [
        Packet::Subscribe(Subscribe::new(
            pid(3),
            filters
                .iter()
                .map(|&f| Subscription::new(f, QoS::ExactlyOnce)),
        )),
        Packet::Unsubscribe(Unsubscribe::new(pid(4), filters.iter().copied())),
    ]
}

/// The packets whose decoding allocates nothing, in both versions: acks, PINGREQ/PINGRESP,
/// CONNACK, DISCONNECT, SUBACK and UNSUBACK (up to eight codes), AUTH and CONNECT.
fn small_packets<'a>(
    v: ProtocolVersion,
    connack: &'a PropertiesBuf,
    reason: &'a PropertiesBuf,
    disconnect: &'a PropertiesBuf,
) -> Vec<Packet<'a>> {
    let v5 = v == V5;
    let pick = |p: &'a PropertiesBuf| {
        if v5 {
            p.as_properties()
        } else {
            Properties::EMPTY
        }
    };
    let ack = |r: ReasonCode| Ack {
        packet_id: pid(300),
        reason: if v5 { r } else { ReasonCode::Success },
        properties: pick(reason),
    };
    let mut packets = vec![
        Packet::PubAck(ack(ReasonCode::NoMatchingSubscribers)),
        Packet::PubRec(ack(ReasonCode::QuotaExceeded)),
        Packet::PubRel(ack(ReasonCode::PacketIdentifierNotFound)),
        Packet::PubComp(ack(ReasonCode::Success)),
        Packet::PubAck(Ack::new(pid(1))),
        Packet::PingReq,
        Packet::PingResp,
        Packet::ConnAck(ConnAck {
            session_present: true,
            reason: ReasonCode::Success,
            properties: pick(connack),
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::NotAuthorized,
            properties: Properties::EMPTY,
        }),
        Packet::Disconnect(Disconnect::NORMAL),
        Packet::Disconnect(Disconnect {
            reason: if v5 {
                ReasonCode::ServerShuttingDown
            } else {
                ReasonCode::Success
            },
            properties: pick(disconnect),
        }),
        Packet::SubAck(SubAck {
            packet_id: pid(2),
            properties: pick(reason),
            reason_codes: [
                ReasonCode::GRANTED_QOS_0,
                ReasonCode::GrantedQoS1,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError,
            ]
            .into_iter()
            .cycle()
            .take(8)
            .collect(),
        }),
        Packet::Connect(Connect {
            will: Some(Will {
                topic: TopicName::new("clients/17/status").unwrap(),
                payload: b"offline",
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: Properties::EMPTY,
            }),
            username: Some("user"),
            password: Some(b"secret"),
            ..Connect::new("client-17", false, 60)
        }),
    ];
    if v5 {
        packets.push(Packet::UnsubAck(UnsubAck {
            packet_id: pid(5),
            properties: reason.as_properties(),
            reason_codes: [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
                .into_iter()
                .collect(),
        }));
        // Authentication Method "SCRM": AUTH needs one unless it is the empty short form.
        const AUTH_PROPS: &[u8] = &[0x15, 0x00, 0x04, b'S', b'C', b'R', b'M'];
        packets.push(Packet::Auth(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties::parse(AUTH_PROPS, mqtt_sansio_proto::PropertyContext::Auth)
                .expect("valid AUTH properties"),
        }));
    } else {
        packets.push(Packet::UnsubAck(UnsubAck::new(pid(5))));
    }
    packets
}

#[test]
fn decoding_acks_connack_disconnect_and_pings_allocates_nothing() {
    let (c, r, d) = (
        connack_properties(),
        reason_properties(),
        disconnect_properties(),
    );
    for v in VERSIONS {
        for p in small_packets(v, &c, &r, &d) {
            assert_decode_allocates_nothing(&encode(&p, v), v, &p);
        }
    }
    // Reading CONNACK properties allocates nothing.
    let bytes = encode(
        &Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: c.as_properties(),
        }),
        V5,
    );
    let Some((Packet::ConnAck(ack), _)) = decode(&bytes, V5, &limits()).unwrap() else {
        panic!("not a CONNACK");
    };
    let (got, n) = allocations(|| {
        let p = ack.properties;
        (
            p.iter().count(),
            p.session_expiry_interval(),
            p.receive_maximum(),
            p.maximum_packet_size(),
            p.topic_alias_maximum(),
            p.server_keep_alive(),
            p.assigned_client_identifier(),
            p.maximum_qos(),
            p.retain_available(),
            p.reason_string(),
            p.authentication_method(),
            p.user_properties().count(),
        )
    });
    assert_eq!(n, 0);
    assert_eq!(
        got,
        (
            17,
            Some(300),
            Some(20),
            Some(1 << 20),
            Some(10),
            Some(30),
            Some("auto-4f2a"),
            Some(1),
            Some(true),
            Some("welcome"),
            Some("SCRAM-SHA-256"),
            1
        )
    );
}

#[test]
fn decode_errors_allocate_nothing() {
    let bad: [&[u8]; 8] = [
        &[0x00, 0x00],                         // packet type 0
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], // five-byte remaining length
        &[0x31, 0x04, 0x00, 0x02, b'a', b'+'], // wildcard in a topic name
        &[0x36, 0x02, 0x00, 0x00],             // QoS 3
        &[0x40, 0x02, 0x00, 0x00],             // packet id 0
        &[0x62, 0x03, 0x00, 0x01, 0x00],       // 3.1.1 PUBREL with a byte too many
        &[0xF0, 0x00],                         // AUTH in 3.1.1
        &[0x20, 0x02, 0x01, 0x05],             // session present on a refusal
    ];
    for bytes in bad {
        let (r, n) = allocations(|| decode(bytes, V311, &limits()));
        assert!(r.is_err(), "{bytes:02x?}");
        assert_eq!(n, 0, "{bytes:02x?}");
    }
    let too_big = [0x30, 0xFF, 0xFF, 0xFF, 0x7F];
    let (r, n) = allocations(|| {
        frame_len(
            &too_big,
            &mqtt_sansio_proto::Limits::with_max_packet_size(1024),
        )
    });
    assert!(r.is_err());
    assert_eq!(n, 0);
}

#[test]
fn encoding_into_reserved_vec_or_slice_allocates_nothing() {
    let (c, r, d) = (
        connack_properties(),
        reason_properties(),
        disconnect_properties(),
    );
    let pp = publish_properties();
    let filters = [
        TopicFilter::new("a/+/c").unwrap(),
        TopicFilter::new("a/#").unwrap(),
        TopicFilter::new("$share/g/x").unwrap(),
        TopicFilter::new("ü/ß").unwrap(),
        TopicFilter::new("+").unwrap(),
    ];
    let payload = vec![7u8; 2000];
    for v in VERSIONS {
        let mut packets = small_packets(v, &c, &r, &d);
        packets.extend(subscribe_packets(&filters));
        let mut publish = Publish::new(
            TopicName::new("a/b").unwrap(),
            &payload,
            QosPid::ExactlyOnce(pid(77)),
        );
        publish.dup = true;
        if v == V5 {
            publish.properties = pp.as_properties();
        }
        packets.push(Packet::Publish(publish));
        packets.push(Packet::Publish(Publish::new(
            TopicName::new("t").unwrap(),
            b"",
            QosPid::AtMostOnce,
        )));

        let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut slice = vec![0u8; 64 * 1024];
        for p in &packets {
            let expected = encode(p, v);

            let (len, n) = allocations(|| p.encoded_len(v));
            assert_eq!(n, 0, "encoded_len of {} allocated", p.packet_type());
            assert_eq!(len, Ok(expected.len()));

            out.clear();
            let (written, n) = allocations(|| p.encode(v, &mut out));
            assert_eq!(
                n,
                0,
                "encoding {} ({v:?}) into a reserved Vec allocated",
                p.packet_type()
            );
            assert_eq!(written, Ok(expected.len()));
            assert_eq!(out, expected);

            let (written, n) = allocations(|| p.encode_to_slice(v, &mut slice));
            assert_eq!(
                n,
                0,
                "encoding {} ({v:?}) into a slice allocated",
                p.packet_type()
            );
            assert_eq!(written, Ok(expected.len()));
            assert_eq!(&slice[..expected.len()], &expected[..]);
        }

        // Many packets back to back into one reused buffer.
        out.clear();
        let (total, n) = allocations(|| {
            let mut total = 0;
            for p in &packets {
                total += p.encode(v, &mut out).unwrap();
            }
            total
        });
        assert_eq!(n, 0);
        assert_eq!(total, out.len());

        // A failed encode (slice too small) allocates nothing and writes nothing.
        let mut tiny = [0u8; 1];
        let (r, n) = allocations(|| packets[0].encode_to_slice(v, &mut tiny));
        assert_eq!(n, 0);
        assert!(r.is_err());
        assert_eq!(tiny, [0]);
    }
}
