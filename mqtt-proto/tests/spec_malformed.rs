//! One test per malformed case per rule: each hand-written packet breaks exactly one rule of
//! the specification, and decoding must fail with the exact error variant (Malformed Packet,
//! Protocol Error, ...) and name that rule.
//!
//! Where 5.0 distinguishes (§4.13), "is a Malformed Packet" is `DecodeError::Malformed` and
//! "is a Protocol Error" is `DecodeError::Protocol`.

mod spec_common;

use mqtt_sansio_proto::{decode, frame_len, rules, DecodeError, Limits, ReasonCode};
use spec_common::{assert_malformed, assert_protocol, decode_err, packet, s, V311, V5};

/// Both versions, for rules that read the same in each.
const BOTH: [mqtt_sansio_proto::ProtocolVersion; 2] = [V311, V5];

/// A minimal valid body for each packet type 1..=15 in version `v`.
fn valid_body(packet_type: u8, v: mqtt_sansio_proto::ProtocolVersion) -> Vec<u8> {
    let v5 = v == V5;
    let level = if v5 { 5 } else { 4 };
    let mut b = Vec::new();
    match packet_type {
        1 => {
            b.extend_from_slice(&[0x00, 0x04, b'M', b'Q', b'T', b'T', level, 0x02, 0x00, 0x00]);
            if v5 {
                b.push(0);
            }
            b.extend_from_slice(&[0x00, 0x00]);
        }
        2 => {
            b.extend_from_slice(&[0x00, 0x00]);
            if v5 {
                b.push(0);
            }
        }
        3 => b.extend_from_slice(&[0x00, 0x01, b't']),
        4..=7 => b.extend_from_slice(&[0x00, 0x01]),
        8 => {
            b.extend_from_slice(&[0x00, 0x01]);
            if v5 {
                b.push(0);
            }
            b.extend_from_slice(&[0x00, 0x01, b't', 0x00]);
        }
        9 => {
            b.extend_from_slice(&[0x00, 0x01]);
            if v5 {
                b.push(0);
            }
            b.push(0x00);
        }
        10 => {
            b.extend_from_slice(&[0x00, 0x01]);
            if v5 {
                b.push(0);
            }
            b.extend_from_slice(&[0x00, 0x01, b't']);
        }
        11 if v5 => b.extend_from_slice(&[0x00, 0x01, 0x00, 0x00]),
        11 => b.extend_from_slice(&[0x00, 0x01]),
        _ => {} // PINGREQ, PINGRESP, DISCONNECT, AUTH: empty body
    }
    if packet_type == 3 && v5 {
        b.push(0); // property length
    }
    b
}

// =============================================================================================
// Fixed header (§2.2 in 3.1.1, §2.1 in 5.0)

/// The bodies above are valid with the prescribed flags (a sanity check of the helper).
#[test]
fn every_packet_type_with_its_prescribed_flags_decodes() {
    for v in BOTH {
        for t in 1..=15u8 {
            if t == 15 && v == V311 {
                continue;
            }
            let flags = if matches!(t, 6 | 8 | 10) { 0b0010 } else { 0 };
            let bytes = packet((t << 4) | flags, &valid_body(t, v));
            let r = decode(&bytes, v, &Limits::default());
            assert!(
                matches!(r, Ok(Some((_, n))) if n == bytes.len()),
                "{v:?} type {t}: {r:?}"
            );
        }
    }
}

/// [MQTT-2.2.2-1] (3.1.1), [MQTT-2.1.3-1] (5.0 §2.1.3): PUBREL, SUBSCRIBE and UNSUBSCRIBE
/// have flags 0010; any other value is malformed [MQTT-3.6.1-1], [MQTT-3.8.1-1],
/// [MQTT-3.10.1-1].
#[test]
fn pubrel_subscribe_unsubscribe_with_flags_other_than_0010_are_malformed() {
    for v in BOTH {
        for t in [6u8, 8, 10] {
            for flags in (0..16u8).filter(|&f| f != 0b0010) {
                let bytes = packet((t << 4) | flags, &valid_body(t, v));
                assert_malformed(&bytes, v, rules::FIXED_HEADER_FLAGS);
            }
        }
    }
}

/// [MQTT-2.2.2-1], 5.0 §2.1.3 Table 2-2: every other type but PUBLISH has reserved flags 0000.
#[test]
fn nonzero_reserved_flags_on_other_packet_types_are_malformed() {
    for v in BOTH {
        for t in [1u8, 2, 4, 5, 7, 9, 11, 12, 13, 14, 15] {
            if t == 15 && v == V311 {
                continue;
            }
            for flags in 1..16u8 {
                let bytes = packet((t << 4) | flags, &valid_body(t, v));
                assert_malformed(&bytes, v, rules::FIXED_HEADER_FLAGS);
            }
        }
    }
}

/// The flags are checked from the fixed header alone, before the body arrives.
#[test]
fn wrong_flags_are_reported_before_the_body_arrives() {
    // PUBREL with flags 0000 announcing a 2-byte body that has not arrived.
    assert_malformed(&[0x60, 0x02], V311, rules::FIXED_HEADER_FLAGS);
    assert_malformed(&[0x81, 0x10], V5, rules::FIXED_HEADER_FLAGS);
}

/// 3.1.1 §2.2.1 Table 2.1, 5.0 §2.1.2 Table 2-1: packet type 0 is reserved (Forbidden).
#[test]
fn packet_type_0_is_malformed() {
    for v in BOTH {
        assert_malformed(&[0x00, 0x00], v, rules::PACKET_TYPE_RESERVED);
        assert_malformed(&[0x0F, 0x02, 0x00, 0x01], v, rules::PACKET_TYPE_RESERVED);
    }
    assert_eq!(
        frame_len(&[0x00, 0x00], &Limits::default()).map_err(|e| e.rule()),
        Err(rules::PACKET_TYPE_RESERVED)
    );
}

/// 3.1.1 §2.2.1 Table 2.1: type 15 is "Reserved, Forbidden" in 3.1.1 (AUTH exists only in 5.0).
#[test]
fn auth_packet_type_15_is_malformed_in_v311() {
    assert_malformed(&[0xF0, 0x00], V311, rules::PACKET_TYPE_RESERVED);
    assert_malformed(&[0xF0, 0x01, 0x18], V311, rules::PACKET_TYPE_RESERVED);
}

// =============================================================================================
// PacketTooLarge (3.1.1 §2.2.3; 5.0 §3.1.2.11.4, [MQTT-3.1.2-24])

/// The limit is enforced from the fixed header alone: only the header bytes are supplied.
#[test]
fn packet_over_the_limit_is_rejected_from_the_fixed_header_alone() {
    let limits = Limits::with_max_packet_size(100);
    // PUBLISH announcing 1000 body bytes: 0xE8 0x07 = 1000; whole packet 1003 bytes.
    let header = [0x30, 0xE8, 0x07];
    for v in BOTH {
        let e = decode(&header, v, &limits).expect_err("too large");
        assert_eq!(
            e,
            DecodeError::PacketTooLarge {
                len: 1003,
                max: 100
            }
        );
        assert_eq!(e.rule(), rules::PACKET_TOO_LARGE);
        assert_eq!(e.reason_code(), ReasonCode::PacketTooLarge);
    }
    assert_eq!(
        frame_len(&header, &limits),
        Err(DecodeError::PacketTooLarge {
            len: 1003,
            max: 100
        })
    );
}

/// The limit counts the whole packet, fixed header included; exactly at the limit is fine.
#[test]
fn packet_exactly_at_the_limit_is_accepted() {
    // PINGREQ is 2 bytes in all.
    let two = Limits::with_max_packet_size(2);
    assert!(matches!(
        decode(&[0xC0, 0x00], V311, &two),
        Ok(Some((_, 2)))
    ));
    let one = Limits::with_max_packet_size(1);
    assert_eq!(
        decode(&[0xC0, 0x00], V311, &one),
        Err(DecodeError::PacketTooLarge { len: 2, max: 1 })
    );
    // A header at the limit, body not there yet: need more, not an error.
    let limit = Limits::with_max_packet_size(1003);
    assert_eq!(decode(&[0x30, 0xE8, 0x07], V5, &limit), Ok(None));
    assert_eq!(frame_len(&[0x30, 0xE8, 0x07], &limit), Ok(Some(1003)));
}

// =============================================================================================
// Trailing or missing bytes inside a body (3.1.1 §2.2.3, 5.0 §2.1.4)

/// 3.1.1 §3.12 / 5.0 §3.12.3: "The PINGREQ packet has no Variable Header" and "no Payload".
#[test]
fn pingreq_and_pingresp_with_a_body_are_malformed() {
    for v in BOTH {
        assert_malformed(&[0xC0, 0x01, 0x00], v, rules::PACKET_LENGTH);
        assert_malformed(&[0xD0, 0x02, 0x00, 0x00], v, rules::PACKET_LENGTH);
    }
}

/// 3.1.1 §3.14.2-§3.14.3: DISCONNECT has no variable header and no payload.
#[test]
fn v311_disconnect_with_a_body_is_malformed() {
    assert_malformed(&[0xE0, 0x01, 0x00], V311, rules::PACKET_LENGTH);
}

/// 3.1.1 §3.4.1: PUBACK remaining length is 2; a third byte is left over.
#[test]
fn v311_acks_with_three_body_bytes_are_malformed() {
    for first in [0x40, 0x50, 0x62, 0x70, 0xB0] {
        assert_malformed(&[first, 0x03, 0x00, 0x0A, 0x00], V311, rules::PACKET_LENGTH);
    }
}

/// An ack with a one-byte body cannot hold its packet identifier.
#[test]
fn acks_too_short_for_the_packet_id_are_malformed() {
    for v in BOTH {
        for first in [0x40, 0x50, 0x62, 0x70, 0xB0, 0x90] {
            assert_malformed(&[first, 0x01, 0x00], v, rules::PACKET_LENGTH);
            assert_malformed(&[first, 0x00], v, rules::PACKET_LENGTH);
        }
    }
}

/// 3.1.1 §3.2: CONNACK remaining length is 2.
#[test]
fn v311_connack_with_extra_bytes_is_malformed() {
    assert_malformed(&[0x20, 0x03, 0x00, 0x00, 0x00], V311, rules::PACKET_LENGTH);
}

/// 5.0 §3.2.2.3: the CONNACK property length is not optional.
#[test]
fn v5_connack_without_property_length_is_malformed() {
    assert_malformed(&[0x20, 0x02, 0x00, 0x00], V5, rules::PACKET_LENGTH);
}

/// A CONNECT with a byte after its last field (3.1.1 §3.1.3 [MQTT-3.1.3-1]; 5.0 §3.1.3).
#[test]
fn connect_with_extra_bytes_is_malformed() {
    for v in BOTH {
        let mut body = valid_body(1, v);
        body.push(0x00);
        assert_malformed(&packet(0x10, &body), v, rules::PACKET_LENGTH);
    }
}

/// [MQTT-3.1.2-19]/[MQTT-3.1.2-21] (3.1.1): a flag announces a field that is missing.
#[test]
fn connect_with_username_flag_but_no_username_is_malformed() {
    let body = [
        0x00, 0x04, b'M', b'Q', b'T', b'T', 4, 0x82, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_malformed(&packet(0x10, &body), V311, rules::PACKET_LENGTH);
}

/// A string whose length prefix runs past the end of the packet.
#[test]
fn topic_length_past_the_end_of_the_packet_is_malformed() {
    for v in BOTH {
        assert_malformed(&[0x30, 0x03, 0x00, 0x05, b'a'], v, rules::PACKET_LENGTH);
    }
}

/// 5.0 §2.2.2.1: a property list longer than the rest of the packet.
#[test]
fn v5_property_length_past_the_end_of_the_packet_is_malformed() {
    assert_malformed(
        &[0x30, 0x05, 0x00, 0x01, b't', 0x09, 0x01],
        V5,
        rules::PACKET_LENGTH,
    );
    // A property value cut short inside the property list: Topic Alias needs two bytes.
    assert_malformed(
        &[0x30, 0x06, 0x00, 0x01, b't', 0x02, 0x23, 0x00],
        V5,
        rules::PACKET_LENGTH,
    );
}

/// [MQTT-1.5.5-1]: a property length (a variable byte integer) in a non-minimal form.
#[test]
fn v5_non_minimal_property_length_is_malformed() {
    assert_malformed(
        &[0x40, 0x05, 0x00, 0x0A, 0x00, 0x80, 0x00],
        V5,
        rules::VARINT_MINIMAL,
    );
}

// =============================================================================================
// PUBLISH (§3.3)

/// [MQTT-3.3.1-4]: "A PUBLISH Packet MUST NOT have both QoS bits set to 1"; 5.0: "it is a
/// Malformed Packet".
#[test]
fn publish_with_qos_3_is_malformed() {
    for v in BOTH {
        for first in [0x36, 0x37, 0x3E, 0x3F] {
            let mut body = vec![0x00, 0x01, b't', 0x00, 0x01];
            if v == V5 {
                body.push(0);
            }
            assert_malformed(&packet(first, &body), v, rules::PUBLISH_QOS_INVALID);
        }
    }
}

/// [MQTT-3.3.1-2]: "The DUP flag MUST be set to 0 for all QoS 0 messages" binds the sender
/// only. SPEC.md ("On the wire") changed the rule for us as receiver: a QoS 0 PUBLISH with
/// DUP = 1 is accepted and delivered with DUP ignored (it used to be a malformed packet here).
/// The encoder still never produces one.
#[test]
fn publish_qos0_with_dup_is_accepted_with_dup_ignored() {
    use mqtt_sansio_proto::{Packet, QosPid};
    for (bytes, v) in [
        (&[0x38u8, 0x03, 0x00, 0x01, b't'][..], V311),
        (&[0x39, 0x04, 0x00, 0x01, b't', 0x00][..], V5),
    ] {
        let (p, n) = decode(bytes, v, &Limits::default())
            .expect("a QoS 0 PUBLISH with DUP is accepted")
            .expect("complete");
        assert_eq!(n, bytes.len());
        let Packet::Publish(p) = p else {
            panic!("decoded {p:?}")
        };
        assert_eq!(p.qos, QosPid::AtMostOnce);
        assert!(!p.dup, "DUP is ignored on QoS 0");
        assert_eq!(p.topic.as_str(), "t");
        assert_eq!(p.retain, v == V5);
        // Encoded again it carries DUP = 0: [MQTT-3.3.1-2] still binds us as sender.
        let mut out = Vec::new();
        Packet::Publish(p).encode(v, &mut out).expect("encodes");
        assert_eq!(out.first(), Some(&(bytes[0] & !0b1000)));
        let mut with_dup = p;
        with_dup.dup = true;
        let mut out = Vec::new();
        assert!(matches!(
            Packet::Publish(with_dup).encode(v, &mut out),
            Err(mqtt_sansio_proto::EncodeError::Invalid { rule, .. }) if rule == rules::PUBLISH_DUP_QOS0
        ));
    }
}

/// [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-3] (5.0): PUBLISH with QoS > 0 needs a non-zero
/// packet identifier.
#[test]
fn publish_qos1_and_qos2_with_packet_id_0_are_malformed() {
    for first in [0x32, 0x34, 0x3A] {
        assert_malformed(
            &[first, 0x05, 0x00, 0x01, b't', 0x00, 0x00],
            V311,
            rules::PACKET_ID_NON_ZERO,
        );
        assert_malformed(
            &[first, 0x06, 0x00, 0x01, b't', 0x00, 0x00, 0x00],
            V5,
            rules::PACKET_ID_NON_ZERO,
        );
    }
}

/// [MQTT-3.3.2-2]: "The Topic Name in the PUBLISH Packet MUST NOT contain wildcard characters".
#[test]
fn publish_topic_with_wildcards_is_malformed() {
    for v in BOTH {
        for t in ["a/+", "a/#", "+", "#", "a+b", "a/b#"] {
            let mut body = s(t.as_bytes());
            if v == V5 {
                body.push(0);
            }
            assert_malformed(&packet(0x30, &body), v, rules::TOPIC_NAME_WILDCARD);
        }
    }
}

/// [MQTT-4.7.3-1]: "All Topic Names and Topic Filters MUST be at least one character long";
/// 3.1.1 has no topic alias to stand in for it.
#[test]
fn v311_publish_with_empty_topic_is_malformed() {
    assert_malformed(
        &[0x30, 0x04, 0x00, 0x00, b'h', b'i'],
        V311,
        rules::TOPIC_EMPTY,
    );
}

/// 5.0 §3.3.2.1: "It is a Protocol Error if the Topic Name is zero length and there is no
/// Topic Alias."
#[test]
fn v5_publish_with_empty_topic_and_no_alias_is_a_protocol_error() {
    assert_protocol(
        &[0x30, 0x03, 0x00, 0x00, 0x00],
        V5,
        rules::TOPIC_EMPTY_WITHOUT_ALIAS,
    );
    // Properties present, but no Topic Alias among them.
    assert_protocol(
        &[0x30, 0x05, 0x00, 0x00, 0x02, 0x01, 0x00],
        V5,
        rules::TOPIC_EMPTY_WITHOUT_ALIAS,
    );
}

/// [MQTT-1.5.3-1] (3.1.1), [MQTT-1.5.4-1] (5.0): a topic that is not well-formed UTF-8
/// (a lone continuation byte; an encoded surrogate U+D800; an overlong encoding of '/').
#[test]
fn publish_topic_with_invalid_utf8_is_malformed() {
    for v in BOTH {
        for bad in [
            &[b'a', 0x80][..],
            &[0xED, 0xA0, 0x80],
            &[0xC0, 0xAF],
            &[0xFF],
        ] {
            let mut body = s(bad);
            if v == V5 {
                body.push(0);
            }
            assert_malformed(&packet(0x30, &body), v, rules::UTF8_WELL_FORMED);
        }
    }
}

/// [MQTT-1.5.3-2] (3.1.1), [MQTT-1.5.4-2] (5.0): "A UTF-8 encoded string MUST NOT include an
/// encoding of the null character U+0000"; also [MQTT-4.7.3-2] for topics.
#[test]
fn publish_topic_with_null_character_is_malformed() {
    for v in BOTH {
        let mut body = s(b"a\0b");
        if v == V5 {
            body.push(0);
        }
        assert_malformed(&packet(0x30, &body), v, rules::UTF8_NO_NULL);
    }
}

// =============================================================================================
// Acknowledgements: packet identifier 0 and reason codes

/// [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-5], [MQTT-2.2.1-6] (5.0): an ack carries the
/// non-zero identifier of the packet it acknowledges.
#[test]
fn acks_with_packet_id_0_are_malformed() {
    for v in BOTH {
        for first in [0x40, 0x50, 0x62, 0x70] {
            assert_malformed(&[first, 0x02, 0x00, 0x00], v, rules::PACKET_ID_NON_ZERO);
        }
    }
    assert_malformed(
        &[0x90, 0x03, 0x00, 0x00, 0x00],
        V311,
        rules::PACKET_ID_NON_ZERO,
    );
    assert_malformed(
        &[0x90, 0x04, 0x00, 0x00, 0x00, 0x00],
        V5,
        rules::PACKET_ID_NON_ZERO,
    );
    assert_malformed(&[0xB0, 0x02, 0x00, 0x00], V311, rules::PACKET_ID_NON_ZERO);
    assert_malformed(
        &[0xB0, 0x04, 0x00, 0x00, 0x00, 0x00],
        V5,
        rules::PACKET_ID_NON_ZERO,
    );
}

/// 5.0 §3.4.2.1 Table 3-4 [MQTT-3.4.2-1]: 0x92 is a PUBREL/PUBCOMP code, not a PUBACK code.
#[test]
fn v5_puback_with_reason_code_0x92_is_malformed() {
    assert_malformed(&[0x40, 0x03, 0x00, 0x0A, 0x92], V5, rules::REASON_CODE);
    assert_malformed(&[0x50, 0x03, 0x00, 0x0A, 0x92], V5, rules::REASON_CODE);
}

/// 5.0 §3.6.2.1 Table 3-6, §3.7.2.1 Table 3-7: PUBREL/PUBCOMP know only 0x00 and 0x92.
#[test]
fn v5_pubrel_and_pubcomp_with_a_puback_reason_code_are_malformed() {
    for code in [0x10, 0x80, 0x91] {
        assert_malformed(&[0x62, 0x03, 0x00, 0x0A, code], V5, rules::REASON_CODE);
        assert_malformed(&[0x70, 0x03, 0x00, 0x0A, code], V5, rules::REASON_CODE);
    }
}

/// 5.0 §2.4: a value that is no reason code at all (0x03, 0xFF).
#[test]
fn v5_undefined_reason_code_values_are_malformed() {
    for code in [0x03, 0x05, 0xA3, 0xFF] {
        assert_malformed(&[0x40, 0x03, 0x00, 0x0A, code], V5, rules::REASON_CODE);
        assert_malformed(&[0xE0, 0x01, code], V5, rules::REASON_CODE);
    }
}

/// 5.0 §3.14.2.1 Table 3-10: 0x01 (Granted QoS 1) is not a DISCONNECT reason code.
#[test]
fn v5_disconnect_with_a_non_disconnect_reason_code_is_malformed() {
    for code in [0x01, 0x10, 0x84, 0x92] {
        assert_malformed(&[0xE0, 0x01, code], V5, rules::REASON_CODE);
    }
}

/// 5.0 §3.15.2.1 Table 3-11: AUTH knows only 0x00, 0x18, 0x19.
#[test]
fn v5_auth_with_a_non_auth_reason_code_is_malformed() {
    for code in [0x04, 0x80, 0x87] {
        assert_malformed(&[0xF0, 0x02, code, 0x00], V5, rules::REASON_CODE);
    }
}

/// 5.0 §3.9.3 Table 3-8: 0x11 is an UNSUBACK code, not a SUBACK code.
#[test]
fn v5_suback_with_a_non_suback_reason_code_is_malformed() {
    assert_malformed(
        &[0x90, 0x04, 0x00, 0x0A, 0x00, 0x11],
        V5,
        rules::REASON_CODE,
    );
}

/// 5.0 §3.11.3 Table 3-9: 0x01 is a SUBACK code, not an UNSUBACK code.
#[test]
fn v5_unsuback_with_a_non_unsuback_reason_code_is_malformed() {
    assert_malformed(
        &[0xB0, 0x04, 0x00, 0x0A, 0x00, 0x01],
        V5,
        rules::REASON_CODE,
    );
}

/// [MQTT-3.9.3-2] (3.1.1): "SUBACK return codes other than 0x00, 0x01, 0x02 and 0x80 are
/// reserved and MUST NOT be used."
#[test]
fn v311_suback_with_return_code_0x03_is_malformed() {
    for code in [0x03, 0x7F, 0x81, 0x87, 0xFF] {
        assert_malformed(
            &[0x90, 0x03, 0x00, 0x0A, code],
            V311,
            rules::SUBACK_RETURN_CODE,
        );
    }
}

/// 3.1.1 §3.9.3 / 5.0 §3.9.3: one return code per topic filter, so at least one.
#[test]
fn suback_without_return_codes_is_a_protocol_error() {
    assert_protocol(&[0x90, 0x02, 0x00, 0x0A], V311, rules::SUBACK_RETURN_CODE);
    assert_protocol(
        &[0x90, 0x03, 0x00, 0x0A, 0x00],
        V5,
        rules::SUBACK_RETURN_CODE,
    );
}

/// 5.0 §3.11.3: one reason code per topic filter of the UNSUBSCRIBE, so at least one.
#[test]
fn v5_unsuback_without_reason_codes_is_a_protocol_error() {
    assert_protocol(
        &[0xB0, 0x03, 0x00, 0x0A, 0x00],
        V5,
        rules::UNSUBSCRIBE_EMPTY,
    );
}

// =============================================================================================
// CONNECT (§3.1)

fn connect_with_flags(level: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', level, flags, 0x00, 0x3C];
    if level == 5 {
        body.push(0x00);
    }
    body.extend_from_slice(payload);
    packet(0x10, &body)
}

/// [MQTT-3.1.2-3]: "The Server MUST validate that the reserved flag in the CONNECT Control
/// Packet is set to zero and disconnect the Client if it is not zero."
#[test]
fn connect_with_reserved_flag_set_is_malformed() {
    assert_malformed(
        &connect_with_flags(4, 0x03, &[0, 0]),
        V311,
        rules::CONNECT_RESERVED_FLAG,
    );
    assert_malformed(
        &connect_with_flags(5, 0x01, &[0, 0]),
        V5,
        rules::CONNECT_RESERVED_FLAG,
    );
}

/// [MQTT-3.1.2-13] (3.1.1), [MQTT-3.1.2-11] (5.0): "If the Will Flag is set to 0, then the
/// Will QoS MUST be set to 0".
#[test]
fn connect_with_will_qos_but_no_will_flag_is_malformed() {
    for qos_bits in [0x08, 0x10, 0x18] {
        let flags = 0x02 | qos_bits;
        assert_malformed(
            &connect_with_flags(4, flags, &[0, 0]),
            V311,
            rules::WILL_QOS_WITHOUT_WILL,
        );
        assert_malformed(
            &connect_with_flags(5, flags, &[0, 0]),
            V5,
            rules::WILL_QOS_WITHOUT_WILL,
        );
    }
}

/// [MQTT-3.1.2-15] (3.1.1), [MQTT-3.1.2-13] (5.0): without a will, Will Retain is 0.
#[test]
fn connect_with_will_retain_but_no_will_flag_is_malformed() {
    assert_malformed(
        &connect_with_flags(4, 0x22, &[0, 0]),
        V311,
        rules::WILL_RETAIN_WITHOUT_WILL,
    );
    assert_malformed(
        &connect_with_flags(5, 0x22, &[0, 0]),
        V5,
        rules::WILL_RETAIN_WITHOUT_WILL,
    );
}

/// [MQTT-3.1.2-14] (3.1.1): "the value of Will QoS can be 0, 1, or 2. It MUST NOT be 3";
/// [MQTT-3.1.2-12] (5.0): "A value of 3 (0x03) is a Malformed Packet."
#[test]
fn connect_with_will_qos_3_is_malformed() {
    // Will flag 0x04 | QoS 3 0x18 | clean 0x02; payload: client id, will topic, will message.
    let p311 = [0, 0, 0, 1, b'w', 0, 0];
    assert_malformed(
        &connect_with_flags(4, 0x1E, &p311),
        V311,
        rules::WILL_QOS_INVALID,
    );
    let p5 = [0, 0, 0, 0, 1, b'w', 0, 0];
    assert_malformed(
        &connect_with_flags(5, 0x1E, &p5),
        V5,
        rules::WILL_QOS_INVALID,
    );
}

/// [MQTT-3.1.2-22] (3.1.1): "If the User Name Flag is set to 0, the Password Flag MUST be set
/// to 0." (5.0 allows a password alone, §3.1.2.9.)
#[test]
fn v311_connect_with_password_but_no_username_is_malformed() {
    let bytes = connect_with_flags(4, 0x42, &[0, 0, 0, 2, b'p', b'w']);
    assert_malformed(&bytes, V311, rules::PASSWORD_WITHOUT_USERNAME);
    assert!(matches!(
        decode(
            &connect_with_flags(5, 0x42, &[0, 0, 0, 2, b'p', b'w']),
            V5,
            &Limits::default()
        ),
        Ok(Some(_))
    ));
}

/// [MQTT-3.1.2-1]: "If the protocol name is incorrect the Server MAY disconnect the Client".
#[test]
fn connect_with_wrong_protocol_name_is_malformed() {
    for v in BOTH {
        let level = v.level();
        for name in [&b"MQTX"[..], b"mqtt", b"MQT", b""] {
            let mut body = s(name);
            body.extend_from_slice(&[level, 0x02, 0x00, 0x3C]);
            if v == V5 {
                body.push(0);
            }
            body.extend_from_slice(&[0, 0]);
            assert_malformed(&packet(0x10, &body), v, rules::PROTOCOL_NAME);
        }
    }
}

/// [MQTT-3.1.2-2]: a protocol level the receiver does not speak, or not the one it was told
/// to expect, gives UnsupportedProtocolVersion (5.0 CONNACK 0x84; 3.1.1 return code 0x01).
#[test]
fn connect_with_another_protocol_level_is_unsupported_protocol_version() {
    let cases = [
        (V311, 5u8),
        (V311, 3),
        (V5, 4),
        (V5, 6),
        (V311, 0),
        (V5, 0xFF),
    ];
    for (v, level) in cases {
        let bytes = connect_with_flags(level, 0x02, &[0, 0]);
        let e = decode_err(&bytes, v);
        assert_eq!(
            e,
            DecodeError::UnsupportedProtocolVersion { level },
            "{v:?} level {level}"
        );
        assert_eq!(e.rule(), rules::PROTOCOL_LEVEL);
        assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
    }
    // MQTT 3.1 ("MQIsdp", level 3) is a version this codec does not speak.
    let mut body = s(b"MQIsdp");
    body.extend_from_slice(&[3, 0x02, 0x00, 0x3C, 0x00, 0x01, b'c']);
    assert_eq!(
        decode_err(&packet(0x10, &body), V311),
        DecodeError::UnsupportedProtocolVersion { level: 3 }
    );
}

/// [MQTT-1.5.3-1] / [MQTT-1.5.4-1]: the client identifier is a UTF-8 string
/// ([MQTT-3.1.3-4]).
#[test]
fn connect_client_id_with_invalid_utf8_is_malformed() {
    for v in BOTH {
        let bytes = connect_with_flags(v.level(), 0x02, &[0x00, 0x02, 0xC3, 0x28]);
        assert_malformed(&bytes, v, rules::UTF8_WELL_FORMED);
    }
}

/// [MQTT-1.5.3-2] / [MQTT-1.5.4-2]: no U+0000 in the client identifier.
#[test]
fn connect_client_id_with_null_character_is_malformed() {
    for v in BOTH {
        let bytes = connect_with_flags(v.level(), 0x02, &[0x00, 0x03, b'a', 0x00, b'b']);
        assert_malformed(&bytes, v, rules::UTF8_NO_NULL);
    }
}

/// [MQTT-3.1.2-20]... the user name is a UTF-8 string too ([MQTT-3.1.3-11] 3.1.1).
#[test]
fn connect_username_with_invalid_utf8_is_malformed() {
    for v in BOTH {
        let bytes = connect_with_flags(v.level(), 0x82, &[0, 0, 0x00, 0x01, 0xFE]);
        assert_malformed(&bytes, v, rules::UTF8_WELL_FORMED);
    }
}

/// [MQTT-3.3.2-2] applies to the will topic, which is published as a topic name.
#[test]
fn connect_will_topic_with_wildcard_is_malformed() {
    let p311 = [0, 0, 0, 3, b'a', b'/', b'#', 0, 0];
    assert_malformed(
        &connect_with_flags(4, 0x06, &p311),
        V311,
        rules::TOPIC_NAME_WILDCARD,
    );
    let p5 = [0, 0, 0, 0, 3, b'a', b'/', b'+', 0, 0];
    assert_malformed(
        &connect_with_flags(5, 0x06, &p5),
        V5,
        rules::TOPIC_NAME_WILDCARD,
    );
}

// =============================================================================================
// CONNACK (§3.2)

/// 3.1.1 §3.2.2.1 "Bits 7-1 are reserved and MUST be set to 0"; 5.0 [MQTT-3.2.2-1].
#[test]
fn connack_with_reserved_flag_bits_is_malformed() {
    for flags in [0x02, 0x80, 0xFE, 0x03] {
        assert_malformed(
            &[0x20, 0x02, flags, 0x00],
            V311,
            rules::CONNACK_RESERVED_FLAGS,
        );
        assert_malformed(
            &[0x20, 0x03, flags, 0x00, 0x00],
            V5,
            rules::CONNACK_RESERVED_FLAGS,
        );
    }
}

/// 3.1.1 §3.2.2.3 Table 3.1: return codes 6-255 are "Reserved for future use".
#[test]
fn v311_connack_with_return_code_6_is_malformed() {
    for code in [6, 0x80, 0x87, 0xFF] {
        assert_malformed(&[0x20, 0x02, 0x00, code], V311, rules::CONNACK_RETURN_CODE);
    }
}

/// 5.0 §3.2.2.2 Table 3-1 [MQTT-3.2.2-8]: 0x04 is not a CONNACK reason code.
#[test]
fn v5_connack_with_reason_code_0x04_is_malformed() {
    for code in [0x04, 0x01, 0x8B, 0x8E] {
        assert_malformed(&[0x20, 0x03, 0x00, code, 0x00], V5, rules::REASON_CODE);
    }
}

/// [MQTT-3.2.2-4] (3.1.1): "If a server sends a CONNACK packet containing a non-zero return
/// code it MUST set Session Present to 0"; [MQTT-3.2.2-6] (5.0).
#[test]
fn connack_refusal_with_session_present_is_a_protocol_error() {
    assert_protocol(
        &[0x20, 0x02, 0x01, 0x05],
        V311,
        rules::CONNACK_SESSION_PRESENT,
    );
    assert_protocol(
        &[0x20, 0x03, 0x01, 0x87, 0x00],
        V5,
        rules::CONNACK_SESSION_PRESENT,
    );
}

// =============================================================================================
// SUBSCRIBE, UNSUBSCRIBE (§3.8, §3.10)

fn subscribe(v: mqtt_sansio_proto::ProtocolVersion, id: u16, entries: &[(&[u8], u8)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    if v == V5 {
        body.push(0);
    }
    for (f, o) in entries {
        body.extend_from_slice(&s(f));
        body.push(*o);
    }
    packet(0x82, &body)
}

fn unsubscribe(v: mqtt_sansio_proto::ProtocolVersion, id: u16, filters: &[&[u8]]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    if v == V5 {
        body.push(0);
    }
    for f in filters {
        body.extend_from_slice(&s(f));
    }
    packet(0xA2, &body)
}

/// [MQTT-2.3.1-1] (3.1.1), [MQTT-2.2.1-3] (5.0): SUBSCRIBE and UNSUBSCRIBE need a non-zero
/// packet identifier.
#[test]
fn subscribe_and_unsubscribe_with_packet_id_0_are_malformed() {
    for v in BOTH {
        assert_malformed(&subscribe(v, 0, &[(b"a", 0)]), v, rules::PACKET_ID_NON_ZERO);
        assert_malformed(&unsubscribe(v, 0, &[b"a"]), v, rules::PACKET_ID_NON_ZERO);
    }
}

/// [MQTT-3.8.3-3] (3.1.1): "The payload of a SUBSCRIBE packet MUST contain at least one Topic
/// Filter / QoS pair. A SUBSCRIBE packet with no payload is a protocol violation";
/// [MQTT-3.8.3-2] (5.0): "A SUBSCRIBE packet with no Payload is a Protocol Error."
#[test]
fn subscribe_without_topic_filters_is_a_protocol_error() {
    for v in BOTH {
        assert_protocol(&subscribe(v, 1, &[]), v, rules::SUBSCRIBE_EMPTY);
    }
}

/// [MQTT-3.10.3-2]: "The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic
/// Filter"; 5.0: "An UNSUBSCRIBE packet with no Payload is a Protocol Error."
#[test]
fn unsubscribe_without_topic_filters_is_a_protocol_error() {
    for v in BOTH {
        assert_protocol(&unsubscribe(v, 1, &[]), v, rules::UNSUBSCRIBE_EMPTY);
    }
}

/// [MQTT-4.7.1-2] (3.1.1), [MQTT-4.7.1-1] (5.0): '#' must be the last character and stand
/// alone in its level: "a/b#" and "#/a" are invalid, in SUBSCRIBE and UNSUBSCRIBE.
#[test]
fn filters_with_misplaced_multi_level_wildcard_are_malformed() {
    for v in BOTH {
        for f in [&b"a/b#"[..], b"#/a", b"a/#/b", b"##", b"sport/tennis#"] {
            assert_malformed(&subscribe(v, 1, &[(f, 0)]), v, rules::FILTER_MULTI_LEVEL);
            assert_malformed(&unsubscribe(v, 1, &[f]), v, rules::FILTER_MULTI_LEVEL);
        }
    }
}

/// [MQTT-4.7.1-3] (3.1.1), [MQTT-4.7.1-2] (5.0): '+' must occupy an entire level: "a+/b".
#[test]
fn filters_with_misplaced_single_level_wildcard_are_malformed() {
    for v in BOTH {
        for f in [&b"a+/b"[..], b"a/+b", b"sport+", b"++"] {
            assert_malformed(&subscribe(v, 1, &[(f, 0)]), v, rules::FILTER_SINGLE_LEVEL);
            assert_malformed(&unsubscribe(v, 1, &[f]), v, rules::FILTER_SINGLE_LEVEL);
        }
    }
}

/// [MQTT-4.7.3-1]: a topic filter is at least one character long.
#[test]
fn empty_topic_filter_is_malformed() {
    for v in BOTH {
        assert_malformed(&subscribe(v, 1, &[(b"", 0)]), v, rules::TOPIC_EMPTY);
        assert_malformed(&unsubscribe(v, 1, &[b""]), v, rules::TOPIC_EMPTY);
    }
}

/// [MQTT-1.5.3-1] / [MQTT-1.5.4-1] and [MQTT-1.5.3-2] / [MQTT-1.5.4-2] in a topic filter.
#[test]
fn filter_with_invalid_utf8_or_null_is_malformed() {
    for v in BOTH {
        assert_malformed(
            &subscribe(v, 1, &[(b"a/\xFF", 0)]),
            v,
            rules::UTF8_WELL_FORMED,
        );
        assert_malformed(&unsubscribe(v, 1, &[b"a/\0"]), v, rules::UTF8_NO_NULL);
    }
}

/// [MQTT-3-8.3-4] (3.1.1): "The Server MUST treat a SUBSCRIBE packet as malformed and close
/// the Network Connection if any of Reserved bits in the payload are non-zero, or QoS is not
/// 0, 1 or 2" — in 3.1.1 bits 7-2 are reserved.
#[test]
fn v311_subscription_options_with_reserved_bits_or_qos_3_are_malformed() {
    for o in [0x03, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFC] {
        assert_malformed(
            &subscribe(V311, 1, &[(b"a", o)]),
            V311,
            rules::SUBSCRIPTION_OPTIONS,
        );
    }
}

/// [MQTT-3.8.3-5] (5.0): "The Server MUST treat a SUBSCRIBE packet as malformed if any of
/// Reserved bits in the Payload are non-zero" — bits 7-6.
#[test]
fn v5_subscription_options_with_reserved_bits_are_malformed() {
    for o in [0x40, 0x80, 0xC0, 0x41] {
        assert_malformed(
            &subscribe(V5, 1, &[(b"a", o)]),
            V5,
            rules::SUBSCRIPTION_OPTIONS,
        );
    }
}

/// 5.0 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3."
#[test]
fn v5_subscription_options_with_qos_3_is_a_protocol_error() {
    assert_protocol(
        &subscribe(V5, 1, &[(b"a", 0x03)]),
        V5,
        rules::SUBSCRIPTION_OPTIONS,
    );
    assert_protocol(
        &subscribe(V5, 1, &[(b"a", 0x2F)]),
        V5,
        rules::SUBSCRIPTION_OPTIONS,
    );
}

/// 5.0 §3.8.3.1: "It is a Protocol Error to send a Retain Handling value of 3."
#[test]
fn v5_subscription_options_with_retain_handling_3_is_a_protocol_error() {
    assert_protocol(
        &subscribe(V5, 1, &[(b"a", 0x30)]),
        V5,
        rules::RETAIN_HANDLING,
    );
    assert_protocol(
        &subscribe(V5, 1, &[(b"a", 0x3E)]),
        V5,
        rules::RETAIN_HANDLING,
    );
}

/// [MQTT-3.8.3-4] (5.0): "It is a Protocol Error to set the No Local bit to 1 on a Shared
/// Subscription."
#[test]
fn v5_no_local_on_a_shared_subscription_is_a_protocol_error() {
    let bytes = subscribe(V5, 1, &[(b"a/b", 0x00), (b"$share/g/a/b", 0x04)]);
    assert_protocol(&bytes, V5, rules::SHARED_NO_LOCAL);
    // 3.1.1 has no shared subscriptions and no No Local bit: "$share/g/a/b" is a plain
    // filter there, and bit 2 is reserved.
    let bytes = subscribe(V311, 1, &[(b"$share/g/a/b", 0x04)]);
    assert_malformed(&bytes, V311, rules::SUBSCRIPTION_OPTIONS);
}

/// [MQTT-4.8.2-1] (5.0): a shared subscription is "$share/{ShareName}/{filter}" with a
/// non-empty share name free of wildcards [MQTT-4.8.2-2] and a non-empty filter.
#[test]
fn v5_malformed_shared_subscription_is_a_protocol_error() {
    for f in [
        &b"$share/g"[..],
        b"$share//a",
        b"$share/+/a",
        b"$share/#",
        b"$share/g/",
    ] {
        // All of these are valid topic filters; only the shared-subscription rule rejects them.
        let bytes = subscribe(V5, 1, &[(f, 0)]);
        assert_protocol(&bytes, V5, rules::SHARED_SUBSCRIPTION);
    }
}

/// 3.1.1 §3.8.3: every topic filter is followed by its QoS byte.
#[test]
fn subscribe_filter_without_options_byte_is_malformed() {
    for v in BOTH {
        let mut bytes = subscribe(v, 1, &[(b"a", 0)]);
        bytes.pop();
        bytes[1] -= 1;
        assert_malformed(&bytes, v, rules::PACKET_LENGTH);
    }
}

// =============================================================================================
// MQTT 5.0 properties (§2.2.2)

fn v5_connect_with_properties(raw: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 5, 0x02, 0x00, 0x3C];
    body.push(raw.len() as u8);
    body.extend_from_slice(raw);
    body.extend_from_slice(&[0x00, 0x00]);
    packet(0x10, &body)
}

fn v5_publish_with_properties(raw: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x01, b't'];
    body.push(raw.len() as u8);
    body.extend_from_slice(raw);
    packet(0x30, &body)
}

fn v5_connack_with_properties(raw: &[u8]) -> Vec<u8> {
    let mut body = vec![0x00, 0x00];
    body.push(raw.len() as u8);
    body.extend_from_slice(raw);
    packet(0x20, &body)
}

/// 5.0 §3.1.2.11.2: "It is a Protocol Error to include the Session Expiry Interval more than
/// once."
#[test]
fn v5_connect_with_two_session_expiry_intervals_is_a_protocol_error() {
    let raw = [0x11, 0, 0, 0, 10, 0x11, 0, 0, 0, 20];
    assert_protocol(
        &v5_connect_with_properties(&raw),
        V5,
        rules::PROPERTY_DUPLICATE,
    );
}

/// 5.0 §2.2.2.2 (and each property's "more than once" sentence): other duplicated
/// properties.
#[test]
fn v5_other_duplicated_properties_are_protocol_errors() {
    // Receive Maximum twice in CONNECT (§3.1.2.11.3).
    let raw = [0x21, 0, 1, 0x21, 0, 2];
    assert_protocol(
        &v5_connect_with_properties(&raw),
        V5,
        rules::PROPERTY_DUPLICATE,
    );
    // Topic Alias twice in PUBLISH (§3.3.2.3.4).
    let raw = [0x23, 0, 1, 0x23, 0, 2];
    assert_protocol(
        &v5_publish_with_properties(&raw),
        V5,
        rules::PROPERTY_DUPLICATE,
    );
    // Reason String twice in a PUBACK (§3.4.2.2.2).
    let bytes = [
        0x40, 0x0C, 0x00, 0x01, 0x80, 0x08, 0x1F, 0, 1, b'a', 0x1F, 0, 1, b'b',
    ];
    assert_protocol(&bytes, V5, rules::PROPERTY_DUPLICATE);
    // Subscription Identifier twice in SUBSCRIBE (§3.8.2.1.2 "more than once").
    let bytes = [
        0x82, 0x0A, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, b'a',
    ];
    let mut bytes = bytes.to_vec();
    bytes.push(0x00);
    bytes[1] += 1;
    assert_protocol(&bytes, V5, rules::PROPERTY_DUPLICATE);
}

/// 5.0 §3.3.2.3.8, §3.1.2.11.8: User Property may repeat anywhere, Subscription Identifier
/// may repeat in PUBLISH; those are not duplicates.
#[test]
fn v5_repeatable_properties_are_not_duplicates() {
    let raw = [0x26, 0, 1, b'k', 0, 1, b'v', 0x26, 0, 1, b'k', 0, 1, b'v'];
    assert!(decode(&v5_connect_with_properties(&raw), V5, &Limits::default()).is_ok());
    let raw = [0x0B, 0x01, 0x0B, 0x01];
    assert!(decode(&v5_publish_with_properties(&raw), V5, &Limits::default()).is_ok());
}

/// 5.0 §2.2.2.2: "A Control Packet which contains an Identifier which is not valid for its
/// packet type ... is a Malformed Packet" — Topic Alias (PUBLISH only) in CONNECT.
#[test]
fn v5_topic_alias_in_connect_is_malformed() {
    let raw = [0x23, 0x00, 0x01];
    assert_malformed(
        &v5_connect_with_properties(&raw),
        V5,
        rules::PROPERTY_NOT_ALLOWED,
    );
}

/// 5.0 §2.2.2.2 table: more properties in the wrong packet.
#[test]
fn v5_properties_in_the_wrong_packet_are_malformed() {
    // Will Delay Interval (will properties only) in CONNECT properties.
    assert_malformed(
        &v5_connect_with_properties(&[0x18, 0, 0, 0, 1]),
        V5,
        rules::PROPERTY_NOT_ALLOWED,
    );
    // Session Expiry Interval in PUBLISH.
    assert_malformed(
        &v5_publish_with_properties(&[0x11, 0, 0, 0, 1]),
        V5,
        rules::PROPERTY_NOT_ALLOWED,
    );
    // Reason String in PUBLISH.
    assert_malformed(
        &v5_publish_with_properties(&[0x1F, 0, 1, b'x']),
        V5,
        rules::PROPERTY_NOT_ALLOWED,
    );
    // Maximum QoS (CONNACK only) in DISCONNECT.
    assert_malformed(
        &[0xE0, 0x04, 0x00, 0x02, 0x24, 0x01],
        V5,
        rules::PROPERTY_NOT_ALLOWED,
    );
    // Topic Alias in the will properties of CONNECT.
    let mut body = vec![
        0x00, 0x04, b'M', b'Q', b'T', b'T', 5, 0x06, 0x00, 0x3C, 0x00,
    ];
    body.extend_from_slice(&[
        0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 0x00, 0x01, b'w', 0x00, 0x00,
    ]);
    assert_malformed(&packet(0x10, &body), V5, rules::PROPERTY_NOT_ALLOWED);
    // Subscription Identifier in UNSUBSCRIBE.
    let bytes = [0xA2, 0x07, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, b'a'];
    let mut bytes = bytes.to_vec();
    bytes[1] = (bytes.len() - 2) as u8;
    assert_malformed(&bytes, V5, rules::PROPERTY_NOT_ALLOWED);
}

/// 5.0 §2.2.2.2: an identifier that is no property at all.
#[test]
fn v5_unknown_property_identifier_is_malformed() {
    for id in [0x00, 0x04, 0x7F] {
        assert_malformed(
            &v5_publish_with_properties(&[id, 0x00]),
            V5,
            rules::PROPERTY_NOT_ALLOWED,
        );
    }
}

/// 5.0 §3.1.2.11.3: "It is a Protocol Error to include the Receive Maximum value more than
/// once or for it to have the value 0."
#[test]
fn v5_receive_maximum_0_is_a_protocol_error() {
    let raw = [0x21, 0x00, 0x00];
    assert_protocol(
        &v5_connect_with_properties(&raw),
        V5,
        rules::RECEIVE_MAXIMUM_ZERO,
    );
    assert_protocol(
        &v5_connack_with_properties(&raw),
        V5,
        rules::RECEIVE_MAXIMUM_ZERO,
    );
}

/// 5.0 §3.1.2.11.4: "It is a Protocol Error to include the Maximum Packet Size more than once,
/// or for the value to be set to zero."
#[test]
fn v5_maximum_packet_size_0_is_a_protocol_error() {
    let raw = [0x27, 0, 0, 0, 0];
    assert_protocol(
        &v5_connect_with_properties(&raw),
        V5,
        rules::MAXIMUM_PACKET_SIZE_ZERO,
    );
}

/// 5.0 §3.3.2.3.4 [MQTT-3.3.2-8]: "A sender MUST NOT send a PUBLISH packet containing a Topic
/// Alias which has the value 0"; receiving one is a Protocol Error.
#[test]
fn v5_topic_alias_0_is_a_protocol_error() {
    assert_protocol(
        &v5_publish_with_properties(&[0x23, 0x00, 0x00]),
        V5,
        rules::TOPIC_ALIAS_ZERO,
    );
}

/// 5.0 §3.2.2.3.4: "It is a Protocol Error to include Maximum QoS more than once, or to have
/// a value other than 0 or 1."
#[test]
fn v5_maximum_qos_2_is_a_protocol_error() {
    for q in [2, 3, 0xFF] {
        assert_protocol(
            &v5_connack_with_properties(&[0x24, q]),
            V5,
            rules::PROPERTY_VALUE,
        );
    }
}

/// 5.0 §3.1.2.11.6 / §3.2.2.3.5 / §3.3.2.3.2: byte properties that are 0 or 1 only.
#[test]
fn v5_boolean_properties_above_1_are_protocol_errors() {
    assert_protocol(
        &v5_connect_with_properties(&[0x17, 2]),
        V5,
        rules::PROPERTY_VALUE,
    );
    assert_protocol(
        &v5_connect_with_properties(&[0x19, 2]),
        V5,
        rules::PROPERTY_VALUE,
    );
    assert_protocol(
        &v5_connack_with_properties(&[0x25, 2]),
        V5,
        rules::PROPERTY_VALUE,
    );
    assert_protocol(
        &v5_publish_with_properties(&[0x01, 2]),
        V5,
        rules::PROPERTY_VALUE,
    );
}

/// 5.0 §3.8.2.1.2: "It is a Protocol Error if the Subscription Identifier has a value of 0."
#[test]
fn v5_subscription_identifier_0_is_a_protocol_error() {
    let bytes = [0x82, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, b'a'];
    let mut bytes = bytes.to_vec();
    bytes.push(0x00);
    bytes[1] = (bytes.len() - 2) as u8;
    assert_protocol(&bytes, V5, rules::SUBSCRIPTION_ID_ZERO);
    assert_protocol(
        &v5_publish_with_properties(&[0x0B, 0x00]),
        V5,
        rules::SUBSCRIPTION_ID_ZERO,
    );
}

/// [MQTT-3.3.2-14] (5.0): "The Response Topic MUST be a UTF-8 Encoded String" used as a topic
/// name, so without wildcards.
#[test]
fn v5_response_topic_with_wildcard_is_a_protocol_error() {
    let raw = [0x08, 0x00, 0x03, b'r', b'/', b'#'];
    assert_protocol(
        &v5_publish_with_properties(&raw),
        V5,
        rules::TOPIC_NAME_WILDCARD,
    );
}

/// [MQTT-1.5.4-1], [MQTT-1.5.7-1] (5.0): both strings of a User Property are UTF-8 strings.
#[test]
fn v5_user_property_with_invalid_utf8_is_malformed() {
    let raw = [0x26, 0x00, 0x01, 0xFF, 0x00, 0x01, b'v'];
    assert_malformed(
        &v5_publish_with_properties(&raw),
        V5,
        rules::UTF8_WELL_FORMED,
    );
    let raw = [0x26, 0x00, 0x01, b'k', 0x00, 0x02, 0xED, 0xB0];
    assert_malformed(
        &v5_publish_with_properties(&raw),
        V5,
        rules::UTF8_WELL_FORMED,
    );
}

/// [MQTT-1.5.4-2], [MQTT-1.5.7-1] (5.0): no U+0000 in a User Property name or value.
#[test]
fn v5_user_property_with_null_character_is_malformed() {
    let raw = [0x26, 0x00, 0x01, 0x00, 0x00, 0x01, b'v'];
    assert_malformed(&v5_publish_with_properties(&raw), V5, rules::UTF8_NO_NULL);
    let raw = [0x26, 0x00, 0x01, b'k', 0x00, 0x01, 0x00];
    assert_malformed(&v5_connect_with_properties(&raw), V5, rules::UTF8_NO_NULL);
}

// =============================================================================================
// Error reporting

/// 5.0 §4.13: each error maps to the reason code a DISCONNECT (or CONNACK) carries.
#[test]
fn errors_give_the_5_0_reason_code_to_close_with() {
    let malformed = decode_err(&[0x36, 0x04, 0x00, 0x01, b't', 0x00], V5);
    assert_eq!(malformed.reason_code(), ReasonCode::MalformedPacket);
    let protocol = decode_err(&[0x30, 0x03, 0x00, 0x00, 0x00], V5);
    assert_eq!(protocol.reason_code(), ReasonCode::ProtocolError);
    // Display names the rule.
    let text = decode_err(&[0x30, 0x05, 0x00, 0x03, b'a', b'/', b'#'], V311).to_string();
    assert!(text.contains("MQTT-3.3.2-2"), "{text}");
}

/// Each rule names the conformance statement of each version where the specification tags
/// one, and the section otherwise.
#[test]
fn rules_carry_the_conformance_tags_of_both_versions() {
    let tags = [
        (
            rules::FIXED_HEADER_FLAGS,
            Some("MQTT-2.2.2-1"),
            Some("MQTT-2.1.3-1"),
        ),
        (
            rules::PACKET_ID_NON_ZERO,
            Some("MQTT-2.3.1-1"),
            Some("MQTT-2.2.1-3"),
        ),
        (
            rules::UTF8_WELL_FORMED,
            Some("MQTT-1.5.3-1"),
            Some("MQTT-1.5.4-1"),
        ),
        (
            rules::UTF8_NO_NULL,
            Some("MQTT-1.5.3-2"),
            Some("MQTT-1.5.4-2"),
        ),
        (
            rules::VARINT_MINIMAL,
            Some("3.1.1 §2.2.3"),
            Some("MQTT-1.5.5-1"),
        ),
        (
            rules::CONNECT_RESERVED_FLAG,
            Some("MQTT-3.1.2-3"),
            Some("MQTT-3.1.2-3"),
        ),
        (
            rules::WILL_QOS_WITHOUT_WILL,
            Some("MQTT-3.1.2-13"),
            Some("MQTT-3.1.2-11"),
        ),
        (
            rules::WILL_QOS_INVALID,
            Some("MQTT-3.1.2-14"),
            Some("MQTT-3.1.2-12"),
        ),
        (
            rules::PASSWORD_WITHOUT_USERNAME,
            Some("MQTT-3.1.2-22"),
            None,
        ),
        (
            rules::CONNACK_RESERVED_FLAGS,
            Some("3.1.1 §3.2.2.1"),
            Some("MQTT-3.2.2-1"),
        ),
        (
            rules::CONNACK_SESSION_PRESENT,
            Some("MQTT-3.2.2-4"),
            Some("MQTT-3.2.2-6"),
        ),
        (
            rules::PUBLISH_DUP_QOS0,
            Some("MQTT-3.3.1-2"),
            Some("MQTT-3.3.1-2"),
        ),
        (
            rules::PUBLISH_QOS_INVALID,
            Some("MQTT-3.3.1-4"),
            Some("MQTT-3.3.1-4"),
        ),
        (
            rules::TOPIC_NAME_WILDCARD,
            Some("MQTT-3.3.2-2"),
            Some("MQTT-3.3.2-2"),
        ),
        (rules::TOPIC_ALIAS_ZERO, None, Some("MQTT-3.3.2-8")),
        (
            rules::FILTER_MULTI_LEVEL,
            Some("MQTT-4.7.1-2"),
            Some("MQTT-4.7.1-1"),
        ),
        (
            rules::FILTER_SINGLE_LEVEL,
            Some("MQTT-4.7.1-3"),
            Some("MQTT-4.7.1-2"),
        ),
        (
            rules::SUBSCRIBE_EMPTY,
            Some("MQTT-3.8.3-3"),
            Some("MQTT-3.8.3-2"),
        ),
        (
            rules::SUBSCRIPTION_OPTIONS,
            Some("MQTT-3-8.3-4"),
            Some("MQTT-3.8.3-5"),
        ),
        (rules::SHARED_NO_LOCAL, None, Some("MQTT-3.8.3-4")),
        (
            rules::UNSUBSCRIBE_EMPTY,
            Some("MQTT-3.10.3-2"),
            Some("MQTT-3.10.3-2"),
        ),
        (
            rules::SUBACK_RETURN_CODE,
            Some("MQTT-3.9.3-2"),
            Some("5.0 §3.9.3"),
        ),
    ];
    for (rule, v311, v5) in tags {
        assert_eq!((rule.v311(), rule.v5()), (v311, v5), "{rule}");
    }
}

// ---------------------------------------------------------------- authentication, shared filters, early failure

#[test]
fn auth_with_reason_but_no_method_is_a_protocol_error() {
    // AUTH, remaining length 1, Continue authentication, no properties: only the empty short
    // form may leave out the Authentication Method [5.0 §3.15.2.2.2].
    assert_protocol(&[0xF0, 0x01, 0x18], V5, rules::AUTH_METHOD_MISSING);
    // With properties but still no method (a Reason String only).
    assert_protocol(
        &[0xF0, 0x07, 0x18, 0x05, 0x1F, 0x00, 0x02, b'h', b'i'],
        V5,
        rules::AUTH_METHOD_MISSING,
    );
}

#[test]
fn connect_with_authentication_data_but_no_method_is_a_protocol_error() {
    // [5.0 §3.1.2.11.10] CONNECT v5, clean start, keep alive 0, properties: Authentication
    // Data (0x16) "x" only; client id "c".
    let bytes = [
        0x10, 0x12, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x02, 0x00, 0x00, 0x04, 0x16, 0x00,
        0x01, b'x', 0x00, 0x01, b'c',
    ];
    assert_protocol(&bytes, V5, rules::AUTH_DATA_WITHOUT_METHOD);
}

#[test]
fn v5_unsubscribe_with_a_malformed_shared_filter_is_rejected() {
    // [MQTT-4.8.2-1] "$share/g" names no filter after the share name.
    let bytes = [
        0xA2, 0x0D, 0x00, 0x01, 0x00, 0x00, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g',
    ];
    let e = decode(&bytes[..bytes.len()], V5, &Limits::default());
    assert!(e.is_err(), "{e:?}");
    assert_eq!(e.unwrap_err().rule(), rules::SHARED_SUBSCRIPTION);
    // In 3.1.1 "$share" is an ordinary topic level.
    let v311 = [
        0xA2, 0x0C, 0x00, 0x01, 0x00, 0x08, b'$', b's', b'h', b'a', b'r', b'e', b'/', b'g',
    ];
    assert!(matches!(
        decode(&v311, V311, &Limits::default()),
        Ok(Some(_))
    ));
}

#[test]
fn publish_qos3_fails_from_the_fixed_header_alone() {
    // [MQTT-3.3.1-4]: the first byte shows the fault; no body is needed.
    for v in [V311, V5] {
        assert_eq!(
            decode_err(&[0x36, 0x7F], v).rule(),
            rules::PUBLISH_QOS_INVALID
        );
        // DUP on QoS 0 is accepted (SPEC.md "On the wire"): the decoder waits for the body.
        assert_eq!(decode(&[0x38, 0x7F], v, &Limits::default()), Ok(None));
    }
}
