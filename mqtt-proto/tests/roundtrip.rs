//! Property-based round trips: every packet type of MQTT 3.1.1 (14) and 5.0 (15), generated
//! valid, must encode to exactly `encoded_len` bytes, decode back to an equal packet using
//! every byte, and encode identically into a slice.

mod common;

use common::{config, limits, Model, CONTEXTS, PROPERTY_IDS, V311, V5};
use mqtt_sansio_proto::{
    decode, frame_len, EncodeError, Limits, Packet, Property, ProtocolVersion,
};
use proptest::prelude::*;

/// The whole oracle for one valid packet.
fn check(model: &Model, v: ProtocolVersion) {
    let p = model.packet();

    // encoded_len == bytes written == out.len().
    let len = p
        .encoded_len(v)
        .unwrap_or_else(|e| panic!("encoded_len failed on a valid packet: {e}\n{model:#?}"));
    let mut out = Vec::new();
    let written = p.encode(v, &mut out).expect("encode");
    assert_eq!(
        written, len,
        "encode returned a length other than encoded_len"
    );
    assert_eq!(
        out.len(),
        len,
        "encode wrote a length other than encoded_len"
    );

    // The fixed header is the packet type and the remaining length.
    assert_eq!(out[0] >> 4, p.packet_type() as u8);
    assert_eq!(frame_len(&out, &limits()), Ok(Some(len)));

    // decode(encode(p)) == p, using every byte.
    let (d, used) = decode(&out, v, &limits())
        .unwrap_or_else(|e| panic!("decode failed: {e}\nbytes {out:02x?}\n{model:#?}"))
        .expect("a whole packet decodes");
    assert_eq!(used, len);
    assert_eq!(d, p);

    // The property lists read back as generated, in order.
    let decoded_props = common::packet_props(&d);
    let lists = model.prop_lists();
    assert_eq!(decoded_props.len(), lists.len());
    for (dp, owned) in decoded_props.iter().zip(lists) {
        let got: Vec<Property<'_>> = dp.iter().collect();
        let want: Vec<Property<'_>> = owned.list.iter().map(|p| p.as_property()).collect();
        assert_eq!(got, want);
        if v == V311 {
            assert!(dp.is_empty());
        }
    }

    // Re-encoding the decoded packet gives the same bytes.
    let mut again = Vec::new();
    d.encode(v, &mut again).expect("re-encode");
    assert_eq!(again, out);

    // Trailing bytes (the next packet) are left alone.
    let mut longer = out.clone();
    longer.extend_from_slice(&[0xC0, 0x00, 0xFF]);
    let (d2, used2) = decode(&longer, v, &limits())
        .expect("decode")
        .expect("whole");
    assert_eq!((d2, used2), (p.clone(), len));

    // encode appends to what is already in the Vec.
    let mut appended = vec![0xEE; 3];
    assert_eq!(p.encode(v, &mut appended), Ok(len));
    assert_eq!(&appended[..3], &[0xEE; 3]);
    assert_eq!(&appended[3..], &out[..]);

    // encode_to_slice writes identical bytes and nothing past them.
    let mut buf = vec![0xAA; len + 8];
    assert_eq!(p.encode_to_slice(v, &mut buf), Ok(len));
    assert_eq!(&buf[..len], &out[..]);
    assert!(buf[len..].iter().all(|&b| b == 0xAA));
    let mut exact = vec![0u8; len];
    assert_eq!(p.encode_to_slice(v, &mut exact), Ok(len));
    assert_eq!(exact, out);

    // One byte short: an error naming the size, and nothing written.
    let mut short = vec![0x55; len - 1];
    assert_eq!(
        p.encode_to_slice(v, &mut short),
        Err(EncodeError::BufferTooSmall { required: len })
    );
    assert!(short.iter().all(|&b| b == 0x55));

    // A maximum packet size of exactly the length accepts it; one less rejects it at the
    // header.
    let max = u32::try_from(len).expect("small packet");
    let exact_limit = Limits::with_max_packet_size(max);
    assert_eq!(
        decode(&out, v, &exact_limit).map(|r| r.map(|(_, n)| n)),
        Ok(Some(len))
    );
    let too_small = Limits::with_max_packet_size(max - 1);
    assert!(decode(&out, v, &too_small).is_err());
    assert!(frame_len(&out[..common::header_len(&out)], &too_small).is_err());
}

macro_rules! round_trip {
    ($($name:ident: $v:expr, $cases:expr => $strategy:expr;)*) => {
        $(
            proptest! {
                #![proptest_config(config($cases))]
                #[test]
                fn $name(model in $strategy) {
                    check(&model, $v);
                }
            }
        )*
    };
}

const PAYLOAD: usize = 4096;

round_trip! {
    v311_connect: V311, 1000 => common::connect(V311);
    v311_connack: V311, 1000 => common::connack(V311);
    v311_publish: V311, 2000 => common::publish(V311, PAYLOAD);
    v311_puback: V311, 1000 => common::ack(V311, mqtt_sansio_proto::PacketType::PubAck);
    v311_pubrec: V311, 1000 => common::ack(V311, mqtt_sansio_proto::PacketType::PubRec);
    v311_pubrel: V311, 1000 => common::ack(V311, mqtt_sansio_proto::PacketType::PubRel);
    v311_pubcomp: V311, 1000 => common::ack(V311, mqtt_sansio_proto::PacketType::PubComp);
    v311_subscribe: V311, 1000 => common::subscribe(V311);
    v311_suback: V311, 1000 => common::suback(V311);
    v311_unsubscribe: V311, 1000 => common::unsubscribe(V311);
    v311_unsuback: V311, 1000 => common::unsuback(V311);
    v311_pingreq: V311, 1000 => common::pingreq();
    v311_pingresp: V311, 1000 => common::pingresp();
    v311_disconnect: V311, 1000 => common::disconnect(V311);

    v5_connect: V5, 1000 => common::connect(V5);
    v5_connack: V5, 1000 => common::connack(V5);
    v5_publish: V5, 2000 => common::publish(V5, PAYLOAD);
    v5_puback: V5, 1000 => common::ack(V5, mqtt_sansio_proto::PacketType::PubAck);
    v5_pubrec: V5, 1000 => common::ack(V5, mqtt_sansio_proto::PacketType::PubRec);
    v5_pubrel: V5, 1000 => common::ack(V5, mqtt_sansio_proto::PacketType::PubRel);
    v5_pubcomp: V5, 1000 => common::ack(V5, mqtt_sansio_proto::PacketType::PubComp);
    v5_subscribe: V5, 1000 => common::subscribe(V5);
    v5_suback: V5, 1000 => common::suback(V5);
    v5_unsubscribe: V5, 1000 => common::unsubscribe(V5);
    v5_unsuback: V5, 1000 => common::unsuback(V5);
    v5_pingreq: V5, 1000 => common::pingreq();
    v5_pingresp: V5, 1000 => common::pingresp();
    v5_disconnect: V5, 1000 => common::disconnect(V5);
    v5_auth: V5, 1000 => common::auth();

    v311_any: V311, 1000 => common::any_packet(V311, PAYLOAD);
    v5_any: V5, 1000 => common::any_packet(V5, PAYLOAD);
}

/// The generators use a table written from the specification; it must agree with the codec.
#[test]
fn property_table_matches_spec() {
    for id in PROPERTY_IDS {
        let sample = sample_property(id);
        assert_eq!(sample.id(), id);
        for ctx in CONTEXTS {
            assert_eq!(
                sample.allowed_in(ctx),
                common::spec_allowed(id, ctx),
                "property {id:#04x} in {ctx:?}"
            );
        }
    }
}

fn sample_property(id: u8) -> Property<'static> {
    match id {
        0x01 => Property::PayloadFormatIndicator(1),
        0x02 => Property::MessageExpiryInterval(1),
        0x03 => Property::ContentType("t"),
        0x08 => Property::ResponseTopic("t"),
        0x09 => Property::CorrelationData(b"c"),
        0x0B => Property::SubscriptionIdentifier(1),
        0x11 => Property::SessionExpiryInterval(1),
        0x12 => Property::AssignedClientIdentifier("c"),
        0x13 => Property::ServerKeepAlive(1),
        0x15 => Property::AuthenticationMethod("m"),
        0x16 => Property::AuthenticationData(b"d"),
        0x17 => Property::RequestProblemInformation(1),
        0x18 => Property::WillDelayInterval(1),
        0x19 => Property::RequestResponseInformation(1),
        0x1A => Property::ResponseInformation("r"),
        0x1C => Property::ServerReference("s"),
        0x1F => Property::ReasonString("r"),
        0x21 => Property::ReceiveMaximum(1),
        0x22 => Property::TopicAliasMaximum(1),
        0x23 => Property::TopicAlias(1),
        0x24 => Property::MaximumQoS(1),
        0x25 => Property::RetainAvailable(1),
        0x26 => Property::UserProperty("k", "v"),
        0x27 => Property::MaximumPacketSize(1),
        0x28 => Property::WildcardSubscriptionAvailable(1),
        0x29 => Property::SubscriptionIdentifierAvailable(1),
        0x2A => Property::SharedSubscriptionAvailable(1),
        _ => unreachable!(),
    }
}

/// Every generator produces its own packet type, and the 3.1.1 set has no AUTH.
#[test]
fn every_type_is_covered() {
    for v in [V311, V5] {
        let types = common::per_type(v, 16);
        assert_eq!(types.len(), if v == V311 { 14 } else { 15 });
        for (t, s) in types {
            for m in common::sample(&s, 20, 7) {
                assert_eq!(m.packet().packet_type(), t);
            }
        }
    }
}

/// A PUBLISH whose body is large enough for a 3- and a 4-byte remaining length.
#[test]
fn large_publish_round_trips() {
    for size in [16_384 - 10, 16_384, 2_097_152] {
        for v in [V311, V5] {
            let payload = vec![0x5A; size];
            let topic = mqtt_sansio_proto::TopicName::new("big/ü").unwrap();
            let p = Packet::Publish(mqtt_sansio_proto::Publish::new(
                topic,
                &payload,
                mqtt_sansio_proto::QosPid::AtMostOnce,
            ));
            let mut out = Vec::new();
            let len = p.encode(v, &mut out).unwrap();
            assert_eq!(p.encoded_len(v), Ok(len));
            let (d, used) = decode(&out, v, &limits()).unwrap().unwrap();
            assert_eq!((d, used), (p.clone(), len));
            let mut slice = vec![0; len];
            assert_eq!(p.encode_to_slice(v, &mut slice), Ok(len));
            assert_eq!(slice, out);
        }
    }
}

/// The generators reach the corners the round trips are meant to cover.
#[test]
fn generators_reach_edge_cases() {
    let publishes = common::sample(&common::publish(V5, PAYLOAD), 2000, 11);
    let count = |f: &dyn Fn(&Model) -> bool| publishes.iter().filter(|m| f(m)).count();
    let publish = |m: &Model| match m {
        Model::Publish {
            dup,
            topic,
            props,
            payload,
            ..
        } => (*dup, topic.clone(), props.list.clone(), payload.len()),
        _ => unreachable!(),
    };
    assert!(count(&|m| publish(m).1.is_empty()) > 10, "empty topics");
    assert!(
        count(&|m| !publish(m).1.is_ascii()) > 100,
        "multi-byte topics"
    );
    assert!(count(&|m| publish(m).0) > 100, "DUP");
    assert!(count(&|m| publish(m).3 > 1024) > 100, "payloads over 1 KB");
    assert!(
        count(&|m| publish(m)
            .2
            .iter()
            .filter(|p| matches!(p, common::OProp::SubscriptionIdentifier(_)))
            .count()
            >= 2)
            > 50,
        "repeated subscription identifiers"
    );
    assert!(
        count(&|m| publish(m).2.len() >= 4) > 100,
        "long property lists"
    );

    let subscribes = common::sample(&common::subscribe(V5), 1000, 12);
    let filters: Vec<String> = subscribes
        .iter()
        .flat_map(|m| match m {
            Model::Subscribe { subs, .. } => {
                subs.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>()
            }
            _ => unreachable!(),
        })
        .collect();
    assert!(filters.iter().filter(|f| f.starts_with("$share/")).count() > 100);
    assert!(filters.iter().filter(|f| f.ends_with('#')).count() > 100);
    assert!(filters.iter().filter(|f| f.contains('+')).count() > 100);
    assert!(subscribes
        .iter()
        .any(|m| matches!(m, Model::Subscribe { subs, .. } if subs.len() > 4)));

    let connects = common::sample(&common::connect(V5), 1000, 13);
    assert!(connects.iter().any(|m| matches!(
        m,
        Model::Connect { will: Some(w), password: Some(_), .. } if !w.props.list.is_empty()
    )));
}
