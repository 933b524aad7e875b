//! What a client layer above the Session needs from it (issue 10): the session-lost event
//! reaches a callback through [`Command::SessionLost`]; every QoS 2 message a fresh broker
//! session can no longer confirm fails on its own id (SPEC "Exactly once, bounded": "session
//! lost, unconfirmed"); a message the broker answers with an error DISCONNECT is named by
//! `rejected_candidate` and can be abandoned with the broker's reason (SPEC "Exactly once,
//! bounded": a message the broker keeps rejecting fails after a bounded number of attempts);
//! a publish never sent can be cancelled; a local close reports the application's reason.
mod support;

use mqtt_proto::QoS;
use mqtt_session::{Command, Dispatcher, Event};
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
