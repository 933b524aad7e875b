//! The seed library's example, in Rust: connect with a will, register a specific callback
//! and a generic one, start the loop, subscribe, publish at QoS 0, 1 and 2, and disconnect.
//!
//! ```text
//! cargo run -p mqtt-sansio-mio --example quickstart                      # mosquitto or in-process
//! cargo run -p mqtt-sansio-mio --example quickstart -- --host test.mosquitto.org --port 1883
//! ```
//!
//! With no `--host` it starts mosquitto on 127.0.0.1 when it is installed, else an in-process
//! broker (the `rumqttd` crate), so it works on a fresh machine; it prints which one.
//! It exits by itself.

use std::error::Error;
use std::sync::mpsc;
use std::time::Duration;

use mqtt_sansio_mio::{Client, ClientOptions, Command, Event, QoS};
use mqtt_test_broker::demo::delivered_qos_note;

fn main() -> Result<(), Box<dyn Error>> {
    // mosquitto when it is installed, else an in-process broker; `--host H --port P` overrides.
    let broker = mqtt_test_broker::demo::DemoBroker::from_args()?;
    println!("running against {broker}");
    let (host, port) = (broker.host().to_owned(), broker.port());

    // client = Client("quickstart", clean_session=True)
    let client = Client::new("quickstart", true);
    // client.set_will("quickstart/status", "offline", qos=1, retain=False)
    client.set_will("quickstart/status", b"offline", QoS::AtLeastOnce, false);

    // client.connect(host, keepalive=30, port=port)
    let session_present = client.connect(&host, 30, ClientOptions::new().port(port))?;
    println!("connected to {host}:{port} (session present: {session_present})");

    let (done_tx, done_rx) = mpsc::channel::<String>();

    // A specific PUBLISH callback: runs only when its condition is true.
    // client.on(PUBLISH, on_cool, condition=is_cool, priority=1)
    let tx = done_tx.clone();
    client.on_if(
        Command::Publish,
        move |_client, event| {
            if let Some(m) = event.message() {
                println!(
                    "  [specific] something cool on {}: {:?}",
                    m.topic(),
                    m.payload_str()
                );
                tx.send(m.payload_str().unwrap_or_default().to_string())?;
            }
            Ok(())
        },
        |event| event.message().is_some_and(|m| m.payload() == b"cool"),
        1,
    );

    // A generic callback for SUBACK: runs for every SUBACK no specific callback took.
    // client.on(SUBACK, on_suback)
    let (suback_tx, suback_rx) = mpsc::channel();
    client.on(Command::SubAck, move |_client, event| {
        if let Event::SubAck { id, results, .. } = event {
            println!("  [generic] SUBACK for mid {id}: granted {results:?}");
            suback_tx.send(*id)?;
        }
        Ok(())
    });

    // PUBACK / PUBCOMP carry the mid returned by publish().
    client.on(Command::PubAck, |_c, e| {
        println!(
            "  [generic] PUBACK for mid {:?}",
            e.packet_id().map(|m| m.get())
        );
        Ok(())
    });
    client.on(Command::PubComp, |_c, e| {
        println!(
            "  [generic] PUBCOMP for mid {:?}",
            e.packet_id().map(|m| m.get())
        );
        Ok(())
    });

    // client.loop(on_message): every application message once, whatever its QoS.
    let tx = done_tx.clone();
    client.loop_start(Some(move |_client: &Client, event: &Event| {
        if let Some(m) = event.message() {
            println!(
                "  [on_message] {} = {:?} (QoS {})",
                m.topic(),
                m.payload_str(),
                m.qos.as_u8()
            );
            if let Some(note) = delivered_qos_note(published_qos(m.payload()), m.qos) {
                println!("  {note}");
            }
            tx.send(m.payload_str().unwrap_or_default().to_string())?;
        }
        Ok(())
    }));

    // mid = client.subscribe([("quickstart/greetings", 1), ("quickstart/exact", 2)])
    let mid = client.subscribe(&[
        ("quickstart/greetings", QoS::AtLeastOnce),
        ("quickstart/exact", QoS::ExactlyOnce),
    ])?;
    println!("subscribe -> mid {mid}");
    // Publish once the broker confirmed the subscription (its SUBACK callback said so).
    while suback_rx.recv_timeout(Duration::from_secs(10))? != mid {}

    // QoS 0 and 1 arrive on PUBLISH: "cool" is taken by the specific callback, the other by
    // on_message. The QoS 2 message arrives once, on PUBREL (the seed's rule).
    let mut tokens = Vec::new();
    for (topic, payload, qos) in [
        ("quickstart/greetings", "hello at QoS 0", QoS::AtMostOnce),
        ("quickstart/greetings", "cool", QoS::AtLeastOnce),
        (
            "quickstart/exact",
            "exactly once at QoS 2",
            QoS::ExactlyOnce,
        ),
    ] {
        // publish() returns the mid; publish_tracked() also keeps the completion to wait on.
        let token = client.publish_tracked(topic, payload.as_bytes(), qos, false)?;
        println!(
            "publish {payload:?} at QoS {} -> mid {:?}",
            qos.as_u8(),
            token.packet_id().map(|m| m.get())
        );
        tokens.push(token);
    }

    // Wait until the three messages came back through the broker.
    let mut received = Vec::new();
    while received.len() < 3 {
        match done_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(payload) => received.push(payload),
            Err(_) => {
                return Err(format!(
                    "only {} of 3 messages came back: {received:?}",
                    received.len()
                )
                .into())
            }
        }
    }
    received.sort();
    println!("received all three: {received:?}");
    // Every publish completed (PUBACK / PUBCOMP, with the broker's reason code).
    for token in tokens {
        let outcome = client.wait_publish(token, Duration::from_secs(10))?;
        println!(
            "mid {:?} completed: {outcome:?}",
            token.packet_id().map(|m| m.get())
        );
    }

    // client.disconnect(): DISCONNECT is sent, so the broker discards the will.
    client.disconnect();
    for failure in client.take_callback_failures() {
        println!("callback failure: {failure:?}");
    }
    println!("disconnected");
    Ok(())
}

/// The QoS this example published each payload with, to flag a broker's upgrade on delivery.
fn published_qos(payload: &[u8]) -> QoS {
    match payload {
        b"hello at QoS 0" => QoS::AtMostOnce,
        b"cool" => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}
