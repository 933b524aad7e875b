//! Task "1,000 QoS 1 publishes, each ack known", async client (issue 16; tests/tasks.rs
//! counts its lines and runs it against mosquitto).

mod support;

use mqtt_sansio::{AsyncClient, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect("localhost", 60, support::options()).await?;
        smol::spawn(driver).detach();
        let mut handles = Vec::new();
        for i in 0..1000 {
            let p = format!("message {i}");
            handles.push(client.publish("tasks/pub", p.as_bytes(), QoS::AtLeastOnce, false)?);
        }
        let count = handles.len();
        for handle in handles {
            let id = handle.packet_id();
            println!("packet {id:?} acknowledged: {:?}", handle.await?);
        }
        println!("all {count} acknowledged");
        client.disconnect().await;
        Ok(())
    })
}
