//! Scenario tests of what goes on the wire and what comes back in the events (issue 11):
//! the 5.0 CONNECT carries only properties that differ from the protocol defaults (SPEC "On
//! the wire"), client id rules of both versions checked before any I/O, properties on
//! UNSUBSCRIBE and DISCONNECT, acknowledgement properties and Server Reference in the
//! events, and secrets redacted from `Debug`.
mod support;

use mqtt_sansio_proto::{
    Ack, ConnAck, Disconnect, Packet, Properties, PropertiesBuf, Property, ProtocolVersion, QoS,
    ReasonCode, SubAck, Subscription, SubscriptionOptions, TopicFilter, TopicName, UnsubAck, Will,
};
use mqtt_sansio_session::{
    AckProperties, ConnAckProperties, ConnectError, ConnectOptions, DisconnectError,
    DisconnectReason, Event, Instant, Session, SessionConfig, SessionState, NO_PACKET_SIZE_LIMIT,
};
use support::Direct;

fn t0() -> Instant {
    Instant::from_millis(0)
}

fn props(list: &[Property<'_>]) -> PropertiesBuf {
    let mut buf = PropertiesBuf::new();
    for p in list {
        buf.push(*p).unwrap();
    }
    buf
}

/// A reason string and two user properties with the same name (names may repeat, §3.4.2.2.3).
fn ack_props() -> PropertiesBuf {
    props(&[
        Property::ReasonString("quota"),
        Property::UserProperty("node", "b1"),
        Property::UserProperty("node", "b2"),
    ])
}

fn expected_ack_props() -> AckProperties {
    AckProperties {
        reason_string: Some("quota".to_owned()),
        user_properties: vec![
            ("node".to_owned(), "b1".to_owned()),
            ("node".to_owned(), "b2".to_owned()),
        ],
    }
}

/// Connects (CONNACK accepted, no properties) and forgets what that sent and emitted.
fn connected(d: &mut Direct) {
    d.connect(30, false);
    d.take_sent();
    d.take_events();
}

// ------------------------------------------------------------------ CONNECT defaults

#[test]
fn connect_at_protocol_defaults_carries_no_properties() {
    // SPEC "On the wire": no Receive Maximum of 65,535, no Maximum Packet Size without a
    // limit, no Session Expiry Interval of 0, no Topic Alias Maximum of 0 (5.0 §3.1.2.11).
    let mut config = SessionConfig::new("wire", true, ProtocolVersion::V5);
    config.max_incoming_qos2 = u16::MAX;
    config.max_packet_size = NO_PACKET_SIZE_LIMIT;
    config.topic_alias_maximum = 0;
    let mut d = Direct::new(config);
    let connect = d.start(30);
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x10, 17,                       // CONNECT, remaining length 17
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05,                           // protocol level 5
        0x02,                           // flags: Clean Start
        0x00, 30,                       // keep alive 30 s
        0x00,                           // property length 0: every value is the default
        0x00, 0x04, b'w', b'i', b'r', b'e', // client id
    ];
    assert_eq!(connect, expected);
}

#[test]
fn default_config_connect_carries_only_its_non_default_limits() {
    // SessionConfig::new keeps 100 incoming QoS 2 messages and 1 MiB packets: those differ
    // from the protocol defaults and go out; Session Expiry 0 (clean) and Topic Alias
    // Maximum 0 do not.
    let mut d = Direct::v5("wire", true);
    let connect = d.start(30);
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x10, 25,                       // CONNECT, remaining length 25
        0x00, 0x04, b'M', b'Q', b'T', b'T',
        0x05,                           // protocol level 5
        0x02,                           // flags: Clean Start
        0x00, 30,                       // keep alive
        8,                              // property length
        0x21, 0x00, 100,                // Receive Maximum 100
        0x27, 0x00, 0x10, 0x00, 0x00,   // Maximum Packet Size 1,048,576
        0x00, 0x04, b'w', b'i', b'r', b'e',
    ];
    assert_eq!(connect, expected);
}

#[test]
fn connect_with_every_option_set_has_a_stable_property_order() {
    let mut config = SessionConfig::new("wire", false, ProtocolVersion::V5);
    config.session_expiry_interval = Some(3600);
    config.max_incoming_qos2 = 10;
    config.max_packet_size = 4096;
    config.topic_alias_maximum = 5;
    let user = props(&[
        Property::UserProperty("k", "v"),
        Property::RequestResponseInformation(1),
    ]);
    let will = Will {
        topic: TopicName::new("w/t").unwrap(),
        payload: b"bye",
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Properties::EMPTY,
    };
    let options = ConnectOptions::new(60)
        .will(will)
        .credentials("u", b"p")
        .properties(user.as_properties());
    let mut d = Direct::new(config);
    d.session.connect(d.now, &options).unwrap();
    let sent = d.take_sent();
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x10, 59,                       // CONNECT, remaining length 59
        0x00, 0x04, b'M', b'Q', b'T', b'T',
        0x05,
        0xEC,                           // user name, password, will retain, will QoS 1, will
        0x00, 60,                       // keep alive 60 s
        25,                             // property length; the Session's own first, in order:
        0x11, 0x00, 0x00, 0x0E, 0x10,   //   Session Expiry Interval 3600
        0x21, 0x00, 10,                 //   Receive Maximum 10
        0x27, 0x00, 0x00, 0x10, 0x00,   //   Maximum Packet Size 4096
        0x22, 0x00, 5,                  //   Topic Alias Maximum 5
        0x26, 0x00, 1, b'k', 0x00, 1, b'v', // then the user's, as given: User Property k=v
        0x19, 1,                        //   Request Response Information 1
        0x00, 0x04, b'w', b'i', b'r', b'e', // client id
        0x00,                           // will property length 0
        0x00, 0x03, b'w', b'/', b't',   // will topic
        0x00, 0x03, b'b', b'y', b'e',   // will payload
        0x00, 0x01, b'u',               // user name
        0x00, 0x01, b'p',               // password
    ];
    assert_eq!(sent, vec![expected.to_vec()]);
}

#[test]
fn a_connect_property_the_session_sets_is_refused_at_the_call() {
    // The broker must hear the limits the Session enforces: these come from SessionConfig.
    for p in [
        Property::SessionExpiryInterval(10),
        Property::ReceiveMaximum(5),
        Property::MaximumPacketSize(100),
        Property::TopicAliasMaximum(3),
    ] {
        let buf = props(&[Property::UserProperty("a", "b"), p]);
        let mut s = Session::new(SessionConfig::new("wire", true, ProtocolVersion::V5));
        assert_eq!(
            s.connect(
                t0(),
                &ConnectOptions::new(30).properties(buf.as_properties())
            ),
            Err(ConnectError::PropertySetBySession { property: p.id() })
        );
        assert_eq!(s.state(), SessionState::Disconnected);
        assert_eq!(s.poll_transmit(t0(), &mut Vec::new()), None);
    }
}

// ------------------------------------------------------------------ client id

#[test]
fn v5_empty_client_id_with_clean_start_0_goes_out_and_the_assigned_id_is_kept() {
    // Only 3.1.1 forbids an empty id without a clean session [MQTT-3.1.3-7]; in 5.0 the
    // server assigns one and reports it (Assigned Client Identifier, [MQTT-3.2.2-16]).
    let config = SessionConfig::new("", false, ProtocolVersion::V5);
    assert_eq!(config.validate(), Ok(()));
    let mut d = Direct::new(config);
    let connect = d.start(30);
    // Flags 0x00: Clean Start 0. The payload is the empty client id (length 0).
    assert_eq!(connect.get(9), Some(&0x00), "{connect:02X?}");
    assert_eq!(&connect[connect.len() - 2..], &[0x00, 0x00]);
    let assigned = props(&[Property::AssignedClientIdentifier("auto-7f3a")]);
    d.feed_packet(Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: assigned.as_properties(),
    }));
    let events = d.take_events();
    let Some(Event::Connected { properties, .. }) = events.first() else {
        panic!("{events:?}");
    };
    assert_eq!(
        properties.assigned_client_identifier.as_deref(),
        Some("auto-7f3a")
    );
    assert_eq!(d.session.config().client_id, "auto-7f3a");
    // The next CONNECT resumes the session under the assigned id.
    d.close();
    let again = d.start(30);
    assert!(again.ends_with(b"\x00\x09auto-7f3a"), "{again:02X?}");
}

#[test]
fn v311_empty_client_id_needs_a_clean_session_and_is_refused_before_anything() {
    // [MQTT-3.1.3-7] (3.1.1).
    let config = SessionConfig::new("", false, ProtocolVersion::V311);
    assert_eq!(
        config.validate(),
        Err(ConnectError::EmptyClientIdRequiresCleanSession)
    );
    let mut s = Session::new(config);
    assert_eq!(
        s.connect(t0(), &ConnectOptions::new(30)),
        Err(ConnectError::EmptyClientIdRequiresCleanSession)
    );
    assert_eq!(s.poll_transmit(t0(), &mut Vec::new()), None);
    // With a clean session it is fine.
    assert_eq!(
        SessionConfig::new("", true, ProtocolVersion::V311).validate(),
        Ok(())
    );
}

#[test]
fn a_client_id_that_is_not_an_mqtt_string_is_refused_in_both_versions() {
    // [MQTT-1.5.3-2] / [MQTT-1.5.4-2]: no U+0000; at most 65,535 bytes.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let nul = SessionConfig::new("a\0b", true, v);
        assert!(
            matches!(nul.validate(), Err(ConnectError::InvalidClientId(_))),
            "{v:?}"
        );
        let long = SessionConfig::new("x".repeat(65_536), true, v);
        assert!(
            matches!(long.validate(), Err(ConnectError::InvalidClientId(_))),
            "{v:?}"
        );
        let mut s = Session::new(nul);
        assert!(matches!(
            s.connect(t0(), &ConnectOptions::new(30)),
            Err(ConnectError::InvalidClientId(_))
        ));
        assert_eq!(s.poll_transmit(t0(), &mut Vec::new()), None);
    }
}

// ------------------------------------------------------------------ UNSUBSCRIBE / DISCONNECT

#[test]
fn unsubscribe_carries_user_properties() {
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let user = props(&[Property::UserProperty("why", "done")]);
    let filter = TopicFilter::new("a/b").unwrap();
    let id = d
        .session
        .unsubscribe_with_properties(d.now, &[filter], user.as_properties())
        .unwrap();
    let sent = d.take_sent();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0xA2, 20][..],                     // UNSUBSCRIBE, remaining length 2 + 1 + 12 + 5
        &id.get().to_be_bytes()[..],         // packet identifier
        &[12, 0x26, 0x00, 3][..], b"why",    // property length 12: User Property why=done
        &[0x00, 4][..], b"done",
        &[0x00, 3][..], b"a/b",              // the filter
    ]
    .concat();
    assert_eq!(sent, vec![expected]);
}

#[test]
fn unsubscribe_refuses_properties_it_cannot_carry() {
    // UNSUBSCRIBE allows only User Property (5.0 §3.10.2.1); 3.1.1 packets carry none.
    let filter = TopicFilter::new("a/b").unwrap();
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let bad = props(&[Property::ReasonString("no")]);
    assert!(d
        .session
        .unsubscribe_with_properties(d.now, &[filter], bad.as_properties())
        .is_err());
    let mut d = Direct::v311("wire", true);
    connected(&mut d);
    let user = props(&[Property::UserProperty("k", "v")]);
    assert!(d
        .session
        .unsubscribe_with_properties(d.now, &[filter], user.as_properties())
        .is_err());
    assert!(d.take_sent().is_empty());
    assert_eq!(d.session.packet_ids_in_use(), 0, "nothing was queued");
}

#[test]
fn disconnect_with_properties_sends_them_and_remembers_a_new_session_expiry() {
    let mut config = SessionConfig::new("wire", false, ProtocolVersion::V5);
    config.session_expiry_interval = Some(60);
    let mut d = Direct::new(config);
    connected(&mut d);
    let p = props(&[
        Property::SessionExpiryInterval(300),
        Property::ReasonString("maintenance"),
        Property::UserProperty("k", "v"),
    ]);
    d.session
        .disconnect_with_properties(
            d.now,
            ReasonCode::DisconnectWithWillMessage,
            p.as_properties(),
        )
        .unwrap();
    let sent = d.take_sent();
    #[rustfmt::skip]
    let expected: Vec<u8> = [
        &[0xE0, 28, 0x04, 26][..],           // DISCONNECT, length 28, reason 0x04, props 26
        &[0x11, 0x00, 0x00, 0x01, 0x2C][..], // Session Expiry Interval 300
        &[0x1F, 0x00, 11][..], b"maintenance", // Reason String
        // User Property k=v
        &[0x26, 0x00, 1, b'k', 0x00, 1, b'v'][..],
    ]
    .concat();
    assert_eq!(sent, vec![expected]);
    assert!(matches!(
        d.take_events().as_slice(),
        [Event::Disconnected {
            reason: DisconnectReason::Local,
            ..
        }]
    ));
    // The broker now keeps the session for 300 s; the next CONNECT asks for the same.
    assert_eq!(d.session.config().session_expiry_interval, Some(300));
    let connect = d.start(30);
    let expiry = [0x11, 0x00, 0x00, 0x01, 0x2C];
    assert!(connect.windows(5).any(|w| w == expiry), "{connect:02X?}");
}

#[test]
fn disconnect_refuses_a_nonzero_session_expiry_after_a_connect_with_zero() {
    // [MQTT-3.14.2-2]: Session Expiry Interval 0 in CONNECT forbids a nonzero one in
    // DISCONNECT. Refused at the call: nothing sent, the connection stays up.
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let p = props(&[Property::SessionExpiryInterval(10)]);
    assert_eq!(
        d.session
            .disconnect_with_properties(d.now, ReasonCode::Success, p.as_properties()),
        Err(DisconnectError::SessionExpiryAfterZero)
    );
    assert!(d.take_sent().is_empty());
    assert!(d.take_events().is_empty());
    assert!(d.session.is_connected());
    // Zero is not a change: allowed.
    let zero = props(&[Property::SessionExpiryInterval(0)]);
    d.session
        .disconnect_with_properties(d.now, ReasonCode::Success, zero.as_properties())
        .unwrap();
    assert_eq!(d.session.state(), SessionState::Disconnected);
}

#[test]
fn disconnect_refuses_properties_disconnect_cannot_carry() {
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let bad = props(&[Property::TopicAlias(3)]);
    assert!(matches!(
        d.session
            .disconnect_with_properties(d.now, ReasonCode::Success, bad.as_properties()),
        Err(DisconnectError::Invalid(_))
    ));
    let mut d = Direct::v311("wire", true);
    connected(&mut d);
    let user = props(&[Property::UserProperty("k", "v")]);
    assert!(matches!(
        d.session
            .disconnect_with_properties(d.now, ReasonCode::Success, user.as_properties()),
        Err(DisconnectError::Invalid(_))
    ));
    assert!(d.session.is_connected());
    assert!(d.take_sent().is_empty());
}

// ------------------------------------------------------------------ acknowledgement properties

#[test]
fn acknowledgements_bring_their_reason_string_and_user_properties() {
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let p = ack_props();
    let expected = expected_ack_props();

    let q1 = d.publish("t", b"1", QoS::AtLeastOnce).unwrap();
    d.feed_packet(Packet::PubAck(Ack {
        packet_id: q1,
        reason: ReasonCode::NoMatchingSubscribers,
        properties: p.as_properties(),
    }));
    let q2 = d.publish("t", b"2", QoS::ExactlyOnce).unwrap();
    d.feed_packet(Packet::PubRec(Ack {
        packet_id: q2,
        reason: ReasonCode::Success,
        properties: p.as_properties(),
    }));
    d.feed_packet(Packet::PubComp(Ack {
        packet_id: q2,
        reason: ReasonCode::Success,
        properties: p.as_properties(),
    }));
    let sub = d
        .session
        .subscribe(
            d.now,
            &[Subscription {
                filter: TopicFilter::new("s/#").unwrap(),
                options: SubscriptionOptions::qos(QoS::AtLeastOnce),
            }],
        )
        .unwrap();
    d.feed_packet(Packet::SubAck(SubAck {
        packet_id: sub,
        properties: p.as_properties(),
        reason_codes: [ReasonCode::GrantedQoS1].into_iter().collect(),
    }));
    let unsub = d
        .session
        .unsubscribe(d.now, &[TopicFilter::new("s/#").unwrap()])
        .unwrap();
    d.feed_packet(Packet::UnsubAck(UnsubAck {
        packet_id: unsub,
        properties: p.as_properties(),
        reason_codes: [ReasonCode::Success].into_iter().collect(),
    }));

    let events = d.take_events();
    let acks: Vec<&AckProperties> = events.iter().filter_map(Event::ack_properties).collect();
    assert_eq!(acks.len(), 5, "{events:?}");
    for a in acks {
        assert_eq!(a, &expected);
    }
    assert!(matches!(
        &events[..],
        [
            Event::PubAck {
                reason: ReasonCode::NoMatchingSubscribers,
                ..
            },
            Event::PubRec { .. },
            Event::PubComp { .. },
            Event::SubAck { .. },
            Event::UnsubAck { .. },
        ]
    ));
}

#[test]
fn acknowledgements_without_properties_carry_empty_values() {
    for mut d in [Direct::v5("wire", true), Direct::v311("wire", true)] {
        connected(&mut d);
        let id = d.publish("t", b"1", QoS::AtLeastOnce).unwrap();
        d.feed_packet(Packet::PubAck(Ack::new(id)));
        let events = d.take_events();
        let [Event::PubAck { properties, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert!(properties.is_empty());
        assert_eq!(properties, &AckProperties::default());
    }
}

#[test]
fn connected_carries_every_connack_property() {
    let mut d = Direct::v5("wire", false);
    d.start(30);
    let p = props(&[
        Property::SessionExpiryInterval(120),
        Property::ReceiveMaximum(20),
        Property::MaximumQoS(1),
        Property::RetainAvailable(0),
        Property::MaximumPacketSize(2048),
        Property::AssignedClientIdentifier("given"),
        Property::TopicAliasMaximum(7),
        Property::ReasonString("welcome"),
        Property::UserProperty("region", "eu"),
        Property::WildcardSubscriptionAvailable(0),
        Property::SubscriptionIdentifierAvailable(0),
        Property::SharedSubscriptionAvailable(1),
        Property::ServerKeepAlive(15),
        Property::ResponseInformation("resp/"),
        Property::ServerReference("other:1883"),
    ]);
    d.feed_packet(Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: p.as_properties(),
    }));
    let events = d.take_events();
    let Some(Event::Connected { properties, .. }) = events.first() else {
        panic!("{events:?}");
    };
    let mut expected = ConnAckProperties::default();
    expected.session_expiry_interval = Some(120);
    expected.receive_maximum = Some(20);
    expected.maximum_qos = Some(QoS::AtLeastOnce);
    expected.retain_available = Some(false);
    expected.maximum_packet_size = Some(2048);
    expected.assigned_client_identifier = Some("given".to_owned());
    expected.topic_alias_maximum = Some(7);
    expected.reason_string = Some("welcome".to_owned());
    expected.user_properties = vec![("region".to_owned(), "eu".to_owned())];
    expected.wildcard_subscription_available = Some(false);
    expected.subscription_identifiers_available = Some(false);
    expected.shared_subscription_available = Some(true);
    expected.server_keep_alive = Some(15);
    expected.response_information = Some("resp/".to_owned());
    expected.server_reference = Some(mqtt_sansio_session::ServerReference::new("other:1883"));
    assert_eq!(**properties, expected);
}

#[test]
fn a_3_1_1_connack_gives_empty_connack_properties() {
    let mut d = Direct::v311("wire", true);
    d.connect(30, false);
    let events = d.take_events();
    let [Event::Connected { properties, .. }] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!(**properties, ConnAckProperties::default());
}

#[test]
fn connack_use_another_server_surfaces_the_server_reference() {
    // 5.0 §4.11: CONNACK 0x9C (Use another server) with a Server Reference.
    for reason in [ReasonCode::UseAnotherServer, ReasonCode::ServerMoved] {
        let mut d = Direct::v5("wire", true);
        d.start(30);
        let p = props(&[
            Property::ServerReference("b1.example:1883 b2.example"),
            Property::ReasonString("draining"),
        ]);
        d.feed_packet(Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: p.as_properties(),
        }));
        let events = d.take_events();
        let [refused, ended] = events.as_slice() else {
            panic!("{events:?}");
        };
        let Event::ConnectRefused {
            reason: got,
            server_reference: Some(server),
            properties,
        } = refused
        else {
            panic!("{refused:?}");
        };
        assert_eq!(*got, reason);
        assert_eq!(server.as_str(), "b1.example:1883 b2.example");
        assert_eq!(
            server.servers().collect::<Vec<_>>(),
            ["b1.example:1883", "b2.example"]
        );
        assert_eq!(properties.reason_string.as_deref(), Some("draining"));
        assert!(matches!(
            ended,
            Event::Disconnected {
                reason: DisconnectReason::Refused(r),
                server_reference: Some(_),
                ..
            } if *r == reason
        ));
        assert_eq!(ended.server_reference(), Some(server));
    }
}

#[test]
fn broker_disconnect_brings_reason_string_user_properties_and_server_reference() {
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    let p = props(&[
        Property::ReasonString("moving"),
        Property::UserProperty("k", "v"),
        Property::ServerReference("new.example"),
    ]);
    d.feed_packet(Packet::Disconnect(Disconnect {
        reason: ReasonCode::ServerMoved,
        properties: p.as_properties(),
    }));
    let events = d.take_events();
    let [Event::Disconnected {
        reason: DisconnectReason::Remote(ReasonCode::ServerMoved),
        server_reference: Some(server),
        properties,
    }] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert_eq!(server.as_str(), "new.example");
    assert_eq!(
        properties,
        &AckProperties {
            reason_string: Some("moving".to_owned()),
            user_properties: vec![("k".to_owned(), "v".to_owned())],
        }
    );
}

#[test]
fn a_connection_that_ends_locally_carries_no_broker_properties() {
    let mut d = Direct::v5("wire", true);
    connected(&mut d);
    d.close();
    let events = d.take_events();
    let [Event::Disconnected {
        reason: DisconnectReason::TransportClosed,
        server_reference: None,
        properties,
    }] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    assert!(properties.is_empty());
}

// ------------------------------------------------------------------ secrets

#[test]
fn connect_options_and_session_debug_never_show_the_password() {
    let secret = b"s3cr3t-pass";
    let auth = props(&[
        Property::AuthenticationMethod("TOKEN"),
        Property::AuthenticationData(b"tok-123456"),
    ]);
    let options = ConnectOptions::new(30)
        .credentials("alice", secret)
        .properties(auth.as_properties());
    let shown = format!("{options:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        shown.contains("alice"),
        "the user name is not a secret: {shown}"
    );
    for hidden in [&secret[..], b"tok-123456"] {
        assert!(
            !shown.contains(std::str::from_utf8(hidden).unwrap()),
            "{shown}"
        );
        assert!(!shown.contains(&format!("{hidden:?}")), "{shown}");
    }
    // The encoded CONNECT waiting in the Session holds the password: its Debug shows sizes.
    let mut s = Session::new(SessionConfig::new("wire", true, ProtocolVersion::V5));
    s.connect(t0(), &options.properties(Properties::EMPTY))
        .unwrap();
    assert!(s.pending_transmit_bytes() > 0);
    let shown = format!("{s:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    let secret_bytes: Vec<String> = secret.iter().map(u8::to_string).collect();
    assert!(!shown.contains(&secret_bytes.join(", ")), "{shown}");
}
