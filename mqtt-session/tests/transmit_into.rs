//! `Session::transmit_into`: waiting bytes copied straight into a caller's write buffer of any
//! size. The byte stream is the one `poll_transmit` produces, whatever the buffer size; a
//! packet whose start was handed out is finished before anything else on that connection
//! (the DISCONNECT after a protocol error) and dropped with the old transport by `connect`;
//! handing bytes out counts as sending for keepalive [MQTT-3.1.2-23] and makes room for a
//! refused QoS 0 publish.

use mqtt_sansio_proto::{PacketId, ProtocolVersion, QoS, Subscription, TopicFilter};
use mqtt_sansio_session::{
    ConnectOptions, DisconnectReason, Event, Instant, PublishError, Session, SessionConfig,
};

const CONNACK_V311: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
/// 5.0 CONNACK: flags 0, reason Success, no properties.
const CONNACK_V5: [u8; 5] = [0x20, 0x03, 0x00, 0x00, 0x00];

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn connack(v: ProtocolVersion) -> &'static [u8] {
    match v {
        ProtocolVersion::V311 => &CONNACK_V311,
        _ => &CONNACK_V5,
    }
}

/// A session that sent CONNECT at 0 and received CONNACK at 0; nothing waits to be sent.
fn connected(v: ProtocolVersion, keep_alive: u16) -> Session {
    let mut s = Session::new(SessionConfig::new("tx-into", true, v));
    s.connect(at(0), &ConnectOptions::new(keep_alive))
        .expect("connect");
    drain_with_poll_transmit(&mut s, at(0));
    s.handle_read(at(0), connack(v));
    assert!(matches!(s.poll_event(), Some(Event::Connected { .. })));
    s
}

fn drain_with_poll_transmit(s: &mut Session, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    while s.poll_transmit(now, &mut out).is_some() {}
    out
}

/// Drains through a buffer of `size` bytes; checks every call fills the buffer unless it
/// empties the Session.
fn drain_with_transmit_into(s: &mut Session, now: Instant, size: usize) -> Vec<u8> {
    let mut buf = vec![0u8; size];
    let mut out = Vec::new();
    loop {
        let waiting = s.pending_transmit_bytes();
        let n = s.transmit_into(now, &mut buf);
        assert_eq!(n, waiting.min(size), "as many bytes as fit");
        assert_eq!(s.pending_transmit_bytes(), waiting - n);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// A QoS 1 PUBLISH from the broker (3.1.1 and 5.0 with no properties).
fn incoming_qos1(v: ProtocolVersion, id: u16) -> Vec<u8> {
    let mut body = vec![0, 3, b'i', b'/', b'n'];
    body.extend_from_slice(&id.to_be_bytes());
    if v == ProtocolVersion::V5 {
        body.push(0);
    }
    body.extend_from_slice(b"hello");
    let mut p = vec![0x32, body.len() as u8];
    p.extend_from_slice(&body);
    p
}

/// The same work on a session: a subscription, publishes at every QoS (one larger than most
/// buffers), and a QoS 1 message from the broker whose PUBACK answers it.
fn work(s: &mut Session, v: ProtocolVersion) {
    let filter = TopicFilter::new("cmd/#").unwrap();
    s.subscribe(at(1), &[Subscription::new(filter, QoS::AtLeastOnce)])
        .unwrap();
    let big: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    s.publish(at(1), "a/b", b"zero", QoS::AtMostOnce, false)
        .unwrap();
    s.publish(at(1), "a/big", &big, QoS::AtLeastOnce, false)
        .unwrap();
    s.publish(at(1), "a/c", b"two", QoS::ExactlyOnce, true)
        .unwrap();
    s.handle_read(at(1), &incoming_qos1(v, 9));
    assert!(matches!(s.poll_event(), Some(Event::Message(_))));
}

#[test]
fn every_buffer_size_gives_the_bytes_poll_transmit_gives() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let mut reference = connected(v, 30);
        work(&mut reference, v);
        let expected = drain_with_poll_transmit(&mut reference, at(1));
        assert!(expected.len() > 330, "the big PUBLISH is in the stream");
        for size in [1, 2, 3, 4, 5, 7, 16, 64, 333, expected.len(), 4096] {
            let mut s = connected(v, 30);
            work(&mut s, v);
            assert_eq!(s.pending_transmit_bytes(), expected.len());
            let got = drain_with_transmit_into(&mut s, at(1), size);
            assert_eq!(got, expected, "{v:?}, buffer of {size} B");
            assert_eq!(s.transmit_into(at(1), &mut [0u8; 8]), 0);
        }
    }
}

#[test]
fn an_empty_buffer_takes_nothing() {
    let mut s = connected(ProtocolVersion::V311, 30);
    s.publish(at(1), "a/b", b"x", QoS::AtMostOnce, false)
        .unwrap();
    let waiting = s.pending_transmit_bytes();
    assert_eq!(s.transmit_into(at(1), &mut []), 0);
    assert_eq!(s.pending_transmit_bytes(), waiting);
}

/// Mixing both ways: `poll_transmit` after a partial `transmit_into` hands out the rest of
/// the started packet, then whole packets again.
#[test]
fn poll_transmit_finishes_a_packet_transmit_into_started() {
    let v = ProtocolVersion::V5;
    let mut reference = connected(v, 30);
    work(&mut reference, v);
    let mut packets = Vec::new();
    loop {
        let mut p = Vec::new();
        if reference.poll_transmit(at(1), &mut p).is_none() {
            break;
        }
        packets.push(p);
    }
    let mut s = connected(v, 30);
    work(&mut s, v);
    let mut first = [0u8; 3];
    assert_eq!(s.transmit_into(at(1), &mut first), 3);
    assert_eq!(first[..], packets[0][..3]);
    let mut rest = Vec::new();
    assert_eq!(
        s.poll_transmit(at(1), &mut rest),
        Some(packets[0].len() - 3)
    );
    assert_eq!(rest[..], packets[0][3..]);
    for p in &packets[1..] {
        let mut next = Vec::new();
        assert_eq!(s.poll_transmit(at(1), &mut next), Some(p.len()));
        assert_eq!(&next, p);
    }
    assert_eq!(s.pending_transmit_bytes(), 0);
}

/// The broker breaks the protocol (a second CONNACK) while a PUBLISH is half written: the
/// rest of it goes out before the DISCONNECT, so the broker reads two whole packets; the
/// PUBLISH queued behind it, not started, is not sent on this connection.
#[test]
fn a_started_packet_is_finished_before_the_disconnect_of_a_protocol_error() {
    let v = ProtocolVersion::V5;
    let payload = [7u8; 200];
    // The bytes of the first PUBLISH and of the DISCONNECT, from sessions that never split.
    let mut reference = connected(v, 30);
    reference
        .publish(at(1), "t/one", &payload, QoS::AtMostOnce, false)
        .unwrap();
    let publish = drain_with_poll_transmit(&mut reference, at(1));
    reference.handle_read(at(1), &CONNACK_V5);
    let disconnect = drain_with_poll_transmit(&mut reference, at(1));
    assert_eq!(disconnect[0], 0xE0, "DISCONNECT");
    assert_eq!(disconnect[2], 0x82, "Protocol Error");

    let mut s = connected(v, 30);
    s.publish(at(1), "t/one", &payload, QoS::AtMostOnce, false)
        .unwrap();
    s.publish(at(1), "t/two", b"later", QoS::AtMostOnce, false)
        .unwrap();
    let mut head = [0u8; 10];
    assert_eq!(s.transmit_into(at(1), &mut head), 10);
    s.handle_read(at(1), &CONNACK_V5);
    assert!(matches!(
        s.poll_event(),
        Some(Event::Disconnected {
            reason: DisconnectReason::Protocol(_),
            ..
        })
    ));
    let mut wire = head.to_vec();
    wire.extend(drain_with_transmit_into(&mut s, at(1), 16));
    let mut expected = publish.clone();
    expected.extend_from_slice(&disconnect);
    assert_eq!(wire, expected);
}

/// A packet started on a transport that is gone never reaches the next one: `handle_closed`
/// drops it, and so does `connect` after the Session itself ended the connection (keepalive
/// silence) with the rest still waiting.
#[test]
fn a_new_connection_starts_with_connect_not_the_rest_of_an_old_packet() {
    let v = ProtocolVersion::V311;
    let mut fresh = Session::new(SessionConfig::new("tx-into", true, v));
    fresh.connect(at(0), &ConnectOptions::new(10)).unwrap();
    let connect_bytes = drain_with_poll_transmit(&mut fresh, at(0));
    assert_eq!(connect_bytes[0], 0x10);

    // The application closes the transport.
    let mut s = connected(v, 10);
    s.publish(at(1), "t", &[1u8; 100], QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(s.transmit_into(at(1), &mut [0u8; 20]), 20);
    s.handle_closed(at(2));
    assert_eq!(s.pending_transmit_bytes(), 0);
    s.connect(at(0), &ConnectOptions::new(10)).unwrap();
    assert_eq!(drain_with_transmit_into(&mut s, at(3), 5), connect_bytes);

    // The Session ends the connection: nothing heard for 1.5 x keepalive.
    let mut s = connected(v, 10);
    s.publish(at(1), "t", &[1u8; 100], QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(s.transmit_into(at(1), &mut [0u8; 20]), 20);
    s.handle_timeout(at(15_000));
    assert!(matches!(
        s.poll_event(),
        Some(Event::Disconnected {
            reason: DisconnectReason::KeepAliveTimeout,
            ..
        })
    ));
    assert!(s.pending_transmit_bytes() > 0, "the rest still waits");
    s.connect(at(15_000), &ConnectOptions::new(10)).unwrap();
    assert_eq!(
        drain_with_transmit_into(&mut s, at(15_000), 64),
        connect_bytes
    );
}

/// Bytes handed out count as sent [MQTT-3.1.2-23]: the PINGREQ deadline moves to a
/// keepalive after the last `transmit_into`, and none runs while bytes wait.
#[test]
fn keepalive_counts_from_the_last_bytes_handed_out() {
    let v = ProtocolVersion::V311;
    let mut s = connected(v, 10);
    assert_eq!(s.poll_timeout(), Some(at(10_000)));
    // Something heard at 9.5 s, a publish started at 9 s and finished at 9.8 s.
    s.publish(at(9_000), "t", &[1u8; 50], QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(s.transmit_into(at(9_000), &mut [0u8; 10]), 10);
    s.handle_read(at(9_500), &[0x30, 0x04, 0x00, 0x01, b'x', b'y']);
    assert!(matches!(s.poll_event(), Some(Event::Message(_))));
    // Only the silence deadline (1.5 x keepalive after 9.5 s) while bytes wait.
    assert_eq!(s.poll_timeout(), Some(at(24_500)));
    let mut rest = [0u8; 64];
    assert!(s.transmit_into(at(9_800), &mut rest) > 0);
    assert_eq!(s.pending_transmit_bytes(), 0);
    // min(sent 9.8 s, heard 9.5 s) + 10 s; with the CONNECT at 0 as the last send it would
    // be 10 s.
    assert_eq!(s.poll_timeout(), Some(at(19_500)));
}

/// A QoS 0 publish refused because too many bytes wait is followed by `PublishUnblocked`
/// once `transmit_into` took them, as with `poll_transmit`.
#[test]
fn draining_makes_room_for_a_refused_qos0_publish() {
    let v = ProtocolVersion::V311;
    let mut config = SessionConfig::new("tx-into", true, v);
    config.max_transmit_bytes = 64;
    let mut s = Session::new(config);
    s.connect(at(0), &ConnectOptions::new(30)).unwrap();
    drain_with_poll_transmit(&mut s, at(0));
    s.handle_read(at(0), &CONNACK_V311);
    assert!(matches!(s.poll_event(), Some(Event::Connected { .. })));
    let mut refused = false;
    for _ in 0..10 {
        match s.publish(at(1), "t", &[0u8; 30], QoS::AtMostOnce, false) {
            Ok(None) => {}
            Err(PublishError::QueueFull) => {
                refused = true;
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(refused, "the transmit bound refuses a QoS 0 publish");
    assert!(!s.can_publish(QoS::AtMostOnce));
    assert_eq!(s.poll_event(), None);
    // Part of it, leaving one byte too many waiting.
    let part = s.pending_transmit_bytes() - 65;
    assert!(part > 0);
    let mut buf = vec![0u8; part];
    assert_eq!(s.transmit_into(at(1), &mut buf), part);
    assert_eq!(s.pending_transmit_bytes(), 65);
    assert_eq!(s.poll_event(), None);
    drain_with_transmit_into(&mut s, at(1), 7);
    assert_eq!(s.poll_event(), Some(Event::PublishUnblocked));
    assert!(s.can_publish(QoS::AtMostOnce));
    let id: Option<PacketId> = s
        .publish(at(2), "t", b"now", QoS::AtMostOnce, false)
        .unwrap();
    assert_eq!(id, None);
}
