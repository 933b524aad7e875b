//! TLS that cannot panic (issue 16): this test binary installs no process-wide rustls crypto
//! provider, so a client relying on `ClientConfig::builder()` would panic here. Both clients
//! connect to mosquitto over TLS with a generated CA and a required client certificate, and
//! the process default is still unset afterwards (the clients passed theirs explicitly).
//! Needs mosquitto installed.

use std::time::Duration;

use mqtt_sansio::{AsyncClient, Client, ClientOptions, QoS, TlsConfig};
use mqtt_sansio_client::rustls::crypto::CryptoProvider;
use mqtt_test_broker::{Broker, BrokerConfig};

fn tls_broker() -> (Broker, TlsConfig, u16) {
    let broker =
        Broker::start(BrokerConfig::plain().require_client_certificate()).expect("start mosquitto");
    let ca = broker.ca_cert_pem().expect("CA").as_bytes().to_vec();
    let cert = broker.client_cert().expect("client certificate");
    let tls = TlsConfig::with_ca_pem(&ca)
        .and_then(|t| t.client_cert_pem(cert.cert_pem().as_bytes(), cert.key_pem().as_bytes()))
        .expect("TLS configuration");
    let port = broker.tls_port().expect("TLS port");
    (broker, tls, port)
}

#[test]
fn both_clients_connect_with_a_client_certificate_and_no_default_provider() {
    assert!(
        CryptoProvider::get_default().is_none(),
        "the premise: nothing installed a process-wide provider"
    );
    let (broker, tls, port) = tls_broker();

    let client = Client::new("tls-blocking", true);
    client
        .connect(
            "localhost",
            30,
            ClientOptions::new().port(port).tls(tls.clone()),
        )
        .unwrap_or_else(|e| panic!("blocking TLS connect: {e}\n{}", broker.log()));
    let ack = client
        .publish_and_wait(
            "tls/b",
            b"hi",
            QoS::AtLeastOnce,
            false,
            Duration::from_secs(5),
        )
        .expect("QoS 1 over TLS");
    println!("{ack:?}");
    client.disconnect();

    let client = AsyncClient::connect_in_background(
        "localhost",
        30,
        ClientOptions::new().port(port).tls(tls),
    )
    .unwrap_or_else(|e| panic!("async TLS connect: {e}\n{}", broker.log()));
    futures_lite::future::block_on(async {
        client
            .publish("tls/a", b"hi", QoS::AtLeastOnce, false)
            .expect("publish")
            .await
            .expect("QoS 1 over TLS");
        client.disconnect().await;
    });
    assert!(
        CryptoProvider::get_default().is_none(),
        "a client installed a process-wide provider"
    );
}

#[test]
fn without_the_client_certificate_the_broker_refuses() {
    // The control: the broker really requires the certificate the test above presents.
    let (broker, _, port) = tls_broker();
    let ca = broker.ca_cert_pem().expect("CA").as_bytes().to_vec();
    let tls = TlsConfig::with_ca_pem(&ca).expect("CA");
    let client = Client::new("tls-no-cert", true);
    let options = ClientOptions::new()
        .port(port)
        .tls(tls)
        .connect_timeout(Duration::from_secs(5));
    assert!(client.connect("localhost", 30, options).is_err());
}
