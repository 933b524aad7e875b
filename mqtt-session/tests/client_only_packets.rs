//! Packets only a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ), received from the
//! broker: the connection ends with a protocol error citing the direction rule of the packet
//! type table (3.1.1 §2.2.1 / 5.0 §2.1.2). The first three are refused by type, without
//! parsing their bodies (`mqtt_sansio_proto::decode_from_server`, issue 15); the outcome is the same
//! for all four, and for both versions.

use mqtt_sansio_proto::{rules, ProtocolVersion, ReasonCode};
use mqtt_sansio_session::{
    ConnectOptions, DisconnectReason, Event, Instant, Session, SessionConfig,
};

fn connected(v: ProtocolVersion) -> Session {
    let now = Instant::ZERO;
    let mut s = Session::new(SessionConfig::new("direction", true, v));
    s.connect(now, &ConnectOptions::new(30)).unwrap();
    let mut out = Vec::new();
    while s.poll_transmit(now, &mut out).is_some() {}
    let connack: &[u8] = match v {
        ProtocolVersion::V311 => &[0x20, 0x02, 0x00, 0x00],
        ProtocolVersion::V5 => &[0x20, 0x03, 0x00, 0x00, 0x00],
    };
    s.handle_read(now, connack);
    assert!(matches!(s.poll_event(), Some(Event::Connected { .. })));
    s
}

#[test]
fn client_only_packets_from_the_broker_end_the_connection_with_the_direction_rule() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let props: &[u8] = if v == ProtocolVersion::V5 {
            &[0x00]
        } else {
            &[]
        };
        let mut subscribe = vec![0x82, 0x00, 0x00, 0x01];
        subscribe.extend_from_slice(props);
        subscribe.extend_from_slice(&[0x00, 0x01, b'a', 0x00]);
        subscribe[1] = (subscribe.len() - 2) as u8;
        let mut unsubscribe = vec![0xA2, 0x00, 0x00, 0x01];
        unsubscribe.extend_from_slice(props);
        unsubscribe.extend_from_slice(&[0x00, 0x01, b'a']);
        unsubscribe[1] = (unsubscribe.len() - 2) as u8;
        // A CONNECT with a protocol level this session does not speak: not parsed either.
        let connect = vec![0x10, 0x04, 0x00, 0x04, b'M', b'Q'];
        let pingreq = vec![0xC0, 0x00];
        for (name, packet) in [
            ("CONNECT", connect),
            ("SUBSCRIBE", subscribe),
            ("UNSUBSCRIBE", unsubscribe),
            ("PINGREQ", pingreq),
        ] {
            let mut s = connected(v);
            // Whole packet only: its first byte alone is not yet an error.
            s.handle_read(Instant::ZERO, &packet[..1]);
            assert!(
                s.is_connected(),
                "{v:?} {name}: ended before the packet was whole"
            );
            s.handle_read(Instant::ZERO, &packet[1..]);
            let Some(Event::Disconnected {
                reason: DisconnectReason::Protocol(e),
                ..
            }) = s.poll_event()
            else {
                panic!("{v:?} {name}: no protocol error");
            };
            assert_eq!(e.rule, rules::PACKET_DIRECTION, "{v:?} {name}");
            assert_eq!(e.reason_code, ReasonCode::ProtocolError, "{v:?} {name}");
            assert!(!s.is_connected());
        }
    }
}
