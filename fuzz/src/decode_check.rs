//! The decoder's invariants on arbitrary bytes, shared by the `decode_v311` and `decode_v5`
//! fuzz targets and by `mqtt-proto/tests/fuzz_corpus.rs`, which includes this file with
//! `#[path]` so the seed corpora replay under plain stable `cargo test`. Depends on
//! `mqtt-sansio-proto` only.
//!
//! For the input read as a stream of packets (as a Session reads it), every packet decoded
//! must satisfy:
//! - `consumed <= len`, and `frame_len` agrees with `consumed`;
//! - every shorter prefix of the packet is "need more" (`Ok(None)`), never an error;
//! - a limit one byte below the packet's size rejects it from the header (`PacketTooLarge`);
//! - it re-encodes (`encoded_len` == bytes written, never longer than the input form), the
//!   re-encoding decodes back to an equal packet using every byte, and `encode_to_slice`
//!   writes the same bytes;
//! - bytes after the packet do not change how it decodes.
//!
//! Errors must name a rule, map to a reason code and display without panicking.
#![allow(dead_code, unreachable_pub)]

use mqtt_sansio_proto::{decode, frame_len, DecodeError, Limits, Packet, ProtocolVersion};

/// What one input decoded to, for the corpus replay's bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Whole packets decoded (and checked).
    pub packets: usize,
    /// Whether decoding stopped on an error.
    pub error: bool,
    /// Whether decoding stopped on an incomplete packet.
    pub incomplete: bool,
}

/// Checks every invariant on `data` read as a stream of packets of `version`; panics on a
/// violation. Never panics for a correct decoder.
pub fn check_decode(data: &[u8], version: ProtocolVersion) -> DecodeStats {
    let limits = Limits::default();
    let mut stats = DecodeStats::default();
    let mut rest = data;
    // A stream of packets, as a Session reads it; bounded so a long input stays fast.
    for _ in 0..64 {
        let result = decode(rest, version, &limits);
        check_trailing_bytes_ignored(rest, version, &limits, &result);
        match result {
            Ok(Some((packet, consumed))) => {
                check_packet(rest, version, &limits, &packet, consumed);
                stats.packets += 1;
                rest = rest.get(consumed..).unwrap_or_default();
                if rest.is_empty() {
                    break;
                }
            }
            Ok(None) => {
                // Incomplete: the frame length, if the header is in, is beyond the input.
                match frame_len(rest, &limits) {
                    Ok(None) => {}
                    Ok(Some(n)) => assert!(n > rest.len(), "Ok(None) for a whole frame of {n}"),
                    Err(e) => panic!("decode said incomplete but frame_len failed: {e}"),
                }
                stats.incomplete = true;
                break;
            }
            Err(e) => {
                check_error(&e);
                stats.error = true;
                break;
            }
        }
    }
    stats
}

/// Invariants of one decoded packet at the start of `input`, `consumed` bytes long.
fn check_packet(
    input: &[u8],
    version: ProtocolVersion,
    limits: &Limits,
    packet: &Packet<'_>,
    consumed: usize,
) {
    assert!(
        consumed >= 2,
        "a packet is at least two bytes, got {consumed}"
    );
    assert!(
        consumed <= input.len(),
        "consumed {consumed} of {}",
        input.len()
    );
    assert_eq!(
        frame_len(input, limits),
        Ok(Some(consumed)),
        "frame_len disagrees with decode"
    );

    // Every prefix is "need more": nothing is decided before the whole frame is in.
    let prefixes: Vec<usize> = if consumed <= 48 {
        (0..consumed).collect()
    } else {
        vec![0, 1, 2, consumed / 2, consumed - 1]
    };
    for k in prefixes {
        let prefix = input.get(..k).unwrap_or_default();
        assert_eq!(
            decode(prefix, version, limits),
            Ok(None),
            "a {k}-byte prefix of a {consumed}-byte packet is not 'need more'"
        );
    }

    // A limit one below the packet's size rejects it from the fixed header.
    let tight = Limits::with_max_packet_size(u32::try_from(consumed - 1).unwrap_or(u32::MAX));
    match decode(input, version, &tight) {
        Err(DecodeError::PacketTooLarge { len, .. }) => assert_eq!(len, consumed),
        other => panic!("a limit below the packet size gave {other:?}"),
    }

    // Re-encode: same packet back, canonical form never longer than what was read.
    let len = packet
        .encoded_len(version)
        .unwrap_or_else(|e| panic!("a decoded packet does not re-encode: {e}\n{packet:?}"));
    let mut out = Vec::new();
    assert_eq!(
        packet.encode(version, &mut out),
        Ok(len),
        "encode != encoded_len"
    );
    assert_eq!(out.len(), len);
    assert!(
        len <= consumed,
        "re-encoding is longer ({len}) than the input form ({consumed})"
    );
    match decode(&out, version, &Limits::default()) {
        Ok(Some((again, used))) => {
            assert_eq!(used, len, "the re-encoding is not consumed whole");
            assert_eq!(&again, packet, "decode(encode(p)) != p");
        }
        other => panic!("the re-encoding does not decode: {other:?}\n{packet:?}\n{out:02x?}"),
    }
    let mut slice = vec![0u8; len];
    assert_eq!(packet.encode_to_slice(version, &mut slice), Ok(len));
    assert_eq!(slice, out, "encode_to_slice differs from encode");
}

/// Appending bytes never changes a decided result (a packet or an error).
fn check_trailing_bytes_ignored(
    input: &[u8],
    version: ProtocolVersion,
    limits: &Limits,
    result: &Result<Option<(Packet<'_>, usize)>, DecodeError>,
) {
    if matches!(result, Ok(None)) {
        return;
    }
    let mut longer = input.to_vec();
    longer.extend_from_slice(&[0xAA, 0x00, 0xFF, 0x30]);
    let again = decode(&longer, version, limits);
    assert_eq!(&again, result, "trailing bytes changed the result");
}

fn check_error(e: &DecodeError) {
    let _ = e.rule();
    let _ = e.reason_code();
    let text = e.to_string();
    assert!(!text.is_empty());
}
