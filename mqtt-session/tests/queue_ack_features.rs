//! The cargo features `offline-queue` and `manual-acks` (issue 15, both on by default): with
//! either off its code leaves the firmware and the typed API says what happens instead.
//! Without the queue, a publish that would wait (no connection, full window) is refused with
//! `PublishError::QueueFull`, nothing changes, and `Event::PublishUnblocked` follows when there
//! is room; what is in flight is still resent after a reconnect [MQTT-4.4.0-1]. Without manual
//! acknowledgements every QoS 1/2 message is acknowledged as it is handed over.
//!
//! Run both ways: `cargo test -p mqtt-sansio-session --test queue_ack_features` (default
//! features) and `cargo test -p mqtt-sansio-session --no-default-features --features
//! v311,v5,store --test queue_ack_features` (both off; `scripts/test` runs it so).

use mqtt_sansio_proto::{
    decode, Ack, ConnAck, Limits, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS,
    QosPid, ReasonCode, TopicName,
};
use mqtt_sansio_session::{
    ConnectOptions, Event, Instant, PublishError, Session, SessionConfig, SessionState,
};

const NOW: Instant = Instant::ZERO;
const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];
const QUEUE: bool = cfg!(feature = "offline-queue");

fn config(v: ProtocolVersion) -> SessionConfig {
    let mut c = SessionConfig::new("features", false, v);
    c.max_inflight = 2;
    c.max_queued = 4;
    c
}

fn encode(p: &Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(v, &mut out).unwrap();
    out
}

fn feed(s: &mut Session, v: ProtocolVersion, p: Packet<'_>) {
    s.handle_read(NOW, &encode(&p, v));
}

/// Every packet the Session hands out, decoded as the broker would: (type, id, dup).
fn sent(s: &mut Session, v: ProtocolVersion) -> Vec<(&'static str, Option<u16>, bool)> {
    let mut packets = Vec::new();
    let mut out = Vec::new();
    while s.poll_transmit(NOW, &mut out).is_some() {
        let Ok(Some((p, _))) = decode(&out, v, &Limits::default()) else {
            panic!("not a packet: {out:?}");
        };
        packets.push(match p {
            Packet::Connect(_) => ("CONNECT", None, false),
            Packet::Publish(p) => ("PUBLISH", p.qos.packet_id().map(PacketId::get), p.dup),
            Packet::PubAck(a) => ("PUBACK", Some(a.packet_id.get()), false),
            Packet::PubRec(a) => ("PUBREC", Some(a.packet_id.get()), false),
            other => panic!("unexpected {other:?}"),
        });
        out.clear();
    }
    packets
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn connack(s: &mut Session, v: ProtocolVersion, session_present: bool) {
    feed(
        s,
        v,
        Packet::ConnAck(ConnAck {
            session_present,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }),
    );
    assert_eq!(s.state(), SessionState::Connected, "{v:?}");
}

fn connect(s: &mut Session, v: ProtocolVersion) {
    s.connect(NOW, &ConnectOptions::new(0)).unwrap();
    assert_eq!(sent(s, v), [("CONNECT", None, false)], "{v:?}");
}

#[test]
fn a_publish_while_not_connected_is_queued_or_refused_with_queue_full() {
    for v in VERSIONS {
        let mut s = Session::new(config(v));
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let r = s.publish(NOW, "t", b"x", qos, false);
            if QUEUE {
                let id = r.unwrap_or_else(|e| panic!("{v:?} {qos:?}: {e}"));
                assert_eq!(id.is_some(), qos != QoS::AtMostOnce, "{v:?} {qos:?}");
            } else {
                assert_eq!(r, Err(PublishError::QueueFull), "{v:?} {qos:?}");
            }
        }
        if QUEUE {
            assert_eq!(s.queued_len(), 3, "{v:?}");
            assert_eq!(s.packet_ids_in_use(), 2, "{v:?}");
        } else {
            // Refused: nothing queued, no packet id taken, nothing to expire.
            assert_eq!(s.queued_len(), 0, "{v:?}");
            assert_eq!(s.queued_bytes(), 0, "{v:?}");
            assert_eq!(s.packet_ids_in_use(), 0, "{v:?}");
            assert_eq!(s.next_queue_expiry(), None, "{v:?}");
            assert!(!s.can_publish(QoS::AtMostOnce), "{v:?}");
            assert!(!s.can_publish(QoS::AtLeastOnce), "{v:?}");
        }
        assert_eq!(events(&mut s), [], "{v:?}");

        // Connecting does not make room either: still no CONNACK.
        connect(&mut s, v);
        if !QUEUE {
            assert_eq!(
                s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false),
                Err(PublishError::QueueFull),
                "{v:?}"
            );
        }
        connack(&mut s, v, false);
        let got = events(&mut s);
        let packets = sent(&mut s, v);
        if QUEUE {
            // The queued messages go out in order.
            assert_eq!(
                packets,
                [
                    ("PUBLISH", None, false),
                    ("PUBLISH", Some(1), false),
                    ("PUBLISH", Some(2), false)
                ],
                "{v:?}"
            );
        } else {
            // Connected: the refused publishes may be made now.
            assert!(
                matches!(
                    got.as_slice(),
                    [Event::Connected { .. }, Event::PublishUnblocked]
                ),
                "{v:?}: {got:?}"
            );
            assert_eq!(packets, [], "{v:?}");
            assert!(s.can_publish(QoS::AtMostOnce) && s.can_publish(QoS::ExactlyOnce));
            assert_eq!(s.publish(NOW, "t", b"x", QoS::AtMostOnce, false), Ok(None));
            let id = s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false).unwrap();
            assert_eq!(id.map(PacketId::get), Some(1), "{v:?}");
            assert_eq!(
                sent(&mut s, v),
                [("PUBLISH", None, false), ("PUBLISH", Some(1), false)],
                "{v:?}"
            );
        }
    }
}

#[test]
fn a_publish_with_the_window_full_is_queued_or_refused_with_queue_full() {
    for v in VERSIONS {
        let mut s = Session::new(config(v));
        connect(&mut s, v);
        connack(&mut s, v, false);
        let _ = events(&mut s);
        for _ in 0..2 {
            s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false).unwrap();
        }
        assert_eq!(s.inflight_len(), 2, "{v:?}");
        let third = s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false);
        // QoS 0 does not wait for the window, only behind what is queued (order is kept).
        assert_eq!(s.publish(NOW, "t", b"0", QoS::AtMostOnce, false), Ok(None));
        let packets = sent(&mut s, v);
        if QUEUE {
            assert_eq!(third.map(|id| id.map(PacketId::get)), Ok(Some(3)), "{v:?}");
            assert_eq!(s.queued_len(), 2, "{v:?}");
            assert_eq!(
                packets,
                [("PUBLISH", Some(1), false), ("PUBLISH", Some(2), false)]
            );
        } else {
            assert_eq!(third, Err(PublishError::QueueFull), "{v:?}");
            assert_eq!(s.queued_len(), 0, "{v:?}");
            assert_eq!(s.packet_ids_in_use(), 2, "{v:?}");
            assert_eq!(
                packets,
                [
                    ("PUBLISH", Some(1), false),
                    ("PUBLISH", Some(2), false),
                    ("PUBLISH", None, false)
                ],
                "{v:?}"
            );
        }
        assert_eq!(events(&mut s), [], "{v:?}");

        // PUBACK 1 frees a slot in the window.
        feed(
            &mut s,
            v,
            Packet::PubAck(Ack::new(PacketId::new(1).unwrap())),
        );
        let got = events(&mut s);
        assert!(
            matches!(got.first(), Some(Event::PubAck { .. })),
            "{v:?}: {got:?}"
        );
        if QUEUE {
            // The queued messages move on: 3 into the window, then the QoS 0 one.
            assert_eq!(
                sent(&mut s, v),
                [("PUBLISH", Some(3), false), ("PUBLISH", None, false)],
                "{v:?}"
            );
        } else {
            assert!(
                matches!(got.as_slice(), [_, Event::PublishUnblocked]),
                "{v:?}: {got:?}"
            );
            let id = s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false).unwrap();
            assert_eq!(id.map(PacketId::get), Some(3), "{v:?}");
            assert_eq!(sent(&mut s, v), [("PUBLISH", Some(3), false)], "{v:?}");
        }
    }
}

#[test]
fn what_is_in_flight_is_resent_after_a_reconnect_with_or_without_the_queue() {
    for v in VERSIONS {
        let mut s = Session::new(config(v));
        connect(&mut s, v);
        connack(&mut s, v, false);
        let a = s.publish(NOW, "t", b"a", QoS::AtLeastOnce, false).unwrap();
        let b = s.publish(NOW, "t", b"b", QoS::ExactlyOnce, false).unwrap();
        let ids: Vec<u16> = [a, b].into_iter().flatten().map(PacketId::get).collect();
        assert_eq!(ids, [1, 2], "{v:?}");
        assert_eq!(
            sent(&mut s, v),
            [("PUBLISH", Some(1), false), ("PUBLISH", Some(2), false)]
        );
        s.handle_closed(NOW);
        let _ = events(&mut s);
        assert_eq!(s.inflight_len(), 2, "{v:?}");

        // The broker resumed the session: both again, same ids, DUP set [MQTT-3.3.1-1],
        // in their original order [MQTT-4.4.0-1] / [MQTT-4.6.0-1].
        connect(&mut s, v);
        connack(&mut s, v, true);
        assert_eq!(
            sent(&mut s, v),
            [("PUBLISH", Some(1), true), ("PUBLISH", Some(2), true)],
            "{v:?}"
        );
        feed(
            &mut s,
            v,
            Packet::PubAck(Ack::new(PacketId::new(1).unwrap())),
        );
        assert_eq!(s.inflight_len(), 1, "{v:?}");
    }
}

#[test]
fn incoming_qos_1_and_2_are_acknowledged_as_they_are_handed_over() {
    for v in VERSIONS {
        let mut s = Session::new(config(v));
        connect(&mut s, v);
        connack(&mut s, v, false);
        let _ = events(&mut s);
        for (qos, id) in [
            (QosPid::AtLeastOnce(PacketId::new(7).unwrap()), 7),
            (QosPid::ExactlyOnce(PacketId::new(8).unwrap()), 8),
        ] {
            feed(
                &mut s,
                v,
                Packet::Publish(Publish {
                    dup: false,
                    qos,
                    retain: false,
                    topic: TopicName::new("in").unwrap(),
                    properties: Properties::EMPTY,
                    payload: b"m",
                }),
            );
            let kind = if id == 7 { "PUBACK" } else { "PUBREC" };
            assert_eq!(sent(&mut s, v), [(kind, Some(id), false)], "{v:?}");
        }
        let got = events(&mut s);
        match got.as_slice() {
            [Event::Message(m), Event::Qos2Received { id }] => {
                assert_eq!(m.ack_token(), None, "{v:?}");
                assert_eq!(id.get(), 8, "{v:?}");
            }
            other => panic!("{v:?}: {other:?}"),
        }
        assert!(s.wants_read(), "{v:?}");
        assert_eq!(s.unacknowledged(), 0, "{v:?}");
    }
}

/// A session restored under a smaller window than its messages took: only the window's worth
/// goes out at once, the rest as acknowledgements free room, every message once and in
/// order. With the queue the surplus waits there; without, it waits in flight, unsent.
#[cfg(feature = "store")]
#[test]
fn a_restored_session_sends_no_more_than_the_window() {
    use mqtt_sansio_session::store::MemoryStore;
    for v in VERSIONS {
        let mut wide = config(v);
        wide.max_inflight = 4;
        let mut s = Session::with_store(wide, Box::new(MemoryStore::new())).unwrap();
        connect(&mut s, v);
        connack(&mut s, v, false);
        let ids: Vec<u16> = (0..4)
            .map(|_| {
                let id = s.publish(NOW, "t", b"x", QoS::AtLeastOnce, false);
                id.unwrap().unwrap().get()
            })
            .collect();
        assert_eq!(sent(&mut s, v).len(), 4, "{v:?}");
        s.handle_closed(NOW);
        let store = s.take_store().unwrap();

        // config(v) has a window of 2.
        let mut s = Session::with_store(config(v), store).unwrap();
        connect(&mut s, v);
        connack(&mut s, v, true);
        let mut order = Vec::new();
        loop {
            let packets = sent(&mut s, v);
            if packets.is_empty() {
                break;
            }
            assert!(
                packets.len() <= 2,
                "{v:?}: more than the window: {packets:?}"
            );
            for (kind, id, dup) in packets {
                assert_eq!(kind, "PUBLISH", "{v:?}");
                // It went out before the restart [MQTT-3.3.1-1].
                assert!(dup, "{v:?}: resent without DUP");
                let id = id.unwrap();
                order.push(id);
                feed(
                    &mut s,
                    v,
                    Packet::PubAck(Ack::new(PacketId::new(id).unwrap())),
                );
            }
        }
        assert_eq!(order, ids, "{v:?}");
        assert_eq!(s.inflight_len() + s.queued_len(), 0, "{v:?}");
    }
}
