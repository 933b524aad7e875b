//! Task "1,000 QoS 1 publishes, each ack known", blocking client (issue 16; tests/tasks.rs
//! counts its lines and runs it against mosquitto).

mod support;

use mqtt_sansio::{Client, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::new("task-publish-blocking", true);
    client.connect("localhost", 60, support::options())?;
    let mut handles = Vec::new();
    for i in 0..1000 {
        let p = format!("message {i}");
        handles.push(client.publish_handle("tasks/pub", p.as_bytes(), QoS::AtLeastOnce, false)?);
    }
    for handle in &handles {
        let ack = handle.wait(support::TIMEOUT)?;
        println!("packet {:?} acknowledged: {ack:?}", handle.packet_id());
    }
    println!("all {} acknowledged", handles.len());
    client.disconnect();
    Ok(())
}
