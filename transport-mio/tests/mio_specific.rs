//! Tests of what only the mio transport has, against a real mosquitto: the seed's callback
//! rules on the blocking `Client` (specific beats generic, `loop_start(on_message)`, publishing
//! from inside a callback, a panicking callback reported and survived), one `mio::Poll`
//! driving two `MqttConnection`s in the test thread, TCP keepalive options read back from the
//! socket, PINGREQ on an idle link, and the typed errors of a refused or unverifiable
//! connection.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use mqtt_sansio_mio::{
    CallbackResult, Client, ClientError, ClientOptions, MqttConnection, SockKeepalive, TlsConfig,
};
use mqtt_sansio_proto::{ProtocolVersion, QoS, ReasonCode, Subscription, TopicFilter};
use mqtt_sansio_session::{Command, Event, SessionConfig};
use mqtt_test_broker::scenarios::raw_connack_code;
use mqtt_test_broker::{Broker, BrokerConfig};

/// How long one step may take before the test fails.
const STEP: Duration = Duration::from_secs(10);
/// How long to keep listening for callbacks that must not run (again).
const GRACE: Duration = Duration::from_millis(500);

type NoCallback = fn(&Client, &Event) -> CallbackResult;

fn start(config: BrokerConfig) -> Broker {
    Broker::start(config).expect("start mosquitto (apt-get install mosquitto)")
}

fn connect(broker: &Broker, id: &str) -> Client {
    let client = Client::new(id, true);
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .unwrap_or_else(|e| panic!("{id} connects: {e}; log:\n{}", broker.log()));
    client
}

/// Subscribes and waits for the SUBACK on the event iterator (before `loop_start`).
fn subscribe_and_wait(client: &Client, topics: &[(&str, QoS)]) {
    let id = client.subscribe(topics).expect("subscribe");
    let deadline = Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left) {
            Some(Event::SubAck {
                id: got, results, ..
            }) if got == id => {
                assert!(
                    results.iter().all(|c| !c.is_error()),
                    "SUBACK refused: {results:?}"
                );
                return;
            }
            Some(_) => {}
            None => panic!("no SUBACK for {topics:?} within {STEP:?}"),
        }
    }
}

/// Publishes each `(topic, payload, qos)`, waiting for the broker's acknowledgement of QoS 1
/// and 2, so they reach subscribers in this order.
fn publish_all(client: &Client, messages: &[(&str, &str, QoS)]) {
    for (topic, payload, qos) in messages {
        if *qos == QoS::AtMostOnce {
            client
                .publish(topic, payload.as_bytes(), *qos, false)
                .expect("publish");
        } else {
            client
                .publish_and_wait(topic, payload.as_bytes(), *qos, false, STEP)
                .unwrap_or_else(|e| panic!("publish {payload}: {e}"));
        }
    }
}

/// Up to `n` items from `rx` within `STEP`, then whatever else arrives within `GRACE`.
fn gather<T>(rx: &mpsc::Receiver<T>, n: usize) -> Vec<T> {
    let deadline = Instant::now() + STEP;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(item) => got.push(item),
            Err(_) => break,
        }
    }
    while let Ok(item) = rx.recv_timeout(GRACE) {
        got.push(item);
    }
    got
}

/// What a callback saw: its name, the kind of event, and the payload if it carried a message.
type Seen = (&'static str, &'static str, Option<String>);

fn recorder(
    name: &'static str,
    tx: &mpsc::Sender<Seen>,
) -> impl FnMut(&Client, &Event) -> CallbackResult + Send + 'static {
    let tx = tx.clone();
    move |_, event| {
        let kind = match event {
            Event::Message(_) => "Message",
            Event::Qos2Received { .. } => "Qos2Received",
            Event::MessageReleased(_) => "MessageReleased",
            _ => "other",
        };
        let payload = event
            .message()
            .map(|m| String::from_utf8_lossy(m.payload()).into_owned());
        let _ = tx.send((name, kind, payload));
        Ok(())
    }
}

fn sorted(mut v: Vec<Seen>) -> Vec<Seen> {
    v.sort();
    v
}

/// The seed's `is_cool` condition: checks for a message first (a QoS 2 PUBLISH carries none).
fn is_cool(event: &Event) -> bool {
    event.message().is_some_and(|m| m.topic() == "cool")
}

const SEED_TRAFFIC: [(&str, &str, QoS); 6] = [
    ("cool", "c0", QoS::AtMostOnce),
    ("cool", "c1", QoS::AtLeastOnce),
    ("cool", "c2", QoS::ExactlyOnce),
    ("warm", "w0", QoS::AtMostOnce),
    ("warm", "w1", QoS::AtLeastOnce),
    ("warm", "w2", QoS::ExactlyOnce),
];

/// The seed's `on()` example: `on(PUBLISH, print_cool_stuff, is_cool)` beside the generic
/// `on(PUBLISH, print_generic_stuff)`. For each PUBLISH exactly one runs: the specific one when
/// the topic is `cool`, else the generic one, which also gets the QoS 2 PUBLISHes (they carry
/// no message: it is delivered on PUBREL, where no callback is registered here).
#[test]
fn seed_on_example_specific_beats_generic() {
    let broker = start(BrokerConfig::plain());
    let sub = connect(&broker, "seed-on-sub");
    subscribe_and_wait(
        &sub,
        &[("cool", QoS::ExactlyOnce), ("warm", QoS::ExactlyOnce)],
    );
    let (tx, rx) = mpsc::channel();
    sub.on_if(
        Command::Publish,
        recorder("print_cool_stuff", &tx),
        is_cool,
        0,
    );
    sub.on(Command::Publish, recorder("print_generic_stuff", &tx));
    sub.loop_start(None::<NoCallback>);
    let publisher = connect(&broker, "seed-on-pub");
    publish_all(&publisher, &SEED_TRAFFIC);
    let got = sorted(gather(&rx, 6));
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        got,
        sorted(vec![
            ("print_cool_stuff", "Message", some("c0")),
            ("print_cool_stuff", "Message", some("c1")),
            ("print_generic_stuff", "Message", some("w0")),
            ("print_generic_stuff", "Message", some("w1")),
            ("print_generic_stuff", "Qos2Received", None),
            ("print_generic_stuff", "Qos2Received", None),
        ])
    );
    assert!(sub.take_callback_failures().is_empty());
    publisher.disconnect();
    sub.disconnect();
}

/// `loop_start(on_message)` beside the seed's two callbacks: `on_message` gets every message
/// the specific `is_cool` callback does not take, exactly once, and each QoS 2 message exactly
/// once, on its release (PUBREL), `cool` ones included; the generic PUBLISH callback is left
/// with the QoS 2 PUBLISHes, which carry no message. No message reaches two callbacks.
#[test]
fn loop_on_message_gets_each_message_once_and_qos2_once_on_release() {
    let broker = start(BrokerConfig::plain());
    let sub = connect(&broker, "seed-loop-sub");
    subscribe_and_wait(
        &sub,
        &[("cool", QoS::ExactlyOnce), ("warm", QoS::ExactlyOnce)],
    );
    let (tx, rx) = mpsc::channel();
    sub.on_if(
        Command::Publish,
        recorder("print_cool_stuff", &tx),
        is_cool,
        0,
    );
    sub.on(Command::Publish, recorder("print_generic_stuff", &tx));
    sub.loop_start(Some(recorder("on_message", &tx)));
    let publisher = connect(&broker, "seed-loop-pub");
    publish_all(&publisher, &SEED_TRAFFIC);
    let got = sorted(gather(&rx, 8));
    let some = |s: &str| Some(s.to_owned());
    assert_eq!(
        got,
        sorted(vec![
            ("print_cool_stuff", "Message", some("c0")),
            ("print_cool_stuff", "Message", some("c1")),
            ("on_message", "Message", some("w0")),
            ("on_message", "Message", some("w1")),
            ("on_message", "MessageReleased", some("c2")),
            ("on_message", "MessageReleased", some("w2")),
            ("print_generic_stuff", "Qos2Received", None),
            ("print_generic_stuff", "Qos2Received", None),
        ])
    );

    // Alone, on_message gets every message of every QoS exactly once.
    let only = connect(&broker, "seed-only-sub");
    subscribe_and_wait(&only, &[("#", QoS::ExactlyOnce)]);
    let (tx, rx) = mpsc::channel();
    only.loop_start(Some(recorder("on_message", &tx)));
    publish_all(&publisher, &SEED_TRAFFIC);
    let got = sorted(gather(&rx, 6));
    assert_eq!(
        got,
        sorted(vec![
            ("on_message", "Message", some("c0")),
            ("on_message", "Message", some("c1")),
            ("on_message", "MessageReleased", some("c2")),
            ("on_message", "Message", some("w0")),
            ("on_message", "Message", some("w1")),
            ("on_message", "MessageReleased", some("w2")),
        ])
    );
    publisher.disconnect();
    only.disconnect();
    sub.disconnect();
}

/// A callback publishes through the client it is given; the message arrives. Waiting for an
/// acknowledgement from inside the callback is refused with `WouldDeadlock` instead of
/// blocking the loop that would deliver it.
#[test]
fn callback_publishes_from_inside_the_callback() {
    let broker = start(BrokerConfig::plain());
    let server = connect(&broker, "cb-server");
    subscribe_and_wait(&server, &[("req/+", QoS::AtLeastOnce)]);
    let (wait_tx, wait_rx) = mpsc::channel();
    server.on_if(
        Command::Publish,
        move |client, event| {
            let payload = event
                .message()
                .map(|m| m.payload().to_vec())
                .unwrap_or_default();
            let reply = [b"re: ".as_slice(), &payload].concat();
            client.publish("resp/x", &reply, QoS::ExactlyOnce, false)?;
            let waited = client.publish_and_wait(
                "resp/x",
                b"blocking",
                QoS::AtLeastOnce,
                false,
                Duration::from_secs(1),
            );
            let _ = wait_tx.send(matches!(waited, Err(ClientError::WouldDeadlock)));
            Ok(())
        },
        |event| {
            event
                .message()
                .is_some_and(|m| m.topic().starts_with("req/"))
        },
        0,
    );
    server.loop_start(None::<NoCallback>);

    let asker = connect(&broker, "cb-asker");
    subscribe_and_wait(&asker, &[("resp/#", QoS::ExactlyOnce)]);
    asker
        .publish_and_wait("req/x", b"ping", QoS::AtLeastOnce, false, STEP)
        .expect("request acknowledged");
    let deadline = Instant::now() + STEP;
    let mut replies = Vec::new();
    while replies.is_empty() && Instant::now() < deadline {
        if let Some(event) = asker.next_event(Duration::from_millis(100)) {
            if let Some(m) = event.message() {
                replies.push((m.topic().to_owned(), m.payload().to_vec(), m.qos));
            }
        }
    }
    assert_eq!(
        replies,
        vec![("resp/x".to_owned(), b"re: ping".to_vec(), QoS::ExactlyOnce)],
        "the reply published from the callback; log:\n{}",
        broker.log()
    );
    assert_eq!(
        wait_rx.recv_timeout(STEP),
        Ok(true),
        "publish_and_wait inside a callback must return WouldDeadlock"
    );
    assert!(server.take_callback_failures().is_empty());
    asker.disconnect();
    server.disconnect();
}

/// A callback that panics or returns an error is reported by `take_callback_failures` (with
/// the command and the message), never swallowed, and the loop goes on dispatching later
/// messages, also after a second panic.
#[test]
fn panicking_callback_is_reported_and_the_loop_survives() {
    let broker = start(BrokerConfig::plain());
    let sub = connect(&broker, "panic-sub");
    subscribe_and_wait(&sub, &[("p/#", QoS::AtLeastOnce)]);
    let (tx, rx) = mpsc::channel();
    sub.on_if(
        Command::Publish,
        move |_, event| {
            let payload = event
                .message()
                .map(|m| m.payload().to_vec())
                .unwrap_or_default();
            match payload.as_slice() {
                b"boom" => panic!("boom from a callback"),
                b"err" => Err("the callback refused the message".into()),
                other => {
                    let _ = tx.send(String::from_utf8_lossy(other).into_owned());
                    Ok(())
                }
            }
        },
        |event| event.message().is_some(),
        0,
    );
    sub.loop_start(None::<NoCallback>);
    let publisher = connect(&broker, "panic-pub");
    publish_all(
        &publisher,
        &[
            ("p/a", "before", QoS::AtLeastOnce),
            ("p/a", "boom", QoS::AtLeastOnce),
            ("p/a", "err", QoS::AtLeastOnce),
            ("p/a", "after", QoS::AtLeastOnce),
            ("p/a", "boom", QoS::AtLeastOnce),
            ("p/a", "last", QoS::AtLeastOnce),
        ],
    );
    assert_eq!(gather(&rx, 3), vec!["before", "after", "last"]);
    let mut failures = Vec::new();
    let deadline = Instant::now() + STEP;
    while failures.len() < 3 && Instant::now() < deadline {
        failures.extend(sub.take_callback_failures());
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(failures.len(), 3, "{failures:#?}");
    assert!(failures[0].panicked && failures[0].message.contains("boom from a callback"));
    assert!(!failures[1].panicked && failures[1].message == "the callback refused the message");
    assert!(failures[2].panicked);
    assert!(failures.iter().all(|f| f.command == Some(Command::Publish)));
    assert!(sub.take_callback_failures().is_empty(), "taken once");
    assert!(sub.is_connected());
    publisher.disconnect();
    sub.disconnect();
}

/// One `mio::Poll`, driven by the test thread itself, runs two connections under two tokens
/// (one MQTT 3.1.1, one 5.0): both connect, A subscribes, B publishes QoS 0, 1 and 2, A
/// receives all three, B gets PUBACK and PUBCOMP, both disconnect cleanly.
#[test]
fn one_poll_drives_two_connections_in_the_test_thread() {
    const A: Token = Token(11);
    const B: Token = Token(22);
    let broker = start(BrokerConfig::plain());
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut a = MqttConnection::new(SessionConfig::new("poll-a", true, ProtocolVersion::V311));
    let mut b = MqttConnection::new(SessionConfig::new("poll-b", true, ProtocolVersion::V5));
    for (conn, token) in [(&mut a, A), (&mut b, B)] {
        let tcp = mio::net::TcpStream::connect(broker.addr()).expect("tcp");
        conn.open(poll.registry(), token, tcp, broker.host())
            .expect("open");
    }
    let mut b_connected = false;
    let mut a_subscribed = false;
    let mut published = false;
    let mut received = Vec::new();
    let mut acks = Vec::new();
    let deadline = Instant::now() + STEP;
    while received.len() < 3 || acks.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "stuck: b connected {b_connected}, a subscribed {a_subscribed}, received \
             {received:?}, acks {acks:?}; log:\n{}",
            broker.log()
        );
        let timeout = [a.timeout(), b.timeout(), Some(Duration::from_millis(100))]
            .into_iter()
            .flatten()
            .min();
        poll.poll(&mut events, timeout).expect("poll");
        for event in events.iter() {
            let readable = event.is_readable() || event.is_read_closed() || event.is_error();
            let writable = event.is_writable() || event.is_write_closed();
            match event.token() {
                A => a.handle_ready(readable, writable),
                B => b.handle_ready(readable, writable),
                other => panic!("unknown token {other:?}"),
            }
        }
        a.handle_timeout();
        b.handle_timeout();
        while let Some(event) = a.poll_event() {
            match event {
                Event::Connected { .. } => {
                    let filter = TopicFilter::new("two/t").expect("filter");
                    a.subscribe(&[Subscription::new(filter, QoS::ExactlyOnce)])
                        .expect("subscribe");
                }
                Event::SubAck { .. } => a_subscribed = true,
                Event::Message(m) | Event::MessageReleased(m) => {
                    received.push((String::from_utf8_lossy(m.payload()).into_owned(), m.qos));
                }
                Event::Disconnected { reason, .. } => panic!("A lost its connection: {reason}"),
                _ => {}
            }
        }
        while let Some(event) = b.poll_event() {
            match event {
                Event::Connected { .. } => b_connected = true,
                Event::PubAck { .. } | Event::PubComp { .. } => acks.push(event),
                Event::Disconnected { reason, .. } => panic!("B lost its connection: {reason}"),
                _ => {}
            }
        }
        if a_subscribed && b_connected && !published {
            for (payload, qos) in [
                ("zero", QoS::AtMostOnce),
                ("one", QoS::AtLeastOnce),
                ("two", QoS::ExactlyOnce),
            ] {
                b.publish("two/t", payload.as_bytes(), qos, false)
                    .expect("publish");
            }
            published = true;
        }
    }
    received.sort();
    assert_eq!(
        received,
        vec![
            ("one".to_owned(), QoS::AtLeastOnce),
            ("two".to_owned(), QoS::ExactlyOnce),
            ("zero".to_owned(), QoS::AtMostOnce),
        ]
    );
    assert!(matches!(acks[0], Event::PubAck { .. }) && matches!(acks[1], Event::PubComp { .. }));
    for conn in [&mut a, &mut b] {
        conn.disconnect();
        assert!(matches!(
            conn.poll_event(),
            Some(Event::Disconnected { .. })
        ));
        assert!(!conn.is_open(), "the socket is closed after Disconnected");
    }
    for id in ["poll-a", "poll-b"] {
        let line = format!("Received DISCONNECT from {id}");
        let deadline = Instant::now() + STEP;
        while !broker.log().contains(&line) {
            assert!(
                Instant::now() < deadline,
                "no {line:?}; log:\n{}",
                broker.log()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The seed's `sock_keepalive` (count, idle, interval) is set on the socket, read back with
/// `Client::socket_keepalive`, also on the socket of a reconnection; without it, the socket
/// has no TCP keepalive.
#[test]
fn sock_keepalive_is_read_back_from_the_socket() {
    let broker = start(BrokerConfig::plain());
    let connects = Arc::new(AtomicUsize::new(0));
    let client = Client::new("sock-ka", true);
    let counter = Arc::clone(&connects);
    client
        .connect(
            broker.host(),
            30,
            ClientOptions::new()
                .port(broker.port())
                .sock_keepalive(4, Duration::from_secs(7), Duration::from_secs(3))
                .after_connect(move |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                }),
        )
        .expect("connect");
    let expected = SockKeepalive {
        count: 4,
        idle: Duration::from_secs(7),
        interval: Duration::from_secs(3),
    };
    assert_eq!(
        client.socket_keepalive().expect("getsockopt"),
        Some(expected)
    );

    client.reconnect().expect("reconnect");
    let deadline = Instant::now() + STEP;
    while connects.load(Ordering::SeqCst) < 2 || !client.is_connected() {
        assert!(Instant::now() < deadline, "no reconnection");
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        client.socket_keepalive().expect("getsockopt"),
        Some(expected),
        "the reconnection's socket"
    );
    client.disconnect();
    assert_eq!(client.socket_keepalive().expect("no socket"), None);

    let plain = connect(&broker, "sock-no-ka");
    assert_eq!(plain.socket_keepalive().expect("getsockopt"), None);
    plain.disconnect();
}

/// With keepalive 1 s and no traffic, the client sends PINGREQ (the broker logs them), gets
/// PINGRESP, and the connection outlives several silence timeouts (1.5 x keepalive).
#[test]
fn pingreq_goes_out_on_an_idle_link() {
    let broker = start(BrokerConfig::plain());
    let client = Client::new("ka-idle", true);
    client
        .connect(broker.host(), 1, ClientOptions::new().port(broker.port()))
        .expect("connect");
    let deadline = Instant::now() + STEP;
    let mut pongs = 0;
    while pongs < 3 {
        assert!(
            Instant::now() < deadline,
            "{pongs} PINGRESP within {STEP:?}; log:\n{}",
            broker.log()
        );
        match client.next_event(Duration::from_millis(100)) {
            Some(Event::PingResp) => pongs += 1,
            Some(Event::Disconnected { reason, .. }) => panic!("the idle link dropped: {reason}"),
            _ => {}
        }
    }
    assert!(client.is_connected());
    let pings = broker
        .log()
        .matches("Received PINGREQ from ka-idle")
        .count();
    assert!(pings >= 3, "the broker logged {pings} PINGREQ");
    assert!(client.last_disconnect().is_none(), "never disconnected");
    client.disconnect();
}

/// A refused CONNECT is `ClientError::Refused` carrying the broker's code: the one mosquitto
/// sends to a hand-written CONNECT with the same credentials (3.1.1 return codes are reported
/// as their 5.0 equivalents), and its `Display` names it.
#[test]
fn refusal_is_a_typed_error_with_the_brokers_code() {
    let broker = start(BrokerConfig::plain().with_password("alice", "secret"));
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let raw = raw_connack_code(&broker, version, "typed-raw", Some(("alice", "wrong")))
            .expect("raw CONNECT");
        let expected = match version {
            ProtocolVersion::V311 => ReasonCode::from_v311_connack(raw),
            ProtocolVersion::V5 => ReasonCode::from_u8(raw),
        }
        .unwrap_or_else(|| panic!("unknown CONNACK code {raw}"));
        let client = Client::with_config(SessionConfig::new("typed", true, version));
        client.set_username_pw("alice", Some(b"wrong"));
        match client.connect(broker.host(), 30, ClientOptions::new().port(broker.port())) {
            Err(ClientError::Refused(code)) => {
                assert_eq!(code, expected, "{version:?}: broker sent {raw}");
                let text = ClientError::Refused(code).to_string();
                assert!(text.contains(&code.to_string()), "{text}");
            }
            other => panic!("{version:?}: expected Refused({expected:?}), got {other:?}"),
        }
        assert!(!client.is_connected());
        assert_eq!(
            client.next_event(Duration::from_millis(10)),
            Some(Event::ConnectRefused {
                reason: expected,
                properties: Default::default(),
                server_reference: None
            })
        );
    }
}

/// TLS verification failures are `ClientError::Io` errors that say what is wrong: a
/// certificate checked against a name it does not carry, a certificate from an untrusted CA.
/// Dialling `localhost`, a name the certificate does carry, connects.
#[test]
fn tls_verification_failures_are_descriptive_io_errors() {
    let broker = start(BrokerConfig::plain().tls());
    let other = start(BrokerConfig::plain().tls());
    let port = broker.tls_port().expect("tls port");
    let ca = broker.ca_cert_pem().expect("ca").as_bytes();
    let attempt = |host: &str, tls: TlsConfig| {
        Client::new("tls-typed", true).connect(host, 30, ClientOptions::new().port(port).tls(tls))
    };

    let wrong_name = TlsConfig::with_ca_pem(ca)
        .expect("ca")
        .server_name("wrong.example");
    match attempt(broker.host(), wrong_name) {
        Err(ClientError::Io(e)) => {
            let text = e.to_string();
            assert!(
                text.contains("certificate") && text.contains("wrong.example"),
                "{text}"
            );
        }
        other => panic!("expected an I/O error naming the certificate, got {other:?}"),
    }

    let untrusted =
        TlsConfig::with_ca_pem(other.ca_cert_pem().expect("ca").as_bytes()).expect("ca");
    match attempt(broker.host(), untrusted) {
        Err(ClientError::Io(e)) => {
            assert!(e.to_string().contains("certificate"), "{e}");
        }
        other => panic!("expected an I/O error for an untrusted CA, got {other:?}"),
    }

    let client = Client::new("tls-localhost", true);
    client
        .connect(
            "localhost",
            30,
            ClientOptions::new()
                .port(port)
                .tls(TlsConfig::with_ca_pem(ca).expect("ca")),
        )
        .expect("the certificate names localhost");
    client.disconnect();
}

/// Dropping every user handle without `disconnect` shuts the client down cleanly: DISCONNECT
/// is sent, so the broker discards the will, instead of the threads running on forever.
#[test]
fn dropping_the_last_handle_disconnects_cleanly() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = Client::new("drop-me", true);
    client.set_will("drop/will", b"gone", QoS::AtLeastOnce, false);
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .expect("connects");
    let extra = client.clone();
    drop(client);
    thread::sleep(Duration::from_millis(100));
    assert!(extra.is_connected(), "a clone keeps the client alive");
    assert!(!broker.log().contains("Client drop-me disconnected."));
    drop(extra);
    // mosquitto logs the clean disconnect of this client id.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !broker.log().contains("Client drop-me disconnected.") {
        assert!(
            Instant::now() < deadline,
            "no clean DISCONNECT seen:\n{}",
            broker.log()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// One options value, as the async client takes it: `with_options` + `connect_configured`
/// use the options' protocol, server, keepalive and hooks (before_connect runs before the
/// first CONNECT); `disconnect()` returns once the I/O thread stopped, after which commands
/// are refused with `Closed` and `last_disconnect` reports the local end.
#[test]
fn connect_configured_uses_the_construction_options() {
    let broker = start(BrokerConfig::plain());
    let hooked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hooked);
    let client = Client::with_options(
        ClientOptions::new()
            .client_id("configured")
            .protocol(ProtocolVersion::V5)
            .server(broker.host(), broker.port())
            .keep_alive(15)
            .before_connect(move |update| {
                assert_eq!(update.attempt(), 1);
                counter.fetch_add(1, Ordering::SeqCst);
            }),
    );
    let present = client
        .connect_configured()
        .unwrap_or_else(|e| panic!("connects: {e}; log:\n{}", broker.log()));
    assert!(!present);
    assert_eq!(hooked.load(Ordering::SeqCst), 1);
    assert!(client.is_connected());
    assert_eq!(
        client.with_session(|s| s.config().version),
        ProtocolVersion::V5
    );
    assert!(client.connack().is_some(), "CONNACK properties kept");
    assert!(
        broker.log().contains("configured"),
        "the broker saw the client id; log:\n{}",
        broker.log()
    );
    client.disconnect();
    assert!(!client.is_connected());
    assert!(matches!(
        client.publish("t", b"late", QoS::AtMostOnce, false),
        Err(ClientError::Closed)
    ));
    assert!(client.last_disconnect().is_some());
}

/// A subscription and a publish made before `connect` are kept (the options given to
/// `connect` do not replace what was queued) and go out on the connection, in order: the
/// message comes back through the subscription.
#[test]
fn commands_before_connect_go_out_on_the_connection() {
    let broker = start(BrokerConfig::plain());
    let client = Client::new("early-bird", true);
    let sub_id = client
        .subscribe(&[("early/#", QoS::AtLeastOnce)])
        .expect("queued before connect");
    let pub_id = client
        .publish("early/x", b"queued", QoS::AtLeastOnce, false)
        .expect("queued before connect");
    assert_eq!(client.pending_messages(), 1);
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .unwrap_or_else(|e| panic!("connects: {e}; log:\n{}", broker.log()));
    let deadline = Instant::now() + STEP;
    let (mut subacked, mut acked, mut delivered) = (false, false, false);
    while !(subacked && acked && delivered) {
        assert!(
            Instant::now() < deadline,
            "suback {subacked}, puback {acked}, delivered {delivered}; log:\n{}",
            broker.log()
        );
        match client.next_event(Duration::from_millis(100)) {
            Some(Event::SubAck { id, .. }) => subacked |= id == sub_id,
            Some(Event::PubAck { id, .. }) => acked |= Some(id) == pub_id,
            Some(Event::Message(m)) => {
                delivered |= m.topic() == "early/x" && m.payload() == b"queued";
            }
            _ => {}
        }
    }
    client.disconnect();
}
