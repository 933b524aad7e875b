//! Manual acknowledgements (issue 12, `AckMode::Manual`), over the simulated broker: PUBACK /
//! PUBREC go out only when the application acknowledges, always in the order the PUBLISH
//! packets arrived [MQTT-4.6.0-2] / [MQTT-4.6.0-3]; the window is 5.0's Receive Maximum
//! [MQTT-3.3.4-9] and, in 3.1.1, a point past which the Session stops reading; a message
//! never acknowledged comes back after a reconnect, with a new token, and the old one is
//! stale; QoS 2 stays exactly once.

mod support;

use std::num::NonZeroU16;
use std::time::Duration;

use mqtt_sansio_proto::{Packet, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, TopicName};
use mqtt_sansio_session::{
    AckError, AckMode, AckToken, DisconnectReason, Event, Message, SessionConfig,
};
use support::Pair;

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn manual(v: ProtocolVersion, window: u16) -> Pair {
    let mut config = SessionConfig::new("manual-acks", false, v);
    config.acks = AckMode::manual(NonZeroU16::new(window).unwrap());
    Pair::new(config)
}

/// Application messages handed over so far, in order.
fn messages(pair: &Pair) -> Vec<Message> {
    pair.events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message(m) | Event::MessageReleased(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn token(m: &Message) -> AckToken {
    m.ack_token()
        .expect("a QoS 1/2 message under manual acks has a token")
}

/// The acknowledgements the client put on the wire, in order, as (type, packet id).
fn acks_sent(pair: &Pair) -> Vec<(&'static str, u16)> {
    pair.client_sent
        .iter()
        .filter_map(|(_, b)| {
            let kind = match b[0] >> 4 {
                4 => "PUBACK",
                5 => "PUBREC",
                7 => "PUBCOMP",
                _ => return None,
            };
            Some((kind, u16::from_be_bytes([b[2], b[3]])))
        })
        .collect()
}

#[test]
fn out_of_order_acks_reach_the_wire_in_arrival_order() {
    for v in [V311, V5] {
        let mut pair = manual(v, 10);
        pair.connect(30);
        for n in 0..4 {
            pair.broker
                .deliver(&format!("jobs/{n}"), b"work", QoS::AtLeastOnce);
        }
        pair.drive();
        let got = messages(&pair);
        assert_eq!(got.len(), 4, "{v:?}: every message is handed over at once");
        assert!(
            acks_sent(&pair).is_empty(),
            "{v:?}: nothing acknowledged yet"
        );
        assert_eq!(pair.broker.unacked_to_client(), 4);
        assert_eq!(pair.client.unacknowledged(), 4);

        // The application finishes them out of order: 4th, 2nd, 3rd, then the 1st.
        for i in [3, 1, 2] {
            pair.client.ack(pair.now, token(&got[i])).unwrap();
            pair.drive();
            assert!(
                acks_sent(&pair).is_empty(),
                "{v:?}: an early acknowledgement waits for the first message"
            );
        }
        pair.client.ack(pair.now, token(&got[0])).unwrap();
        pair.drive();
        let ids: Vec<u16> = got.iter().map(|m| m.packet_id.unwrap().get()).collect();
        let expected: Vec<(&str, u16)> = ids.iter().map(|&id| ("PUBACK", id)).collect();
        assert_eq!(
            acks_sent(&pair),
            expected,
            "{v:?}: PUBACKs in arrival order"
        );
        let on_wire: Vec<u16> = pair
            .broker
            .received_packets("PUBACK")
            .into_iter()
            .map(|p| match p {
                Packet::PubAck(a) => a.packet_id.get(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(on_wire, ids, "{v:?}: the broker got them in that order");
        assert_eq!(pair.broker.unacked_to_client(), 0);
        assert_eq!(pair.client.unacknowledged(), 0);
        // Acknowledged once: the token is spent.
        assert_eq!(
            pair.client.ack(pair.now, token(&got[0])),
            Err(AckError::Stale)
        );
    }
}

#[test]
fn qos1_and_qos2_acknowledgements_keep_one_arrival_order() {
    for v in [V311, V5] {
        let mut pair = manual(v, 10);
        pair.connect(30);
        pair.broker.deliver("mixed/a", b"1", QoS::AtLeastOnce);
        pair.broker.deliver("mixed/b", b"2", QoS::ExactlyOnce);
        pair.broker.deliver("mixed/c", b"3", QoS::AtLeastOnce);
        pair.drive();
        let got = messages(&pair);
        assert_eq!(got.len(), 3, "{v:?}: QoS 2 is handed over at PUBLISH too");
        assert_eq!(got[1].qos, QoS::ExactlyOnce);
        assert_eq!(token(&got[1]).qos(), QoS::ExactlyOnce);

        pair.client.ack(pair.now, token(&got[2])).unwrap();
        pair.client.ack(pair.now, token(&got[1])).unwrap();
        pair.drive();
        assert!(acks_sent(&pair).is_empty(), "{v:?}: all wait for the first");
        pair.client.ack(pair.now, token(&got[0])).unwrap();
        pair.drive();
        let id = |i: usize| got[i].packet_id.unwrap().get();
        assert_eq!(
            acks_sent(&pair),
            [
                ("PUBACK", id(0)),
                ("PUBREC", id(1)),
                ("PUBACK", id(2)),
                // The broker's PUBREL completes the QoS 2 flow.
                ("PUBCOMP", id(1)),
            ],
            "{v:?}"
        );
        assert_eq!(pair.broker.unacked_to_client(), 0);
        // Exactly once: the PUBREL hands nothing over a second time.
        assert_eq!(messages(&pair).len(), 3, "{v:?}");
    }
}

#[test]
fn unacknowledged_messages_come_back_after_a_reconnect_with_new_tokens() {
    for v in [V311, V5] {
        let mut pair = manual(v, 10);
        pair.connect(30);
        pair.broker.deliver("again/1", b"one", QoS::AtLeastOnce);
        pair.broker.deliver("again/2", b"two", QoS::ExactlyOnce);
        pair.drive();
        let first = messages(&pair);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|m| !m.dup));

        pair.drop_connection();
        // Tokens of the connection that ended are stale; nothing is acknowledged by them.
        for m in &first {
            assert_eq!(pair.client.ack(pair.now, token(m)), Err(AckError::Stale));
        }
        assert!(
            acks_sent(&pair).is_empty(),
            "{v:?}: the Session acked nothing itself"
        );

        pair.reconnect(30);
        let all = messages(&pair);
        assert_eq!(all.len(), 4, "{v:?}: both handed over again: {all:?}");
        let again = &all[2..];
        for (old, new) in first.iter().zip(again) {
            assert_eq!(old.topic(), new.topic());
            assert_eq!(old.payload(), new.payload());
            assert_eq!(old.packet_id, new.packet_id);
            assert!(new.dup, "{v:?}: the broker's resend carries DUP");
            assert_ne!(token(old), token(new), "{v:?}: a new token");
        }
        for m in again {
            pair.client.ack(pair.now, token(m)).unwrap();
        }
        pair.drive();
        assert_eq!(pair.broker.unacked_to_client(), 0, "{v:?}");
        assert_eq!(messages(&pair).len(), 4, "{v:?}: nothing more handed over");
    }
}

#[test]
fn an_acknowledgement_held_back_at_a_disconnect_is_not_handed_over_again() {
    for v in [V311, V5] {
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let mut pair = manual(v, 10);
            pair.connect(30);
            pair.broker.deliver("held/first", b"1", QoS::AtLeastOnce);
            pair.broker.deliver("held/second", b"2", qos);
            pair.drive();
            let first = messages(&pair);
            // The second is done, but its acknowledgement waits for the first one's.
            pair.client.ack(pair.now, token(&first[1])).unwrap();
            pair.drive();
            assert!(acks_sent(&pair).is_empty());

            pair.drop_connection();
            pair.reconnect(30);
            let all = messages(&pair);
            assert_eq!(
                all.len(),
                3,
                "{v:?} {qos:?}: only the unacknowledged one is handed over again: {all:?}"
            );
            assert_eq!(all[2].topic(), "held/first");
            pair.client.ack(pair.now, token(&all[2])).unwrap();
            pair.drive();
            let id = |i: usize| first[i].packet_id.unwrap().get();
            let second = if qos == QoS::AtLeastOnce {
                "PUBACK"
            } else {
                "PUBREC"
            };
            let sent = acks_sent(&pair);
            assert_eq!(
                &sent[..2],
                [("PUBACK", id(0)), (second, id(1))],
                "{v:?} {qos:?}: still in arrival order"
            );
            assert_eq!(pair.broker.unacked_to_client(), 0, "{v:?} {qos:?}");
            assert_eq!(messages(&pair).len(), 3, "{v:?} {qos:?}");
        }
    }
}

#[test]
fn qos2_acknowledged_is_never_handed_over_twice() {
    for v in [V311, V5] {
        let mut pair = manual(v, 10);
        pair.broker.script.withhold_pubrel = true;
        pair.connect(30);
        pair.broker.deliver("once/only", b"x", QoS::ExactlyOnce);
        pair.drive();
        let got = messages(&pair);
        assert_eq!(got.len(), 1);
        let id = got[0].packet_id.unwrap();
        pair.client.ack(pair.now, token(&got[0])).unwrap();
        pair.drive();
        assert_eq!(acks_sent(&pair), [("PUBREC", id.get())]);

        // The broker sends the PUBLISH again (its PUBREC was lost, say): answered with
        // PUBREC, not handed over [MQTT-4.3.3-2] / [MQTT-4.3.3-9].
        let mut p = Publish::new(
            TopicName::new("once/only").unwrap(),
            b"x",
            QosPid::ExactlyOnce(id),
        );
        p.dup = true;
        pair.broker.send_packet(Packet::Publish(p));
        pair.drive();
        assert_eq!(messages(&pair).len(), 1, "{v:?}: not handed over again");
        assert_eq!(
            acks_sent(&pair),
            [("PUBREC", id.get()), ("PUBREC", id.get())]
        );

        // Across a reconnect too, until the PUBREL.
        pair.drop_connection();
        pair.reconnect(30);
        assert_eq!(messages(&pair).len(), 1, "{v:?}");
        pair.broker.release(id.get());
        pair.drive();
        assert_eq!(acks_sent(&pair).last(), Some(&("PUBCOMP", id.get())));
        assert_eq!(pair.broker.unacked_to_client(), 0);
        assert_eq!(
            messages(&pair).len(),
            1,
            "{v:?}: the PUBREL hands nothing over"
        );
    }
}

#[test]
fn v311_stops_reading_at_the_window_and_resumes_on_ack() {
    let window = 2;
    let mut pair = manual(V311, window);
    pair.connect(30);
    for n in 0..6 {
        pair.broker
            .deliver(&format!("w/{n}"), b"p", QoS::AtLeastOnce);
    }
    pair.drive();
    assert_eq!(messages(&pair).len(), 2, "only the window is handed over");
    assert!(!pair.client.wants_read());
    assert_eq!(pair.client.unacknowledged(), 2);
    // The rest waits undecoded in the Session (the simulated transport ignores
    // `wants_read`; a real one stops reading).
    assert!(pair.client.pending_read_bytes() > 0);

    let mut acked = 0;
    while acked < 6 {
        let got = messages(&pair);
        assert!(pair.client.unacknowledged() <= usize::from(window));
        let m = &got[acked];
        assert_eq!(m.topic(), format!("w/{acked}"), "in order");
        pair.client.ack(pair.now, token(m)).unwrap();
        acked += 1;
        pair.drive();
    }
    assert_eq!(messages(&pair).len(), 6);
    assert!(pair.client.wants_read());
    assert_eq!(pair.client.pending_read_bytes(), 0);
    assert_eq!(pair.broker.unacked_to_client(), 0);
}

#[test]
fn v311_paused_reading_is_not_mistaken_for_a_silent_broker() {
    let mut pair = manual(V311, 1);
    pair.connect(10);
    pair.broker.deliver("slow/1", b"a", QoS::AtLeastOnce);
    pair.broker.deliver("slow/2", b"b", QoS::AtLeastOnce);
    pair.drive();
    assert!(!pair.client.wants_read());
    // Far past 1.5 x keepalive, with the broker's bytes (PINGRESPs included) unread.
    pair.advance(Duration::from_secs(120));
    assert!(pair.client.is_connected(), "{:?}", pair.events);
    let got = messages(&pair);
    assert_eq!(got.len(), 1);
    pair.client.ack(pair.now, token(&got[0])).unwrap();
    pair.drive();
    assert_eq!(
        messages(&pair).len(),
        2,
        "the buffered PUBLISH is decoded now"
    );
    assert!(pair.client.is_connected());
}

#[test]
fn v5_window_is_the_receive_maximum_and_exceeding_it_is_0x93() {
    let mut pair = manual(V5, 3);
    pair.connect(30);
    let connect = pair.broker.received_packets("CONNECT");
    let Packet::Connect(c) = &connect[0] else {
        panic!("{connect:?}")
    };
    assert_eq!(c.properties.receive_maximum(), Some(3));
    // 5.0 never pauses: the broker knows the window.
    for n in 0..3 {
        pair.broker
            .deliver(&format!("rm/{n}"), b"p", QoS::AtLeastOnce);
    }
    pair.drive();
    assert!(pair.client.wants_read());
    assert!(pair.client.is_connected());
    // A fourth unacknowledged message breaks [MQTT-3.3.4-9].
    pair.broker.deliver("rm/3", b"p", QoS::AtLeastOnce);
    pair.drive();
    assert!(
        pair.has_event(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Protocol(p),
                ..
            } if p.reason_code == ReasonCode::ReceiveMaximumExceeded
        )),
        "{:?}",
        pair.events
    );
    assert_eq!(messages(&pair).len(), 3);
}

#[test]
fn automatic_mode_hands_out_no_tokens_and_acks_at_once() {
    let mut pair = Pair::new(SessionConfig::new("auto", false, V311));
    pair.connect(30);
    pair.broker.deliver("auto/1", b"a", QoS::AtLeastOnce);
    pair.drive();
    let got = messages(&pair);
    assert_eq!(got[0].ack_token(), None);
    assert_eq!(
        acks_sent(&pair),
        [("PUBACK", got[0].packet_id.unwrap().get())]
    );
    // The 5.0 Receive Maximum stays the QoS 2 budget when acks are automatic.
    let mut pair = Pair::new(SessionConfig::new("auto5", false, V5));
    pair.connect(30);
    let connect = pair.broker.received_packets("CONNECT");
    let Packet::Connect(c) = &connect[0] else {
        panic!()
    };
    assert_eq!(c.properties.receive_maximum(), Some(100));
}

#[test]
fn v311_bytes_pushed_past_the_pause_end_the_connection_instead_of_growing() {
    let mut config = SessionConfig::new("pushy", false, V311);
    config.acks = AckMode::manual(NonZeroU16::new(1).unwrap());
    config.max_packet_size = 2048;
    let mut pair = Pair::new(config);
    pair.connect(30);
    // The simulated transport does not honour `wants_read`: 100 KiB arrive while paused.
    for n in 0..100 {
        pair.broker
            .deliver(&format!("push/{n}"), &[0u8; 1024], QoS::AtLeastOnce);
    }
    pair.drive();
    assert!(
        pair.has_event(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::UnreadBacklog,
                ..
            }
        )),
        "{:?}",
        pair.events
    );
    assert_eq!(pair.client.pending_read_bytes(), 0, "nothing kept");
    assert_eq!(messages(&pair).len(), 1, "only the window was handed over");
    // Nothing was acknowledged: after a reconnect the broker starts again from the first.
    pair.reconnect(30);
    let all = messages(&pair);
    assert_eq!(all[1].topic(), "push/0");
    assert!(all[1].dup);
}

/// Two Session values of one client (one rebuilt after the other, say) number their tokens
/// from 1 unless told otherwise, so a token kept from the first equals the second's token
/// for a message under the same packet identifier and QoS; started apart
/// (`start_ack_tokens_at`), the old token is stale on the new value.
#[test]
fn tokens_of_another_session_value_are_stale_when_their_numbering_starts_apart() {
    use std::num::NonZeroU32;
    let first_message = |start: Option<u32>| {
        let mut pair = manual(V5, 10);
        if let Some(start) = start {
            pair.client
                .start_ack_tokens_at(NonZeroU32::new(start).unwrap());
        }
        pair.connect(30);
        pair.broker.deliver("jobs/a", b"work", QoS::AtLeastOnce);
        pair.drive();
        let got = messages(&pair);
        assert_eq!(got.len(), 1);
        (pair, token(&got[0]))
    };

    // The hazard: both values start at 1.
    let (_old, old_token) = first_message(None);
    let (_new, new_token) = first_message(None);
    assert_eq!(old_token.packet_id(), new_token.packet_id());
    assert_eq!(old_token, new_token, "the same number, id and QoS");

    // Started apart: the old token is stale here, the new one acknowledges its message.
    let (_old, old_token) = first_message(Some(1));
    let (mut new, new_token) = first_message(Some(0x8000_0001));
    assert_eq!(old_token.packet_id(), new_token.packet_id());
    assert_eq!(new.client.ack(new.now, old_token), Err(AckError::Stale));
    new.drive();
    assert!(
        acks_sent(&new).is_empty(),
        "nothing acknowledged by the stale token"
    );
    new.client.ack(new.now, new_token).unwrap();
    new.drive();
    assert_eq!(
        acks_sent(&new),
        vec![("PUBACK", new_token.packet_id().get())]
    );
}

/// 5.0: a message the application acknowledged on an earlier connection, whose PUBACK never
/// left (an older one was still unacknowledged), is still unacknowledged for the broker: its
/// resend counts against our Receive Maximum like any other [MQTT-3.3.4-9]. Found by the
/// session fuzz target: the resend was taken past the window.
#[test]
fn a_resend_of_a_held_back_acknowledgement_counts_against_the_receive_maximum() {
    let mut config = SessionConfig::new("manual-acks", false, V5);
    config.acks = AckMode::manual(NonZeroU16::new(2).unwrap());
    let mut d = support::Direct::new(config);
    let publish = |d: &mut support::Direct, id: u16, dup: bool| {
        let mut p = Publish::new(
            TopicName::new("jobs").unwrap(),
            b"work",
            QosPid::AtLeastOnce(support::pid(id)),
        );
        p.dup = dup;
        d.feed_packet(Packet::Publish(p));
    };
    let tokens = |events: Vec<Event>| -> Vec<AckToken> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => m.ack_token(),
                _ => None,
            })
            .collect()
    };
    d.connect(0, false);
    publish(&mut d, 1, false);
    publish(&mut d, 2, false);
    let first = tokens(d.take_events());
    assert_eq!(first.len(), 2);
    // The second is done; its PUBACK waits for the first one's, and the connection drops.
    d.session.ack(d.now, first[1]).unwrap();
    d.take_sent();
    d.session.handle_closed(d.now);
    d.take_events();

    // The broker resumes and sends a new message, then resends both: three unacknowledged
    // for the broker, against a Receive Maximum of 2.
    d.connect(0, true);
    publish(&mut d, 3, false);
    publish(&mut d, 1, true);
    assert_eq!(d.session.unacknowledged(), 2);
    publish(&mut d, 2, true);
    assert!(d.session.unacknowledged() <= 2, "past the window");
    let events = d.take_events();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Protocol(p),
                ..
            } if p.reason_code == ReasonCode::ReceiveMaximumExceeded
        )),
        "{events:?}"
    );
}
