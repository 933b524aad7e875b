//! MQTT 5.0 byte vectors written by hand from the specification (OASIS Standard, 7 March 2019),
//! one or more per packet type including AUTH: each decodes to the expected packet, and that
//! packet encodes back to the same bytes. Acknowledgements, DISCONNECT and AUTH are encoded in
//! their shortest form (§3.4.2.1, §3.14.2.1, §3.15.2.1); longer forms that mean the same thing
//! decode to the same packet.

mod spec_common;

use mqtt_sansio_proto::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, Properties, Property, PropertyContext as Ctx,
    Publish, QoS, QosPid, ReasonCode, RetainHandling, SubAck, Subscribe, Subscription,
    SubscriptionOptions, TopicName, UnsubAck, Unsubscribe, Will,
};
use spec_common::{
    assert_decodes, assert_encodes, assert_round_trip, filter, pid, props, topic, V5,
};

// ---------------------------------------------------------------------------------------------
// CONNECT (§3.1)

/// §3.1.2, Figure 3-6 "Variable Header example": "MQTT", version 5, flags 0xC2 (user name,
/// password, clean start), keep alive 10, properties length 5 with Session Expiry Interval 10
/// (§3.1.2.11.2); payload §3.1.3: client id "abc", user name, password.
#[test]
fn connect_figure_3_6_with_session_expiry_round_trips() {
    let bytes = [
        0x10, 0x1F, // CONNECT, remaining length 31
        0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0xC2, 0x00, 0x0A, //
        0x05, 0x11, 0x00, 0x00, 0x00, 0x0A, // properties: Session Expiry Interval = 10
        0x00, 0x03, b'a', b'b', b'c', // client id
        0x00, 0x04, b'u', b's', b'e', b'r', // user name
        0x00, 0x02, b'p', b'w', // password
    ];
    let expected = Packet::Connect(Connect {
        clean_start: true,
        keep_alive: 10,
        client_id: "abc",
        will: None,
        username: Some("user"),
        password: Some(b"pw"),
        properties: props(&[0x11, 0x00, 0x00, 0x00, 0x0A], Ctx::Connect),
    });
    assert_round_trip(&bytes, V5, &expected);
    let Packet::Connect(c) = expected else {
        unreachable!()
    };
    assert_eq!(c.properties.session_expiry_interval(), Some(10));
}

/// §3.1.2.5-§3.1.2.7 and §3.1.3.2-§3.1.3.4: a will (QoS 1, retained) with Will Properties
/// (Will Delay Interval 5, §3.1.3.2.2) placed before the will topic and payload.
#[test]
fn connect_with_will_properties_round_trips() {
    // Flags: will retain 0x20 | will QoS 1 0x08 | will flag 0x04 | clean start 0x02 = 0x2E.
    let bytes = [
        0x10, 0x1B, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x2E, 0x00, 0x3C, //
        0x00, // no CONNECT properties
        0x00, 0x02, b'c', b'1', // client id
        0x05, 0x18, 0x00, 0x00, 0x00, 0x05, // will properties: Will Delay Interval = 5
        0x00, 0x01, b'w', // will topic
        0x00, 0x01, b'x', // will payload
    ];
    let expected = Packet::Connect(Connect {
        clean_start: true,
        keep_alive: 60,
        client_id: "c1",
        will: Some(Will {
            topic: topic("w"),
            payload: b"x",
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: props(&[0x18, 0x00, 0x00, 0x00, 0x05], Ctx::Will),
        }),
        username: None,
        password: None,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.1.2.9: in 5.0 a password without a user name is allowed (3.1.1's [MQTT-3.1.2-22] is
/// gone); Receive Maximum (§3.1.2.11.3), Maximum Packet Size (§3.1.2.11.4), Topic Alias
/// Maximum (§3.1.2.11.5) and two User Properties (§3.1.2.11.8, may repeat).
#[test]
fn connect_password_without_username_and_limits_round_trips() {
    let raw_props = [
        0x21, 0x00, 0x14, // Receive Maximum 20
        0x27, 0x00, 0x00, 0x10, 0x00, // Maximum Packet Size 4096
        0x22, 0x00, 0x08, // Topic Alias Maximum 8
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'w', // User Property k=w
    ];
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x40, 0x00, 0x00];
    body.push(raw_props.len() as u8);
    body.extend_from_slice(&raw_props);
    body.extend_from_slice(&[0x00, 0x01, b'c', 0x00, 0x03, 1, 2, 3]);
    let bytes = spec_common::packet(0x10, &body);
    let expected = Packet::Connect(Connect {
        clean_start: false,
        keep_alive: 0,
        client_id: "c",
        will: None,
        username: None,
        password: Some(&[1, 2, 3]),
        properties: props(&raw_props, Ctx::Connect),
    });
    assert_round_trip(&bytes, V5, &expected);
    let Packet::Connect(c) = expected else {
        unreachable!()
    };
    assert_eq!(c.properties.receive_maximum(), Some(20));
    assert_eq!(c.properties.maximum_packet_size(), Some(4096));
    assert_eq!(c.properties.topic_alias_maximum(), Some(8));
    let users: Vec<_> = c.properties.user_properties().collect();
    assert_eq!(users, [("k", "v"), ("k", "w")]);
}

// ---------------------------------------------------------------------------------------------
// CONNACK (§3.2)

/// §3.2.2: acknowledge flags 0, reason code 0x00 Success, property length 0 (always present,
/// [MQTT-2.2.2-1] "If there are no properties, this MUST be indicated by including a
/// Property Length of zero").
#[test]
fn connack_success_without_properties_round_trips() {
    let expected = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x20, 0x03, 0x00, 0x00, 0x00], V5, &expected);
}

/// §3.2.2.1.1 Session Present, §3.2.2.3 properties: Receive Maximum 10, Maximum QoS 1,
/// Assigned Client Identifier "id".
#[test]
fn connack_session_present_with_properties_round_trips() {
    let raw = [
        0x21, 0x00, 0x0A, // Receive Maximum 10
        0x24, 0x01, // Maximum QoS 1
        0x12, 0x00, 0x02, b'i', b'd', // Assigned Client Identifier
    ];
    let mut bytes = vec![0x20, 0x0D, 0x01, 0x00, 0x0A];
    bytes.extend_from_slice(&raw);
    let expected = Packet::ConnAck(ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: props(&raw, Ctx::ConnAck),
    });
    assert_round_trip(&bytes, V5, &expected);
    let Packet::ConnAck(c) = expected else {
        unreachable!()
    };
    assert_eq!(c.properties.maximum_qos(), Some(1));
    assert_eq!(c.properties.assigned_client_identifier(), Some("id"));
}

/// §3.2.2.2, Table 3-1: refusals 0x87 Not authorized and 0x9F Connection rate exceeded.
#[test]
fn connack_refusal_reason_codes_round_trip() {
    for code in [0x87, 0x9F, 0x84, 0x80] {
        let expected = Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::from_u8(code).expect("known code"),
            properties: Properties::EMPTY,
        });
        assert_round_trip(&[0x20, 0x03, 0x00, code, 0x00], V5, &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH (§3.3)

/// §3.3.2: topic "a/b", packet identifier 10, properties Payload Format Indicator 1
/// (§3.3.2.3.2) and Topic Alias 5 (§3.3.2.3.4), then the payload "hi".
#[test]
fn publish_qos1_with_properties_round_trips() {
    let bytes = [
        0x32, 0x0F, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, //
        0x05, 0x01, 0x01, 0x23, 0x00, 0x05, // properties
        b'h', b'i',
    ];
    let mut p = Publish::new(topic("a/b"), b"hi", QosPid::AtLeastOnce(pid(10)));
    p.properties = props(&[0x01, 0x01, 0x23, 0x00, 0x05], Ctx::Publish);
    assert_round_trip(&bytes, V5, &Packet::Publish(p));
    assert_eq!(p.properties.topic_alias(), Some(5));
}

/// §3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no Topic
/// Alias" — with a Topic Alias the zero-length topic name is valid.
#[test]
fn publish_empty_topic_with_topic_alias_round_trips() {
    let bytes = [0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, b'h', b'i'];
    let mut p = Publish::new(TopicName::EMPTY, b"hi", QosPid::AtMostOnce);
    p.properties = props(&[0x23, 0x00, 0x05], Ctx::Publish);
    assert_round_trip(&bytes, V5, &Packet::Publish(p));
}

/// §3.3.2.3: a PUBLISH without properties still has a property length of 0; QoS 2, DUP.
#[test]
fn publish_qos2_dup_without_properties_round_trips() {
    let bytes = [
        0x3C, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x02, 0x00, b'h', b'i',
    ];
    let mut p = Publish::new(topic("a/b"), b"hi", QosPid::ExactlyOnce(pid(2)));
    p.dup = true;
    assert_round_trip(&bytes, V5, &Packet::Publish(p));
}

/// §3.3.2.3.8: a PUBLISH may carry several Subscription Identifiers; Response Topic
/// (§3.3.2.3.5), Correlation Data (§3.3.2.3.6), Content Type (§3.3.2.3.9), Message Expiry
/// Interval (§3.3.2.3.3).
#[test]
fn publish_with_request_response_properties_round_trips() {
    let raw = [
        0x0B, 0x01, // Subscription Identifier 1
        0x0B, 0x80, 0x01, // Subscription Identifier 128 (two-byte variable integer)
        0x08, 0x00, 0x03, b'r', b'/', b'1', // Response Topic "r/1"
        0x09, 0x00, 0x02, 0xAB, 0xCD, // Correlation Data
        0x03, 0x00, 0x01, b'j', // Content Type "j"
        0x02, 0x00, 0x00, 0x00, 0x3C, // Message Expiry Interval 60
    ];
    let mut body = vec![0x00, 0x01, b't'];
    body.push(raw.len() as u8);
    body.extend_from_slice(&raw);
    body.extend_from_slice(b"{}");
    let bytes = spec_common::packet(0x30, &body);
    let mut p = Publish::new(topic("t"), b"{}", QosPid::AtMostOnce);
    p.properties = props(&raw, Ctx::Publish);
    assert_round_trip(&bytes, V5, &Packet::Publish(p));
    let ids: Vec<u32> = p.properties.subscription_identifiers().collect();
    assert_eq!(ids, [1, 128]);
    assert_eq!(p.properties.response_topic(), Some("r/1"));
    assert_eq!(p.properties.correlation_data(), Some(&[0xAB, 0xCD][..]));
    assert_eq!(p.properties.message_expiry_interval(), Some(60));
}

// ---------------------------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-§3.7)

/// §3.4.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is 0x00
/// (Success) and there are no Properties. In this case the PUBACK has a Remaining Length of 2."
#[test]
fn puback_success_uses_the_two_byte_form() {
    assert_round_trip(
        &[0x40, 0x02, 0x00, 0x0A],
        V5,
        &Packet::PubAck(Ack::new(pid(10))),
    );
}

/// §3.4.2.2: "If the Remaining Length is less than 4 there is no Property Length and the
/// value of 0 is used" — reason 0x10 No matching subscribers, no properties.
#[test]
fn puback_reason_without_properties_uses_the_three_byte_form() {
    let expected = Packet::PubAck(Ack {
        packet_id: pid(10),
        reason: ReasonCode::NoMatchingSubscribers,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x40, 0x03, 0x00, 0x0A, 0x10], V5, &expected);
    // The same packet with an explicit property length of 0 (§3.4.2.2) decodes the same.
    assert_decodes(&[0x40, 0x04, 0x00, 0x0A, 0x10, 0x00], V5, &expected);
    // And the long form of Success decodes to the short-form packet.
    assert_decodes(
        &[0x40, 0x04, 0x00, 0x0A, 0x00, 0x00],
        V5,
        &Packet::PubAck(Ack::new(pid(10))),
    );
}

/// §3.4.2.2.2: a Reason String property on a PUBACK with 0x80 Unspecified error.
#[test]
fn puback_with_reason_string_round_trips() {
    let bytes = [
        0x40, 0x0A, 0x00, 0x0A, 0x80, 0x06, 0x1F, 0x00, 0x03, b'b', b'a', b'd',
    ];
    let expected = Packet::PubAck(Ack {
        packet_id: pid(10),
        reason: ReasonCode::UnspecifiedError,
        properties: props(&[0x1F, 0x00, 0x03, b'b', b'a', b'd'], Ctx::PubAck),
    });
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.5.2.1, Table 3-5: PUBREC with 0x91 Packet Identifier in use; and the 2-byte form.
#[test]
fn pubrec_round_trips() {
    let expected = Packet::PubRec(Ack {
        packet_id: pid(10),
        reason: ReasonCode::PacketIdentifierInUse,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x50, 0x03, 0x00, 0x0A, 0x91], V5, &expected);
    assert_round_trip(
        &[0x50, 0x02, 0x00, 0x0A],
        V5,
        &Packet::PubRec(Ack::new(pid(10))),
    );
}

/// §3.6.1 (flags 0010), §3.6.2.1, Table 3-6: PUBREL with 0x92 Packet Identifier not found.
#[test]
fn pubrel_round_trips() {
    let expected = Packet::PubRel(Ack {
        packet_id: pid(10),
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x62, 0x03, 0x00, 0x0A, 0x92], V5, &expected);
    assert_round_trip(
        &[0x62, 0x02, 0x00, 0x0A],
        V5,
        &Packet::PubRel(Ack::new(pid(10))),
    );
}

/// §3.7.2.1, Table 3-7: PUBCOMP with 0x92, with a User Property; and the 2-byte form.
#[test]
fn pubcomp_round_trips() {
    let raw = [0x26, 0x00, 0x01, b'a', 0x00, 0x01, b'b'];
    let expected = Packet::PubComp(Ack {
        packet_id: pid(10),
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: props(&raw, Ctx::PubComp),
    });
    let mut bytes = vec![0x70, 0x0B, 0x00, 0x0A, 0x92, 0x07];
    bytes.extend_from_slice(&raw);
    assert_round_trip(&bytes, V5, &expected);
    assert_round_trip(
        &[0x70, 0x02, 0x00, 0x0A],
        V5,
        &Packet::PubComp(Ack::new(pid(10))),
    );
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE, SUBACK (§3.8-§3.9)

/// §3.8.2 (packet id, Subscription Identifier 1 §3.8.2.1.2), §3.8.3.1 Figure 3-21
/// Subscription Options: "a/+" with QoS 1, No Local, Retain As Published, Retain Handling 2
/// (0x2D); a shared subscription "$share/g/x" (§4.8.2) with QoS 0, Retain Handling 1 (0x10).
#[test]
fn subscribe_with_options_and_subscription_identifier_round_trips() {
    let bytes = [
        0x82, 0x18, 0x00, 0x0A, //
        0x02, 0x0B, 0x01, // properties: Subscription Identifier 1
        0x00, 0x03, b'a', b'/', b'+', 0x2D, //
        0x00, 0x0A, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g', b'/', b'x', 0x10,
    ];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: pid(10),
        properties: props(&[0x0B, 0x01], Ctx::Subscribe),
        subscriptions: vec![
            Subscription {
                filter: filter("a/+"),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            },
            Subscription {
                filter: filter("$share/g/x"),
                options: SubscriptionOptions {
                    qos: QoS::AtMostOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::SendAtSubscribeIfNew,
                },
            },
        ],
    });
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.8.3: the 3.1.1-compatible options byte (QoS 2 only) in a 5.0 SUBSCRIBE, no properties.
#[test]
fn subscribe_plain_qos2_round_trips() {
    let bytes = [
        0x82, 0x09, 0x00, 0x01, 0x00, 0x00, 0x03, b'a', b'/', b'#', 0x02,
    ];
    let expected = Packet::Subscribe(Subscribe::new(
        pid(1),
        [Subscription::new(filter("a/#"), QoS::ExactlyOnce)],
    ));
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.9.2-§3.9.3, Table 3-8: granted QoS 1, granted QoS 2, 0x8F Topic Filter invalid,
/// 0xA2 Wildcard Subscriptions not supported.
#[test]
fn suback_round_trips() {
    let bytes = [0x90, 0x07, 0x00, 0x0A, 0x00, 0x01, 0x02, 0x8F, 0xA2];
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(10),
        properties: Properties::EMPTY,
        reason_codes: [
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ]
        .into_iter()
        .collect(),
    });
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.9.2.1.2: SUBACK with a Reason String.
#[test]
fn suback_with_reason_string_round_trips() {
    let raw = [0x1F, 0x00, 0x02, b'n', b'o'];
    let mut bytes = vec![0x90, 0x09, 0x00, 0x03, 0x05];
    bytes.extend_from_slice(&raw);
    bytes.push(0x87);
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(3),
        properties: props(&raw, Ctx::SubAck),
        reason_codes: [ReasonCode::NotAuthorized].into_iter().collect(),
    });
    assert_round_trip(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------------------------
// UNSUBSCRIBE, UNSUBACK (§3.10-§3.11)

/// §3.10.1 (0xA2), §3.10.2 (packet id, property length 0), §3.10.3 payload "a/b", "c/d".
#[test]
fn unsubscribe_round_trips() {
    let bytes = [
        0xA2, 0x0D, 0x00, 0x0A, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd',
    ];
    let expected = Packet::Unsubscribe(Unsubscribe::new(pid(10), [filter("a/b"), filter("c/d")]));
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.11.2-§3.11.3, Table 3-9: one reason code per filter: 0x00 Success, 0x11 No
/// subscription existed.
#[test]
fn unsuback_round_trips() {
    let bytes = [0xB0, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x11];
    let expected = Packet::UnsubAck(UnsubAck {
        packet_id: pid(10),
        properties: Properties::EMPTY,
        reason_codes: [ReasonCode::Success, ReasonCode::NoSubscriptionExisted]
            .into_iter()
            .collect(),
    });
    assert_round_trip(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------------------------
// PINGREQ, PINGRESP (§3.12-§3.13)

/// §3.12, Figure 3-33: PINGREQ 0xC0 0x00 (unchanged from 3.1.1).
#[test]
fn pingreq_round_trips() {
    assert_round_trip(&[0xC0, 0x00], V5, &Packet::PingReq);
}

/// §3.13, Figure 3-34: PINGRESP 0xD0 0x00.
#[test]
fn pingresp_round_trips() {
    assert_round_trip(&[0xD0, 0x00], V5, &Packet::PingResp);
}

// ---------------------------------------------------------------------------------------------
// DISCONNECT (§3.14)

/// §3.14.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is 0x00
/// (Normal disconnection) and there are no Properties. In this case the DISCONNECT has a
/// Remaining Length of 0."
#[test]
fn disconnect_normal_uses_the_empty_form() {
    assert_round_trip(&[0xE0, 0x00], V5, &Packet::Disconnect(Disconnect::NORMAL));
    // The longer forms of the same thing decode to the same packet (§3.14.2.2.1).
    assert_decodes(
        &[0xE0, 0x01, 0x00],
        V5,
        &Packet::Disconnect(Disconnect::NORMAL),
    );
    assert_decodes(
        &[0xE0, 0x02, 0x00, 0x00],
        V5,
        &Packet::Disconnect(Disconnect::NORMAL),
    );
}

/// §3.14.2.1, Table 3-10: 0x04 Disconnect with Will Message, no properties: one byte.
#[test]
fn disconnect_with_will_message_round_trips() {
    let expected = Packet::Disconnect(Disconnect {
        reason: ReasonCode::DisconnectWithWillMessage,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0xE0, 0x01, 0x04], V5, &expected);
}

/// §3.14.2.2.2: Session Expiry Interval 60 with reason 0x00.
#[test]
fn disconnect_with_session_expiry_round_trips() {
    let raw = [0x11, 0x00, 0x00, 0x00, 0x3C];
    let expected = Packet::Disconnect(Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: props(&raw, Ctx::Disconnect),
    });
    let bytes = [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x3C];
    assert_round_trip(&bytes, V5, &expected);
}

/// §3.14.2.2.5: Server Reference with 0x9C Use another server.
#[test]
fn disconnect_use_another_server_round_trips() {
    let raw = [0x1C, 0x00, 0x04, b'h', b'o', b's', b't'];
    let expected = Packet::Disconnect(Disconnect {
        reason: ReasonCode::UseAnotherServer,
        properties: props(&raw, Ctx::Disconnect),
    });
    let mut bytes = vec![0xE0, 0x09, 0x9C, 0x07];
    bytes.extend_from_slice(&raw);
    assert_round_trip(&bytes, V5, &expected);
}

// ---------------------------------------------------------------------------------------------
// AUTH (§3.15)

/// §3.15.2.1: "The Reason Code and Property Length can be omitted if the Reason Code is 0x00
/// (Success) and there are no Properties. In this case the AUTH has a Remaining Length of 0."
#[test]
fn auth_success_uses_the_empty_form() {
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0xF0, 0x00], V5, &expected);
}

/// §3.15.2.1-§3.15.2.2, Table 3-11: 0x18 Continue authentication with Authentication Method
/// "SCRAM" (§3.15.2.2.2) and Authentication Data 01 02 (§3.15.2.2.3).
#[test]
fn auth_continue_with_method_and_data_round_trips() {
    let raw = [
        0x15, 0x00, 0x05, b'S', b'C', b'R', b'A', b'M', // Authentication Method
        0x16, 0x00, 0x02, 0x01, 0x02, // Authentication Data
    ];
    let mut bytes = vec![0xF0, 0x0F, 0x18, 0x0D];
    bytes.extend_from_slice(&raw);
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: props(&raw, Ctx::Auth),
    });
    assert_round_trip(&bytes, V5, &expected);
    let Packet::Auth(a) = expected else {
        unreachable!()
    };
    assert_eq!(a.properties.authentication_method(), Some("SCRAM"));
    let data = a.properties.iter().find_map(|p| match p {
        Property::AuthenticationData(d) => Some(d),
        _ => None,
    });
    assert_eq!(data, Some(&[1u8, 2][..]));
}

/// §3.15.2.1: 0x19 Re-authenticate with a method.
#[test]
fn auth_reauthenticate_round_trips() {
    let raw = [0x15, 0x00, 0x01, b'X'];
    let expected = Packet::Auth(Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: props(&raw, Ctx::Auth),
    });
    let mut bytes = vec![0xF0, 0x06, 0x19, 0x04];
    bytes.extend_from_slice(&raw);
    assert_round_trip(&bytes, V5, &expected);
}

/// §2.2.2.2: the properties built with `PropertiesBuf` encode to the bytes of the table.
#[test]
fn properties_built_by_hand_encode_as_in_the_table() {
    let mut buf = mqtt_sansio_proto::PropertiesBuf::new();
    buf.push(Property::PayloadFormatIndicator(1))
        .and_then(|b| b.push(Property::TopicAlias(5)))
        .expect("valid values");
    let mut p = Publish::new(topic("a/b"), b"hi", QosPid::AtLeastOnce(pid(10)));
    p.properties = buf.as_properties();
    let bytes = [
        0x32, 0x0F, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x05, 0x01, 0x01, 0x23, 0x00, 0x05,
        b'h', b'i',
    ];
    assert_encodes(&Packet::Publish(p), V5, &bytes);
}
