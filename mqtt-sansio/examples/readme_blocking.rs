// The README's blocking example, verbatim: tests/readme.rs checks that and runs it.

use std::sync::mpsc;
use std::time::Duration;

use mqtt_sansio::{Client, ClientOptions, Command, Event, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The broker: localhost, on MQTT_PORT or 1883.
    let port = std::env::var("MQTT_PORT").map_or(Ok(1883), |p| p.parse())?;
    let options = ClientOptions::new()
        .will_message("readme/status", b"offline", QoS::AtLeastOnce, false)
        .port(port);

    let client = Client::new("readme-blocking", true);
    client.connect("localhost", 60, options)?; // blocks until CONNACK

    // Every application message once, whatever its QoS: QoS 0 and 1 on PUBLISH,
    // QoS 2 on PUBREL (the seed's rule: released, so exactly once).
    let (received, messages) = mpsc::channel();
    client.loop_start(Some(move |_: &Client, event: &Event| {
        if let Some(m) = event.message() {
            received.send(format!("{} = {:?}", m.topic(), m.payload_str()))?;
        }
        Ok(())
    }));

    let (subscribed, suback) = mpsc::channel();
    client.on(Command::SubAck, move |_, _| Ok(subscribed.send(())?));
    client.subscribe(&[("readme/blocking/#", QoS::ExactlyOnce)])?;
    suback.recv_timeout(Duration::from_secs(5))?;

    let ack = client.publish_and_wait(
        "readme/blocking/hello",
        b"hi",
        QoS::ExactlyOnce,
        false,
        Duration::from_secs(5),
    )?;
    println!("published, broker answered {ack:?}");
    println!(
        "received {}",
        messages.recv_timeout(Duration::from_secs(5))?
    );

    client.disconnect(); // writes what is queued, then DISCONNECT: no will
    Ok(())
}
