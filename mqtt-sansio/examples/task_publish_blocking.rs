//! Task "1,000 QoS 1 publishes, each ack known", blocking client (issue 16; tests/tasks.rs
//! counts its lines and runs it against mosquitto).

mod support;

use mqtt_sansio::{Client, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new("task-publish-blocking", true);
    client.connect("localhost", 60, support::options())?;
    let mut tokens = Vec::new();
    for i in 0..1000 {
        let p = format!("message {i}");
        tokens.push(client.publish_tracked("tasks/pub", p.as_bytes(), QoS::AtLeastOnce, false)?);
    }
    for token in &tokens {
        let ack = client.wait_publish(*token, support::TIMEOUT)?;
        println!("packet {:?} acknowledged: {ack:?}", token.packet_id());
    }
    println!("all {} acknowledged", tokens.len());
    client.disconnect();
    Ok(())
}
