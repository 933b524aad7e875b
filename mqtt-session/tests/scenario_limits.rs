//! Scenario tests of the bounds: in-flight window and publish queue (QueueFull then
//! PublishUnblocked), 5.0 Receive Maximum and Maximum Packet Size in both directions, the
//! limit on unreleased incoming QoS 2 messages, and API misuse refused with nothing changed.
mod support;

use mqtt_sansio_proto::Property;
use mqtt_sansio_proto::{Ack, Packet, ProtocolVersion, QoS, ReasonCode, Subscription, TopicFilter};
use mqtt_sansio_session::{DisconnectReason, Event, PublishError, SessionConfig, SubscribeError};
use support::{pid, Direct, Pair};

fn config(v: ProtocolVersion, max_inflight: u16, max_queued: usize) -> SessionConfig {
    let mut c = SessionConfig::new("limits", false, v);
    c.max_inflight = max_inflight;
    c.max_queued = max_queued;
    c
}

fn publishes_sent(pair: &Pair) -> usize {
    pair.client_sent_of(3).len()
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn full_window_and_queue_refuse_with_queue_full_then_publish_unblocked_follows() {
    // SPEC "bounded in-flight window and bounded offline queue, with the policy visible";
    // DESIGN §5: QueueFull at the call, PublishUnblocked when an ack frees a slot.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut pair = Pair::new(config(v, 2, 1));
        pair.broker.script.withhold_pub_acks = true;
        pair.connect(0);
        let ids: Vec<_> = (0..3)
            .map(|i| {
                pair.client
                    .publish(pair.now, "t", &[i], QoS::AtLeastOnce, false)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        pair.drive();
        assert_eq!(publishes_sent(&pair), 2, "the window holds two");
        assert_eq!(pair.client.inflight_len(), 2);
        assert_eq!(pair.client.queued_len(), 1);
        assert!(!pair.client.can_publish(QoS::AtLeastOnce));
        let in_use = pair.client.packet_ids_in_use();
        assert_eq!(
            pair.client
                .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false),
            Err(PublishError::QueueFull)
        );
        assert_eq!(
            pair.client
                .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false),
            Err(PublishError::QueueFull)
        );
        // Nothing changed: no id taken, nothing queued or sent.
        assert_eq!(pair.client.packet_ids_in_use(), in_use);
        assert_eq!(pair.client.queued_len(), 1);
        pair.drive();
        assert_eq!(publishes_sent(&pair), 2);
        assert!(!pair.has_event(|e| *e == Event::PublishUnblocked));

        pair.broker.send_packet(Packet::PubAck(Ack::new(ids[0])));
        pair.drive();
        let tail: Vec<Event> = pair.events_since(pair.events.len() - 2);
        assert_eq!(
            tail,
            vec![
                Event::PubAck {
                    id: ids[0],
                    reason: ReasonCode::Success,
                    properties: Default::default()
                },
                Event::PublishUnblocked
            ]
        );
        assert_eq!(
            publishes_sent(&pair),
            3,
            "the queued message entered the window"
        );
        assert!(pair.client.can_publish(QoS::AtLeastOnce));
        assert!(pair
            .client
            .publish(pair.now, "t", b"y", QoS::AtLeastOnce, false)
            .is_ok());
    }
}

#[test]
fn max_queued_zero_refuses_as_soon_as_the_window_is_full() {
    // SessionConfig::max_queued = 0 disables queueing.
    let mut pair = Pair::new(config(ProtocolVersion::V311, 1, 0));
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    let id = pair
        .client
        .publish(pair.now, "t", b"1", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"2", QoS::AtLeastOnce, false),
        Err(PublishError::QueueFull)
    );
    // QoS 0 is not limited by the window [MQTT-3.3.4-8 (5.0)], only by the transmit buffer.
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"3", QoS::AtMostOnce, false),
        Ok(None)
    );
    pair.drive();
    assert_eq!(publishes_sent(&pair), 2);
    pair.broker.send_packet(Packet::PubAck(Ack::new(id)));
    pair.drive();
    assert_eq!(
        pair.events.last().map(|e| &e.1),
        Some(&Event::PublishUnblocked)
    );
    // While disconnected nothing can be queued either.
    pair.drop_connection();
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"4", QoS::AtMostOnce, false),
        Err(PublishError::QueueFull)
    );
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn offline_queue_is_bounded_and_unblocks_when_the_connection_drains_it() {
    // SPEC "Limits on ... queued messages are configurable and enforced".
    let mut pair = Pair::new(config(ProtocolVersion::V311, 10, 2));
    assert!(pair
        .client
        .publish(pair.now, "t", b"1", QoS::AtLeastOnce, false)
        .is_ok());
    assert!(pair
        .client
        .publish(pair.now, "t", b"2", QoS::AtMostOnce, false)
        .is_ok());
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"3", QoS::ExactlyOnce, false),
        Err(PublishError::QueueFull)
    );
    assert_eq!(pair.client.packet_ids_in_use(), 1);
    pair.connect(0);
    assert_eq!(publishes_sent(&pair), 2);
    assert!(pair.has_event(|e| *e == Event::PublishUnblocked));
    assert_eq!(pair.client.queued_len(), 0);
}

#[test]
fn qos0_refused_while_the_transmit_buffer_is_full_is_unblocked_once_it_drains() {
    // SessionConfig::max_transmit_bytes: QoS 0 gets QueueFull when the transport does not
    // keep up; PublishUnblocked must follow when poll_transmit has drained the bytes.
    let mut c = SessionConfig::new("tx", true, ProtocolVersion::V311);
    c.max_transmit_bytes = 50;
    let mut d = Direct::new(c);
    d.connect(0, false);
    d.take_events();
    let payload = [7u8; 100];
    assert_eq!(
        d.session
            .publish(d.now, "t", &payload, QoS::AtMostOnce, false),
        Ok(None)
    );
    assert_eq!(
        d.session
            .publish(d.now, "t", &payload, QoS::AtMostOnce, false),
        Err(PublishError::QueueFull)
    );
    assert!(!d.session.can_publish(QoS::AtMostOnce));
    assert_eq!(d.take_sent().len(), 1, "the refused publish queued nothing");
    assert!(d.session.can_publish(QoS::AtMostOnce));
    assert_eq!(d.take_events(), vec![Event::PublishUnblocked]);
    assert_eq!(
        d.session
            .publish(d.now, "t", &payload, QoS::AtMostOnce, false),
        Ok(None)
    );
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn v5_receive_maximum_from_connack_limits_the_window() {
    // [MQTT-3.3.4-7] (5.0): no more than Receive Maximum unacknowledged QoS 1/2 PUBLISH
    // packets; [MQTT-3.3.4-8]: QoS 0 is not limited.
    let mut pair = Pair::new(config(ProtocolVersion::V5, 100, 100));
    pair.broker.set_receive_maximum(2);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    let a = pair
        .client
        .publish(pair.now, "t", b"a", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = pair
        .client
        .publish(pair.now, "t", b"b", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    let c = pair
        .client
        .publish(pair.now, "t", b"c", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert_eq!(publishes_sent(&pair), 2);
    assert_eq!(pair.client.queued_len(), 1);
    // b past PUBREC still counts until PUBCOMP.
    pair.broker.script.withhold_pubcomp = true;
    pair.broker.send_packet(Packet::PubRec(Ack::new(b)));
    pair.drive();
    assert_eq!(
        publishes_sent(&pair),
        2,
        "awaiting PUBCOMP still occupies the window"
    );
    pair.broker.send_packet(Packet::PubAck(Ack::new(a)));
    pair.drive();
    assert_eq!(publishes_sent(&pair), 3);
    let sent = pair.client_sent_of(3);
    assert_eq!(&sent[2].1[5..7], &c.get().to_be_bytes());
    pair.broker.send_packet(Packet::PubComp(Ack::new(b)));
    pair.broker.send_packet(Packet::PubAck(Ack::new(c)));
    pair.drive();
    assert_eq!(pair.client.inflight_len(), 0);
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn v5_window_is_the_smaller_of_max_inflight_and_receive_maximum() {
    // DESIGN §5: window = min(configured max in-flight, Receive Maximum).
    let mut pair = Pair::new(config(ProtocolVersion::V5, 1, 100));
    pair.broker.set_receive_maximum(5);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    for _ in 0..3 {
        pair.client
            .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false)
            .unwrap();
    }
    pair.drive();
    assert_eq!(publishes_sent(&pair), 1);
}

#[test]
fn v5_receive_maximum_also_limits_the_resend_after_a_reconnect() {
    // [MQTT-3.3.4-7] applies to re-sent messages as well ([MQTT-4.4.0-1] resend in order).
    let mut pair = Pair::new(config(ProtocolVersion::V5, 100, 100));
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    let ids: Vec<_> = (0..3)
        .map(|i| {
            pair.client
                .publish(pair.now, "t", &[i], QoS::AtLeastOnce, false)
                .unwrap()
                .unwrap()
        })
        .collect();
    pair.drive();
    assert_eq!(publishes_sent(&pair), 3);
    pair.drop_connection();
    pair.broker.set_receive_maximum(1);
    let mark = pair.client_sent.len();
    pair.reconnect(0);
    let resent: Vec<Vec<u8>> = pair.sent_since(mark)[1..].to_vec();
    assert_eq!(resent.len(), 1, "{resent:?}");
    assert_eq!(resent[0][0], 0x3A);
    assert_eq!(&resent[0][5..7], &ids[0].get().to_be_bytes());
    pair.broker.send_packet(Packet::PubAck(Ack::new(ids[0])));
    pair.drive();
    let resent: Vec<Vec<u8>> = pair.sent_since(mark)[2..].to_vec();
    assert_eq!(resent.len(), 1);
    assert_eq!(&resent[0][5..7], &ids[1].get().to_be_bytes());
}

#[test]
fn v5_incoming_packet_above_our_maximum_packet_size_closes_with_0x95() {
    // [MQTT-3.1.2-24] (5.0): the server must not send more than our Maximum Packet Size; if it
    // does, we close with DISCONNECT 0x95 (Packet too large), 5.0 §4.13.
    let mut c = SessionConfig::new("mps", false, ProtocolVersion::V5);
    c.max_packet_size = 128;
    let mut pair = Pair::new(c);
    pair.connect(0);
    pair.broker.deliver("t", &[0u8; 100], QoS::AtMostOnce); // fits
    pair.broker.deliver("t", &[0u8; 200], QoS::AtLeastOnce); // does not
    pair.drive();
    assert_eq!(pair.client_messages().len(), 1);
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
    assert_eq!(e.reason_code, ReasonCode::PacketTooLarge);
    assert_eq!(e.rule, mqtt_sansio_proto::rules::PACKET_TOO_LARGE);
    assert_eq!(
        pair.client_sent.last().map(|s| s.1.clone()),
        Some(vec![0xE0, 0x01, 0x95])
    );
    assert_eq!(
        pair.client.pending_read_bytes(),
        0,
        "the oversized body is not buffered"
    );
}

#[test]
fn v311_incoming_packet_above_our_maximum_closes_the_connection() {
    // 3.1.1 has no Maximum Packet Size property; the limit is still enforced locally (SPEC
    // "Limits on incoming packet size ... enforced"), and 3.1.1 has no client DISCONNECT reason.
    let mut c = SessionConfig::new("mps", false, ProtocolVersion::V311);
    c.max_packet_size = 64;
    let mut d = Direct::new(c);
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    // Only the fixed header of a 1000-byte PUBLISH: rejected before the body arrives.
    d.feed(&[0x30, 0xE8, 0x07]);
    let events = d.take_events();
    let [Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.rule, mqtt_sansio_proto::rules::PACKET_TOO_LARGE);
    assert!(d.take_sent().is_empty());
}

#[test]
fn v5_publish_above_the_brokers_maximum_packet_size_is_refused() {
    // [MQTT-3.1.2-24]/[MQTT-3.2.2-15] (5.0): the client must not send packets above the
    // server's Maximum Packet Size: PublishError::PacketTooLarge, nothing sent or kept.
    let mut pair = Pair::v5("mps", false);
    pair.broker
        .script
        .connack_properties
        .push(Property::MaximumPacketSize(64))
        .unwrap();
    pair.connect(0);
    let n = pair.client_sent.len();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let r = pair
            .client
            .publish(pair.now, "topic", &[1u8; 100], qos, false);
        let len = if qos == QoS::AtMostOnce {
            2 + 7 + 1 + 100
        } else {
            2 + 7 + 2 + 1 + 100
        };
        assert_eq!(
            r,
            Err(PublishError::PacketTooLarge { len, max: 64 }),
            "{qos:?}"
        );
    }
    assert_eq!(pair.client.packet_ids_in_use(), 0);
    assert_eq!(pair.client.inflight_len() + pair.client.queued_len(), 0);
    pair.drive();
    assert_eq!(pair.client_sent.len(), n);
    // Exactly at the limit is fine: 2 + (2 + 5) + 2 + 1 + 52 = 64.
    assert!(pair
        .client
        .publish(pair.now, "topic", &[1u8; 52], QoS::AtLeastOnce, false)
        .is_ok());
    pair.drive();
    assert_eq!(pair.client_sent_of(3)[0].1.len(), 64);
}

#[test]
fn incoming_qos2_beyond_our_receive_maximum_closes_with_0x93() {
    // [MQTT-3.3.4-9] (5.0): the server must not exceed our Receive Maximum; 5.0 §3.3.4: we
    // close with DISCONNECT 0x93. SPEC.md "Exactly once, bounded" changed the 3.1.1 rule: a
    // 3.1.1 broker cannot know the bound, so past it the message is delivered at PUBLISH and
    // only its id kept (tests/scenario_qos2_bounded.rs); the connection stays up.
    {
        let v = ProtocolVersion::V5;
        let mut c = SessionConfig::new("rm", false, v);
        c.max_incoming_qos2 = 2;
        let mut pair = Pair::new(c);
        pair.connect(0);
        for i in 0..3u8 {
            pair.broker.deliver("t", &[i], QoS::ExactlyOnce);
        }
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
        assert_eq!(e.reason_code, ReasonCode::ReceiveMaximumExceeded);
        assert_eq!(
            pair.client.pending_incoming_qos2(),
            2,
            "the two accepted ones are kept"
        );
        let last = pair.client_sent.last().map(|s| s.1.clone());
        if v == ProtocolVersion::V5 {
            assert_eq!(last, Some(vec![0xE0, 0x01, 0x93]));
        } else {
            assert_ne!(last.map(|b| b[0]), Some(0xE0));
        }
    }
}

#[test]
fn publish_misuse_is_a_typed_error_and_changes_nothing() {
    // SPEC "API misuse ... is a typed error at the call; nothing is sent": wildcards
    // [MQTT-3.3.2-2], NUL [MQTT-4.7.3-2], empty topic [MQTT-4.7.3-1], invalid UTF-8 cannot be
    // a &str.
    let mut d = Direct::v311("misuse", true);
    d.connect(0, false);
    d.take_sent();
    for topic in ["a/+", "a/#", "#", "nul\0here", ""] {
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let r = d.session.publish(d.now, topic, b"x", qos, false);
            assert!(
                matches!(r, Err(PublishError::InvalidTopic(_))),
                "{topic:?} {qos:?}: {r:?}"
            );
        }
    }
    assert!(d.take_sent().is_empty());
    assert_eq!(d.session.packet_ids_in_use(), 0);
    assert!(
        d.session.is_connected(),
        "a caller error does not close the connection"
    );
    // The next valid publish gets id 1: no id leaked.
    assert_eq!(d.publish("ok", b"x", QoS::AtLeastOnce), Some(pid(1)));
}

#[test]
fn v5_maximum_qos_and_retain_available_are_enforced_at_the_call() {
    // [MQTT-3.2.2-11]/[MQTT-3.2.2-14] (5.0): no QoS above Maximum QoS, no retain when
    // Retain Available is 0.
    let mut pair = Pair::v5("caps", true);
    pair.broker
        .script
        .connack_properties
        .push(Property::MaximumQoS(0))
        .unwrap();
    pair.broker
        .script
        .connack_properties
        .push(Property::RetainAvailable(0))
        .unwrap();
    pair.connect(0);
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false),
        Err(PublishError::QosNotSupported {
            max: QoS::AtMostOnce
        })
    );
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"x", QoS::AtMostOnce, true),
        Err(PublishError::RetainNotSupported)
    );
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"x", QoS::AtMostOnce, false),
        Ok(None)
    );
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn all_65535_packet_ids_in_use_is_a_typed_error_and_the_next_free_id_is_reused() {
    // SPEC "more than 65535 messages in flight" is a typed error; [MQTT-2.3.1-1] ids are
    // non-zero and unique among those in use. (Window 1: the other messages hold their ids in
    // the queue.)
    let mut c = SessionConfig::new("ids", true, ProtocolVersion::V311);
    c.max_inflight = 1;
    c.max_queued = 100_000;
    let mut d = Direct::new(c);
    d.connect(0, false);
    for i in 1..=u16::MAX {
        let id = d
            .session
            .publish(d.now, "t", b"", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        assert_eq!(id.get(), i);
    }
    assert_eq!(d.session.packet_ids_in_use(), 65_535);
    assert!(!d.session.can_publish(QoS::AtLeastOnce));
    assert_eq!(
        d.session.publish(d.now, "t", b"", QoS::AtLeastOnce, false),
        Err(PublishError::PacketIdsExhausted)
    );
    assert_eq!(
        d.session.publish(d.now, "t", b"", QoS::ExactlyOnce, false),
        Err(PublishError::PacketIdsExhausted)
    );
    let sub = Subscription::new(TopicFilter::new("s").unwrap(), QoS::AtMostOnce);
    assert_eq!(
        d.session.subscribe(d.now, &[sub]),
        Err(SubscribeError::PacketIdsExhausted)
    );
    assert_eq!(d.session.packet_ids_in_use(), 65_535);
    assert_eq!(d.take_sent().len(), 1, "one PUBLISH in the window");
    // The PUBACK of id 1 frees it; id 2 enters the window; the next publish wraps to 1.
    d.feed_packet(Packet::PubAck(Ack::new(pid(1))));
    assert_eq!(d.take_sent().len(), 1);
    assert_eq!(
        d.session
            .publish(d.now, "t", b"", QoS::ExactlyOnce, false)
            .unwrap(),
        Some(pid(1))
    );
}

#[test]
fn subscription_requests_are_bounded_and_validated() {
    // [MQTT-3.8.3-3] (3.1.1): at least one filter; SessionConfig::max_pending_requests.
    let mut c = SessionConfig::new("subs", true, ProtocolVersion::V311);
    c.max_pending_requests = 2;
    let mut pair = Pair::new(c);
    pair.broker.script.withhold_sub_acks = true;
    pair.connect(0);
    assert_eq!(
        pair.client.subscribe(pair.now, &[]),
        Err(SubscribeError::Empty)
    );
    assert_eq!(
        pair.client.unsubscribe(pair.now, &[]),
        Err(SubscribeError::Empty)
    );
    let sub = Subscription::new(TopicFilter::new("s").unwrap(), QoS::AtMostOnce);
    pair.client.subscribe(pair.now, &[sub]).unwrap();
    pair.client
        .unsubscribe(pair.now, &[TopicFilter::new("s").unwrap()])
        .unwrap();
    assert_eq!(
        pair.client.subscribe(pair.now, &[sub]),
        Err(SubscribeError::QueueFull)
    );
    assert_eq!(pair.client.packet_ids_in_use(), 2);
    pair.drive();
    assert_eq!(pair.client_sent.len(), 3);
}
