//! The offline queue's policies reach the client's completions (issue 12): a QoS 1/2
//! publish whose 5.0 Message Expiry Interval passes while the client is offline fails with
//! `Dropped(Expired)` at its expiry (the core wakes for it although no connection timer
//! runs), and is never sent; one that has not expired goes out when the client is back.

mod support;

use std::time::Duration;

use mqtt_sansio_client::{Completion, Failure, OutgoingPublish};
use mqtt_sansio_proto::{PropertiesBuf, Property, ProtocolVersion, QoS};
use mqtt_sansio_session::PublishFailure;
use support::{options, Harness, Script};

fn expiring<'a>(topic: &'a str, props: &'a PropertiesBuf, qos: QoS) -> OutgoingPublish<'a> {
    let mut p = OutgoingPublish::new(topic, b"payload", qos, false);
    p.properties = props.as_properties();
    p
}

#[test]
fn a_publish_that_expires_offline_fails_at_its_expiry_and_is_never_sent() {
    let mut h = Harness::new(options(ProtocolVersion::V5), Script::default());
    h.broker.script.version = ProtocolVersion::V5;
    h.start();
    // The broker goes away and stays away for a while.
    h.refuse_dial = true;
    h.kill();
    let mut short = PropertiesBuf::new();
    short.push(Property::MessageExpiryInterval(3)).unwrap();
    let mut long = PropertiesBuf::new();
    long.push(Property::MessageExpiryInterval(600)).unwrap();
    let published_at = h.now;
    let gone = h
        .core
        .publish(h.now, &expiring("offline/short", &short, QoS::AtLeastOnce))
        .unwrap();
    let kept = h
        .core
        .publish(h.now, &expiring("offline/long", &long, QoS::ExactlyOnce))
        .unwrap();
    h.step();
    assert_eq!(
        h.core
            .poll_timeout()
            .map(|t| t <= published_at.saturating_add(Duration::from_secs(3))),
        Some(true),
        "the core wakes for the expiry"
    );
    h.run_until(published_at.saturating_add(Duration::from_secs(3)));
    assert!(
        matches!(
            h.completion(gone),
            Some(Completion::Failed(Failure::Dropped(
                PublishFailure::Expired
            )))
        ),
        "{:?}",
        h.completions
    );
    assert_eq!(h.completion(kept), None);

    // Back online 10 s after the publish: the survivor goes out.
    h.run_until(published_at.saturating_add(Duration::from_secs(10)));
    h.refuse_dial = false;
    h.run_for(Duration::from_secs(120));
    assert!(h.core.is_connected());
    assert_eq!(
        h.seen_publishes("offline/short"),
        0,
        "an expired message is never sent"
    );
    assert_eq!(h.seen_publishes("offline/long"), 1);
    assert!(matches!(h.completion(kept), Some(Completion::Published(_))));
}
