//! The async client with a session store (issue 12): what a previous process left in the
//! store is sent when the client starts, and a store of another client is refused at connect.

use std::time::Duration;

use futures_lite::future;
use futures_lite::StreamExt;
use mqtt_sansio_async::{AsyncClient, ClientError, ClientOptions};
use mqtt_sansio_client::mqtt_sansio_session::store::StoreError;
use mqtt_sansio_client::{FileStore, Fsync};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{Instant, Session, SessionConfig};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

/// What a process killed before it could connect left in its store: one QoS 1 and one
/// QoS 2 message, accepted but never sent.
fn leave_in_store(path: &std::path::Path, id: &str) {
    let store = FileStore::open(path, Fsync::EveryRecord).unwrap();
    let config = SessionConfig::new(id, false, ProtocolVersion::V311);
    let mut session = Session::with_store(config, Box::new(store)).unwrap();
    for (payload, qos) in [(&b"one"[..], QoS::AtLeastOnce), (b"two", QoS::ExactlyOnce)] {
        session
            .publish(Instant::ZERO, "store/async", payload, qos, false)
            .unwrap();
    }
}

#[test]
fn messages_left_in_the_store_are_sent_when_the_client_starts() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("async.store");
    leave_in_store(&path, "async-store");
    smol::block_on(async {
        let watcher = ClientOptions::new()
            .client_id("async-store-watcher")
            .port(broker.port());
        let (watcher, driver) = AsyncClient::connect(broker.host(), 30, watcher)
            .await
            .unwrap();
        smol::spawn(driver).detach();
        let mut events = watcher.events();
        watcher
            .subscribe(&[("store/async", QoS::ExactlyOnce)])
            .unwrap()
            .await
            .unwrap();

        let options = ClientOptions::new()
            .client_id("async-store")
            .clean_start(false)
            .port(broker.port())
            .session_store(FileStore::open(&path, Fsync::PerWake).unwrap());
        let (client, driver) = AsyncClient::connect(broker.host(), 30, options)
            .await
            .unwrap();
        smol::spawn(driver).detach();

        let mut got = Vec::new();
        while got.len() < 2 {
            let event = future::or(async { events.next().await }, async {
                async_io::Timer::after(STEP).await;
                None
            })
            .await
            .unwrap_or_else(|| panic!("got only {got:?}\n{}", broker.log()));
            if let Some(m) = event.message() {
                got.push((m.payload().to_vec(), m.qos));
            }
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (b"one".to_vec(), QoS::AtLeastOnce),
                (b"two".to_vec(), QoS::ExactlyOnce)
            ]
        );
        // Completed in the store too once acknowledged.
        let until = std::time::Instant::now() + STEP;
        while client.pending_messages() > 0 && std::time::Instant::now() < until {
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
        client.disconnect().await;
        watcher.disconnect().await;
    });
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert_eq!(store.live_records(), 0);
    assert_eq!(store.publishes_recorded(), 2);
}

#[test]
fn a_store_of_another_client_is_refused_at_connect() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("theirs.store");
    leave_in_store(&path, "owner");
    let options = ClientOptions::new()
        .client_id("not-the-owner")
        .clean_start(false)
        .port(broker.port())
        .session_store(FileStore::open(&path, Fsync::PerWake).unwrap());
    let err =
        smol::block_on(AsyncClient::connect(broker.host(), 30, options)).expect_err("refused");
    assert!(
        matches!(
            &err,
            ClientError::Store(StoreError::OtherClient { stored, configured })
                if stored == "owner" && configured == "not-the-owner"
        ),
        "{err:?}"
    );
    // Nothing of the owner's was sent or changed.
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert_eq!(store.live_records(), 2);
}
