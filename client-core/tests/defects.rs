//! The core logic behind each defect of issue 10, checked deterministically against a
//! scripted broker on a fake clock.

mod support;

use std::time::Duration;

use mqtt_sansio_client::{
    CancelError, ClientState, CommandError, Completion, DisconnectRequest, Failure,
    OutgoingPublish, PublishOutcome, StopReason, SubscribeProperties, HIGH_WATER,
};
use mqtt_sansio_proto::{ProtocolVersion, QoS, ReasonCode, Subscription, TopicFilter};
use mqtt_sansio_session::{Backoff, Command, DisconnectReason, Event, PublishError};
use support::{options, Harness, Script, Seen};

fn publish(h: &mut Harness, topic: &str, qos: QoS) -> mqtt_sansio_client::Token {
    let t = h
        .core
        .publish(h.now, &OutgoingPublish::new(topic, b"payload", qos, false))
        .unwrap();
    h.step();
    t
}

fn connected(version: ProtocolVersion) -> Harness {
    let mut h = Harness::new(options(version), Script::default());
    h.broker.script.version = version;
    let start = h.start();
    assert!(matches!(
        h.completion(start),
        Some(Completion::Connected(_))
    ));
    assert_eq!(h.core.state(), ClientState::Connected);
    h
}

// ---------------------------------------------------------------- defect 1

/// SPEC "Exactly once, bounded": a QoS 2 message the broker received (PUBREC) but a fresh
/// broker session can no longer complete must not be sent again (it could be delivered
/// twice), and its completion fails at once instead of never. A QoS 1 message is sent again
/// and keeps waiting.
#[test]
fn qos2_token_fails_with_session_lost_on_a_fresh_session() {
    let mut h = connected(ProtocolVersion::V311);
    h.broker.script.send_pubcomp = false;
    let q2 = publish(&mut h, "a/q2", QoS::ExactlyOnce);
    assert!(h
        .broker
        .seen
        .contains(&Seen::PubRel(q2.packet_id().unwrap().get())));
    h.broker.script.ack_publishes = false;
    let q1 = publish(&mut h, "a/q1", QoS::AtLeastOnce);
    assert_eq!(h.completion(q2), None, "no PUBCOMP yet");

    // The broker restarts without the session.
    h.kill();
    h.broker.script.session_present = false;
    h.broker.script.ack_publishes = true;
    h.broker.script.send_pubcomp = true;
    let before = h.now;
    h.run_for(Duration::from_secs(1));

    assert_eq!(
        h.completion(q2),
        Some(&Completion::Failed(Failure::SessionLost))
    );
    // Within the reconnect delay plus nothing: the failure comes with the CONNACK itself.
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::SessionLost { .. })));
    assert!(h.now.saturating_duration_since(before) <= Duration::from_secs(1));
    // The QoS 1 message was sent again on the new session and acknowledged.
    assert!(matches!(
        h.completion(q1),
        Some(Completion::Published(PublishOutcome::Acknowledged(_)))
    ));
    assert_eq!(h.seen_publishes("a/q2"), 1, "QoS 2 never sent twice");
}

// ---------------------------------------------------------------- defect 2

/// `disconnect()` writes everything queued, QoS 0 included, through a socket that takes
/// 1 KiB per call, and only then DISCONNECT: 200k of 200k arrive.
#[test]
fn disconnect_drains_200k_queued_qos0_before_disconnect() {
    let mut o = options(ProtocolVersion::V311);
    o.session.max_queued = 200_000;
    let mut h = Harness::new(o, Script::default());
    h.write_limit = 1024;
    // Queued while not connected yet: they wait in the Session's queue.
    let payload = [7u8; 64];
    for _ in 0..200_000 {
        h.core
            .publish(
                h.now,
                &OutgoingPublish::new("bulk", &payload, QoS::AtMostOnce, false),
            )
            .unwrap();
    }
    while h.core.poll_completion().is_some() {}
    let _ = h.core.start(h.now);
    h.core.disconnect(h.now, DisconnectRequest::default());
    assert_eq!(h.core.state(), ClientState::Draining);
    h.run_for(Duration::from_secs(5));

    assert_eq!(h.broker.qos0_received, 200_000);
    assert_eq!(
        h.broker.seen.last(),
        Some(&Seen::Disconnect(ReasonCode::NORMAL_DISCONNECTION)),
        "DISCONNECT comes after every message"
    );
    assert_eq!(h.stopped, Some(StopReason::Disconnected));
    assert_eq!(h.core.last_disconnect(), Some(DisconnectReason::Local));
    // After disconnect, commands are refused rather than queued into nowhere.
    assert_eq!(
        h.core
            .publish(
                h.now,
                &OutgoingPublish::new("x", b"", QoS::AtMostOnce, false)
            )
            .unwrap_err(),
        CommandError::Closed
    );
}

/// The drain is bounded: a socket that takes nothing gets DISCONNECT queued at the deadline
/// and is closed a grace period later; the client stops.
#[test]
fn disconnect_stops_at_the_drain_deadline() {
    let mut h = connected(ProtocolVersion::V311);
    let payload = [1u8; 64];
    h.write_limit = 0;
    let mut queued = 0;
    while h
        .core
        .publish(
            h.now,
            &OutgoingPublish::new("bulk", &payload, QoS::AtMostOnce, false),
        )
        .is_ok()
    {
        queued += 1;
    }
    assert!(queued > 100);
    let t0 = h.now;
    h.core.disconnect(
        h.now,
        DisconnectRequest {
            drain: Some(Duration::from_secs(2)),
            ..DisconnectRequest::default()
        },
    );
    assert_eq!(h.core.state(), ClientState::Draining);
    h.run_for(Duration::from_secs(1));
    assert_eq!(h.stopped, None, "still draining before the deadline");
    h.run_for(Duration::from_secs(10));
    assert_eq!(h.stopped, Some(StopReason::Disconnected));
    let took = h.now.saturating_duration_since(t0);
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert_eq!(h.broker.qos0_received, 0);
}

/// 5.0: the DISCONNECT after the drain carries the caller's reason code, and a new Session
/// Expiry Interval is remembered for the next CONNECT [MQTT-3.14.2-2].
#[test]
fn disconnect_sends_the_reason_code_and_properties_in_v5() {
    let mut h = connected(ProtocolVersion::V5);
    h.core.disconnect(
        h.now,
        DisconnectRequest {
            reason: ReasonCode::DisconnectWithWillMessage,
            session_expiry: Some(120),
            ..DisconnectRequest::default()
        },
    );
    h.run_for(Duration::from_secs(1));
    assert_eq!(
        h.broker.seen.last(),
        Some(&Seen::Disconnect(ReasonCode::DisconnectWithWillMessage))
    );
    assert_eq!(h.core.session().config().session_expiry_interval, Some(120));
    assert_eq!(h.stopped, Some(StopReason::Disconnected));
}

// ---------------------------------------------------------------- defect 3

/// SPEC "Exactly once, bounded" ("Subscriptions are restored by default and the application
/// is told"): resubscription on session loss is on by default in the client layer: after a broker
/// restart without the session, the subscriptions are sent again without the application
/// doing anything, and SessionLost is reported.
#[test]
fn resubscribes_by_default_after_session_loss() {
    let mut h = connected(ProtocolVersion::V311);
    let sub = h
        .core
        .subscribe(
            h.now,
            &[Subscription::new(
                TopicFilter::new("s/#").unwrap(),
                QoS::AtLeastOnce,
            )],
            &SubscribeProperties::default(),
        )
        .unwrap();
    h.step();
    match h.completion(sub) {
        Some(Completion::Subscribed(o)) => {
            assert_eq!(o.results.as_slice(), [ReasonCode::GrantedQoS1])
        }
        other => panic!("{other:?}"),
    }
    h.kill();
    h.broker.script.session_present = false;
    h.run_for(Duration::from_secs(1));
    let subscribes: Vec<_> = h
        .broker
        .seen
        .iter()
        .filter(|s| matches!(s, Seen::Subscribe { filters, .. } if filters == &["s/#"]))
        .collect();
    assert_eq!(subscribes.len(), 2, "{:?}", h.broker.seen);
    // The event reaches callbacks too: it has a command a dispatcher can match.
    let lost = h
        .events
        .iter()
        .find(|e| matches!(e, Event::SessionLost { .. }))
        .expect("SessionLost reported");
    assert_eq!(lost.command(), Some(Command::SessionLost));
}

// ---------------------------------------------------------------- defect 4

/// SPEC "Exactly once, bounded": a message the broker answers with an error DISCONNECT (0x94
/// here) on every connection is given up after `max_delivery_attempts` (3) with the broker's reason, instead of being
/// resent forever; the message behind it is then delivered and acknowledged.
#[test]
fn poison_message_fails_after_n_attempts_and_the_next_one_flows() {
    let mut h = connected(ProtocolVersion::V5);
    h.broker.script.session_present = true;
    h.broker.script.disconnect_on_topic =
        Some(("poison".to_string(), ReasonCode::TopicAliasInvalid));
    let poison = publish(&mut h, "poison", QoS::AtLeastOnce);
    let good = publish(&mut h, "good", QoS::AtLeastOnce);
    h.run_for(Duration::from_secs(30));

    assert_eq!(
        h.completion(poison),
        Some(&Completion::Failed(Failure::Rejected {
            reason: ReasonCode::TopicAliasInvalid,
            attempts: 3
        }))
    );
    assert_eq!(h.seen_publishes("poison"), 3, "{:?}", h.broker.seen);
    assert!(matches!(
        h.completion(good),
        Some(Completion::Published(PublishOutcome::Acknowledged(_)))
    ));
    assert_eq!(h.core.state(), ClientState::Connected);
    assert_eq!(
        h.broker.connects, 4,
        "three refused connections, then one that stays"
    );
}

/// A publish queued and never sent can be cancelled: its token fails with Cancelled and the
/// broker never sees it. One already sent cannot be taken back.
#[test]
fn cancel_removes_a_queued_publish_but_not_a_sent_one() {
    let mut h = Harness::new(options(ProtocolVersion::V311), Script::default());
    let queued = h
        .core
        .publish(
            h.now,
            &OutgoingPublish::new("later", b"x", QoS::AtLeastOnce, false),
        )
        .unwrap();
    h.core.cancel(h.now, queued).unwrap();
    h.step();
    assert_eq!(
        h.completion(queued),
        Some(&Completion::Failed(Failure::Cancelled))
    );
    h.start();
    assert_eq!(h.seen_publishes("later"), 0);

    h.broker.script.ack_publishes = false;
    let sent = publish(&mut h, "now", QoS::AtLeastOnce);
    assert_eq!(h.core.cancel(h.now, sent), Err(CancelError::AlreadySent));
    let qos0 = publish(&mut h, "q0", QoS::AtMostOnce);
    assert_eq!(h.core.cancel(h.now, qos0), Err(CancelError::NotFound));
}

// ---------------------------------------------------------------- defect 5

/// A broker that accepts and then drops every connection 10 ms later gets growing delays:
/// the backoff is not reset by a CONNACK, only by a connection that stayed up
/// `stable_after`.
#[test]
fn flapping_peer_backoff_grows_and_resets_only_after_stable_after() {
    let mut o = options(ProtocolVersion::V311);
    o.reconnect.backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
    o.reconnect.stable_after = Some(Duration::from_secs(5));
    let mut h = Harness::new(o, Script::default());
    h.flap_after = Some(Duration::from_millis(10));
    h.start();
    h.run_for(Duration::from_secs(20));
    let gaps: Vec<u64> = h
        .opens
        .windows(2)
        .map(|w| w[1].saturating_duration_since(w[0]).as_millis() as u64)
        .collect();
    assert!(gaps.len() >= 5, "{gaps:?}");
    // Each delay is drawn from [c/2, c] with c doubling: never shorter than the last, and
    // far above the 100 ms minimum after a few flaps.
    for w in gaps.windows(2) {
        assert!(w[1] >= w[0], "{gaps:?}");
    }
    assert!(gaps[5] >= 8 * 50, "{gaps:?}");

    // A connection that stays up 5 s resets the backoff: the next delay is back at the
    // minimum.
    h.flap_after = None;
    let n = h.opens.len();
    h.run_for(Duration::from_secs(60));
    assert_eq!(h.opens.len(), n + 1, "connected once and stayed");
    assert_eq!(h.core.state(), ClientState::Connected);
    h.run_for(Duration::from_secs(6));
    h.kill();
    let dropped = h.now;
    h.run_for(Duration::from_secs(1));
    let gap = h.opens.last().unwrap().saturating_duration_since(dropped);
    assert!(gap <= Duration::from_millis(100), "{gap:?}");
}

fn refused_on_reconnect(version: ProtocolVersion, code: ReasonCode, retry: bool) -> Harness {
    let mut o = options(version);
    o.reconnect.retry_on_auth_refusal = retry;
    let mut h = Harness::new(o, Script::default());
    h.broker.script.version = version;
    h.start();
    assert_eq!(h.core.state(), ClientState::Connected);
    h.broker.script.refuse = Some(code);
    h.kill();
    h.run_for(Duration::from_secs(10));
    h
}

/// CONNACK refusals for credentials or authorization (5.0 0x86 / 0x87, 3.1.1 return codes
/// 4 / 5) do not change by retrying: the client stops instead of hammering the broker.
#[test]
fn auth_refusals_stop_reconnecting() {
    for (version, code) in [
        (ProtocolVersion::V5, ReasonCode::BadUserNameOrPassword),
        (ProtocolVersion::V5, ReasonCode::NotAuthorized),
        (ProtocolVersion::V311, ReasonCode::BadUserNameOrPassword),
        (ProtocolVersion::V311, ReasonCode::NotAuthorized),
    ] {
        let h = refused_on_reconnect(version, code, false);
        assert_eq!(
            h.stopped,
            Some(StopReason::Refused(code)),
            "{version:?} {code:?}"
        );
        assert_eq!(h.broker.connects, 2, "one refused attempt, no more");
    }
    // Opted in: it keeps trying.
    let h = refused_on_reconnect(ProtocolVersion::V5, ReasonCode::NotAuthorized, true);
    assert_eq!(h.stopped, None);
    assert!(h.broker.connects > 3, "{}", h.broker.connects);
    // Other refusals (server busy) are retried by default.
    let h = refused_on_reconnect(ProtocolVersion::V5, ReasonCode::ServerBusy, false);
    assert_eq!(h.stopped, None);
    assert!(h.broker.connects > 3);
}

// ---------------------------------------------------------------- defect 6

/// `reconnect()` closes without DISCONNECT, connects again at once, and `last_disconnect`
/// names the local request rather than a transport failure.
#[test]
fn reconnect_reports_a_local_reason_and_connects_again() {
    let mut h = connected(ProtocolVersion::V311);
    let opens = h.opens.len();
    h.core.reconnect(h.now).unwrap();
    h.step();
    assert_eq!(h.opens.len(), opens + 1, "dialled again without delay");
    assert_eq!(h.core.state(), ClientState::Connected);
    let reason = h.core.last_disconnect().unwrap();
    assert_eq!(reason, DisconnectReason::ReconnectRequested);
    assert!(!h
        .broker
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Disconnect(_))));
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Disconnected { reason: r, .. } if *r == reason)));
}

/// `abort()`: the connection ends without DISCONNECT (a crash, as the broker sees it: it
/// publishes the will) and the client stops; it never dials again, so no new connection
/// under the same id cancels a delayed will [MQTT-3.1.3-9].
#[test]
fn abort_closes_without_disconnect_and_never_dials_again() {
    let mut h = connected(ProtocolVersion::V5);
    let opens = h.opens.len();
    h.core.abort(h.now);
    h.step();
    h.now = h.now.saturating_add(Duration::from_secs(60));
    h.step();
    assert_eq!(h.opens.len(), opens, "no new connection after abort");
    assert_eq!(h.core.state(), ClientState::Stopped);
    assert!(!h
        .broker
        .seen
        .iter()
        .any(|s| matches!(s, Seen::Disconnect(_))));
    assert!(matches!(
        h.core.publish(
            h.now,
            &OutgoingPublish::new("t", b"x", QoS::AtLeastOnce, false)
        ),
        Err(CommandError::Closed)
    ));
}

// ---------------------------------------------------------------- defect 7

/// A steady stream of 200k x 64 B QoS 0 publishes into a socket taking 1 KiB per call:
/// the transmit buffer stays within 2 x 64 KiB plus one packet, and every message arrives.
#[test]
fn tx_buffer_stays_bounded_under_a_qos0_stream() {
    let mut h = connected(ProtocolVersion::V311);
    h.write_limit = 1024;
    let payload = [3u8; 64];
    let mut sent = 0;
    while sent < 200_000 {
        match h.core.publish(
            h.now,
            &OutgoingPublish::new("stream", &payload, QoS::AtMostOnce, false),
        ) {
            Ok(_) => sent += 1,
            Err(CommandError::Publish(PublishError::QueueFull)) => h.step(),
            Err(e) => panic!("{e}"),
        }
        while h.core.poll_completion().is_some() {}
    }
    h.step();
    assert_eq!(h.broker.qos0_received, 200_000);
    let packet = 2 + 2 + "stream".len() + 64;
    assert!(
        h.max_tx_capacity <= 2 * HIGH_WATER + packet,
        "{} > {}",
        h.max_tx_capacity,
        2 * HIGH_WATER + packet
    );
    // The client default keeps the Session's own backlog small too (defect 7).
    assert_eq!(h.core.session().config().max_transmit_bytes, 64 * 1024);
}
