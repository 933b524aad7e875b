//! Issue 13, Done-when 4, on the async client: the log records of a session with credentials and payloads,
//! across a broker crash and the reconnection, carry neither the password nor a payload,
//! and do say what happened (connect, the loss with its reason, the reconnect attempts, the
//! packets at trace level). Its own test binary: the logger is process-wide.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use log::{Level, LevelFilter, Log, Metadata, Record};
use mqtt_sansio_async::{AsyncClient, Backoff, ClientOptions, Event, EventStream, QoS};
use mqtt_test_broker::{Broker, BrokerConfig};

/// Every record, formatted with its level and target.
struct Capture(Mutex<Vec<String>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let line = format!("{} {}: {}", record.level(), record.target(), record.args());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

const PASSWORD: &str = "PASSWORD-never-logged-5d1f";
const PAYLOAD: &str = "PAYLOAD-never-logged-8c2e";
const WAIT: Duration = Duration::from_secs(10);

async fn receive_one(events: &mut EventStream) {
    let wait = futures_lite::future::or(
        async {
            while let Some(event) = events.next().await {
                if let Event::Message(m) | Event::MessageReleased(m) = event {
                    assert_eq!(m.payload(), PAYLOAD.as_bytes());
                    return true;
                }
            }
            false
        },
        async {
            async_io::Timer::after(WAIT).await;
            false
        },
    );
    assert!(wait.await, "the message did not come back");
}

#[test]
fn a_reconnect_with_credentials_and_payloads_logs_neither() {
    log::set_logger(&CAPTURE).expect("the only logger of this binary");
    log::set_max_level(LevelFilter::Trace);

    let mut broker = Broker::start(BrokerConfig::plain().with_password("log-user", PASSWORD))
        .expect("mosquitto");
    let options = ClientOptions::new()
        .client_id("reach-logs-async")
        .clean_start(false)
        .credentials("log-user", PASSWORD.as_bytes())
        .server(broker.host(), broker.port())
        .keep_alive(5)
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(300),
        ));
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect_with(options).await.expect("connects");
        let driver = smol::spawn(driver);
        let mut events = client.events();
        client
            .subscribe(&[("logs/#", QoS::ExactlyOnce)])
            .expect("subscribe")
            .await
            .expect("SUBACK");
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            client
                .publish("logs/t", PAYLOAD.as_bytes(), qos, false)
                .expect("publish")
                .await
                .expect("acked");
            receive_one(&mut events).await;
        }

        // A crash, refused dials while it is down, then the reconnect and more traffic.
        broker.kill();
        let lost = Instant::now();
        while client.is_connected() && lost.elapsed() < WAIT {
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
        async_io::Timer::after(Duration::from_millis(400)).await;
        broker.restart().expect("restarts");
        client
            .publish("logs/t", PAYLOAD.as_bytes(), QoS::ExactlyOnce, false)
            .expect("publish")
            .await
            .expect("acked after the reconnect");
        receive_one(&mut events).await;
        client.disconnect().await;
        let _ = driver.await;
    });

    let records = CAPTURE.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let payload_bytes = format!("{:?}", PAYLOAD.as_bytes());
    let password_bytes = format!("{:?}", PASSWORD.as_bytes());
    for r in &records {
        for secret in [PASSWORD, PAYLOAD, &payload_bytes, &password_bytes] {
            assert!(
                !r.contains(secret),
                "a record carries a secret or payload: {r}"
            );
        }
    }
    let has = |level: Level, text: &str| {
        records
            .iter()
            .any(|r| r.starts_with(level.as_str()) && r.contains(text))
    };
    let all = records.join("\n");
    assert!(has(Level::Info, "connected to mqtt://127.0.0.1:"), "{all}");
    assert!(has(Level::Warn, "connection lost"), "{all}");
    assert!(has(Level::Info, "reconnecting to"), "{all}");
    assert!(
        has(Level::Warn, "could not reach"),
        "dials while down: {all}"
    );
    assert!(has(Level::Trace, "sending CONNECT"), "{all}");
    assert!(has(Level::Trace, "sending PUBLISH id Some("), "{all}");
    assert!(has(Level::Trace, "received PUBLISH"), "{all}");
    assert!(has(Level::Trace, "received PUBREL"), "{all}");
    assert!(has(Level::Info, "disconnected"), "{all}");
}
