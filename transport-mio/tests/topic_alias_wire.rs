//! Bytes on the wire with and without outgoing topic aliases, against mosquitto (which
//! announces a Topic Alias Maximum of 10 by default): 10,000 QoS 1 publishes to one 100-byte
//! topic over MQTT 5.0, once with `TopicAliasPolicy::Auto` and once with `Off`. The publisher
//! talks to mosquitto through a counting TCP relay, so the figure is every byte the client
//! handed to its socket; a subscriber checks that every message arrived with the full topic.
//!
//! Run with `cargo test -p mqtt-sansio-mio --test topic_alias_wire -- --nocapture` to see the
//! figures (recorded in BENCHMARKS.md, "Topic aliases on the wire").
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{Client, ClientError, ClientOptions};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{Event, PublishError, SessionConfig, TopicAliasPolicy};
use mqtt_test_broker::{Broker, BrokerConfig};

const MESSAGES: usize = 10_000;
const PAYLOAD: &[u8] = b"0123456789";

/// A relay on a free loopback port to `upstream`, counting the bytes that go upstream (from
/// the client towards the broker). Serves one connection.
fn counting_relay(upstream: (String, u16)) -> io::Result<(u16, Arc<AtomicU64>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let Ok(broker) = TcpStream::connect((upstream.0.as_str(), upstream.1)) else {
            return;
        };
        let _ = client.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        let (Ok(client2), Ok(broker2)) = (client.try_clone(), broker.try_clone()) else {
            return;
        };
        thread::spawn(move || pipe(broker2, client2, None));
        pipe(client, broker, Some(counter));
    });
    Ok((port, count))
}

fn pipe(mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicU64>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if let Some(c) = &count {
                    c.fetch_add(n as u64, Ordering::Relaxed);
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn config(id: &str, policy: TopicAliasPolicy) -> SessionConfig {
    let mut c = SessionConfig::new(id, true, ProtocolVersion::V5);
    c.outgoing_topic_aliases = policy;
    c
}

/// Publishes MESSAGES QoS 1 messages to `topic` through a counting relay and returns the
/// bytes the publisher sent up to the last PUBACK, after a subscriber got every message.
fn run(broker: &Broker, topic: &str, policy: TopicAliasPolicy, tag: &str) -> u64 {
    let subscriber = Client::with_config(config(&format!("sub-{tag}"), TopicAliasPolicy::Off));
    subscriber
        .connect(broker.host(), 60, ClientOptions::new().port(broker.port()))
        .expect("subscriber connects");
    subscriber.subscribe(&[(topic, QoS::AtLeastOnce)]).unwrap();
    assert!(
        subscriber
            .events(Duration::from_secs(5))
            .any(|e| matches!(e, Event::SubAck { .. })),
        "SUBACK"
    );
    let receiver = {
        let topic = topic.to_string();
        thread::spawn(move || {
            let mut received = 0;
            let deadline = Instant::now() + Duration::from_secs(120);
            while received < MESSAGES && Instant::now() < deadline {
                if let Some(e) = subscriber.next_event(Duration::from_millis(200)) {
                    if let Some(m) = e.message() {
                        assert_eq!(m.topic(), topic, "the subscriber sees the full topic");
                        assert_eq!(m.payload(), PAYLOAD);
                        received += 1;
                    }
                }
            }
            subscriber.disconnect();
            received
        })
    };

    let (port, sent) =
        counting_relay((broker.host().to_string(), broker.port())).expect("relay starts");
    let publisher = Client::with_config(config(&format!("pub-{tag}"), policy));
    publisher
        .connect(broker.host(), 60, ClientOptions::new().port(port))
        .expect("publisher connects");
    let mut acked = 0;
    let mut published = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while acked < MESSAGES && Instant::now() < deadline {
        if published < MESSAGES {
            match publisher.publish(topic, PAYLOAD, QoS::AtLeastOnce, false) {
                Ok(_) => {
                    published += 1;
                    continue;
                }
                Err(ClientError::Publish(PublishError::QueueFull)) => {}
                Err(e) => panic!("publish failed: {e:?}"),
            }
        }
        // Window and queue full (or everything published): wait for acknowledgements.
        if let Some(e) = publisher.next_event(Duration::from_millis(200)) {
            if matches!(e, Event::PubAck { .. }) {
                acked += 1;
            }
        }
    }
    let bytes = sent.load(Ordering::Relaxed);
    publisher.disconnect();
    assert_eq!(
        acked,
        MESSAGES,
        "every publish acknowledged\n{}",
        broker.log()
    );
    let received = receiver.join().expect("subscriber thread");
    assert_eq!(
        received,
        MESSAGES,
        "every message received\n{}",
        broker.log()
    );
    bytes
}

#[test]
fn topic_aliases_cut_the_bytes_sent_for_one_long_topic() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let topic = format!("wire/{}", "x".repeat(95));
    assert_eq!(topic.len(), 100);
    let auto = run(
        &broker,
        &topic,
        TopicAliasPolicy::Auto { max_aliases: 16 },
        "a",
    );
    // Same length of client id, so the CONNECTs are the same size.
    let off = run(&broker, &topic, TopicAliasPolicy::Off, "o");
    println!(
        "{MESSAGES} QoS 1 publishes, 100-byte topic, {}-byte payload, MQTT 5.0, mosquitto: \
         aliases Off {off} bytes ({:.1} per publish), Auto {auto} bytes ({:.1} per publish), \
         Off/Auto = {:.2}x",
        PAYLOAD.len(),
        off as f64 / MESSAGES as f64,
        auto as f64 / MESSAGES as f64,
        off as f64 / auto as f64
    );
    assert!(auto < off, "aliases send fewer bytes: {auto} vs {off}");
    // Each aliased PUBLISH saves the 100 topic bytes but carries a 3-byte alias property,
    // so it is 97 bytes shorter; only the first one is longer (+3).
    let saved = off - auto;
    let expected = 97 * (MESSAGES as u64 - 1) - 3;
    assert_eq!(saved, expected, "off {off}, auto {auto}");
}
