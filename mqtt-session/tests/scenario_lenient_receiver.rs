//! SPEC "On the wire": accept what the specifications let a receiver accept, consistently
//! across packet types. A QoS 0 PUBLISH with DUP = 1 is delivered ([MQTT-3.3.1-2] binds the
//! sender only), and an UNSUBACK for an unknown packet id is ignored like an unknown PUBACK,
//! PUBCOMP or SUBACK. An acknowledgement of the other request kind stays a protocol error.
mod support;

use mqtt_sansio_proto::{
    Packet, Properties, ProtocolVersion, QoS, ReasonCode, SubAck, Subscription, TopicFilter,
    UnsubAck,
};
use mqtt_sansio_session::{DisconnectReason, Event, SessionConfig};
use support::{pid, Direct};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

fn connected(v: ProtocolVersion) -> Direct {
    let mut d = Direct::new(SessionConfig::new("lenient", false, v));
    d.connect(30, false);
    d.take_sent();
    d.take_events();
    d
}

#[test]
fn qos0_publish_with_dup_is_delivered_with_dup_ignored() {
    // [MQTT-3.3.1-2] binds the sender; SPEC "On the wire": a receiver delivers it.
    for v in VERSIONS {
        let mut d = connected(v);
        let bytes: &[u8] = match v {
            ProtocolVersion::V311 => &[0x38, 0x04, 0x00, 0x01, b't', b'x'],
            ProtocolVersion::V5 => &[0x38, 0x05, 0x00, 0x01, b't', 0x00, b'x'],
        };
        d.feed(bytes);
        let events = d.take_events();
        let [Event::Message(m)] = events.as_slice() else {
            panic!("{v:?}: expected one message, got {events:?}")
        };
        assert_eq!(m.topic(), "t");
        assert_eq!(m.payload(), b"x");
        assert_eq!(m.qos, QoS::AtMostOnce);
        assert!(!m.dup, "DUP means nothing on QoS 0 and is not reported");
        assert!(d.session.is_connected(), "{v:?}");
        assert_eq!(d.take_sent(), Vec::<Vec<u8>>::new(), "QoS 0 gets no answer");
    }
}

#[test]
fn unsuback_for_an_unknown_packet_id_is_ignored() {
    // Like an unknown PUBACK/PUBCOMP/SUBACK: nothing to complete, nothing to close.
    for v in VERSIONS {
        let mut d = connected(v);
        let filter = TopicFilter::new("a").unwrap();
        let unsub_id = d.session.unsubscribe(d.now, &[filter]).unwrap();
        d.take_sent();
        let stray = pid(unsub_id.get().wrapping_add(7).max(1));
        let mut ack = UnsubAck::new(stray);
        if v == ProtocolVersion::V5 {
            ack.reason_codes = [ReasonCode::Success].into_iter().collect();
        }
        d.feed_packet(Packet::UnsubAck(ack));
        assert!(d.session.is_connected(), "{v:?}: {:?}", d.events);
        assert_eq!(d.take_events(), [], "{v:?}: no event for an ack of nothing");
        assert_eq!(d.take_sent(), Vec::<Vec<u8>>::new());
        // The real request is untouched and completes with its own UNSUBACK.
        assert!(d.session.is_packet_id_in_use(unsub_id));
        let mut ack = UnsubAck::new(unsub_id);
        if v == ProtocolVersion::V5 {
            ack.reason_codes = [ReasonCode::Success].into_iter().collect();
        }
        d.feed_packet(Packet::UnsubAck(ack));
        assert!(matches!(
            d.take_events().as_slice(),
            [Event::UnsubAck { id, .. }] if *id == unsub_id
        ));
    }
}

#[test]
fn suback_for_an_unknown_packet_id_is_ignored_but_for_an_unsubscribe_is_a_protocol_error() {
    for v in VERSIONS {
        let mut d = connected(v);
        let filter = TopicFilter::new("a").unwrap();
        let unsub_id = d.session.unsubscribe(d.now, &[filter]).unwrap();
        d.take_sent();
        let suback = |id| {
            Packet::SubAck(SubAck {
                packet_id: id,
                properties: Properties::EMPTY,
                reason_codes: [ReasonCode::GrantedQoS1].into_iter().collect(),
            })
        };
        d.feed_packet(suback(pid(unsub_id.get().wrapping_add(9).max(1))));
        assert!(d.session.is_connected(), "{v:?}");
        assert_eq!(d.take_events(), []);
        // 3.1.1 §4.3 / 5.0 §4.3: an acknowledgement of the other request kind.
        d.feed_packet(suback(unsub_id));
        let events = d.take_events();
        assert!(
            matches!(
                events.last(),
                Some(Event::Disconnected {
                    reason: DisconnectReason::Protocol(_),
                    ..
                })
            ),
            "{v:?}: {events:?}"
        );
    }
}

#[test]
fn unsuback_for_a_subscribe_stays_a_protocol_error() {
    for v in VERSIONS {
        let mut d = connected(v);
        let sub = Subscription::new(TopicFilter::new("a").unwrap(), QoS::AtMostOnce);
        let id = d.session.subscribe(d.now, &[sub]).unwrap();
        d.take_sent();
        let mut ack = UnsubAck::new(id);
        if v == ProtocolVersion::V5 {
            ack.reason_codes = [ReasonCode::Success].into_iter().collect();
        }
        d.feed_packet(Packet::UnsubAck(ack));
        let events = d.take_events();
        assert!(
            matches!(
                events.last(),
                Some(Event::Disconnected {
                    reason: DisconnectReason::Protocol(_),
                    ..
                })
            ),
            "{v:?}: {events:?}"
        );
        assert!(d.session.is_packet_id_in_use(id), "the request is kept");
    }
}
