//! `MqttConnection::dial` reaches what the blocking `Client` reaches (issue 13 for users
//! with their own `mio::Poll`), with real components on loopback: QoS 0/1/2 round trips
//! over ws and wss (rumqttd's WebSocket listener), through tinyproxy (HTTP CONNECT) and
//! danted (SOCKS5, also in front of a WebSocket), and failover over a list whose first
//! server refuses connections. Every test drives one connection in this thread's `Poll`,
//! each wait bounded by a deadline.
//!
//! These tests need mosquitto, tinyproxy and dante-server installed (`scripts/test` installs
//! them).

use std::io::ErrorKind;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use mqtt_sansio_mio::{
    Action, Backoff, ClientOptions, Event, MqttConnection, Proxy, QoS, ReconnectPolicy, ServerAddr,
    StopReason, Subscription, TlsConfig, TopicFilter,
};
use mqtt_test_broker::reach::{ProxyProcess, WsBroker};
use mqtt_test_broker::{Broker, BrokerConfig};

/// How long one step (connect, SUBACK, the round trip, the disconnect) may take.
const WAIT: Duration = Duration::from_secs(10);
/// The longest `Poll::poll` wait, so a deadline is checked even when nothing happens.
const TICK: Duration = Duration::from_millis(100);
const MQTT: Token = Token(3);

/// How one dial went: `Ok`, or the error's kind with the kind `take_error` kept.
type DialResult = Result<(), (ErrorKind, Option<ErrorKind>)>;

/// One `MqttConnection` in a `Poll` of its own, dialling every server the core asks for.
struct Driver {
    poll: Poll,
    events: Events,
    conn: MqttConnection,
    /// Every dial: the server, and the error kind of a failed one together with what
    /// `take_error` said right after it.
    dials: Vec<(ServerAddr, DialResult)>,
    stopped: Option<StopReason>,
}

impl Driver {
    fn new(options: ClientOptions) -> Self {
        let mut conn = MqttConnection::with_options(options).expect("valid options");
        conn.start();
        Self {
            poll: Poll::new().expect("poll"),
            events: Events::with_capacity(16),
            conn,
            dials: Vec::new(),
            stopped: None,
        }
    }

    /// One turn of the loop a user writes: the core's action, readiness, timers; the
    /// events that came out are appended to `out`.
    fn turn(&mut self, out: &mut Vec<Event>) {
        match self.conn.poll_action() {
            Action::Open { server, .. } => {
                let result = self
                    .conn
                    .dial(self.poll.registry(), MQTT, &server)
                    .map_err(|e| (e.kind(), self.conn.take_error().map(|k| k.kind())));
                self.dials.push((server, result));
            }
            Action::Stop(reason) => self.stopped = Some(reason),
            Action::Close | Action::None => {}
        }
        let wait = self.conn.timeout().map_or(TICK, |t| t.min(TICK));
        self.poll.poll(&mut self.events, Some(wait)).expect("poll");
        for event in self.events.iter() {
            if event.token() == MQTT {
                self.conn
                    .handle_ready(event.is_readable(), event.is_writable());
            }
        }
        self.conn.handle_timeout();
        while let Some(event) = self.conn.poll_event() {
            out.push(event);
        }
    }

    /// Turns until `done` holds for the events so far (all of them are returned), or fails
    /// the test after [`WAIT`].
    fn until(&mut self, what: &str, mut done: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while !done(&seen) {
            assert!(
                Instant::now() < deadline && self.stopped.is_none(),
                "no {what} within {WAIT:?}: stopped {:?}, dials {:?}, events {seen:?}",
                self.stopped,
                self.dials
            );
            self.turn(&mut seen);
        }
        seen
    }

    fn connected(&mut self) {
        self.until("CONNACK", |seen| {
            seen.iter().any(|e| matches!(e, Event::Connected { .. }))
        });
    }

    /// Turns until the core says `Stop`, or fails the test after [`WAIT`].
    fn run_to_stop(&mut self) {
        let deadline = Instant::now() + WAIT;
        let mut seen = Vec::new();
        while self.stopped.is_none() {
            assert!(
                Instant::now() < deadline,
                "no Stop: dials {:?}, events {seen:?}",
                self.dials
            );
            self.turn(&mut seen);
        }
    }

    /// Disconnects and turns until the core says `Stop`.
    fn finish(mut self) {
        self.conn.disconnect();
        self.run_to_stop();
        assert!(!self.conn.is_open(), "the socket is closed at Stop");
    }
}

/// Connects, subscribes to `<prefix>/#` at QoS 2, publishes one message at each QoS and
/// checks that each is acknowledged as its QoS says and comes back once, with its payload;
/// the connection took exactly one dial, to the server `expect_server` names.
fn round_trip(options: ClientOptions, prefix: &str, expect_server: &str) {
    let mut d = Driver::new(options.keep_alive(30));
    d.connected();
    single_round_trip(&mut d, prefix);
    assert_eq!(d.dials.len(), 1, "{prefix}: {:?}", d.dials);
    assert_eq!(d.dials[0].0.to_string(), expect_server, "{prefix}");
    assert_eq!(d.dials[0].1, Ok(()), "{prefix}");
    d.finish();
}

fn single_round_trip(d: &mut Driver, prefix: &str) {
    let filter = format!("{prefix}/#");
    let sub = d
        .conn
        .subscribe(&[Subscription::new(
            TopicFilter::new(&filter).expect("valid filter"),
            QoS::ExactlyOnce,
        )])
        .expect("subscribe");
    let seen = d.until("SUBACK", |seen| {
        seen.iter()
            .any(|e| matches!(e, Event::SubAck { id, .. } if *id == sub))
    });
    for e in &seen {
        if let Event::SubAck { results, .. } = e {
            assert!(results.iter().all(|c| !c.is_error()), "{results:?}");
        }
    }
    let mut expected = Vec::new();
    let mut acks = Vec::new();
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let topic = format!("{prefix}/q{i}");
        let payload = format!("{prefix} payload at QoS {i}").into_bytes();
        let id = d
            .conn
            .publish(&topic, &payload, qos, false)
            .expect("publish accepted");
        assert_eq!(id.is_some(), qos != QoS::AtMostOnce, "{qos:?}");
        acks.extend(id.map(|id| (qos, id)));
        expected.push((topic, payload));
    }
    let acknowledged = |seen: &[Event], qos: QoS, want: mqtt_sansio_mio::PacketId| {
        seen.iter().any(|e| match (e, qos) {
            (Event::PubAck { id, reason, .. }, QoS::AtLeastOnce)
            | (Event::PubComp { id, reason, .. }, QoS::ExactlyOnce) => {
                *id == want && !reason.is_error()
            }
            _ => false,
        })
    };
    let messages = |seen: &[Event]| -> Vec<(String, Vec<u8>)> {
        let mut got: Vec<_> = seen
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) | Event::MessageReleased(m) => {
                    Some((m.topic().to_owned(), m.payload().to_vec()))
                }
                _ => None,
            })
            .collect();
        got.sort();
        got
    };
    let seen = d.until("the round trip", |seen| {
        messages(seen).len() >= expected.len()
            && acks.iter().all(|&(qos, id)| acknowledged(seen, qos, id))
    });
    assert_eq!(messages(&seen), expected, "{prefix}: every QoS once");
    let c = d.conn.core().counters();
    assert_eq!(c.publishes_sent.total(), 3, "{prefix}: {c:?}");
    assert_eq!(c.publishes_received.total(), 3, "{prefix}: {c:?}");
}

fn ws_url(scheme: &str, port: u16) -> String {
    format!("{scheme}://localhost:{port}/mqtt")
}

#[test]
fn qos_0_1_2_over_ws_and_wss_through_rumqttd() {
    let ws = WsBroker::start(false).expect("ws broker");
    let url = ws_url("ws", ws.port());
    round_trip(
        ClientOptions::new()
            .client_id("conn-reach-ws")
            .server_url(&url)
            .expect("url"),
        "conn/ws",
        &url,
    );
    let wss = WsBroker::start(true).expect("wss broker");
    let tls = TlsConfig::with_ca_pem(wss.cert_pem().expect("cert").as_bytes()).expect("CA");
    let url = ws_url("wss", wss.port());
    round_trip(
        ClientOptions::new()
            .client_id("conn-reach-wss")
            .server_url(&url)
            .expect("url")
            .tls(tls),
        "conn/wss",
        &url,
    );
}

#[test]
fn qos_0_1_2_through_an_http_connect_proxy() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let proxy = ProxyProcess::tinyproxy(None).expect("tinyproxy");
    round_trip(
        ClientOptions::new()
            .client_id("conn-reach-http")
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::http("127.0.0.1", proxy.port())),
        "conn/http",
        &format!("mqtt://127.0.0.1:{}", broker.port()),
    );
    // The tunnel really was the proxy's: it logged a CONNECT to the broker's port.
    let log = proxy.log();
    assert!(
        log.contains(&format!("127.0.0.1:{}", broker.port())),
        "tinyproxy did not tunnel to the broker:\n{log}"
    );
}

#[test]
fn qos_0_1_2_through_a_socks5_proxy_to_tcp_and_to_a_websocket() {
    let broker = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let guarded = ProxyProcess::dante(Some(("mqttsocks", "s0cks-pass"))).expect("danted");
    let proxy =
        || Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"s0cks-pass");
    round_trip(
        ClientOptions::new()
            .client_id("conn-reach-socks")
            .server("127.0.0.1", broker.port())
            .proxy(proxy()),
        "conn/socks",
        &format!("mqtt://127.0.0.1:{}", broker.port()),
    );
    // WebSocket through the tunnel, the host name resolved by the proxy.
    let ws = WsBroker::start(false).expect("ws broker");
    let url = ws_url("ws", ws.port());
    round_trip(
        ClientOptions::new()
            .client_id("conn-reach-socks-ws")
            .server_url(&url)
            .expect("url")
            .proxy(proxy()),
        "conn/socks-ws",
        &url,
    );
    // Wrong credentials: dial returns the proxy's refusal and the first connection stops
    // (the default policy does not retry a first connection); nothing hangs.
    let mut d = Driver::new(
        ClientOptions::new()
            .server("127.0.0.1", broker.port())
            .proxy(Proxy::socks5("127.0.0.1", guarded.port()).credentials("mqttsocks", b"wrong")),
    );
    d.run_to_stop();
    assert!(
        matches!(d.stopped, Some(StopReason::FirstConnectFailed(_))),
        "{:?}",
        d.stopped
    );
    assert_eq!(d.dials.len(), 1, "{:?}", d.dials);
    let (kind, kept) = d.dials[0].1.expect_err("the proxy refuses");
    assert_eq!(Some(kind), kept, "take_error keeps the refusal");
    assert!(!d.conn.is_open());
}

/// A loopback port nothing listens on: connecting to it is refused at once.
fn refused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Three servers, the first refusing connections: the failed dial is reported to the core
/// (`handle_open_failed`), which asks for the second after the backoff delay; the
/// connection lands there and works. Without `retry_first_connect` the same failure ends
/// the first connection instead.
#[test]
fn failover_from_a_dead_first_server_to_the_second_of_three() {
    let second = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let third = Broker::start(BrokerConfig::plain()).expect("mosquitto");
    let dead = refused_port();
    let urls = [
        format!("mqtt://127.0.0.1:{dead}"),
        format!("mqtt://127.0.0.1:{}", second.port()),
        format!("mqtt://127.0.0.1:{}", third.port()),
    ];
    let options = ClientOptions::new()
        .client_id("conn-reach-failover")
        .keep_alive(30)
        .servers_from_urls(&urls)
        .expect("urls");
    let mut d = Driver::new(options.clone().reconnect(ReconnectPolicy {
        retry_first_connect: true,
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(200)),
        ..ReconnectPolicy::default()
    }));
    d.connected();
    let dials: Vec<_> = d.dials.iter().map(|(s, r)| (s.to_string(), *r)).collect();
    assert_eq!(
        dials,
        [
            (
                urls[0].clone(),
                Err((
                    ErrorKind::ConnectionRefused,
                    Some(ErrorKind::ConnectionRefused)
                ))
            ),
            (urls[1].clone(), Ok(())),
        ]
    );
    let c = d.conn.core().counters();
    assert_eq!(c.dial_failures, 1, "{c:?}");
    single_round_trip(&mut d, "conn/failover");
    // The second broker served it: its log names the client.
    assert!(
        second.log().contains("conn-reach-failover"),
        "{}",
        second.log()
    );
    assert!(!third.log().contains("conn-reach-failover"));
    d.finish();

    // The default policy: the refused first dial stops the client, reporting why.
    let mut d = Driver::new(options);
    d.run_to_stop();
    assert!(
        matches!(d.stopped, Some(StopReason::FirstConnectFailed(_))),
        "{:?}",
        d.stopped
    );
    assert_eq!(d.dials.len(), 1, "{:?}", d.dials);
    assert_eq!(
        d.dials[0].1,
        Err((
            ErrorKind::ConnectionRefused,
            Some(ErrorKind::ConnectionRefused)
        ))
    );
}
