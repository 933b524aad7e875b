//! The cargo features `topic-aliases` and `enhanced-auth` (issue 15, both on by default): with
//! either off its code leaves the firmware, and the Session still follows the protocol: it
//! asks the broker for nothing it cannot handle, and treats what the broker must then not send
//! as a protocol error.
//!
//! Run both ways: `cargo test -p mqtt-sansio-session --test optional_features` (default
//! features) and `cargo test -p mqtt-sansio-session --no-default-features --features v311,v5
//! --test optional_features` (both off; `scripts/test` runs it so).

use mqtt_sansio_proto::{
    decode, decode_from_server, rules, Auth, ConnAck, DecodeError, Limits, Packet, PropertiesBuf,
    Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, TopicName,
};
use mqtt_sansio_session::{
    ConnectOptions, DisconnectReason, Event, Instant, PublishError, Session, SessionConfig,
    TopicAliasPolicy,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const NOW: Instant = Instant::ZERO;

fn encode(p: &Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(V5, &mut out).unwrap();
    out
}

fn drain_transmit(s: &mut Session) -> Vec<u8> {
    let mut out = Vec::new();
    while s.poll_transmit(NOW, &mut out).is_some() {}
    out
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// A 5.0 session that asks for up to 10 aliases from the broker and wants to choose its own,
/// CONNECT sent; returns it with the CONNECT bytes.
fn connecting() -> (Session, Vec<u8>) {
    let mut config = SessionConfig::new("features", true, V5);
    config.topic_alias_maximum = 10;
    config.outgoing_topic_aliases = TopicAliasPolicy::Manual;
    let mut s = Session::new(config);
    s.connect(NOW, &ConnectOptions::new(30)).unwrap();
    let connect = drain_transmit(&mut s);
    (s, connect)
}

/// Connected to a broker that allows 5 topic aliases.
fn connected() -> Session {
    let (mut s, _) = connecting();
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAliasMaximum(5)).unwrap();
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: props.as_properties(),
    });
    s.handle_read(NOW, &encode(&connack));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::Connected { .. }]
    ));
    s
}

fn is_protocol_error(e: &Event) -> bool {
    matches!(
        e,
        Event::Disconnected {
            reason: DisconnectReason::Protocol(_),
            ..
        }
    )
}

#[test]
fn connect_announces_a_topic_alias_maximum_only_with_topic_aliases() {
    let (_, bytes) = connecting();
    let Ok(Some((Packet::Connect(c), _))) = decode(&bytes, V5, &Limits::default()) else {
        panic!("not a CONNECT: {bytes:?}");
    };
    let announced = c
        .properties
        .iter()
        .find(|p| matches!(p, Property::TopicAliasMaximum(_)));
    if cfg!(feature = "topic-aliases") {
        assert_eq!(announced, Some(Property::TopicAliasMaximum(10)));
    } else {
        // Absent: the broker must send no alias [MQTT-3.1.2-27].
        assert_eq!(announced, None);
    }
}

#[test]
fn an_incoming_topic_alias_is_resolved_or_refused() {
    let mut s = connected();
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAlias(1)).unwrap();
    let establish = Packet::Publish(Publish {
        dup: false,
        qos: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new("sensors/7").unwrap(),
        properties: props.as_properties(),
        payload: b"a",
    });
    let reuse = Packet::Publish(Publish {
        topic: TopicName::EMPTY,
        payload: b"b",
        ..match establish {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    });
    s.handle_read(NOW, &encode(&establish));
    s.handle_read(NOW, &encode(&reuse));
    let got = events(&mut s);
    if cfg!(feature = "topic-aliases") {
        let topics: Vec<(String, Vec<u8>)> = got
            .iter()
            .map(|e| match e {
                Event::Message(m) => (m.topic().to_string(), m.payload().to_vec()),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            topics,
            [
                ("sensors/7".to_string(), b"a".to_vec()),
                ("sensors/7".to_string(), b"b".to_vec())
            ]
        );
    } else {
        // The first alias already breaks the maximum of 0: nothing is delivered, and the
        // client closes with DISCONNECT 0x94 (Topic Alias invalid).
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(is_protocol_error(&got[0]), "{got:?}");
        let out = drain_transmit(&mut s);
        assert_eq!(out.first(), Some(&0xE0), "{out:?}");
        assert!(out.contains(&0x94), "{out:?}");
    }
}

#[test]
fn a_manual_outgoing_alias_is_used_or_refused() {
    let mut s = connected();
    let mut props = PropertiesBuf::new();
    props.push(Property::TopicAlias(2)).unwrap();
    let result = s.publish_with_properties(
        NOW,
        "sensors/7",
        b"x",
        QoS::AtMostOnce,
        false,
        props.as_properties(),
    );
    let out = drain_transmit(&mut s);
    if cfg!(feature = "topic-aliases") {
        assert_eq!(result, Ok(None));
        let Ok(Some((Packet::Publish(p), _))) = decode(&out, V5, &Limits::default()) else {
            panic!("not a PUBLISH: {out:?}");
        };
        assert_eq!(p.properties.topic_alias(), Some(2));
    } else {
        assert_eq!(result, Err(PublishError::TopicAliasNotAllowed));
        assert!(out.is_empty(), "{out:?}");
    }
    // Without an alias the message goes out either way, with its topic.
    s.publish(NOW, "sensors/7", b"y", QoS::AtMostOnce, false)
        .unwrap();
    let out = drain_transmit(&mut s);
    let Ok(Some((Packet::Publish(p), _))) = decode(&out, V5, &Limits::default()) else {
        panic!("not a PUBLISH: {out:?}");
    };
    assert_eq!(p.payload, b"y");
}

#[test]
fn auth_from_a_broker_nobody_asked_is_a_protocol_error() {
    // No authenticator (with `enhanced-auth`) or none possible (without): CONNECT carries no
    // Authentication Method, so the broker must not send AUTH [MQTT-4.12.0-6].
    let mut props = PropertiesBuf::new();
    props
        .push(Property::AuthenticationMethod("SCRAM-SHA-256"))
        .unwrap();
    let auth = encode(&Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: props.as_properties(),
    }));
    // Without the feature the codec already refuses it, and the AUTH parser is not linked.
    let decoded = decode_from_server(&auth, V5, &Limits::default());
    if cfg!(feature = "enhanced-auth") {
        assert!(
            matches!(decoded, Ok(Some((Packet::Auth(_), _)))),
            "{decoded:?}"
        );
    } else {
        assert!(
            matches!(decoded, Err(DecodeError::Protocol { rule, .. }) if rule == rules::AUTH_NOT_REQUESTED),
            "{decoded:?}"
        );
    }
    // Before CONNACK and after it.
    for mut s in [connecting().0, connected()] {
        s.handle_read(NOW, &auth);
        let got = events(&mut s);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(is_protocol_error(&got[0]), "{got:?}");
        assert!(!s.is_connected());
    }
}

#[test]
fn a_connack_naming_an_authentication_method_nobody_asked_is_a_protocol_error() {
    let (mut s, _) = connecting();
    let mut props = PropertiesBuf::new();
    props
        .push(Property::AuthenticationMethod("SCRAM-SHA-256"))
        .unwrap();
    let connack = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: props.as_properties(),
    });
    s.handle_read(NOW, &encode(&connack));
    let got = events(&mut s);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(is_protocol_error(&got[0]), "{got:?}");
    assert!(!s.is_connected());
    assert_eq!(s.authentication_method(), None);
}
