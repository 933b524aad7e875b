//! Task "survive a broker restart, tell the app", async client (issue 16; tests/tasks.rs
//! counts its lines and restarts mosquitto under it).

mod support;

use futures_lite::StreamExt;
use mqtt_sansio::{AsyncClient, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect("localhost", 60, support::options()).await?;
        smol::spawn(driver).detach();
        let mut events = client.events();
        let mut count = 0;
        while let Some(event) = events.next().await {
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
        client.disconnect().await;
        Ok(())
    })
}
