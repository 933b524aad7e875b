//! Behaviour of `AsyncClient` beyond the shared scenarios, against a real mosquitto:
//! dropped completion futures, callbacks with conditions and priorities beside the event
//! stream, waiting for room, keepalive, clean shutdown. Needs mosquitto installed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::future::{self, poll_once};
use futures_lite::StreamExt;
use mqtt_sansio_async::{
    AsyncClient, ClientError, ClientOptions, DisconnectReason, EventStream, PublishOutcome,
};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{Command, Event};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    future::or(f, async {
        async_io::Timer::after(STEP).await;
        panic!("{what}: not done within {STEP:?}");
    })
    .await
}

async fn connect(
    broker: &Broker,
    id: &str,
    clean: bool,
    options: ClientOptions,
) -> (AsyncClient, EventStream) {
    let keep_alive = options.core().keep_alive;
    let options = options
        .client_id(id)
        .clean_start(clean)
        .protocol(ProtocolVersion::V311)
        .port(broker.port());
    let (client, driver) = AsyncClient::connect(broker.host(), keep_alive, options)
        .await
        .unwrap_or_else(|e| panic!("{id} connects: {e}\n{}", broker.log()));
    smol::spawn(driver).detach();
    let events = client.events();
    (client, events)
}

/// The next `n` application messages as `(payload, qos)`, in arrival order.
async fn messages(events: &mut EventStream, n: usize, broker: &Broker) -> Vec<(String, QoS)> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + STEP;
    while got.len() < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let next = future::or(async { Some(events.next().await) }, async {
            async_io::Timer::after(left).await;
            None
        });
        match next.await {
            Some(Some(event)) => {
                if let Some(m) = event.message() {
                    got.push((m.payload_str().unwrap_or_default().to_owned(), m.qos));
                }
            }
            Some(None) => panic!("the stream ended; got {got:?}"),
            None => panic!(
                "{} of {n} messages within {STEP:?}: {got:?}\n{}",
                got.len(),
                broker.log()
            ),
        }
    }
    got
}

/// Nothing more arrives within a short grace period.
async fn quiet(events: &mut EventStream) -> Vec<String> {
    let mut extra = Vec::new();
    let grace = async {
        async_io::Timer::after(Duration::from_millis(300)).await;
    };
    let collect = async {
        while let Some(e) = events.next().await {
            if let Some(m) = e.message() {
                extra.push(m.payload_str().unwrap_or_default().to_owned());
            }
        }
    };
    future::or(collect, grace).await;
    extra
}

/// A publish future dropped before completion (never polled, polled once, or dropped across
/// a reconnection) only stops waiting: every message is still delivered per its QoS (QoS 2
/// exactly once), the Session ends with nothing in flight, and later publishes complete.
#[test]
fn dropped_publish_futures_leave_the_session_correct() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (sub, mut sub_events) = connect(&broker, "drop-sub", true, ClientOptions::new()).await;
        within(
            "SUBACK",
            sub.subscribe(&[("drop/#", QoS::ExactlyOnce)]).unwrap(),
        )
        .await
        .expect("subscribed");
        let (publisher, _events) = connect(&broker, "drop-pub", false, ClientOptions::new()).await;

        // Never polled.
        drop(
            publisher
                .publish("drop/a", b"a1", QoS::AtLeastOnce, false)
                .unwrap(),
        );
        drop(
            publisher
                .publish("drop/a", b"a2", QoS::ExactlyOnce, false)
                .unwrap(),
        );
        drop(
            publisher
                .publish("drop/a", b"a0", QoS::AtMostOnce, false)
                .unwrap(),
        );
        // Polled once (registered its waker), then dropped.
        let mut h = publisher
            .publish("drop/b", b"b1", QoS::AtLeastOnce, false)
            .unwrap();
        let _ = poll_once(&mut h).await;
        drop(h);
        let mut h = publisher
            .publish("drop/b", b"b2", QoS::ExactlyOnce, false)
            .unwrap();
        let _ = poll_once(&mut h).await;
        drop(h);
        // Dropped, then the connection is dropped too before acknowledgements can arrive.
        drop(
            publisher
                .publish("drop/c", b"c1", QoS::AtLeastOnce, false)
                .unwrap(),
        );
        drop(
            publisher
                .publish("drop/c", b"c2", QoS::ExactlyOnce, false)
                .unwrap(),
        );
        publisher.reconnect().unwrap();

        let mut got = messages(&mut sub_events, 6, &broker).await;
        got.extend(
            quiet(&mut sub_events)
                .await
                .into_iter()
                .map(|p| (p, QoS::AtMostOnce)),
        );
        let count = |p: &str| got.iter().filter(|(g, _)| g == p).count();
        for p in ["a1", "b1", "c1"] {
            assert!(count(p) >= 1, "QoS 1 {p} lost: {got:?}");
        }
        for p in ["a2", "b2", "c2"] {
            assert_eq!(count(p), 1, "QoS 2 {p} must arrive exactly once: {got:?}");
        }
        // QoS 0 is at most once: still queued when `reconnect` dropped the socket, it is gone.
        assert!(count("a0") <= 1, "QoS 0 a0 duplicated: {got:?}");

        // The Session is consistent: nothing left in flight, new publishes complete.
        within("drain", async {
            while publisher.pending_messages() > 0 {
                async_io::Timer::after(Duration::from_millis(5)).await;
            }
        })
        .await;
        publisher.with_session(|s| assert_eq!(s.packet_ids_in_use(), 0));
        for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let h = publisher.publish("drop/d", b"after", qos, false).unwrap();
            assert!(h.packet_id().is_some());
            let outcome = within("completion", h).await.expect("completes");
            assert!(
                matches!(outcome, PublishOutcome::Acknowledged(_)),
                "{outcome:?}"
            );
        }
        assert_eq!(messages(&mut sub_events, 2, &broker).await.len(), 2);
        publisher.disconnect().await;
        sub.disconnect().await;
    });
}

/// Callbacks follow the seed's rule (the highest-priority true condition, else the generic
/// callback), `on_message` gets every message once, callbacks can publish from inside, and
/// the stream sees every event as well.
#[test]
fn callbacks_with_conditions_and_the_stream_together() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (client, mut events) = connect(&broker, "cb", true, ClientOptions::new()).await;
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let l = Arc::clone(&log);
        client.on_if(
            Command::Publish,
            move |c, e| {
                let m = e.message().expect("message");
                l.lock()
                    .unwrap()
                    .push(format!("high:{}", m.payload_str().unwrap_or("")));
                // Publishing from inside a callback.
                c.publish("cb/reply", b"pong", QoS::AtLeastOnce, false)?;
                Ok(())
            },
            |e| e.message().is_some_and(|m| m.payload() == b"ping"),
            10,
        );
        let l = Arc::clone(&log);
        client.on_if(
            Command::Publish,
            move |_, _| {
                l.lock().unwrap().push("low".into());
                Ok(())
            },
            |e| e.message().is_some_and(|m| m.payload() == b"ping"),
            1,
        );
        let l = Arc::clone(&log);
        client.on_message(move |_, e| {
            let m = e.message().expect("message");
            l.lock()
                .unwrap()
                .push(format!("msg:{}", m.payload_str().unwrap_or("")));
            Ok(())
        });
        let l = Arc::clone(&log);
        client.on(Command::SubAck, move |_, _| {
            l.lock().unwrap().push("suback".into());
            Err("reported, not swallowed".into())
        });
        within(
            "SUBACK",
            client.subscribe(&[("cb/#", QoS::ExactlyOnce)]).unwrap(),
        )
        .await
        .expect("subscribed");
        client
            .publish("cb/in", b"ping", QoS::AtLeastOnce, false)
            .unwrap();
        client
            .publish("cb/in", b"hello", QoS::ExactlyOnce, false)
            .unwrap();
        let mut got = messages(&mut events, 3, &broker).await;
        got.sort();
        assert_eq!(
            got,
            vec![
                ("hello".to_owned(), QoS::ExactlyOnce),
                ("ping".to_owned(), QoS::AtLeastOnce),
                ("pong".to_owned(), QoS::AtLeastOnce),
            ]
        );
        let mut seen = log.lock().unwrap().clone();
        seen.sort();
        assert_eq!(seen, vec!["high:ping", "msg:hello", "msg:pong", "suback"]);
        let failures = client.take_callback_failures();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert_eq!(failures[0].command, Some(Command::SubAck));
        assert_eq!(failures[0].message, "reported, not swallowed");
        client.disconnect().await;
    });
}

/// With a window of 2 and a queue of 2, `publish` fails with QueueFull while
/// `publish_when_ready` waits for room; every message completes.
#[test]
fn publish_when_ready_waits_for_room() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let options = ClientOptions::new()
            .client_id("room")
            .protocol(ProtocolVersion::V5)
            .max_inflight(2)
            .max_queued(2)
            .port(broker.port());
        let (client, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        // The driver is spawned only after the window and the queue are
        // full: a running driver could see acknowledgements between these
        // calls and free room, which would make the QueueFull check racy.
        let mut handles = Vec::new();
        for i in 0..4 {
            handles.push(
                client
                    .publish("room/t", format!("{i}").as_bytes(), QoS::ExactlyOnce, false)
                    .unwrap(),
            );
        }
        assert!(matches!(
            client.publish("room/t", b"x", QoS::ExactlyOnce, false),
            Err(ClientError::Publish(
                mqtt_sansio_session::PublishError::QueueFull
            ))
        ));
        let driver = smol::spawn(driver);
        for i in 4..60 {
            let h = within(
                "room",
                client.publish_when_ready(
                    "room/t",
                    format!("{i}").as_bytes(),
                    QoS::ExactlyOnce,
                    false,
                ),
            )
            .await
            .expect("published");
            handles.push(h);
        }
        for h in handles {
            assert!(matches!(
                within("ack", h).await,
                Ok(PublishOutcome::Acknowledged(_))
            ));
        }
        client.disconnect().await;
        assert!(within("driver", driver).await.is_ok());
    });
}

/// `ClientOptions::sock_keepalive` reaches the socket.
#[test]
fn tcp_keepalive_is_applied() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let options =
            ClientOptions::new().sock_keepalive(4, Duration::from_secs(30), Duration::from_secs(5));
        let (client, _events) = connect(&broker, "tcp-ka", true, options).await;
        let k = client
            .socket_keepalive()
            .expect("readable")
            .expect("keepalive on");
        assert_eq!(
            (k.count, k.idle, k.interval),
            (4, Duration::from_secs(30), Duration::from_secs(5))
        );
        client.disconnect().await;
    });
}

/// With keepalive 1 s and nothing to send, the driver's timer sends PINGREQ on time.
#[test]
fn keepalive_pings_when_idle() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (client, mut events) =
            connect(&broker, "idle", true, ClientOptions::new().keep_alive(1)).await;
        let mut pings = 0;
        within("PINGRESP", async {
            while pings < 2 {
                if let Some(Event::PingResp) = events.next().await {
                    pings += 1;
                }
            }
        })
        .await;
        assert!(client.is_connected());
        client.disconnect().await;
    });
}

/// `disconnect` sends DISCONNECT, ends the driver with `Ok`, ends the stream, and later
/// commands fail with `Closed`; dropping every client handle does the same.
#[test]
fn disconnect_and_drop_end_the_driver_cleanly() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let options = ClientOptions::new().client_id("bye").port(broker.port());
        let (client, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        let driver = smol::spawn(driver);
        let mut events = client.events();
        client.disconnect().await;
        assert!(within("driver", driver).await.is_ok());
        let mut rest = Vec::new();
        while let Some(e) = within("stream end", events.next()).await {
            rest.push(e);
        }
        assert!(
            rest.iter().any(|e| matches!(e, Event::Disconnected { .. })),
            "{rest:?}"
        );
        assert!(matches!(
            client.publish("t", b"", QoS::AtMostOnce, false),
            Err(ClientError::Closed)
        ));

        let options = ClientOptions::new()
            .client_id("dropped")
            .port(broker.port());
        let (client, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        let driver = smol::spawn(driver);
        drop(client);
        assert!(within("driver after drop", driver).await.is_ok());
    });
    // The broker handles the DISCONNECT after the socket closed: wait for its log line.
    for id in ["bye", "dropped"] {
        let line = format!("Client {id} disconnected.");
        let deadline = std::time::Instant::now() + STEP;
        while !broker.log().contains(&line) {
            assert!(
                std::time::Instant::now() < deadline,
                "no DISCONNECT from {id}\n{}",
                broker.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Dropping the driver closes the socket at once, even while the application still holds
/// the client and its event stream: the broker sees the connection end without DISCONNECT
/// and publishes the will (a duplicate of the socket kept for option getters once held the
/// connection open until the last client handle was gone).
#[test]
fn dropping_the_driver_closes_the_socket() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (observer, mut observed) =
            connect(&broker, "drop-drv-obs", true, ClientOptions::new()).await;
        within(
            "SUBACK",
            observer
                .subscribe(&[("drop-drv/#", QoS::AtLeastOnce)])
                .unwrap(),
        )
        .await
        .expect("subscribed");
        let options = ClientOptions::new()
            .client_id("drop-drv")
            .will_message("drop-drv/will", b"gone", QoS::AtLeastOnce, false)
            .port(broker.port());
        let (client, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        let events = client.events();
        drop(driver);
        assert!(client.is_closed());
        let got = messages(&mut observed, 1, &broker).await;
        assert_eq!(got, vec![("gone".to_owned(), QoS::AtLeastOnce)]);
        // The handles are still alive here: the socket closed without them.
        drop((client, events));
        observer.disconnect().await;
    });
}

/// With keepalive 1 s the driver's timer brings PINGREQ on an idle link, and again while
/// the client only publishes QoS 0 (nothing comes back, so only PINGRESP proves the link
/// alive): the connection outlives several silence timeouts (1.5 s) in both phases, though
/// every packet moves the keepalive deadlines.
#[test]
fn keepalive_pings_when_idle_and_while_only_sending() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let options = ClientOptions::new().keep_alive(1);
        let (client, mut events) = connect(&broker, "ka-async", true, options).await;
        within(
            "3 PINGRESP while idle",
            pongs(&client, &mut events, 3, false),
        )
        .await;
        within(
            "3 PINGRESP while publishing",
            pongs(&client, &mut events, 3, true),
        )
        .await;
        assert!(client.is_connected());
        assert!(client.last_disconnect().is_none(), "never disconnected");
        let pings = broker
            .log()
            .matches("Received PINGREQ from ka-async")
            .count();
        assert!(pings >= 6, "the broker logged {pings} PINGREQ");
        client.disconnect().await;
    });
}

/// Waits for `n` PINGRESP events; every 200 ms publishes a QoS 0 message when `publish`.
async fn pongs(client: &AsyncClient, events: &mut EventStream, n: usize, publish: bool) {
    let mut got = 0;
    let mut tick = async_io::Timer::interval(Duration::from_millis(200));
    while got < n {
        let next = future::or(async { Some(events.next().await) }, async {
            tick.next().await;
            None
        });
        match next.await {
            Some(Some(Event::PingResp)) => got += 1,
            Some(Some(Event::Disconnected { reason, .. })) => panic!("the link dropped: {reason}"),
            Some(None) => panic!("the event stream ended"),
            Some(Some(_)) => {}
            None if publish => {
                client
                    .publish("ka/out", b"q0", QoS::AtMostOnce, false)
                    .expect("publish");
            }
            None => {}
        }
    }
}

/// A publish queued behind a full window and never sent can be cancelled: its future fails
/// with `Cancelled` and the message never reaches a subscriber, while the message before it
/// is delivered and acknowledged (issue 10: "a queued publish not yet sent can be
/// cancelled").
#[test]
fn cancel_fails_a_queued_publish_that_is_then_never_sent() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (sub, mut sub_events) =
            connect(&broker, "cancel-sub", true, ClientOptions::new()).await;
        within(
            "SUBACK",
            sub.subscribe(&[("cancel/#", QoS::AtLeastOnce)]).unwrap(),
        )
        .await
        .expect("subscribed");
        let options = ClientOptions::new()
            .client_id("cancel-pub")
            .max_inflight(1)
            .port(broker.port());
        let (publisher, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        // The driver runs only after the cancel: nothing is written before it.
        let first = publisher
            .publish("cancel/t", b"kept", QoS::AtLeastOnce, false)
            .unwrap();
        let second = publisher
            .publish("cancel/t", b"cancelled", QoS::AtLeastOnce, false)
            .unwrap();
        publisher
            .cancel(second.token())
            .expect("cancel a queued publish");
        assert!(
            publisher.cancel(second.token()).is_err(),
            "a second cancel of the same publish is refused"
        );
        let driver = smol::spawn(driver);
        assert!(matches!(
            within("cancelled", second).await,
            Err(ClientError::Cancelled)
        ));
        assert!(matches!(
            within("ack", first).await,
            Ok(PublishOutcome::Acknowledged(_))
        ));
        let got = messages(&mut sub_events, 1, &broker).await;
        assert_eq!(got, vec![("kept".to_owned(), QoS::AtLeastOnce)]);
        assert_eq!(quiet(&mut sub_events).await, Vec::<String>::new());
        assert_eq!(publisher.pending_messages(), 0);
        publisher.disconnect().await;
        assert!(within("driver", driver).await.is_ok());
        sub.disconnect().await;
    });
}

/// `reconnect()` drops the connection without DISCONNECT and connects again at once: the
/// stream reports the end with the local reason `ReconnectRequested` (not a transport
/// failure), `last_disconnect()` says the same, and publishing goes on (issue 10 defect 6).
#[test]
fn reconnect_reports_a_local_reason() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let (client, mut events) = connect(&broker, "re-async", true, ClientOptions::new()).await;
        assert_eq!(client.last_disconnect(), None);
        client.reconnect().expect("reconnect");
        let ended = within("reconnected", async {
            let mut ended = None;
            while let Some(e) = events.next().await {
                match e {
                    Event::Disconnected { reason, .. } => ended = Some(reason),
                    // The first Connected (of `connect`) comes before the end.
                    Event::Connected { .. } if ended.is_some() => break,
                    _ => {}
                }
            }
            ended
        })
        .await;
        assert_eq!(ended, Some(DisconnectReason::ReconnectRequested));
        assert_eq!(
            client.last_disconnect(),
            Some(DisconnectReason::ReconnectRequested)
        );
        assert!(client.is_connected());
        let h = client
            .publish("re/t", b"after", QoS::AtLeastOnce, false)
            .unwrap();
        assert!(matches!(
            within("ack", h).await,
            Ok(PublishOutcome::Acknowledged(_))
        ));
        client.disconnect().await;
    });
}

/// A completion still waiting when the driver is dropped fails with `Closed` at once
/// instead of hanging, and later commands are refused with `Closed`.
#[test]
fn dropping_the_driver_fails_waiting_completions() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let options = ClientOptions::new()
            .client_id("drop-wait")
            .port(broker.port());
        let (client, driver) = AsyncClient::connect(broker.host(), 60, options)
            .await
            .expect("connects");
        let waiting = client
            .publish("drop-wait/t", b"never acked", QoS::AtLeastOnce, false)
            .unwrap();
        drop(driver);
        assert!(matches!(
            within("completion", waiting).await,
            Err(ClientError::Closed)
        ));
        assert!(matches!(
            client.publish("drop-wait/t", b"later", QoS::AtLeastOnce, false),
            Err(ClientError::Closed)
        ));
    });
}
