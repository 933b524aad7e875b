//! Manual acknowledgements and subscriber backpressure (issue 12) on the blocking client,
//! against mosquitto: a message never acknowledged comes back after a reconnect (with DUP
//! and a new token; the old one is stale) and one acknowledged does not; a 3.1.1 window
//! holds the broker back (the client stops reading) until the application acknowledges;
//! and an event consumer that falls behind loses nothing.
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{
    AckError, Client, ClientError, ClientOptions, Event, Message, ProtocolVersion, QoS, RecvError,
    Subscription, TopicFilter,
};
use mqtt_test_broker::{Broker, BrokerConfig};

const LIMIT: Duration = Duration::from_secs(10);

fn options(broker: &Broker, id: &str, v: ProtocolVersion) -> ClientOptions {
    ClientOptions::new()
        .client_id(id)
        .protocol(v)
        .host(broker.host())
        .port(broker.port())
        .keep_alive(30)
}

fn subscriber(broker: &Broker, id: &str, v: ProtocolVersion, window: u16) -> Client {
    let client = Client::with_options(
        options(broker, id, v)
            .clean_start(false)
            .session_expiry(300)
            .manual_acks(window),
    );
    client.connect_configured().expect("connects");
    // Claim the event queue now: from here on it is lossless.
    let _ = client.recv_timeout(Duration::ZERO);
    client
        .subscribe_and_wait(
            &[Subscription::new(
                TopicFilter::new("manual/#").unwrap(),
                QoS::ExactlyOnce,
            )],
            &Default::default(),
            LIMIT,
        )
        .expect("SUBACK");
    client
}

fn publisher(broker: &Broker, id: &str) -> Client {
    let client = Client::with_options(options(broker, id, ProtocolVersion::V311).clean_start(true));
    client.connect_configured().expect("connects");
    client.start_loop();
    client
}

/// The next application message, skipping other events; panics after `LIMIT`.
fn next_message(client: &Client, broker: &Broker) -> Message {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no message in time\n{}", broker.log());
        match client.recv_timeout(left) {
            Ok(Event::Message(m)) | Ok(Event::MessageReleased(m)) => return m,
            Ok(_) | Err(RecvError::Timeout) => {}
            Err(RecvError::Closed) => panic!("the client closed\n{}", broker.log()),
        }
    }
}

/// Waits for `Connected` (after a reconnect).
fn wait_connected(client: &Client, broker: &Broker) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no reconnect in time\n{}", broker.log());
        if let Ok(Event::Connected { .. }) = client.recv_timeout(left) {
            return;
        }
    }
}

#[test]
fn unacknowledged_messages_come_back_after_a_reconnect() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
        let sub = subscriber(&broker, &format!("i12-manual-{v:?}"), v, 10);
        let publ = publisher(&broker, &format!("i12-manual-pub-{v:?}"));
        let sent = [
            ("manual/a", QoS::AtLeastOnce),
            ("manual/b", QoS::ExactlyOnce),
            ("manual/c", QoS::AtLeastOnce),
            ("manual/d", QoS::ExactlyOnce),
        ];
        for (topic, qos) in sent {
            publ.publish_and_wait(topic, topic.as_bytes(), qos, false, LIMIT)
                .expect("published");
        }
        let first: Vec<Message> = (0..sent.len())
            .map(|_| next_message(&sub, &broker))
            .collect();
        let topics: Vec<&str> = first.iter().map(|m| m.topic()).collect();
        assert_eq!(
            topics,
            ["manual/a", "manual/b", "manual/c", "manual/d"],
            "{v:?}"
        );
        assert!(first.iter().all(|m| m.ack_token().is_some() && !m.dup));
        // Only the first is finished; the others are not acknowledged.
        sub.ack(&first[0]).expect("acknowledged");
        assert_eq!(sub.unacknowledged(), 3, "{v:?}");

        // A clean disconnect flushes the PUBACK of the first; the rest stay unacknowledged.
        sub.disconnect();
        drop(sub);
        let sub = Client::with_options(
            options(&broker, &format!("i12-manual-{v:?}"), v)
                .clean_start(false)
                .session_expiry(300)
                .manual_acks(10),
        );
        let _ = sub.recv_timeout(Duration::ZERO);
        assert!(
            sub.connect_configured().expect("connects"),
            "{v:?}: session resumed"
        );
        let again: Vec<Message> = (0..3).map(|_| next_message(&sub, &broker)).collect();
        let topics: Vec<&str> = again.iter().map(|m| m.topic()).collect();
        assert_eq!(
            topics,
            ["manual/b", "manual/c", "manual/d"],
            "{v:?}: every unacknowledged message, and only those, in order"
        );
        for (old, new) in first[1..].iter().zip(&again) {
            assert!(new.dup, "{v:?}: redelivered with DUP");
            assert_eq!(old.payload(), new.payload());
            assert_eq!(old.packet_id, new.packet_id, "{v:?}: the same message");
        }

        // Within one client, a reconnect makes the tokens of the old connection stale.
        sub.reconnect().expect("reconnects");
        wait_connected(&sub, &broker);
        for m in &again {
            assert!(
                matches!(sub.ack(m), Err(ClientError::Ack(AckError::Stale))),
                "{v:?}: a token of an ended connection"
            );
        }
        let third: Vec<Message> = (0..3).map(|_| next_message(&sub, &broker)).collect();
        for m in &third {
            sub.ack(m).expect("acknowledged");
        }
        assert_eq!(sub.unacknowledged(), 0);
        sub.disconnect();
        drop(sub);

        // Everything is acknowledged now: a new connection gets only what is new. mosquitto
        // sends a resumed session's messages before new ones, so the sentinel coming first
        // shows that nothing acknowledged came back.
        let sub = Client::with_options(
            options(&broker, &format!("i12-manual-{v:?}"), v)
                .clean_start(false)
                .session_expiry(300)
                .manual_acks(10),
        );
        let _ = sub.recv_timeout(Duration::ZERO);
        assert!(sub.connect_configured().expect("connects"));
        publ.publish_and_wait("manual/sentinel", b"s", QoS::AtLeastOnce, false, LIMIT)
            .expect("published");
        let m = next_message(&sub, &broker);
        assert_eq!(m.topic(), "manual/sentinel", "{v:?}: {m:?}");
        sub.ack(&m).expect("acknowledged");
        sub.disconnect();
        publ.disconnect();
    }
}

#[test]
fn a_v311_window_holds_the_broker_back_until_the_application_acknowledges() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let window = 2;
    let sub = subscriber(&broker, "i12-window", ProtocolVersion::V311, window);
    let publ = publisher(&broker, "i12-window-pub");
    let total = 12;
    for n in 0..total {
        publ.publish_and_wait(
            &format!("manual/{n:02}"),
            b"w",
            QoS::AtLeastOnce,
            false,
            LIMIT,
        )
        .expect("published");
    }
    let mut got = Vec::new();
    let mut held: Vec<Message> = Vec::new();
    while got.len() < total {
        // The application never holds more than the window: the client stopped reading.
        if held.len() == usize::from(window) {
            assert!(sub.unacknowledged() <= usize::from(window));
            match sub.recv_timeout(Duration::from_millis(300)) {
                Ok(Event::Message(m)) => panic!("a message past the window: {m:?}"),
                Ok(_) | Err(RecvError::Timeout) => {}
                Err(RecvError::Closed) => panic!("closed\n{}", broker.log()),
            }
            // Acknowledge the oldest: one more may come.
            let m = held.remove(0);
            sub.ack(&m).expect("acknowledged");
            continue;
        }
        let m = next_message(&sub, &broker);
        got.push(m.topic().to_owned());
        held.push(m);
    }
    for m in &held {
        sub.ack(m).expect("acknowledged");
    }
    let expected: Vec<String> = (0..total).map(|n| format!("manual/{n:02}")).collect();
    assert_eq!(got, expected, "every message once, in order");
    sub.disconnect();
    publ.disconnect();
}

#[test]
fn a_consumer_that_falls_behind_loses_nothing() {
    let broker = Broker::start(BrokerConfig::plain().drop_nothing()).expect("mosquitto starts");
    let sub = Client::with_options(
        options(&broker, "i12-backpressure", ProtocolVersion::V311)
            .clean_start(true)
            .event_capacity(8),
    );
    sub.connect_configured().expect("connects");
    let _ = sub.recv_timeout(Duration::ZERO);
    sub.subscribe_and_wait(
        &[Subscription::new(
            TopicFilter::new("manual/#").unwrap(),
            QoS::AtLeastOnce,
        )],
        &Default::default(),
        LIMIT,
    )
    .expect("SUBACK");
    let publ = publisher(&broker, "i12-backpressure-pub");
    let total = 300;
    for n in 0..total {
        publ.publish_and_wait(
            &format!("manual/{n:03}"),
            &[0u8; 256],
            QoS::AtLeastOnce,
            false,
            LIMIT,
        )
        .expect("published: the broker takes them although the subscriber lags");
    }
    // The consumer took nothing while 300 messages went through the broker; now it does.
    let got: Vec<String> = (0..total)
        .map(|_| next_message(&sub, &broker).topic().to_owned())
        .collect();
    let expected: Vec<String> = (0..total).map(|n| format!("manual/{n:03}")).collect();
    assert_eq!(
        got, expected,
        "every acknowledged message handed over, in order"
    );
    sub.disconnect();
    publ.disconnect();
}

/// `MqttConnection` in a `mio::Poll` loop on this thread, 3.1.1 with a window of 2: while the
/// window is full it neither reads nor spins (its timeout is not zero), and `ack` resumes
/// the reads it owes.
#[test]
fn mqtt_connection_pauses_without_spinning_and_resumes_on_ack() {
    use mio::{Events, Poll, Token};
    use mqtt_sansio_mio::MqttConnection;

    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let window = 2;
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut conn = MqttConnection::with_options(
        options(&broker, "i12-conn", ProtocolVersion::V311)
            .clean_start(true)
            .manual_acks(window),
    )
    .expect("options");
    let tcp = mio::net::TcpStream::connect(broker.addr()).expect("tcp");
    conn.open(poll.registry(), Token(1), tcp, broker.host())
        .expect("open");
    let deadline = Instant::now() + LIMIT;
    let mut step = |conn: &mut MqttConnection, poll: &mut Poll| -> Vec<Event> {
        assert!(Instant::now() < deadline, "stuck\n{}", broker.log());
        let timeout = conn.timeout().map_or(Duration::from_millis(50), |t| {
            t.min(Duration::from_millis(50))
        });
        poll.poll(&mut events, Some(timeout)).expect("poll");
        for ev in events.iter() {
            conn.handle_ready(ev.is_readable(), ev.is_writable());
        }
        conn.handle_timeout();
        std::iter::from_fn(|| conn.poll_event()).collect()
    };
    let mut subscribed = false;
    while !subscribed {
        if step(&mut conn, &mut poll)
            .iter()
            .any(|e| matches!(e, Event::Connected { .. }))
        {
            conn.subscribe(&[Subscription::new(
                TopicFilter::new("manual/#").unwrap(),
                QoS::AtLeastOnce,
            )])
            .expect("subscribe");
        }
        subscribed = conn.session().subscriptions().count() == 1;
    }
    let publ = publisher(&broker, "i12-conn-pub");
    let total = 8;
    for n in 0..total {
        publ.publish_and_wait(&format!("manual/{n}"), b"c", QoS::AtLeastOnce, false, LIMIT)
            .expect("published");
    }
    let mut got = Vec::new();
    let mut held: Vec<Message> = Vec::new();
    while got.len() < total {
        for e in step(&mut conn, &mut poll) {
            if let Event::Message(m) = e {
                got.push(m.topic().to_owned());
                held.push(m);
            }
        }
        assert!(
            held.len() <= usize::from(window),
            "past the window: {got:?}"
        );
        if held.len() == usize::from(window) {
            assert!(!conn.session().wants_read());
            assert_ne!(conn.timeout(), Some(Duration::ZERO), "spins while paused");
            let m = held.remove(0);
            conn.ack(&m).expect("acknowledged");
        }
    }
    for m in &held {
        conn.ack(m).expect("acknowledged");
    }
    let expected: Vec<String> = (0..total).map(|n| format!("manual/{n}")).collect();
    assert_eq!(got, expected);
    conn.disconnect();
    publ.disconnect();
}
