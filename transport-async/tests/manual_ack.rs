//! Manual acknowledgements (issue 12) on the async client, against mosquitto: a message
//! never acknowledged comes back after a reconnect, with DUP and a new token (the old one is
//! stale), and one acknowledged does not; a 3.1.1 window holds the broker back until the
//! application acknowledges.

use std::time::Duration;

use futures_lite::future;
use futures_lite::StreamExt;
use mqtt_sansio_async::{
    AckError, AsyncClient, ClientError, ClientOptions, Event, EventStream, Message,
    ProtocolVersion, QoS,
};
use mqtt_test_broker::{Broker, BrokerConfig};

const STEP: Duration = Duration::from_secs(10);

fn options(broker: &Broker, id: &str, v: ProtocolVersion, window: u16) -> ClientOptions {
    ClientOptions::new()
        .client_id(id)
        .clean_start(false)
        .session_expiry(300)
        .protocol(v)
        .port(broker.port())
        .manual_acks(window)
}

async fn connect(broker: &Broker, options: ClientOptions) -> (AsyncClient, EventStream, bool) {
    let (client, driver) = AsyncClient::connect(broker.host(), 30, options)
        .await
        .unwrap_or_else(|e| panic!("connects: {e}\n{}", broker.log()));
    smol::spawn(driver).detach();
    let events = client.events();
    let present = client.session_present();
    (client, events, present)
}

/// The next event matching `pick`, within `STEP`.
async fn next<T>(
    events: &mut EventStream,
    broker: &Broker,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = std::time::Instant::now() + STEP;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let got = future::or(async { Some(events.next().await) }, async {
            async_io::Timer::after(left).await;
            None
        })
        .await;
        match got {
            Some(Some(e)) => {
                if let Some(t) = pick(e) {
                    return t;
                }
            }
            Some(None) => panic!("the stream ended\n{}", broker.log()),
            None => panic!("nothing within {STEP:?}\n{}", broker.log()),
        }
    }
}

async fn next_message(events: &mut EventStream, broker: &Broker) -> Message {
    next(events, broker, |e| match e {
        Event::Message(m) | Event::MessageReleased(m) => Some(m),
        _ => None,
    })
    .await
}

async fn publisher(broker: &Broker, id: &str) -> AsyncClient {
    let options = ClientOptions::new().client_id(id).port(broker.port());
    let (client, driver) = AsyncClient::connect(broker.host(), 30, options)
        .await
        .unwrap_or_else(|e| panic!("connects: {e}\n{}", broker.log()));
    smol::spawn(driver).detach();
    client
}

#[test]
fn unacknowledged_messages_come_back_after_a_reconnect() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
        smol::block_on(async {
            let id = format!("i12-async-manual-{v:?}");
            let (sub, mut events, _) = connect(&broker, options(&broker, &id, v, 10)).await;
            sub.subscribe(&[("manual/#", QoS::ExactlyOnce)])
                .unwrap()
                .await
                .unwrap();
            let publ = publisher(&broker, &format!("{id}-pub")).await;
            for (topic, qos) in [
                ("manual/a", QoS::AtLeastOnce),
                ("manual/b", QoS::ExactlyOnce),
                ("manual/c", QoS::AtLeastOnce),
            ] {
                publ.publish(topic, topic.as_bytes(), qos, false)
                    .unwrap()
                    .await
                    .unwrap();
            }
            let mut first = Vec::new();
            for _ in 0..3 {
                first.push(next_message(&mut events, &broker).await);
            }
            assert!(first.iter().all(|m| m.ack_token().is_some()));
            sub.ack(&first[0]).expect("acknowledged");
            assert_eq!(sub.unacknowledged(), 2);
            // A reconnect drops what was not written yet; a publish of our own, queued after
            // the PUBACK, has its PUBACK from the broker only once ours arrived there (one
            // ordered stream). Without this the broker could send the first one again too,
            // which QoS 1 allows.
            sub.publish("flush/marker", b"", QoS::AtLeastOnce, false)
                .unwrap()
                .await
                .unwrap();

            // Within the client: a reconnect; the old tokens are stale, the rest comes back.
            sub.reconnect().expect("reconnects");
            next(&mut events, &broker, |e| {
                matches!(e, Event::Connected { .. }).then_some(())
            })
            .await;
            for m in &first[1..] {
                assert!(
                    matches!(sub.ack(m), Err(ClientError::Ack(AckError::Stale))),
                    "{v:?}"
                );
            }
            let mut again = Vec::new();
            for _ in 0..2 {
                again.push(next_message(&mut events, &broker).await);
            }
            let topics: Vec<&str> = again.iter().map(|m| m.topic()).collect();
            assert_eq!(topics, ["manual/b", "manual/c"], "{v:?}");
            assert!(again.iter().all(|m| m.dup), "{v:?}");
            for m in &again {
                sub.ack(m).expect("acknowledged");
            }
            assert_eq!(sub.unacknowledged(), 0);
            sub.disconnect().await;

            // All acknowledged: a new connection gets only what is new (mosquitto sends a
            // resumed session's messages first, so the sentinel coming first shows it).
            let (sub, mut events, present) = connect(&broker, options(&broker, &id, v, 10)).await;
            assert!(present, "{v:?}: session resumed");
            publ.publish("manual/sentinel", b"s", QoS::AtLeastOnce, false)
                .unwrap()
                .await
                .unwrap();
            let m = next_message(&mut events, &broker).await;
            assert_eq!(m.topic(), "manual/sentinel", "{v:?}");
            sub.ack(&m).expect("acknowledged");
            sub.disconnect().await;
            publ.disconnect().await;
        });
    }
}

#[test]
fn a_v311_window_holds_the_broker_back_until_the_application_acknowledges() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto starts");
    smol::block_on(async {
        let window = 3;
        let opts = options(&broker, "i12-async-window", ProtocolVersion::V311, window);
        let (sub, mut events, _) = connect(&broker, opts).await;
        sub.subscribe(&[("manual/#", QoS::AtLeastOnce)])
            .unwrap()
            .await
            .unwrap();
        let publ = publisher(&broker, "i12-async-window-pub").await;
        let total = 10;
        for n in 0..total {
            publ.publish(&format!("manual/{n:02}"), b"w", QoS::AtLeastOnce, false)
                .unwrap()
                .await
                .unwrap();
        }
        let mut got = Vec::new();
        let mut held: Vec<Message> = Vec::new();
        while got.len() < total {
            if held.len() == usize::from(window) {
                assert!(sub.unacknowledged() <= usize::from(window));
                let extra = future::or(
                    async { events.next().await.and_then(|e| e.message().cloned()) },
                    async {
                        async_io::Timer::after(Duration::from_millis(300)).await;
                        None
                    },
                )
                .await;
                assert!(extra.is_none(), "a message past the window: {extra:?}");
                let m = held.remove(0);
                sub.ack(&m).expect("acknowledged");
                continue;
            }
            let m = next_message(&mut events, &broker).await;
            got.push(m.topic().to_owned());
            held.push(m);
        }
        for m in &held {
            sub.ack(m).expect("acknowledged");
        }
        let expected: Vec<String> = (0..total).map(|n| format!("manual/{n:02}")).collect();
        assert_eq!(got, expected);
        sub.disconnect().await;
        publ.disconnect().await;
    });
}
