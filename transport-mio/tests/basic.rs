//! Smoke test of the blocking client against a real mosquitto broker.
use std::time::Duration;

use mqtt_sansio_mio::{Client, ClientOptions};
use mqtt_sansio_proto::QoS;
use mqtt_sansio_session::Event;
use mqtt_test_broker::{Broker, BrokerConfig};

#[test]
fn pub_sub_round_trip_every_qos() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = Client::new("basic-rt", true);
    let present = client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .expect("connects");
    assert!(!present);
    client.subscribe(&[("rt/#", QoS::ExactlyOnce)]).unwrap();
    // Wait for SUBACK.
    let suback = client
        .events(Duration::from_secs(5))
        .find(|e| matches!(e, Event::SubAck { .. }));
    assert!(suback.is_some());
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client.publish("rt/x", &[qos as u8], qos, false).unwrap();
    }
    let mut got = Vec::new();
    for e in client.events(Duration::from_secs(5)) {
        if let Some(m) = e.message() {
            got.push((m.payload().to_vec(), m.qos));
        }
        if got.len() == 3 {
            break;
        }
    }
    assert_eq!(got.len(), 3, "{}", broker.log());
    client.disconnect();
}
