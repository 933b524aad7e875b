//! The blocking client with a session store (issue 12), in process: what a previous process
//! left in the store is sent when the client connects (the store given to `connect` or to
//! the constructor), and a store of another client is refused at connect.

use std::sync::mpsc;
use std::time::Duration;

use mqtt_sansio_client::mqtt_sansio_session::store::StoreError;
use mqtt_sansio_client::{FileStore, Fsync};
use mqtt_sansio_mio::{Client, ClientError, ClientOptions, Event};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{Instant, Session, SessionConfig};
use mqtt_test_broker::{Broker, BrokerConfig};

/// What a process killed before it could connect left in its store.
fn leave_in_store(path: &std::path::Path, id: &str) {
    let store = FileStore::open(path, Fsync::EveryRecord).unwrap();
    let config = SessionConfig::new(id, false, ProtocolVersion::V311);
    let mut session = Session::with_store(config, Box::new(store)).unwrap();
    for (payload, qos) in [(&b"one"[..], QoS::AtLeastOnce), (b"two", QoS::ExactlyOnce)] {
        session
            .publish(Instant::ZERO, "store/mio", payload, qos, false)
            .unwrap();
    }
}

#[test]
fn a_store_given_to_connect_is_resumed() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mio.store");
    leave_in_store(&path, "mio-store");

    let watcher = Client::new("mio-store-watcher", true);
    watcher
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .unwrap();
    let (tx, got) = mpsc::channel();
    watcher.loop_start(Some(move |_: &Client, event: &Event| {
        if let Some(m) = event.message() {
            let _ = tx.send((m.payload().to_vec(), m.qos));
        }
        Ok(())
    }));
    let (subscribed, suback) = mpsc::channel();
    watcher.on(mqtt_sansio_mio::Command::SubAck, move |_, _| {
        Ok(subscribed.send(())?)
    });
    watcher
        .subscribe(&[("store/mio", QoS::ExactlyOnce)])
        .unwrap();
    suback.recv_timeout(Duration::from_secs(10)).unwrap();

    let client = Client::new("mio-store", false);
    let options = ClientOptions::new()
        .port(broker.port())
        .session_store(FileStore::open(&path, Fsync::PerWake).unwrap());
    client.connect(broker.host(), 30, options).unwrap();
    let mut messages: Vec<_> = (0..2)
        .map(|_| got.recv_timeout(Duration::from_secs(10)).unwrap())
        .collect();
    messages.sort();
    assert_eq!(
        messages,
        vec![
            (b"one".to_vec(), QoS::AtLeastOnce),
            (b"two".to_vec(), QoS::ExactlyOnce)
        ]
    );
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while client.pending_messages() > 0 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    client.disconnect();
    watcher.disconnect();
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert_eq!(store.live_records(), 0, "both completed in the store");
}

#[test]
fn mqtt_connection_takes_the_store_and_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conn.store");
    leave_in_store(&path, "conn-owner");
    let theirs = ClientOptions::new()
        .client_id("conn-other")
        .clean_start(false)
        .session_store(FileStore::open(&path, Fsync::PerWake).unwrap());
    let err = mqtt_sansio_mio::MqttConnection::with_options(theirs).unwrap_err();
    assert!(
        matches!(err, ClientError::Store(StoreError::OtherClient { .. })),
        "{err:?}"
    );
    let ours = ClientOptions::new()
        .client_id("conn-owner")
        .clean_start(false)
        .session_store(FileStore::open(&path, Fsync::PerWake).unwrap());
    let conn = mqtt_sansio_mio::MqttConnection::with_options(ours).unwrap();
    assert_eq!(
        conn.core().session().inflight_len(),
        2,
        "both messages restored"
    );
}

#[test]
fn a_store_of_another_client_is_refused_at_connect() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.store");
    leave_in_store(&path, "owner");
    let client = Client::with_options(
        ClientOptions::new()
            .client_id("not-the-owner")
            .clean_start(false)
            .host(broker.host())
            .port(broker.port())
            .session_store(FileStore::open(&path, Fsync::PerWake).unwrap()),
    );
    let err = client.connect_configured().unwrap_err();
    assert!(
        matches!(
            &err,
            ClientError::Store(StoreError::OtherClient { stored, configured })
                if stored == "owner" && configured == "not-the-owner"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("owner"), "{err}");
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert_eq!(
        store.live_records(),
        2,
        "nothing of the owner's was touched"
    );
}
