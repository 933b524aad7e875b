//! Hostile brokers over real TCP: a tiny scripted peer on 127.0.0.1 (a std `TcpListener` in a
//! thread) against the blocking [`Client`]. A remaining length of 256 MiB followed by a
//! trickle, a broker that never answers CONNECT, and malformed bytes after CONNACK: each ends
//! in the specified typed error, with the right DISCONNECT on the wire, without a panic,
//! within bounded time, and (measured with a counting global allocator, process-wide, the
//! tests running one at a time) without the heap growing past the configured limits.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mqtt_sansio_mio::{Client, ClientError, ClientOptions};
use mqtt_sansio_proto::{ProtocolVersion, ReasonCode};
use mqtt_sansio_session::{DisconnectReason, Event, SessionConfig};

mod support {
    pub(crate) mod heap;
}
use support::heap::{heap_mark, heap_peak_since, SERIAL};

// ---------------------------------------------------------------------------------------------
// The scripted peer.

const MAX_PACKET: u32 = 64 * 1024;
/// Heap of the client's and the peer's threads and buffers besides the packet limit: the
/// connection's 16 KiB read buffer and 4 KiB write buffer, mio, thread stacks' TLS, events.
const OVERHEAD: usize = 256 * 1024;

/// Reads one whole MQTT packet (fixed header and body) from a blocking stream.
fn read_packet(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut first = [0u8; 1];
    s.read_exact(&mut first)?;
    let mut packet = vec![first[0]];
    let mut len = 0usize;
    for i in 0..4 {
        let mut b = [0u8; 1];
        s.read_exact(&mut b)?;
        packet.push(b[0]);
        len |= usize::from(b[0] & 0x7F) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let start = packet.len();
    packet.resize(start + len, 0);
    s.read_exact(&mut packet[start..])?;
    Ok(packet)
}

/// What the peer saw of the client after its CONNECT.
struct PeerLog {
    connect: Vec<u8>,
    /// Bytes the client sent after CONNECT, until it closed the connection.
    after: Vec<u8>,
    /// Whether the client closed the connection (EOF or reset) before the peer gave up.
    closed_by_client: bool,
    /// Bytes the peer managed to send in its trickle.
    trickled: usize,
}

/// A peer on 127.0.0.1 that reads CONNECT, writes `script` bytes, then trickles `trickle`
/// (1 KiB every 10 ms) while collecting what the client sends, for at most `give_up`.
fn spawn_peer(script: Vec<u8>, trickle: bool, give_up: Duration) -> (u16, JoinHandle<PeerLog>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("the client connects");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let connect = read_packet(&mut s).expect("CONNECT");
        s.write_all(&script).expect("script written");
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let deadline = Instant::now() + give_up;
        let chunk = [0x41u8; 1024];
        let mut log = PeerLog {
            connect,
            after: Vec::new(),
            closed_by_client: false,
            trickled: 0,
        };
        let mut buf = [0u8; 256];
        while Instant::now() < deadline {
            if trickle {
                match s.write(&chunk) {
                    Ok(n) => log.trickled += n,
                    Err(_) => {
                        log.closed_by_client = true;
                        break;
                    }
                }
            }
            match s.read(&mut buf) {
                Ok(0) => {
                    log.closed_by_client = true;
                    break;
                }
                Ok(n) => log.after.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => {
                    log.closed_by_client = true;
                    break;
                }
            }
        }
        log
    });
    (port, handle)
}

fn config(connack_timeout: Duration) -> SessionConfig {
    let mut c = SessionConfig::new("hostile-tcp", true, ProtocolVersion::V5);
    c.max_packet_size = MAX_PACKET;
    c.connack_timeout = connack_timeout;
    c
}

fn options(port: u16) -> ClientOptions {
    ClientOptions::new().port(port).auto_reconnect(false)
}

/// The reason the connection ended, waiting at most `within`.
fn wait_disconnected(client: &Client, within: Duration) -> DisconnectReason {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(Event::Disconnected { reason, .. }) =
            client.next_event(Duration::from_millis(100))
        {
            return reason;
        }
    }
    panic!("the connection did not end within {within:?}");
}

/// A v5 CONNACK: accepted, no session, no properties.
const CONNACK_V5: [u8; 5] = [0x20, 0x03, 0x00, 0x00, 0x00];

#[test]
fn remaining_length_of_256_mib_then_trickle_over_tcp() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let started = Instant::now();
    let mut script = CONNACK_V5.to_vec();
    // PUBLISH with a remaining length of 268,435,455 (256 MiB - 1), then the trickle.
    script.extend_from_slice(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    let (port, peer) = spawn_peer(script, true, Duration::from_secs(5));
    let client = Client::with_config(config(Duration::from_secs(5)));
    let mark = heap_mark();
    client
        .connect("127.0.0.1", 30, options(port))
        .expect("CONNACK accepted");
    let reason = wait_disconnected(&client, Duration::from_secs(10));
    let log = peer.join().expect("peer thread");
    let peak = heap_peak_since(mark);
    match reason {
        DisconnectReason::Protocol(e) => {
            assert_eq!(e.reason_code, ReasonCode::PacketTooLarge);
            assert_eq!(e.rule, mqtt_sansio_proto::rules::PACKET_TOO_LARGE);
        }
        other => panic!("expected PacketTooLarge, got {other:?}"),
    }
    assert_eq!(client.last_disconnect(), Some(reason));
    assert_eq!(log.connect[0], 0x10);
    assert_eq!(
        log.after,
        [0xE0, 0x01, 0x95],
        "DISCONNECT 0x95 Packet too large"
    );
    assert!(log.closed_by_client, "the client closed the connection");
    eprintln!(
        "256 MiB claim over TCP: peer trickled {} bytes, peak heap {peak} bytes",
        log.trickled
    );
    assert!(
        peak < MAX_PACKET as usize + OVERHEAD,
        "peak heap {peak} bytes over max_packet_size + {OVERHEAD}"
    );
    assert!(client.take_callback_failures().is_empty());
    client.disconnect();
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn broker_that_never_answers_connect_over_tcp() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    // The peer reads CONNECT and then says nothing, holding the socket open.
    let (port, peer) = spawn_peer(Vec::new(), false, Duration::from_secs(5));
    let client = Client::with_config(config(Duration::from_millis(500)));
    let mark = heap_mark();
    let started = Instant::now();
    let r = client.connect("127.0.0.1", 30, options(port));
    let took = started.elapsed();
    match r {
        Err(ClientError::Disconnected(DisconnectReason::ConnAckTimeout)) => {}
        other => panic!("expected a CONNACK timeout, got {other:?}"),
    }
    // Not before the timeout; after it, only as late as a loaded machine's scheduling makes
    // it (the bound is generous so the test is not timing-sensitive).
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "connect returned after {took:?}, the CONNACK timeout is 500 ms"
    );
    let log = peer.join().expect("peer thread");
    let peak = heap_peak_since(mark);
    assert_eq!(log.connect[0], 0x10);
    assert!(log.closed_by_client, "the client closed the connection");
    assert!(
        log.after.is_empty(),
        "nothing after CONNECT: {:02x?}",
        log.after
    );
    eprintln!("silent broker over TCP: connect failed after {took:?}, peak heap {peak} bytes");
    assert!(peak < MAX_PACKET as usize + OVERHEAD);
    assert!(!client.is_connected());
}

#[test]
fn malformed_bytes_after_connack_over_tcp() {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut script = CONNACK_V5.to_vec();
    // Packet type 0 is reserved; then a PUBLISH whose topic is not UTF-8.
    script.extend_from_slice(&[0x00, 0x00]);
    script.extend_from_slice(&[0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, 0x00]);
    let (port, peer) = spawn_peer(script, false, Duration::from_secs(5));
    let client = Client::with_config(config(Duration::from_secs(5)));
    let mark = heap_mark();
    client
        .connect("127.0.0.1", 30, options(port))
        .expect("CONNACK accepted");
    let reason = wait_disconnected(&client, Duration::from_secs(10));
    let log = peer.join().expect("peer thread");
    let peak = heap_peak_since(mark);
    match reason {
        DisconnectReason::Protocol(e) => {
            assert_eq!(e.reason_code, ReasonCode::MalformedPacket);
            assert_eq!(e.rule, mqtt_sansio_proto::rules::PACKET_TYPE_RESERVED);
        }
        other => panic!("expected a malformed packet, got {other:?}"),
    }
    assert_eq!(
        log.after,
        [0xE0, 0x01, 0x81],
        "DISCONNECT 0x81 Malformed Packet"
    );
    assert!(log.closed_by_client);
    eprintln!("malformed bytes over TCP: peak heap {peak} bytes");
    assert!(peak < MAX_PACKET as usize + OVERHEAD);
    // No panic anywhere: no callback failure, and the client still answers calls.
    assert!(client.take_callback_failures().is_empty());
    assert!(!client.is_connected());
    assert_eq!(client.pending_messages(), 0);
    client.disconnect();
}
