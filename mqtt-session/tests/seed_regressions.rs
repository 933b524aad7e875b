//! Regression tests for the faults of the seed library's original code (SPEC: "behave as the
//! specification says, not as that code did"): each test reproduces one fault through the
//! Session's public API and checks the behaviour the specification requires.
mod support;

use mqtt_sansio_proto::{
    Ack, ConnAck, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    Subscription, TopicFilter, TopicName,
};
use mqtt_sansio_session::{
    packet_id_condition, topic_condition, Command, Dispatcher, Event, Instant, Session,
    SessionConfig,
};
use support::{encode, pid, Direct, Pair};

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

// ------------------------------------------------------------------ first queued ack

#[test]
fn ack_for_the_first_queued_message_completes_it() {
    // Seed fault: an ack for the FIRST queued message was ignored. [MQTT-4.3.2-1]: PUBACK
    // completes the message with that packet id, whichever position it holds.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut pair = Pair::new(SessionConfig::new("first", false, v));
        pair.broker.script.withhold_pub_acks = true;
        pair.connect(0);
        let ids: Vec<PacketId> = (0..3)
            .map(|i| {
                pair.client
                    .publish(pair.now, "t", &[i], QoS::AtLeastOnce, false)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        pair.drive();
        pair.broker.send_packet(Packet::PubAck(Ack::new(ids[0])));
        pair.drive();
        assert_eq!(
            pair.events.last().map(|e| &e.1),
            Some(&Event::PubAck {
                id: ids[0],
                reason: ReasonCode::Success,
                properties: Default::default()
            })
        );
        assert_eq!(pair.client.inflight_len(), 2);
        assert!(!pair.client.is_packet_id_in_use(ids[0]));
        assert!(pair.client.is_packet_id_in_use(ids[1]));
        // It stays completed across a reconnect: only the other two are re-sent.
        pair.drop_connection();
        let mark = pair.client_sent.len();
        pair.reconnect(0);
        let resent: Vec<Vec<u8>> = pair.sent_since(mark)[1..].to_vec();
        assert_eq!(
            resent,
            vec![
                publish_bytes(v, "t", &[1], QosPid::AtLeastOnce(ids[1]), true),
                publish_bytes(v, "t", &[2], QosPid::AtLeastOnce(ids[2]), true),
            ]
        );
    }
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn ack_for_the_first_message_queued_while_offline_completes_it() {
    // Same fault, for messages queued before the connection existed.
    let mut pair = Pair::v311("first", false);
    let ids: Vec<PacketId> = (0..3)
        .map(|i| {
            pair.client
                .publish(pair.now, "t", &[i], QoS::ExactlyOnce, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    assert_eq!(pair.client_sent_of(3).len(), 3);
    pair.broker.send_packet(Packet::PubRec(Ack::new(ids[0])));
    pair.drive();
    assert_eq!(
        pair.client_sent_of(6),
        vec![(Instant::from_millis(40), vec![0x62, 0x02, 0x00, 0x01])]
    );
    assert!(pair.has_event(|e| *e
        == Event::PubComp {
            id: ids[0],
            reason: ReasonCode::Success,
            properties: Default::default()
        }));
    assert_eq!(pair.client.inflight_len(), 2);
}

// ------------------------------------------------------------------ ids and lengths >= 256

#[test]
fn incoming_packet_ids_and_topic_lengths_of_256_or_more_round_trip() {
    // Seed fault: two-byte lengths and ids were mis-decoded at 256 and above.
    // [MQTT-2.3.1-1]/[MQTT-1.5.2] (two-byte integers, big-endian), [MQTT-1.5.3] (UTF-8
    // string length prefix).
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut d = Direct::new(SessionConfig::new("ids", false, v));
        d.connect(0, false);
        d.take_sent();
        d.take_events();
        let long_topic: String = "x".repeat(300);
        for id in [256u16, 300, 65535] {
            let [hi, lo] = id.to_be_bytes();
            d.feed(&publish_bytes(
                v,
                &long_topic,
                b"q1",
                QosPid::AtLeastOnce(pid(id)),
                false,
            ));
            assert_eq!(d.take_sent(), vec![vec![0x40, 0x02, hi, lo]], "PUBACK {id}");
            let events = d.take_events();
            let [Event::Message(m)] = events.as_slice() else {
                panic!("{events:?}")
            };
            assert_eq!(m.topic(), long_topic);
            assert_eq!(m.packet_id, Some(pid(id)));

            d.feed(&publish_bytes(
                v,
                &long_topic,
                b"q2",
                QosPid::ExactlyOnce(pid(id)),
                false,
            ));
            assert_eq!(d.take_sent(), vec![vec![0x50, 0x02, hi, lo]], "PUBREC {id}");
            assert_eq!(d.take_events(), vec![Event::Qos2Received { id: pid(id) }]);
            d.feed(&[0x62, 0x02, hi, lo]);
            assert_eq!(
                d.take_sent(),
                vec![vec![0x70, 0x02, hi, lo]],
                "PUBCOMP {id}"
            );
            let events = d.take_events();
            let [Event::MessageReleased(m)] = events.as_slice() else {
                panic!("{events:?}")
            };
            assert_eq!(m.topic().len(), 300);
            assert_eq!(m.payload(), b"q2");
            assert_eq!(m.packet_id, Some(pid(id)));
        }
    }
}

#[test]
fn outgoing_300_byte_topic_round_trips_through_the_broker() {
    // Seed fault (lengths >= 256), outgoing: the length prefix is 0x01 0x2C [MQTT-1.5.3].
    for mut pair in [Pair::v311("long", true), Pair::v5("long", true)] {
        let topic: String = (0..300)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        pair.connect(0);
        let sub = Subscription::new(TopicFilter::new(&topic).unwrap(), QoS::ExactlyOnce);
        pair.client.subscribe(pair.now, &[sub]).unwrap();
        pair.drive();
        pair.client
            .publish(pair.now, &topic, b"payload", QoS::ExactlyOnce, false)
            .unwrap();
        pair.drive();
        let sent = &pair.client_sent_of(3)[0].1;
        assert_eq!(
            &sent[3..5],
            &[0x01, 0x2C],
            "remaining length takes two bytes, then the topic length"
        );
        assert_eq!(pair.broker.accepted[0].topic, topic);
        assert_eq!(
            pair.client_messages(),
            vec![(topic.clone(), b"payload".to_vec(), QoS::ExactlyOnce)]
        );
    }
}

#[test]
fn packet_id_0_is_never_generated_across_the_whole_space_and_the_wrap() {
    // Seed fault: packet id 0 could be generated. [MQTT-2.3.1-1]: ids are non-zero. Also the
    // outgoing side of the ">= 256" fault: ids 256, 300 and 65535 are encoded and matched.
    let v = ProtocolVersion::V311;
    let mut d = Direct::new(SessionConfig::new("wrap", true, v));
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    let mut expected: u16 = 1;
    for n in 0..(65_535 + 300) {
        let qos = if n % 2 == 0 {
            QoS::AtLeastOnce
        } else {
            QoS::ExactlyOnce
        };
        let id = d
            .session
            .publish(d.now, "t", b"", qos, false)
            .unwrap()
            .unwrap();
        assert_eq!(id.get(), expected, "ids run 1..=65535, then wrap to 1");
        let sent = d.take_sent();
        assert_eq!(sent.len(), 1);
        let [hi, lo] = id.get().to_be_bytes();
        assert_eq!(&sent[0][5..7], &[hi, lo], "the id on the wire");
        assert_ne!(&sent[0][5..7], &[0, 0]);
        if qos == QoS::AtLeastOnce {
            d.feed(&[0x40, 0x02, hi, lo]);
        } else {
            d.feed(&[0x50, 0x02, hi, lo]);
            assert_eq!(d.take_sent(), vec![vec![0x62, 0x02, hi, lo]]);
            d.feed(&[0x70, 0x02, hi, lo]);
        }
        let events = d.take_events();
        assert_eq!(
            events.last().and_then(Event::packet_id),
            Some(id),
            "acked: {events:?}"
        );
        if [256, 300, 65_535].contains(&id.get()) {
            assert_eq!(
                d.session.inflight_len(),
                0,
                "the ack for id {id} completed it"
            );
        }
        expected = if expected == u16::MAX {
            1
        } else {
            expected + 1
        };
    }
    assert_eq!(d.session.packet_ids_in_use(), 0);
}

// ------------------------------------------------------------------ PUBREL flags

#[test]
fn pubrel_never_carries_dup() {
    // Seed fault: PUBREL was sent with the DUP bit. [MQTT-3.6.1-1]: bits 3-0 of the PUBREL
    // fixed header are 0010, so its first byte is exactly 0x62 — in the normal flow, when
    // answering a repeated or unknown PUBREC, on a resend after reconnect, and on a retry.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut config = SessionConfig::new("rel", false, v);
        config.retry_interval_v311 = Some(std::time::Duration::from_secs(1));
        let mut d = Direct::new(config);
        d.connect(0, false);
        let id = d.publish("t", b"x", QoS::ExactlyOnce).unwrap();
        d.take_sent();
        d.feed_packet(Packet::PubRec(Ack::new(id))); // normal flow
        d.feed_packet(Packet::PubRec(Ack::new(id))); // repeated PUBREC
        d.feed_packet(Packet::PubRec(Ack::new(pid(999)))); // unknown PUBREC
        d.at(5_000).timeout(); // 3.1.1 retry (ignored in 5.0)
        d.close();
        d.take_sent();
        d.connect(0, true); // resend after reconnect
        let rels: Vec<Vec<u8>> = d.sent.iter().filter(|p| p[0] >> 4 == 6).cloned().collect();
        let expected_count = if v == ProtocolVersion::V311 { 5 } else { 4 };
        assert_eq!(rels.len(), expected_count, "{rels:?}");
        for p in &rels {
            assert_eq!(p[0], 0x62, "PUBREL first byte: {p:?}");
        }
        assert!(d.sent.iter().all(|p| p[0] & 0xF0 != 0x60 || p[0] == 0x62));
    }
}

// ------------------------------------------------------------------ session present

#[test]
fn session_present_decides_between_resend_and_the_fresh_session_policy() {
    // Seed fault: CONNACK's session-present flag was ignored. [MQTT-4.4.0-1] (resend with
    // DUP, PUBREL after PUBREC) applies only when the broker kept the session; with Session
    // Present 0 the client must not act as if it did [MQTT-3.2.2-2] (3.1.1, §3.2.2.2).
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let build = || {
            let mut d = Direct::new(SessionConfig::new("sp", false, v));
            d.connect(0, false);
            let a = d.publish("a", b"1", QoS::AtLeastOnce).unwrap();
            let b = d.publish("b", b"2", QoS::ExactlyOnce).unwrap();
            let c = d.publish("c", b"3", QoS::ExactlyOnce).unwrap();
            d.feed_packet(Packet::PubRec(Ack::new(c)));
            d.close();
            d.take_sent();
            d.take_events();
            (d, a, b, c)
        };

        let (mut d, a, b, c) = build();
        d.connect(0, true);
        assert_eq!(
            d.take_sent(),
            vec![
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), true),
                publish_bytes(v, "b", b"2", QosPid::ExactlyOnce(b), true),
                vec![0x62, 0x02, 0x00, c.get() as u8],
            ]
        );
        assert_eq!(
            d.take_events(),
            vec![Event::Connected {
                session_present: true,
                properties: Default::default()
            }]
        );

        let (mut d, a, b, c) = build();
        d.connect(0, false);
        assert_eq!(
            d.take_sent(),
            vec![
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), false),
                publish_bytes(v, "b", b"2", QosPid::ExactlyOnce(b), false),
            ]
        );
        assert_eq!(
            d.take_events(),
            vec![
                Event::Connected {
                    session_present: false,
                    properties: Default::default()
                },
                // Issue 10 / SPEC "Exactly once, bounded": the PUBREC'd message now also
                // fails on its own id ("session lost, unconfirmed") before SessionLost.
                Event::PublishFailed {
                    id: Some(c),
                    qos: QoS::ExactlyOnce,
                    reason: mqtt_sansio_session::PublishFailure::Unconfirmed,
                },
                Event::SessionLost {
                    resent: 2,
                    unconfirmed: 1,
                    released: 0
                }
            ]
        );
        assert_eq!(d.session.inflight_len(), 2);
    }
}

// ------------------------------------------------------------------ duplicate QoS 2 growth

#[test]
fn duplicate_qos2_publish_10000_times_stays_one_pending_and_is_delivered_once() {
    // Seed fault: every duplicate QoS 2 PUBLISH was stored again (unbounded growth).
    // [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-9] (5.0): a duplicate only gets PUBREC again.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut d = Direct::new(SessionConfig::new("dup", false, v));
        d.connect(0, false);
        d.take_sent();
        d.take_events();
        let first = publish_bytes(v, "t", b"once", QosPid::ExactlyOnce(pid(7)), false);
        let dup = publish_bytes(v, "t", b"once", QosPid::ExactlyOnce(pid(7)), true);
        d.feed(&first);
        for _ in 1..10_000 {
            d.feed(&dup);
            assert_eq!(d.session.pending_incoming_qos2(), 1);
        }
        let sent = d.take_sent();
        assert_eq!(sent.len(), 10_000);
        assert!(sent.iter().all(|p| *p == [0x50, 0x02, 0x00, 0x07]));
        assert_eq!(d.take_events(), vec![Event::Qos2Received { id: pid(7) }]);
        assert_eq!(d.session.pending_read_bytes(), 0);
        d.feed(&[0x62, 0x02, 0x00, 0x07]);
        let events = d.take_events();
        assert_eq!(events.len(), 1);
        assert!(matches!(&events[0], Event::MessageReleased(m) if m.payload() == b"once"));
        assert_eq!(d.session.pending_incoming_qos2(), 0);
        // And in one single read of all 10,000 copies.
        let mut d = Direct::new(SessionConfig::new("dup", false, v));
        d.connect(0, false);
        d.take_events();
        let mut all = first.clone();
        for _ in 1..10_000 {
            all.extend_from_slice(&dup);
        }
        d.feed(&all);
        assert_eq!(d.session.pending_incoming_qos2(), 1);
        assert_eq!(d.take_events(), vec![Event::Qos2Received { id: pid(7) }]);
    }
}

// ------------------------------------------------------------------ callback errors

/// What the application's callbacks do, by handler name; `Err` is the callback failing.
fn run_handler(
    name: &str,
    event: &Event,
    client: &mut Session,
    now: Instant,
) -> Result<(), String> {
    match name {
        "on_message" => {
            let m = event.message().expect("on_message only gets messages");
            if m.topic() == "cmd/fail" {
                return Err(format!("handler failed on {}", m.topic()));
            }
            // A callback can publish from inside (the seed passes it the client).
            client
                .publish(now, "reply", m.payload(), QoS::AtLeastOnce, false)
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        "puback" | "suback" => Ok(()),
        other => Err(format!("unexpected handler {other}")),
    }
}

#[test]
fn a_callback_error_is_returned_by_dispatch_not_swallowed() {
    // Seed fault: an exception raised in a callback was swallowed by the loop. Dispatcher::
    // dispatch returns the handler's Err for the event that caused it, and later events
    // still dispatch normally.
    let mut pair = Pair::v5("cb", true);
    pair.connect(0);
    let sub = Subscription::new(TopicFilter::new("cmd/#").unwrap(), QoS::ExactlyOnce);
    pair.client.subscribe(pair.now, &[sub]).unwrap();
    pair.drive();
    pair.broker.deliver("cmd/a", b"A", QoS::AtMostOnce);
    pair.broker.deliver("cmd/fail", b"F", QoS::AtLeastOnce);
    pair.broker.deliver("cmd/b", b"B", QoS::ExactlyOnce);
    pair.drive();

    let mut d: Dispatcher<&'static str> = Dispatcher::new();
    d.on_message("on_message");
    d.on(Command::SubAck, "suback", None, 0);
    let mut outcomes = Vec::new();
    let events = pair.all_events();
    for e in &events {
        let now = pair.now;
        let client = &mut pair.client;
        let r = d.dispatch(e, |name, e| run_handler(name, e, client, now));
        outcomes.push((e.clone(), r));
    }
    let failures: Vec<&(Event, Result<bool, String>)> =
        outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    assert_eq!(failures.len(), 1, "{outcomes:?}");
    assert!(matches!(&failures[0].0, Event::Message(m) if m.topic() == "cmd/fail"));
    assert_eq!(failures[0].1, Err("handler failed on cmd/fail".to_string()));
    // The QoS 2 message was dispatched once, on its release, after the failure.
    let ran: Vec<&str> = outcomes
        .iter()
        .filter(|(_, r)| *r == Ok(true))
        .filter_map(|(e, _)| e.message().map(|m| m.topic()))
        .collect();
    assert_eq!(ran, vec!["cmd/a", "cmd/b"]);
    // The replies published from inside the callbacks reach the broker.
    pair.drive();
    let replies: Vec<Vec<u8>> = pair
        .broker
        .accepted
        .iter()
        .filter(|m| m.topic == "reply")
        .map(|m| m.payload.clone())
        .collect();
    assert_eq!(replies, vec![b"A".to_vec(), b"B".to_vec()]);

    // A specific handler's error is reported the same way (conditions on topic and mid).
    let mut d: Dispatcher<&'static str> = Dispatcher::new();
    d.on(
        Command::Publish,
        "on_message",
        Some(topic_condition("cmd/+").unwrap()),
        5,
    );
    let reply_ack = pair
        .all_events()
        .into_iter()
        .find(|e| matches!(e, Event::PubAck { .. }))
        .unwrap();
    d.on(
        Command::PubAck,
        "puback",
        Some(packet_id_condition(reply_ack.packet_id().unwrap())),
        0,
    );
    let fail = events
        .iter()
        .find(|e| e.message().is_some_and(|m| m.topic() == "cmd/fail"))
        .unwrap();
    let client = &mut pair.client;
    let now = pair.now;
    assert_eq!(
        d.dispatch(fail, |n, e| run_handler(n, e, client, now)),
        Err("handler failed on cmd/fail".to_string())
    );
    assert_eq!(
        d.dispatch(&reply_ack, |n, e| run_handler(n, e, client, now)),
        Ok(true)
    );
}

#[test]
fn session_present_flag_is_read_from_the_raw_connack() {
    // Companion of the session-present fault: the flag is bit 0 of the Connect Acknowledge
    // Flags (3.1.1 §3.2.2.1/§3.2.2.2); a raw CONNACK 20 02 01 00 resumes, 20 02 00 00 does not.
    let mut d = Direct::v311("raw", false);
    d.start(0);
    d.feed(&[0x20, 0x02, 0x01, 0x00]);
    assert_eq!(
        d.take_events(),
        vec![Event::Connected {
            session_present: true,
            properties: Default::default()
        }]
    );
    let mut d = Direct::v311("raw", false);
    d.start(0);
    d.feed_packet(Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    }));
    assert_eq!(
        d.take_events(),
        vec![Event::Connected {
            session_present: false,
            properties: Default::default()
        }]
    );
}
