//! Task "route messages by topic to handlers", blocking client (issue 16; tests/tasks.rs
//! counts its lines and runs it against mosquitto). Every QoS reaches its handler once,
//! QoS 2 on release; the first registered of two matching filters wins.

mod support;

use std::sync::mpsc;

use mqtt_sansio::{Client, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new("task-route-blocking", true);
    client.connect("localhost", 60, support::options())?;
    let (tx, routed) = mpsc::channel();
    for (filter, name) in [
        ("route/+/temp", "temperature"),
        ("route/+/hum", "humidity"),
        ("route/#", "other"),
    ] {
        let tx = tx.clone();
        client.on_topic(filter, move |_, m| Ok(tx.send(format!("{name}: {m:?}"))?))?;
    }
    client.start_loop();
    client.subscribe(&[("route/#", QoS::ExactlyOnce)])?;
    for line in routed.iter().take(6) {
        println!("{line}");
    }
    client.disconnect();
    Ok(())
}
