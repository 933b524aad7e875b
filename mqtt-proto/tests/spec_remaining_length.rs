//! The remaining length (3.1.1 §2.2.3, Table 2.4; 5.0 §1.5.5 and §2.1.4, Table 1-1 "Size of
//! Variable Byte Integer") at every boundary, through the public decoder (`decode` and
//! `frame_len`) and the encoder, with real packets of that size.

mod spec_common;

use mqtt_sansio_proto::{
    decode, frame_len, rules, DecodeError, EncodeError, Limits, Packet, ProtocolVersion, Publish,
    QosPid,
};
use spec_common::{assert_malformed, topic, V311, V5};

/// Builds a QoS 0 PUBLISH to topic "t" whose remaining length is `remaining`, with the
/// remaining-length bytes written by hand (`len_bytes`); the payload is zeros.
/// Returns the packet and the length of the payload.
fn publish_of_remaining_length(
    v: ProtocolVersion,
    remaining: usize,
    len_bytes: &[u8],
) -> (Vec<u8>, usize) {
    let header = 1 + len_bytes.len();
    let mut buf = vec![0u8; header + remaining];
    buf[0] = 0x30;
    buf[1..header].copy_from_slice(len_bytes);
    buf[header..header + 3].copy_from_slice(&[0x00, 0x01, b't']);
    // In 5.0 the property length (0) follows the topic; the vector is already zero there.
    let fixed = if v == V5 { 4 } else { 3 };
    (buf, remaining - fixed)
}

/// Decodes the packet whole, one byte short, and from its header alone; then encodes it back.
fn check_boundary(remaining: usize, len_bytes: &[u8]) {
    let limits = Limits::default();
    for v in [V311, V5] {
        let (buf, payload_len) = publish_of_remaining_length(v, remaining, len_bytes);
        let header = 1 + len_bytes.len();
        let total = buf.len();
        assert_eq!(total, header + remaining);

        // The whole packet decodes, and says it used every byte.
        let (packet, used) = decode(&buf, v, &limits)
            .expect("valid packet")
            .expect("complete packet");
        assert_eq!(used, total, "{v:?} remaining {remaining}: consumed");
        let Packet::Publish(p) = packet else {
            panic!("expected a PUBLISH, got {packet:?}")
        };
        assert_eq!(p.topic.as_str(), "t");
        assert_eq!(p.payload.len(), payload_len);
        assert!(p.properties.is_empty());

        // One byte fewer: need more, not an error.
        assert_eq!(
            decode(&buf[..total - 1], v, &limits),
            Ok(None),
            "{v:?} {remaining}"
        );

        // frame_len knows the size from the fixed header alone, not before it is complete.
        assert_eq!(frame_len(&buf[..header], &limits), Ok(Some(total)));
        assert_eq!(frame_len(&buf, &limits), Ok(Some(total)));
        assert_eq!(frame_len(&buf[..header - 1], &limits), Ok(None));
        assert_eq!(decode(&buf[..header - 1], v, &limits), Ok(None));
        assert_eq!(decode(&buf[..header], v, &limits), Ok(None));

        // A limit one byte below the packet rejects it from the fixed header alone.
        let tight = Limits::with_max_packet_size((total - 1) as u32);
        assert_eq!(
            decode(&buf[..header], v, &tight),
            Err(DecodeError::PacketTooLarge {
                len: total,
                max: (total - 1) as u32
            })
        );
        assert_eq!(
            frame_len(&buf[..header], &tight),
            Err(DecodeError::PacketTooLarge {
                len: total,
                max: (total - 1) as u32
            })
        );

        // The encoder writes the same remaining-length bytes and the same packet.
        let publish = Publish::new(topic("t"), &buf[total - payload_len..], QosPid::AtMostOnce);
        let packet = Packet::Publish(publish);
        assert_eq!(packet.encoded_len(v), Ok(total));
        let mut out = Vec::new();
        assert_eq!(packet.encode(v, &mut out), Ok(total));
        assert_eq!(
            &out[..header],
            &buf[..header],
            "{v:?} {remaining}: fixed header"
        );
        assert!(out == buf, "{v:?} {remaining}: encoded packet differs");
    }
}

/// Remaining length 0 (one byte, 0x00): PINGREQ, PINGRESP, DISCONNECT and (5.0) AUTH.
#[test]
fn remaining_length_0_decodes() {
    let limits = Limits::default();
    for (bytes, v) in [
        ([0xC0, 0x00], V311),
        ([0xD0, 0x00], V311),
        ([0xE0, 0x00], V311),
        ([0xC0, 0x00], V5),
        ([0xE0, 0x00], V5),
        ([0xF0, 0x00], V5),
    ] {
        assert!(matches!(decode(&bytes, v, &limits), Ok(Some((_, 2)))));
        assert_eq!(frame_len(&bytes, &limits), Ok(Some(2)));
        assert_eq!(frame_len(&bytes[..1], &limits), Ok(None));
        assert_eq!(decode(&bytes[..1], v, &limits), Ok(None));
    }
}

/// 127, the largest one-byte remaining length: 0x7F.
#[test]
fn remaining_length_127_is_one_byte() {
    check_boundary(127, &[0x7F]);
}

/// 128, the smallest two-byte remaining length: 0x80 0x01.
#[test]
fn remaining_length_128_is_two_bytes() {
    check_boundary(128, &[0x80, 0x01]);
}

/// 321 = 0xC1 0x02 (a value some decoders get wrong, e.g. as 65).
#[test]
fn remaining_length_321_is_not_confused_with_65() {
    check_boundary(321, &[0xC1, 0x02]);
}

/// 16 383, the largest two-byte remaining length: 0xFF 0x7F.
#[test]
fn remaining_length_16383_is_two_bytes() {
    check_boundary(16_383, &[0xFF, 0x7F]);
}

/// 16 384, the smallest three-byte remaining length: 0x80 0x80 0x01.
#[test]
fn remaining_length_16384_is_three_bytes() {
    check_boundary(16_384, &[0x80, 0x80, 0x01]);
}

/// 2 097 151, the largest three-byte remaining length: 0xFF 0xFF 0x7F.
#[test]
fn remaining_length_2097151_is_three_bytes() {
    check_boundary(2_097_151, &[0xFF, 0xFF, 0x7F]);
}

/// 2 097 152, the smallest four-byte remaining length: 0x80 0x80 0x80 0x01.
#[test]
fn remaining_length_2097152_is_four_bytes() {
    check_boundary(2_097_152, &[0x80, 0x80, 0x80, 0x01]);
}

/// 268 435 455, the largest remaining length: 0xFF 0xFF 0xFF 0x7F (a 256 MiB packet).
#[test]
fn remaining_length_268435455_is_the_maximum() {
    check_boundary(268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]);
    assert_eq!(mqtt_sansio_proto::VARINT_MAX, 268_435_455);
    assert_eq!(Limits::PROTOCOL_MAX_PACKET_SIZE, 268_435_460);
}

/// A body one byte over 268 435 455 cannot be written (3.1.1 §2.2.3, 5.0 §1.5.5).
#[test]
fn encoding_a_body_over_268435455_bytes_is_packet_too_large() {
    let payload = vec![0u8; 268_435_455 - 3 + 1];
    let packet = Packet::Publish(Publish::new(topic("t"), &payload, QosPid::AtMostOnce));
    for v in [V311, V5] {
        let e = packet.encoded_len(v).expect_err("too large");
        assert!(matches!(e, EncodeError::PacketTooLarge { .. }), "{e:?}");
        let mut out = Vec::new();
        assert_eq!(packet.encode(v, &mut out), Err(e));
        assert!(out.is_empty());
    }
}

/// 3.1.1 §2.2.3 "The Remaining Length ... maximum number of bytes ... is four"; 5.0 §1.5.5:
/// a fifth byte is malformed, whatever follows.
#[test]
fn five_byte_remaining_length_is_malformed() {
    let limits = Limits::default();
    for bytes in [
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F][..],
        &[0x30, 0x80, 0x80, 0x80, 0x80, 0x01],
        &[0x30, 0x80, 0x80, 0x80, 0x80], // four continuation bytes already prove it
        &[0xC0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00],
    ] {
        for v in [V311, V5] {
            assert_malformed(bytes, v, rules::REMAINING_LENGTH_TOO_LONG);
        }
        let e = frame_len(bytes, &limits).expect_err("too long");
        assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
        assert_eq!(e.rule(), rules::REMAINING_LENGTH_TOO_LONG);
    }
    // Three continuation bytes: the fourth may still end it.
    assert_eq!(frame_len(&[0x30, 0x80, 0x80, 0x80], &limits), Ok(None));
    assert_eq!(decode(&[0x30, 0xFF, 0xFF, 0xFF], V5, &limits), Ok(None));
}

/// [MQTT-1.5.5-1] (5.0): "The encoded value MUST use the minimum number of bytes necessary to
/// represent the value"; 3.1.1 §2.2.3 Table 2.4 gives the only form of each value.
#[test]
fn non_minimal_remaining_length_is_malformed() {
    let limits = Limits::default();
    for bytes in [
        &[0xC0, 0x80, 0x00][..],         // 0 in two bytes
        &[0x30, 0x83, 0x00],             // 3 in two bytes
        &[0x30, 0xFF, 0x80, 0x00],       // 127 in three bytes
        &[0x30, 0x80, 0x80, 0x80, 0x00], // 0 in four bytes
        &[0x30, 0x80, 0x81, 0x00],       // 128 in three bytes
    ] {
        for v in [V311, V5] {
            assert_malformed(bytes, v, rules::VARINT_MINIMAL);
        }
        let e = frame_len(bytes, &limits).expect_err("non-minimal");
        assert!(matches!(e, DecodeError::Malformed { .. }), "{e:?}");
        assert_eq!(e.rule(), rules::VARINT_MINIMAL);
    }
}

/// A packet that arrives one byte at a time is "need more" until its last byte.
#[test]
fn packet_fed_byte_by_byte_is_incomplete_until_the_last_byte() {
    let limits = Limits::default();
    let (buf, _) = publish_of_remaining_length(V5, 300, &[0xAC, 0x02]);
    for n in 0..buf.len() {
        assert_eq!(decode(&buf[..n], V5, &limits), Ok(None), "prefix {n}");
        let expect = if n >= 3 { Some(buf.len()) } else { None };
        assert_eq!(frame_len(&buf[..n], &limits), Ok(expect), "prefix {n}");
    }
    assert!(matches!(decode(&buf, V5, &limits), Ok(Some((_, 303)))));
}
