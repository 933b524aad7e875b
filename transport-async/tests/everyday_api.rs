//! Issue 16's API pieces on the async client, against mosquitto: topic routing at every
//! QoS, connection callbacks across a broker restart and a lost session, request/response.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mqtt_sansio_async::{
    AsyncClient, ClientError, ClientOptions, DisconnectReason, ProtocolVersion, PublishProperties,
    QoS,
};
use mqtt_test_broker::{Broker, BrokerConfig};

async fn connect(broker: &Broker, id: &str, clean: bool, version: ProtocolVersion) -> AsyncClient {
    let options = ClientOptions::new()
        .client_id(id)
        .clean_start(clean)
        .protocol(version)
        .port(broker.port());
    let (client, driver) = AsyncClient::connect(broker.host(), 30, options)
        .await
        .unwrap_or_else(|e| panic!("{id} connects: {e}\n{}", broker.log()));
    smol::spawn(driver).detach();
    client
}

async fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        async_io::Timer::after(Duration::from_millis(20)).await;
    }
}

/// `on_topic` gets each matching message once at QoS 0, 1 and 2 (QoS 2 on release); the
/// non-matching topic goes to `on_message`, never to it.
#[test]
fn on_topic_gets_each_qos_once_and_not_other_topics() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let client = connect(&broker, "i16a-on-topic", true, ProtocolVersion::V311).await;
        let routed = Arc::new(Mutex::new(Vec::new()));
        let other = Arc::new(Mutex::new(Vec::new()));
        let r = routed.clone();
        client
            .on_topic("route/+/temp", move |_c, m| {
                r.lock().unwrap().push(m.qos);
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
        client
            .subscribe(&[("route/#", QoS::ExactlyOnce)])
            .unwrap()
            .await
            .unwrap();
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            client.publish("route/a/temp", b"t", qos, false).unwrap();
            client.publish("route/a/hum", b"h", qos, false).unwrap();
        }
        eventually("six messages", Duration::from_secs(5), || {
            routed.lock().unwrap().len() + other.lock().unwrap().len() >= 6
        })
        .await;
        async_io::Timer::after(Duration::from_millis(200)).await;
        let mut got = routed.lock().unwrap().clone();
        got.sort_by_key(|q| *q as u8);
        assert_eq!(
            got,
            [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce],
            "{}",
            broker.log()
        );
        assert_eq!(*other.lock().unwrap(), ["route/a/hum"; 3]);
        client.disconnect().await;
    });
}

/// Connection lost (transport closed) then connected again across a broker restart; the
/// restarted broker lost the persistent session, which reaches `on_session_lost`.
#[test]
fn connection_callbacks_across_a_broker_restart_and_a_lost_session() {
    let mut broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let client = connect(&broker, "i16a-conn-cb", false, ProtocolVersion::V311).await;
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
            .subscribe(&[("conn-cb/#", QoS::AtLeastOnce)])
            .unwrap()
            .await
            .unwrap();
        broker.restart().expect("restarts");
        eventually("reconnected", Duration::from_secs(20), || {
            log.lock()
                .unwrap()
                .iter()
                .any(|s| s.starts_with("connected"))
        })
        .await;
        async_io::Timer::after(Duration::from_millis(200)).await;
        let seen = log.lock().unwrap().clone();
        let lost = seen
            .iter()
            .position(|s| s.starts_with("lost"))
            .expect("lost");
        assert_eq!(
            seen[lost],
            format!("lost {:?}", DisconnectReason::TransportClosed),
            "{seen:?}"
        );
        let again = seen
            .iter()
            .position(|s| s.starts_with("connected"))
            .unwrap();
        assert!(lost < again, "{seen:?}");
        assert_eq!(seen[again], "connected present=false", "{seen:?}");
        assert!(seen.iter().any(|s| s == "session lost"), "{seen:?}");
        client.disconnect().await;
    });
}

/// 5.0 request/response with a responder client; a request no one answers times out.
#[test]
fn request_resolves_with_the_reply_of_a_responder() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let responder = connect(&broker, "i16a-responder", true, ProtocolVersion::V5).await;
        responder
            .on_topic("svc/upper", |c, m| {
                let props = m.properties();
                let (Some(to), Some(corr)) = (props.response_topic(), props.correlation_data())
                else {
                    return Err("request without response topic".into());
                };
                let reply = PublishProperties::new().correlation_data(corr);
                let upper = m.payload().to_ascii_uppercase();
                drop(c.publish_with(to, &upper, QoS::AtLeastOnce, false, &reply)?);
                Ok(())
            })
            .unwrap();
        responder
            .subscribe(&[("svc/upper", QoS::AtLeastOnce)])
            .unwrap()
            .await
            .unwrap();
        let requester = connect(&broker, "i16a-requester", true, ProtocolVersion::V5).await;
        for word in ["hello", "again"] {
            let reply = requester
                .request("svc/upper", word.as_bytes(), Duration::from_secs(5))
                .await
                .unwrap_or_else(|e| panic!("{e}: {}", broker.log()));
            assert_eq!(reply.payload(), word.to_ascii_uppercase().as_bytes());
            assert_eq!(reply.topic(), "i16a-requester/responses");
        }
        let r = requester
            .request("svc/nobody", b"?", Duration::from_millis(300))
            .await;
        assert!(matches!(r, Err(ClientError::Timeout)), "{r:?}");
        assert!(responder.take_callback_failures().is_empty());
        requester.disconnect().await;
        responder.disconnect().await;
    });
}
