//! The cargo features `v311` and `v5` (issue 15): a build with one version refuses the other
//! with a typed error, in the Session and in the codec, instead of speaking it half-compiled.
//!
//! Run with one version: `cargo test -p mqtt-sansio-session --no-default-features --features v311
//! --test protocol_features` (or `--features v5`). With both (the default) it checks that
//! both are spoken.

use mqtt_sansio_proto::{decode, rules, DecodeError, EncodeError, Limits, Packet, ProtocolVersion};
use mqtt_sansio_session::{ConnectError, ConnectOptions, Instant, Session, SessionConfig};

fn connect(v: ProtocolVersion) -> Result<(), ConnectError> {
    let mut s = Session::new(SessionConfig::new("features", true, v));
    s.connect(Instant::ZERO, &ConnectOptions::new(30))
}

#[test]
fn each_version_connects_exactly_when_compiled_in() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let enabled = match v {
            ProtocolVersion::V311 => cfg!(feature = "v311"),
            ProtocolVersion::V5 => cfg!(feature = "v5"),
        };
        assert_eq!(v.is_enabled(), enabled);
        match connect(v) {
            Ok(()) => assert!(enabled, "{v:?} connected without being compiled in"),
            // [MQTT-3.1.2-2]: the protocol level must be one this client speaks.
            Err(ConnectError::Invalid(EncodeError::Invalid { rule, .. })) => {
                assert!(!enabled, "{v:?} is compiled in but refused");
                assert_eq!(rule, rules::PROTOCOL_LEVEL);
            }
            Err(e) => panic!("{v:?}: unexpected {e:?}"),
        }
        // The codec agrees: PINGRESP decodes and PINGREQ encodes only in a compiled-in version.
        let decoded = decode(&[0xD0, 0x00], v, &Limits::default());
        let encoded = Packet::PingReq.encode(v, &mut Vec::new());
        if enabled {
            assert_eq!(decoded, Ok(Some((Packet::PingResp, 2))));
            assert_eq!(encoded, Ok(2));
        } else {
            assert_eq!(
                decoded,
                Err(DecodeError::UnsupportedProtocolVersion { level: v.level() })
            );
            assert!(
                matches!(encoded, Err(EncodeError::Invalid { rule, .. }) if rule == rules::PROTOCOL_LEVEL)
            );
            assert_eq!(ProtocolVersion::from_level(v.level()), None);
        }
    }
}
