//! MQTT 3.1.1 byte vectors written by hand from the specification (OASIS Standard,
//! 29 October 2014), one or more per packet type: each decodes to the expected packet, and
//! that packet encodes back to the same bytes.

mod spec_common;

use mqtt_sansio_proto::{
    Ack, ConnAck, Connect, Disconnect, Packet, Properties, Publish, QoS, QosPid, ReasonCode,
    SubAck, Subscribe, Subscription, UnsubAck, Unsubscribe, Will,
};
use spec_common::{assert_round_trip, filter, pid, topic, V311};

// ---------------------------------------------------------------------------------------------
// CONNECT (§3.1)

/// §3.1.2.1-§3.1.2.10, Figure 3.6 "Variable header non normative example" (protocol name
/// "MQTT", level 4, flags 0xCE, keep alive 10), then the payload in the order of §3.1.3
/// [MQTT-3.1.3-1]: client id, will topic, will message, user name, password.
#[test]
fn connect_figure_3_6_with_will_and_credentials_round_trips() {
    // Flags 0xCE = 1100_1110: user name, password, will QoS 1, will flag, clean session.
    let bytes = [
        0x10, 0x23, // CONNECT, remaining length 35
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // protocol level 4
        0xCE, // connect flags
        0x00, 0x0A, // keep alive 10 s
        0x00, 0x03, b'a', b'b', b'c', // client identifier
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will message
        0x00, 0x04, b'u', b's', b'e', b'r', // user name
        0x00, 0x02, b'p', b'w', // password
    ];
    let expected = Packet::Connect(Connect {
        clean_start: true,
        keep_alive: 10,
        client_id: "abc",
        will: Some(Will {
            topic: topic("w/t"),
            payload: b"bye",
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::EMPTY,
        }),
        username: Some("user"),
        password: Some(b"pw"),
        properties: Properties::EMPTY,
    });
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.1.2.4 (Clean Session), §3.1.3.1: a zero-byte client id with Clean Session 1
/// [MQTT-3.1.3-6], [MQTT-3.1.3-7]; no will, no credentials; keep alive 60.
#[test]
fn connect_minimal_with_empty_client_id_round_trips() {
    let bytes = [
        0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00,
    ];
    let expected = Packet::Connect(Connect::new("", true, 60));
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.1.2.5-§3.1.2.7, Figure 3.4: will flag, will QoS 2 (bits 4-3 = 10), will retain; no
/// clean session; a user name without a password is allowed [MQTT-3.1.2-22 is the reverse].
#[test]
fn connect_with_retained_qos2_will_and_username_only_round_trips() {
    // Flags: user name 0x80 | will retain 0x20 | will QoS 2 0x10 | will flag 0x04 = 0xB4.
    let bytes = [
        0x10, 0x17, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0xB4, 0x00, 0x00, //
        0x00, 0x02, b'i', b'd', // client id
        0x00, 0x01, b't', // will topic
        0x00, 0x00, // empty will message
        0x00, 0x02, b'u', b'1', // user name
    ];
    let expected = Packet::Connect(Connect {
        clean_start: false,
        keep_alive: 0,
        client_id: "id",
        will: Some(Will {
            topic: topic("t"),
            payload: b"",
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: Properties::EMPTY,
        }),
        username: Some("u1"),
        password: None,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&bytes, V311, &expected);
}

// ---------------------------------------------------------------------------------------------
// CONNACK (§3.2)

/// §3.2.2, Figure 3.8: acknowledge flags 0, return code 0 (Connection Accepted).
#[test]
fn connack_accepted_round_trips() {
    let expected = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x20, 0x02, 0x00, 0x00], V311, &expected);
}

/// §3.2.2.2 Session Present = 1 with return code 0 [MQTT-3.2.2-2].
#[test]
fn connack_session_present_round_trips() {
    let expected = Packet::ConnAck(ConnAck {
        session_present: true,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    });
    assert_round_trip(&[0x20, 0x02, 0x01, 0x00], V311, &expected);
}

/// §3.2.2.3, Table 3.1: return codes 1..=5 map to their 5.0 equivalents.
#[test]
fn connack_refusal_return_codes_1_to_5_round_trip() {
    let table = [
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (code, reason) in table {
        let expected = Packet::ConnAck(ConnAck {
            session_present: false,
            reason,
            properties: Properties::EMPTY,
        });
        assert_round_trip(&[0x20, 0x02, 0x00, code], V311, &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH (§3.3)

/// §3.3.2, Figure 3.11 "Publish Packet variable header non normative example": topic "a/b",
/// packet identifier 10, QoS 1; payload "hi" (§3.3.3).
#[test]
fn publish_qos1_figure_3_11_round_trips() {
    let bytes = [
        0x32, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'h', b'i',
    ];
    let expected = Packet::Publish(Publish::new(
        topic("a/b"),
        b"hi",
        QosPid::AtLeastOnce(pid(10)),
    ));
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.3.1: QoS 0 has no packet identifier [MQTT-2.3.1-5]; RETAIN is bit 0.
#[test]
fn publish_qos0_retained_has_no_packet_id_and_round_trips() {
    let bytes = [0x31, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
    let mut p = Publish::new(topic("a/b"), b"hi", QosPid::AtMostOnce);
    p.retain = true;
    assert_round_trip(&bytes, V311, &Packet::Publish(p));
}

/// §3.3.1.1-§3.3.1.3, Table 3.2: DUP (bit 3), QoS 2 (bits 2-1 = 10), RETAIN (bit 0) = 0x3D;
/// the payload may be empty (§3.3.3).
#[test]
fn publish_qos2_dup_retain_empty_payload_round_trips() {
    let bytes = [0x3D, 0x07, 0x00, 0x03, b'x', b'/', b'y', 0xFF, 0xFF];
    let mut p = Publish::new(topic("x/y"), b"", QosPid::ExactlyOnce(pid(0xFFFF)));
    p.dup = true;
    p.retain = true;
    assert_round_trip(&bytes, V311, &Packet::Publish(p));
}

// ---------------------------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4-§3.7)

/// §3.4, Figures 3.12-3.13: PUBACK is 0x40, remaining length 2, packet identifier.
#[test]
fn puback_round_trips() {
    assert_round_trip(
        &[0x40, 0x02, 0x00, 0x0A],
        V311,
        &Packet::PubAck(Ack::new(pid(10))),
    );
}

/// §3.5, Figure 3.14: PUBREC is 0x50.
#[test]
fn pubrec_round_trips() {
    assert_round_trip(
        &[0x50, 0x02, 0x12, 0x34],
        V311,
        &Packet::PubRec(Ack::new(pid(0x1234))),
    );
}

/// §3.6.1, Figure 3.16: PUBREL is 0x62 — bits 3-0 of the fixed header are 0,0,1,0
/// [MQTT-3.6.1-1].
#[test]
fn pubrel_has_flags_0010_and_round_trips() {
    assert_round_trip(
        &[0x62, 0x02, 0x00, 0x01],
        V311,
        &Packet::PubRel(Ack::new(pid(1))),
    );
}

/// §3.7, Figure 3.18: PUBCOMP is 0x70.
#[test]
fn pubcomp_round_trips() {
    assert_round_trip(
        &[0x70, 0x02, 0xFF, 0xFE],
        V311,
        &Packet::PubComp(Ack::new(pid(0xFFFE))),
    );
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE, SUBACK (§3.8-§3.9)

/// §3.8.1 (0x82, flags 0010 [MQTT-3.8.1-1]), §3.8.2 packet identifier 10, §3.8.3
/// Figure 3.22 "Payload byte format non normative example": "a/b" QoS 1, "c/d" QoS 2.
#[test]
fn subscribe_figure_3_22_round_trips() {
    let bytes = [
        0x82, 0x0E, 0x00, 0x0A, //
        0x00, 0x03, b'a', b'/', b'b', 0x01, //
        0x00, 0x03, b'c', b'/', b'd', 0x02,
    ];
    let expected = Packet::Subscribe(Subscribe::new(
        pid(10),
        [
            Subscription::new(filter("a/b"), QoS::AtLeastOnce),
            Subscription::new(filter("c/d"), QoS::ExactlyOnce),
        ],
    ));
    assert_round_trip(&bytes, V311, &expected);
}

/// §4.7.1: wildcards that occupy whole levels are valid in a filter; "#" alone, "+" alone,
/// "sport/+/player1", "sport/tennis/#".
#[test]
fn subscribe_with_well_placed_wildcards_round_trips() {
    let mut body = vec![0x00, 0x02];
    let filters = ["#", "+", "sport/+/player1", "sport/tennis/#", "+/+", "/"];
    for f in filters {
        body.extend_from_slice(&spec_common::s(f.as_bytes()));
        body.push(0x00);
    }
    let bytes = spec_common::packet(0x82, &body);
    let expected = Packet::Subscribe(Subscribe::new(
        pid(2),
        filters.map(|f| Subscription::new(filter(f), QoS::AtMostOnce)),
    ));
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.9.3, Figure 3.26 "Payload byte format non normative example": return codes
/// 0x00 (QoS 0), 0x02 (QoS 2), 0x80 (Failure).
#[test]
fn suback_figure_3_26_round_trips() {
    let bytes = [0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80];
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(10),
        properties: Properties::EMPTY,
        reason_codes: [
            ReasonCode::GRANTED_QOS_0,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ]
        .into_iter()
        .collect(),
    });
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.9.3: all four allowed return codes [MQTT-3.9.3-2], more than the inline capacity of
/// the code list (nine codes).
#[test]
fn suback_with_nine_codes_round_trips() {
    let raw = [0x00, 0x01, 0x02, 0x80, 0x00, 0x01, 0x02, 0x80, 0x01];
    let mut bytes = vec![0x90, 11, 0x00, 0x07];
    bytes.extend_from_slice(&raw);
    let expected = Packet::SubAck(SubAck {
        packet_id: pid(7),
        properties: Properties::EMPTY,
        reason_codes: raw
            .iter()
            .map(|&b| ReasonCode::from_u8(b).expect("known code"))
            .collect(),
    });
    assert_round_trip(&bytes, V311, &expected);
}

// ---------------------------------------------------------------------------------------------
// UNSUBSCRIBE, UNSUBACK (§3.10-§3.11)

/// §3.10.1 (0xA2, flags 0010 [MQTT-3.10.1-1]), §3.10.3 Figure 3.30 "Payload byte format non
/// normative example": "a/b", "c/d".
#[test]
fn unsubscribe_figure_3_30_round_trips() {
    let bytes = [
        0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x03, b'c', b'/', b'd',
    ];
    let expected = Packet::Unsubscribe(Unsubscribe::new(pid(10), [filter("a/b"), filter("c/d")]));
    assert_round_trip(&bytes, V311, &expected);
}

/// §3.11, Figures 3.31-3.32: UNSUBACK is 0xB0, remaining length 2, packet identifier.
#[test]
fn unsuback_round_trips() {
    assert_round_trip(
        &[0xB0, 0x02, 0x00, 0x0A],
        V311,
        &Packet::UnsubAck(UnsubAck::new(pid(10))),
    );
}

// ---------------------------------------------------------------------------------------------
// PINGREQ, PINGRESP, DISCONNECT (§3.12-§3.14)

/// §3.12.1, Figure 3.33: PINGREQ is 0xC0 0x00.
#[test]
fn pingreq_round_trips() {
    assert_round_trip(&[0xC0, 0x00], V311, &Packet::PingReq);
}

/// §3.13.1, Figure 3.34: PINGRESP is 0xD0 0x00.
#[test]
fn pingresp_round_trips() {
    assert_round_trip(&[0xD0, 0x00], V311, &Packet::PingResp);
}

/// §3.14.1, Figure 3.35: DISCONNECT is 0xE0 0x00.
#[test]
fn disconnect_round_trips() {
    assert_round_trip(&[0xE0, 0x00], V311, &Packet::Disconnect(Disconnect::NORMAL));
}

/// §2.2.3: several packets back to back in one buffer are taken one at a time.
#[test]
fn back_to_back_packets_decode_one_at_a_time() {
    let stream = [
        0x40, 0x02, 0x00, 0x01, // PUBACK 1
        0xD0, 0x00, // PINGRESP
        0x30, 0x04, 0x00, 0x01, b't', b'!', // PUBLISH "t" "!"
    ];
    let limits = mqtt_sansio_proto::Limits::default();
    let mut rest = &stream[..];
    let mut seen = Vec::new();
    while let Some((p, used)) = mqtt_sansio_proto::decode(rest, V311, &limits).expect("valid") {
        seen.push(p.packet_type());
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    use mqtt_sansio_proto::PacketType as T;
    assert_eq!(seen, [T::PubAck, T::PingResp, T::Publish]);
}
