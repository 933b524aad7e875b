//! The offline queue (issue 12): publishes made while disconnected (or while the window is
//! full) are kept up to `max_queued` messages and `max_queued_bytes` bytes; when full the
//! policy decides (`QueuePolicy::RefuseNew`: the new one is refused, nothing changes;
//! `QueuePolicy::DropOldestQos0`: the oldest QoS 0 messages make room, each reported, and
//! QoS 1/2 are never dropped). A 5.0 Message Expiry Interval runs while a message is queued:
//! an expired one fails with `PublishFailure::Expired` and is never sent, and one that goes
//! out carries the interval that remains [MQTT-3.3.2-6].

mod support;

use mqtt_sansio_proto::{decode, Limits, Packet, PropertiesBuf, Property, ProtocolVersion, QoS};
use mqtt_sansio_session::{
    Event, Instant, PublishError, PublishFailure, QueuePolicy, SessionConfig,
};
use support::Direct;

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn direct(v: ProtocolVersion, max_queued: usize, max_bytes: usize, policy: QueuePolicy) -> Direct {
    let mut config = SessionConfig::new("queue", false, v);
    config.max_queued = max_queued;
    config.max_queued_bytes = max_bytes;
    config.queue_policy = policy;
    Direct::new(config)
}

/// Topic, QoS and Message Expiry Interval of every PUBLISH in `sent`, in order.
fn publishes(d: &Direct, sent: &[Vec<u8>]) -> Vec<(String, QoS, Option<u32>)> {
    sent.iter()
        .filter(|b| b[0] >> 4 == 3)
        .map(|b| {
            let (p, _) = decode(b, d.version(), &Limits::default()).unwrap().unwrap();
            let Packet::Publish(p) = p else {
                unreachable!()
            };
            (
                p.topic.as_str().to_string(),
                p.qos.qos(),
                p.properties.message_expiry_interval(),
            )
        })
        .collect()
}

fn failures(events: &[Event]) -> Vec<(Option<u16>, QoS, PublishFailure)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishFailed { id, qos, reason } => Some((id.map(|i| i.get()), *qos, *reason)),
            _ => None,
        })
        .collect()
}

fn publish(d: &mut Direct, topic: &str, len: usize, qos: QoS) -> Result<(), PublishError> {
    let payload = vec![b'x'; len];
    d.session
        .publish(d.now, topic, &payload, qos, false)
        .map(|_| ())
}

fn publish_expiring(d: &mut Direct, topic: &str, qos: QoS, secs: u32) -> Option<u16> {
    let mut props = PropertiesBuf::new();
    props
        .push(Property::ContentType("text/plain"))
        .unwrap()
        .push(Property::MessageExpiryInterval(secs))
        .unwrap()
        .push(Property::UserProperty("k", "v"))
        .unwrap();
    d.session
        .publish_with_properties(d.now, topic, b"payload", qos, false, props.as_properties())
        .unwrap()
        .map(|id| id.get())
}

#[test]
fn refuse_new_by_count_changes_nothing_queued() {
    for v in [V311, V5] {
        let mut d = direct(v, 3, usize::MAX, QueuePolicy::RefuseNew);
        publish(&mut d, "q/0", 4, QoS::AtMostOnce).unwrap();
        publish(&mut d, "q/1", 4, QoS::AtLeastOnce).unwrap();
        publish(&mut d, "q/2", 4, QoS::AtMostOnce).unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            assert_eq!(
                publish(&mut d, "q/refused", 4, qos),
                Err(PublishError::QueueFull),
                "{v:?} {qos:?}"
            );
        }
        assert_eq!(d.session.queued_len(), 3);
        assert!(
            failures(&d.take_events()).is_empty(),
            "{v:?}: nothing dropped"
        );
        d.connect(0, false);
        let sent = d.take_sent();
        let topics: Vec<String> = publishes(&d, &sent).into_iter().map(|p| p.0).collect();
        assert_eq!(topics, ["q/0", "q/1", "q/2"], "{v:?}");
        assert!(d.take_events().contains(&Event::PublishUnblocked), "{v:?}");
    }
}

#[test]
fn refuse_new_by_bytes() {
    // "b/n" + 7 bytes of payload = 10 bytes held per message.
    let mut d = direct(V311, 100, 25, QueuePolicy::RefuseNew);
    publish(&mut d, "b/1", 7, QoS::AtLeastOnce).unwrap();
    publish(&mut d, "b/2", 7, QoS::AtMostOnce).unwrap();
    assert_eq!(d.session.queued_bytes(), 20);
    assert_eq!(
        publish(&mut d, "b/3", 7, QoS::AtLeastOnce),
        Err(PublishError::QueueFull)
    );
    // A smaller one still fits.
    publish(&mut d, "b/4", 2, QoS::AtMostOnce).unwrap();
    assert_eq!(d.session.queued_bytes(), 25);
    assert_eq!(d.session.queued_len(), 3);
    assert!(!d.session.can_publish(QoS::AtMostOnce));
    d.connect(0, false);
    assert_eq!(d.session.queued_bytes(), 0);
    let topics: Vec<String> = publishes(&d, &d.sent.clone())
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(topics, ["b/1", "b/2", "b/4"]);
}

#[test]
fn drop_oldest_qos0_makes_room_and_never_drops_qos1_or_qos2() {
    for v in [V311, V5] {
        let mut d = direct(v, 3, usize::MAX, QueuePolicy::DropOldestQos0);
        publish(&mut d, "d/a0", 1, QoS::AtMostOnce).unwrap();
        publish(&mut d, "d/b1", 1, QoS::AtLeastOnce).unwrap();
        publish(&mut d, "d/c0", 1, QoS::AtMostOnce).unwrap();
        d.take_events();
        // Full, but the policy can make room.
        assert!(d.session.can_publish(QoS::ExactlyOnce), "{v:?}");
        // Full: the oldest QoS 0 (a0) makes room for a QoS 2.
        publish(&mut d, "d/d2", 1, QoS::ExactlyOnce).unwrap();
        assert_eq!(
            failures(&d.take_events()),
            [(None, QoS::AtMostOnce, PublishFailure::DroppedForNewer)],
            "{v:?}"
        );
        // Then c0 for a QoS 0.
        publish(&mut d, "d/e0", 1, QoS::AtMostOnce).unwrap();
        assert_eq!(failures(&d.take_events()).len(), 1, "{v:?}");
        // Then e0 for a QoS 1.
        publish(&mut d, "d/f1", 1, QoS::AtLeastOnce).unwrap();
        assert_eq!(failures(&d.take_events()).len(), 1, "{v:?}");
        // Only QoS 1/2 left: refused, nothing dropped.
        assert!(!d.session.can_publish(QoS::AtMostOnce), "{v:?}");
        assert_eq!(
            publish(&mut d, "d/g0", 1, QoS::AtMostOnce),
            Err(PublishError::QueueFull),
            "{v:?}"
        );
        assert!(failures(&d.take_events()).is_empty(), "{v:?}");
        assert_eq!(d.session.queued_len(), 3);
        d.connect(0, false);
        let sent = d.take_sent();
        let topics: Vec<String> = publishes(&d, &sent).into_iter().map(|p| p.0).collect();
        assert_eq!(topics, ["d/b1", "d/d2", "d/f1"], "{v:?}");
    }
}

#[test]
fn drop_oldest_qos0_by_bytes_drops_as_many_as_needed_or_none() {
    // Held sizes: "z/n" (3) + payload.
    let mut d = direct(V311, 100, 40, QueuePolicy::DropOldestQos0);
    publish(&mut d, "z/1", 7, QoS::AtMostOnce).unwrap(); // 10
    publish(&mut d, "z/2", 7, QoS::AtLeastOnce).unwrap(); // 10
    publish(&mut d, "z/3", 7, QoS::AtMostOnce).unwrap(); // 10
    publish(&mut d, "z/4", 7, QoS::AtMostOnce).unwrap(); // 10
    d.take_events();
    // 35 bytes: even with all three QoS 0 dropped, 10 (the QoS 1) + 35 > 40.
    assert_eq!(
        publish(&mut d, "z/5", 32, QoS::AtLeastOnce),
        Err(PublishError::QueueFull)
    );
    assert!(
        failures(&d.take_events()).is_empty(),
        "a refusal drops nothing"
    );
    assert_eq!(d.session.queued_len(), 4);
    // 20 bytes need the two oldest QoS 0 dropped (30 + 20 > 40 with one; 20 + 20 with two).
    publish(&mut d, "z/6", 17, QoS::AtLeastOnce).unwrap();
    assert_eq!(failures(&d.take_events()).len(), 2);
    assert_eq!(d.session.queued_bytes(), 10 + 10 + 20);
    d.connect(0, false);
    let sent = d.take_sent();
    let topics: Vec<String> = publishes(&d, &sent).into_iter().map(|p| p.0).collect();
    assert_eq!(topics, ["z/2", "z/4", "z/6"]);
}

#[test]
fn messages_expire_while_queued_and_fail_with_a_typed_reason() {
    let mut d = direct(V5, 100, usize::MAX, QueuePolicy::RefuseNew);
    let id = publish_expiring(&mut d, "exp/q1", QoS::AtLeastOnce, 10).unwrap();
    publish_expiring(&mut d, "exp/q0", QoS::AtMostOnce, 5);
    publish(&mut d, "exp/forever", 1, QoS::AtLeastOnce).unwrap();
    assert!(d
        .session
        .is_packet_id_in_use(mqtt_sansio_proto::PacketId::new(id).unwrap()));
    // Disconnected: no connection timer, but the queue has a deadline of its own.
    assert_eq!(d.session.poll_timeout(), None);
    assert_eq!(
        d.session.next_queue_expiry(),
        Some(Instant::from_millis(5_000))
    );

    d.at(4_999).timeout();
    assert!(failures(&d.take_events()).is_empty(), "not yet");
    d.at(5_000).timeout();
    assert_eq!(
        failures(&d.take_events()),
        [(None, QoS::AtMostOnce, PublishFailure::Expired)]
    );
    assert_eq!(
        d.session.next_queue_expiry(),
        Some(Instant::from_millis(10_000))
    );
    d.at(10_000).timeout();
    assert_eq!(
        failures(&d.take_events()),
        [(Some(id), QoS::AtLeastOnce, PublishFailure::Expired)]
    );
    // Its packet id is free again: it was never sent.
    assert!(!d
        .session
        .is_packet_id_in_use(mqtt_sansio_proto::PacketId::new(id).unwrap()));
    assert_eq!(d.session.next_queue_expiry(), None);
    assert_eq!(d.session.queued_len(), 1);
    d.connect(0, false);
    let sent = d.take_sent();
    let topics: Vec<String> = publishes(&d, &sent).into_iter().map(|p| p.0).collect();
    assert_eq!(topics, ["exp/forever"], "expired messages are never sent");
    assert_eq!(
        PublishFailure::Expired.reason_code(),
        mqtt_sansio_proto::ReasonCode::UnspecifiedError
    );
}

#[test]
fn an_expired_message_is_not_sent_even_without_a_timeout_call() {
    let mut d = direct(V5, 100, usize::MAX, QueuePolicy::RefuseNew);
    publish_expiring(&mut d, "late/q1", QoS::ExactlyOnce, 2);
    publish_expiring(&mut d, "late/q0", QoS::AtMostOnce, 2);
    // The connection comes back after the expiry; nobody called handle_timeout.
    d.at(2_500);
    d.connect(0, false);
    let sent = d.take_sent();
    assert!(publishes(&d, &sent).is_empty(), "{sent:?}");
    let f = failures(&d.take_events());
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f.iter().all(|x| x.2 == PublishFailure::Expired));
}

#[test]
fn the_message_that_goes_out_carries_the_remaining_interval() {
    let mut d = direct(V5, 100, usize::MAX, QueuePolicy::RefuseNew);
    publish_expiring(&mut d, "rem/60", QoS::AtLeastOnce, 60);
    publish_expiring(&mut d, "rem/30", QoS::AtMostOnce, 30);
    d.at(29_900);
    d.connect(0, false);
    let sent = d.take_sent();
    assert_eq!(
        publishes(&d, &sent),
        [
            // 60 s - 29.9 s = 30.1 s, rounded up: the receiver never gets more time than is
            // left, and never 0 for a message that has not expired.
            ("rem/60".to_string(), QoS::AtLeastOnce, Some(31)),
            ("rem/30".to_string(), QoS::AtMostOnce, Some(1)),
        ]
    );
    // The other properties are kept, in their order.
    let (p, _) = decode(&sent[0], V5, &Limits::default()).unwrap().unwrap();
    let Packet::Publish(p) = p else {
        unreachable!()
    };
    let props: Vec<Property<'_>> = p.properties.iter().collect();
    assert_eq!(
        props,
        [
            Property::ContentType("text/plain"),
            Property::MessageExpiryInterval(31),
            Property::UserProperty("k", "v"),
        ]
    );

    // Sent at once while connected: the interval is the caller's, unchanged.
    publish_expiring(&mut d, "rem/now", QoS::AtLeastOnce, 60);
    let sent = d.take_sent();
    assert_eq!(
        publishes(&d, &sent),
        [("rem/now".to_string(), QoS::AtLeastOnce, Some(60))]
    );
}

#[test]
fn a_message_queued_behind_a_full_window_also_gets_the_remaining_interval() {
    let mut config = SessionConfig::new("window", false, V5);
    config.max_inflight = 1;
    let mut d = Direct::new(config);
    d.connect(0, false);
    d.publish("win/first", b"1", QoS::AtLeastOnce);
    publish_expiring(&mut d, "win/second", QoS::AtLeastOnce, 100);
    assert_eq!(d.session.queued_len(), 1);
    d.take_sent();
    // PUBACK for the first one after 40 s: the second leaves the queue with 60 s left.
    d.at(40_000)
        .feed_packet(Packet::PubAck(mqtt_sansio_proto::Ack::new(
            mqtt_sansio_proto::PacketId::new(1).unwrap(),
        )));
    let sent = d.take_sent();
    assert_eq!(
        publishes(&d, &sent),
        [("win/second".to_string(), QoS::AtLeastOnce, Some(60))]
    );
}
