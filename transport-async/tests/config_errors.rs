//! A bad client id is a typed configuration error found before any socket is opened
//! (issue 11 item 3), not an I/O error: the client is pointed at a loopback port where
//! nothing listens, so a check made only after dialing would report the refusal instead.

use std::net::TcpListener;

use mqtt_sansio_async::{AsyncClient, ClientError, ClientOptions};
use mqtt_sansio_session::ConnectError;

/// A loopback port that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    port
}

#[test]
fn connect_refuses_an_empty_persistent_3_1_1_id_before_dialing() {
    // [MQTT-3.1.3-7] (3.1.1): an empty client id needs Clean Session = 1.
    let options = ClientOptions::new()
        .client_id("")
        .clean_start(false)
        .port(closed_port());
    let result = smol::block_on(AsyncClient::connect("127.0.0.1", 60, options));
    match result {
        Err(ClientError::Connect(ConnectError::EmptyClientIdRequiresCleanSession)) => {}
        Err(other) => panic!("expected the id error, got {other:?}"),
        Ok(_) => panic!("connected with an invalid id"),
    }
}
