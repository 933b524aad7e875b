// The README's async example, verbatim: tests/readme.rs checks that and runs it.

use futures_lite::StreamExt;
use mqtt_sansio::{AsyncClient, ClientOptions, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The broker: localhost, on MQTT_PORT or 1883.
    let port = std::env::var("MQTT_PORT").map_or(Ok(1883), |p| p.parse())?;
    let options = ClientOptions::new()
        .will_message("readme/status", b"offline", QoS::AtLeastOnce, false)
        .port(port);

    smol::block_on(async {
        let options = options.client_id("readme-async").clean_start(true);
        let (client, driver) = AsyncClient::connect("localhost", 60, options).await?;
        let driver = smol::spawn(driver); // the connection's I/O, on any executor
        let mut events = client.events();

        client
            .subscribe(&[("readme/async/#", QoS::ExactlyOnce)])?
            .await?;
        let ack = client
            .publish("readme/async/hello", b"hi", QoS::ExactlyOnce, false)?
            .await?;
        println!("published, broker answered {ack:?}");
        while let Some(event) = events.next().await {
            if let Some(m) = event.message() {
                println!("received {} = {:?}", m.topic(), m.payload_str());
                break;
            }
        }

        client.disconnect().await; // writes what is queued, then DISCONNECT: no will
        driver.await?;
        Ok(())
    })
}
