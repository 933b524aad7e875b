//! Task "TLS with a client certificate", async client (issue 16; tests/tasks.rs counts its
//! lines and runs it against mosquitto with a generated CA and client certificate).

mod support;

use mqtt_sansio::{AsyncClient, QoS, TlsConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ca, cert, key) = support::tls_files();
    let tls = TlsConfig::with_ca_file(ca)?.client_cert_files(cert, key)?;
    let options = support::options().tls(tls);
    let client = AsyncClient::connect_in_background("localhost", 60, options)?;
    smol::block_on(async {
        let ack = client
            .publish("tasks/tls", b"hi", QoS::AtLeastOnce, false)?
            .await?;
        println!("published over TLS: {ack:?}");
        client.disconnect().await;
        Ok(())
    })
}
