//! Issue 16's API pieces on the blocking client, against mosquitto: topic routing at every
//! QoS, connection callbacks across a broker restart, a tracked publish queued offline, and
//! the event receiver telling a timeout from a closed client.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{Client, ClientError, ClientOptions, DisconnectReason, QoS, RecvError};
use mqtt_sansio_session::SubscribeError;
use mqtt_test_broker::{Broker, BrokerConfig};

fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn connect(broker: &Broker, id: &str, clean: bool) -> Client {
    let client = Client::new(id, clean);
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .expect("connects");
    client
}

/// `on_topic` gets each matching message once at QoS 0, 1 and 2 (QoS 2 on release), a
/// non-matching one never: the non-matching topic goes to `on_message`.
#[test]
fn on_topic_gets_each_qos_once_and_not_other_topics() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = connect(&broker, "i16-on-topic", true);
    let routed = Arc::new(Mutex::new(Vec::new()));
    let other = Arc::new(Mutex::new(Vec::new()));
    let r = routed.clone();
    client
        .on_topic("route/+/temp", move |_c, m| {
            r.lock().unwrap().push((m.topic().to_owned(), m.qos));
            Ok(())
        })
        .expect("valid filter");
    let o = other.clone();
    let _ = client.on_message(move |_c, e| {
        if let Some(m) = e.message() {
            o.lock().unwrap().push(m.topic().to_owned());
        }
        Ok(())
    });
    client.start_loop();
    client
        .subscribe_and_wait(
            &[mqtt_sansio_mio::Subscription::new(
                mqtt_sansio_mio::TopicFilter::new("route/#").unwrap(),
                QoS::ExactlyOnce,
            )],
            &Default::default(),
            Duration::from_secs(5),
        )
        .expect("SUBACK");
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client.publish("route/a/temp", b"t", qos, false).unwrap();
        client.publish("route/a/hum", b"h", qos, false).unwrap();
    }
    eventually("six messages", Duration::from_secs(5), || {
        routed.lock().unwrap().len() + other.lock().unwrap().len() >= 6
    });
    std::thread::sleep(Duration::from_millis(200)); // a duplicate would show now
    let mut got = routed.lock().unwrap().clone();
    got.sort_by_key(|(_, q)| *q as u8);
    let temp = "route/a/temp".to_owned();
    assert_eq!(
        got,
        [
            (temp.clone(), QoS::AtMostOnce),
            (temp.clone(), QoS::AtLeastOnce),
            (temp, QoS::ExactlyOnce)
        ],
        "{}",
        broker.log()
    );
    assert_eq!(*other.lock().unwrap(), ["route/a/hum"; 3]);
    client.disconnect();
}

#[test]
fn on_topic_refuses_an_invalid_filter_at_registration() {
    let client = Client::new("i16-bad-filter", true);
    let r = client.on_topic("a/#/b", |_c, _m| Ok(()));
    assert!(
        matches!(
            r,
            Err(ClientError::Subscribe(SubscribeError::InvalidFilter(_)))
        ),
        "{r:?}"
    );
}

/// Connected / connection lost across a broker restart; the restarted (non-persistent)
/// broker lost the session of a persistent client, which reaches `on_session_lost`.
#[test]
fn connection_callbacks_across_a_broker_restart_and_a_lost_session() {
    let mut broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = Client::new("i16-conn-cb", false);
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = log.clone();
    client.on_connected(move |_c, info| {
        l.lock()
            .unwrap()
            .push(format!("connected present={}", info.session_present));
        Ok(())
    });
    let l = log.clone();
    client.on_connection_lost(move |_c, reason| {
        l.lock().unwrap().push(format!("lost {reason:?}"));
        Ok(())
    });
    let l = log.clone();
    client.on_session_lost(move |_c, _resent| {
        l.lock().unwrap().push("session lost".into());
        Ok(())
    });
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .expect("connects");
    client.start_loop();
    // Leave state the broker must keep: a subscription acknowledged (a persistent session).
    client
        .subscribe(&[("conn-cb/#", QoS::AtLeastOnce)])
        .unwrap();
    eventually("first connected", Duration::from_secs(5), || {
        !log.lock().unwrap().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    broker.restart().expect("restarts");
    eventually("reconnected", Duration::from_secs(20), || {
        log.lock()
            .unwrap()
            .iter()
            .filter(|s| s.starts_with("connected"))
            .count()
            == 2
    });
    std::thread::sleep(Duration::from_millis(200));
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen.first().map(String::as_str),
        Some("connected present=false")
    );
    let lost = seen
        .iter()
        .position(|s| s.starts_with("lost"))
        .expect("lost");
    assert!(
        seen[lost].contains(&format!("{:?}", DisconnectReason::TransportClosed)),
        "{seen:?}"
    );
    let again = seen
        .iter()
        .rposition(|s| s.starts_with("connected"))
        .unwrap();
    assert!(lost < again, "{seen:?}");
    assert_eq!(seen[again], "connected present=false", "{seen:?}");
    assert!(seen.iter().any(|s| s == "session lost"), "{seen:?}");
    client.disconnect();
}

/// A QoS 1 publish made while the broker is down keeps its handle: not done while offline,
/// acknowledged after the broker is back and the client reconnected.
#[test]
fn tracked_publish_queued_offline_resolves_after_reconnect() {
    let mut broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = connect(&broker, "i16-tracked", true);
    broker.kill();
    eventually("disconnected", Duration::from_secs(10), || {
        !client.is_connected()
    });
    let handle = client
        .publish_handle("tracked/offline", b"x", QoS::AtLeastOnce, false)
        .expect("queued while offline");
    assert!(handle.packet_id().is_some());
    assert!(
        handle.try_result().is_none(),
        "pending while the broker is down"
    );
    assert!(matches!(
        handle.wait(Duration::from_millis(100)),
        Err(ClientError::Timeout)
    ));
    broker.restart().expect("restarts");
    let outcome = handle
        .wait(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}: {}", broker.log()));
    assert!(
        matches!(outcome, mqtt_sansio_mio::PublishOutcome::Acknowledged(_)),
        "{outcome:?}"
    );
    client.disconnect();
}

/// `recv_timeout` says Timeout while the client runs quietly and Closed once it stopped and
/// every event was taken; `recv_iter` yields the timeouts and ends on close.
#[test]
fn recv_tells_a_timeout_from_a_closed_client() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = connect(&broker, "i16-recv", true);
    // The Connected event first, then nothing.
    assert!(client.recv_timeout(Duration::from_secs(2)).is_ok());
    assert_eq!(
        client.recv_timeout(Duration::from_millis(100)).err(),
        Some(RecvError::Timeout)
    );
    let first = client.recv_iter(Duration::from_millis(50)).next();
    assert!(matches!(first, Some(Err(RecvError::Timeout))), "{first:?}");
    client.disconnect();
    // The Disconnected event may still wait; then Closed for good.
    let rest: Vec<_> = client.recv_iter(Duration::from_millis(200)).collect();
    assert!(rest.iter().all(|r| r.is_ok()), "{rest:?}");
    assert_eq!(
        client.recv_timeout(Duration::from_millis(100)).err(),
        Some(RecvError::Closed)
    );
}

fn connect_v5(broker: &Broker, id: &str) -> Client {
    let client = Client::with_options(
        ClientOptions::new()
            .client_id(id)
            .protocol(mqtt_sansio_mio::ProtocolVersion::V5),
    );
    client
        .connect(broker.host(), 30, ClientOptions::new().port(broker.port()))
        .expect("connects");
    client
}

/// 5.0 request/response: the responder answers on the request's Response Topic with its
/// Correlation Data (typed properties made with the builder); `request` resolves with that
/// reply, twice in a row (the response topic is subscribed once), and times out when no
/// one answers.
#[test]
fn request_resolves_with_the_reply_of_a_responder() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let responder = connect_v5(&broker, "i16-responder");
    responder
        .on_topic("svc/upper", |c, m| {
            let props = m.properties();
            let (Some(to), Some(corr)) = (props.response_topic(), props.correlation_data()) else {
                return Err("request without response topic".into());
            };
            let reply = mqtt_sansio_mio::PublishProperties::new()
                .correlation_data(corr)
                .user_property("served-by", "responder")
                .content_type("text/plain");
            let upper = m.payload().to_ascii_uppercase();
            c.publish_with(to, &upper, QoS::AtLeastOnce, false, &reply)?;
            Ok(())
        })
        .unwrap();
    responder.start_loop();
    responder
        .subscribe_and_wait(
            &[mqtt_sansio_mio::Subscription::new(
                mqtt_sansio_mio::TopicFilter::new("svc/upper").unwrap(),
                QoS::AtLeastOnce,
            )],
            &Default::default(),
            Duration::from_secs(5),
        )
        .expect("SUBACK");

    let requester = connect_v5(&broker, "i16-requester");
    for word in ["hello", "again"] {
        let reply = requester
            .request("svc/upper", word.as_bytes(), Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("{e}: {}", broker.log()));
        assert_eq!(reply.payload(), word.to_ascii_uppercase().as_bytes());
        assert_eq!(reply.topic(), "i16-requester/responses");
        let props = reply.properties();
        assert!(
            props
                .iter()
                .any(|p| p
                    == mqtt_sansio_mio::mqtt_sansio_proto::Property::ContentType("text/plain")),
            "{props:?}"
        );
    }
    assert!(
        matches!(
            requester.request("svc/nobody", b"?", Duration::from_millis(300)),
            Err(ClientError::Timeout)
        ),
        "no responder: a timeout"
    );
    assert!(responder.take_callback_failures().is_empty());
    requester.disconnect();
    responder.disconnect();
}

#[test]
fn request_needs_mqtt_5() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = connect(&broker, "i16-request-v311", true);
    assert!(matches!(
        client.request("svc/x", b"?", Duration::from_millis(100)),
        Err(ClientError::RequiresV5)
    ));
    client.disconnect();
}

/// A property list out of range is refused when the publish is made, nothing queued.
#[test]
fn publish_properties_are_checked_when_the_publish_is_made() {
    let client = Client::with_options(
        ClientOptions::new()
            .client_id("i16-props")
            .protocol(mqtt_sansio_mio::ProtocolVersion::V5),
    );
    let bad = mqtt_sansio_mio::PublishProperties::new().content_type("nul\0inside");
    let r = client.publish_with("t", b"x", QoS::AtLeastOnce, false, &bad);
    assert!(matches!(r, Err(ClientError::Property(_))), "{r:?}");
    assert_eq!(client.pending_messages(), 0);
}

/// `loop_forever` runs callbacks and returns once a callback disconnects the client.
#[test]
fn loop_forever_returns_when_a_callback_disconnects() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    let client = connect(&broker, "i16-loop-forever", true);
    client
        .on_topic("forever/stop", |c, _m| {
            c.disconnect();
            Ok(())
        })
        .unwrap();
    client.subscribe(&[("forever/#", QoS::AtMostOnce)]).unwrap();
    client
        .publish("forever/stop", b"", QoS::AtMostOnce, false)
        .unwrap();
    let started = Instant::now();
    let reason = client.loop_forever();
    assert!(reason.is_some(), "stopped: {reason:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
