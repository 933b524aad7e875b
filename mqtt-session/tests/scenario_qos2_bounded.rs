//! SPEC "Exactly once, bounded": incoming QoS 2 messages are held until PUBREL within a
//! budget of `max_incoming_qos2` messages and `max_incoming_qos2_bytes` bytes. Past it, a 3.1.1
//! broker (which cannot know our bound) or any broker past the byte budget (which no broker
//! knows) is not at fault: the Session keeps only the packet id (a 65,536-bit set allocated
//! the first time), delivers the message at PUBLISH, answers a duplicate with PUBREC only and
//! the PUBREL with PUBCOMP. In 5.0 the count is our Receive Maximum and exceeding it stays a
//! protocol error 0x93 [MQTT-3.3.4-9].

mod support;

use std::collections::BTreeMap;

use mqtt_sansio_proto::{
    Ack, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, TopicName,
};
use mqtt_sansio_session::{
    Command, DisconnectReason, Dispatcher, Event, Instant, Session, SessionConfig,
};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use support::{pid, Direct, Pair};

// ---------------------------------------------------------------------------------------------
// A counting allocator (as in tests/hostile_broker.rs): peak heap bytes of the calling thread.

#[path = "support/thread_heap.rs"]
mod thread_heap;
use thread_heap::{heap_now, peak_heap};

// ---------------------------------------------------------------------------------------------

const V311: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;

fn publish_bytes(v: ProtocolVersion, id: u16, payload: &[u8], dup: bool) -> Vec<u8> {
    let topic = TopicName::new("q2/bounded").unwrap();
    let mut p = Publish::new(topic, payload, QosPid::ExactlyOnce(pid(id)));
    p.dup = dup;
    let mut out = Vec::new();
    Packet::Publish(p).encode(v, &mut out).unwrap();
    out
}

fn pubrel_bytes(v: ProtocolVersion, id: u16) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::PubRel(Ack::new(pid(id)))
        .encode(v, &mut out)
        .unwrap();
    out
}

fn pubrec(id: u16) -> Vec<u8> {
    vec![0x50, 0x02, (id >> 8) as u8, id as u8]
}

fn pubcomp(v: ProtocolVersion, id: u16, reason: ReasonCode) -> Vec<u8> {
    let mut out = Vec::new();
    let ack = Ack {
        packet_id: pid(id),
        reason,
        properties: Properties::EMPTY,
    };
    Packet::PubComp(ack).encode(v, &mut out).unwrap();
    out
}

fn direct(v: ProtocolVersion, max_count: u16, max_bytes: usize) -> Direct {
    let mut c = SessionConfig::new("bounded", false, v);
    c.max_incoming_qos2 = max_count;
    c.max_incoming_qos2_bytes = max_bytes;
    let mut d = Direct::new(c);
    d.connect(0, false);
    d.take_sent();
    d.take_events();
    d
}

/// One event delivering a QoS 2 message at PUBLISH, with this payload and packet id.
fn delivered_at_publish(events: &[Event], id: u16, payload: &[u8]) -> bool {
    matches!(events, [Event::Message(m)]
        if m.qos == QoS::ExactlyOnce && m.packet_id == PacketId::new(id) && m.payload() == payload)
}

#[test]
fn v311_past_the_count_delivers_at_publish_and_answers_duplicates_with_pubrec_only() {
    // SPEC "Exactly once, bounded" (3.1.1): past max_incoming_qos2 keep only the id.
    let mut d = direct(V311, 2, 1 << 20);
    for id in 1..=2 {
        d.feed(&publish_bytes(V311, id, b"held", false));
        assert_eq!(d.take_events(), [Event::Qos2Received { id: pid(id) }]);
        assert_eq!(d.take_sent(), [pubrec(id)]);
    }
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
    d.feed(&publish_bytes(V311, 3, b"third", false));
    assert!(delivered_at_publish(&d.take_events(), 3, b"third"));
    assert_eq!(d.take_sent(), [pubrec(3)]);
    assert!(
        d.session.is_connected(),
        "3.1.1 past the budget is not a fault"
    );
    assert_eq!(d.session.pending_incoming_qos2(), 2);
    assert_eq!(d.session.incoming_qos2_ids_only(), 1);
    // [MQTT-4.3.3-2] the receiver answers every PUBLISH with PUBREC; a duplicate (DUP = 1, or
    // not) of an id-only message is never delivered twice.
    for dup in [true, false, true] {
        d.feed(&publish_bytes(V311, 3, b"third", dup));
        assert_eq!(d.take_events(), [], "a duplicate is not delivered again");
        assert_eq!(d.take_sent(), [pubrec(3)]);
    }
    // PUBREL removes the id and gets PUBCOMP; no second delivery on release.
    d.feed(&pubrel_bytes(V311, 3));
    assert_eq!(d.take_events(), []);
    assert_eq!(d.take_sent(), [pubcomp(V311, 3, ReasonCode::Success)]);
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
    // The held ones are released as before.
    d.feed(&pubrel_bytes(V311, 1));
    assert!(matches!(d.take_events().as_slice(),
        [Event::MessageReleased(m)] if m.packet_id == PacketId::new(1) && m.payload() == b"held"));
    // After its PUBREL the id is free again: a new PUBLISH with it is a new message.
    d.feed(&publish_bytes(V311, 3, b"new", false));
    assert_eq!(d.take_events(), [Event::Qos2Received { id: pid(3) }]);
    assert!(d.session.is_connected());
}

#[test]
fn byte_budget_overflow_delivers_at_publish_in_both_versions() {
    // SPEC "Exactly once, bounded": the budget is also bytes (topic, properties, payload). No
    // broker knows it, so in 5.0 too exceeding only the byte budget is not a protocol error.
    let topic_len = "q2/bounded".len();
    for v in [V311, V5] {
        let budget = 2 * (topic_len + 400) + 10;
        let mut d = direct(v, 100, budget);
        let payload = [7u8; 400];
        for id in 1..=2 {
            d.feed(&publish_bytes(v, id, &payload, false));
            assert_eq!(
                d.take_events(),
                [Event::Qos2Received { id: pid(id) }],
                "{v:?}"
            );
            assert_eq!(d.take_sent(), [pubrec(id)], "{v:?}");
        }
        assert_eq!(
            d.session.pending_incoming_qos2_bytes(),
            2 * (topic_len + 400)
        );
        d.feed(&publish_bytes(v, 3, &payload, false));
        assert!(delivered_at_publish(&d.take_events(), 3, &payload), "{v:?}");
        assert_eq!(d.take_sent(), [pubrec(3)], "{v:?}");
        // A small one still fits in the bytes left.
        d.feed(&publish_bytes(v, 4, b"", false));
        assert_eq!(d.take_sent(), [pubrec(4)], "{v:?}");
        assert_eq!(
            d.take_events(),
            [Event::Qos2Received { id: pid(4) }],
            "{v:?}"
        );
        assert!(d.session.is_connected(), "{v:?}");
        assert!(d.session.pending_incoming_qos2_bytes() <= budget);
        assert_eq!(d.session.pending_incoming_qos2(), 3);
        assert_eq!(d.session.incoming_qos2_ids_only(), 1);
        // Releasing a held one frees its bytes.
        d.feed(&pubrel_bytes(v, 1));
        assert_eq!(
            d.session.pending_incoming_qos2_bytes(),
            topic_len + 400 + topic_len
        );
        d.feed(&pubrel_bytes(v, 3));
        let events = d.take_events();
        assert_eq!(
            events.len(),
            1,
            "only the held message is released: {events:?}"
        );
        assert_eq!(
            d.take_sent(),
            [
                pubcomp(v, 1, ReasonCode::Success),
                pubcomp(v, 3, ReasonCode::Success)
            ]
        );
        assert_eq!(d.session.incoming_qos2_ids_only(), 0);
    }
}

#[test]
fn v5_past_receive_maximum_is_still_a_protocol_error_0x93() {
    // [MQTT-3.3.4-9]: the count is announced as Receive Maximum; exceeding it is the
    // broker's fault, whatever the byte budget.
    let mut d = direct(V5, 2, 1 << 20);
    for id in 1..=2 {
        d.feed(&publish_bytes(V5, id, b"x", false));
    }
    d.take_sent();
    d.take_events();
    d.feed(&publish_bytes(V5, 3, b"x", false));
    let events = d.take_events();
    let Some(Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    }) = events.last()
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.reason_code, ReasonCode::ReceiveMaximumExceeded);
    assert_eq!(e.rule.v5(), Some("MQTT-3.3.4-9"));
    assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
    assert_eq!(d.take_sent(), [vec![0xE0, 0x01, 0x93]]);
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
}

#[test]
fn the_id_set_survives_a_reconnect_of_a_resumed_session() {
    // clean_session = false: the ids are session state like the held messages.
    let mut d = direct(V311, 1, 1 << 20);
    d.feed(&publish_bytes(V311, 1, b"held", false));
    d.feed(&publish_bytes(V311, 2, b"once", false));
    assert!(delivered_at_publish(&d.take_events()[1..], 2, b"once"));
    d.take_sent();
    d.close();
    d.take_events();
    d.connect(0, true);
    d.take_sent();
    assert_eq!(
        d.take_events(),
        [Event::Connected {
            session_present: true,
            properties: Default::default(),
        }]
    );
    assert_eq!(d.session.incoming_qos2_ids_only(), 1);
    // The broker did not see our PUBREC: it sends the PUBLISH again [MQTT-4.4.0-1].
    d.feed(&publish_bytes(V311, 2, b"once", true));
    assert_eq!(
        d.take_events(),
        [],
        "not delivered a second time after the reconnect"
    );
    assert_eq!(d.take_sent(), [pubrec(2)]);
    d.feed(&pubrel_bytes(V311, 2));
    assert_eq!(d.take_sent(), [pubcomp(V311, 2, ReasonCode::Success)]);
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
    assert_eq!(d.session.pending_incoming_qos2(), 1);
}

#[test]
fn a_session_not_resumed_clears_the_id_set() {
    // The new session will never release those ids, and may reuse them for new messages.
    let mut d = direct(V311, 1, 1 << 20);
    d.feed(&publish_bytes(V311, 1, b"held", false));
    d.feed(&publish_bytes(V311, 2, b"old", false));
    d.take_events();
    d.take_sent();
    d.close();
    d.take_events();
    d.connect(0, false);
    let events = d.take_events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SessionLost { released: 1, .. })),
        "{events:?}"
    );
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
    assert_eq!(d.session.pending_incoming_qos2(), 0);
    d.take_sent();
    d.feed(&publish_bytes(V311, 2, b"new", false));
    assert_eq!(
        d.take_events(),
        [Event::Qos2Received { id: pid(2) }],
        "a new message with a reused id is new"
    );
}

#[test]
fn the_id_set_is_allocated_only_when_the_budget_is_first_exceeded() {
    // SPEC: "allocated only when the budget is first exceeded, so a session that never
    // overflows pays nothing for it".
    let mut c = SessionConfig::new("lazy", false, V311);
    c.max_incoming_qos2 = 4;
    let mut s = Session::new(c);
    let now = Instant::from_millis(0);
    s.connect(now, &mqtt_sansio_session::ConnectOptions::new(0))
        .unwrap();
    s.handle_read(now, &[0x20, 0x02, 0x00, 0x00]);
    let mut out = Vec::with_capacity(64);
    let mut drain = |s: &mut Session| {
        while s.poll_transmit(now, &mut out).is_some() {
            out.clear();
        }
        while s.poll_event().is_some() {}
    };
    drain(&mut s);
    let packets: Vec<Vec<u8>> = (1..=6)
        .map(|id| publish_bytes(V311, id, b"", false))
        .collect();
    let releases: Vec<Vec<u8>> = (1..=4).map(|id| pubrel_bytes(V311, id)).collect();
    // Fill and empty the budget a few times: what it costs is held messages only.
    let before = heap_now();
    for _ in 0..3 {
        for p in &packets[..4] {
            s.handle_read(now, p);
            drain(&mut s);
        }
        for r in &releases {
            s.handle_read(now, r);
            drain(&mut s);
        }
    }
    let within = heap_now() - before;
    assert!(
        within < 1024,
        "no id set while within the budget: {within} bytes"
    );
    for p in &packets {
        s.handle_read(now, p);
        drain(&mut s);
    }
    assert_eq!(s.incoming_qos2_ids_only(), 2);
    let after = heap_now() - before;
    assert!(
        after >= 8192,
        "the 65,536-bit set exists once exceeded: {after} bytes"
    );
}

#[test]
fn v311_flood_of_10x_budget_unreleased_keeps_the_heap_within_the_budget() {
    // Issue 11 item 1 at scale: 10 x max_incoming_qos2 unreleased 1 KiB messages, then
    // duplicates of all of them, then the releases: each delivered exactly once, the
    // connection never closed, and the heap bounded by the budget plus the 8 KiB id set.
    const MAX: u16 = 50;
    const N: u16 = 10 * MAX;
    let mut c = SessionConfig::new("flood", false, V311);
    c.max_incoming_qos2 = MAX;
    let mut s = Session::new(c);
    let now = Instant::from_millis(0);
    s.connect(now, &mqtt_sansio_session::ConnectOptions::new(0))
        .unwrap();
    s.handle_read(now, &[0x20, 0x02, 0x00, 0x00]);
    let payload = vec![0xA5u8; 1024];
    let mut times_delivered = vec![0u8; usize::from(N) + 1];
    let mut one = Vec::with_capacity(2048);
    let mut out = Vec::with_capacity(64);
    let mut disconnected = false;
    let mut drain = |s: &mut Session, times: &mut [u8]| {
        while s.poll_transmit(now, &mut out).is_some() {
            out.clear();
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::Message(m) | Event::MessageReleased(m) => {
                    if let Some(t) = m
                        .packet_id
                        .and_then(|id| times.get_mut(usize::from(id.get())))
                    {
                        *t += 1;
                    }
                }
                Event::Disconnected { .. } => disconnected = true,
                _ => {}
            }
        }
    };
    drain(&mut s, &mut times_delivered);
    let (_, peak) = peak_heap(|| {
        for round in 0..2 {
            for id in 1..=N {
                one.clear();
                let topic = TopicName::new("flood").unwrap();
                let mut p = Publish::new(topic, &payload, QosPid::ExactlyOnce(pid(id)));
                p.dup = round == 1;
                Packet::Publish(p).encode(V311, &mut one).unwrap();
                s.handle_read(now, &one);
                drain(&mut s, &mut times_delivered);
            }
        }
        assert_eq!(s.pending_incoming_qos2(), usize::from(MAX));
        assert_eq!(s.incoming_qos2_ids_only(), usize::from(N - MAX));
        for id in (1..=N).rev() {
            one.clear();
            Packet::PubRel(Ack::new(pid(id)))
                .encode(V311, &mut one)
                .unwrap();
            s.handle_read(now, &one);
            drain(&mut s, &mut times_delivered);
        }
    });
    assert!(!disconnected && s.is_connected());
    assert!(
        times_delivered[1..].iter().all(|&t| t == 1),
        "every message exactly once"
    );
    assert_eq!(s.pending_incoming_qos2(), 0);
    assert_eq!(s.incoming_qos2_ids_only(), 0);
    let budget = usize::from(MAX) * (payload.len() + 256) + 8192 + 16 * 1024;
    assert!(
        peak <= budget,
        "peak heap {peak} bytes for 10 MiB of traffic, budget {budget}"
    );
}

#[test]
fn v311_broker_holding_10x_budget_delivers_every_message_exactly_once() {
    // The simulated 3.1.1 broker holds 10 x max_incoming_qos2 unreleased messages, resends
    // some, and releases them in random order. Messages go through a Dispatcher with
    // `on_message`, as an application would see them.
    const MAX: u16 = 8;
    const N: usize = 10 * MAX as usize;
    let mut c = SessionConfig::new("held", false, V311);
    c.max_incoming_qos2 = MAX;
    let mut pair = Pair::new(c);
    pair.broker.script.withhold_pubrel = true;
    pair.connect(0);
    let mut rng = StdRng::seed_from_u64(11);
    let mut sent = BTreeMap::new();
    for i in 0..N {
        let payload = format!("m{i}").into_bytes();
        pair.broker.deliver("held/t", &payload, QoS::ExactlyOnce);
        sent.insert(payload.clone(), 0usize);
        if rng.gen_bool(0.3) {
            // A duplicate on the wire, as if our PUBREC had crossed it.
            let id = u16::try_from(i + 1).unwrap();
            let topic = TopicName::new("held/t").unwrap();
            let mut p = Publish::new(topic, &payload, QosPid::ExactlyOnce(pid(id)));
            p.dup = true;
            pair.broker.send_packet(Packet::Publish(p));
        }
    }
    pair.drive();
    assert_eq!(pair.broker.unreleased().len(), N);
    assert!(pair.client.pending_incoming_qos2() <= usize::from(MAX));
    assert_eq!(
        pair.client.pending_incoming_qos2() + pair.client.incoming_qos2_ids_only(),
        N
    );
    let mut order = pair.broker.unreleased();
    order.shuffle(&mut rng);
    for id in order {
        pair.broker.release(id);
        if rng.gen_bool(0.2) {
            pair.drive();
        }
    }
    pair.drive();
    assert_eq!(pair.broker.unacked_to_client(), 0, "every flow completed");
    assert_eq!(pair.client.pending_incoming_qos2(), 0);
    assert_eq!(pair.client.incoming_qos2_ids_only(), 0);
    assert_eq!(pair.broker.connects, 1, "no reconnect");
    assert!(
        !pair.has_event(|e| matches!(e, Event::Disconnected { .. })),
        "no disconnect"
    );
    let mut dispatcher = Dispatcher::new();
    dispatcher.on_message(Command::Publish);
    for (_, e) in &pair.events {
        dispatcher
            .dispatch(e, |_, e| {
                let m = e.message().expect("on_message only gets messages");
                *sent
                    .get_mut(m.payload())
                    .expect("a message the broker sent") += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
    }
    assert!(
        sent.values().all(|&n| n == 1),
        "each message handed to on_message exactly once: {sent:?}"
    );
}

#[test]
fn v5_receive_maximum_counts_messages_kept_as_ids_only_too() {
    // [MQTT-3.3.4-9]: Receive Maximum bounds every unacknowledged QoS 2 message, so one past
    // the byte budget (kept as an id only) still counts towards it.
    let budget = "q2/bounded".len() + 100;
    let mut d = direct(V5, 2, budget);
    d.feed(&publish_bytes(V5, 1, &[1; 100], false));
    d.feed(&publish_bytes(V5, 2, &[2; 100], false));
    assert_eq!(d.session.pending_incoming_qos2(), 1);
    assert_eq!(d.session.incoming_qos2_ids_only(), 1);
    assert!(d.session.is_connected());
    d.take_sent();
    d.take_events();
    d.feed(&publish_bytes(V5, 3, b"", false));
    let events = d.take_events();
    assert!(
        matches!(
            events.last(),
            Some(Event::Disconnected {
                reason: DisconnectReason::Protocol(e), ..
            }) if e.reason_code == ReasonCode::ReceiveMaximumExceeded
        ),
        "{events:?}"
    );
    assert_eq!(d.take_sent(), [vec![0xE0, 0x01, 0x93]]);
}
