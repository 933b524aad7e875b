//! Scenario tests of the QoS 0/1/2 flows in both directions, on one connection: exact bytes,
//! exact events, 5.0 reason codes on acknowledgements, duplicates and unknown identifiers.
mod support;

use mqtt_sansio_proto::{
    Ack, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    Subscription, TopicFilter, TopicName,
};
use mqtt_sansio_session::{Event, Instant, Message};
use support::{encode, pid, Direct, Pair};

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn publish_bytes(
    v: ProtocolVersion,
    topic: &str,
    payload: &[u8],
    qos: QosPid,
    dup: bool,
) -> Vec<u8> {
    let mut p = Publish::new(TopicName::new(topic).unwrap(), payload, qos);
    p.dup = dup;
    encode(Packet::Publish(p), v)
}

fn ack_with(packet_id: u16, reason: ReasonCode) -> Ack<'static> {
    Ack {
        packet_id: pid(packet_id),
        reason,
        properties: Properties::EMPTY,
    }
}

fn message(topic: &str, payload: &[u8], qos: QoS, id: Option<u16>, dup: bool) -> Message {
    let mut m = Message::new(topic, payload, qos, false).unwrap();
    m.packet_id = id.and_then(PacketId::new);
    m.dup = dup;
    m
}

// ------------------------------------------------------------------ outgoing

#[test]
fn qos0_publish_goes_out_once_with_no_packet_id() {
    // [MQTT-4.3.1-1]: QoS 0 is sent once, DUP 0, no packet identifier [MQTT-2.3.1-5].
    let mut pair = Pair::v311("q0", true);
    pair.connect(30);
    let id = pair
        .client
        .publish(pair.now, "t/a", b"hi", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(id, None);
    pair.drive();
    assert_eq!(
        pair.client_sent_of(3),
        vec![(
            at(20),
            vec![0x30, 0x07, 0x00, 0x03, b't', b'/', b'a', b'h', b'i']
        )]
    );
    assert_eq!(pair.client.inflight_len(), 0);
    assert_eq!(
        pair.all_events(),
        vec![Event::Connected {
            session_present: false,
            properties: Default::default()
        }]
    );
    assert_eq!(pair.broker.accepted.len(), 1);
}

#[test]
fn qos0_retain_flag_is_sent() {
    // [MQTT-3.3.1-5]: RETAIN is bit 0 of the fixed header.
    let mut d = Direct::v311("r", true);
    d.connect(0, false);
    d.take_sent();
    d.session
        .publish(d.now, "t", b"", QoS::AtMostOnce, true)
        .unwrap();
    assert_eq!(d.take_sent(), vec![vec![0x31, 0x03, 0x00, 0x01, b't']]);
}

#[test]
fn qos1_publish_completes_on_puback() {
    // [MQTT-4.3.2-1]: QoS 1 PUBLISH with a new packet id, DUP 0, kept until PUBACK.
    for mut pair in [Pair::v311("q1", true), Pair::v5("q1", true)] {
        let v = pair.client.config().version;
        pair.connect(30);
        let id = pair
            .client
            .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        assert_eq!(id.get(), 1);
        assert_eq!(pair.client.inflight_len(), 1);
        assert!(pair.client.is_packet_id_in_use(id));
        pair.drive();
        assert_eq!(
            pair.client_sent_of(3),
            vec![(
                at(20),
                publish_bytes(v, "t", b"x", QosPid::AtLeastOnce(id), false)
            )]
        );
        assert_eq!(pair.client_sent_of(3)[0].1[0], 0x32);
        assert_eq!(
            pair.events.last(),
            Some(&(
                at(40),
                Event::PubAck {
                    id,
                    reason: ReasonCode::Success,
                    properties: Default::default()
                }
            ))
        );
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.client.packet_ids_in_use(), 0);
    }
}

#[test]
fn qos2_publish_runs_publish_pubrec_pubrel_pubcomp() {
    // [MQTT-4.3.3-1]: PUBLISH (new id, DUP 0) -> PUBREC -> PUBREL -> PUBCOMP.
    for mut pair in [Pair::v311("q2", true), Pair::v5("q2", true)] {
        let v = pair.client.config().version;
        pair.connect(30);
        let id = pair
            .client
            .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        let sent: Vec<(Instant, Vec<u8>)> = pair.client_sent[1..].to_vec();
        assert_eq!(
            sent,
            vec![
                (
                    at(20),
                    publish_bytes(v, "t", b"x", QosPid::ExactlyOnce(id), false)
                ),
                (at(40), vec![0x62, 0x02, 0x00, 0x01]),
            ]
        );
        assert_eq!(sent[0].1[0], 0x34);
        assert_eq!(
            pair.events[1..].to_vec(),
            vec![
                (
                    at(40),
                    Event::PubRec {
                        id,
                        reason: ReasonCode::Success,
                        properties: Default::default()
                    }
                ),
                (
                    at(60),
                    Event::PubComp {
                        id,
                        reason: ReasonCode::Success,
                        properties: Default::default()
                    }
                ),
            ]
        );
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.client.packet_ids_in_use(), 0);
        assert_eq!(pair.broker.accepted.len(), 1);
    }
}

#[test]
fn acks_out_of_order_complete_the_right_messages() {
    // [MQTT-4.3.2-1]/[MQTT-4.3.3-1]: each ack completes the message with its packet id.
    let mut d = Direct::v311("ooo", true);
    d.connect(0, false);
    let ids: Vec<PacketId> = (0..3)
        .map(|_| d.publish("t", b"x", QoS::AtLeastOnce).unwrap())
        .collect();
    d.take_events();
    for i in [1, 2, 0] {
        d.feed_packet(Packet::PubAck(Ack::new(ids[i])));
    }
    assert_eq!(
        d.take_events(),
        [1, 2, 0]
            .iter()
            .map(|&i| Event::PubAck {
                id: ids[i],
                reason: ReasonCode::Success,
                properties: Default::default()
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(d.session.inflight_len(), 0);
}

#[test]
fn ack_for_an_unknown_packet_id_is_ignored() {
    // 3.1.1 §4.3 / 5.0 §4.3: an ack for no message in flight (e.g. a late duplicate) changes
    // nothing and is not an error.
    let mut d = Direct::v311("unk", true);
    d.connect(0, false);
    let id = d.publish("t", b"x", QoS::AtLeastOnce).unwrap();
    d.take_sent();
    d.take_events();
    d.feed_packet(Packet::PubAck(Ack::new(pid(77))));
    d.feed_packet(Packet::PubComp(Ack::new(pid(78))));
    assert!(d.take_events().is_empty());
    assert!(d.take_sent().is_empty());
    assert!(d.session.is_connected());
    assert_eq!(d.session.inflight_len(), 1);
    d.feed_packet(Packet::PubAck(Ack::new(id)));
    // A second PUBACK for a completed message is ignored too.
    d.feed_packet(Packet::PubAck(Ack::new(id)));
    assert_eq!(
        d.take_events(),
        vec![Event::PubAck {
            id,
            reason: ReasonCode::Success,
            properties: Default::default()
        }]
    );
}

#[test]
fn pubrec_for_an_unknown_id_is_answered_with_pubrel() {
    // [MQTT-4.3.3-1]: PUBREC is answered with PUBREL; 5.0 §3.6.2.1: 0x92 when the id is unknown.
    let mut d = Direct::v311("unk", true);
    d.connect(0, false);
    d.take_sent();
    d.feed_packet(Packet::PubRec(Ack::new(pid(300))));
    assert_eq!(d.take_sent(), vec![vec![0x62, 0x02, 0x01, 0x2C]]);
    assert!(d.session.is_connected());

    let mut d = Direct::v5("unk", true);
    d.connect(0, false);
    d.take_sent();
    d.feed_packet(Packet::PubRec(Ack::new(pid(300))));
    assert_eq!(d.take_sent(), vec![vec![0x62, 0x03, 0x01, 0x2C, 0x92]]);
    assert!(d
        .take_events()
        .iter()
        .all(|e| !matches!(e, Event::PubRec { .. })));
}

#[test]
fn duplicate_pubrec_is_answered_with_pubrel_again() {
    // [MQTT-4.3.3-1]: the sender answers every PUBREC for the id with PUBREL (never PUBLISH).
    let mut d = Direct::v311("dup", true);
    d.connect(0, false);
    let id = d.publish("t", b"x", QoS::ExactlyOnce).unwrap();
    d.take_sent();
    d.feed_packet(Packet::PubRec(Ack::new(id)));
    d.feed_packet(Packet::PubRec(Ack::new(id)));
    assert_eq!(
        d.take_sent(),
        vec![vec![0x62, 0x02, 0x00, 0x01], vec![0x62, 0x02, 0x00, 0x01]]
    );
    let events = d.take_events();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::PubRec { .. }))
            .count(),
        1,
        "{events:?}"
    );
    d.feed_packet(Packet::PubComp(Ack::new(id)));
    assert_eq!(
        d.take_events(),
        vec![Event::PubComp {
            id,
            reason: ReasonCode::Success,
            properties: Default::default()
        }]
    );
}

#[test]
fn v5_puback_reason_codes_are_surfaced_and_complete_the_message() {
    // 5.0 §3.4.2.1: PUBACK 0x10 (No matching subscribers) and failures both end QoS 1.
    for reason in [
        ReasonCode::NoMatchingSubscribers,
        ReasonCode::NotAuthorized,
        ReasonCode::QuotaExceeded,
    ] {
        let mut pair = Pair::v5("rc", true);
        pair.broker.script.withhold_pub_acks = true;
        pair.connect(30);
        let id = pair
            .client
            .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        pair.broker
            .send_packet(Packet::PubAck(ack_with(id.get(), reason)));
        pair.drive();
        assert_eq!(
            pair.events.last().map(|e| &e.1),
            Some(&Event::PubAck {
                id,
                reason,
                properties: Default::default()
            })
        );
        assert_eq!(pair.client.inflight_len(), 0);
        assert!(!pair.client.is_packet_id_in_use(id));
    }
}

#[test]
fn v5_pubrec_with_an_error_code_ends_the_qos2_flow() {
    // 5.0 §4.3.3: a PUBREC with a reason code of 0x80 or more ends the flow: no PUBREL.
    let mut pair = Pair::v5("rc", true);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(30);
    let id = pair
        .client
        .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.broker.send_packet(Packet::PubRec(ack_with(
        id.get(),
        ReasonCode::UnspecifiedError,
    )));
    pair.drive();
    assert_eq!(
        pair.events.last().map(|e| &e.1),
        Some(&Event::PubRec {
            id,
            reason: ReasonCode::UnspecifiedError,
            properties: Default::default()
        })
    );
    assert!(
        pair.client_sent_of(6).is_empty(),
        "no PUBREL after a failing PUBREC"
    );
    assert_eq!(pair.client.inflight_len(), 0);
    assert!(!pair.client.is_packet_id_in_use(id));
    // The id is free again and the session carries on.
    assert!(pair.client.is_connected());
}

#[test]
fn v5_pubrec_with_a_success_code_continues_with_pubrel() {
    // 5.0 §3.5.2.1: 0x10 is a success code; the flow continues with PUBREL.
    let mut pair = Pair::v5("rc", true);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(30);
    let id = pair
        .client
        .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.broker.send_packet(Packet::PubRec(ack_with(
        id.get(),
        ReasonCode::NoMatchingSubscribers,
    )));
    pair.drive();
    assert_eq!(pair.client_sent_of(6).len(), 1);
    assert_eq!(pair.client_sent_of(6)[0].1, vec![0x62, 0x02, 0x00, 0x01]);
    let events = pair.all_events();
    assert!(events.contains(&Event::PubRec {
        id,
        reason: ReasonCode::NoMatchingSubscribers,
        properties: Default::default()
    }));
    assert!(events.contains(&Event::PubComp {
        id,
        reason: ReasonCode::Success,
        properties: Default::default()
    }));
    assert_eq!(pair.client.inflight_len(), 0);
}

// ------------------------------------------------------------------ incoming

#[test]
fn incoming_qos0_is_delivered_without_an_answer() {
    // [MQTT-4.3.1-1]: QoS 0 has no acknowledgement.
    let mut pair = Pair::v311("in0", true);
    pair.connect(30);
    pair.broker.deliver("a/b", b"zero", QoS::AtMostOnce);
    pair.drive();
    assert_eq!(
        pair.events.last(),
        Some(&(
            at(30),
            Event::Message(message("a/b", b"zero", QoS::AtMostOnce, None, false))
        ))
    );
    assert_eq!(pair.client_sent.len(), 1, "only CONNECT");
}

#[test]
fn incoming_qos1_is_delivered_then_acknowledged() {
    // [MQTT-4.3.2-2]: PUBACK with the packet id of the PUBLISH.
    for mut pair in [Pair::v311("in1", true), Pair::v5("in1", true)] {
        pair.connect(30);
        pair.broker.deliver("a/b", b"one", QoS::AtLeastOnce);
        pair.drive();
        assert_eq!(
            pair.events.last(),
            Some(&(
                at(30),
                Event::Message(message("a/b", b"one", QoS::AtLeastOnce, Some(1), false))
            ))
        );
        assert_eq!(
            pair.client_sent_of(4),
            vec![(at(30), vec![0x40, 0x02, 0x00, 0x01])]
        );
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

#[test]
fn incoming_qos2_is_stored_on_publish_and_delivered_once_on_pubrel() {
    // [MQTT-4.3.3-2] (Method A of 3.1.1 Figure 4.3): PUBREC, keep the id, deliver on PUBREL,
    // answer PUBCOMP.
    for mut pair in [Pair::v311("in2", true), Pair::v5("in2", true)] {
        pair.connect(30);
        pair.broker.deliver("a/b", b"two", QoS::ExactlyOnce);
        pair.drive();
        assert_eq!(
            pair.events[1..].to_vec(),
            vec![
                (at(30), Event::Qos2Received { id: pid(1) }),
                (
                    at(50),
                    Event::MessageReleased(message(
                        "a/b",
                        b"two",
                        QoS::ExactlyOnce,
                        Some(1),
                        false
                    ))
                ),
            ]
        );
        assert_eq!(
            pair.client_sent[1..].to_vec(),
            vec![
                (at(30), vec![0x50, 0x02, 0x00, 0x01]),
                (at(50), vec![0x70, 0x02, 0x00, 0x01])
            ]
        );
        assert_eq!(pair.client.pending_incoming_qos2(), 0);
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

#[test]
fn duplicate_incoming_qos2_only_gets_pubrec_again_and_is_stored_once() {
    // [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-9] (5.0): until PUBREL, a PUBLISH with the same id
    // is acknowledged with PUBREC and not delivered again.
    for mut d in [Direct::v311("dup2", false), Direct::v5("dup2", false)] {
        let v = d.version();
        d.connect(0, false);
        d.take_sent();
        d.take_events();
        d.feed(&publish_bytes(
            v,
            "t",
            b"first",
            QosPid::ExactlyOnce(pid(5)),
            false,
        ));
        d.feed(&publish_bytes(
            v,
            "t",
            b"first",
            QosPid::ExactlyOnce(pid(5)),
            true,
        ));
        d.feed(&publish_bytes(
            v,
            "t",
            b"first",
            QosPid::ExactlyOnce(pid(5)),
            true,
        ));
        assert_eq!(d.take_sent(), vec![vec![0x50, 0x02, 0x00, 0x05]; 3]);
        assert_eq!(d.take_events(), vec![Event::Qos2Received { id: pid(5) }]);
        assert_eq!(d.session.pending_incoming_qos2(), 1);
        d.feed_packet(Packet::PubRel(Ack::new(pid(5))));
        assert_eq!(
            d.take_events(),
            vec![Event::MessageReleased(message(
                "t",
                b"first",
                QoS::ExactlyOnce,
                Some(5),
                false
            ))]
        );
        assert_eq!(d.take_sent(), vec![vec![0x70, 0x02, 0x00, 0x05]]);
        assert_eq!(d.session.pending_incoming_qos2(), 0);
        // After the release the id is free: a new PUBLISH with it is a new message.
        d.feed(&publish_bytes(
            v,
            "t",
            b"second",
            QosPid::ExactlyOnce(pid(5)),
            false,
        ));
        assert_eq!(d.take_events(), vec![Event::Qos2Received { id: pid(5) }]);
    }
}

#[test]
fn unknown_pubrel_still_gets_pubcomp() {
    // [MQTT-4.3.3-2] (3.1.1): PUBREL is always answered with PUBCOMP; 5.0 §3.7.2.1: with
    // 0x92 (Packet Identifier not found) when the id is unknown.
    let mut d = Direct::v311("rel", true);
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    d.feed_packet(Packet::PubRel(Ack::new(pid(42))));
    assert_eq!(d.take_sent(), vec![vec![0x70, 0x02, 0x00, 0x2A]]);
    assert!(d.take_events().is_empty(), "nothing is delivered");
    assert!(d.session.is_connected());

    let mut d = Direct::v5("rel", true);
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    d.feed_packet(Packet::PubRel(Ack::new(pid(42))));
    assert_eq!(d.take_sent(), vec![vec![0x70, 0x03, 0x00, 0x2A, 0x92]]);
    assert!(d.take_events().is_empty());
    assert!(d.session.is_connected());
}

#[test]
fn incoming_qos1_duplicate_is_delivered_again() {
    // [MQTT-4.3.2-2]: QoS 1 is at least once; a DUP PUBLISH is a new delivery and acked.
    let mut d = Direct::v311("dup1", true);
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    d.feed(&publish_bytes(
        ProtocolVersion::V311,
        "t",
        b"m",
        QosPid::AtLeastOnce(pid(3)),
        false,
    ));
    d.feed(&publish_bytes(
        ProtocolVersion::V311,
        "t",
        b"m",
        QosPid::AtLeastOnce(pid(3)),
        true,
    ));
    assert_eq!(
        d.take_events(),
        vec![
            Event::Message(message("t", b"m", QoS::AtLeastOnce, Some(3), false)),
            Event::Message(message("t", b"m", QoS::AtLeastOnce, Some(3), true)),
        ]
    );
    assert_eq!(d.take_sent(), vec![vec![0x40, 0x02, 0x00, 0x03]; 2]);
}

#[test]
fn acknowledgements_go_out_in_the_order_the_publishes_arrived() {
    // [MQTT-4.6.0-2]/[MQTT-4.6.0-3]: PUBACK and PUBREC in the order of the PUBLISH packets.
    let v = ProtocolVersion::V311;
    let mut d = Direct::v311("order", true);
    d.connect(0, false);
    d.take_sent();
    let mut batch = Vec::new();
    batch.extend(publish_bytes(
        v,
        "t",
        b"1",
        QosPid::AtLeastOnce(pid(10)),
        false,
    ));
    batch.extend(publish_bytes(
        v,
        "t",
        b"2",
        QosPid::ExactlyOnce(pid(11)),
        false,
    ));
    batch.extend(publish_bytes(
        v,
        "t",
        b"3",
        QosPid::AtLeastOnce(pid(9)),
        false,
    ));
    batch.extend(publish_bytes(
        v,
        "t",
        b"4",
        QosPid::ExactlyOnce(pid(2)),
        false,
    ));
    d.feed(&batch);
    assert_eq!(
        d.take_sent(),
        vec![
            vec![0x40, 0x02, 0x00, 10],
            vec![0x50, 0x02, 0x00, 11],
            vec![0x40, 0x02, 0x00, 9],
            vec![0x50, 0x02, 0x00, 2],
        ]
    );
}

#[test]
fn messages_arrive_with_their_retain_flag_and_v5_properties() {
    // [MQTT-3.3.1-9] (3.1.1 retained delivery) and 5.0 §3.3.2.3: properties reach the app.
    let mut d = Direct::v5("props", true);
    d.connect(0, false);
    d.take_events();
    let mut props = mqtt_sansio_proto::PropertiesBuf::new();
    props
        .push(mqtt_sansio_proto::Property::ContentType("text/plain"))
        .unwrap();
    props
        .push(mqtt_sansio_proto::Property::UserProperty("k", "v"))
        .unwrap();
    let p = Publish {
        dup: false,
        qos: QosPid::AtMostOnce,
        retain: true,
        topic: TopicName::new("r").unwrap(),
        properties: props.as_properties(),
        payload: b"body",
    };
    d.feed_packet(Packet::Publish(p));
    let events = d.take_events();
    let [Event::Message(m)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(m.retain);
    assert_eq!(m.payload(), b"body");
    let content_type = m.properties().iter().find_map(|p| match p {
        mqtt_sansio_proto::Property::ContentType(c) => Some(c.to_string()),
        _ => None,
    });
    assert_eq!(content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        m.properties().user_properties().collect::<Vec<_>>(),
        vec![("k", "v")]
    );
}

// ------------------------------------------------------------------ subscriptions

#[test]
fn subscribe_and_unsubscribe_complete_on_their_acks() {
    // [MQTT-3.8.4-1]: SUBACK with the SUBSCRIBE's packet id, one code per filter
    // [MQTT-3.9.3-1]; [MQTT-3.10.4-4]: UNSUBACK with the UNSUBSCRIBE's id.
    for mut pair in [Pair::v311("sub", true), Pair::v5("sub", true)] {
        let v5 = pair.client.config().version == ProtocolVersion::V5;
        pair.connect(30);
        let subs = [
            Subscription::new(TopicFilter::new("a/+").unwrap(), QoS::AtLeastOnce),
            Subscription::new(TopicFilter::new("b/#").unwrap(), QoS::ExactlyOnce),
        ];
        let sid = pair.client.subscribe(pair.now, &subs).unwrap();
        pair.drive();
        assert_eq!(pair.client_sent_of(8).len(), 1);
        assert_eq!(
            pair.client_sent_of(8)[0].1[0],
            0x82,
            "SUBSCRIBE flags are 0b0010 [MQTT-3.8.1-1]"
        );
        assert_eq!(
            pair.events.last(),
            Some(&(
                at(40),
                Event::SubAck {
                    id: sid,
                    results: [ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2]
                        .into_iter()
                        .collect(),
                    properties: Default::default()
                }
            ))
        );
        let mut current: Vec<(String, QoS)> = pair
            .client
            .subscriptions()
            .map(|(f, o)| (f.to_string(), o.qos))
            .collect();
        current.sort();
        assert_eq!(
            current,
            vec![
                ("a/+".to_string(), QoS::AtLeastOnce),
                ("b/#".to_string(), QoS::ExactlyOnce)
            ]
        );
        assert!(!pair.client.is_packet_id_in_use(sid));

        let uid = pair
            .client
            .unsubscribe(pair.now, &[TopicFilter::new("a/+").unwrap()])
            .unwrap();
        assert_ne!(uid, sid, "ids are not reused sooner than necessary");
        pair.drive();
        assert_eq!(
            pair.client_sent_of(10)[0].1[0],
            0xA2,
            "UNSUBSCRIBE flags are 0b0010 [MQTT-3.10.1-1]"
        );
        let results = if v5 {
            [ReasonCode::Success].into_iter().collect()
        } else {
            Default::default()
        };
        assert_eq!(
            pair.events.last().map(|e| &e.1),
            Some(&Event::UnsubAck {
                id: uid,
                results,
                properties: Default::default()
            })
        );
        let current: Vec<String> = pair
            .client
            .subscriptions()
            .map(|(f, _)| f.to_string())
            .collect();
        assert_eq!(current, vec!["b/#".to_string()]);
        // Messages now route through the broker's subscription back to the client.
        pair.client
            .publish(pair.now, "b/x", b"loop", QoS::ExactlyOnce, false)
            .unwrap();
        pair.drive();
        assert_eq!(
            pair.client_messages(),
            vec![("b/x".to_string(), b"loop".to_vec(), QoS::ExactlyOnce)]
        );
    }
}

#[test]
fn failed_subscriptions_are_reported_and_not_recorded() {
    // [MQTT-3.9.3-2] (3.1.1 return code 0x80) / 5.0 §3.9.3: failure codes per filter.
    let mut pair = Pair::v311("subfail", true);
    pair.broker.script.withhold_sub_acks = true;
    pair.connect(30);
    let subs = [
        Subscription::new(TopicFilter::new("ok").unwrap(), QoS::AtMostOnce),
        Subscription::new(TopicFilter::new("denied").unwrap(), QoS::AtMostOnce),
    ];
    let sid = pair.client.subscribe(pair.now, &subs).unwrap();
    pair.drive();
    let codes = [ReasonCode::GRANTED_QOS_0, ReasonCode::UnspecifiedError];
    pair.broker
        .send_packet(Packet::SubAck(mqtt_sansio_proto::SubAck {
            packet_id: sid,
            properties: Properties::EMPTY,
            reason_codes: codes.into_iter().collect(),
        }));
    pair.drive();
    assert_eq!(
        pair.events.last().map(|e| &e.1),
        Some(&Event::SubAck {
            id: sid,
            results: codes.into_iter().collect(),
            properties: Default::default()
        })
    );
    let current: Vec<String> = pair
        .client
        .subscriptions()
        .map(|(f, _)| f.to_string())
        .collect();
    assert_eq!(current, vec!["ok".to_string()]);
}
