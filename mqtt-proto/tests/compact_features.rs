//! The cargo features `compact-errors` and `compact-rules` (issue 15, both off by default):
//! errors lose their words and rules their tags, while the typed error and its reason code
//! stay, so firmware still knows what went wrong.
//!
//! Run both ways: `cargo test -p mqtt-sansio-proto --test compact_features` (default) and
//! `cargo test -p mqtt-sansio-proto --features compact-errors,compact-rules --test
//! compact_features` (`scripts/test` runs it so).

use mqtt_sansio_proto::{decode, rules, DecodeError, Limits, ProtocolVersion, ReasonCode};

#[test]
fn rules_keep_their_tags_exactly_without_compact_rules() {
    let rule = rules::FIXED_HEADER_FLAGS;
    if cfg!(feature = "compact-rules") {
        assert_eq!((rule.v311(), rule.v5()), (None, None));
    } else {
        assert_eq!(rule.v311(), Some("MQTT-2.2.2-1"));
        assert_eq!(rule.v5(), Some("MQTT-2.1.3-1"));
    }
}

#[test]
fn a_decode_error_keeps_its_type_and_reason_code() {
    // PUBACK with flags 0b0001: its fixed header flags must be 0 [MQTT-2.2.2-1]/[MQTT-2.1.3-1].
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let err = decode(&[0x41, 0x02, 0x00, 0x01], v, &Limits::default())
            .expect_err("reserved flags must be refused");
        let DecodeError::Malformed { rule, what } = err else {
            panic!("{v:?}: not Malformed: {err:?}");
        };
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
        assert_eq!(rule, rules::FIXED_HEADER_FLAGS);
        assert_eq!(
            what.is_empty(),
            cfg!(feature = "compact-errors"),
            "{what:?}"
        );
    }
}
