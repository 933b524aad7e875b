//! The test broker against the real mosquitto, spoken to with hand-written MQTT 3.1.1 bytes
//! over plain `std` sockets (and rustls for the TLS listener): start and CONNECT, passwords,
//! TLS with the generated CA, client certificates, kill + restart on the same port,
//! persistence across a crash, the raised queue limit, and no process left behind.
//!
//! These tests need mosquitto installed (`apt-get install mosquitto`); they fail, not skip,
//! without it.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mqtt_test_broker::{mosquitto_available, Broker, BrokerConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn start(config: BrokerConfig) -> Broker {
    assert!(
        mosquitto_available(),
        "mosquitto is not installed: `apt-get install mosquitto` (scripts/test does it)"
    );
    Broker::start(config).expect("start mosquitto")
}

// ---------------------------------------------------------------------------------------------
// Hand-written MQTT 3.1.1.

/// Appends an MQTT UTF-8 string / binary field (two-byte length, then the bytes).
fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u16::try_from(bytes.len()).unwrap().to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A whole packet: first byte, remaining length (variable byte integer), body.
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

fn connect_packet(client_id: &str, clean: bool, credentials: Option<(&str, &str)>) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, b"MQTT");
    body.push(4); // protocol level 3.1.1
    let mut flags = if clean { 0x02 } else { 0x00 };
    if credentials.is_some() {
        flags |= 0x80 | 0x40;
    }
    body.push(flags);
    body.extend_from_slice(&30u16.to_be_bytes()); // keepalive
    field(&mut body, client_id.as_bytes());
    if let Some((user, password)) = credentials {
        field(&mut body, user.as_bytes());
        field(&mut body, password.as_bytes());
    }
    packet(0x10, &body)
}

fn subscribe_packet(packet_id: u16, topic: &str, qos: u8) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    field(&mut body, topic.as_bytes());
    body.push(qos);
    packet(0x82, &body)
}

fn publish_qos1_packet(packet_id: u16, topic: &str, payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, topic.as_bytes());
    body.extend_from_slice(&packet_id.to_be_bytes());
    body.extend_from_slice(payload);
    packet(0x32, &body)
}

fn puback_packet(packet_id: u16) -> Vec<u8> {
    packet(0x40, &packet_id.to_be_bytes())
}

const PINGREQ: [u8; 2] = [0xC0, 0];
const DISCONNECT: [u8; 2] = [0xE0, 0];

/// Reads one packet: (first byte, body).
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
        assert!(shift <= 21, "remaining length longer than 4 bytes");
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok((first[0], body))
}

/// Sends CONNECT and returns CONNACK's (session present, return code).
fn mqtt_connect(
    stream: &mut (impl Read + Write),
    client_id: &str,
    clean: bool,
    credentials: Option<(&str, &str)>,
) -> io::Result<(bool, u8)> {
    stream.write_all(&connect_packet(client_id, clean, credentials))?;
    stream.flush()?;
    let (first, body) = read_packet(stream)?;
    assert_eq!(first, 0x20, "expected CONNACK, got first byte {first:#04x}");
    assert_eq!(body.len(), 2, "CONNACK body {body:?}");
    Ok((body[0] & 1 == 1, body[1]))
}

/// A TCP connection to the plain listener with 5 s timeouts.
fn tcp(broker: &Broker) -> TcpStream {
    tcp_to(broker.port())
}

fn tcp_to(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to mosquitto");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

/// Connects a client (clean session unless `clean` is false) and asserts CONNACK accepted.
fn connected(broker: &Broker, client_id: &str, clean: bool) -> (TcpStream, bool) {
    let mut stream = tcp(broker);
    let (session_present, code) = mqtt_connect(&mut stream, client_id, clean, None)
        .unwrap_or_else(|e| panic!("CONNECT {client_id}: {e}\nlog:\n{}", broker.log()));
    assert_eq!(code, 0, "CONNACK code; log:\n{}", broker.log());
    (stream, session_present)
}

fn subscribe(stream: &mut TcpStream, packet_id: u16, topic: &str, qos: u8) {
    stream
        .write_all(&subscribe_packet(packet_id, topic, qos))
        .unwrap();
    let (first, body) = read_packet(stream).unwrap();
    assert_eq!(first, 0x90, "expected SUBACK");
    assert_eq!(body, [(packet_id >> 8) as u8, packet_id as u8, qos]);
}

fn publish_qos1(stream: &mut TcpStream, packet_id: u16, topic: &str, payload: &[u8]) {
    stream
        .write_all(&publish_qos1_packet(packet_id, topic, payload))
        .unwrap();
    let (first, body) = read_packet(stream).unwrap();
    assert_eq!(first, 0x40, "expected PUBACK");
    assert_eq!(body, packet_id.to_be_bytes());
}

/// A PINGREQ/PINGRESP round trip: everything sent before was processed.
fn ping(stream: &mut TcpStream) {
    stream.write_all(&PINGREQ).unwrap();
    let (first, body) = read_packet(stream).unwrap();
    assert_eq!((first, body.len()), (0xD0, 0), "expected PINGRESP");
}

/// Reads a QoS 1 PUBLISH, acknowledges it and returns (topic, payload).
fn receive_qos1(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let (first, body) = read_packet(stream).unwrap();
    assert_eq!(first & 0xF0, 0x30, "expected PUBLISH, got {first:#04x}");
    assert_eq!((first >> 1) & 3, 1, "expected QoS 1");
    let topic_len = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let topic = String::from_utf8(body[2..2 + topic_len].to_vec()).unwrap();
    let packet_id = u16::from_be_bytes([body[2 + topic_len], body[3 + topic_len]]);
    stream.write_all(&puback_packet(packet_id)).unwrap();
    (topic, body[4 + topic_len..].to_vec())
}

/// Whether any process has `needle` in its command line.
fn process_with_arg(needle: &str) -> bool {
    fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        fs::read(entry.path().join("cmdline"))
            .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
            .unwrap_or(false)
    })
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn plain_broker_answers_connect() {
    let broker = start(BrokerConfig::plain());
    assert_eq!(broker.host(), "127.0.0.1");
    assert!(broker.tls_port().is_none() && broker.ca_cert_pem().is_none());
    let (mut stream, session_present) = connected(&broker, "plain", true);
    assert!(!session_present);
    ping(&mut stream);
    let conf = fs::read_to_string(broker.config_path()).unwrap();
    assert!(conf.contains("max_queued_messages 100000"), "{conf}");
    assert!(broker.log().contains("running"), "{}", broker.log());
}

#[test]
fn publish_subscribe_round_trip_on_one_socket() {
    let broker = start(BrokerConfig::plain());
    let (mut stream, _) = connected(&broker, "echo", true);
    subscribe(&mut stream, 1, "echo/+", 1);
    stream
        .write_all(&publish_qos1_packet(2, "echo/a", b"hi"))
        .unwrap();
    // PUBACK (ours) and PUBLISH (the echo) may come in either order.
    let mut got_puback = false;
    let mut got_publish = false;
    while !(got_puback && got_publish) {
        let (first, body) = read_packet(&mut stream).unwrap();
        match first & 0xF0 {
            0x40 => {
                assert_eq!(body, [0, 2]);
                got_puback = true;
            }
            0x30 => {
                assert_eq!(&body[..8], b"\0\x06echo/a");
                assert_eq!(&body[10..], b"hi");
                stream
                    .write_all(&puback_packet(u16::from_be_bytes([body[8], body[9]])))
                    .unwrap();
                got_publish = true;
            }
            other => panic!("unexpected packet {other:#04x}"),
        }
    }
}

#[test]
fn password_config_refuses_bad_credentials_and_accepts_good_ones() {
    let broker = start(
        BrokerConfig::plain()
            .with_password("alice", "s3cret")
            .with_password("bob", "hunter2"),
    );
    let attempt = |id: &str, credentials: Option<(&str, &str)>| {
        let mut stream = tcp(&broker);
        mqtt_connect(&mut stream, id, true, credentials)
            .unwrap_or_else(|e| panic!("{id}: {e}\nlog:\n{}", broker.log()))
            .1
    };
    assert_eq!(attempt("good-a", Some(("alice", "s3cret"))), 0);
    assert_eq!(attempt("good-b", Some(("bob", "hunter2"))), 0);
    for (id, credentials) in [
        ("wrong-password", Some(("alice", "hunter2"))),
        ("unknown-user", Some(("mallory", "s3cret"))),
        ("anonymous", None),
    ] {
        let code = attempt(id, credentials);
        assert!(
            code == 4 || code == 5,
            "{id}: CONNACK code {code}, expected 4 or 5"
        );
    }
}

fn tls_client_config(ca_der: &[u8], client: Option<(&[u8], &[u8])>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(ca_der.to_vec()))
        .expect("generated CA is a valid trust anchor");
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from(cert.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
            )
            .unwrap(),
    };
    Arc::new(config)
}

/// Opens a TLS connection to the broker's TLS listener and completes the handshake.
fn tls_stream(
    port: u16,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> io::Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let connection = rustls::ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(connection, tcp_to(port));
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(stream)
}

#[test]
fn tls_listener_verifies_against_the_generated_ca() {
    let broker = start(BrokerConfig::plain().tls());
    let tls_port = broker.tls_port().expect("TLS port");
    assert_ne!(tls_port, broker.port());
    let ca_pem = broker.ca_cert_pem().unwrap();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        fs::read_to_string(broker.ca_cert_path().unwrap()).unwrap(),
        ca_pem
    );
    let config = tls_client_config(broker.ca_cert_der().unwrap(), None);

    for server_name in ["localhost", "127.0.0.1"] {
        let mut stream = tls_stream(tls_port, config.clone(), server_name)
            .unwrap_or_else(|e| panic!("TLS to {server_name}: {e}\nlog:\n{}", broker.log()));
        let (_, code) = mqtt_connect(&mut stream, "tls", true, None).unwrap();
        assert_eq!(code, 0);
    }
    // The server certificate names localhost and 127.0.0.1 only.
    let wrong_name = tls_stream(tls_port, config, "example.com");
    assert!(wrong_name.is_err(), "certificate accepted for example.com");
    // The plain listener stays.
    connected(&broker, "plain-beside-tls", true);

    // Each broker has its own CA: another broker's CA does not verify this one.
    let other = start(BrokerConfig::plain().tls());
    let foreign = tls_client_config(other.ca_cert_der().unwrap(), None);
    assert!(tls_stream(tls_port, foreign, "localhost").is_err());
}

#[test]
fn required_client_certificate_is_checked() {
    let broker = start(BrokerConfig::plain().require_client_certificate());
    let tls_port = broker.tls_port().unwrap();
    let ca = broker.ca_cert_der().unwrap();
    let client = broker.client_cert().expect("client certificate");
    assert!(client.cert_path().is_file() && client.key_path().is_file());
    assert!(client.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));

    let with_cert = tls_client_config(ca, Some((client.cert_der(), client.key_pkcs8_der())));
    let mut stream = tls_stream(tls_port, with_cert, "localhost")
        .unwrap_or_else(|e| panic!("TLS with client cert: {e}\nlog:\n{}", broker.log()));
    assert_eq!(mqtt_connect(&mut stream, "cert", true, None).unwrap().1, 0);

    // Without a certificate the broker ends the connection: during the handshake (TLS 1.2) or
    // right after it (TLS 1.3, where the client finishes first).
    let without = tls_client_config(ca, None);
    let refused = tls_stream(tls_port, without, "localhost")
        .and_then(|mut stream| mqtt_connect(&mut stream, "no-cert", true, None));
    assert!(
        refused.is_err(),
        "connected without a client certificate: {refused:?}"
    );
}

#[test]
fn kill_and_restart_come_back_on_the_same_port() {
    let mut broker = start(BrokerConfig::plain().tls());
    let port = broker.port();
    let tls_port = broker.tls_port();
    let first_pid = broker.pid().unwrap();
    // A client connected during the crash leaves the broker's side of the connection behind.
    let (mut survivor, _) = connected(&broker, "survivor", true);

    broker.kill();
    assert!(!broker.is_running());
    assert!(broker.pid().is_none());
    assert!(!process_exists(first_pid), "killed mosquitto not reaped");
    let mut buf = [0u8; 1];
    assert!(
        matches!(survivor.read(&mut buf), Ok(0) | Err(_)),
        "connection to a killed broker still open"
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    broker.restart().expect("restart");
    assert!(broker.is_running());
    assert_ne!(broker.pid(), Some(first_pid));
    assert_eq!((broker.port(), broker.tls_port()), (port, tls_port));
    connected(&broker, "after-restart", true);
    let config = tls_client_config(broker.ca_cert_der().unwrap(), None);
    tls_stream(tls_port.unwrap(), config, "localhost").expect("TLS after restart");

    // Restart while running, twice in a row.
    broker.restart().unwrap();
    broker.restart().unwrap();
    connected(&broker, "after-third-start", true);
    assert_eq!(
        broker.log().matches("running").count(),
        4,
        "{}",
        broker.log()
    );
}

#[test]
fn persistent_session_and_queued_message_survive_a_crash() {
    let mut broker = start(BrokerConfig::plain().persistent());
    {
        let (mut subscriber, _) = connected(&broker, "durable", false);
        subscribe(&mut subscriber, 1, "durable/t", 1);
        subscriber.write_all(&DISCONNECT).unwrap();
    }
    {
        let (mut publisher, _) = connected(&broker, "publisher", true);
        publish_qos1(&mut publisher, 7, "durable/t", b"kept");
        // One more round trip: the save after the PUBLISH is done.
        ping(&mut publisher);
    }
    broker.kill();
    broker.restart().unwrap();

    let (mut subscriber, session_present) = connected(&broker, "durable", false);
    assert!(
        session_present,
        "session lost across the crash; log:\n{}",
        broker.log()
    );
    let (topic, payload) = receive_qos1(&mut subscriber);
    assert_eq!(
        (topic.as_str(), payload.as_slice()),
        ("durable/t", &b"kept"[..])
    );
    assert!(broker.dir().join("persistence/mosquitto.db").is_file());
}

#[test]
fn non_persistent_broker_forgets_sessions_on_restart() {
    let mut broker = start(BrokerConfig::plain());
    {
        let (mut subscriber, _) = connected(&broker, "forgotten", false);
        subscribe(&mut subscriber, 1, "x", 1);
    }
    broker.restart().unwrap();
    let (_, session_present) = connected(&broker, "forgotten", false);
    assert!(!session_present);
}

#[test]
fn offline_subscriber_gets_more_than_mosquittos_default_queue_limit() {
    // mosquitto's default max_queued_messages (1000) would drop most of these.
    const COUNT: u16 = 2500;
    let broker = start(BrokerConfig::plain());
    {
        let (mut subscriber, _) = connected(&broker, "offline", false);
        subscribe(&mut subscriber, 1, "q", 1);
        subscriber.write_all(&DISCONNECT).unwrap();
    }
    let (mut publisher, _) = connected(&broker, "flood", true);
    // Pipelined: all PUBLISHes, then all PUBACKs (max_inflight_messages is unlimited).
    let mut batch = Vec::new();
    for id in 1..=COUNT {
        batch.extend(publish_qos1_packet(id, "q", &id.to_be_bytes()));
    }
    publisher.write_all(&batch).unwrap();
    for id in 1..=COUNT {
        let (first, body) = read_packet(&mut publisher).unwrap();
        assert_eq!((first, body), (0x40, id.to_be_bytes().to_vec()));
    }

    let (mut subscriber, session_present) = connected(&broker, "offline", false);
    assert!(session_present);
    for id in 1..=COUNT {
        let (_, payload) = receive_qos1(&mut subscriber);
        assert_eq!(payload, id.to_be_bytes(), "message {id}");
    }
}

#[test]
fn concurrent_brokers_get_distinct_ports() {
    let brokers: Vec<Broker> = (0..4)
        .map(|_| thread::spawn(|| start(BrokerConfig::plain().tls())))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|handle| handle.join().unwrap())
        .collect();
    let mut ports = HashSet::new();
    for broker in &brokers {
        assert!(ports.insert(broker.port()));
        assert!(ports.insert(broker.tls_port().unwrap()));
        connected(broker, "concurrent", true);
    }
}

#[test]
fn drop_leaves_no_process_and_no_directory() {
    let broker = start(BrokerConfig::plain().persistent().tls());
    let pid = broker.pid().unwrap();
    let conf = broker.config_path().to_string_lossy().into_owned();
    let dir = broker.dir().to_path_buf();
    let port = broker.port();
    assert!(process_exists(pid));
    assert!(process_with_arg(&conf));
    drop(broker);
    assert!(!process_exists(pid), "mosquitto {pid} still exists");
    assert!(!process_with_arg(&conf), "a process still runs on {conf}");
    assert!(!dir.exists(), "{} not removed", dir.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn drop_during_a_panic_kills_the_broker() {
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let result = thread::spawn(move || {
        let broker = start(BrokerConfig::plain());
        pid_tx.send(broker.pid().unwrap()).unwrap();
        panic!("test failure while the broker runs");
    })
    .join();
    assert!(result.is_err());
    let pid = pid_rx.recv().unwrap();
    assert!(!process_exists(pid), "mosquitto {pid} survived the panic");
}

#[test]
fn kill_of_a_killed_broker_and_drop_after_kill_are_fine() {
    let mut broker = start(BrokerConfig::plain());
    broker.kill();
    broker.kill();
    assert!(!broker.is_running());
    assert!(broker.log().contains("running"));
    drop(broker);
}
