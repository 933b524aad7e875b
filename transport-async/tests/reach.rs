//! Issue 13 (reach) on the async client, with real components on loopback: QoS 0/1/2
//! round trips over ws and wss (rumqttd's WebSocket listener), through tinyproxy (HTTP
//! CONNECT) and danted (SOCKS5) with and without credentials in front of TCP, TLS and
//! WebSocket; failover over three mosquittos with the current one killed mid-stream; a
//! simulated 5.0 broker whose CONNACK 0x9D Server Reference sends the client to mosquitto.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use mqtt_sansio_async::{
    AsyncClient, Backoff, ClientError, ClientOptions, Event, ProtocolVersion, Proxy, QoS, TlsConfig,
};
use mqtt_test_broker::reach::{Framing, ProxyProcess, WsBridge, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};

const WAIT: Duration = Duration::from_secs(10);

async fn with_timeout<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    futures_lite::future::or(async { Some(f.await) }, async {
        async_io::Timer::after(WAIT).await;
        None
    })
    .await
    .unwrap_or_else(|| panic!("timed out: {what}"))
}

/// Subscribes to `<prefix>/#` at QoS 2, publishes one message at each QoS and checks that
/// each comes back once, with its payload.
fn round_trip(options: ClientOptions, prefix: &str) {
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect_with(options.keep_alive(30))
            .await
            .expect("connects");
        let driver = smol::spawn(driver);
        let mut events = client.events();
        let filter = format!("{prefix}/#");
        with_timeout(
            "SUBACK",
            client
                .subscribe(&[(filter.as_str(), QoS::ExactlyOnce)])
                .expect("subscribe"),
        )
        .await
        .expect("SUBACK");
        let mut expected = Vec::new();
        for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            let topic = format!("{prefix}/q{i}");
            let payload = format!("{prefix} payload at QoS {i}").into_bytes();
            with_timeout(
                "ack",
                client
                    .publish(&topic, &payload, qos, false)
                    .expect("publish"),
            )
            .await
            .expect("acknowledged");
            expected.push((topic, payload));
        }
        let mut got = Vec::new();
        let deadline = Instant::now() + WAIT;
        while got.len() < expected.len() && Instant::now() < deadline {
            if let Some(Event::Message(m) | Event::MessageReleased(m)) =
                with_timeout("message", events.next()).await
            {
                got.push((m.topic().to_owned(), m.payload().to_vec()));
            }
        }
        got.sort();
        assert_eq!(got, expected, "{prefix}: every QoS once");
        let c = client.counters();
        assert_eq!(c.publishes_sent.total(), 3, "{prefix}: {c:?}");
        assert_eq!(c.publishes_received.total(), 3, "{prefix}: {c:?}");
        client.disconnect().await;
        let _ = driver.await;
    });
}

/// The connect error of these options.
fn connect_error(options: ClientOptions) -> ClientError {
    smol::block_on(async {
        match AsyncClient::connect_with(options).await {
            Ok(_) => panic!("connected"),
            Err(e) => e,
        }
    })
}

fn ws_url(scheme: &str, port: u16) -> String {
    format!("{scheme}://localhost:{port}/mqtt")
}

#[test]
fn qos_0_1_2_over_ws_and_wss_through_rumqttd() {
    let ws = WsBroker::start(false).expect("ws broker");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-ws")
            .server_url(&ws_url("ws", ws.port()))
            .expect("url"),
        "async/ws",
    );
    let wss = WsBroker::start(true).expect("wss broker");
    let tls = TlsConfig::with_ca_pem(wss.cert_pem().expect("cert").as_bytes()).expect("CA");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-wss")
            .server_url(&ws_url("wss", wss.port()))
            .expect("url")
            .tls(tls),
        "async/wss",
    );
}

#[test]
fn qos_0_1_2_through_an_http_connect_proxy_with_and_without_credentials() {
    let broker = Broker::start(BrokerConfig::plain().tls()).expect("mosquitto");
    let open = ProxyProcess::tinyproxy(None).expect("tinyproxy");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-http")
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::http("127.0.0.1", open.port())),
        "async/http",
    );
    let guarded = ProxyProcess::tinyproxy(Some(("mqttproxy", "pr0xy-pass"))).expect("tinyproxy");
    // TLS through the tunnel: the broker's certificate is checked end to end.
    let tls = TlsConfig::with_ca_pem(broker.ca_cert_pem().expect("CA").as_bytes()).expect("CA");
    let tls_port = broker.tls_port().expect("TLS listener");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-http-auth")
            .server_url(&format!("mqtts://localhost:{tls_port}"))
            .expect("url")
            .tls(tls)
            .proxy(
                Proxy::http("127.0.0.1", guarded.port()).credentials("mqttproxy", b"pr0xy-pass"),
            ),
        "async/http-auth",
    );
    // Wrong credentials: the proxy's refusal (tinyproxy answers 401, RFC 9110 says 407) is
    // the connect error, nothing hangs.
    match connect_error(
        ClientOptions::new()
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::http("127.0.0.1", guarded.port()).credentials("mqttproxy", b"wrong")),
    ) {
        ClientError::Io(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
        }
        other => panic!(
            "expected the proxy's refusal, got {other:?}\n{}",
            guarded.log()
        ),
    }
}

#[test]
fn qos_0_1_2_through_a_socks5_proxy_with_and_without_credentials() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let open = ProxyProcess::dante(None).expect("danted");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-socks")
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::socks5("127.0.0.1", open.port())),
        "async/socks",
    );
    let guarded = ProxyProcess::dante(Some(("mqttsocks", "s0cks-pass"))).expect("danted");
    // WebSocket through the tunnel, with the host name resolved by the proxy.
    let ws = WsBroker::start(false).expect("ws broker");
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-socks-auth")
            .server_url(&ws_url("ws", ws.port()))
            .expect("url")
            .proxy(
                Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"s0cks-pass"),
            ),
        "async/socks-auth",
    );
    match connect_error(
        ClientOptions::new()
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"wrong")),
    ) {
        ClientError::Io(e) => assert!(e.to_string().contains("credentials"), "{e}"),
        other => panic!(
            "expected the proxy's refusal, got {other:?}\n{}",
            guarded.log()
        ),
    }
}

/// Three brokers; the one in use is killed while QoS 1 messages stream: the client goes on
/// with the next one (its first dial after the loss succeeds: it did not retry the dead
/// one), and every publish completes, acknowledged or failed with a reason.
#[test]
fn failover_to_the_next_of_three_brokers_mid_stream() {
    let mut brokers: Vec<Broker> = (0..3)
        .map(|_| Broker::start(BrokerConfig::plain()).expect("mosquitto"))
        .collect();
    let urls: Vec<String> = brokers
        .iter()
        .map(|b| format!("mqtt://127.0.0.1:{}", b.port()))
        .collect();
    let options = ClientOptions::new()
        .client_id("reach-async-failover")
        .clean_start(false)
        .keep_alive(5)
        .servers_from_urls(&urls)
        .expect("urls")
        .backoff(Backoff::new(
            Duration::from_millis(50),
            Duration::from_millis(500),
        ));
    smol::block_on(async {
        let (client, driver) = AsyncClient::connect_with(options)
            .await
            .expect("connects to the first");
        let driver = smol::spawn(driver);
        let mut handles = Vec::new();
        for i in 0..200u32 {
            if i == 50 {
                brokers[0].kill();
            }
            let payload = format!("m{i}");
            loop {
                match client.publish("failover/t", payload.as_bytes(), QoS::AtLeastOnce, false) {
                    Ok(h) => break handles.push(h),
                    Err(ClientError::Publish(_)) => {
                        async_io::Timer::after(Duration::from_millis(5)).await;
                    }
                    Err(e) => panic!("publish refused: {e}"),
                }
            }
        }
        let mut acked = 0;
        let mut failed = Vec::new();
        for h in handles {
            let outcome = futures_lite::future::or(async { Some(h.await) }, async {
                async_io::Timer::after(Duration::from_secs(30)).await;
                None
            })
            .await;
            match outcome {
                Some(Ok(_)) => acked += 1,
                Some(Err(e)) => failed.push(e.to_string()),
                None => panic!("a completion was left hanging"),
            }
        }
        assert_eq!(acked + failed.len(), 200);
        let c = client.counters();
        assert!(c.reconnects >= 1, "{c:?}");
        assert_eq!(
            c.dial_failures, 0,
            "went straight to the next broker: {c:?}"
        );
        assert!(
            acked >= 150,
            "acked {acked}, failed {failed:?}\n{}",
            brokers[1].log()
        );
        client.disconnect().await;
        let _ = driver.await;
    });
}

/// A 5.0 CONNACK with reason `code` and a Server Reference, read after one CONNECT.
fn redirecting_broker(code: u8, reference: &str) -> (u16, std::thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let reference = reference.to_owned();
    let handle = std::thread::spawn(move || {
        let Ok((mut socket, _)) = listener.accept() else {
            return false;
        };
        socket.set_read_timeout(Some(WAIT)).expect("timeout");
        let mut first = [0u8; 2];
        if socket.read_exact(&mut first).is_err() || first[0] != 0x10 {
            return false;
        }
        let mut rest = vec![0u8; usize::from(first[1])];
        if socket.read_exact(&mut rest).is_err() {
            return false;
        }
        // CONNACK: flags 0, reason, properties: Server Reference (0x1C) as a UTF-8 string.
        let mut props = vec![0x1C];
        props.extend((reference.len() as u16).to_be_bytes());
        props.extend(reference.as_bytes());
        let mut body = vec![0, code, props.len() as u8];
        body.extend(props);
        let mut packet = vec![0x20, body.len() as u8];
        packet.extend(body);
        socket.write_all(&packet).is_ok()
    });
    (port, handle)
}

#[test]
fn connack_0x9d_with_a_server_reference_sends_the_client_to_the_referenced_broker() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let (port, sim) = redirecting_broker(0x9D, &format!("127.0.0.1:{}", broker.port()));
    round_trip(
        ClientOptions::new()
            .client_id("reach-async-redirect")
            .protocol(ProtocolVersion::V5)
            .server("127.0.0.1", port)
            .follow_server_reference(true),
        "async/redirect",
    );
    assert!(sim.join().expect("simulated broker"), "CONNACK 0x9D sent");

    // Not allowed by the options: the refusal is the connect error.
    let (port, sim) = redirecting_broker(0x9D, &format!("127.0.0.1:{}", broker.port()));
    assert!(matches!(
        connect_error(
            ClientOptions::new()
                .protocol(ProtocolVersion::V5)
                .server("127.0.0.1", port)
        ),
        ClientError::Refused(_)
    ));
    assert!(sim.join().expect("simulated broker"));
}

/// MQTT 5.0 over WebSocket to mosquitto through a bridge that cuts the broker's bytes into
/// 1-3 byte frames (packets span frames) or gathers them (a frame holds several packets)
/// [MQTT-6.0.0-2]; the upgrade carries the URL's path and query, the `mqtt` subprotocol
/// [MQTT-6.0.0-3] and the caller's header.
#[test]
fn websocket_frames_need_not_match_packets() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    for framing in [Framing::Split, Framing::Coalesce] {
        let bridge = WsBridge::start(broker.port(), framing).expect("bridge");
        let prefix = format!("async/bridge/{framing:?}");
        round_trip(
            ClientOptions::new()
                .client_id(format!("reach-async-bridge-{framing:?}"))
                .protocol(ProtocolVersion::V5)
                .server_url(&format!(
                    "ws://127.0.0.1:{}/gw/mqtt?tenant=7",
                    bridge.port()
                ))
                .expect("url")
                .ws_header("Authorization", "Bearer reach-token"),
            &prefix,
        );
        let upgrade = bridge.upgrades().pop().expect("one upgrade");
        assert_eq!(upgrade.path, "/gw/mqtt?tenant=7");
        let header = |name: &str| {
            upgrade
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("sec-websocket-protocol").as_deref(), Some("mqtt"));
        assert_eq!(
            header("authorization").as_deref(),
            Some("Bearer reach-token")
        );
    }
}

/// A text frame is not MQTT: the client closes the connection [MQTT-6.0.0-1] and the first
/// connect fails instead of waiting for a CONNACK that never comes.
#[test]
fn a_text_frame_closes_the_connection() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let bridge = WsBridge::start(broker.port(), Framing::Text).expect("bridge");
    match connect_error(
        ClientOptions::new()
            .server_url(&format!("ws://127.0.0.1:{}", bridge.port()))
            .expect("url")
            .connect_timeout(WAIT),
    ) {
        // The read error says why [MQTT-6.0.0-1], as with the mio client.
        ClientError::Io(e) => assert!(e.to_string().contains("MQTT-6.0.0-1"), "{e}"),
        ClientError::Timeout => panic!("the text frame did not end the connection"),
        other => panic!("the connect error does not say why: {other}"),
    }
}
