//! What a client layer above the Session needs from it (issue 10): the session-lost event
//! reaches a callback through [`Command::SessionLost`]; every QoS 2 message a fresh broker
//! session can no longer confirm fails on its own id (SPEC "Exactly once, bounded": "session
//! lost, unconfirmed"); a message the broker answers with an error DISCONNECT is named by
//! `rejected_candidate` and can be abandoned with the broker's reason (SPEC "Exactly once,
//! bounded": a message the broker keeps rejecting fails after a bounded number of attempts);
//! a publish never sent can be cancelled; a local close reports the application's reason.
// Helpers of the tests that need the offline queue are unused without it.
#![cfg_attr(not(feature = "offline-queue"), allow(dead_code, unused_imports))]
mod support;

use mqtt_sansio_proto::{Ack, Packet, PacketId, ProtocolVersion, QoS, ReasonCode};
use mqtt_sansio_session::{
    CancelError, Command, DisconnectReason, Dispatcher, Event, PublishFailure, SessionConfig,
    SessionState,
};
use support::Pair;

/// A connected v5 pair whose broker withholds PUBACK/PUBREC, with `n` QoS 1 messages sent.
fn unacknowledged(client_id: &str, n: usize) -> (Pair, Vec<PacketId>) {
    let mut pair = Pair::v5(client_id, false);
    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    let ids = (0..n)
        .map(|i| {
            pair.client
                .publish(
                    pair.now,
                    "t",
                    format!("m{i}").as_bytes(),
                    QoS::AtLeastOnce,
                    false,
                )
                .unwrap()
                .unwrap()
        })
        .collect();
    pair.drive();
    (pair, ids)
}

/// The broker acknowledges `acked` and then sends DISCONNECT `reason`, in one read.
fn ack_then_disconnect(pair: &mut Pair, acked: &[Packet<'_>], reason: ReasonCode) {
    for p in acked {
        pair.broker.send_packet(p.clone());
    }
    pair.broker.disconnect_client(reason);
    let reads = pair.reads.len();
    pair.drive();
    assert_eq!(
        pair.reads.len(),
        reads + 1,
        "acks and DISCONNECT in one read"
    );
    assert_eq!(pair.client.state(), SessionState::Disconnected);
}

fn failed(pair: &Pair, id: PacketId) -> Vec<PublishFailure> {
    pair.all_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PublishFailed {
                id: Some(i),
                reason,
                ..
            } if i == id => Some(reason),
            _ => None,
        })
        .collect()
}

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

#[test]
fn rejected_candidate_is_the_oldest_sent_unacknowledged_message_after_an_error_disconnect() {
    // SPEC "Exactly once, bounded": a DISCONNECT right after a message is a rejection of it.
    // The broker acks in order, so the acks before its DISCONNECT (same read) settle the
    // earlier messages and the candidate is the first one left.
    let (mut pair, ids) = unacknowledged("candidate", 3);
    assert_eq!(pair.client.rejected_candidate(), None);
    ack_then_disconnect(
        &mut pair,
        &[Packet::PubAck(Ack::new(ids[0]))],
        ReasonCode::TopicAliasInvalid,
    );
    assert_eq!(
        pair.client.rejected_candidate(),
        Some((ids[1], ReasonCode::TopicAliasInvalid))
    );
    // Valid until the next connect.
    pair.broker.script.withhold_pub_acks = false;
    pair.reconnect(0);
    assert_eq!(pair.client.rejected_candidate(), None);

    // QoS 2: a PUBREC'd message is past rejection (PUBREL goes out next); the candidate is
    // the next one still awaiting its PUBREC.
    pair.broker.script.withhold_pubcomp = true;
    let x = pair
        .client
        .publish(pair.now, "t", b"x", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.broker.script.withhold_pub_acks = true;
    let y = pair
        .client
        .publish(pair.now, "t", b"y", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert!(pair.has_event(|e| matches!(e, Event::PubRec { id, .. } if *id == x)));
    ack_then_disconnect(&mut pair, &[], ReasonCode::PayloadFormatInvalid);
    assert_eq!(
        pair.client.rejected_candidate(),
        Some((y, ReasonCode::PayloadFormatInvalid))
    );
}

#[test]
fn no_rejected_candidate_without_an_error_disconnect() {
    // A normal DISCONNECT (0x00 < 0x80) is no verdict on a message.
    let (mut pair, ids) = unacknowledged("no-candidate", 2);
    ack_then_disconnect(&mut pair, &[], ReasonCode::NORMAL_DISCONNECTION);
    assert_eq!(pair.client.rejected_candidate(), None);
    // Everything acknowledged before the error DISCONNECT: nothing to blame.
    pair.reconnect(0);
    let acks: Vec<Packet<'_>> = ids.iter().map(|&id| Packet::PubAck(Ack::new(id))).collect();
    ack_then_disconnect(&mut pair, &acks, ReasonCode::ImplementationSpecificError);
    assert_eq!(pair.client.rejected_candidate(), None);
    // A transport close is none either.
    pair.reconnect(0);
    pair.client
        .publish(pair.now, "t", b"z", QoS::AtLeastOnce, false)
        .unwrap();
    pair.drive();
    pair.drop_connection();
    assert_eq!(pair.client.rejected_candidate(), None);
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn abandon_frees_the_id_and_later_messages_flow() {
    let mut config = SessionConfig::new("abandon", false, ProtocolVersion::V5);
    config.max_inflight = 1;
    let mut pair = Pair::new(config);
    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    let poison = pair
        .client
        .publish(pair.now, "t", b"poison", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    // Behind the full window.
    let next = pair
        .client
        .publish(pair.now, "t", b"next", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    ack_then_disconnect(&mut pair, &[], ReasonCode::TopicAliasInvalid);
    let (id, reason) = pair.client.rejected_candidate().unwrap();
    assert_eq!(id, poison);

    assert!(pair.client.abandon_publish(pair.now, id, reason));
    pair.flush_client();
    assert_eq!(
        failed(&pair, poison),
        vec![PublishFailure::Rejected {
            reason: ReasonCode::TopicAliasInvalid
        }]
    );
    assert_eq!(
        PublishFailure::Rejected { reason }.reason_code(),
        ReasonCode::TopicAliasInvalid
    );
    assert!(!pair.client.is_packet_id_in_use(poison));
    assert_eq!(pair.client.rejected_candidate(), None);
    assert_eq!(pair.client.inflight_len() + pair.client.queued_len(), 1);
    // Once only.
    assert!(!pair.client.abandon_publish(pair.now, poison, reason));

    pair.broker.script.withhold_pub_acks = false;
    let sent = pair.broker.received("PUBLISH").len();
    pair.reconnect(0);
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == next)));
    let resent = pair.broker.received_packets("PUBLISH");
    let resent_ids: Vec<_> = resent[sent..]
        .iter()
        .map(|p| match p {
            Packet::Publish(p) => p.qos.packet_id(),
            _ => None,
        })
        .collect();
    assert_eq!(
        resent_ids,
        vec![Some(next)],
        "the abandoned one is never resent"
    );
    let later = pair
        .client
        .publish(pair.now, "t", b"later", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == later)));
    assert_eq!(pair.client.packet_ids_in_use(), 0);
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn abandon_takes_queued_messages_and_never_one_past_pubrec() {
    let mut pair = Pair::v5("abandon-q2", false);
    // Queued while disconnected: never sent, its id free at once.
    let queued = pair
        .client
        .publish(pair.now, "t", b"q", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    assert!(pair
        .client
        .abandon_publish(pair.now, queued, ReasonCode::QuotaExceeded));
    pair.flush_client();
    assert_eq!(
        failed(&pair, queued),
        vec![PublishFailure::Rejected {
            reason: ReasonCode::QuotaExceeded
        }]
    );
    assert_eq!(pair.client.queued_len(), 0);
    assert!(!pair.client.is_packet_id_in_use(queued));

    pair.connect(0);
    pair.broker.script.withhold_pubcomp = true;
    let released = pair
        .client
        .publish(pair.now, "t", b"r", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.broker.script.withhold_pub_acks = true;
    let sent = pair
        .client
        .publish(pair.now, "t", b"s", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    pair.drop_connection();
    // PUBREL went out: the broker holds the message, it must be completed.
    assert!(!pair
        .client
        .abandon_publish(pair.now, released, ReasonCode::QuotaExceeded));
    assert!(failed(&pair, released).is_empty());
    // A QoS 2 PUBLISH the broker's session may hold: failed, but its id stays reserved until
    // that session ends, so a new message under it is not taken for a duplicate.
    assert!(pair
        .client
        .abandon_publish(pair.now, sent, ReasonCode::QuotaExceeded));
    assert!(pair.client.is_packet_id_in_use(sent));
    pair.broker.script = Default::default();
    pair.broker.script.lose_session = true;
    pair.reconnect(0);
    assert!(!pair.client.is_packet_id_in_use(sent));
    assert!(!pair
        .client
        .abandon_publish(pair.now, sent, ReasonCode::QuotaExceeded));
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn cancel_takes_back_queued_and_unsent_messages_only() {
    let mut config = SessionConfig::new("cancel", false, ProtocolVersion::V5);
    config.max_inflight = 1;
    let mut pair = Pair::new(config);
    // Queued while disconnected.
    let offline = pair
        .client
        .publish(pair.now, "t", b"offline", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert_eq!(pair.client.cancel_publish(pair.now, offline), Ok(()));
    pair.flush_client();
    assert_eq!(failed(&pair, offline), vec![PublishFailure::Cancelled]);
    assert!(!pair.client.is_packet_id_in_use(offline));
    assert_eq!(
        pair.client.cancel_publish(pair.now, offline),
        Err(CancelError::NotFound)
    );

    pair.connect(0);
    pair.broker.script.withhold_pub_acks = true;
    let in_flight = pair
        .client
        .publish(pair.now, "t", b"in flight", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    // Behind the full window: not sent yet.
    let behind = pair
        .client
        .publish(pair.now, "t", b"behind", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    let after = pair
        .client
        .publish(pair.now, "t", b"after", QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    assert_eq!(
        pair.client.cancel_publish(pair.now, in_flight),
        Err(CancelError::AlreadySent)
    );
    assert_eq!(pair.client.cancel_publish(pair.now, behind), Ok(()));
    pair.flush_client();
    assert_eq!(failed(&pair, behind), vec![PublishFailure::Cancelled]);
    assert!(failed(&pair, in_flight).is_empty());

    // Sent on a connection whose broker session is then lost: it may have been delivered,
    // so it stays AlreadySent although it is sent again "as new".
    pair.drop_connection();
    assert_eq!(
        pair.client.cancel_publish(pair.now, in_flight),
        Err(CancelError::AlreadySent)
    );
    pair.broker.script = Default::default();
    pair.broker.script.lose_session = true;
    pair.reconnect(0);
    assert!(pair.has_event(|e| matches!(e, Event::PubComp { id, .. } if *id == in_flight)));
    assert!(pair.has_event(|e| matches!(e, Event::PubAck { id, .. } if *id == after)));
    assert!(
        pair.broker.accepted.iter().all(|m| m.payload != b"behind"),
        "the cancelled message never reached the broker"
    );
    assert_eq!(
        pair.client.cancel_publish(pair.now, after),
        Err(CancelError::NotFound),
        "completed"
    );
    assert_eq!(pair.client.packet_ids_in_use(), 0);
}

#[test]
fn an_error_ack_ends_the_flow_without_a_candidate() {
    // SPEC "Exactly once, bounded", the other half of the rule: a reason code >= 0x80 on
    // PUBACK / PUBREC (5.0 §4.3.2, §4.3.3) is the broker's verdict at once; the message is
    // not resent and the id is free. A DISCONNECT after it blames nothing already settled.
    let (mut pair, ids) = unacknowledged("error-ack", 1);
    pair.broker.script.withhold_pub_acks = true;
    let q2 = pair
        .client
        .publish(pair.now, "t", b"q2", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    pair.drive();
    let nack = |id| Ack {
        packet_id: id,
        reason: ReasonCode::QuotaExceeded,
        properties: mqtt_sansio_proto::Properties::EMPTY,
    };
    ack_then_disconnect(
        &mut pair,
        &[Packet::PubAck(nack(ids[0])), Packet::PubRec(nack(q2))],
        ReasonCode::UnspecifiedError,
    );
    assert!(pair.has_event(|e| matches!(
        e,
        Event::PubAck { id, reason: ReasonCode::QuotaExceeded, .. } if *id == ids[0]
    )));
    assert!(pair.has_event(|e| matches!(
        e,
        Event::PubRec { id, reason: ReasonCode::QuotaExceeded, .. } if *id == q2
    )));
    assert_eq!(pair.client.inflight_len(), 0);
    assert_eq!(pair.client.packet_ids_in_use(), 0);
    assert_eq!(pair.client.rejected_candidate(), None);
    assert!(!pair
        .client
        .abandon_publish(pair.now, q2, ReasonCode::QuotaExceeded));
}
