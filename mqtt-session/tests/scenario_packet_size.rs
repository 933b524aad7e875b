//! Scenario tests of [MQTT-3.2.2-15] for every packet we send: refused at the call above the
//! broker's Maximum Packet Size (PUBLISH, SUBSCRIBE, UNSUBSCRIBE), control packets kept
//! within it, and everything queued before a CONNACK that sets or lowers the limit checked
//! again then (failed with Event::PublishFailed / Event::RequestFailed, ids freed, the rest
//! flowing). The simulated broker records a client error for any packet above its limit.
mod support;

use mqtt_sansio_proto::{
    Ack, ConnAck, Packet, Properties, PropertiesBuf, Property, ProtocolVersion, Publish, QoS,
    QosPid, ReasonCode, Subscription, TopicFilter, TopicName,
};
use mqtt_sansio_session::{
    Command, Event, PublishError, PublishFailure, RequestFailure, SessionConfig, SubscribeError,
};
use support::{pid, Direct, Pair};

fn limited(pair: &mut Pair, max: u32) {
    pair.broker.script.connack_properties = PropertiesBuf::new();
    pair.broker
        .script
        .connack_properties
        .push(Property::MaximumPacketSize(max))
        .unwrap();
}

fn long_filter(n: usize) -> String {
    "f".repeat(n)
}

#[test]
fn every_packet_type_is_refused_at_the_call_above_the_broker_maximum() {
    let mut pair = Pair::v5("mps-all", true);
    limited(&mut pair, 100);
    pair.connect(0);
    let sent = pair.client_sent.len();

    // PUBLISH: 2 + (2 + 1) + 2 + 1 + 200.
    assert_eq!(
        pair.client
            .publish(pair.now, "t", &[0u8; 200], QoS::AtLeastOnce, false),
        Err(PublishError::PacketTooLarge {
            len: 3 + 3 + 2 + 1 + 200,
            max: 100
        })
    );

    // SUBSCRIBE: fixed header 2 (remaining length 126), id 2, properties 1, filter 2 + 120,
    // options 1.
    let filter = long_filter(120);
    let sub = [Subscription::new(
        TopicFilter::new(&filter).unwrap(),
        QoS::AtMostOnce,
    )];
    assert_eq!(
        pair.client.subscribe(pair.now, &sub),
        Err(SubscribeError::PacketTooLarge {
            len: 2 + 2 + 1 + 122 + 1,
            max: 100
        })
    );

    // UNSUBSCRIBE: fixed header 3 (remaining length 128 needs two bytes), id 2, properties
    // 1, filter 2 + 123.
    let filter = long_filter(123);
    assert_eq!(
        pair.client
            .unsubscribe(pair.now, &[TopicFilter::new(&filter).unwrap()]),
        Err(SubscribeError::PacketTooLarge {
            len: 3 + 2 + 1 + 125,
            max: 100
        })
    );

    // Nothing was queued, no id taken, nothing sent.
    assert_eq!(pair.client.packet_ids_in_use(), 0);
    assert_eq!(pair.client.inflight_len() + pair.client.queued_len(), 0);
    pair.drive();
    assert_eq!(pair.client_sent.len(), sent);

    // Within the limit, each goes out.
    let small = [Subscription::new(
        TopicFilter::new("a/b").unwrap(),
        QoS::AtMostOnce,
    )];
    pair.client.subscribe(pair.now, &small).unwrap();
    pair.client
        .unsubscribe(pair.now, &[TopicFilter::new("a/b").unwrap()])
        .unwrap();
    pair.drive();
    assert_eq!(pair.broker.client_error, None);
    assert_eq!(pair.broker.received("SUBSCRIBE").len(), 1);
    assert_eq!(pair.broker.received("UNSUBSCRIBE").len(), 1);
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn a_publish_queued_before_connack_over_the_new_limit_fails_there_and_a_small_one_goes_out() {
    // The case: 517 bytes queued, CONNACK says 100.
    let mut pair = Pair::v5("mps-queued", true);
    limited(&mut pair, 100);
    // 1 + 2 (remaining length 514) + (2 + 1) + 2 + 1 + 508 = 517.
    let big = pair
        .client
        .publish(pair.now, "t", &[7u8; 508], QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let small = pair
        .client
        .publish(pair.now, "t", b"small", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.client
        .publish(pair.now, "t", &[8u8; 508], QoS::AtMostOnce, false)
        .unwrap();
    pair.connect(0);

    assert_eq!(
        pair.broker.client_error, None,
        "nothing over 100 bytes sent"
    );
    assert!(pair.has_event(|e| *e
        == Event::PublishFailed {
            id: Some(big),
            qos: QoS::AtLeastOnce,
            reason: PublishFailure::PacketTooLarge { len: 517, max: 100 },
        }));
    assert!(pair.has_event(|e| *e
        == Event::PublishFailed {
            id: None,
            qos: QoS::AtMostOnce,
            reason: PublishFailure::PacketTooLarge { len: 515, max: 100 },
        }));
    assert_eq!(pair.broker.accepted.len(), 1);
    assert_eq!(pair.broker.accepted[0].payload, b"small");
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == small)));
    assert_eq!(pair.client.packet_ids_in_use(), 0, "the failed id is free");
    assert_eq!(pair.client.inflight_len() + pair.client.queued_len(), 0);

    // The events map to the completion they replace.
    let failed = Event::PublishFailed {
        id: Some(big),
        qos: QoS::ExactlyOnce,
        reason: PublishFailure::PacketTooLarge { len: 517, max: 100 },
    };
    assert_eq!(failed.command(), Some(Command::PubComp));
    assert_eq!(failed.packet_id(), Some(big));
    assert_eq!(failed.reason(), Some(ReasonCode::PacketTooLarge));

    // Later messages flow.
    pair.client
        .publish(pair.now, "t", b"later", QoS::AtLeastOnce, false)
        .unwrap();
    pair.drive();
    assert_eq!(pair.broker.accepted.len(), 2);
}

#[test]
fn requests_queued_before_connack_over_the_new_limit_fail_there() {
    let mut pair = Pair::v5("mps-requests", true);
    limited(&mut pair, 60);
    let filter = long_filter(80);
    let big_sub = pair
        .client
        .subscribe(
            pair.now,
            &[Subscription::new(
                TopicFilter::new(&filter).unwrap(),
                QoS::AtLeastOnce,
            )],
        )
        .unwrap();
    let big_unsub = pair
        .client
        .unsubscribe(pair.now, &[TopicFilter::new(&filter).unwrap()])
        .unwrap();
    let small = pair
        .client
        .subscribe(
            pair.now,
            &[Subscription::new(
                TopicFilter::new("a").unwrap(),
                QoS::AtLeastOnce,
            )],
        )
        .unwrap();
    pair.connect(0);
    assert_eq!(pair.broker.client_error, None);
    let failures: Vec<Event> = pair
        .all_events()
        .into_iter()
        .filter(|e| matches!(e, Event::RequestFailed { .. }))
        .collect();
    assert_eq!(
        failures,
        vec![
            Event::RequestFailed {
                id: big_sub,
                command: Command::SubAck,
                reason: RequestFailure::PacketTooLarge {
                    len: 2 + 2 + 1 + 82 + 1,
                    max: 60
                },
            },
            Event::RequestFailed {
                id: big_unsub,
                command: Command::UnsubAck,
                reason: RequestFailure::PacketTooLarge {
                    len: 2 + 2 + 1 + 82,
                    max: 60
                },
            },
        ]
    );
    assert_eq!(failures[1].command(), Some(Command::UnsubAck));
    assert_eq!(failures[0].packet_id(), Some(big_sub));
    assert!(pair.has_event(|e| matches!(e, Event::SubAck { id, .. } if *id == small)));
    assert_eq!(pair.broker.received("SUBSCRIBE").len(), 1);
    assert!(pair.broker.received("UNSUBSCRIBE").is_empty());
    assert_eq!(pair.client.packet_ids_in_use(), 0);
}

#[test]
fn in_flight_messages_are_checked_again_on_reconnect_to_a_broker_with_a_lower_limit() {
    let mut pair = Pair::v5("mps-inflight", false);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    let big1 = pair
        .client
        .publish(pair.now, "t", &[1u8; 300], QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let small1 = pair
        .client
        .publish(pair.now, "t", b"s1", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let big2 = pair
        .client
        .publish(pair.now, "t", &[2u8; 300], QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    let small2 = pair
        .client
        .publish(pair.now, "t", b"s2", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert_eq!(pair.broker.received("PUBLISH").len(), 4);
    pair.drop_connection();

    pair.broker.script.withhold_pub_acks = false;
    limited(&mut pair, 100);
    pair.reconnect(0);
    assert_eq!(
        pair.broker.client_error, None,
        "nothing over 100 bytes sent"
    );
    let resent = pair.broker.received_packets("PUBLISH").split_off(4);
    let resent_ids: Vec<u16> = resent
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.qos.packet_id().unwrap().get(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(resent_ids, vec![small1.get(), small2.get()]);
    for (id, qos) in [(big1, QoS::AtLeastOnce), (big2, QoS::ExactlyOnce)] {
        assert!(
            pair.has_event(|e| *e
                == Event::PublishFailed {
                    id: Some(id),
                    qos,
                    reason: PublishFailure::PacketTooLarge {
                        len: 2 + 3 + 2 + 1 + 300 + 1,
                        max: 100
                    },
                }),
            "{:?}",
            pair.all_events()
        );
    }
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == small1)));
    assert!(pair.has_event(|e| matches!(e, Event::PubComp { id, .. } if *id == small2)));
    assert_eq!(pair.client.inflight_len(), 0);
    // big1's id is free. The resumed broker session may still hold big2 (QoS 2, sent
    // before) awaiting a PUBREL: its id stays reserved, or a new message under it could be
    // taken there for a duplicate (5.0 §4.3.3) ...
    assert!(!pair.client.is_packet_id_in_use(big1));
    assert!(pair.client.is_packet_id_in_use(big2));
    assert_eq!(pair.client.packet_ids_in_use(), 1);
    // ... until that session is gone.
    pair.drop_connection();
    pair.broker.script.lose_session = true;
    pair.reconnect(0);
    assert_eq!(pair.client.packet_ids_in_use(), 0);
}

#[test]
fn control_packets_stay_within_a_tiny_broker_maximum() {
    // A broker that allows 4 bytes: PUBACK (4) and PINGREQ (2) still go out; a PUBCOMP with
    // reason 0x92 (5 bytes, nothing left to drop) is not sent rather than exceed the limit.
    let mut d = Direct::new(SessionConfig::new("tiny", true, ProtocolVersion::V5));
    d.start(10);
    let mut props = PropertiesBuf::new();
    props.push(Property::MaximumPacketSize(4)).unwrap();
    d.feed_packet(Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: props.as_properties(),
    }));
    assert!(d.session.is_connected());
    d.feed_packet(Packet::Publish(Publish {
        dup: false,
        qos: QosPid::AtLeastOnce(pid(3)),
        retain: false,
        topic: TopicName::new("t").unwrap(),
        properties: Properties::EMPTY,
        payload: b"x",
    }));
    d.feed_packet(Packet::PubRel(Ack::new(pid(9))));
    d.at(10_000).timeout();
    let sent = d.take_sent();
    assert!(sent.iter().all(|p| p.len() <= 4), "{sent:?}");
    assert_eq!(sent.first(), Some(&vec![0x40, 0x02, 0x00, 0x03]), "PUBACK");
    assert_eq!(sent.last(), Some(&vec![0xC0, 0x00]), "PINGREQ");
    assert_eq!(sent.len(), 2);
}
