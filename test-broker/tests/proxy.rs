//! The fault proxy in front of a real mosquitto, spoken to with hand-written MQTT bytes:
//! faithful relay, cut after CONNACK, the poison DISCONNECT, swallowed acknowledgements, its
//! bounds; and the `drop_nothing` broker knob the 200k-message scenario relies on.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`); they fail, not skip,
//! without it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use mqtt_sansio_proto::PacketType;
use mqtt_test_broker::proxy::{Proxy, ProxyConfig, ReasonCode};
use mqtt_test_broker::{mosquitto_available, Broker, BrokerConfig};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn start(config: BrokerConfig) -> Broker {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed: `apt-get install mosquitto` (scripts/test does it)"
    );
    Broker::start(config).expect("start mosquitto")
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = u8::try_from(len % 128).unwrap();
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

/// CONNECT, clean session, keepalive 30; `v5` adds an empty property list.
fn connect_packet(client_id: &str, v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, b"MQTT");
    body.push(if v5 { 5 } else { 4 });
    body.push(0x02);
    body.extend_from_slice(&30u16.to_be_bytes());
    if v5 {
        body.push(0);
    }
    field(&mut body, client_id.as_bytes());
    packet(0x10, &body)
}

fn publish_packet(qos: u8, packet_id: u16, topic: &str, payload: &[u8], v5: bool) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    if v5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

fn subscribe_packet(packet_id: u16, topic: &str, qos: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    field(&mut body, topic.as_bytes());
    body.push(qos);
    packet(0x82, &body)
}

fn read_packet(stream: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut first = [0u8; 1];
    stream.read_exact(&mut first)?;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte)?;
        len |= usize::from(byte[0] & 0x7F) << shift;
        if byte[0] & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok((first[0], body))
}

fn tcp_to(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Connects through `port` and asserts an accepting CONNACK.
fn connected(port: u16, client_id: &str, v5: bool) -> TcpStream {
    let mut stream = tcp_to(port);
    stream.write_all(&connect_packet(client_id, v5)).unwrap();
    let (first, body) = read_packet(&mut stream).unwrap();
    assert_eq!(first, 0x20, "expected CONNACK");
    assert_eq!(body.get(1), Some(&0), "CONNACK refused: {body:?}");
    stream
}

/// Reads until the peer closes; the packets seen before.
fn read_until_closed(stream: &mut TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut seen = Vec::new();
    loop {
        match read_packet(stream) {
            Ok(p) => seen.push(p),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                panic!("the connection stayed open; saw {seen:?}")
            }
            Err(_) => return seen,
        }
    }
}

#[test]
fn faithful_relay_round_trip_records_times_and_bytes() {
    let broker = start(BrokerConfig::plain());
    let proxy = Proxy::start(broker.addr(), ProxyConfig::new()).unwrap();
    let mut client = connected(proxy.port(), "px-relay", false);
    client.write_all(&subscribe_packet(1, "px/t", 1)).unwrap();
    let (first, _) = read_packet(&mut client).unwrap();
    assert_eq!(first, 0x90, "SUBACK through the proxy");
    client
        .write_all(&publish_packet(1, 2, "px/t", b"through", false))
        .unwrap();
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let (first, body) = read_packet(&mut client).unwrap();
        kinds.push(first >> 4);
        if first >> 4 == 3 {
            assert!(body.ends_with(b"through"), "payload relayed intact");
        }
    }
    kinds.sort_unstable();
    assert_eq!(kinds, [3, 4], "the message and its PUBACK came back");
    let records = proxy.connections();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert!(r.connack_at.is_some_and(|at| at >= r.accepted_at));
    assert!(r.bytes_to_broker > 20 && r.bytes_to_client > 10, "{r:?}");
    assert!(!r.cut && !r.poisoned);
    assert!(
        broker.log().contains("px-relay"),
        "the broker saw the client"
    );
}

#[test]
fn cut_after_connack_closes_each_connection_after_the_delay() {
    let broker = start(BrokerConfig::plain());
    let delay = Duration::from_millis(150);
    let proxy = Proxy::start(broker.addr(), ProxyConfig::new().cut_after_connack(delay)).unwrap();
    for i in 0..2 {
        let mut client = connected(proxy.port(), &format!("px-cut-{i}"), false);
        let connack_seen = Instant::now();
        read_until_closed(&mut client);
        let open_for = connack_seen.elapsed();
        assert!(
            open_for >= delay - Duration::from_millis(20) && open_for < Duration::from_secs(2),
            "cut after {open_for:?}, expected about {delay:?}"
        );
    }
    let records = proxy.connections();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.cut), "{records:?}");
    let times = proxy.connect_times();
    assert!(times[1] > times[0]);
}

#[test]
fn poison_publish_gets_a_v5_disconnect_and_never_reaches_the_broker() {
    let broker = start(BrokerConfig::plain());
    let proxy = Proxy::start(
        broker.addr(),
        ProxyConfig::new().poison("poison", ReasonCode::PayloadFormatInvalid),
    )
    .unwrap();
    let mut client = connected(proxy.port(), "px-poison-v5", true);
    // A harmless message first: relayed and acknowledged.
    client
        .write_all(&publish_packet(1, 1, "px/ok", b"fine", true))
        .unwrap();
    let (first, _) = read_packet(&mut client).unwrap();
    assert_eq!(first, 0x40, "PUBACK of the harmless message");
    client
        .write_all(&publish_packet(1, 2, "px/poison/1", b"bad", true))
        .unwrap();
    let seen = read_until_closed(&mut client);
    assert_eq!(
        seen,
        vec![(0xE0, vec![0x99])],
        "exactly a DISCONNECT 0x99, then the close"
    );
    assert_eq!(proxy.poison_hits(), 1);
    thread::sleep(Duration::from_millis(200));
    let log = broker.log();
    assert!(log.contains("Received PUBLISH from px-poison-v5 (d0, q1, r0, m1, 'px/ok'"));
    assert!(
        !log.contains("px/poison"),
        "the poison message reached the broker:\n{log}"
    );

    // 3.1.1 has no server DISCONNECT: the connection is only closed.
    let mut old = connected(proxy.port(), "px-poison-v311", false);
    old.write_all(&publish_packet(0, 0, "px/poison/2", b"bad", false))
        .unwrap();
    assert_eq!(read_until_closed(&mut old), vec![]);
    assert_eq!(proxy.poison_hits(), 2);
}

#[test]
fn swallowed_pubcomp_leaves_the_connection_alive() {
    let broker = start(BrokerConfig::plain());
    let proxy = Proxy::start(
        broker.addr(),
        ProxyConfig::new().swallow_from_broker(PacketType::PubComp),
    )
    .unwrap();
    let mut client = connected(proxy.port(), "px-swallow", false);
    client
        .write_all(&publish_packet(2, 9, "px/q2", b"x", false))
        .unwrap();
    let (first, body) = read_packet(&mut client).unwrap();
    assert_eq!((first, body.as_slice()), (0x50, &[0, 9][..]), "PUBREC");
    client.write_all(&packet(0x62, &[0, 9])).unwrap(); // PUBREL
    client.write_all(&[0xC0, 0]).unwrap(); // PINGREQ
    let (first, _) = read_packet(&mut client).unwrap();
    assert_eq!(
        first, 0xD0,
        "PINGRESP comes, the PUBCOMP before it does not"
    );
    assert!(
        broker.log().contains("Sending PUBCOMP to px-swallow"),
        "the broker did send it"
    );
}

#[test]
fn bounded_in_connections_and_stoppable() {
    let broker = start(BrokerConfig::plain());
    let mut proxy = Proxy::start(broker.addr(), ProxyConfig::new().max_connections(1)).unwrap();
    let _first = connected(proxy.port(), "px-bound-1", false);
    let mut second = tcp_to(proxy.port());
    let _ = second.write_all(&connect_packet("px-bound-2", false));
    assert_eq!(
        read_until_closed(&mut second),
        vec![],
        "refused past the bound"
    );
    let port = proxy.port();
    let started = Instant::now();
    proxy.stop();
    assert!(started.elapsed() < Duration::from_secs(2), "stop is prompt");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after stop"
    );
    assert_eq!(proxy.connections().len(), 1);
    assert!(proxy.connections()[0].closed_at.is_some());
}

/// The `drop_nothing` knob: a subscriber that reads nothing while 200k QoS 0 messages are
/// published (64-byte payloads, more than the sockets' buffers hold) still gets every one of
/// them afterwards.
#[test]
fn drop_nothing_keeps_every_qos0_message_for_a_slow_subscriber() {
    const N: usize = 200_000;
    let broker = start(BrokerConfig::plain().drop_nothing());
    let mut sub = connected(broker.port(), "dn-sub", false);
    sub.write_all(&subscribe_packet(1, "dn/t", 0)).unwrap();
    assert_eq!(read_packet(&mut sub).unwrap().0, 0x90);
    let mut publisher = connected(broker.port(), "dn-pub", false);
    let writer = thread::spawn(move || {
        let mut batch = Vec::new();
        for i in 0..N {
            let mut payload = [b'.'; 64];
            payload[60..].copy_from_slice(&(i as u32).to_be_bytes());
            batch.extend_from_slice(&publish_packet(0, 0, "dn/t", &payload, false));
            if batch.len() > 64 * 1024 {
                publisher.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        publisher.write_all(&batch).unwrap();
        publisher.write_all(&[0xE0, 0]).unwrap();
        publisher
    });
    // Read nothing for a while, so the broker has to hold messages.
    thread::sleep(Duration::from_secs(1));
    let mut reader = io::BufReader::with_capacity(256 * 1024, sub);
    let mut next = 0u32;
    while (next as usize) < N {
        let (first, body) =
            read_packet(&mut reader).unwrap_or_else(|e| panic!("after {next} messages: {e}"));
        assert_eq!(first, 0x30);
        let value = u32::from_be_bytes(body[body.len() - 4..].try_into().unwrap());
        assert_eq!(value, next, "a message was dropped or reordered");
        next += 1;
    }
    drop(writer.join().unwrap());
}
