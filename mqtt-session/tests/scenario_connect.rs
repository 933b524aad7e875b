//! Scenario tests of the connection life cycle: CONNECT/CONNACK in both versions, refusals,
//! the CONNACK timeout, keepalive timing to the millisecond, 5.0 CONNACK properties that
//! change the connection, `disconnect`, time handling, and the Input/Output façade.
mod support;

use std::time::Duration;

use mqtt_sansio_proto::{
    ConnAck, Disconnect, Packet, Properties, PropertiesBuf, Property, ProtocolVersion, QoS,
    ReasonCode,
};
use mqtt_sansio_session::{
    ConnectError, ConnectOptions, DisconnectReason, Event, Input, Instant, Output, Session,
    SessionConfig, SessionState,
};
use support::{encode, Direct, Pair};

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// Times at which the client sent packets of a type.
fn send_times(pair: &Pair, packet_type: u8) -> Vec<u64> {
    pair.client_sent_of(packet_type)
        .iter()
        .map(|(t, _)| t.as_millis())
        .collect()
}

// ------------------------------------------------------------------ CONNECT / CONNACK

#[test]
fn v311_connect_is_the_first_packet_and_connack_connects() {
    // [MQTT-3.1.0-1] the first packet is CONNECT; [MQTT-3.2.0-1] the server answers CONNACK.
    let mut pair = Pair::v311("conn", true);
    pair.connect(30);
    let connect = &pair.client_sent[0];
    assert_eq!(connect.0, at(0));
    let mut expected = vec![
        0x10, 16, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 30,
    ];
    expected.extend_from_slice(&[0x00, 0x04, b'c', b'o', b'n', b'n']);
    assert_eq!(
        connect.1, expected,
        "CONNECT, level 4, clean session, keepalive 30"
    );
    assert_eq!(
        pair.events,
        vec![(
            at(20),
            Event::Connected {
                session_present: false,
                properties: Default::default()
            }
        )]
    );
    assert_eq!(pair.client.state(), SessionState::Connected);
    assert_eq!(pair.broker.connects, 1);
}

#[test]
fn v5_connect_carries_the_session_limits_as_properties() {
    // 5.0 §3.1.2.11: Session Expiry Interval, Receive Maximum [MQTT-3.3.4-9] and Maximum
    // Packet Size [MQTT-3.1.2-24] tell the server our limits.
    let mut config = SessionConfig::new("conn5", false, ProtocolVersion::V5);
    config.max_incoming_qos2 = 7;
    config.max_packet_size = 4096;
    let mut pair = Pair::new(config);
    pair.connect(30);
    assert_eq!(
        pair.events,
        vec![(
            at(20),
            Event::Connected {
                session_present: false,
                properties: Default::default()
            }
        )]
    );
    assert_eq!(pair.client_sent[0].1[0], 0x10);
    let packets = pair.broker.received_packets("CONNECT");
    let Packet::Connect(c) = &packets[0] else {
        panic!("not a CONNECT: {packets:?}")
    };
    assert!(!c.clean_start);
    assert_eq!(c.keep_alive, 30);
    assert_eq!(c.client_id, "conn5");
    assert_eq!(c.properties.receive_maximum(), Some(7));
    assert_eq!(c.properties.maximum_packet_size(), Some(4096));
    // A persistent session never expires unless configured (3.1.1 semantics).
    assert_eq!(c.properties.session_expiry_interval(), Some(u32::MAX));

    let mut clean = Pair::v5("conn5c", true);
    clean.connect(0);
    let packets = clean.broker.received_packets("CONNECT");
    let Packet::Connect(c) = &packets[0] else {
        panic!()
    };
    assert!(c.clean_start);
    assert_eq!(
        c.properties.session_expiry_interval(),
        None,
        "absent means 0"
    );
}

#[test]
fn v311_connack_return_codes_1_to_5_map_to_reason_codes_and_refuse() {
    // 3.1.1 §3.2.2.3 Table 3.1; a refusing server closes the connection [MQTT-3.2.2-5].
    let table = [
        (1, ReasonCode::UnsupportedProtocolVersion),
        (2, ReasonCode::ClientIdentifierNotValid),
        (3, ReasonCode::ServerUnavailable),
        (4, ReasonCode::BadUserNameOrPassword),
        (5, ReasonCode::NotAuthorized),
    ];
    for (code, reason) in table {
        let mut d = Direct::v311("refused", true);
        d.start(30);
        d.feed(&[0x20, 0x02, 0x00, code]);
        assert_eq!(
            d.take_events(),
            vec![
                Event::ConnectRefused {
                    reason,
                    properties: Default::default(),
                    server_reference: None
                },
                Event::Disconnected {
                    reason: DisconnectReason::Refused(reason),
                    properties: Default::default(),
                    server_reference: None
                }
            ],
            "return code {code}"
        );
        assert_eq!(d.session.state(), SessionState::Disconnected);
        assert_eq!(d.session.poll_timeout(), None, "no timer after a refusal");
        assert!(d.take_sent().is_empty());
    }
}

#[test]
fn v311_refusal_through_the_sim_broker() {
    // [MQTT-3.2.2-5]: the refusal reaches the application as a typed reason.
    let mut pair = Pair::v311("refused", true);
    pair.broker.script.refuse = Some(ReasonCode::BadUserNameOrPassword);
    pair.connect(30);
    assert_eq!(
        pair.all_events(),
        vec![
            Event::ConnectRefused {
                reason: ReasonCode::BadUserNameOrPassword,
                properties: Default::default(),
                server_reference: None
            },
            Event::Disconnected {
                reason: DisconnectReason::Refused(ReasonCode::BadUserNameOrPassword),
                properties: Default::default(),
                server_reference: None
            }
        ]
    );
    assert!(!pair.client.is_connected());
}

#[test]
fn v311_connack_return_code_6_is_a_protocol_error() {
    // 3.1.1 §3.2.2.3: return codes 6-255 are reserved.
    let mut d = Direct::v311("refused", true);
    d.start(30);
    d.feed(&[0x20, 0x02, 0x00, 0x06]);
    let events = d.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.rule, mqtt_sansio_proto::rules::CONNACK_RETURN_CODE);
    assert!(
        d.take_sent().is_empty(),
        "3.1.1 has no DISCONNECT from a client on errors"
    );
}

#[test]
fn v5_connack_refusals_surface_their_reason_codes() {
    // 5.0 §3.2.2.2: a reason code of 0x80 or more refuses the connection [MQTT-3.2.2-7].
    for reason in [
        ReasonCode::UnspecifiedError,
        ReasonCode::UnsupportedProtocolVersion,
        ReasonCode::ClientIdentifierNotValid,
        ReasonCode::BadUserNameOrPassword,
        ReasonCode::NotAuthorized,
        ReasonCode::ServerUnavailable,
        ReasonCode::ServerBusy,
        ReasonCode::Banned,
        ReasonCode::QuotaExceeded,
        ReasonCode::UseAnotherServer,
        ReasonCode::ConnectionRateExceeded,
    ] {
        let mut pair = Pair::v5("refused5", true);
        pair.broker.script.refuse = Some(reason);
        pair.connect(30);
        assert_eq!(
            pair.all_events(),
            vec![
                Event::ConnectRefused {
                    reason,
                    properties: Default::default(),
                    server_reference: None
                },
                Event::Disconnected {
                    reason: DisconnectReason::Refused(reason),
                    properties: Default::default(),
                    server_reference: None
                }
            ]
        );
        assert_eq!(pair.client.poll_timeout(), None);
        assert_eq!(pair.client_sent.len(), 1, "only the CONNECT was sent");
    }
}

#[test]
fn v5_connack_with_a_reason_code_not_allowed_in_connack_is_a_protocol_error() {
    // 5.0 §2.4 / §3.2.2.2: 0x04 (Disconnect with Will) is not a CONNACK reason code.
    let mut d = Direct::v5("bad", true);
    d.start(30);
    d.feed(&[0x20, 0x03, 0x00, 0x04, 0x00]);
    let events = d.take_events();
    let [Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.rule, mqtt_sansio_proto::rules::REASON_CODE);
    assert_eq!(d.take_sent(), vec![vec![0xE0, 0x01, e.reason_code.as_u8()]]);
}

#[test]
fn connack_timeout_closes_exactly_at_the_deadline() {
    // 3.1.1 §3.1.4 / 5.0 §3.1.4: no CONNACK within a reasonable time -> close.
    let mut pair = Pair::v311("slow", true);
    pair.broker.script.silent_on_connect = true;
    pair.open(&ConnectOptions::new(10));
    assert_eq!(
        pair.client.poll_timeout(),
        Some(at(30_000)),
        "default connack_timeout 30 s"
    );
    pair.run_until(at(29_999));
    assert!(pair.events.is_empty());
    assert_eq!(pair.client.state(), SessionState::Connecting);
    pair.run_until(at(60_000));
    assert_eq!(
        pair.events,
        vec![(
            at(30_000),
            Event::Disconnected {
                reason: DisconnectReason::ConnAckTimeout,
                properties: Default::default(),
                server_reference: None
            }
        )]
    );
    // No keepalive while connecting: the keepalive (10 s) never fired a PINGREQ.
    assert!(send_times(&pair, 12).is_empty());

    let mut config = SessionConfig::new("slow", true, ProtocolVersion::V5);
    config.connack_timeout = Duration::from_millis(2_500);
    let mut pair = Pair::new(config);
    pair.broker.script.silent_on_connect = true;
    pair.open(&ConnectOptions::new(0));
    pair.run_until(at(10_000));
    assert_eq!(
        pair.events,
        vec![(
            at(2_500),
            Event::Disconnected {
                reason: DisconnectReason::ConnAckTimeout,
                properties: Default::default(),
                server_reference: None
            }
        )]
    );
    assert_eq!(pair.client.poll_timeout(), None);
}

#[test]
fn transport_closed_while_connecting_ends_the_attempt_and_allows_a_new_one() {
    // DESIGN §2: handle_closed means the transport is gone, in any state.
    let mut pair = Pair::v311("closed", true);
    pair.broker.script.silent_on_connect = true;
    pair.open(&ConnectOptions::new(30));
    pair.flush_client();
    pair.drop_connection();
    assert_eq!(
        pair.all_events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::TransportClosed,
            properties: Default::default(),
            server_reference: None
        }]
    );
    pair.broker.script.silent_on_connect = false;
    pair.reconnect(30);
    assert!(pair.client.is_connected());
}

#[test]
fn connect_refuses_misuse_without_changing_anything() {
    // [MQTT-3.1.3-7]: an empty client id needs a clean session; DESIGN §4: Err = no change.
    let mut s = Session::new(SessionConfig::new("", false, ProtocolVersion::V311));
    assert_eq!(
        s.connect(at(0), &ConnectOptions::new(30)),
        Err(ConnectError::EmptyClientIdRequiresCleanSession)
    );
    assert_eq!(s.state(), SessionState::Disconnected);
    assert_eq!(s.poll_transmit(at(0), &mut Vec::new()), None);

    let mut s = Session::new(SessionConfig::new("twice", true, ProtocolVersion::V311));
    s.connect(at(0), &ConnectOptions::new(30)).unwrap();
    assert_eq!(
        s.connect(at(0), &ConnectOptions::new(30)),
        Err(ConnectError::AlreadyConnected)
    );
    let mut out = Vec::new();
    assert!(s.poll_transmit(at(0), &mut out).is_some());
    assert_eq!(s.poll_transmit(at(0), &mut out), None, "only one CONNECT");
}

// ------------------------------------------------------------------ keepalive

#[test]
fn pingreq_goes_out_exactly_keepalive_after_the_last_packet_sent() {
    // [MQTT-3.1.2-23] (3.1.1) / [MQTT-3.1.2-20] (5.0): PINGREQ when nothing was sent for
    // Keep Alive seconds. CONNECT went out at 0.
    for mut pair in [Pair::v311("ka", true), Pair::v5("ka", true)] {
        pair.connect(30);
        assert_eq!(pair.client.poll_timeout(), Some(at(30_000)));
        pair.run_until(at(29_999));
        assert!(send_times(&pair, 12).is_empty());
        pair.run_until(at(100_000));
        assert_eq!(send_times(&pair, 12), vec![30_000, 60_000, 90_000]);
        for (t, bytes) in pair.client_sent_of(12) {
            assert_eq!(bytes, vec![0xC0, 0x00], "PINGREQ at {t:?}");
        }
        let pings: Vec<u64> = pair
            .events
            .iter()
            .filter(|(_, e)| *e == Event::PingResp)
            .map(|(t, _)| t.as_millis())
            .collect();
        assert_eq!(pings, vec![30_020, 60_020, 90_020]);
        assert!(pair.client.is_connected());
    }
}

#[test]
fn sending_any_packet_restarts_the_keepalive_timer_but_receiving_does_not() {
    // [MQTT-3.1.2-23]: the interval is measured between packets *sent* by the client.
    let mut pair = Pair::v311("ka", true);
    pair.connect(30);
    pair.run_until(at(10_000));
    pair.client
        .publish(pair.now, "t", b"x", QoS::AtMostOnce, false)
        .unwrap();
    pair.run_until(at(15_000));
    // A message from the broker does not count as the client sending.
    pair.broker.deliver("in", b"y", QoS::AtMostOnce);
    pair.run_until(at(45_000));
    assert_eq!(send_times(&pair, 3), vec![10_000]);
    assert_eq!(send_times(&pair, 12), vec![40_000]);
    assert_eq!(pair.client_messages().len(), 1);
}

#[test]
fn connection_is_lost_exactly_one_and_a_half_keepalive_after_the_last_packet_received() {
    // 3.1.1 §3.1.2.10 (1.5 x Keep Alive, as the seed does): the broker never answers PINGREQ.
    for mut pair in [Pair::v311("silent", false), Pair::v5("silent", false)] {
        pair.broker.script.withhold_pingresp = true;
        pair.connect(30); // CONNACK received at 20
        pair.run_until(at(45_019));
        assert!(pair.client.is_connected());
        assert_eq!(pair.client.poll_timeout(), Some(at(45_020)));
        pair.run_until(at(200_000));
        assert_eq!(send_times(&pair, 12), vec![30_000]);
        assert_eq!(
            pair.events.last(),
            Some(&(
                at(45_020),
                Event::Disconnected {
                    reason: DisconnectReason::KeepAliveTimeout,
                    properties: Default::default(),
                    server_reference: None
                }
            ))
        );
        assert_eq!(pair.client.poll_timeout(), None);
        // Nothing but CONNECT and one PINGREQ was ever sent (no DISCONNECT after a timeout).
        assert_eq!(pair.client_sent.len(), 2);
    }
}

#[test]
fn any_packet_received_postpones_the_loss_of_the_connection() {
    // 3.1.1 §3.1.2.10: the timeout counts from the last packet received.
    let mut pair = Pair::v311("silent", false);
    pair.broker.script.withhold_pingresp = true;
    pair.connect(30);
    pair.run_until(at(40_000));
    pair.broker.deliver("in", b"y", QoS::AtMostOnce); // arrives at 40_010
    pair.run_until(at(200_000));
    assert_eq!(
        pair.events.last(),
        Some(&(
            at(85_010),
            Event::Disconnected {
                reason: DisconnectReason::KeepAliveTimeout,
                properties: Default::default(),
                server_reference: None
            }
        ))
    );
    assert_eq!(send_times(&pair, 12), vec![30_000, 60_000]);
}

#[test]
fn configured_keepalive_timeout_replaces_one_and_a_half_keepalive() {
    // SessionConfig::keepalive_timeout (3.1.1 §3.1.2.10 "a reasonable amount of time").
    let mut config = SessionConfig::new("kt", true, ProtocolVersion::V311);
    config.keepalive_timeout = Some(Duration::from_millis(40_000));
    let mut pair = Pair::new(config);
    pair.broker.script.withhold_pingresp = true;
    pair.connect(30);
    pair.run_until(at(100_000));
    assert_eq!(send_times(&pair, 12), vec![30_000]);
    assert_eq!(
        pair.events.last(),
        Some(&(
            at(40_020),
            Event::Disconnected {
                reason: DisconnectReason::KeepAliveTimeout,
                properties: Default::default(),
                server_reference: None
            }
        ))
    );
}

#[test]
fn keepalive_zero_runs_no_timer() {
    // [MQTT-3.1.2-10] (3.1.1): a Keep Alive of 0 turns the mechanism off.
    let mut pair = Pair::v311("off", true);
    pair.connect(0);
    assert_eq!(pair.client.poll_timeout(), None);
    pair.run_until(at(10_000_000));
    assert!(send_times(&pair, 12).is_empty());
    assert!(pair.client.is_connected());
}

#[test]
fn v5_server_keep_alive_replaces_ours() {
    // [MQTT-3.2.2-21]: the client uses the Server Keep Alive instead of its own.
    let mut pair = Pair::v5("ska", true);
    pair.broker
        .script
        .connack_properties
        .push(Property::ServerKeepAlive(5))
        .unwrap();
    pair.connect(30);
    pair.run_until(at(16_000));
    assert_eq!(send_times(&pair, 12), vec![5_000, 10_000, 15_000]);

    let mut pair = Pair::v5("ska", true);
    pair.broker
        .script
        .connack_properties
        .push(Property::ServerKeepAlive(5))
        .unwrap();
    pair.broker.script.withhold_pingresp = true;
    pair.connect(30);
    pair.run_until(at(60_000));
    assert_eq!(send_times(&pair, 12), vec![5_000]);
    assert_eq!(
        pair.events.last(),
        Some(&(
            at(7_520),
            Event::Disconnected {
                reason: DisconnectReason::KeepAliveTimeout,
                properties: Default::default(),
                server_reference: None
            }
        ))
    );
}

#[test]
fn v5_assigned_client_identifier_is_used_from_then_on() {
    // 5.0 §3.2.2.3.7: an empty client id gets one from the server; the Session reuses it.
    let mut pair = Pair::v5("", true);
    pair.broker
        .script
        .connack_properties
        .push(Property::AssignedClientIdentifier("srv-42"))
        .unwrap();
    pair.connect(30);
    assert!(pair.client.is_connected());
    assert_eq!(pair.client.config().client_id, "srv-42");
    pair.drop_connection();
    pair.reconnect(30);
    let connects = pair.broker.received_packets("CONNECT");
    let ids: Vec<&str> = connects
        .iter()
        .map(|p| match p {
            Packet::Connect(c) => c.client_id,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ids, vec!["", "srv-42"]);
}

#[test]
fn v5_server_disconnect_ends_the_connection_with_its_reason() {
    // 5.0 §3.14: the server may send DISCONNECT with a reason code.
    let mut pair = Pair::v5("bye", true);
    pair.connect(30);
    pair.broker
        .disconnect_client(ReasonCode::ServerShuttingDown);
    pair.drive();
    assert_eq!(
        pair.events.last(),
        Some(&(
            at(30),
            Event::Disconnected {
                reason: DisconnectReason::Remote(ReasonCode::ServerShuttingDown),
                properties: Default::default(),
                server_reference: None
            }
        ))
    );
    assert_eq!(
        pair.client_sent.len(),
        1,
        "no answer to a server DISCONNECT"
    );
}

// ------------------------------------------------------------------ disconnect()

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn disconnect_sends_disconnect_and_emits_local() {
    // [MQTT-3.14.4-1]/[MQTT-3.14.4-2]: DISCONNECT is the last packet on the connection
    // (the broker then discards the will [MQTT-3.14.4-3]).
    for (mut pair, reason, bytes) in [
        (
            Pair::v311("bye", true),
            ReasonCode::NORMAL_DISCONNECTION,
            vec![0xE0, 0x00],
        ),
        // 3.1.1 has no reason code: any reason is sent as the plain DISCONNECT.
        (
            Pair::v311("bye", true),
            ReasonCode::DisconnectWithWillMessage,
            vec![0xE0, 0x00],
        ),
        (
            Pair::v5("bye", true),
            ReasonCode::NORMAL_DISCONNECTION,
            vec![0xE0, 0x00],
        ),
        (
            Pair::v5("bye", true),
            ReasonCode::DisconnectWithWillMessage,
            vec![0xE0, 0x01, 0x04],
        ),
    ] {
        pair.connect(30);
        pair.run_until(at(1_000));
        pair.client.disconnect(pair.now, reason);
        pair.drive();
        assert_eq!(pair.client_sent.last(), Some(&(at(1_000), bytes)));
        assert_eq!(
            pair.events.last(),
            Some(&(
                at(1_000),
                Event::Disconnected {
                    reason: DisconnectReason::Local,
                    properties: Default::default(),
                    server_reference: None
                }
            ))
        );
        assert_eq!(pair.client.state(), SessionState::Disconnected);
        assert_eq!(pair.client.poll_timeout(), None);
        // No more packets on this connection: a publish is only queued.
        let n = pair.client_sent.len();
        pair.client
            .publish(pair.now, "t", b"x", QoS::AtLeastOnce, false)
            .unwrap();
        pair.run_until(at(100_000));
        assert_eq!(pair.client_sent.len(), n);
        assert_eq!(pair.client.queued_len(), 1);
        // A second disconnect is a no-op.
        pair.client.disconnect(pair.now, reason);
        pair.drive();
        assert_eq!(pair.client_sent.len(), n);
    }
}

// ------------------------------------------------------------------ time

#[test]
fn time_going_backwards_is_clamped_to_the_latest_seen() {
    // DESIGN §1: an older `now` counts as the latest seen; nothing underflows.
    let mut d = Direct::v311("clock", true);
    d.at(10_000).start(30);
    // CONNACK "at 5 s": the clock stays at 10 s.
    d.at(5_000).feed(&[0x20, 0x02, 0x00, 0x00]);
    assert!(d.session.is_connected());
    assert_eq!(d.session.poll_timeout(), Some(at(40_000)));
    d.at(0).timeout();
    assert!(d.take_sent().is_empty());
    // A publish handed out "at 1 s" counts as sent at 10 s.
    d.at(1_000).publish("t", b"x", QoS::AtMostOnce);
    assert_eq!(d.take_sent().len(), 1);
    assert_eq!(d.session.poll_timeout(), Some(at(40_000)));
    d.at(40_000).timeout();
    assert_eq!(d.take_sent(), vec![vec![0xC0, 0x00]]);
    // PINGRESP "at 20 s" is received at 40 s: the silence deadline is 40 + 45 s.
    d.at(20_000).feed(&[0xD0, 0x00]);
    assert_eq!(d.session.poll_timeout(), Some(at(70_000)));
    d.at(70_000).timeout();
    assert_eq!(
        d.take_sent(),
        vec![vec![0xC0, 0x00]],
        "second PINGREQ at 70 s"
    );
    assert!(d.session.is_connected());
}

#[test]
fn handle_timeout_early_or_twice_is_a_no_op() {
    // DESIGN §1 (quinn, str0m): early or repeated timeouts change nothing.
    let mut d = Direct::v311("early", true);
    d.connect(30, false);
    d.take_sent();
    d.take_events();
    assert_eq!(d.session.poll_timeout(), Some(at(30_000)));
    d.at(29_999).timeout();
    assert!(d.take_sent().is_empty());
    assert_eq!(d.session.poll_timeout(), Some(at(30_000)));
    d.at(30_000);
    d.session.handle_timeout(d.now);
    d.session.handle_timeout(d.now);
    assert_eq!(
        d.take_sent(),
        vec![vec![0xC0, 0x00]],
        "one PINGREQ for two calls"
    );
    d.timeout();
    assert!(d.take_sent().is_empty());
    // Silence counted from CONNACK at 0.
    assert_eq!(d.session.poll_timeout(), Some(at(45_000)));
    d.at(45_000).timeout();
    d.timeout();
    d.at(46_000).timeout();
    assert_eq!(
        d.take_events(),
        vec![Event::Disconnected {
            reason: DisconnectReason::KeepAliveTimeout,
            properties: Default::default(),
            server_reference: None
        }]
    );
    assert!(d.take_sent().is_empty());
}

// ------------------------------------------------------------------ Input/Output façade

#[derive(Clone, Debug, PartialEq)]
enum Out {
    Bytes(Vec<u8>),
    Event(Event),
    Timeout(Option<Instant>),
}

enum Step {
    Connect(u64),
    Read(u64, Vec<u8>),
    Timeout(u64),
    Closed(u64),
    Publish(u64, QoS),
}

fn facade_script(v: ProtocolVersion) -> Vec<Step> {
    let connack = encode(
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }),
        v,
    );
    let mut tail = encode(Packet::PingResp, v);
    tail.extend(encode(
        Packet::Publish(mqtt_sansio_proto::Publish::new(
            mqtt_sansio_proto::TopicName::new("in").unwrap(),
            b"hello",
            mqtt_sansio_proto::QosPid::AtLeastOnce(support::pid(9)),
        )),
        v,
    ));
    let puback = encode(
        Packet::PubAck(mqtt_sansio_proto::Ack::new(support::pid(1))),
        v,
    );
    vec![
        Step::Connect(0),
        Step::Timeout(5),
        Step::Read(10, connack),
        Step::Publish(100, QoS::AtLeastOnce),
        Step::Publish(100, QoS::ExactlyOnce),
        Step::Read(150, puback),
        Step::Timeout(10_100),
        Step::Read(10_120, tail),
        Step::Timeout(25_000),
        Step::Closed(25_001),
        Step::Connect(26_000),
        Step::Timeout(56_000),
    ]
}

fn run_methods(v: ProtocolVersion) -> Vec<Out> {
    let mut s = Session::new(SessionConfig::new("facade", false, v));
    let mut trace = Vec::new();
    for step in facade_script(v) {
        let now = match step {
            Step::Connect(t) => {
                s.connect(at(t), &ConnectOptions::new(10)).unwrap();
                t
            }
            Step::Read(t, ref b) => {
                s.handle_read(at(t), b);
                t
            }
            Step::Timeout(t) => {
                s.handle_timeout(at(t));
                t
            }
            Step::Closed(t) => {
                s.handle_closed(at(t));
                t
            }
            Step::Publish(t, q) => {
                s.publish(at(t), "out", b"p", q, false).unwrap();
                t
            }
        };
        loop {
            let mut buf = Vec::new();
            if s.poll_transmit(at(now), &mut buf).is_none() {
                break;
            }
            trace.push(Out::Bytes(buf));
        }
        while let Some(e) = s.poll_event() {
            trace.push(Out::Event(e));
        }
        trace.push(Out::Timeout(s.poll_timeout()));
    }
    trace
}

fn run_facade(v: ProtocolVersion) -> Vec<Out> {
    let mut s = Session::new(SessionConfig::new("facade", false, v));
    let mut trace = Vec::new();
    for step in facade_script(v) {
        let now = match step {
            Step::Connect(t) => {
                s.connect(at(t), &ConnectOptions::new(10)).unwrap();
                t
            }
            Step::Read(t, ref b) => {
                s.handle_input(Input::Read(at(t), b));
                t
            }
            Step::Timeout(t) => {
                s.handle_input(Input::Timeout(at(t)));
                t
            }
            Step::Closed(t) => {
                s.handle_input(Input::Closed(at(t)));
                t
            }
            Step::Publish(t, q) => {
                s.publish(at(t), "out", b"p", q, false).unwrap();
                t
            }
        };
        let mut buf = Vec::new();
        loop {
            match s.poll_output(at(now), &mut buf) {
                Output::Transmit(n) => {
                    assert_eq!(n, buf.len());
                    trace.push(Out::Bytes(std::mem::take(&mut buf)));
                }
                Output::Event(e) => trace.push(Out::Event(e)),
                Output::Timeout(t) => {
                    trace.push(Out::Timeout(t));
                    break;
                }
            }
        }
    }
    trace
}

#[test]
fn input_output_facade_is_equivalent_to_the_methods() {
    // DESIGN §2: handle_input/poll_output are a façade over the same machinery.
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let methods = run_methods(v);
        let facade = run_facade(v);
        assert_eq!(methods, facade);
        // The script exercised every kind of output.
        assert!(methods
            .iter()
            .any(|o| matches!(o, Out::Event(Event::Message(_)))));
        assert!(methods
            .iter()
            .any(|o| matches!(o, Out::Event(Event::PubAck { .. }))));
        assert!(methods.contains(&Out::Bytes(vec![0xC0, 0x00])));
        assert!(methods
            .iter()
            .any(|o| matches!(o, Out::Event(Event::Disconnected { .. }))));
        assert!(methods.iter().any(|o| *o == Out::Timeout(None)));
    }
}

#[test]
fn v5_disconnect_packet_type_from_server_is_a_violation_in_v311() {
    // 3.1.1 §2.2.1: DISCONNECT flows only from client to server.
    let mut d = Direct::v311("d", true);
    d.connect(30, false);
    d.take_events();
    d.feed(&encode(
        Packet::Disconnect(Disconnect {
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }),
        ProtocolVersion::V311,
    ));
    let events = d.take_events();
    let [Event::Disconnected {
        reason: DisconnectReason::Protocol(e),
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.rule.v311(), Some("3.1.1 §2.2.1"));
}

#[test]
fn v5_connack_properties_apply_only_to_their_connection() {
    // 5.0 §3.2.2.3: CONNACK properties describe the current connection; a new CONNECT starts
    // from the defaults again (here: Maximum QoS 1 on the first, none on the second).
    let mut pair = Pair::v5("mq", false);
    let mut props = PropertiesBuf::new();
    props.push(Property::MaximumQoS(1)).unwrap();
    pair.broker.script.connack_properties = props;
    pair.connect(30);
    assert_eq!(
        pair.client
            .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false),
        Err(mqtt_sansio_session::PublishError::QosNotSupported {
            max: QoS::AtLeastOnce
        })
    );
    pair.drop_connection();
    pair.broker.script.connack_properties = PropertiesBuf::new();
    pair.reconnect(30);
    assert!(pair
        .client
        .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false)
        .unwrap()
        .is_some());
}

/// After a CONNACK or keepalive timeout the transport is as good as dead: packets still
/// queued (here the CONNECT itself, and a PINGREQ) are dropped instead of being handed out
/// after `Disconnected`.
#[test]
fn nothing_is_handed_out_after_a_timeout_ends_the_connection() {
    use mqtt_sansio_session::{ConnectOptions, DisconnectReason, Instant, Session, SessionConfig};
    let mut s = Session::new(SessionConfig::new(
        "t",
        true,
        mqtt_sansio_proto::ProtocolVersion::V311,
    ));
    s.connect(Instant::from_millis(0), &ConnectOptions::new(10))
        .unwrap();
    // CONNECT never handed out; the CONNACK timeout (30 s) passes.
    s.handle_timeout(Instant::from_millis(30_000));
    let mut out = Vec::new();
    assert_eq!(
        s.poll_transmit(Instant::from_millis(30_000), &mut out),
        None
    );
    assert_eq!(
        s.poll_event(),
        Some(mqtt_sansio_session::Event::Disconnected {
            reason: DisconnectReason::ConnAckTimeout,
            properties: Default::default(),
            server_reference: None
        })
    );

    // Keepalive: connected, then silence; the PINGREQ queued at 10 s is never handed out.
    let mut s = Session::new(SessionConfig::new(
        "t",
        true,
        mqtt_sansio_proto::ProtocolVersion::V311,
    ));
    s.connect(Instant::from_millis(0), &ConnectOptions::new(10))
        .unwrap();
    while s.poll_transmit(Instant::from_millis(0), &mut out).is_some() {}
    s.handle_read(Instant::from_millis(0), &[0x20, 0x02, 0x00, 0x00]);
    s.handle_timeout(Instant::from_millis(10_000)); // PINGREQ queued, not taken
    s.handle_timeout(Instant::from_millis(15_000)); // silence: 1.5 x keepalive
    out.clear();
    assert_eq!(
        s.poll_transmit(Instant::from_millis(15_000), &mut out),
        None
    );
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| matches!(
        e,
        mqtt_sansio_session::Event::Disconnected {
            reason: DisconnectReason::KeepAliveTimeout,
            ..
        }
    )));
}
