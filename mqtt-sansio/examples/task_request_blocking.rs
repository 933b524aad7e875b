//! Task "5.0 request/response", blocking client (issue 16; tests/tasks.rs counts its lines and
//! runs it against mosquitto with a responder that answers in upper case).

mod support;

use mqtt_sansio::{Client, ProtocolVersion};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = support::options().protocol(ProtocolVersion::V5);
    let client = Client::with_options(options.client_id("task-request-blocking"));
    client.connect_configured()?;
    for word in ["hello", "world"] {
        let reply = client.request("tasks/upper", word.as_bytes(), support::TIMEOUT)?;
        println!("{word} -> {:?}", reply.payload_str());
    }
    client.disconnect();
    Ok(())
}
