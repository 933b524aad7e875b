//! Task "route messages by topic to handlers", async client without an executor of its own
//! (issue 16; tests/tasks.rs counts its lines and runs it against mosquitto). Every QoS
//! reaches its handler once, QoS 2 on release; the first registered of two matching filters
//! wins.

mod support;

use std::sync::mpsc;

use mqtt_sansio::{AsyncClient, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = AsyncClient::connect_in_background("localhost", 60, support::options())?;
    let (tx, routed) = mpsc::channel();
    for (filter, name) in [
        ("route/+/temp", "temperature"),
        ("route/+/hum", "humidity"),
        ("route/#", "other"),
    ] {
        let tx = tx.clone();
        client.on_topic(filter, move |_, m| Ok(tx.send(format!("{name}: {m:?}"))?))?;
    }
    smol::block_on(client.subscribe(&[("route/#", QoS::ExactlyOnce)])?)?;
    for line in routed.iter().take(6) {
        println!("{line}");
    }
    smol::block_on(client.disconnect());
    Ok(())
}
