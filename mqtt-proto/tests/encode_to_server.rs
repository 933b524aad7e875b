//! `Packet::encode_to_server` and `Packet::encoded_len_to_server`, the client's encoder
//! (issue 15: a client links only the encoders of the packets it sends): every packet a
//! client sends is encoded exactly as by `encode`; a packet only a server sends is refused,
//! citing the rule, with nothing written. AUTH is encoded with the `enhanced-auth` feature
//! and refused without it [MQTT-4.12.0-7] (scripts/test runs this file both ways).

mod common;

use common::{corpus, V311, V5};
use mqtt_sansio_proto::{rules, EncodeError, PacketType, ProtocolVersion, Rule};

/// The rule `encode_to_server` refuses a packet of type `t` with, or `None` if a client
/// sends it.
fn refused_with(t: PacketType) -> Option<Rule> {
    match t {
        PacketType::ConnAck | PacketType::SubAck | PacketType::UnsubAck | PacketType::PingResp => {
            Some(rules::PACKET_DIRECTION)
        }
        PacketType::Auth if !cfg!(feature = "enhanced-auth") => Some(rules::AUTH_NOT_SENT),
        _ => None,
    }
}

fn check(v: ProtocolVersion) {
    let (mut taken, mut refused) = (0, 0);
    for (model, bytes) in corpus(v, 40, 300, 0x15) {
        let p = model.packet();
        let t = p.packet_type();
        let mut out = vec![0xEE];
        let got = p.encode_to_server(v, &mut out);
        let len = p.encoded_len_to_server(v);
        match refused_with(t) {
            None => {
                assert_eq!(got, Ok(bytes.len()), "{t:?} {v:?}");
                assert_eq!(len, Ok(bytes.len()), "{t:?} {v:?}");
                assert_eq!(out[1..], bytes[..], "{t:?} {v:?}");
                taken += 1;
            }
            Some(rule) => {
                for result in [got, len] {
                    assert!(
                        matches!(result, Err(EncodeError::Invalid { rule: r, .. }) if r == rule),
                        "{t:?} {v:?}: {result:?}"
                    );
                }
                assert_eq!(out, [0xEE], "{t:?} {v:?}: nothing written");
                refused += 1;
            }
        }
    }
    // Every type of the version was generated: 10 (3.1.1) or 11 (5.0) a client sends, 4
    // it does not (AUTH moves with the feature).
    let client_types = if v == V5 && cfg!(feature = "enhanced-auth") {
        11
    } else {
        10
    };
    let server_types = if v == V5 { 15 - client_types } else { 4 };
    assert_eq!(
        (taken, refused),
        (40 * client_types, 40 * server_types),
        "{v:?}"
    );
}

#[test]
fn a_client_encodes_what_it_sends_and_refuses_the_rest_in_3_1_1() {
    check(V311);
}

#[test]
fn a_client_encodes_what_it_sends_and_refuses_the_rest_in_5_0() {
    check(V5);
}
