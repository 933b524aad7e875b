//! A bad client id is a typed configuration error found before any socket is opened
//! (issue 11 item 3), not an I/O error. Each test points the client at a loopback port where
//! nothing listens: if the id were checked only after dialing, the error would be the
//! connection refusal (`ClientError::Io`) instead.

use std::net::TcpListener;

use mio::{Poll, Token};
use mqtt_sansio_mio::{Client, ClientError, ClientOptions, MqttConnection};
use mqtt_sansio_proto::ProtocolVersion;
use mqtt_sansio_session::{ConnectError, SessionConfig};

/// A loopback port that nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    port
}

#[test]
fn client_refuses_an_empty_persistent_3_1_1_id_before_dialing() {
    // [MQTT-3.1.3-7] (3.1.1): an empty client id needs Clean Session = 1.
    let client = Client::new("", false);
    let port = closed_port();
    let err = client
        .connect("127.0.0.1", 30, ClientOptions::new().port(port))
        .expect_err("an empty persistent 3.1.1 id is refused");
    assert!(
        matches!(
            err,
            ClientError::Connect(ConnectError::EmptyClientIdRequiresCleanSession)
        ),
        "expected the id error, got {err:?}"
    );
    assert!(!client.is_connected());
}

#[test]
fn connection_refuses_an_empty_persistent_3_1_1_id_before_and_at_open() {
    // [MQTT-3.1.3-7] (3.1.1).
    let mut conn = MqttConnection::new(SessionConfig::new("", false, ProtocolVersion::V311));
    assert_eq!(
        conn.validate(),
        Err(ConnectError::EmptyClientIdRequiresCleanSession)
    );
    // A caller that skips `validate` still gets the typed error, before the stream is used.
    let poll = Poll::new().expect("poll");
    let addr = format!("127.0.0.1:{}", closed_port()).parse().unwrap();
    let tcp = mio::net::TcpStream::connect(addr).expect("non-blocking connect starts");
    let err = conn
        .open(poll.registry(), Token(1), tcp, "127.0.0.1")
        .expect_err("open refuses the id");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ConnectError>())
        .copied();
    assert_eq!(inner, Some(ConnectError::EmptyClientIdRequiresCleanSession));
    assert!(!conn.is_open());
}

#[test]
fn an_empty_persistent_5_0_id_is_valid() {
    // 5.0 drops [MQTT-3.1.3-7]: the broker assigns an id and may keep the session.
    let conn = MqttConnection::new(SessionConfig::new("", false, ProtocolVersion::V5));
    assert_eq!(conn.validate(), Ok(()));
}

/// A tracked publish made before any socket is queued, and `cancel` takes it back: its
/// completion fails with `Cancelled` (issue 10: a queued publish not yet sent can be
/// cancelled). An untracked publish leaves no completion behind.
#[test]
fn connection_cancels_a_queued_tracked_publish() {
    use mqtt_sansio_mio::{Completion, Failure, OutgoingPublish, QoS};
    let mut conn =
        MqttConnection::with_options(mqtt_sansio_mio::ClientOptions::new().client_id("cancel-me"))
            .expect("valid options");
    conn.publish("t/untracked", b"0", QoS::AtLeastOnce, false)
        .expect("queued offline");
    let token = conn
        .publish_tracked(&OutgoingPublish::new("t/x", b"1", QoS::AtLeastOnce, false))
        .expect("queued offline");
    assert!(token.packet_id().is_some());
    conn.cancel(token).expect("not sent yet");
    assert_eq!(
        conn.poll_completion(),
        Some((token, Completion::Failed(Failure::Cancelled)))
    );
    assert_eq!(conn.poll_completion(), None);
    assert!(matches!(conn.cancel(token), Err(ClientError::Cancel(_))));
}
