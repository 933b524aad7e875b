//! Task "subscribe with will and login, receive 10 messages", async client (issue 16;
//! tests/tasks.rs counts its lines and runs it against mosquitto with a password file).

mod support;

use futures_lite::StreamExt;
use mqtt_sansio::{AsyncClient, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (user, password) = support::login();
    let options = support::options()
        .credentials(&user, password.as_bytes())
        .will_message("tasks/status", b"offline", QoS::AtLeastOnce, false);
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect("localhost", 60, options).await?;
        smol::spawn(driver).detach();
        let events = client.events();
        client
            .subscribe(&[("tasks/login/#", QoS::AtLeastOnce)])?
            .await?;
        let mut messages = events.filter_map(|e| e.message().cloned()).take(10);
        while let Some(m) = messages.next().await {
            println!("received {} = {:?}", m.topic(), m.payload_str());
        }
        client.disconnect().await;
        Ok(())
    })
}
