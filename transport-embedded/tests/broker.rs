//! Host tests of the embedded adapter against a real mosquitto: publish and subscribe at QoS
//! 0, 1 and 2 through the blocking traits (with `ReadReady`, and with a read timeout) and
//! through the async traits (`embedded-io-adapters` over an `async-io` socket), plus
//! keepalive. These tests need mosquitto installed (`apt-get install mosquitto`).

use std::net::TcpStream;
use std::time::{Duration, Instant as StdInstant};

use async_io::{Async, Timer};
use embedded_io_adapters::futures_03::FromFutures;
use mqtt_sansio_embedded::embedded_hal_async::delay::DelayNs;
use mqtt_sansio_embedded::std_io::{StdClock, StdTcp};
use mqtt_sansio_embedded::{Error, MqttClient};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{ConnectOptions, DisconnectReason, Event, SessionConfig};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

/// What a round trip saw.
#[derive(Default, Debug)]
struct Seen {
    connected: bool,
    subacked: bool,
    messages: Vec<(String, Vec<u8>, QoS)>,
    pubacks: Vec<u16>,
    pubcomps: Vec<u16>,
    ping_resps: usize,
    disconnected: Option<DisconnectReason>,
}

impl Seen {
    fn note(&mut self, event: Event) {
        match event {
            Event::Connected { .. } => self.connected = true,
            Event::SubAck { results, .. } => {
                assert!(
                    results.iter().all(|r| !r.is_error()),
                    "SUBACK refused: {results:?}"
                );
                self.subacked = true;
            }
            Event::Message(m) | Event::MessageReleased(m) => {
                self.messages
                    .push((m.topic().to_owned(), m.payload().to_vec(), m.qos))
            }
            Event::PubAck { id, .. } => self.pubacks.push(id.get()),
            Event::PubComp { id, .. } => self.pubcomps.push(id.get()),
            Event::PingResp => self.ping_resps += 1,
            Event::Disconnected { reason, .. } => self.disconnected = Some(reason),
            _ => {}
        }
    }
}

fn config(id: &str, version: ProtocolVersion) -> SessionConfig {
    SessionConfig::new(id, true, version)
}

/// Drives a blocking client with `step` until `done` holds, or panics after `STEP`.
fn drive_until<S>(
    seen: &mut Seen,
    what: &str,
    broker: &Broker,
    mut step: S,
    done: impl Fn(&Seen) -> bool,
) where
    S: FnMut() -> Result<Option<Event>, Error<std::io::Error>>,
{
    let deadline = StdInstant::now() + STEP;
    while !done(seen) {
        assert!(
            StdInstant::now() < deadline,
            "{what}: not done after {STEP:?}: {seen:?}\n{}",
            broker.log()
        );
        match step() {
            Ok(Some(event)) => seen.note(event),
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => panic!("{what}: {e}\n{}", broker.log()),
        }
    }
}

/// Subscribes to `emb/#` at QoS 2, publishes at QoS 0, 1 and 2 to itself, and checks every
/// message comes back once and every QoS 1/2 publish completes.
fn blocking_round_trip(use_read_ready: bool, version: ProtocolVersion) {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let mut socket = StdTcp::connect(broker.addr()).expect("TCP connect");
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("read timeout");
    // Small buffers on purpose: packets span several reads and writes.
    let (mut rx, mut tx) = ([0u8; 64], [0u8; 48]);
    let id = format!("emb-blocking-{use_read_ready}-{version:?}");
    let mut client = MqttClient::new(config(&id, version), StdClock::new(), &mut rx, &mut tx);
    client
        .connect(&mut socket, &ConnectOptions::new(30))
        .expect("CONNECT sent");
    let mut seen = Seen::default();
    macro_rules! step {
        () => {
            || {
                if use_read_ready {
                    client.poll(&mut socket)
                } else {
                    client.poll_blocking(&mut socket)
                }
            }
        };
    }
    drive_until(&mut seen, "CONNACK", &broker, step!(), |s| s.connected);
    client
        .subscribe(&[("emb/#", QoS::ExactlyOnce)])
        .expect("subscribe");
    drive_until(&mut seen, "SUBACK", &broker, step!(), |s| s.subacked);

    let big: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let q1 = client
        .publish("emb/1", b"one", QoS::AtLeastOnce, false)
        .expect("qos 1");
    let q0 = client
        .publish("emb/0", b"zero", QoS::AtMostOnce, false)
        .expect("qos 0");
    let q2 = client
        .publish("emb/2", b"two", QoS::ExactlyOnce, false)
        .expect("qos 2");
    let qb = client
        .publish("emb/big", &big, QoS::AtLeastOnce, false)
        .expect("big");
    assert!(q0.is_none());
    let (q1, q2, qb) = (
        q1.expect("id").get(),
        q2.expect("id").get(),
        qb.expect("id").get(),
    );
    drive_until(&mut seen, "round trip", &broker, step!(), |s| {
        s.messages.len() >= 4 && s.pubacks.len() >= 2 && !s.pubcomps.is_empty()
    });
    let mut got = seen.messages.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("emb/0".to_owned(), b"zero".to_vec(), QoS::AtMostOnce),
            ("emb/1".to_owned(), b"one".to_vec(), QoS::AtLeastOnce),
            ("emb/2".to_owned(), b"two".to_vec(), QoS::ExactlyOnce),
            ("emb/big".to_owned(), big, QoS::AtLeastOnce),
        ]
    );
    seen.pubacks.sort();
    assert_eq!(seen.pubacks, vec![q1, qb]);
    assert_eq!(seen.pubcomps, vec![q2]);
    assert_eq!(client.session().inflight_len(), 0);

    client.disconnect(&mut socket).expect("DISCONNECT sent");
    drive_until(&mut seen, "disconnect", &broker, step!(), |s| {
        s.disconnected.is_some()
    });
    assert_eq!(seen.disconnected, Some(DisconnectReason::Local));
    assert!(matches!(client.poll(&mut socket), Err(Error::NotConnected)));
    let log_line = format!("Client {id} disconnected.");
    let deadline = StdInstant::now() + STEP;
    while !broker.log().contains(&log_line) {
        assert!(
            StdInstant::now() < deadline,
            "no DISCONNECT at the broker\n{}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn blocking_with_read_ready_round_trips_every_qos_v311() {
    blocking_round_trip(true, ProtocolVersion::V311);
}

#[test]
fn blocking_with_read_ready_round_trips_every_qos_v5() {
    blocking_round_trip(true, ProtocolVersion::V5);
}

#[test]
fn blocking_with_read_timeout_round_trips_every_qos_v311() {
    blocking_round_trip(false, ProtocolVersion::V311);
}

#[test]
fn blocking_with_read_timeout_round_trips_every_qos_v5() {
    blocking_round_trip(false, ProtocolVersion::V5);
}

/// With keepalive 1 s and nothing to say, `poll` (which never blocks) still sends PINGREQ on
/// time: PINGRESPs arrive and the connection stays up.
#[test]
fn blocking_poll_keeps_the_connection_alive() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let mut socket = StdTcp::connect(broker.addr()).expect("TCP connect");
    let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
    let mut client = MqttClient::new(
        config("emb-keepalive", ProtocolVersion::V311),
        StdClock::new(),
        &mut rx,
        &mut tx,
    );
    client
        .connect(&mut socket, &ConnectOptions::new(1))
        .expect("CONNECT");
    let mut seen = Seen::default();
    drive_until(
        &mut seen,
        "CONNACK",
        &broker,
        || client.poll(&mut socket),
        |s| s.connected,
    );
    drive_until(
        &mut seen,
        "two PINGRESPs",
        &broker,
        || client.poll(&mut socket),
        |s| s.ping_resps >= 2,
    );
    assert!(client.is_connected());
    assert_eq!(seen.disconnected, None);
}

/// `embedded_hal_async::delay::DelayNs` on async-io's timer.
struct AsyncIoDelay;

impl DelayNs for AsyncIoDelay {
    async fn delay_ns(&mut self, ns: u32) {
        Timer::after(Duration::from_nanos(u64::from(ns))).await;
    }
}

/// The same round trip through `embedded_io_async` (over `async-io` with the
/// `embedded-io-adapters` crate) and `poll_async`, plus a keepalive PINGREQ at 1 s.
async fn async_round_trip(version: ProtocolVersion) {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let tcp = Async::<TcpStream>::connect(broker.addr())
        .await
        .expect("TCP connect");
    let mut socket = FromFutures::new(tcp);
    let mut delay = AsyncIoDelay;
    let (mut rx, mut tx) = ([0u8; 100], [0u8; 100]);
    let mut client = MqttClient::new(
        config(&format!("emb-async-{version:?}"), version),
        StdClock::new(),
        &mut rx,
        &mut tx,
    );
    client
        .connect_async(&mut socket, &ConnectOptions::new(1))
        .await
        .expect("CONNECT");
    let mut seen = Seen::default();
    let started = StdInstant::now();
    macro_rules! until {
        ($what:expr, $done:expr) => {
            while !$done(&seen) {
                assert!(
                    started.elapsed() < STEP * 2,
                    "{}: {seen:?}\n{}",
                    $what,
                    broker.log()
                );
                match client.poll_async(&mut socket, &mut delay).await {
                    Ok(event) => seen.note(event),
                    Err(e) => panic!("{}: {e}\n{}", $what, broker.log()),
                }
            }
        };
    }
    until!("CONNACK", |s: &Seen| s.connected);
    client
        .subscribe(&[("emb/#", QoS::ExactlyOnce)])
        .expect("subscribe");
    until!("SUBACK", |s: &Seen| s.subacked);
    let q1 = client
        .publish("emb/1", b"one", QoS::AtLeastOnce, false)
        .expect("qos 1");
    client
        .publish("emb/0", b"zero", QoS::AtMostOnce, false)
        .expect("qos 0");
    let q2 = client
        .publish("emb/2", b"two", QoS::ExactlyOnce, false)
        .expect("qos 2");
    until!("round trip", |s: &Seen| s.messages.len() >= 3
        && !s.pubacks.is_empty()
        && !s.pubcomps.is_empty());
    let mut got = seen.messages.clone();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("emb/0".to_owned(), b"zero".to_vec(), QoS::AtMostOnce),
            ("emb/1".to_owned(), b"one".to_vec(), QoS::AtLeastOnce),
            ("emb/2".to_owned(), b"two".to_vec(), QoS::ExactlyOnce),
        ]
    );
    assert_eq!(seen.pubacks, vec![q1.expect("id").get()]);
    assert_eq!(seen.pubcomps, vec![q2.expect("id").get()]);
    // Nothing to send for a while: the 1 s keepalive must produce PINGREQ/PINGRESP.
    until!("PINGRESP", |s: &Seen| s.ping_resps >= 1);
    assert!(client.is_connected());
    client
        .disconnect_async(&mut socket)
        .await
        .expect("DISCONNECT");
    until!("disconnect", |s: &Seen| s.disconnected.is_some());
    assert_eq!(seen.disconnected, Some(DisconnectReason::Local));
}

#[test]
fn async_round_trips_every_qos_v311() {
    futures::executor::block_on(async_round_trip(ProtocolVersion::V311));
}

#[test]
fn async_round_trips_every_qos_v5() {
    async_io::block_on(async_round_trip(ProtocolVersion::V5));
}
