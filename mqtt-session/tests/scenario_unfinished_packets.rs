//! SPEC "Bad input and faults": a packet whose bytes trickle in and never complete ends the
//! connection after a bound; keepalive alone does not protect against it, since every byte
//! counts as traffic. The bound (`SessionConfig::packet_completion_timeout`; default 1.5 x
//! keepalive once connected, the CONNACK timeout before CONNACK) counts from the first byte
//! of the incomplete packet, is armed in `poll_timeout`, and ends the connection with
//! `DisconnectReason::IncompletePacket`.

mod support;

use std::time::Duration;

use mqtt_sansio_proto::{Packet, ProtocolVersion, Publish, QosPid, TopicName};
use mqtt_sansio_session::{DisconnectReason, Event, Instant, SessionConfig, SessionState};
use support::{pid, Direct};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

/// A QoS 1 PUBLISH of 40 bytes of payload (longer than 15 bytes on the wire).
fn publish(v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    Packet::Publish(Publish::new(
        TopicName::new("slow/stream").unwrap(),
        &[0x53; 40],
        QosPid::AtLeastOnce(pid(9)),
    ))
    .encode(v, &mut out)
    .unwrap();
    out
}

/// Feeds `bytes` one per second from `first_ms`, firing every timer that is due before each
/// byte (as a transport does), until the connection ends. Returns the instant it ended.
fn trickle(d: &mut Direct, bytes: &[u8], first_ms: u64) -> Option<u64> {
    for (i, b) in bytes.iter().enumerate() {
        let at = first_ms + 1000 * i as u64;
        while let Some(t) = d
            .session
            .poll_timeout()
            .filter(|t| *t <= Instant::from_millis(at))
        {
            d.now = t;
            d.timeout();
            if d.session.state() == SessionState::Disconnected {
                return Some(t.as_millis());
            }
        }
        d.at(at).feed(std::slice::from_ref(b));
    }
    None
}

fn incomplete(events: &[Event]) -> Option<(usize, Duration)> {
    events.iter().find_map(|e| match e {
        Event::Disconnected {
            reason: DisconnectReason::IncompletePacket { received, after },
            ..
        } => Some((*received, *after)),
        _ => None,
    })
}

#[test]
fn a_publish_trickled_one_byte_per_second_ends_the_connection_at_the_bound() {
    // Keepalive 10 s: the bound is 15 s from the first byte, exactly.
    for v in VERSIONS {
        let mut d = Direct::new(SessionConfig::new("slow", false, v));
        d.connect(10, false);
        d.take_sent();
        d.take_events();
        let bytes = publish(v);
        assert!(bytes.len() > 20);
        let ended = trickle(&mut d, &bytes, 1_000);
        assert_eq!(
            ended,
            Some(16_000),
            "{v:?}: 15 s after the first byte at 1 s"
        );
        let events = d.take_events();
        assert_eq!(
            incomplete(&events),
            Some((15, Duration::from_secs(15))),
            "{v:?}: bytes at 1 s .. 15 s were received: {events:?}"
        );
        assert!(!events.iter().any(|e| matches!(e, Event::Message(_))));
        assert_eq!(
            d.session.pending_read_bytes(),
            0,
            "the partial packet is dropped"
        );
        assert_eq!(d.session.poll_timeout(), None);
        let reason = DisconnectReason::IncompletePacket {
            received: 15,
            after: Duration::from_secs(15),
        };
        let text = reason.to_string();
        assert!(
            text.contains("incomplete") && text.contains("packet_completion_timeout"),
            "Display says what happened and what to do: {text}"
        );
    }
}

#[test]
fn a_packet_completing_just_before_the_bound_is_delivered() {
    // Bound set to 30.5 s: the 31st byte at 30 s after the first is in time.
    for v in VERSIONS {
        let mut c = SessionConfig::new("slow", false, v);
        c.packet_completion_timeout = Some(Duration::from_millis(30_500));
        // The trickle itself keeps the silence timeout away; no keepalive timer interferes.
        let mut d = Direct::new(c);
        d.connect(0, false);
        d.take_sent();
        d.take_events();
        // A 31-byte PUBLISH: 17 bytes of header and topic (5.0: 18) and the payload.
        let payload = vec![0x53; 31 - 17 - usize::from(v == ProtocolVersion::V5)];
        let mut bytes = Vec::new();
        Packet::Publish(Publish::new(
            TopicName::new("slow/stream").unwrap(),
            &payload,
            QosPid::AtLeastOnce(pid(9)),
        ))
        .encode(v, &mut bytes)
        .unwrap();
        assert_eq!(bytes.len(), 31);
        assert_eq!(trickle(&mut d, &bytes, 2_000), None, "{v:?}");
        assert_eq!(d.now, Instant::from_millis(32_000));
        let events = d.take_events();
        assert!(
            events.iter().any(|e| matches!(e, Event::Message(_))),
            "{v:?}: {events:?}"
        );
        assert!(d.session.is_connected());
        // The bound ended with the packet: nothing is armed any more (keepalive off).
        assert_eq!(d.session.poll_timeout(), None);
        d.at(32_500).timeout();
        assert!(d.session.is_connected());
        // A new packet starts a new bound from its own first byte.
        d.at(40_000).feed(&bytes[..3]);
        assert_eq!(d.session.poll_timeout(), Some(Instant::from_millis(70_500)));
        d.at(70_499).timeout();
        assert!(d.session.is_connected());
        d.at(70_500).timeout();
        assert_eq!(
            incomplete(&d.take_events()),
            Some((3, Duration::from_millis(30_500)))
        );
    }
}

#[test]
fn a_tail_after_a_complete_packet_counts_from_the_read_it_arrived_in() {
    let v = ProtocolVersion::V311;
    let mut d = Direct::new(SessionConfig::new("tail", false, v));
    d.connect(10, false);
    d.take_sent();
    let p = publish(v);
    // First byte of one packet at 1 s; the rest of it plus the start of the next at 10 s.
    d.at(1_000).feed(&p[..1]);
    let mut read = p[1..].to_vec();
    read.extend_from_slice(&p[..2]);
    d.at(10_000).feed(&read);
    assert!(d.session.is_connected());
    d.at(16_000).timeout();
    assert!(
        d.session.is_connected(),
        "the first packet completed in time"
    );
    assert_eq!(d.session.pending_read_bytes(), 2);
    d.at(24_999).timeout();
    assert!(d.session.is_connected());
    d.at(25_000).timeout();
    assert_eq!(
        incomplete(&d.take_events()),
        Some((2, Duration::from_secs(15)))
    );
}

#[test]
fn before_connack_the_bound_is_the_connack_timeout_or_the_configured_one() {
    for v in VERSIONS {
        // Configured: 2 s from the first CONNACK byte, well before the CONNACK timeout.
        let mut c = SessionConfig::new("early", true, v);
        c.packet_completion_timeout = Some(Duration::from_secs(2));
        let mut d = Direct::new(c);
        d.start(10);
        d.at(1_000).feed(&[0x20]);
        assert_eq!(d.session.poll_timeout(), Some(Instant::from_millis(3_000)));
        d.at(2_999).timeout();
        assert_eq!(d.session.state(), SessionState::Connecting);
        d.at(3_000).timeout();
        assert_eq!(
            incomplete(&d.take_events()),
            Some((1, Duration::from_secs(2))),
            "{v:?}"
        );

        // Default: the CONNACK timeout, counted from the first byte; the CONNACK deadline
        // (from CONNECT) is earlier, so it ends the connection first.
        let mut c = SessionConfig::new("early", true, v);
        c.connack_timeout = Duration::from_secs(5);
        let mut d = Direct::new(c);
        d.start(10);
        d.at(1_000).feed(&[0x20, 0x02]);
        assert_eq!(d.session.poll_timeout(), Some(Instant::from_millis(5_000)));
        d.at(5_000).timeout();
        assert!(
            d.take_events().iter().any(|e| matches!(
                e,
                Event::Disconnected {
                    reason: DisconnectReason::ConnAckTimeout,
                    ..
                }
            )),
            "{v:?}"
        );
    }
}

#[test]
fn with_keepalive_off_the_bound_is_the_connack_timeout() {
    let mut c = SessionConfig::new("noka", false, ProtocolVersion::V311);
    c.connack_timeout = Duration::from_secs(7);
    let mut d = Direct::new(c);
    d.connect(0, false);
    d.take_events();
    assert_eq!(
        d.session.poll_timeout(),
        None,
        "no timer without a partial packet"
    );
    d.at(1_000).feed(&publish(ProtocolVersion::V311)[..4]);
    assert_eq!(d.session.poll_timeout(), Some(Instant::from_millis(8_000)));
    d.at(8_000).timeout();
    assert_eq!(
        incomplete(&d.take_events()),
        Some((4, Duration::from_secs(7)))
    );
}
