//! Task "5.0 request/response", async client (issue 16; tests/tasks.rs counts its lines and
//! runs it against mosquitto with a responder that answers in upper case).

mod support;

use mqtt_sansio::{AsyncClient, ProtocolVersion};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = support::options().protocol(ProtocolVersion::V5);
    let client = AsyncClient::connect_in_background("localhost", 60, options)?;
    smol::block_on(async {
        for word in ["hello", "world"] {
            let reply = client
                .request("tasks/upper", word.as_bytes(), support::TIMEOUT)
                .await?;
            println!("{word} -> {:?}", reply.payload_str());
        }
        client.disconnect().await;
        Ok(())
    })
}
