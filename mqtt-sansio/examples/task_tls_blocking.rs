//! Task "TLS with a client certificate", blocking client (issue 16; tests/tasks.rs counts its
//! lines and runs it against mosquitto with a generated CA and client certificate).

mod support;

use mqtt_sansio::{Client, QoS, TlsConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ca, cert, key) = support::tls_files();
    let tls = TlsConfig::with_ca_file(ca)?.client_cert_files(cert, key)?;
    let client = Client::new("task-tls-blocking", true);
    client.connect("localhost", 60, support::options().tls(tls))?;
    let token = client.publish_tracked("tasks/tls", b"hi", QoS::AtLeastOnce, false)?;
    let ack = client.wait_publish(token, support::TIMEOUT)?;
    println!("published over TLS: {ack:?}");
    client.disconnect();
    Ok(())
}
