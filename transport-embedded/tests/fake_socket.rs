//! Deterministic tests of the embedded adapter with a scripted socket and a clock the test
//! moves by hand: keepalive follows the user's clock, packets larger than the buffers span
//! several reads and writes, short writes keep the unsent tail, and socket failures reach
//! the Session. No broker, no real time.

use std::cell::Cell;
use std::collections::VecDeque;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use mqtt_sansio_embedded::{Clock, Error, MqttClient};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{ConnectOptions, DisconnectReason, Event, Instant, SessionConfig};

/// A clock the test sets.
#[derive(Default)]
struct Manual(Cell<u64>);

impl Manual {
    fn set(&self, ms: u64) {
        self.0.set(ms);
    }
}

impl Clock for Manual {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.get())
    }
}

/// A socket: input chunks to hand out, what was written, a cap per write, a failure switch.
#[derive(Default)]
struct Script {
    input: VecDeque<Vec<u8>>,
    written: Vec<u8>,
    max_write: Option<usize>,
    writes: usize,
    fail_writes: bool,
}

impl ErrorType for Script {
    type Error = ErrorKind;
}

impl Read for Script {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let Some(chunk) = self.input.front_mut() else {
            return Err(ErrorKind::TimedOut);
        };
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        chunk.drain(..n);
        if chunk.is_empty() {
            self.input.pop_front();
        }
        Ok(n)
    }
}

impl ReadReady for Script {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(!self.input.is_empty())
    }
}

impl Write for Script {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        if self.fail_writes {
            return Err(ErrorKind::ConnectionReset);
        }
        let n = buf.len().min(self.max_write.unwrap_or(usize::MAX));
        self.written.extend_from_slice(&buf[..n]);
        self.writes += 1;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];
const PINGREQ: [u8; 2] = [0xC0, 0x00];

fn connected<'b>(
    clock: &'b Manual,
    socket: &mut Script,
    rx: &'b mut [u8],
    tx: &'b mut [u8],
) -> MqttClient<'b, &'b Manual> {
    let config = SessionConfig::new("fake", true, ProtocolVersion::V311);
    let mut client = MqttClient::new(config, clock, rx, tx);
    client
        .connect(socket, &ConnectOptions::new(10))
        .expect("CONNECT");
    socket.input.push_back(CONNACK.to_vec());
    assert_eq!(
        client.poll(socket),
        Ok(Some(Event::Connected {
            session_present: false,
            properties: Default::default()
        }))
    );
    socket.written.clear();
    client
}

/// PINGREQ goes out when the user's clock passes the keepalive, not before, whatever the
/// wall clock does; silence past 1.5 x keepalive ends the connection.
#[test]
fn keepalive_follows_the_users_clock() {
    let clock = Manual::default();
    let mut socket = Script::default();
    let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
    let mut client = connected(&clock, &mut socket, &mut rx, &mut tx);
    assert_eq!(client.poll_timeout(), Some(Instant::from_millis(10_000)));
    clock.set(9_999);
    assert_eq!(client.poll(&mut socket), Ok(None));
    assert!(socket.written.is_empty(), "no PINGREQ before the keepalive");
    clock.set(10_000);
    assert_eq!(client.poll(&mut socket), Ok(None));
    assert_eq!(socket.written, PINGREQ);
    socket.input.push_back(vec![0xD0, 0x00]);
    assert_eq!(client.poll(&mut socket), Ok(Some(Event::PingResp)));
    // Nothing from the broker for 15 s after the PINGRESP: the connection is declared lost.
    clock.set(25_000);
    assert_eq!(
        client.poll(&mut socket),
        Ok(Some(Event::Disconnected {
            reason: DisconnectReason::KeepAliveTimeout,
            properties: Default::default(),
            server_reference: None
        }))
    );
    assert_eq!(client.poll(&mut socket), Err(Error::NotConnected));
}

/// A publish larger than both buffers goes out through short writes, whole and in order;
/// a packet larger than the read buffer is assembled across reads.
#[test]
fn large_packets_span_buffers_and_short_writes() {
    let clock = Manual::default();
    let mut socket = Script::default();
    let (mut rx, mut tx) = ([0u8; 16], [0u8; 16]);
    let mut client = connected(&clock, &mut socket, &mut rx, &mut tx);
    socket.max_write = Some(5);
    let payload: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
    let id = client
        .publish("big/t", &payload, QoS::AtLeastOnce, false)
        .unwrap()
        .unwrap();
    assert_eq!(client.poll(&mut socket), Ok(None));
    // Fixed header (0x32, remaining length 2 bytes), topic, packet id, payload.
    let remaining = 2 + 5 + 2 + payload.len();
    let mut expected = vec![
        0x32,
        (remaining % 128) as u8 | 0x80,
        (remaining / 128) as u8,
    ];
    expected.extend_from_slice(&[0, 5]);
    expected.extend_from_slice(b"big/t");
    expected.extend_from_slice(&id.get().to_be_bytes());
    expected.extend_from_slice(&payload);
    assert_eq!(socket.written, expected);
    assert!(socket.writes >= expected.len() / 5);

    // The broker's PUBACK, then a 300-byte QoS 0 PUBLISH split in odd chunks.
    socket.input.push_back(vec![0x40, 0x02]);
    socket.input.push_back(id.get().to_be_bytes().to_vec());
    assert_eq!(client.poll(&mut socket), Ok(None)); // half a PUBACK
    assert!(matches!(
        client.poll(&mut socket),
        Ok(Some(Event::PubAck { .. }))
    ));
    let mut incoming = vec![
        0x30,
        ((2 + 3 + 300) % 128) as u8 | 0x80,
        ((2 + 3 + 300) / 128) as u8,
        0,
        3,
    ];
    incoming.extend_from_slice(b"a/b");
    incoming.extend_from_slice(&payload);
    for chunk in incoming.chunks(7) {
        socket.input.push_back(chunk.to_vec());
    }
    let mut event = None;
    for _ in 0..200 {
        if let Some(e) = client.poll(&mut socket).unwrap() {
            event = Some(e);
            break;
        }
    }
    match event {
        Some(Event::Message(m)) => {
            assert_eq!(m.topic(), "a/b");
            assert_eq!(m.payload(), &payload[..]);
        }
        other => panic!("expected the message, got {other:?}"),
    }
}

/// A failing write tells the Session the connection is gone: the error is returned, the
/// next poll reports `Disconnected`, and a new `connect` starts clean; unacknowledged QoS 1
/// messages are resent on the new connection with DUP.
#[test]
fn socket_failure_ends_the_connection_and_reconnect_resends() {
    let clock = Manual::default();
    let mut socket = Script::default();
    let (mut rx, mut tx) = ([0u8; 64], [0u8; 64]);
    let mut client = connected(&clock, &mut socket, &mut rx, &mut tx);
    socket.fail_writes = true;
    client
        .publish("t", b"keep", QoS::AtLeastOnce, false)
        .unwrap();
    assert_eq!(
        client.poll(&mut socket),
        Err(Error::Io(ErrorKind::ConnectionReset))
    );
    assert_eq!(
        client.poll(&mut socket),
        Ok(Some(Event::Disconnected {
            reason: DisconnectReason::TransportClosed,
            properties: Default::default(),
            server_reference: None
        }))
    );
    let mut fresh = Script::default();
    client
        .connect(&mut fresh, &ConnectOptions::new(10))
        .unwrap();
    assert_eq!(fresh.written[0], 0x10, "CONNECT first on the new socket");
    fresh.written.clear();
    fresh.input.push_back(CONNACK.to_vec());
    assert_eq!(
        client.poll(&mut fresh),
        Ok(Some(Event::Connected {
            session_present: false,
            properties: Default::default()
        }))
    );
    // Clean session: the broker kept nothing, so the message is sent again as a new one.
    assert!(matches!(
        client.poll(&mut fresh),
        Ok(Some(Event::SessionLost { .. }))
    ));
    assert_eq!(
        fresh.written.first(),
        Some(&0x32),
        "the QoS 1 PUBLISH again"
    );
    assert!(fresh.written.ends_with(b"keep"));
}
