//! Scenario tests of what survives a dropped connection: the connection is cut at every step
//! of the QoS 1 and QoS 2 flows, in both directions, and the resend after reconnecting is
//! checked byte by byte; then resend order, SUBSCRIBE/UNSUBSCRIBE resend, the fresh-session
//! policy, and the 3.1.1 retry interval.
mod support;

use std::time::Duration;

use mqtt_sansio_proto::{
    Ack, Packet, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, Subscription, TopicFilter,
    TopicName,
};
use mqtt_sansio_session::{DisconnectReason, Event, Instant, SessionConfig};
use support::{encode, pid, Pair};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

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

fn pubrel(id: u16) -> Vec<u8> {
    let [hi, lo] = id.to_be_bytes();
    vec![0x62, 0x02, hi, lo]
}

/// A connected pair with a persistent session (clean_session = false) and no keepalive.
fn persistent(v: ProtocolVersion) -> Pair {
    let mut pair = Pair::new(SessionConfig::new("resend", false, v));
    pair.connect(0);
    assert!(pair.client.is_connected());
    pair
}

/// Cuts the connection, reconnects, and returns what the client sent on the new connection
/// after its CONNECT.
fn drop_and_reconnect(pair: &mut Pair) -> Vec<Vec<u8>> {
    pair.drop_connection();
    assert_eq!(
        pair.events.last().map(|e| &e.1),
        Some(&Event::Disconnected {
            reason: DisconnectReason::TransportClosed,
            properties: Default::default(),
            server_reference: None
        })
    );
    let mark = pair.client_sent.len();
    pair.reconnect(0);
    let sent = pair.sent_since(mark);
    assert_eq!(sent[0][0], 0x10, "CONNECT first");
    sent[1..].to_vec()
}

fn count(pair: &Pair, f: impl Fn(&Event) -> bool) -> usize {
    pair.events.iter().filter(|(_, e)| f(e)).count()
}

fn events_after_reconnect(pair: &Pair) -> Vec<Event> {
    let i = pair
        .events
        .iter()
        .rposition(|(_, e)| matches!(e, Event::Connected { .. }))
        .unwrap();
    pair.events_since(i)
}

// ------------------------------------------------------------------ outgoing QoS 1

#[test]
fn outgoing_qos1_lost_on_the_way_is_resent_with_dup_and_the_same_id() {
    // [MQTT-4.4.0-1]: on reconnect with a kept session, unacknowledged PUBLISH packets are
    // re-sent with their original packet identifiers; DUP is set on a re-delivery [MQTT-3.3.1-1].
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        pair.flush_client(); // the PUBLISH is on the wire...
        assert!(pair.in_flight_to_broker() > 0);
        let resent = drop_and_reconnect(&mut pair); // ...and lost.
        assert_eq!(
            resent,
            vec![publish_bytes(v, "t", b"m", QosPid::AtLeastOnce(id), true)]
        );
        assert_eq!(resent[0][0], 0x3A, "PUBLISH, DUP, QoS 1");
        assert_eq!(
            events_after_reconnect(&pair),
            vec![
                Event::Connected {
                    session_present: true,
                    properties: Default::default()
                },
                Event::PubAck {
                    id,
                    reason: ReasonCode::Success,
                    properties: Default::default()
                },
            ]
        );
        assert_eq!(pair.broker.accepted.len(), 1);
        assert_eq!(pair.client.inflight_len(), 0);
    }
}

#[test]
fn outgoing_qos1_whose_puback_was_lost_is_resent_with_dup() {
    // [MQTT-4.4.0-1]; QoS 1 is at least once: the broker may get it twice [MQTT-4.3.2-2].
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        pair.drive_until(|p| !p.broker.received("PUBLISH").is_empty());
        assert!(pair.in_flight_to_client() > 0, "the PUBACK is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent,
            vec![publish_bytes(v, "t", b"m", QosPid::AtLeastOnce(id), true)]
        );
        assert_eq!(count(&pair, |e| matches!(e, Event::PubAck { .. })), 1);
        assert_eq!(pair.broker.accepted.len(), 2);
        assert!(pair.broker.accepted[1].dup);
    }
}

#[test]
fn outgoing_qos1_acknowledged_before_the_drop_is_not_resent() {
    // [MQTT-4.3.2-1]: after PUBACK the sender no longer holds the message.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.client
            .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
            .unwrap();
        pair.drive();
        assert_eq!(drop_and_reconnect(&mut pair), Vec::<Vec<u8>>::new());
        assert_eq!(pair.broker.accepted.len(), 1);
    }
}

// ------------------------------------------------------------------ outgoing QoS 2

#[test]
fn outgoing_qos2_lost_on_the_way_is_resent_as_publish_with_dup() {
    // [MQTT-4.4.0-1]: no PUBREC came, so the PUBLISH is re-sent, DUP set, same id.
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.flush_client();
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent,
            vec![
                publish_bytes(v, "t", b"m", QosPid::ExactlyOnce(id), true),
                pubrel(id.get())
            ]
        );
        assert_eq!(resent[0][0], 0x3C, "PUBLISH, DUP, QoS 2");
        assert_eq!(
            events_after_reconnect(&pair),
            vec![
                Event::Connected {
                    session_present: true,
                    properties: Default::default()
                },
                Event::PubRec {
                    id,
                    reason: ReasonCode::Success,
                    properties: Default::default()
                },
                Event::PubComp {
                    id,
                    reason: ReasonCode::Success,
                    properties: Default::default()
                },
            ]
        );
        assert_eq!(pair.broker.accepted.len(), 1);
    }
}

#[test]
fn outgoing_qos2_whose_pubrec_was_lost_is_resent_as_publish_with_dup_and_delivered_once() {
    // [MQTT-4.4.0-1]; exactly once: the broker recognises the id and only re-sends PUBREC.
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive_until(|p| !p.broker.received("PUBLISH").is_empty());
        assert!(pair.in_flight_to_client() > 0, "the PUBREC is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent,
            vec![
                publish_bytes(v, "t", b"m", QosPid::ExactlyOnce(id), true),
                pubrel(id.get())
            ]
        );
        assert_eq!(pair.broker.accepted.len(), 1, "delivered once");
        assert_eq!(count(&pair, |e| matches!(e, Event::PubRec { .. })), 1);
        assert_eq!(count(&pair, |e| matches!(e, Event::PubComp { .. })), 1);
    }
}

#[test]
fn outgoing_qos2_whose_pubrel_was_lost_resends_pubrel_not_publish() {
    // [MQTT-4.4.0-1] / 5.0 §4.4: after PUBREC the client re-sends PUBREL, never the PUBLISH;
    // PUBREL has fixed flags 0b0010 and never carries DUP [MQTT-3.6.1-1].
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive_until(|p| p.has_event(|e| matches!(e, Event::PubRec { .. })));
        assert_eq!(pair.client_sent_of(6).len(), 1, "PUBREL handed out...");
        assert!(pair.in_flight_to_broker() > 0, "...and on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![pubrel(id.get())]);
        assert_eq!(
            events_after_reconnect(&pair),
            vec![
                Event::Connected {
                    session_present: true,
                    properties: Default::default()
                },
                Event::PubComp {
                    id,
                    reason: ReasonCode::Success,
                    properties: Default::default()
                },
            ]
        );
        assert_eq!(pair.broker.accepted.len(), 1);
    }
}

#[test]
fn outgoing_qos2_whose_pubcomp_was_lost_resends_pubrel() {
    // [MQTT-4.4.0-1]: PUBREL is re-sent until PUBCOMP arrives.
    for v in VERSIONS {
        let mut pair = persistent(v);
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive_until(|p| !p.broker.received("PUBREL").is_empty());
        assert!(pair.in_flight_to_client() > 0, "the PUBCOMP is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![pubrel(id.get())]);
        assert_eq!(count(&pair, |e| matches!(e, Event::PubComp { .. })), 1);
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.broker.accepted.len(), 1);
    }
}

#[test]
fn outgoing_qos2_completed_before_the_drop_is_not_resent() {
    // [MQTT-4.3.3-1]: after PUBCOMP the flow is over.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap();
        pair.drive();
        assert_eq!(drop_and_reconnect(&mut pair), Vec::<Vec<u8>>::new());
    }
}

#[test]
fn outgoing_qos2_survives_many_drops_and_is_delivered_once() {
    // [MQTT-4.4.0-1] across any number of reconnects (SPEC: "lose nothing").
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.script.withhold_pub_acks = true;
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        for _ in 0..3 {
            let resent = drop_and_reconnect(&mut pair);
            assert_eq!(
                resent,
                vec![publish_bytes(v, "t", b"m", QosPid::ExactlyOnce(id), true)]
            );
        }
        pair.broker.script.withhold_pub_acks = false;
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent,
            vec![
                publish_bytes(v, "t", b"m", QosPid::ExactlyOnce(id), true),
                pubrel(id.get())
            ]
        );
        assert_eq!(pair.broker.accepted.len(), 1);
        assert_eq!(count(&pair, |e| matches!(e, Event::PubComp { .. })), 1);
    }
}

// ------------------------------------------------------------------ incoming QoS 1

#[test]
fn incoming_qos1_lost_on_the_way_is_delivered_after_the_broker_resends_it() {
    // [MQTT-4.4.0-1] (server side): the broker re-sends with DUP; the client delivers and acks.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::AtLeastOnce);
        pair.flush_broker();
        assert!(pair.in_flight_to_client() > 0);
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![vec![0x40, 0x02, 0x00, 0x01]]);
        let msgs: Vec<_> = pair
            .events
            .iter()
            .filter_map(|(_, e)| e.message())
            .collect();
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].dup, "the re-delivery carries DUP");
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

#[test]
fn incoming_qos1_whose_puback_was_lost_is_delivered_again() {
    // [MQTT-4.3.2-2]: QoS 1 is at least once; the re-sent PUBLISH is delivered and acked.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::AtLeastOnce);
        pair.drive_until(|p| p.has_event(|e| matches!(e, Event::Message(_))));
        assert!(pair.in_flight_to_broker() > 0, "the PUBACK is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![vec![0x40, 0x02, 0x00, 0x01]]);
        assert_eq!(pair.client_messages().len(), 2);
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

// ------------------------------------------------------------------ incoming QoS 2

#[test]
fn incoming_qos2_lost_on_the_way_is_delivered_once_after_the_resend() {
    // [MQTT-4.3.3-2]: stored on PUBLISH, delivered on PUBREL.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::ExactlyOnce);
        pair.flush_broker();
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent,
            vec![vec![0x50, 0x02, 0x00, 0x01], vec![0x70, 0x02, 0x00, 0x01]]
        );
        assert_eq!(
            pair.client_messages(),
            vec![("in".to_string(), b"m".to_vec(), QoS::ExactlyOnce)]
        );
        assert_eq!(pair.client.pending_incoming_qos2(), 0);
    }
}

#[test]
fn incoming_qos2_whose_pubrec_was_lost_is_not_delivered_twice() {
    // [MQTT-4.3.3-2] (3.1.1) / [MQTT-4.3.3-9] (5.0): the pending id is kept across the
    // reconnect, so the re-sent PUBLISH only gets PUBREC, and the PUBREL delivers it once.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::ExactlyOnce);
        pair.drive_until(|p| p.has_event(|e| matches!(e, Event::Qos2Received { .. })));
        assert!(pair.in_flight_to_broker() > 0, "the PUBREC is on the wire");
        pair.drop_connection();
        assert_eq!(
            pair.client.pending_incoming_qos2(),
            1,
            "kept across the drop"
        );
        let mark = pair.client_sent.len();
        pair.reconnect(0);
        assert_eq!(
            pair.sent_since(mark)[1..].to_vec(),
            vec![vec![0x50, 0x02, 0x00, 0x01], vec![0x70, 0x02, 0x00, 0x01]]
        );
        assert_eq!(count(&pair, |e| matches!(e, Event::Qos2Received { .. })), 1);
        assert_eq!(
            pair.client_messages(),
            vec![("in".to_string(), b"m".to_vec(), QoS::ExactlyOnce)]
        );
        assert_eq!(pair.client.pending_incoming_qos2(), 0);
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

#[test]
fn incoming_qos2_whose_pubrel_was_lost_is_delivered_once_on_the_resent_pubrel() {
    // [MQTT-4.3.3-2]: the broker re-sends PUBREL; the client delivers on it.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::ExactlyOnce);
        pair.drive_until(|p| !p.broker.received("PUBREC").is_empty());
        assert!(pair.in_flight_to_client() > 0, "the PUBREL is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![vec![0x70, 0x02, 0x00, 0x01]]);
        assert_eq!(pair.client_messages().len(), 1);
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

#[test]
fn incoming_qos2_whose_pubcomp_was_lost_answers_the_resent_pubrel_without_redelivery() {
    // [MQTT-4.3.3-2]: PUBREL is always answered with PUBCOMP; 5.0 §3.7.2.1: 0x92 since the
    // id is no longer known ("not an error during recovery").
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.deliver("in", b"m", QoS::ExactlyOnce);
        pair.drive_until(|p| p.has_event(|e| matches!(e, Event::MessageReleased(_))));
        assert!(pair.in_flight_to_broker() > 0, "the PUBCOMP is on the wire");
        let resent = drop_and_reconnect(&mut pair);
        let expected = match v {
            ProtocolVersion::V311 => vec![0x70, 0x02, 0x00, 0x01],
            ProtocolVersion::V5 => vec![0x70, 0x03, 0x00, 0x01, 0x92],
        };
        assert_eq!(resent, vec![expected]);
        assert_eq!(pair.client_messages().len(), 1, "delivered exactly once");
        assert_eq!(pair.broker.unacked_to_client(), 0);
    }
}

// ------------------------------------------------------------------ order and requests

#[test]
fn resend_keeps_the_original_order() {
    // [MQTT-4.6.0-1]: PUBLISH packets are re-sent in the order they were first sent; a
    // message past PUBREC contributes its PUBREL at its place.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.script.withhold_pub_acks = true;
        pair.broker.script.withhold_pubcomp = true;
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
        let c = pair
            .client
            .publish(pair.now, "c", b"3", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        let d = pair
            .client
            .publish(pair.now, "d", b"4", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        pair.broker.send_packet(Packet::PubRec(Ack::new(b)));
        pair.drive();
        assert_eq!(pair.client_sent_of(6).len(), 1);
        pair.broker.script.withhold_pub_acks = false;
        pair.broker.script.withhold_pubcomp = false;
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(
            resent[..4].to_vec(),
            vec![
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), true),
                pubrel(b.get()),
                publish_bytes(v, "c", b"3", QosPid::ExactlyOnce(c), true),
                publish_bytes(v, "d", b"4", QosPid::AtLeastOnce(d), true),
            ]
        );
        assert_eq!(resent[4..].to_vec(), vec![pubrel(c.get())]);
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(
            pair.broker
                .accepted
                .iter()
                .filter(|m| m.topic == "b" || m.topic == "c")
                .count(),
            2
        );
    }
}

#[test]
fn pubrels_are_resent_in_the_order_the_pubrecs_arrived() {
    // [MQTT-4.6.0-4]: PUBREL packets go out in the order the corresponding PUBRECs were
    // received, also when they are re-sent after a reconnect.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.script.withhold_pub_acks = true;
        pair.broker.script.withhold_pubcomp = true;
        let b = pair
            .client
            .publish(pair.now, "b", b"2", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        let c = pair
            .client
            .publish(pair.now, "c", b"3", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        pair.broker.send_packet(Packet::PubRec(Ack::new(c)));
        pair.broker.send_packet(Packet::PubRec(Ack::new(b)));
        pair.drive();
        let rels: Vec<Vec<u8>> = pair.client_sent_of(6).into_iter().map(|(_, b)| b).collect();
        assert_eq!(rels, vec![pubrel(c.get()), pubrel(b.get())]);
        pair.broker.script.withhold_pubcomp = false;
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, vec![pubrel(c.get()), pubrel(b.get())]);
    }
}

#[test]
fn unacknowledged_subscribe_and_unsubscribe_are_resent() {
    // [MQTT-4.4.0-1] covers PUBLISH/PUBREL; SUBSCRIBE/UNSUBSCRIBE awaiting their ack are
    // requests the application made and is waiting on (SPEC: reconnect resends what was not
    // acknowledged), with their original packet identifiers.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.script.withhold_sub_acks = true;
        let sub = Subscription::new(TopicFilter::new("s/#").unwrap(), QoS::AtLeastOnce);
        let sid = pair.client.subscribe(pair.now, &[sub]).unwrap();
        let uid = pair
            .client
            .unsubscribe(pair.now, &[TopicFilter::new("old").unwrap()])
            .unwrap();
        pair.drive();
        let first: Vec<Vec<u8>> = pair.client_sent[1..]
            .iter()
            .map(|(_, b)| b.clone())
            .collect();
        assert_eq!(first.len(), 2);
        pair.broker.script.withhold_sub_acks = false;
        let resent = drop_and_reconnect(&mut pair);
        assert_eq!(resent, first, "same packets, same ids");
        let after = events_after_reconnect(&pair);
        assert!(
            matches!(after[1], Event::SubAck { id, .. } if id == sid),
            "{after:?}"
        );
        assert!(
            matches!(after[2], Event::UnsubAck { id, .. } if id == uid),
            "{after:?}"
        );
        assert_eq!(pair.client.packet_ids_in_use(), 0);
        assert_eq!(pair.client.subscriptions().count(), 1);
    }
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn publishes_made_while_offline_go_out_after_connack_in_order_without_dup() {
    // [MQTT-3.3.1-1]: a first attempt has DUP 0; [MQTT-4.6.0-1] order is kept.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.drop_connection();
        let q0 = pair
            .client
            .publish(pair.now, "o", b"0", QoS::AtMostOnce, false)
            .unwrap();
        let q1 = pair
            .client
            .publish(pair.now, "o", b"1", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        let q2 = pair
            .client
            .publish(pair.now, "o", b"2", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        assert_eq!(q0, None);
        assert_eq!(pair.client.queued_len(), 3);
        let mark = pair.client_sent.len();
        pair.reconnect(0);
        let sent = pair.sent_since(mark);
        assert_eq!(
            sent[1..4].to_vec(),
            vec![
                publish_bytes(v, "o", b"0", QosPid::AtMostOnce, false),
                publish_bytes(v, "o", b"1", QosPid::AtLeastOnce(q1), false),
                publish_bytes(v, "o", b"2", QosPid::ExactlyOnce(q2), false),
            ]
        );
        assert_eq!(pair.client.queued_len(), 0);
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.broker.accepted.len(), 3);
    }
}

#[test]
fn disconnect_keeps_unacknowledged_messages_for_the_next_connection() {
    // SPEC (disconnect) + [MQTT-4.4.0-1]: a clean DISCONNECT does not end a kept session.
    for v in VERSIONS {
        let mut pair = persistent(v);
        pair.broker.script.withhold_pub_acks = true;
        let id = pair
            .client
            .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        pair.drive();
        pair.client
            .disconnect(pair.now, ReasonCode::NORMAL_DISCONNECTION);
        pair.drive();
        assert_eq!(pair.client.inflight_len(), 1);
        pair.broker.script.withhold_pub_acks = false;
        let mark = pair.client_sent.len();
        pair.reconnect(0);
        assert_eq!(
            pair.sent_since(mark)[1..].to_vec(),
            vec![publish_bytes(v, "t", b"m", QosPid::AtLeastOnce(id), true)]
        );
        assert_eq!(pair.client.inflight_len(), 0);
    }
}

// ------------------------------------------------------------------ fresh session

/// Builds a persistent session holding every kind of state, then reconnects to a broker
/// that lost the session. Returns the pair, the ids of (awaiting PUBCOMP, QoS 1, QoS 2
/// awaiting PUBREC), and the packets sent after the new CONNECT.
fn fresh_session_after_state(
    v: ProtocolVersion,
    resubscribe: bool,
) -> (Pair, [u16; 3], Vec<Vec<u8>>) {
    let mut config = SessionConfig::new("fresh", false, v);
    config.resubscribe_on_session_loss = resubscribe;
    let mut pair = Pair::new(config);
    pair.connect(0);
    let sub = Subscription::new(TopicFilter::new("s/#").unwrap(), QoS::ExactlyOnce);
    pair.client.subscribe(pair.now, &[sub]).unwrap();
    pair.drive();
    // C: past PUBREC, awaiting PUBCOMP.
    pair.broker.script.withhold_pubcomp = true;
    let c = pair
        .client
        .publish(pair.now, "c", b"C", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    // A (QoS 1) and B (QoS 2) unacknowledged.
    pair.broker.script.withhold_pub_acks = true;
    let a = pair
        .client
        .publish(pair.now, "a", b"A", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let b = pair
        .client
        .publish(pair.now, "b", b"B", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    // An incoming QoS 2 message stored, its PUBREL never coming.
    pair.broker.deliver("s/x", b"X", QoS::ExactlyOnce);
    pair.drive_until(|p| p.has_event(|e| matches!(e, Event::Qos2Received { .. })));
    assert_eq!(pair.client.inflight_len(), 3);
    assert_eq!(pair.client.pending_incoming_qos2(), 1);
    pair.drop_connection();
    pair.broker.script = Default::default();
    pair.broker.script.lose_session = true;
    let mark = pair.client_sent.len();
    pair.reconnect(0);
    let sent = pair.sent_since(mark)[1..].to_vec();
    (pair, [c.get(), a.get(), b.get()], sent)
}

#[test]
fn fresh_session_resends_unacknowledged_messages_as_new_and_reports_session_lost() {
    // [MQTT-3.2.2-2] (3.1.1) / 5.0 §3.2.2.1.1: Session Present 0 means the broker holds no
    // session; the client must not act as if it did: no DUP re-deliveries, no PUBREL for ids
    // the broker does not know. Messages past PUBREC are reported as unconfirmed, pending
    // incoming QoS 2 messages are released (their PUBREL will never come).
    // Issue 10 / SPEC "Exactly once, bounded" ("their completions fail with session lost,
    // unconfirmed"): the message past PUBREC now also fails on its own id, as PublishFailed
    // Unconfirmed just before SessionLost (this list gained that event).
    for v in VERSIONS {
        let (pair, [c, a, b], sent) = fresh_session_after_state(v, false);
        assert_eq!(
            events_after_reconnect(&pair)[..4].to_vec(),
            vec![
                Event::Connected {
                    session_present: false,
                    properties: Default::default()
                },
                Event::MessageReleased({
                    let mut m =
                        mqtt_sansio_session::Message::new("s/x", b"X", QoS::ExactlyOnce, false)
                            .unwrap();
                    m.packet_id = mqtt_sansio_proto::PacketId::new(1);
                    m
                }),
                Event::PublishFailed {
                    id: Some(pid(c)),
                    qos: QoS::ExactlyOnce,
                    reason: mqtt_sansio_session::PublishFailure::Unconfirmed,
                },
                Event::SessionLost {
                    resent: 2,
                    unconfirmed: 1,
                    released: 1
                },
            ]
        );
        assert_eq!(
            sent[..2].to_vec(),
            vec![
                publish_bytes(v, "a", b"A", QosPid::AtLeastOnce(pid(a)), false),
                publish_bytes(v, "b", b"B", QosPid::ExactlyOnce(pid(b)), false),
            ]
        );
        assert_eq!(sent[0][0], 0x32, "no DUP on a new session");
        assert_eq!(sent[1][0], 0x34);
        assert!(
            sent.iter().all(|p| p[0] != 0x62 || p[3] as u16 == b),
            "no PUBREL for the forgotten message"
        );
        assert!(
            sent.iter().all(|p| p[0] != 0x82),
            "no SUBSCRIBE without the resubscribe option"
        );
        assert_eq!(
            pair.client.subscriptions().count(),
            0,
            "the broker forgot them"
        );
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.client.pending_incoming_qos2(), 0);
        assert_eq!(pair.client.packet_ids_in_use(), 0);
        assert_eq!(
            pair.client_messages().len(),
            1,
            "the stored message delivered exactly once"
        );
    }
}

#[test]
fn fresh_session_with_the_resubscribe_option_subscribes_again_first() {
    // SessionConfig::resubscribe_on_session_loss: the confirmed subscriptions are re-sent
    // (ahead of the publishes) when the broker lost the session.
    for v in VERSIONS {
        let (pair, [_, a, b], sent) = fresh_session_after_state(v, true);
        assert_eq!(sent[0][0], 0x82, "SUBSCRIBE first: {sent:?}");
        let decoded = mqtt_sansio_proto::decode(&sent[0], v, &Default::default())
            .unwrap()
            .unwrap()
            .0;
        let Packet::Subscribe(s) = decoded else {
            panic!()
        };
        assert_eq!(s.subscriptions.len(), 1);
        assert_eq!(s.subscriptions[0].filter.as_str(), "s/#");
        assert_eq!(s.subscriptions[0].options.qos, QoS::ExactlyOnce);
        assert_eq!(
            sent[1..3].to_vec(),
            vec![
                publish_bytes(v, "a", b"A", QosPid::AtLeastOnce(pid(a)), false),
                publish_bytes(v, "b", b"B", QosPid::ExactlyOnce(pid(b)), false),
            ]
        );
        let after = events_after_reconnect(&pair);
        assert!(
            after
                .iter()
                .any(|e| matches!(e, Event::SubAck { id, .. } if *id == s.packet_id)),
            "{after:?}"
        );
        assert_eq!(pair.client.subscriptions().count(), 1);
        assert!(pair.client.is_connected());
    }
}

#[test]
fn session_present_without_client_state_reports_nothing_lost() {
    // [MQTT-3.2.2-2]/[MQTT-3.2.2-3]: Session Present 0 on a first connection is normal.
    let mut pair = Pair::v311("first", false);
    pair.connect(0);
    assert_eq!(
        pair.all_events(),
        vec![Event::Connected {
            session_present: false,
            properties: Default::default()
        }]
    );
}

#[test]
fn clean_session_reconnect_sends_unacknowledged_messages_as_new_ones() {
    // [MQTT-3.1.2-6]: a clean session starts a new session on the broker; the Session's
    // policy (Event::SessionLost) sends what the application published again as new messages.
    let mut pair = Pair::v311("clean", true);
    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    let id = pair
        .client
        .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.broker.script.withhold_pub_acks = false;
    let resent = drop_and_reconnect(&mut pair);
    assert_eq!(
        resent,
        vec![publish_bytes(
            ProtocolVersion::V311,
            "t",
            b"m",
            QosPid::AtLeastOnce(id),
            false
        )]
    );
    assert_eq!(
        events_after_reconnect(&pair),
        vec![
            Event::Connected {
                session_present: false,
                properties: Default::default()
            },
            Event::SessionLost {
                resent: 1,
                unconfirmed: 0,
                released: 0
            },
            Event::PubAck {
                id,
                reason: ReasonCode::Success,
                properties: Default::default()
            },
        ]
    );
}

// ------------------------------------------------------------------ 3.1.1 retry interval

#[test]
fn v311_retry_interval_is_off_by_default() {
    // [MQTT-4.4.0-1]: re-sending on a reconnect is the only time it is required.
    let mut pair = Pair::v311("noretry", false);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    pair.client
        .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    pair.run_until(at(10_000_000));
    assert_eq!(pair.client_sent_of(3).len(), 1);
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn v311_retry_interval_resends_with_dup_after_the_interval() {
    // SessionConfig::retry_interval_v311 (the seed's 20 s retry; 3.1.1 §4.4 allows it):
    // PUBLISH again with DUP [MQTT-3.3.1-1], PUBREL again (never with DUP [MQTT-3.6.1-1]).
    let mut config = SessionConfig::new("retry", false, ProtocolVersion::V311);
    config.retry_interval_v311 = Some(Duration::from_secs(5));
    let mut pair = Pair::new(config);
    pair.connect(0); // CONNACK at 20
    pair.broker.script.withhold_pub_acks = true;
    pair.broker.script.withhold_pubcomp = true;
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
    pair.broker.send_packet(Packet::PubRec(Ack::new(b))); // PUBREL b out at 40
    pair.drive();
    pair.run_until(at(10_500));
    let v = ProtocolVersion::V311;
    let sent: Vec<(u64, Vec<u8>)> = pair.client_sent[1..]
        .iter()
        .map(|(t, b)| (t.as_millis(), b.clone()))
        .collect();
    assert_eq!(
        sent,
        vec![
            (
                20,
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), false)
            ),
            (
                20,
                publish_bytes(v, "b", b"2", QosPid::ExactlyOnce(b), false)
            ),
            (40, pubrel(b.get())),
            (
                5_020,
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), true)
            ),
            (5_020, pubrel(b.get())),
            (
                10_020,
                publish_bytes(v, "a", b"1", QosPid::AtLeastOnce(a), true)
            ),
            (10_020, pubrel(b.get())),
        ]
    );
    // Once acknowledged, nothing is retried.
    pair.broker.send_packet(Packet::PubAck(Ack::new(a)));
    pair.broker.send_packet(Packet::PubComp(Ack::new(b)));
    pair.drive();
    let n = pair.client_sent.len();
    pair.run_until(at(60_000));
    assert_eq!(pair.client_sent.len(), n);
}

#[test]
fn v311_retry_interval_is_ignored_for_v5() {
    // [MQTT-4.4.0-1] (5.0): clients MUST NOT re-send messages other than on a reconnect.
    let mut config = SessionConfig::new("retry5", false, ProtocolVersion::V5);
    config.retry_interval_v311 = Some(Duration::from_secs(5));
    let mut pair = Pair::new(config);
    pair.broker.script.withhold_pub_acks = true;
    pair.connect(0);
    pair.client
        .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    pair.run_until(at(1_000_000));
    assert_eq!(pair.client_sent_of(3).len(), 1);
    assert_eq!(pair.client.poll_timeout(), None);
}
