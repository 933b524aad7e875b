//! Task "survive a broker restart, tell the app", blocking client (issue 16; tests/tasks.rs
//! counts its lines and restarts mosquitto under it).

mod support;

use std::time::Duration;

use mqtt_sansio::{Client, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new("task-restart-blocking", false);
    client.connect("localhost", 60, support::options())?;
    let mut count = 0;
    for event in client.events(Duration::from_secs(60)) {
        match event {
            Event::Connected { .. } => {
                count += 1;
                println!("connection {count}, resumed: {}", client.session_present());
            }
            Event::Disconnected { reason, .. } => println!("connection lost: {reason:?}"),
            _ => {}
        }
        if count == 2 {
            break;
        }
    }
    client.disconnect();
    Ok(())
}
