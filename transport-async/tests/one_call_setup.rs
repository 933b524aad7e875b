//! One-call async setup (issue 16): `AsyncClient::connect` with default options, the
//! generated 3.1.1 client id kept across reconnects, `connect_in_background` for programs
//! without an executor, and `disconnect().await` returning only after the driver ended.
//! Needs mosquitto installed.

use std::time::{Duration, Instant};

use futures_lite::future::{self, poll_once};
use mqtt_sansio_async::{AsyncClient, ClientOptions, QoS};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

/// The client ids mosquitto logged for new connections, in order.
fn logged_ids(broker: &Broker) -> Vec<String> {
    broker
        .log()
        .lines()
        .filter(|l| l.contains("New client connected"))
        .filter_map(|l| l.split(" as ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + STEP;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {STEP:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn default_options_get_a_generated_id_that_survives_a_reconnect() {
    let mut broker = Broker::start(BrokerConfig::plain()).expect("start mosquitto");
    let port = broker.port();
    let client = smol::block_on(async {
        let options = ClientOptions::new().port(port);
        let (client, driver) = AsyncClient::connect("127.0.0.1", 60, options)
            .await
            .expect("connects with the default options");
        smol::spawn(driver).detach();
        client
    });
    let ids = logged_ids(&broker);
    let first = ids.last().expect("mosquitto logged the connection").clone();
    // 23 letters and digits: what every 3.1.1 broker must accept [MQTT-3.1.3-5].
    assert!(first.starts_with("mqttsansio"), "{first}");
    assert_eq!(first.len(), 23, "{first}");
    assert!(first.chars().all(|c| c.is_ascii_alphanumeric()), "{first}");

    let connections = ids.len();
    broker.restart().expect("restart mosquitto");
    // The log keeps earlier starts: wait for one more connection, the reconnect.
    wait_until("reconnected", || logged_ids(&broker).len() > connections);
    let after = logged_ids(&broker);
    assert_eq!(
        after.get(connections),
        Some(&first),
        "the id changed on reconnect"
    );
    wait_until("connected again", || client.is_connected());

    // A second client gets another id.
    smol::block_on(async {
        let (other, driver) =
            AsyncClient::connect("127.0.0.1", 60, ClientOptions::new().port(port))
                .await
                .expect("second client connects");
        let driver = smol::spawn(driver);
        let ids = logged_ids(&broker);
        assert_ne!(ids.last(), Some(&first), "two clients got the same id");
        other.disconnect().await;
        client.disconnect().await;
        driver.await.expect("clean end");
    });
}

#[test]
fn disconnect_returns_after_the_driver_ended() {
    let broker = Broker::start(BrokerConfig::plain()).expect("start mosquitto");
    let executor = smol::LocalExecutor::new();
    future::block_on(executor.run(async {
        let options = ClientOptions::new().port(broker.port());
        let (client, driver) = AsyncClient::connect("127.0.0.1", 60, options)
            .await
            .expect("connects");
        let mut driver = executor.spawn(driver);
        client
            .publish("one-call/x", b"queued", QoS::AtLeastOnce, false)
            .expect("publish");
        future::or(client.disconnect(), async {
            async_io::Timer::after(STEP).await;
            panic!("disconnect did not return");
        })
        .await;
        // One thread runs both: had `disconnect` returned before the driver's last poll,
        // the driver task would still be pending here.
        let ended = poll_once(&mut driver).await;
        assert!(
            matches!(ended, Some(Ok(()))),
            "the driver had not ended cleanly when disconnect returned: {ended:?}"
        );
    }));
}

#[test]
fn connect_in_background_needs_no_executor() {
    let broker = Broker::start(BrokerConfig::plain()).expect("start mosquitto");
    let options = ClientOptions::new()
        .client_id("background")
        .port(broker.port());
    let client = AsyncClient::connect_in_background("127.0.0.1", 60, options)
        .expect("connects on its own thread");
    assert!(client.is_connected());
    // The client's futures need only a `block_on`: the driver runs on the client's thread.
    let ack = future::block_on(async {
        client
            .publish("one-call/bg", b"hi", QoS::ExactlyOnce, false)
            .expect("publish")
            .await
    });
    assert!(ack.is_ok(), "{ack:?}");
    future::block_on(client.disconnect());
    assert!(client.is_closed());
    assert!(broker.log().contains("background"), "{}", broker.log());
}

#[test]
fn connect_in_background_reports_a_refusal() {
    let broker = Broker::start(BrokerConfig::plain().with_password("alice", "secret"))
        .expect("start mosquitto");
    let options = ClientOptions::new()
        .credentials("alice", b"wrong")
        .port(broker.port());
    let err = AsyncClient::connect_in_background("127.0.0.1", 60, options)
        .expect_err("a wrong password is refused");
    assert!(
        matches!(err, mqtt_sansio_async::ClientError::Refused(_)),
        "{err:?}"
    );
}
