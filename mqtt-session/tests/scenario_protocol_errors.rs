//! Scenario tests of a broker that breaks the protocol: malformed bytes and rule violations
//! close the session with `Disconnected { Protocol(e) }` naming the rule, 5.0 queues a
//! DISCONNECT with the matching reason code, later input is ignored, and nothing
//! unacknowledged is lost.
mod support;

use mqtt_sansio_proto::{
    rules, Ack, ConnAck, Packet, Properties, PropertiesBuf, Property, ProtocolVersion, Publish,
    QoS, QosPid, ReasonCode, Rule, SubAck, Subscription, TopicFilter, TopicName, UnsubAck,
};
use mqtt_sansio_session::{DisconnectReason, Event, ProtocolError, SessionConfig, SessionState};
use support::{encode, pid, Direct, Pair};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

/// A connected Direct session of version `v`, with CONNECT/CONNACK drained.
fn connected(v: ProtocolVersion) -> Direct {
    let mut d = Direct::new(SessionConfig::new("perr", false, v));
    d.connect(30, false);
    d.take_sent();
    d.take_events();
    d
}

/// Asserts that the last input ended the connection with one protocol error; checks the
/// 5.0 DISCONNECT (and that 3.1.1 sends nothing) and returns the error.
fn expect_protocol_error(d: &mut Direct) -> ProtocolError {
    let events = d.take_events();
    let Some(Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    }) = events.last().cloned()
    else {
        panic!("expected a protocol error, got {events:?}")
    };
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Disconnected { .. }))
            .count(),
        1
    );
    assert_eq!(d.session.state(), SessionState::Disconnected);
    assert_eq!(d.session.poll_timeout(), None);
    let sent = d.take_sent();
    match d.version() {
        ProtocolVersion::V5 => assert_eq!(sent, vec![vec![0xE0, 0x01, e.reason_code.as_u8()]]),
        ProtocolVersion::V311 => assert!(sent.is_empty(), "{sent:?}"),
    }
    assert!(
        e.to_string().contains(&e.rule.to_string()),
        "Display names the rule: {e}"
    );
    e
}

#[test]
fn malformed_bytes_close_the_session_naming_the_rule() {
    // SPEC "Bad input": malformed packets end in a typed protocol error naming the rule;
    // 5.0 §4.13: DISCONNECT 0x81 (Malformed Packet) or 0x82 (Protocol Error).
    let cases: Vec<(&str, Vec<u8>, Rule, ReasonCode)> = vec![
        (
            "reserved packet type 0",
            vec![0x00, 0x00],
            rules::PACKET_TYPE_RESERVED,
            ReasonCode::MalformedPacket,
        ),
        (
            "PUBREL with flags 0",
            vec![0x60, 0x02, 0x00, 0x01],
            rules::FIXED_HEADER_FLAGS,
            ReasonCode::MalformedPacket,
        ),
        (
            "PUBLISH with QoS 3",
            vec![0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01],
            rules::PUBLISH_QOS_INVALID,
            ReasonCode::MalformedPacket,
        ),
        // A QoS 0 PUBLISH with DUP is no longer here: SPEC.md "On the wire" now says it is
        // accepted (DUP ignored); see tests/scenario_lenient_receiver.rs.
        (
            "PINGRESP with a body",
            vec![0xD0, 0x01, 0x00],
            rules::PACKET_LENGTH,
            ReasonCode::MalformedPacket,
        ),
        (
            "five-byte remaining length",
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            rules::REMAINING_LENGTH_TOO_LONG,
            ReasonCode::MalformedPacket,
        ),
        (
            "PUBACK with packet id 0",
            vec![0x40, 0x02, 0x00, 0x00],
            rules::PACKET_ID_NON_ZERO,
            ReasonCode::MalformedPacket,
        ),
    ];
    for v in VERSIONS {
        for (what, bytes, rule, reason) in &cases {
            let mut d = connected(v);
            d.feed(bytes);
            let e = expect_protocol_error(&mut d);
            assert_eq!(e.rule, *rule, "{what} ({v:?}): {e}");
            assert_eq!(e.reason_code, *reason, "{what} ({v:?})");
        }
    }
}

#[test]
fn publish_with_a_wildcard_topic_is_a_protocol_error() {
    // [MQTT-3.3.2-2]: the topic name of a PUBLISH contains no wildcards.
    for v in VERSIONS {
        let mut d = connected(v);
        let mut bytes = vec![0x30, 0x05, 0x00, 0x03, b'a', b'/', b'+'];
        if v == ProtocolVersion::V5 {
            bytes = vec![0x30, 0x06, 0x00, 0x03, b'a', b'/', b'+', 0x00];
        }
        d.feed(&bytes);
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule, rules::TOPIC_NAME_WILDCARD);
        assert!(!d.events.iter().any(|e| matches!(e, Event::Message(_))));
    }
}

#[test]
fn packet_before_connack_is_a_protocol_error() {
    // [MQTT-3.2.0-1]: the first packet from the server is CONNACK.
    for v in VERSIONS {
        let mut d = Direct::new(SessionConfig::new("early", true, v));
        d.start(30);
        d.feed(&[0xD0, 0x00]);
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule.to_string(), "MQTT-3.2.0-1");
        assert_eq!(e.reason_code, ReasonCode::ProtocolError);
        assert!(!d
            .events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. } | Event::PingResp)));
    }
}

#[test]
fn packet_before_connack_through_the_sim_broker() {
    // [MQTT-3.2.0-1], seen by a Session driven over the simulated network.
    let mut pair = Pair::v5("early", true);
    pair.broker.script.silent_on_connect = true;
    pair.connect(30);
    let publish = Publish::new(TopicName::new("t").unwrap(), b"x", QosPid::AtMostOnce);
    pair.broker.send_packet(Packet::Publish(publish));
    pair.drive();
    let Some((
        _,
        Event::Disconnected {
            reason: DisconnectReason::Protocol(e),
            ..
        },
    )) = pair.events.last()
    else {
        panic!("{:?}", pair.events)
    };
    assert_eq!(e.rule.v5(), Some("MQTT-3.2.0-1"));
    assert_eq!(
        pair.client_sent.last().map(|s| s.1.clone()),
        Some(vec![0xE0, 0x01, 0x82])
    );
    assert!(pair.client_messages().is_empty());
}

#[test]
fn second_connack_is_a_protocol_error() {
    // [MQTT-3.2.0-2] (5.0): the server sends one CONNACK per network connection (3.1.1 §3.2).
    for v in VERSIONS {
        let mut d = connected(v);
        d.feed_packet(Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }));
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule.v5(), Some("MQTT-3.2.0-2"));
        assert_eq!(e.rule.v311(), Some("3.1.1 §3.2"));
    }
}

#[test]
fn session_present_on_a_clean_session_is_a_protocol_error() {
    // [MQTT-3.2.2-1] (3.1.1) / [MQTT-3.2.2-2] (5.0): a clean session gets Session Present 0.
    for v in VERSIONS {
        let mut d = Direct::new(SessionConfig::new("clean", true, v));
        d.start(30);
        d.feed_packet(Packet::ConnAck(ConnAck {
            session_present: true,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }));
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule.v311(), Some("MQTT-3.2.2-1"));
        assert_eq!(e.rule.v5(), Some("MQTT-3.2.2-2"));
        assert!(!d
            .events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. })));
    }
}

#[test]
fn ack_of_the_wrong_kind_is_a_protocol_error() {
    // 3.1.1 §4.3 / 5.0 §4.3: PUBACK belongs to QoS 1, PUBREC/PUBCOMP to QoS 2.
    for v in VERSIONS {
        // PUBACK for a QoS 2 message.
        let mut d = connected(v);
        let id = d.publish("t", b"x", QoS::ExactlyOnce).unwrap();
        d.take_sent();
        d.feed_packet(Packet::PubAck(Ack::new(id)));
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule.v5(), Some("5.0 §4.3"));
        assert_eq!(e.rule.v311(), Some("3.1.1 §4.3"));
        assert_eq!(d.session.inflight_len(), 1, "the message is kept");

        // PUBREC for a QoS 1 message.
        let mut d = connected(v);
        let id = d.publish("t", b"x", QoS::AtLeastOnce).unwrap();
        d.take_sent();
        d.feed_packet(Packet::PubRec(Ack::new(id)));
        expect_protocol_error(&mut d);

        // PUBCOMP before PUBREC.
        let mut d = connected(v);
        let id = d.publish("t", b"x", QoS::ExactlyOnce).unwrap();
        d.take_sent();
        d.feed_packet(Packet::PubComp(Ack::new(id)));
        expect_protocol_error(&mut d);
    }
}

#[test]
fn client_only_packets_from_the_server_are_protocol_errors() {
    // 3.1.1 §2.2.1 / 5.0 §2.1.2: CONNECT, SUBSCRIBE, UNSUBSCRIBE and PINGREQ flow only from
    // client to server.
    for v in VERSIONS {
        let subscribe = mqtt_sansio_proto::Subscribe::new(
            pid(1),
            [Subscription::new(
                TopicFilter::new("a").unwrap(),
                QoS::AtMostOnce,
            )],
        );
        let packets = vec![
            encode(Packet::PingReq, v),
            encode(
                Packet::Connect(mqtt_sansio_proto::Connect::new("x", true, 0)),
                v,
            ),
            encode(Packet::Subscribe(subscribe), v),
            encode(
                Packet::Unsubscribe(mqtt_sansio_proto::Unsubscribe::new(
                    pid(1),
                    [TopicFilter::new("a").unwrap()],
                )),
                v,
            ),
        ];
        for bytes in packets {
            let mut d = connected(v);
            d.feed(&bytes);
            let e = expect_protocol_error(&mut d);
            assert_eq!(e.reason_code, ReasonCode::ProtocolError, "{e}");
        }
    }
}

#[test]
fn suback_with_a_different_number_of_codes_is_a_protocol_error() {
    // [MQTT-3.9.3-1]: one return code per topic filter of the SUBSCRIBE.
    for v in VERSIONS {
        let mut d = connected(v);
        let subs = [
            Subscription::new(TopicFilter::new("a").unwrap(), QoS::AtMostOnce),
            Subscription::new(TopicFilter::new("b").unwrap(), QoS::AtMostOnce),
        ];
        let id = d.session.subscribe(d.now, &subs).unwrap();
        d.take_sent();
        d.feed_packet(Packet::SubAck(SubAck {
            packet_id: id,
            properties: Properties::EMPTY,
            reason_codes: [ReasonCode::GRANTED_QOS_0].into_iter().collect(),
        }));
        let e = expect_protocol_error(&mut d);
        assert_eq!(e.rule.to_string(), "MQTT-3.9.3-1");
        assert!(
            d.session.is_packet_id_in_use(id),
            "the request is kept for the next connection"
        );
    }
}

#[test]
fn unsuback_for_a_subscribe_is_a_protocol_error() {
    // 3.1.1 §4.3 / 5.0 §4.3 (acknowledgement of another packet type).
    let mut d = connected(ProtocolVersion::V311);
    let sub = Subscription::new(TopicFilter::new("a").unwrap(), QoS::AtMostOnce);
    let id = d.session.subscribe(d.now, &[sub]).unwrap();
    d.take_sent();
    d.feed_packet(Packet::UnsubAck(UnsubAck::new(id)));
    expect_protocol_error(&mut d);
}

#[test]
fn v5_unexpected_auth_is_a_protocol_error() {
    // [MQTT-4.12.0-6] (5.0): no AUTH unless the client asked for enhanced authentication.
    let mut d = connected(ProtocolVersion::V5);
    d.feed(&[0xF0, 0x00]);
    let e = expect_protocol_error(&mut d);
    assert_eq!(e.rule.v5(), Some("MQTT-4.12.0-6"));
    // In 3.1.1 packet type 15 is reserved: malformed.
    let mut d = connected(ProtocolVersion::V311);
    d.feed(&[0xF0, 0x00]);
    assert_eq!(
        expect_protocol_error(&mut d).rule,
        rules::PACKET_TYPE_RESERVED
    );
}

#[test]
fn v5_topic_alias_errors_close_with_0x94() {
    // [MQTT-3.3.2-9]/[MQTT-3.3.2-10] (5.0): a topic alias above our Topic Alias Maximum, or
    // used before it was set, is a protocol error: DISCONNECT 0x94.
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAlias(1)).unwrap();
    // Our maximum is 0 (the default): any alias is too high.
    let mut d = connected(ProtocolVersion::V5);
    let mut p = Publish::new(TopicName::new("t").unwrap(), b"x", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    d.feed_packet(Packet::Publish(p));
    assert_eq!(
        expect_protocol_error(&mut d).reason_code,
        ReasonCode::TopicAliasInvalid
    );

    // With a maximum of 5: an empty topic with an alias never set.
    let mut c = SessionConfig::new("alias", false, ProtocolVersion::V5);
    c.topic_alias_maximum = 5;
    let mut d = Direct::new(c);
    d.connect(30, false);
    d.take_sent();
    d.take_events();
    let mut p = Publish::new(TopicName::EMPTY, b"x", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    d.feed_packet(Packet::Publish(p));
    assert_eq!(
        expect_protocol_error(&mut d).reason_code,
        ReasonCode::TopicAliasInvalid
    );
}

#[test]
fn v5_topic_aliases_set_by_the_broker_are_resolved() {
    // 5.0 §3.3.2.3.4: a PUBLISH with topic and alias sets it; a later empty topic uses it.
    let mut c = SessionConfig::new("alias", false, ProtocolVersion::V5);
    c.topic_alias_maximum = 5;
    let mut d = Direct::new(c);
    d.connect(30, false);
    d.take_events();
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAlias(3)).unwrap();
    let mut p = Publish::new(
        TopicName::new("long/topic").unwrap(),
        b"1",
        QosPid::AtMostOnce,
    );
    p.properties = props.as_properties();
    d.feed_packet(Packet::Publish(p));
    let mut p = Publish::new(TopicName::EMPTY, b"2", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    d.feed_packet(Packet::Publish(p));
    let topics: Vec<String> = d
        .take_events()
        .iter()
        .filter_map(|e| e.message())
        .map(|m| m.topic().to_string())
        .collect();
    assert_eq!(topics, vec!["long/topic", "long/topic"]);
}

#[test]
fn input_after_a_protocol_error_is_ignored() {
    // DESIGN §4 / pitfall 11: after a protocol error the Session stays closed; bytes in the
    // same read after the bad packet and any later input are ignored until the next connect.
    for v in VERSIONS {
        let mut d = connected(v);
        let good = encode(
            Packet::Publish(Publish::new(
                TopicName::new("ok").unwrap(),
                b"1",
                QosPid::AtMostOnce,
            )),
            v,
        );
        let mut bytes = good.clone();
        bytes.extend_from_slice(&[0x00, 0x00]); // reserved type
        bytes.extend_from_slice(&good);
        d.feed(&bytes);
        expect_protocol_error(&mut d);
        let delivered = d
            .events
            .iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
        assert_eq!(
            delivered, 1,
            "the packet before the error counts, the one after does not"
        );
        d.feed(&good);
        d.feed(&encode(Packet::PubRel(Ack::new(pid(1))), v));
        d.at(1_000_000).timeout();
        assert!(d.take_events().is_empty());
        assert!(d.take_sent().is_empty());
        assert_eq!(d.session.pending_read_bytes(), 0);
        assert_eq!(d.session.state(), SessionState::Disconnected);
    }
}

#[test]
fn nothing_unacknowledged_is_lost_after_a_protocol_error() {
    // SPEC "Bad input": the connection closes and nothing acknowledged is lost; the next
    // connection re-sends [MQTT-4.4.0-1] and pending incoming QoS 2 ids are kept.
    for v in VERSIONS {
        let mut pair = Pair::new(SessionConfig::new("keep", false, v));
        pair.connect(0);
        pair.broker.script.withhold_pub_acks = true;
        let a = pair
            .client
            .publish(pair.now, "a", b"1", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        let b = pair
            .client
            .publish(pair.now, "b", b"2", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        pair.broker.deliver("in", b"x", QoS::ExactlyOnce);
        pair.drive_until(|p| p.has_event(|e| matches!(e, Event::Qos2Received { .. })));
        // The broker's next bytes are garbage.
        pair.broker.send_raw(&[0x00, 0x00]);
        pair.drive();
        assert!(pair.has_event(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Protocol(_),
                ..
            }
        )));
        assert_eq!(pair.client.inflight_len(), 2);
        assert_eq!(pair.client.pending_incoming_qos2(), 1);
        pair.broker.script.withhold_pub_acks = false;
        let mark = pair.client_sent.len();
        pair.reconnect(0);
        let sent = pair.sent_since(mark);
        let mut resent_a = Publish::new(TopicName::new("a").unwrap(), b"1", QosPid::AtLeastOnce(a));
        resent_a.dup = true;
        assert_eq!(sent[1], encode(Packet::Publish(resent_a), v));
        assert!(
            sent.iter().any(|p| p[0] == 0x3C),
            "QoS 2 PUBLISH re-sent with DUP"
        );
        assert_eq!(pair.client.inflight_len(), 0);
        assert!(pair.has_event(|e| *e
            == Event::PubComp {
                id: b,
                reason: ReasonCode::Success,
                properties: Default::default()
            }));
        assert_eq!(
            pair.client_messages(),
            vec![("in".to_string(), b"x".to_vec(), QoS::ExactlyOnce)]
        );
        assert_eq!(
            pair.broker
                .accepted
                .iter()
                .filter(|m| m.topic == "b")
                .count(),
            1
        );
    }
}
