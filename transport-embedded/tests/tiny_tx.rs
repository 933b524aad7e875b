//! A write buffer of one byte (smaller than any MQTT packet) and a socket that takes at most
//! three bytes per write: the client hands the Session's bytes out in pieces
//! (`Session::transmit_into`), and the socket receives exactly the stream a Session drained
//! with `poll_transmit` produces, packet for packet.

use std::cell::Cell;

use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use mqtt_sansio_embedded::{Clock, MqttClient};
use mqtt_sansio_proto::{ProtocolVersion, QoS, Subscription, TopicFilter};
use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};

struct Fixed(Cell<u64>);

impl Clock for Fixed {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.get())
    }
}

/// Input handed out whole; writes capped at three bytes.
#[derive(Default)]
struct Socket {
    input: Vec<u8>,
    written: Vec<u8>,
    writes: usize,
}

impl ErrorType for Socket {
    type Error = ErrorKind;
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        let n = self.input.len().min(buf.len());
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input.drain(..n);
        Ok(n)
    }
}

impl ReadReady for Socket {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(!self.input.is_empty())
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let n = buf.len().min(3);
        self.written.extend_from_slice(&buf[..n]);
        self.writes += 1;
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

const CONNACK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

fn config() -> SessionConfig {
    SessionConfig::new("tiny", true, ProtocolVersion::V311)
}

#[test]
fn a_one_byte_write_buffer_sends_the_same_stream() {
    let payload: Vec<u8> = (0..200u8).collect();
    let now = Instant::from_millis(0);

    // The reference: the same commands on a bare Session, drained whole.
    let mut session = Session::new(config());
    let mut expected = Vec::new();
    session.connect(now, &ConnectOptions::new(30)).unwrap();
    while session.poll_transmit(now, &mut expected).is_some() {}
    session.handle_read(now, &CONNACK);
    let filter = TopicFilter::new("cmd/+").unwrap();
    session
        .subscribe(now, &[Subscription::new(filter, QoS::AtLeastOnce)])
        .unwrap();
    session
        .publish(now, "a/b", &payload, QoS::AtLeastOnce, false)
        .unwrap();
    session
        .publish(now, "a/c", b"zero", QoS::AtMostOnce, true)
        .unwrap();
    while session.poll_transmit(now, &mut expected).is_some() {}

    let clock = Fixed(Cell::new(0));
    let (mut rx, mut tx) = ([0u8; 64], [0u8; 1]);
    let mut client = MqttClient::new(config(), &clock, &mut rx, &mut tx);
    let mut socket = Socket::default();
    client
        .connect(&mut socket, &ConnectOptions::new(30))
        .unwrap();
    socket.input.extend_from_slice(&CONNACK);
    assert!(matches!(
        client.poll(&mut socket),
        Ok(Some(Event::Connected { .. }))
    ));
    client.subscribe(&[("cmd/+", QoS::AtLeastOnce)]).unwrap();
    client
        .publish("a/b", &payload, QoS::AtLeastOnce, false)
        .unwrap();
    client
        .publish("a/c", b"zero", QoS::AtMostOnce, true)
        .unwrap();
    assert_eq!(client.poll(&mut socket), Ok(None));

    assert_eq!(socket.written, expected);
    assert_eq!(
        socket.writes,
        expected.len(),
        "one byte per write: the buffer holds one"
    );
    assert_eq!(client.session().pending_transmit_bytes(), 0);
}
