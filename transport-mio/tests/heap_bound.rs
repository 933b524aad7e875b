//! Issue 10, defect 7: under a steady QoS 0 stream the publisher's heap stays bounded,
//! because the transmit side gives written bytes back as it goes. 200,000 x 64 B QoS 0
//! messages are published as fast as possible to a peer that reads everything; the heap may
//! grow at most 256 KiB above the connected, idle client. Checked for the blocking `Client`
//! and for `MqttConnection`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use mqtt_sansio_mio::{Client, ClientOptions, Event, MqttConnection, OutgoingPublish, QoS};

mod support {
    pub(crate) mod heap;
}
use support::heap::{heap_mark, heap_peak_since, SERIAL};

/// Messages of the stream, and their payload size (the numbers).
const MESSAGES: usize = 200_000;
const PAYLOAD: usize = 64;
/// The target: at most this much heap above the idle, connected client.
const BOUND: usize = 256 * 1024;
const TOPIC: &str = "heap/q0";
/// Bytes of one QoS 0 PUBLISH of the stream: fixed header (2), topic (2 + 7), payload.
const PUBLISH_LEN: usize = 2 + 2 + TOPIC.len() + PAYLOAD;

/// A broker stand-in: accepts one connection, answers CONNECT with a 3.1.1 CONNACK, then
/// reads and counts everything (its buffer is allocated before the measurement starts).
/// Returns the port and the thread, which ends with the byte count after the CONNACK when
/// the client closes or `limit` passes.
fn spawn_sink(limit: Duration) -> (u16, JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut buf = vec![0u8; 64 * 1024];
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
        let deadline = Instant::now() + limit;
        // CONNECT: read until its bytes came (one small packet), then accept it.
        let n = read_some(&mut s, &mut buf, deadline);
        assert!(n > 0 && buf[0] == 0x10, "CONNECT expected");
        s.write_all(&[0x20, 0x02, 0x00, 0x00]).expect("CONNACK");
        let mut total = 0;
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        total
    });
    (port, handle)
}

fn read_some(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> usize {
    while Instant::now() < deadline {
        match s.read(buf) {
            Ok(n) => return n,
            Err(_) => continue,
        }
    }
    0
}

/// The blocking client: `publish_when_ready` as fast as the backpressure allows, then
/// `disconnect()` (which writes everything first).
#[test]
fn blocking_client_heap_stays_bounded_under_a_qos0_stream() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, sink) = spawn_sink(Duration::from_secs(60));
    let payload = vec![0x5a; PAYLOAD];
    let client = Client::new("heap-blocking", true);
    client
        .connect("127.0.0.1", 30, ClientOptions::new().port(port))
        .expect("connects");
    let mark = heap_mark();
    for _ in 0..MESSAGES {
        client
            .publish_when_ready(
                TOPIC,
                &payload,
                QoS::AtMostOnce,
                false,
                Duration::from_secs(30),
            )
            .expect("publish");
    }
    let peak = heap_peak_since(mark);
    client.disconnect();
    let received = sink.join().expect("sink");
    eprintln!("blocking Client: peak heap {peak} B above idle over {MESSAGES} x {PAYLOAD} B");
    // Every message was written before DISCONNECT (2 bytes), issue 10 defect 2.
    assert_eq!(received, MESSAGES * PUBLISH_LEN + 2);
    assert!(
        peak <= BOUND,
        "peak heap {peak} B above idle, bound {BOUND} B"
    );
}

/// `MqttConnection` in a `mio::Poll` loop on this thread: publish while the core accepts,
/// flush, wait for writability.
#[test]
fn mio_connection_heap_stays_bounded_under_a_qos0_stream() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let (port, sink) = spawn_sink(Duration::from_secs(60));
    let payload = vec![0x5a; PAYLOAD];
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(64);
    let mut conn = MqttConnection::with_options(
        ClientOptions::new()
            .client_id("heap-mio")
            .auto_reconnect(false),
    )
    .expect("options");
    let tcp = mio::net::TcpStream::connect(format!("127.0.0.1:{port}").parse().expect("addr"))
        .expect("tcp");
    conn.open(poll.registry(), Token(1), tcp, "127.0.0.1")
        .expect("open");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut connected = false;
    while !connected {
        assert!(Instant::now() < deadline, "no CONNACK");
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .expect("poll");
        for ev in events.iter() {
            conn.handle_ready(ev.is_readable(), ev.is_writable());
        }
        while let Some(e) = conn.poll_event() {
            connected |= matches!(e, Event::Connected { .. });
        }
    }
    let msg = OutgoingPublish::new(TOPIC, &payload, QoS::AtMostOnce, false);
    let mark = heap_mark();
    let mut sent = 0;
    while sent < MESSAGES {
        assert!(Instant::now() < deadline, "stuck at {sent} messages");
        while sent < MESSAGES && conn.core().can_publish(QoS::AtMostOnce) {
            let now = conn.now();
            conn.core_mut().publish(now, &msg).expect("publish");
            sent += 1;
        }
        conn.flush();
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .expect("poll");
        for ev in events.iter() {
            conn.handle_ready(ev.is_readable(), ev.is_writable());
        }
        while conn.poll_event().is_some() {}
    }
    while conn.has_unwritten() {
        assert!(Instant::now() < deadline, "the tail was not written");
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .expect("poll");
        for ev in events.iter() {
            conn.handle_ready(ev.is_readable(), ev.is_writable());
        }
    }
    let peak = heap_peak_since(mark);
    conn.disconnect();
    let received = sink.join().expect("sink");
    eprintln!("MqttConnection: peak heap {peak} B above idle over {MESSAGES} x {PAYLOAD} B");
    assert_eq!(received, MESSAGES * PUBLISH_LEN + 2);
    assert!(
        peak <= BOUND,
        "peak heap {peak} B above idle, bound {BOUND} B"
    );
}
