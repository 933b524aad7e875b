// The README's "Messages that survive the process" example: a job worker whose session lives
// in a file and who acknowledges a job only when it is done. `mqtt-sansio/tests/readme.rs`
// checks the README shows it verbatim; `tests/readme_durable.rs` runs it against mosquitto.

use std::time::Duration;

use mqtt_sansio::{Client, ClientOptions, Event, FileStore, Fsync, QoS, QueuePolicy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::var("MQTT_PORT").map_or(Ok(1883), |p| p.parse())?;
    let file = std::env::temp_dir().join("readme-durable.session");
    let client = Client::with_options(
        ClientOptions::new()
            .server("localhost", port)
            .client_id("readme-durable")
            .clean_start(false) // the broker keeps the session too
            .session_expiry(3600)
            // Unfinished flows survive a crash: a worker started again with this file resends
            // them with their packet ids, and never sees a QoS 2 job twice.
            .session_store(FileStore::open(&file, Fsync::PerWake)?)
            // A job is acknowledged when `ack` says so, not when it arrives: if the worker
            // dies first, the broker hands it out again. At most 8 unacknowledged at a time.
            .manual_acks(8)
            // Offline, up to 100 messages or 64 KiB wait; past that, QoS 0 ones go first.
            .max_queued(100)
            .max_queued_bytes(64 * 1024)
            .queue_policy(QueuePolicy::DropOldestQos0),
    );
    client.connect_configured()?;
    client.subscribe(&[("jobs/#", QoS::ExactlyOnce)])?;
    client.publish("jobs/resize", b"photo 17", QoS::ExactlyOnce, false)?;

    let job = client
        .events(Duration::from_secs(5))
        .find_map(|event| match event {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .ok_or("no job within 5 s")?;
    println!("doing {}: {:?}", job.topic(), job.payload_str());
    client.ack(&job)?; // done: only now does its PUBREC go out
    client.disconnect();
    Ok(())
}
