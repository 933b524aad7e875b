//! Issue 11 item 1 against mosquitto: a 3.1.1 persistent subscriber (default
//! `max_incoming_qos2` 100) gets 1,000 QoS 2 messages that were queued while it was offline,
//! from a broker with `max_inflight_messages 0` (no limit: it sends them all at once, holding
//! far more unreleased QoS 2 messages for us than our budget). SPEC "Exactly once, bounded":
//! past the budget the Session keeps only the packet id and delivers at PUBLISH, so every
//! message arrives exactly once, across a broker restart (while the messages wait for the
//! subscriber) and a dropped connection in the middle of the stream (the broker then resends
//! with DUP what we had not acknowledged, and sends PUBREL again for what we had), and there
//! is no protocol-error reconnect loop (before, the Session closed the connection past the
//! budget, the broker resent, and it never made progress).
//!
//! Why the broker is not restarted mid-stream: mosquitto 2.0.11, restarted from its
//! persistence file (after SIGTERM as after kill -9), sends PUBLISH again (DUP) for QoS 2
//! flows it had already moved on with PUBREL, which 3.1.1 [MQTT-4.3.3-1] forbids ("MUST NOT re-send
//! the PUBLISH once it has sent the corresponding PUBREL"). When our PUBCOMP was lost in the
//! restart, that PUBLISH is indistinguishable from a new message and is delivered again; no
//! client can undo a broker's loss of its own state. Seen in this test's broker log:
//! `Sending PUBREL (m866)` before the restart, `Sending PUBLISH (d1, q2, m866)` after it.
//!
//! Needs mosquitto installed (`apt-get install mosquitto`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{Backoff, Client, ClientError, ClientOptions};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{Command, DisconnectReason, Event, PublishError, SessionConfig};
use mqtt_test_broker::{Broker, BrokerConfig};

const MESSAGES: usize = 1_000;
/// Messages the subscriber takes before its connection is dropped.
const BEFORE_DROP: usize = 300;
const TOPIC: &str = "overflow/q2";
const SUBSCRIBER: &str = "overflow-sub";
/// Bound on the whole test's waiting.
const LIMIT: Duration = Duration::from_secs(90);

fn options(broker: &Broker) -> ClientOptions {
    ClientOptions::new()
        .port(broker.port())
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ))
}

fn subscriber_config() -> SessionConfig {
    let config = SessionConfig::new(SUBSCRIBER, false, ProtocolVersion::V311);
    assert_eq!(config.max_incoming_qos2, 100, "the default budget");
    config
}

fn wait_until(what: &str, broker: &Broker, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}: not done within {LIMIT:?}; broker log:\n{}",
            broker.log()
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn v311_subscriber_gets_1000_queued_qos2_messages_exactly_once_across_a_restart_and_a_drop() {
    let mut broker = Broker::start(
        BrokerConfig::plain()
            .persistent()
            .max_inflight_messages(0)
            .max_queued_messages(2 * MESSAGES as u32),
    )
    .expect("start mosquitto (apt-get install mosquitto)");

    // 1. The persistent subscription, then offline.
    let sub = Client::with_config(subscriber_config());
    sub.connect(broker.host(), 30, options(&broker))
        .expect("subscriber connects");
    sub.subscribe(&[(TOPIC, QoS::ExactlyOnce)]).unwrap();
    let suback = sub
        .events(Duration::from_secs(5))
        .find(|e| matches!(e, Event::SubAck { .. }));
    assert!(suback.is_some(), "SUBACK");
    sub.disconnect();
    drop(sub);

    // 2. 1,000 QoS 2 messages queued for it.
    let publisher = Client::new("overflow-pub", true);
    publisher
        .connect(broker.host(), 30, options(&broker))
        .expect("publisher connects");
    for i in 0..MESSAGES {
        let payload = format!("m{i}");
        let deadline = Instant::now() + LIMIT;
        loop {
            match publisher.publish(TOPIC, payload.as_bytes(), QoS::ExactlyOnce, false) {
                Ok(_) => break,
                Err(ClientError::Publish(PublishError::QueueFull)) if Instant::now() < deadline => {
                    thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("publish {payload}: {e}"),
            }
        }
    }
    wait_until("publisher completes", &broker, || {
        publisher.pending_messages() == 0
    });
    publisher.disconnect();
    drop(publisher);

    // 3. The broker restarts with the 1,000 messages queued for the subscriber: SIGTERM
    // (mosquitto writes its persistence file on the way out), then again from that file.
    broker.terminate();
    broker.restart().expect("mosquitto restarts");

    // 4. The subscriber comes back; its application pauses after BEFORE_DROP messages, and
    // the connection is dropped while the stream is in full flow.
    let seen: Arc<Mutex<HashMap<Vec<u8>, usize>>> = Arc::default();
    let received = Arc::new(AtomicUsize::new(0));
    let resume = Arc::new(AtomicBool::new(false));
    let connects = Arc::new(AtomicUsize::new(0));
    let ended: Arc<Mutex<Vec<DisconnectReason>>> = Arc::default();
    let sub = Client::with_config(subscriber_config());
    {
        let ended = Arc::clone(&ended);
        sub.on(Command::Disconnect, move |_, event| {
            if let Event::Disconnected { reason, .. } = event {
                ended.lock().unwrap().push(*reason);
            }
            Ok(())
        });
    }
    let sub_options = {
        let connects = Arc::clone(&connects);
        options(&broker)
            .auto_reconnect(true)
            .after_connect(move |_| {
                connects.fetch_add(1, Ordering::SeqCst);
            })
    };
    let present = sub
        .connect(broker.host(), 30, sub_options)
        .expect("subscriber reconnects");
    assert!(present, "the broker kept the session");
    {
        let (seen, received, resume) = (
            Arc::clone(&seen),
            Arc::clone(&received),
            Arc::clone(&resume),
        );
        sub.loop_start(Some(move |_: &Client, event: &Event| {
            if let Some(m) = event.message() {
                assert_eq!(m.qos, QoS::ExactlyOnce);
                *seen
                    .lock()
                    .unwrap()
                    .entry(m.payload().to_vec())
                    .or_default() += 1;
                if received.fetch_add(1, Ordering::SeqCst) + 1 == BEFORE_DROP {
                    let deadline = Instant::now() + LIMIT;
                    while !resume.load(Ordering::SeqCst) && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(5));
                    }
                }
            }
            Ok(())
        }));
    }
    wait_until("the first messages", &broker, || {
        received.load(Ordering::SeqCst) >= BEFORE_DROP
    });
    // 5. Drop the connection mid-stream (the client reconnects by itself): what the Session
    // had acknowledged with PUBREC comes back as PUBREL, the rest as PUBLISH with DUP.
    sub.reconnect().expect("reconnect");
    resume.store(true, Ordering::SeqCst);

    // 6. Everything arrives, each exactly once.
    wait_until("all 1,000 messages", &broker, || {
        seen.lock().unwrap().len() >= MESSAGES
    });
    // Time for any duplicate to show up.
    thread::sleep(Duration::from_millis(500));
    let seen = seen.lock().unwrap().clone();
    let duplicates: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n != 1)
        .map(|(p, n)| (String::from_utf8_lossy(p).into_owned(), *n))
        .collect();
    assert!(
        duplicates.is_empty(),
        "delivered more than once: {duplicates:?}"
    );
    for i in 0..MESSAGES {
        assert!(
            seen.contains_key(format!("m{i}").as_bytes()),
            "m{i} never arrived"
        );
    }
    assert_eq!(seen.len(), MESSAGES);
    let ended = ended.lock().unwrap().clone();
    assert!(
        !ended
            .iter()
            .any(|r| matches!(r, DisconnectReason::Protocol(_))),
        "no protocol error: {ended:?}"
    );
    let connects = connects.load(Ordering::SeqCst);
    assert!(
        (2..=4).contains(&connects),
        "the first connect and the one after the dropped connection, no reconnect loop: {connects} \
         connects, endings {ended:?}"
    );
    sub.disconnect();
}
