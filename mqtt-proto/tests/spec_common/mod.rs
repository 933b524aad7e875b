//! Helpers shared by the `spec_*` test files: decode a hand-written byte vector, compare it
//! with the expected packet, encode the packet back, and check errors by variant and rule.
#![allow(dead_code)]

use mqtt_sansio_proto::{
    decode, frame_len, DecodeError, Limits, Packet, PacketId, Properties, PropertyContext,
    ProtocolVersion, Rule, TopicFilter, TopicName,
};

pub(crate) const V311: ProtocolVersion = ProtocolVersion::V311;
pub(crate) const V5: ProtocolVersion = ProtocolVersion::V5;

pub(crate) fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero packet id")
}

pub(crate) fn topic(s: &str) -> TopicName<'_> {
    TopicName::new(s).expect("valid topic name")
}

pub(crate) fn filter(s: &str) -> TopicFilter<'_> {
    TopicFilter::new(s).expect("valid topic filter")
}

/// A validated property list made of the raw bytes (without the length prefix).
pub(crate) fn props(raw: &[u8], ctx: PropertyContext) -> Properties<'_> {
    Properties::parse(raw, ctx).expect("valid property list")
}

/// Decodes `bytes` as one whole packet and checks it equals `expected`.
///
/// Also checks that `frame_len` announces the right size, that every strict prefix is
/// "need more" (`Ok(None)`), and that a following packet is not consumed.
pub(crate) fn assert_decodes(bytes: &[u8], v: ProtocolVersion, expected: &Packet<'_>) {
    let limits = Limits::default();
    let (packet, used) = decode(bytes, v, &limits)
        .unwrap_or_else(|e| panic!("{v:?}: {bytes:02X?} failed to decode: {e}"))
        .unwrap_or_else(|| panic!("{v:?}: {bytes:02X?} reported incomplete"));
    assert_eq!(used, bytes.len(), "{v:?}: consumed length");
    assert_eq!(&packet, expected, "{v:?}: decoded packet");
    assert_eq!(
        frame_len(bytes, &limits),
        Ok(Some(bytes.len())),
        "frame_len"
    );
    for n in 0..bytes.len() {
        assert_eq!(
            decode(&bytes[..n], v, &limits),
            Ok(None),
            "{v:?}: a prefix of {n} bytes must be incomplete"
        );
    }
    let mut two = bytes.to_vec();
    two.extend_from_slice(&[0xC0, 0x00]); // a PINGREQ right behind it
    let (again, used) = decode(&two, v, &limits)
        .expect("decodes with a following packet")
        .expect("complete");
    assert_eq!(used, bytes.len(), "{v:?}: must not consume the next packet");
    assert_eq!(&again, expected);
}

/// Encodes `packet` with every encoder and checks the bytes are exactly `bytes`.
pub(crate) fn assert_encodes(packet: &Packet<'_>, v: ProtocolVersion, bytes: &[u8]) {
    assert_eq!(packet.encoded_len(v), Ok(bytes.len()), "{v:?}: encoded_len");
    let mut out = vec![0xEE]; // encode appends: what was there stays
    assert_eq!(packet.encode(v, &mut out), Ok(bytes.len()), "{v:?}: encode");
    assert_eq!(out[0], 0xEE);
    assert_eq!(&out[1..], bytes, "{v:?}: encoded bytes");
    let mut buf = vec![0u8; bytes.len()];
    assert_eq!(packet.encode_to_slice(v, &mut buf), Ok(bytes.len()));
    assert_eq!(buf, bytes, "{v:?}: encode_to_slice bytes");
}

/// The vector decodes to `expected`, and `expected` encodes to exactly the vector.
pub(crate) fn assert_round_trip(bytes: &[u8], v: ProtocolVersion, expected: &Packet<'_>) {
    assert_decodes(bytes, v, expected);
    assert_encodes(expected, v, bytes);
}

/// Decodes `bytes` (a whole packet) and returns the error it must produce.
pub(crate) fn decode_err(bytes: &[u8], v: ProtocolVersion) -> DecodeError {
    match decode(bytes, v, &Limits::default()) {
        Err(e) => e,
        Ok(other) => panic!("{v:?}: {bytes:02X?} must be rejected, got {other:?}"),
    }
}

/// The packet is rejected as a Malformed Packet that names `rule`.
pub(crate) fn assert_malformed(bytes: &[u8], v: ProtocolVersion, rule: Rule) {
    let e = decode_err(bytes, v);
    assert!(
        matches!(e, DecodeError::Malformed { .. }),
        "{v:?}: {bytes:02X?}: expected Malformed [{rule}], got {e:?}"
    );
    assert_eq!(e.rule(), rule, "{v:?}: {bytes:02X?}: wrong rule in {e:?}");
}

/// The packet is rejected as a Protocol Error that names `rule`.
pub(crate) fn assert_protocol(bytes: &[u8], v: ProtocolVersion, rule: Rule) {
    let e = decode_err(bytes, v);
    assert!(
        matches!(e, DecodeError::Protocol { .. }),
        "{v:?}: {bytes:02X?}: expected Protocol [{rule}], got {e:?}"
    );
    assert_eq!(e.rule(), rule, "{v:?}: {bytes:02X?}: wrong rule in {e:?}");
}

/// Puts a fixed header (first byte and remaining length) in front of `body`.
pub(crate) fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(
        body.len() < 128,
        "helper only writes one-byte remaining lengths"
    );
    let mut v = vec![first, body.len() as u8];
    v.extend_from_slice(body);
    v
}

/// A UTF-8 string field (two-byte length, then the bytes).
pub(crate) fn s(bytes: &[u8]) -> Vec<u8> {
    let mut v = (bytes.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}
