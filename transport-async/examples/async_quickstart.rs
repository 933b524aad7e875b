//! The async client in a few lines: connect with a will, spawn the driver, register a
//! specific and a generic callback, subscribe, publish at QoS 0, 1 and 2 and await the
//! acknowledgements, read the event stream, disconnect. The options are the blocking
//! quickstart's (`transport-mio/examples/quickstart.rs`), in the one `ClientOptions` type
//! both clients take.
//!
//! ```text
//! cargo run -p mqtt-sansio-async --example async_quickstart                      # mosquitto or in-process
//! cargo run -p mqtt-sansio-async --example async_quickstart -- --host test.mosquitto.org --port 1883
//! ```
//!
//! With no `--host` it starts mosquitto on 127.0.0.1 when it is installed, else an in-process
//! broker (the `rumqttd` crate), so it works on a fresh machine; it prints which one.
//! It exits by itself. It runs on smol;
//! any executor works the same way (see the crate documentation for tokio).

use std::error::Error;
use std::time::Duration;

use futures_lite::{future, StreamExt};
use mqtt_sansio_async::{AsyncClient, ClientOptions, Command, Event, QoS};
use mqtt_test_broker::demo::delivered_qos_note;

fn main() -> Result<(), Box<dyn Error>> {
    // mosquitto when it is installed, else an in-process broker; `--host H --port P` overrides.
    let broker = mqtt_test_broker::demo::DemoBroker::from_args()?;
    println!("running against {broker}");
    let (host, port) = (broker.host().to_owned(), broker.port());
    smol::block_on(run(&host, port))
}

async fn run(host: &str, port: u16) -> Result<(), Box<dyn Error>> {
    // The blocking quickstart's options: client id, clean session, the will, the port;
    // keepalive 30 s is connect's argument, as there.
    let options = ClientOptions::new()
        .client_id("async-quickstart")
        .clean_start(true)
        .will_message("quickstart/status", b"offline", QoS::AtLeastOnce, false)
        .port(port);
    let (client, driver) = AsyncClient::connect(host, 30, options).await?;
    println!(
        "connected to {host}:{port} (session present: {})",
        client.session_present()
    );
    // The driver owns the socket; spawn it on the executor.
    let driver = smol::spawn(driver);
    let mut events = client.events();

    // A specific PUBLISH callback (runs only when its condition is true) and a generic one
    // for SUBACK. Callbacks run on the driver's task and may publish.
    client.on_if(
        Command::Publish,
        |_client, event| {
            if let Some(m) = event.message() {
                println!(
                    "  [specific] something cool on {}: {:?}",
                    m.topic(),
                    m.payload_str()
                );
            }
            Ok(())
        },
        |event| event.message().is_some_and(|m| m.payload() == b"cool"),
        1,
    );
    client.on(Command::SubAck, |_client, event| {
        if let Event::SubAck { id, results, .. } = event {
            println!("  [generic] SUBACK for mid {id}: granted {results:?}");
        }
        Ok(())
    });

    let subscribed = client.subscribe(&[
        ("quickstart/greetings", QoS::AtLeastOnce),
        ("quickstart/exact", QoS::ExactlyOnce),
    ])?;
    println!(
        "subscribe -> mid {:?}",
        subscribed.packet_id().map(|m| m.get())
    );
    subscribed.await?;

    for (topic, payload, qos) in [
        ("quickstart/greetings", "hello at QoS 0", QoS::AtMostOnce),
        ("quickstart/greetings", "cool", QoS::AtLeastOnce),
        (
            "quickstart/exact",
            "exactly once at QoS 2",
            QoS::ExactlyOnce,
        ),
    ] {
        let done = client.publish(topic, payload.as_bytes(), qos, false)?;
        println!(
            "publish {payload:?} at QoS {} -> mid {:?}",
            qos.as_u8(),
            done.packet_id().map(|m| m.get())
        );
        // Resolves on PUBACK (QoS 1) or PUBCOMP (QoS 2); at once for QoS 0.
        println!("  acknowledged: {:?}", done.await?);
    }

    // The three messages come back through the broker, on the event stream.
    let mut received = Vec::new();
    let collect = async {
        while received.len() < 3 {
            match events.next().await {
                Some(event) => {
                    if let Some(m) = event.message() {
                        println!(
                            "  [stream] {} = {:?} (QoS {})",
                            m.topic(),
                            m.payload_str(),
                            m.qos.as_u8()
                        );
                        if let Some(note) = delivered_qos_note(published_qos(m.payload()), m.qos) {
                            println!("  {note}");
                        }
                        received.push(m.payload_str().unwrap_or_default().to_string());
                    }
                }
                None => break,
            }
        }
    };
    let timeout = async {
        async_io::Timer::after(Duration::from_secs(10)).await;
    };
    future::or(collect, timeout).await;
    if received.len() < 3 {
        return Err(format!(
            "only {} of 3 messages came back: {received:?}",
            received.len()
        )
        .into());
    }
    received.sort();
    println!("received all three: {received:?}");

    // DISCONNECT: the broker discards the will; the driver ends with Ok.
    client.disconnect().await;
    driver.await?;
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
