//! Who gets a copy of an event in the blocking `Client` (issue 14): the event queue
//! (`next_event`) always gets the event itself; a callback gets a copy only when it will see
//! the event. Before `loop_start`, events are kept for the callbacks it starts, except the
//! messages a program without any callback already took from the queue.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{CallbackResult, Client, ClientOptions};
use mqtt_sansio_proto::QoS;
use mqtt_sansio_session::Event;
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);
/// How long to keep listening for callbacks that must not run.
const GRACE: Duration = Duration::from_millis(500);

fn start() -> Broker {
    Broker::start(BrokerConfig::plain()).expect("start mosquitto (apt-get install mosquitto)")
}

fn connect(broker: &Broker, id: &str) -> Client {
    let client = Client::new(id, true);
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .unwrap_or_else(|e| panic!("{id} connects: {e}; log:\n{}", broker.log()));
    client
}

/// Subscribes to `topic` at QoS 1 and waits for the SUBACK on the event queue (which claims
/// the queue: a consumer is alive from here on).
fn subscribe_and_wait(client: &Client, topic: &str) {
    client
        .subscribe(&[(topic, QoS::AtLeastOnce)])
        .expect("subscribe");
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left) {
            Some(Event::SubAck { results, .. }) => {
                assert!(results.iter().all(|c| !c.is_error()), "{results:?}");
                return;
            }
            Some(_) => {}
            None => panic!("no SUBACK within {STEP:?}"),
        }
    }
}

fn publish(client: &Client, topic: &str, payloads: &[&str]) {
    for p in payloads {
        client
            .publish_and_wait(topic, p.as_bytes(), QoS::AtLeastOnce, false, STEP)
            .unwrap_or_else(|e| panic!("publish {p}: {e}"));
    }
}

/// The payloads of the next `n` messages on the event queue.
fn take_messages(client: &Client, n: usize) -> Vec<String> {
    let deadline = Instant::now() + STEP;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left) {
            Some(Event::Message(m)) => got.push(String::from_utf8_lossy(m.payload()).into_owned()),
            Some(_) => {}
            None => panic!("{} of {n} messages within {STEP:?}: {got:?}", got.len()),
        }
    }
    got
}

/// A message callback sending each payload to the returned receiver.
fn recording(client: &Client) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    client.on_message(move |_: &Client, event: &Event| -> CallbackResult {
        if let Some(m) = event.message() {
            let _ = tx.send(String::from_utf8_lossy(m.payload()).into_owned());
        }
        Ok(())
    });
    rx
}

/// Up to `n` payloads within `STEP`, then whatever else comes within `GRACE`.
fn gather(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    let deadline = Instant::now() + STEP;
    let mut got = Vec::new();
    while got.len() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(p) => got.push(p),
            Err(_) => break,
        }
    }
    while let Ok(p) = rx.recv_timeout(GRACE) {
        got.push(p);
    }
    got
}

/// A callback registered before `loop_start` gets the messages that came before it, even
/// those the program also read from the queue, and with no later event to carry them out.
#[test]
fn messages_before_loop_start_reach_a_callback_registered_before_it() {
    let broker = start();
    let sub = connect(&broker, "copies-kept-sub");
    let publisher = connect(&broker, "copies-kept-pub");
    subscribe_and_wait(&sub, "copies/kept");
    let rx = recording(&sub);
    publish(&publisher, "copies/kept", &["a", "b", "c"]);
    assert_eq!(take_messages(&sub, 3), ["a", "b", "c"]);
    sub.start_loop();
    assert_eq!(gather(&rx, 3), ["a", "b", "c"]);
    publisher.disconnect();
    sub.disconnect();
}

/// Once the loop runs, every message reaches both its callback and the queue, once each.
#[test]
fn a_started_loop_hands_each_message_to_its_callback_and_the_queue() {
    let broker = start();
    let sub = connect(&broker, "copies-both-sub");
    let publisher = connect(&broker, "copies-both-pub");
    subscribe_and_wait(&sub, "copies/both");
    let rx = recording(&sub);
    sub.start_loop();
    publish(&publisher, "copies/both", &["1", "2", "3", "4"]);
    assert_eq!(gather(&rx, 4), ["1", "2", "3", "4"]);
    assert_eq!(take_messages(&sub, 4), ["1", "2", "3", "4"]);
    assert!(sub.next_event(GRACE).is_none_or(|e| e.message().is_none()));
    publisher.disconnect();
    sub.disconnect();
}

/// A program that reads messages from the queue and has no callback is not made to keep a
/// copy of each for a `loop_start` it may never call: callbacks registered later get the
/// messages from then on.
#[test]
fn messages_taken_from_the_queue_without_a_callback_are_not_kept_for_one() {
    let broker = start();
    let sub = connect(&broker, "copies-taken-sub");
    let publisher = connect(&broker, "copies-taken-pub");
    subscribe_and_wait(&sub, "copies/taken");
    publish(&publisher, "copies/taken", &["x", "y"]);
    assert_eq!(take_messages(&sub, 2), ["x", "y"]);
    let rx = recording(&sub);
    sub.start_loop();
    publish(&publisher, "copies/taken", &["z"]);
    assert_eq!(gather(&rx, 1), ["z"]);
    publisher.disconnect();
    sub.disconnect();
}
