//! Issue 13 (reach) on the blocking client, with real components on loopback: QoS 0/1/2
//! round trips over ws and wss (rumqttd's WebSocket listener), through tinyproxy (HTTP
//! CONNECT) and danted (SOCKS5) with and without credentials in front of TCP, TLS and
//! WebSocket; failover over three mosquittos with the current one killed mid-stream; a
//! simulated 5.0 broker whose CONNACK 0x9D Server Reference sends the client to mosquitto.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{
    Backoff, Client, ClientError, ClientOptions, Event, ProtocolVersion, Proxy, QoS, Subscription,
    TlsConfig, TopicFilter,
};
use mqtt_test_broker::reach::{Framing, ProxyProcess, WsBridge, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};

const WAIT: Duration = Duration::from_secs(10);

/// Subscribes to `<prefix>/#` at QoS 2, publishes one message at each QoS and checks that
/// each comes back once, with its payload.
fn round_trip(options: ClientOptions, prefix: &str) {
    let client = Client::with_options(options.keep_alive(30));
    client.connect_configured().expect("connects");
    let filter = format!("{prefix}/#");
    client
        .subscribe_and_wait(
            &[Subscription::new(
                TopicFilter::new(&filter).expect("valid filter"),
                QoS::ExactlyOnce,
            )],
            &Default::default(),
            WAIT,
        )
        .expect("SUBACK");
    let mut expected = Vec::new();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let topic = format!("{prefix}/q{i}");
        let payload = format!("{prefix} payload at QoS {i}").into_bytes();
        client
            .publish_and_wait(&topic, &payload, qos, false, WAIT)
            .expect("acknowledged");
        expected.push((topic, payload));
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + WAIT;
    while got.len() < expected.len() && Instant::now() < deadline {
        if let Some(Event::Message(m) | Event::MessageReleased(m)) = client.next_event(WAIT) {
            got.push((m.topic().to_owned(), m.payload().to_vec()));
        }
    }
    got.sort();
    assert_eq!(got, expected, "{prefix}: every QoS once");
    let c = client.counters();
    assert_eq!(c.publishes_sent.total(), 3, "{prefix}: {c:?}");
    assert_eq!(c.publishes_received.total(), 3, "{prefix}: {c:?}");
    client.disconnect();
}

fn ws_url(scheme: &str, port: u16) -> String {
    format!("{scheme}://localhost:{port}/mqtt")
}

#[test]
fn qos_0_1_2_over_ws_and_wss_through_rumqttd() {
    let ws = WsBroker::start(false).expect("ws broker");
    round_trip(
        ClientOptions::new()
            .client_id("reach-mio-ws")
            .server_url(&ws_url("ws", ws.port()))
            .expect("url"),
        "mio/ws",
    );
    let wss = WsBroker::start(true).expect("wss broker");
    let tls = TlsConfig::with_ca_pem(wss.cert_pem().expect("cert").as_bytes()).expect("CA");
    round_trip(
        ClientOptions::new()
            .client_id("reach-mio-wss")
            .server_url(&ws_url("wss", wss.port()))
            .expect("url")
            .tls(tls),
        "mio/wss",
    );
}

#[test]
fn qos_0_1_2_through_an_http_connect_proxy_with_and_without_credentials() {
    let broker = Broker::start(BrokerConfig::plain().tls()).expect("mosquitto");
    let open = ProxyProcess::tinyproxy(None).expect("tinyproxy");
    round_trip(
        ClientOptions::new()
            .client_id("reach-mio-http")
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::http("127.0.0.1", open.port())),
        "mio/http",
    );
    let guarded = ProxyProcess::tinyproxy(Some(("mqttproxy", "pr0xy-pass"))).expect("tinyproxy");
    // TLS through the tunnel: the broker's certificate is checked end to end.
    let tls = TlsConfig::with_ca_pem(broker.ca_cert_pem().expect("CA").as_bytes()).expect("CA");
    let tls_port = broker.tls_port().expect("TLS listener");
    round_trip(
        ClientOptions::new()
            .client_id("reach-mio-http-auth")
            .server_url(&format!("mqtts://localhost:{tls_port}"))
            .expect("url")
            .tls(tls)
            .proxy(
                Proxy::http("127.0.0.1", guarded.port()).credentials("mqttproxy", b"pr0xy-pass"),
            ),
        "mio/http-auth",
    );
    // Wrong credentials: the proxy's refusal (tinyproxy answers 401, RFC 9110 says 407) is
    // the connect error, nothing hangs.
    let client = Client::with_options(
        ClientOptions::new()
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::http("127.0.0.1", guarded.port()).credentials("mqttproxy", b"wrong")),
    );
    match client.connect_configured() {
        Err(ClientError::Io(e)) => {
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
            .client_id("reach-mio-socks")
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::socks5("127.0.0.1", open.port())),
        "mio/socks",
    );
    let guarded = ProxyProcess::dante(Some(("mqttsocks", "s0cks-pass"))).expect("danted");
    // WebSocket through the tunnel, with the host name resolved by the proxy.
    let ws = WsBroker::start(false).expect("ws broker");
    round_trip(
        ClientOptions::new()
            .client_id("reach-mio-socks-auth")
            .server_url(&ws_url("ws", ws.port()))
            .expect("url")
            .proxy(
                Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"s0cks-pass"),
            ),
        "mio/socks-auth",
    );
    let client = Client::with_options(
        ClientOptions::new()
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"wrong")),
    );
    match client.connect_configured() {
        Err(ClientError::Io(e)) => assert!(e.to_string().contains("credentials"), "{e}"),
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
    let client = Client::with_options(
        ClientOptions::new()
            .client_id("reach-mio-failover")
            .clean_start(false)
            .keep_alive(5)
            .servers_from_urls(&urls)
            .expect("urls")
            .backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(500),
            )),
    );
    client.connect_configured().expect("connects to the first");
    let mut handles = Vec::new();
    for i in 0..200u32 {
        if i == 50 {
            brokers[0].kill();
        }
        let payload = format!("m{i}");
        loop {
            match client.publish_handle("failover/t", payload.as_bytes(), QoS::AtLeastOnce, false) {
                Ok(h) => break handles.push(h),
                Err(ClientError::Publish(_)) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("publish refused: {e}"),
            }
        }
    }
    let mut acked = 0;
    let mut failed = Vec::new();
    for h in &handles {
        match h.wait(Duration::from_secs(30)) {
            Ok(_) => acked += 1,
            Err(ClientError::Timeout) => panic!("a completion was left hanging"),
            Err(e) => failed.push(e.to_string()),
        }
    }
    assert_eq!(acked + failed.len(), 200);
    let c = client.counters();
    assert!(c.reconnects >= 1, "{c:?}");
    assert_eq!(
        c.dial_failures, 0,
        "went straight to the next broker: {c:?}"
    );
    // The broker now in use is the second: it got the rest of the stream.
    assert!(
        acked >= 150,
        "acked {acked}, failed {failed:?}\n{}",
        brokers[1].log()
    );
    client.disconnect();
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
            .client_id("reach-mio-redirect")
            .protocol(ProtocolVersion::V5)
            .server("127.0.0.1", port)
            .follow_server_reference(true),
        "mio/redirect",
    );
    assert!(sim.join().expect("simulated broker"), "CONNACK 0x9D sent");

    // Not allowed by the options: the refusal is the connect error.
    let (port, sim) = redirecting_broker(0x9D, &format!("127.0.0.1:{}", broker.port()));
    let client = Client::with_options(
        ClientOptions::new()
            .protocol(ProtocolVersion::V5)
            .server("127.0.0.1", port),
    );
    assert!(matches!(
        client.connect_configured(),
        Err(ClientError::Refused(_))
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
        let prefix = format!("mio/bridge/{framing:?}");
        round_trip(
            ClientOptions::new()
                .client_id(format!("reach-mio-bridge-{framing:?}"))
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
    let client = Client::with_options(
        ClientOptions::new()
            .server_url(&format!("ws://127.0.0.1:{}", bridge.port()))
            .expect("url")
            .connect_timeout(WAIT),
    );
    match client.connect_configured() {
        Err(ClientError::Io(e)) => assert!(e.to_string().contains("MQTT-6.0.0-1"), "{e}"),
        other => panic!("expected the text frame's error, got {other:?}"),
    }
}
