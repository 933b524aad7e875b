//! Issue 13, Done-when 4: the log records of a session with credentials and payloads,
//! across a broker crash and the reconnection, carry neither the password nor a payload,
//! and do say what happened (connect, the loss with its reason, the reconnect attempts, the
//! packets at trace level). Its own test binary: the logger is process-wide.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};
use mqtt_sansio_mio::{Backoff, Client, ClientOptions, Event, QoS, Subscription, TopicFilter};
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

fn receive_one(client: &Client) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(Event::Message(m) | Event::MessageReleased(m)) = client.next_event(WAIT) {
            assert_eq!(m.payload(), PAYLOAD.as_bytes());
            return;
        }
    }
    panic!("the message did not come back");
}

#[test]
fn a_reconnect_with_credentials_and_payloads_logs_neither() {
    log::set_logger(&CAPTURE).expect("the only logger of this binary");
    log::set_max_level(LevelFilter::Trace);

    let mut broker = Broker::start(BrokerConfig::plain().with_password("log-user", PASSWORD))
        .expect("mosquitto");
    let client = Client::with_options(
        ClientOptions::new()
            .client_id("reach-logs")
            .clean_start(false)
            .credentials("log-user", PASSWORD.as_bytes())
            .server(broker.host(), broker.port())
            .keep_alive(5)
            .backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(300),
            )),
    );
    client.connect_configured().expect("connects");
    client
        .subscribe_and_wait(
            &[Subscription::new(
                TopicFilter::new("logs/#").expect("filter"),
                QoS::ExactlyOnce,
            )],
            &Default::default(),
            WAIT,
        )
        .expect("SUBACK");
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client
            .publish_and_wait("logs/t", PAYLOAD.as_bytes(), qos, false, WAIT)
            .expect("acked");
        receive_one(&client);
    }

    // A crash, refused dials while it is down, then the reconnect and more traffic.
    broker.kill();
    let lost = Instant::now();
    while client.is_connected() && lost.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(400));
    broker.restart().expect("restarts");
    client
        .publish_and_wait("logs/t", PAYLOAD.as_bytes(), QoS::ExactlyOnce, false, WAIT)
        .expect("acked after the reconnect");
    receive_one(&client);
    client.disconnect();

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
