//! What a client layer above the Session needs from it (issue 10): the session-lost event
//! reaches a callback through [`Command::SessionLost`]; every QoS 2 message a fresh broker
//! session can no longer confirm fails on its own id (SPEC "Exactly once, bounded": "session
//! lost, unconfirmed"); a message the broker answers with an error DISCONNECT is named by
//! `rejected_candidate` and can be abandoned with the broker's reason (SPEC "Exactly once,
//! bounded": a message the broker keeps rejecting fails after a bounded number of attempts);
//! a publish never sent can be cancelled; a local close reports the application's reason.
mod support;

use mqtt_proto::QoS;
use mqtt_session::{Command, DisconnectReason, Dispatcher, Event, PublishFailure, SessionState};
use support::Pair;

/// A v5 pair with one confirmed subscription and one QoS 1 message the broker never
/// acknowledged, reconnected to a broker that lost the session.
fn session_lost_pair() -> Pair {
    let mut pair = Pair::v5("lost", false);
    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    pair.client
        .publish(pair.now, "t", b"m", QoS::AtLeastOnce, false)
        .unwrap();
    pair.drive();
    pair.drop_connection();
    pair.broker.script.withhold_pub_acks = false;
    pair.broker.script.lose_session = true;
    pair.reconnect(0);
    pair
}

#[test]
fn a_dispatcher_handler_for_session_lost_runs() {
    let pair = session_lost_pair();
    let lost: Vec<Event> = pair
        .all_events()
        .into_iter()
        .filter(|e| matches!(e, Event::SessionLost { .. }))
        .collect();
    assert_eq!(lost.len(), 1, "{:?}", pair.all_events());

    let mut d: Dispatcher<&'static str> = Dispatcher::new();
    d.on(Command::Disconnect, "disconnect", None, 0);
    d.on(Command::SessionLost, "session lost", None, 0);
    let mut ran = Vec::new();
    for e in pair.all_events() {
        d.dispatch(&e, |h, e| {
            ran.push((*h, e.clone()));
            Ok::<(), ()>(())
        })
        .unwrap();
    }
    let ran_for_loss: Vec<_> = ran.iter().filter(|(h, _)| *h == "session lost").collect();
    assert_eq!(ran_for_loss.len(), 1, "{ran:?}");
    assert_eq!(ran_for_loss[0].1, lost[0]);
    assert_eq!(lost[0].command(), Some(Command::SessionLost));
}

#[test]
fn each_unconfirmed_qos2_message_fails_on_its_own_id_before_session_lost() {
    // SPEC "Exactly once, bounded": QoS 2 messages already PUBREC'd cannot be confirmed by a
    // fresh broker session; their completions fail with "session lost, unconfirmed".
    let mut pair = Pair::v5("unconfirmed", false);
    pair.connect(0);
    pair.broker.script.withhold_pubcomp = true;
    let a = pair
        .client
        .publish(pair.now, "q2/a", b"A", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    let b = pair
        .client
        .publish(pair.now, "q2/b", b"B", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert!(pair.has_event(|e| matches!(e, Event::PubRec { id, .. } if *id == b)));
    // Not PUBREC'd: sent again as a new message, so it must not fail.
    pair.broker.script.withhold_pub_acks = true;
    let c = pair
        .client
        .publish(pair.now, "q2/c", b"C", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.drop_connection();
    let from = pair.events.len();
    pair.broker.script = Default::default();
    pair.broker.script.lose_session = true;
    pair.reconnect(0);

    let events = pair.events_since(from);
    let failed: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::PublishFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        vec![
            &Event::PublishFailed {
                id: Some(a),
                qos: QoS::ExactlyOnce,
                reason: PublishFailure::Unconfirmed
            },
            &Event::PublishFailed {
                id: Some(b),
                qos: QoS::ExactlyOnce,
                reason: PublishFailure::Unconfirmed
            },
        ]
    );
    let lost = events
        .iter()
        .position(|e| matches!(e, Event::SessionLost { .. }))
        .expect("SessionLost");
    assert_eq!(
        events[lost],
        Event::SessionLost {
            resent: 1,
            unconfirmed: 2,
            released: 0
        }
    );
    let last_failed = events
        .iter()
        .rposition(|e| matches!(e, Event::PublishFailed { .. }))
        .unwrap();
    assert!(last_failed < lost, "PublishFailed comes before SessionLost");
    // A failure stands in for PUBCOMP, so a PUBCOMP callback hears of it.
    assert_eq!(failed[0].command(), Some(Command::PubComp));
    assert!(!pair.client.is_packet_id_in_use(a));
    assert!(!pair.client.is_packet_id_in_use(b));
    // The one without PUBREC completes normally on the new session.
    assert!(pair.has_event(|e| matches!(e, Event::PubComp { id, .. } if *id == c)));
    assert!(PublishFailure::Unconfirmed.reason_code().is_error());
}

#[test]
fn close_for_a_reconnect_reports_the_application_reason_and_sends_nothing() {
    let mut pair = Pair::v5("close", false);
    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    let kept = pair
        .client
        .publish(pair.now, "t", b"kept", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    // Queued for the transport but not yet taken: dropped with the connection.
    pair.client
        .publish(pair.now, "t", b"unsent", QoS::AtMostOnce, false)
        .unwrap();
    assert!(pair.client.pending_transmit_bytes() > 0);
    let sent = pair.client_sent.len();
    let from = pair.events.len();

    pair.client
        .close(pair.now, DisconnectReason::ReconnectRequested);
    pair.flush_client();
    assert_eq!(pair.client_sent.len(), sent, "no DISCONNECT, nothing else");
    assert_eq!(pair.client.pending_transmit_bytes(), 0);
    assert_eq!(pair.client.state(), SessionState::Disconnected);
    assert_eq!(
        pair.events_since(from),
        vec![Event::Disconnected {
            reason: DisconnectReason::ReconnectRequested,
            server_reference: None,
            properties: Default::default(),
        }]
    );
    // Once only: a second close (or the transport's close) is a no-op.
    pair.client
        .close(pair.now, DisconnectReason::ReconnectRequested);
    pair.client.handle_closed(pair.now);
    pair.flush_client();
    assert_eq!(pair.events.len(), from + 1);

    // The unacknowledged message survived for the next connection.
    pair.broker.script.withhold_pub_acks = false;
    pair.reconnect(0);
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == kept)));
    assert!(pair.broker.accepted.iter().all(|m| m.payload != b"unsent"));
}

#[test]
fn handle_closed_still_reports_the_transport() {
    let mut pair = Pair::v5("closed", true);
    pair.connect(0);
    let from = pair.events.len();
    pair.drop_connection();
    assert!(matches!(
        pair.events_since(from).as_slice(),
        [Event::Disconnected {
            reason: DisconnectReason::TransportClosed,
            ..
        }]
    ));
}
