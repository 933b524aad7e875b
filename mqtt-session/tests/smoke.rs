//! Smoke test of the harness: connect, publish at every QoS, receive at every QoS.
mod support;

use mqtt_sansio_proto::{QoS, Subscription, TopicFilter};
use mqtt_sansio_session::Event;
use support::Pair;

#[test]
fn publish_and_receive_every_qos_through_the_sim_broker() {
    for mut pair in [Pair::v311("smoke", true), Pair::v5("smoke", true)] {
        pair.connect(30);
        assert!(pair.client.is_connected(), "{:?}", pair.all_events());
        let sub = Subscription::new(TopicFilter::new("t/#").unwrap(), QoS::ExactlyOnce);
        pair.client.subscribe(pair.now, &[sub]).unwrap();
        pair.drive();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            pair.client
                .publish(pair.now, "t/x", &[qos as u8], qos, false)
                .unwrap();
        }
        pair.drive();
        assert_eq!(pair.broker.accepted.len(), 3);
        let got = pair.client_messages();
        assert_eq!(got.len(), 3, "{:?}", pair.all_events());
        assert_eq!(pair.client.inflight_len(), 0);
        assert_eq!(pair.client.pending_incoming_qos2(), 0);
        assert!(pair
            .all_events()
            .iter()
            .any(|e| matches!(e, Event::PubComp { .. })));
    }
}
