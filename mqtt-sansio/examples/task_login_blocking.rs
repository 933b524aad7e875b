//! Task "subscribe with will and login, receive 10 messages", blocking client (issue 16;
//! tests/tasks.rs counts its lines and runs it against mosquitto with a password file).

mod support;

use mqtt_sansio::{Client, QoS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (user, password) = support::login();
    let client = Client::new("task-login-blocking", true);
    client.set_will("tasks/status", b"offline", QoS::AtLeastOnce, false);
    client.set_username_pw(&user, Some(password.as_bytes()));
    client.connect("localhost", 60, support::options())?;
    client.subscribe(&[("tasks/login/#", QoS::AtLeastOnce)])?;
    let messages = client
        .events(support::TIMEOUT)
        .filter_map(|e| e.message().cloned());
    for m in messages.take(10) {
        println!("received {} = {:?}", m.topic(), m.payload_str());
    }
    client.disconnect();
    Ok(())
}
