//! The encoders: `encode_to_slice` into fixed buffers, and the `EncodeError`s for packets that
//! break a rule or use a feature their protocol version lacks. On every error nothing is
//! written.

mod spec_common;

use mqtt_sansio_proto::{
    rules, Ack, Auth, ConnAck, Connect, Disconnect, EncodeError, Packet, PacketId, Properties,
    PropertiesBuf, Property, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, RetainHandling,
    Rule, SubAck, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
    Unsubscribe, Will,
};
use spec_common::{filter, pid, topic, V311, V5};

/// Encoding fails with `Invalid` naming `rule`, through every entry point, writing nothing.
fn assert_invalid(packet: &Packet<'_>, v: ProtocolVersion, rule: Rule) {
    let e = packet
        .encoded_len(v)
        .expect_err("the packet must not be encodable");
    assert!(
        matches!(e, EncodeError::Invalid { rule: r, .. } if r == rule),
        "{v:?}: expected Invalid [{rule}], got {e:?}"
    );
    let mut out = vec![1, 2, 3];
    assert_eq!(packet.encode(v, &mut out), Err(e));
    assert_eq!(out, [1, 2, 3], "encode must not append on error");
    let mut buf = [0xAAu8; 64];
    assert_eq!(packet.encode_to_slice(v, &mut buf), Err(e));
    assert!(
        buf.iter().all(|&b| b == 0xAA),
        "encode_to_slice must not write on error"
    );
    // Validation comes before the size check: a tiny buffer still gets the rule.
    assert_eq!(packet.encode_to_slice(v, &mut [0u8; 1]), Err(e));
}

fn v5_props(list: &[Property<'static>]) -> PropertiesBuf {
    let mut buf = PropertiesBuf::new();
    for p in list {
        buf.push(*p).expect("valid property value");
    }
    buf
}

// =============================================================================================
// encode_to_slice

/// A buffer one byte short (or any shorter) gives `BufferTooSmall { required }` and is left
/// untouched; the exact size works.
#[test]
fn encode_to_slice_needs_exactly_the_encoded_length() {
    let publish = Publish::new(topic("a/b"), b"hello", QosPid::AtLeastOnce(pid(10)));
    let packet = Packet::Publish(publish);
    for v in [V311, V5] {
        let mut expected = Vec::new();
        let len = packet.encode(v, &mut expected).expect("valid");
        assert_eq!(len, expected.len());
        assert_eq!(packet.encoded_len(v), Ok(len));

        for short in 0..len {
            let mut buf = vec![0xAAu8; short];
            assert_eq!(
                packet.encode_to_slice(v, &mut buf),
                Err(EncodeError::BufferTooSmall { required: len })
            );
            assert!(
                buf.iter().all(|&b| b == 0xAA),
                "buffer of {short} was written to"
            );
        }

        let mut exact = vec![0xAAu8; len];
        assert_eq!(packet.encode_to_slice(v, &mut exact), Ok(len));
        assert_eq!(exact, expected);

        // A larger buffer: the packet at its start, the rest untouched.
        let mut larger = vec![0xAAu8; len + 7];
        assert_eq!(packet.encode_to_slice(v, &mut larger), Ok(len));
        assert_eq!(&larger[..len], &expected[..]);
        assert!(larger[len..].iter().all(|&b| b == 0xAA));
    }
}

/// The smallest packets (2 bytes) and a 5.0 packet with properties, into exact buffers.
#[test]
fn encode_to_slice_matches_encode_for_every_packet_shape() {
    let props = v5_props(&[
        Property::ReasonString("why"),
        Property::UserProperty("k", "v"),
    ]);
    let packets = [
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect::NORMAL),
        Packet::PubAck(Ack {
            packet_id: pid(1),
            reason: ReasonCode::UnspecifiedError,
            properties: props.as_properties(),
        }),
        Packet::Connect(Connect::new("client", true, 30)),
        Packet::Subscribe(Subscribe::new(
            pid(3),
            [Subscription::new(filter("a/#"), QoS::AtLeastOnce)],
        )),
    ];
    for p in &packets {
        let mut vec = Vec::new();
        let len = p.encode(V5, &mut vec).expect("valid");
        let mut buf = vec![0u8; len];
        assert_eq!(p.encode_to_slice(V5, &mut buf), Ok(len));
        assert_eq!(buf, vec, "{p:?}");
        assert_eq!(
            p.encode_to_slice(V5, &mut buf[..len - 1]),
            Err(EncodeError::BufferTooSmall { required: len })
        );
    }
}

// =============================================================================================
// Features MQTT 3.1.1 does not have

/// 3.1.1 has no properties (§2 of 5.0 adds them): properties in a 3.1.1 PUBLISH.
#[test]
fn v5_properties_in_a_v311_publish_are_invalid() {
    let props = v5_props(&[Property::MessageExpiryInterval(60)]);
    let mut p = Publish::new(topic("a"), b"x", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    assert_invalid(&Packet::Publish(p), V311, rules::NOT_IN_V311);
    // The same packet is fine in 5.0.
    assert!(Packet::Publish(p).encoded_len(V5).is_ok());
}

/// Properties in 3.1.1 CONNECT, will, CONNACK, acks, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK.
#[test]
fn v5_properties_in_any_v311_packet_are_invalid() {
    let user = v5_props(&[Property::UserProperty("k", "v")]);
    let up = user.as_properties();

    let mut c = Connect::new("c", true, 0);
    c.properties = up;
    assert_invalid(&Packet::Connect(c), V311, rules::NOT_IN_V311);

    let mut c = Connect::new("c", true, 0);
    c.will = Some(Will {
        topic: topic("w"),
        payload: b"",
        qos: QoS::AtMostOnce,
        retain: false,
        properties: up,
    });
    assert_invalid(&Packet::Connect(c), V311, rules::NOT_IN_V311);

    let ca = ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: up,
    };
    assert_invalid(&Packet::ConnAck(ca), V311, rules::NOT_IN_V311);

    let ack = Ack {
        packet_id: pid(1),
        reason: ReasonCode::Success,
        properties: up,
    };
    for p in [
        Packet::PubAck(ack),
        Packet::PubRec(ack),
        Packet::PubRel(ack),
        Packet::PubComp(ack),
    ] {
        assert_invalid(&p, V311, rules::NOT_IN_V311);
    }

    let mut s = Subscribe::new(pid(1), [Subscription::new(filter("a"), QoS::AtMostOnce)]);
    s.properties = up;
    assert_invalid(&Packet::Subscribe(s), V311, rules::NOT_IN_V311);

    let sa = SubAck {
        packet_id: pid(1),
        properties: up,
        reason_codes: [ReasonCode::GRANTED_QOS_0].into_iter().collect(),
    };
    assert_invalid(&Packet::SubAck(sa), V311, rules::NOT_IN_V311);

    let mut u = Unsubscribe::new(pid(1), [filter("a")]);
    u.properties = up;
    assert_invalid(&Packet::Unsubscribe(u), V311, rules::NOT_IN_V311);

    let mut ua = UnsubAck::new(pid(1));
    ua.properties = up;
    assert_invalid(&Packet::UnsubAck(ua), V311, rules::NOT_IN_V311);

    let d = Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: up,
    };
    assert_invalid(&Packet::Disconnect(d), V311, rules::NOT_IN_V311);
}

/// 3.1.1 §3.4-§3.7: acks carry only the packet identifier, no reason code.
#[test]
fn reason_code_in_a_v311_ack_is_invalid() {
    let ack = Ack {
        packet_id: pid(1),
        reason: ReasonCode::NoMatchingSubscribers,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::PubAck(ack), V311, rules::NOT_IN_V311);
    assert_invalid(&Packet::PubRec(ack), V311, rules::NOT_IN_V311);
    let rel = Ack {
        reason: ReasonCode::PacketIdentifierNotFound,
        ..ack
    };
    assert_invalid(&Packet::PubRel(rel), V311, rules::NOT_IN_V311);
    assert_invalid(&Packet::PubComp(rel), V311, rules::NOT_IN_V311);
}

/// 3.1.1 §3.14: DISCONNECT has no reason code.
#[test]
fn reason_code_in_a_v311_disconnect_is_invalid() {
    let d = Disconnect {
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::Disconnect(d), V311, rules::NOT_IN_V311);
}

/// 3.1.1 §3.11: UNSUBACK carries no reason codes.
#[test]
fn reason_codes_in_a_v311_unsuback_are_invalid() {
    let ua = UnsubAck {
        packet_id: pid(1),
        properties: Properties::EMPTY,
        reason_codes: [ReasonCode::Success].into_iter().collect(),
    };
    assert_invalid(&Packet::UnsubAck(ua), V311, rules::NOT_IN_V311);
}

/// 3.1.1 §2.2.1: packet type 15 is reserved; AUTH exists only in 5.0.
#[test]
fn auth_in_v311_is_invalid() {
    let a = Auth {
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::Auth(a), V311, rules::NOT_IN_V311);
}

/// 3.1.1 §3.8.3.1: only the QoS exists in the options byte; bits 7-2 are reserved.
#[test]
fn v5_subscription_options_in_v311_are_invalid() {
    for options in [
        SubscriptionOptions {
            no_local: true,
            ..SubscriptionOptions::qos(QoS::AtMostOnce)
        },
        SubscriptionOptions {
            retain_as_published: true,
            ..SubscriptionOptions::qos(QoS::AtMostOnce)
        },
        SubscriptionOptions {
            retain_handling: RetainHandling::DoNotSend,
            ..SubscriptionOptions::qos(QoS::AtMostOnce)
        },
    ] {
        let s = Subscribe::new(
            pid(1),
            [Subscription {
                filter: filter("a"),
                options,
            }],
        );
        assert_invalid(&Packet::Subscribe(s.clone()), V311, rules::NOT_IN_V311);
        assert!(Packet::Subscribe(s).encoded_len(V5).is_ok());
    }
}

/// 3.1.1 §3.2.2.3: only return codes 0-5 exist; 5.0-only codes cannot be written.
#[test]
fn v5_only_connack_code_in_v311_is_invalid() {
    let ca = ConnAck {
        session_present: false,
        reason: ReasonCode::Banned,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::ConnAck(ca), V311, rules::CONNACK_RETURN_CODE);
}

/// [MQTT-3.9.3-2] (3.1.1): only 0x00, 0x01, 0x02, 0x80 in a 3.1.1 SUBACK.
#[test]
fn v5_only_suback_code_in_v311_is_invalid() {
    let sa = SubAck {
        packet_id: pid(1),
        properties: Properties::EMPTY,
        reason_codes: [ReasonCode::TopicFilterInvalid].into_iter().collect(),
    };
    assert_invalid(&Packet::SubAck(sa.clone()), V311, rules::SUBACK_RETURN_CODE);
    assert!(Packet::SubAck(sa).encoded_len(V5).is_ok());
}

/// [MQTT-3.1.2-22] (3.1.1): a password needs a user name; 5.0 §3.1.2.9 drops that rule.
#[test]
fn v311_password_without_username_is_invalid() {
    let mut c = Connect::new("c", true, 0);
    c.password = Some(b"secret");
    assert_invalid(&Packet::Connect(c), V311, rules::PASSWORD_WITHOUT_USERNAME);
    assert!(Packet::Connect(c).encoded_len(V5).is_ok());
}

// =============================================================================================
// Rules of both versions

/// [MQTT-3.3.1-2]: "The DUP flag MUST be set to 0 for all QoS 0 messages."
#[test]
fn dup_on_a_qos0_publish_is_invalid() {
    let mut p = Publish::new(topic("a"), b"x", QosPid::AtMostOnce);
    p.dup = true;
    for v in [V311, V5] {
        assert_invalid(&Packet::Publish(p), v, rules::PUBLISH_DUP_QOS0);
    }
}

/// [MQTT-3.8.3-3] (3.1.1), [MQTT-3.8.3-2] (5.0): at least one topic filter.
#[test]
fn empty_subscribe_is_invalid() {
    let s = Subscribe::new(pid(1), []);
    for v in [V311, V5] {
        assert_invalid(&Packet::Subscribe(s.clone()), v, rules::SUBSCRIBE_EMPTY);
    }
}

/// [MQTT-3.10.3-2]: at least one topic filter.
#[test]
fn empty_unsubscribe_is_invalid() {
    let u = Unsubscribe::new(pid(1), []);
    for v in [V311, V5] {
        assert_invalid(&Packet::Unsubscribe(u.clone()), v, rules::UNSUBSCRIBE_EMPTY);
    }
}

/// 3.1.1 §3.9.3 / 5.0 §3.9.3: one code per subscription, so a SUBACK has at least one.
#[test]
fn suback_without_codes_is_invalid() {
    let sa = SubAck {
        packet_id: pid(1),
        properties: Properties::EMPTY,
        reason_codes: Default::default(),
    };
    for v in [V311, V5] {
        assert_invalid(&Packet::SubAck(sa.clone()), v, rules::SUBACK_RETURN_CODE);
    }
}

/// 5.0 §3.11.3: one reason code per topic filter, so at least one.
#[test]
fn v5_unsuback_without_codes_is_invalid() {
    assert_invalid(
        &Packet::UnsubAck(UnsubAck::new(pid(1))),
        V5,
        rules::UNSUBSCRIBE_EMPTY,
    );
    // The same packet is the normal 3.1.1 UNSUBACK.
    assert!(Packet::UnsubAck(UnsubAck::new(pid(1)))
        .encoded_len(V311)
        .is_ok());
}

/// [MQTT-3.2.2-4] (3.1.1), [MQTT-3.2.2-6] (5.0): a refusal has Session Present 0.
#[test]
fn connack_refusal_with_session_present_is_invalid() {
    let ca = ConnAck {
        session_present: true,
        reason: ReasonCode::NotAuthorized,
        properties: Properties::EMPTY,
    };
    for v in [V311, V5] {
        assert_invalid(&Packet::ConnAck(ca), v, rules::CONNACK_SESSION_PRESENT);
    }
}

/// 3.1.1: a topic name is never empty [MQTT-4.7.3-1]; 5.0 §3.3.2.1: only with a Topic Alias.
#[test]
fn empty_topic_without_topic_alias_is_invalid() {
    let p = Publish::new(TopicName::EMPTY, b"x", QosPid::AtMostOnce);
    for v in [V311, V5] {
        assert_invalid(&Packet::Publish(p), v, rules::TOPIC_EMPTY_WITHOUT_ALIAS);
    }
    let alias = v5_props(&[Property::TopicAlias(3)]);
    let mut p = p;
    p.properties = alias.as_properties();
    assert_eq!(
        Packet::Publish(p).encoded_len(V5),
        Ok(2 + 2 + 4 + 1) // header, empty topic, properties (length + 3), payload
    );
}

/// [MQTT-4.7.3-1]: the will topic is a topic name and is not empty.
#[test]
fn empty_will_topic_is_invalid() {
    let mut c = Connect::new("c", true, 0);
    c.will = Some(Will {
        topic: TopicName::EMPTY,
        payload: b"",
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::EMPTY,
    });
    for v in [V311, V5] {
        assert_invalid(&Packet::Connect(c), v, rules::TOPIC_EMPTY);
    }
}

/// [MQTT-1.5.3-2] / [MQTT-1.5.4-2]: no U+0000 in a UTF-8 string field (client id, user name).
#[test]
fn null_character_in_a_string_field_is_invalid() {
    for v in [V311, V5] {
        let c = Connect::new("a\0b", true, 0);
        assert_invalid(&Packet::Connect(c), v, rules::UTF8_NO_NULL);
        let mut c = Connect::new("a", true, 0);
        c.username = Some("u\0");
        assert_invalid(&Packet::Connect(c), v, rules::UTF8_NO_NULL);
    }
}

/// 3.1.1 §1.5.3 / 5.0 §1.5.4 and §1.5.6: strings and binary data are at most 65 535 bytes.
#[test]
fn string_or_binary_over_65535_bytes_is_invalid() {
    let long = "x".repeat(65_536);
    let c = Connect::new(&long, true, 0);
    assert_invalid(&Packet::Connect(c), V311, rules::STRING_TOO_LONG);
    let ok = "x".repeat(65_535);
    assert!(Packet::Connect(Connect::new(&ok, true, 0))
        .encoded_len(V311)
        .is_ok());

    let bin = vec![0u8; 65_536];
    let mut c = Connect::new("c", true, 0);
    c.username = Some("u");
    c.password = Some(&bin);
    assert_invalid(&Packet::Connect(c), V5, rules::BINARY_TOO_LONG);
    let mut c = Connect::new("c", true, 0);
    c.will = Some(Will {
        topic: topic("w"),
        payload: &bin,
        qos: QoS::AtMostOnce,
        retain: false,
        properties: Properties::EMPTY,
    });
    assert_invalid(&Packet::Connect(c), V311, rules::BINARY_TOO_LONG);
}

// =============================================================================================
// MQTT 5.0 rules

/// 5.0 §3.4.2.1 Table 3-4 [MQTT-3.4.2-1]: 0x92 is not a PUBACK reason code.
#[test]
fn v5_reason_code_not_defined_for_the_packet_is_invalid() {
    let ack = Ack {
        packet_id: pid(1),
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::PubAck(ack), V5, rules::REASON_CODE);
    assert_invalid(&Packet::PubRec(ack), V5, rules::REASON_CODE);
    let ca = ConnAck {
        session_present: false,
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::ConnAck(ca), V5, rules::REASON_CODE);
    let d = Disconnect {
        reason: ReasonCode::GrantedQoS1,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::Disconnect(d), V5, rules::REASON_CODE);
    let a = Auth {
        reason: ReasonCode::NotAuthorized,
        properties: Properties::EMPTY,
    };
    assert_invalid(&Packet::Auth(a), V5, rules::REASON_CODE);
    let ua = UnsubAck {
        packet_id: pid(1),
        properties: Properties::EMPTY,
        reason_codes: [ReasonCode::GrantedQoS1].into_iter().collect(),
    };
    assert_invalid(&Packet::UnsubAck(ua), V5, rules::REASON_CODE);
}

/// 5.0 §2.2.2.2: a property in a packet that does not allow it.
#[test]
fn v5_property_in_the_wrong_packet_is_invalid() {
    let props = v5_props(&[Property::SessionExpiryInterval(10)]);
    let mut p = Publish::new(topic("a"), b"", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    assert_invalid(&Packet::Publish(p), V5, rules::PROPERTY_NOT_ALLOWED);

    let props = v5_props(&[Property::TopicAlias(1)]);
    let mut c = Connect::new("c", true, 0);
    c.properties = props.as_properties();
    assert_invalid(&Packet::Connect(c), V5, rules::PROPERTY_NOT_ALLOWED);
}

/// 5.0 §2.2.2.2: a property that may appear once, twice.
#[test]
fn v5_duplicated_property_is_invalid() {
    let props = v5_props(&[Property::TopicAlias(1), Property::TopicAlias(2)]);
    let mut p = Publish::new(topic("a"), b"", QosPid::AtMostOnce);
    p.properties = props.as_properties();
    assert_invalid(&Packet::Publish(p), V5, rules::PROPERTY_DUPLICATE);
}

/// [MQTT-3.8.3-4] (5.0): No Local on a shared subscription.
#[test]
fn v5_no_local_on_a_shared_subscription_is_invalid() {
    let s = Subscribe::new(
        pid(1),
        [Subscription {
            filter: filter("$share/g/a"),
            options: SubscriptionOptions {
                no_local: true,
                ..SubscriptionOptions::qos(QoS::AtMostOnce)
            },
        }],
    );
    assert_invalid(&Packet::Subscribe(s), V5, rules::SHARED_NO_LOCAL);
}

/// [MQTT-4.8.2-1] (5.0): "$share/{ShareName}/{filter}" needs both parts.
#[test]
fn v5_incomplete_shared_subscription_is_invalid() {
    let s = Subscribe::new(
        pid(1),
        [Subscription::new(filter("$share/g"), QoS::AtMostOnce)],
    );
    assert_invalid(
        &Packet::Subscribe(s.clone()),
        V5,
        rules::SHARED_SUBSCRIPTION,
    );
    // In 3.1.1 "$share" means nothing special.
    assert!(Packet::Subscribe(s).encoded_len(V311).is_ok());
}

// =============================================================================================
// Validated values: what cannot be built cannot be sent

/// [MQTT-3.3.2-2], [MQTT-4.7.3-1], [MQTT-4.7.3-2], [MQTT-4.7.3-3] for topic names.
#[test]
fn topic_name_constructor_enforces_the_topic_rules() {
    let rule = |s: &str| TopicName::new(s).map(|_| ()).map_err(|e| e.rule);
    assert_eq!(rule("a/+"), Err(rules::TOPIC_NAME_WILDCARD));
    assert_eq!(rule("a/#"), Err(rules::TOPIC_NAME_WILDCARD));
    assert_eq!(rule(""), Err(rules::TOPIC_EMPTY));
    assert_eq!(rule("a\0"), Err(rules::TOPIC_NULL));
    assert_eq!(rule(&"a".repeat(65_536)), Err(rules::TOPIC_TOO_LONG));
    assert_eq!(rule(&"a".repeat(65_535)), Ok(()));
    assert_eq!(rule("/"), Ok(()));
}

/// [MQTT-4.7.1-2], [MQTT-4.7.1-3] (3.1.1 numbering) for topic filters.
#[test]
fn topic_filter_constructor_enforces_wildcard_placement() {
    let rule = |s: &str| TopicFilter::new(s).map(|_| ()).map_err(|e| e.rule);
    assert_eq!(rule("a/b#"), Err(rules::FILTER_MULTI_LEVEL));
    assert_eq!(rule("#/a"), Err(rules::FILTER_MULTI_LEVEL));
    assert_eq!(rule("a+/b"), Err(rules::FILTER_SINGLE_LEVEL));
    assert_eq!(rule(""), Err(rules::TOPIC_EMPTY));
    assert_eq!(rule("a/\0"), Err(rules::TOPIC_NULL));
    for ok in ["#", "+", "+/+", "a/#", "/+/", "$SYS/#"] {
        assert_eq!(rule(ok), Ok(()), "{ok}");
    }
}

/// [MQTT-2.3.1-1] / [MQTT-2.2.1-3]: packet identifier 0 cannot be built.
#[test]
fn packet_id_0_cannot_be_built() {
    assert!(PacketId::new(0).is_none());
    assert_eq!(PacketId::MAX.next(), PacketId::MIN);
}

/// 5.0 §3: property values out of range are refused when the list is built.
#[test]
fn properties_buf_refuses_values_out_of_range() {
    let rule = |p: Property<'_>| PropertiesBuf::new().push(p).map(|_| ()).map_err(|e| e.rule);
    assert_eq!(rule(Property::TopicAlias(0)), Err(rules::TOPIC_ALIAS_ZERO));
    assert_eq!(
        rule(Property::ReceiveMaximum(0)),
        Err(rules::RECEIVE_MAXIMUM_ZERO)
    );
    assert_eq!(
        rule(Property::MaximumPacketSize(0)),
        Err(rules::MAXIMUM_PACKET_SIZE_ZERO)
    );
    assert_eq!(rule(Property::MaximumQoS(2)), Err(rules::PROPERTY_VALUE));
    assert_eq!(
        rule(Property::SubscriptionIdentifier(0)),
        Err(rules::SUBSCRIPTION_ID_ZERO)
    );
    assert_eq!(
        rule(Property::SubscriptionIdentifier(268_435_456)),
        Err(rules::SUBSCRIPTION_ID_ZERO)
    );
    assert_eq!(
        rule(Property::ResponseTopic("a/#")),
        Err(rules::TOPIC_NAME_WILDCARD)
    );
    assert_eq!(
        rule(Property::UserProperty("k", "\0")),
        Err(rules::UTF8_NO_NULL)
    );
    assert_eq!(rule(Property::TopicAlias(1)), Ok(()));
}

/// QoS 3 cannot be built [MQTT-3.3.1-4].
#[test]
fn qos_3_cannot_be_built() {
    assert_eq!(QoS::from_u8(3), None);
    assert_eq!(
        QoS::try_from(3).map_err(|e| e.rule),
        Err(rules::PUBLISH_QOS_INVALID)
    );
}
