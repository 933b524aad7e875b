//! Server list, failover and 5.0 Server Reference in the sans-IO core, and the counters it
//! keeps: driven by hand with encoded broker packets, on a fake clock.

use std::time::Duration;

use mqtt_sansio_client::{
    Action, ClientCore, CoreOptions, OutgoingPublish, ServerAddr, ServerOrder, Transport,
};
use mqtt_sansio_proto::{
    ConnAck, Disconnect, Packet, PropertiesBuf, Property, ProtocolVersion, QoS, ReasonCode,
};
use mqtt_sansio_session::{Backoff, Instant};

fn options(servers: &[&str]) -> CoreOptions {
    let mut o = CoreOptions::new("servers-test");
    o.session.version = ProtocolVersion::V5;
    o.servers = servers
        .iter()
        .map(|h| ServerAddr::new(*h, Some(1883)))
        .collect();
    o.reconnect.retry_first_connect = true;
    o.reconnect.backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    o
}

fn encode(p: Packet<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(ProtocolVersion::V5, &mut out).unwrap();
    out
}

fn connack(reason: ReasonCode, reference: Option<&str>) -> Vec<u8> {
    let mut props = PropertiesBuf::new();
    if let Some(r) = reference {
        props.push(Property::ServerReference(r)).unwrap();
    }
    encode(Packet::ConnAck(ConnAck {
        session_present: false,
        reason,
        properties: props.as_properties(),
    }))
}

/// Runs the core until it asks to dial; returns the host (time moves on by 10 ms steps,
/// closing sockets the core asks to close).
fn next_dial(core: &mut ClientCore, now: &mut Instant) -> ServerAddr {
    for _ in 0..10_000 {
        match core.poll_action(*now) {
            Action::Open { server, .. } => return server,
            Action::Close => core.handle_closed(*now),
            Action::Stop(r) => panic!("stopped: {r:?}"),
            Action::None => {
                while core.poll_transmit(*now).is_some() {
                    let n = core.poll_transmit(*now).map_or(0, <[u8]>::len);
                    core.handle_written(n);
                }
                *now = now.saturating_add(Duration::from_millis(10));
                core.handle_timeout(*now);
            }
        }
    }
    panic!("the core never dialled");
}

/// Opens the socket and lets the broker answer the CONNECT with `answer`.
fn open_and_answer(core: &mut ClientCore, now: Instant, answer: &[u8]) {
    core.handle_opened(now).unwrap();
    let n = core.poll_transmit(now).map_or(0, <[u8]>::len);
    assert!(n > 0, "CONNECT written");
    core.handle_written(n);
    core.handle_read(now, answer);
}

#[test]
fn a_failed_dial_and_a_lost_connection_both_move_to_the_next_server() {
    let mut core = ClientCore::new(options(&["a", "b", "c"]), 1).unwrap();
    let mut now = Instant::from_millis(0);
    let _ = core.start(now);
    assert_eq!(next_dial(&mut core, &mut now).host, "a");
    core.handle_open_failed(now);
    assert_eq!(next_dial(&mut core, &mut now).host, "b");
    open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
    assert!(core.is_connected());
    // b dies mid-stream: the next attempt goes to c, after one backoff delay.
    let lost_at = now;
    core.handle_closed(now);
    assert_eq!(next_dial(&mut core, &mut now).host, "c");
    assert!(now.saturating_duration_since(lost_at) <= Duration::from_secs(1));
    open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
    core.handle_closed(now);
    assert_eq!(next_dial(&mut core, &mut now).host, "a", "round robin");

    let c = core.counters();
    assert_eq!((c.connections, c.reconnects, c.dial_failures), (2, 1, 1));
    assert_eq!(c.connection_attempts, 2);
}

#[test]
fn a_shuffled_order_is_a_seeded_permutation() {
    let hosts = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"];
    let order = |seed: Option<u64>, core_seed: u64| {
        let mut o = options(&hosts);
        o.server_order = ServerOrder::Shuffled { seed };
        let core = ClientCore::new(o, core_seed).unwrap();
        core.options()
            .servers
            .iter()
            .map(|s| s.host.clone())
            .collect::<Vec<_>>()
    };
    let a = order(Some(7), 1);
    assert_eq!(a, order(Some(7), 2), "a fixed seed wins over the client's");
    assert_ne!(order(None, 1), order(None, 2), "the client's seed shuffles");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, hosts, "a permutation: nothing lost or doubled");
    assert_ne!(a, hosts, "seed 7 moves something");
}

#[test]
fn connack_0x9d_with_a_server_reference_moves_the_client_for_good() {
    let mut o = options(&["old"]);
    o.follow_server_reference = true;
    o.reconnect.retry_first_connect = false;
    o.servers[0].transport = Some(Transport::WebSocket {
        tls: false,
        path: "/mqtt".into(),
    });
    let mut core = ClientCore::new(o, 1).unwrap();
    let mut now = Instant::from_millis(0);
    let _ = core.start(now);
    assert_eq!(next_dial(&mut core, &mut now).host, "old");
    open_and_answer(
        &mut core,
        now,
        &connack(ReasonCode::ServerMoved, Some("new.example:2883 other:1")),
    );
    // Even a first connection follows it (no stop), at once, over the same transport.
    let target = next_dial(&mut core, &mut now);
    assert_eq!(
        (target.host.as_str(), target.port),
        ("new.example", Some(2883))
    );
    assert!(matches!(
        target.transport,
        Some(Transport::WebSocket { .. })
    ));
    open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
    assert!(core.is_connected());
    core.handle_closed(now);
    assert_eq!(
        next_dial(&mut core, &mut now).host,
        "new.example",
        "for good"
    );
    assert_eq!(core.counters().redirects, 1);
}

#[test]
fn disconnect_0x9c_redirects_once_and_only_when_allowed() {
    for follow in [false, true] {
        let mut o = options(&["home"]);
        o.follow_server_reference = follow;
        let mut core = ClientCore::new(o, 1).unwrap();
        let mut now = Instant::from_millis(0);
        let _ = core.start(now);
        assert_eq!(next_dial(&mut core, &mut now).host, "home");
        open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
        let mut props = PropertiesBuf::new();
        props.push(Property::ServerReference("[::1]:1884")).unwrap();
        let disconnect = encode(Packet::Disconnect(Disconnect {
            reason: ReasonCode::UseAnotherServer,
            properties: props.as_properties(),
        }));
        core.handle_read(now, &disconnect);
        let next = next_dial(&mut core, &mut now);
        if !follow {
            assert_eq!(next.host, "home", "not followed unless allowed");
            continue;
        }
        assert_eq!((next.host.as_str(), next.port), ("::1", Some(1884)));
        open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
        core.handle_closed(now);
        assert_eq!(next_dial(&mut core, &mut now).host, "home", "0x9C: once");
    }
}

#[test]
fn redirect_loops_are_bounded() {
    let mut o = options(&["a"]);
    o.follow_server_reference = true;
    let mut core = ClientCore::new(o, 1).unwrap();
    let mut now = Instant::from_millis(0);
    let _ = core.start(now);
    let mut hosts = Vec::new();
    for _ in 0..8 {
        let s = next_dial(&mut core, &mut now);
        hosts.push(s.host.clone());
        let to = if s.host == "a" { "b" } else { "a" };
        open_and_answer(
            &mut core,
            now,
            &connack(ReasonCode::UseAnotherServer, Some(to)),
        );
        core.handle_closed(now);
    }
    assert!(core.counters().redirects <= 4, "{hosts:?}");
}

#[test]
fn counters_count_messages_and_bytes_per_qos() {
    let mut core = ClientCore::new(options(&["a"]), 1).unwrap();
    let mut now = Instant::from_millis(0);
    let _ = core.start(now);
    let _ = next_dial(&mut core, &mut now);
    open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
    for qos in [
        QoS::AtMostOnce,
        QoS::AtLeastOnce,
        QoS::AtLeastOnce,
        QoS::ExactlyOnce,
    ] {
        core.publish(now, &OutgoingPublish::new("t/x", b"12345", qos, false))
            .unwrap();
    }
    let n = core.poll_transmit(now).map_or(0, <[u8]>::len);
    core.handle_written(n);
    // An incoming QoS 1 PUBLISH, split in two reads.
    let incoming = encode(Packet::Publish(mqtt_sansio_proto::Publish {
        dup: false,
        qos: mqtt_sansio_proto::QosPid::AtLeastOnce(mqtt_sansio_proto::PacketId::new(9).unwrap()),
        retain: false,
        topic: mqtt_sansio_proto::TopicName::new("in/y").unwrap(),
        properties: Default::default(),
        payload: b"abc",
    }));
    core.handle_read(now, &incoming[..3]);
    core.handle_read(now, &incoming[3..]);
    let c = core.counters();
    assert_eq!(
        (
            c.publishes_sent.at_most_once,
            c.publishes_sent.at_least_once,
            c.publishes_sent.exactly_once
        ),
        (1, 2, 1)
    );
    // 5.0 QoS 0: header 2 + topic 5 + properties 1 + payload 5 = 13; QoS 1/2: 2 more (id).
    assert_eq!(c.publish_bytes_sent.at_most_once, 13);
    assert_eq!(c.publish_bytes_sent.at_least_once, 30);
    assert_eq!(c.publishes_received.at_least_once, 1);
    assert_eq!(
        c.publish_bytes_received.at_least_once,
        incoming.len() as u64
    );
    assert_eq!(c.inflight, 3);
    assert!(c.window >= 3);
    assert!(c.bytes_sent > 56 && c.bytes_received > incoming.len() as u64);
}

#[test]
fn protocol_errors_are_counted_by_kind_and_connections_by_outcome() {
    let mut core = ClientCore::new(options(&["a"]), 1).unwrap();
    let mut now = Instant::from_millis(0);
    let _ = core.start(now);
    let _ = next_dial(&mut core, &mut now);
    open_and_answer(&mut core, now, &connack(ReasonCode::Success, None));
    // A PUBACK with a reserved flag bit set: malformed [MQTT-2.1.3-1].
    core.handle_read(now, &[0x41, 2, 0, 1]);
    assert!(!core.is_connected());
    let _ = next_dial(&mut core, &mut now);
    open_and_answer(&mut core, now, &connack(ReasonCode::NotAuthorized, None));
    let c = core.counters();
    assert_eq!(c.protocol_errors_total(), 1, "{c:?}");
    assert_eq!(c.protocol_errors.len(), 1);
    assert_eq!(c.protocol_errors[0].0, ReasonCode::MalformedPacket);
    assert_eq!((c.connections, c.refusals), (1, 1));
}
