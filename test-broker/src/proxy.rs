//! A fault-injecting TCP relay in front of a broker, for scenarios a well-behaved mosquitto
//! cannot produce on demand: a broker that accepts and then drops every connection (a flapping
//! broker), a broker that answers one particular message with DISCONNECT every time (a poison
//! message), a broker whose acknowledgements of one kind never arrive.
//!
//! [`Proxy::start`] listens on a free loopback port; each client connection it accepts is
//! relayed to the target address over a connection of its own. Both directions are split into
//! MQTT packets with [`mqtt_sansio_proto::frame_len`] (the fixed header only; bodies are not decoded,
//! except the topic of a PUBLISH and the protocol level of CONNECT, read from their first bytes),
//! so a fault always lands on a packet boundary. The proxy records when each connection was
//! accepted, when the broker's CONNACK passed, and how many bytes went each way.
//!
//! It is bounded: it accepts at most [`ProxyConfig::max_connections`] connections and stops by
//! itself after [`ProxyConfig::lifetime`]; [`Proxy::stop`] (or dropping it) closes every
//! connection and joins its threads.
//!
//! ```no_run
//! use std::time::Duration;
//! use mqtt_test_broker::{Broker, BrokerConfig};
//! use mqtt_test_broker::proxy::{Proxy, ProxyConfig};
//!
//! let broker = Broker::start(BrokerConfig::plain())?;
//! let proxy = Proxy::start(
//!     broker.addr(),
//!     ProxyConfig::new().cut_after_connack(Duration::from_millis(50)),
//! )?;
//! // A client dialling proxy.port() is connected, then cut 50 ms after its CONNACK.
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mqtt_sansio_proto::{
    frame_len, Disconnect, Limits, Packet, PacketType, Properties, ProtocolVersion,
};

pub use mqtt_sansio_proto::ReasonCode;

/// How often the relay threads look at the stop flag and the cut deadline when no data moves.
const TICK: Duration = Duration::from_millis(5);
/// Timeout of the proxy's own connection to the target.
const DIAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;
/// The MQTT packet type of PUBLISH, in the high nibble of the first byte.
const PUBLISH: u8 = 3;
/// The MQTT packet type of CONNECT.
const CONNECT: u8 = 1;
/// The MQTT packet type of CONNACK.
const CONNACK: u8 = 2;

/// What the proxy does to the connections it relays; a builder for [`Proxy::start`].
///
/// [`ProxyConfig::new`] relays faithfully (no fault), accepts at most 1000 connections and
/// lives at most 120 seconds.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    cut_after_connack: Option<Duration>,
    poison: Option<(String, ReasonCode)>,
    swallow: Vec<PacketType>,
    max_connections: usize,
    lifetime: Duration,
}

impl Default for ProxyConfig {
    /// Same as [`ProxyConfig::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl ProxyConfig {
    /// A faithful relay (see the type's documentation for the bounds).
    pub fn new() -> Self {
        Self {
            cut_after_connack: None,
            poison: None,
            swallow: Vec::new(),
            max_connections: 1000,
            lifetime: Duration::from_secs(120),
        }
    }

    /// Closes each connection (both sides, no DISCONNECT) this long after the broker's CONNACK
    /// reached the client: a broker that accepts and then drops every connection.
    pub fn cut_after_connack(mut self, delay: Duration) -> Self {
        self.cut_after_connack = Some(delay);
        self
    }

    /// When the client sends a PUBLISH whose topic contains `topic_contains`, that PUBLISH is
    /// not relayed; instead the client gets an MQTT 5.0 DISCONNECT with `reason` (for example
    /// 0x99 Payload format invalid) and the connection is closed: a broker that rejects this
    /// one message every time it is sent. To a 3.1.1 client (which has no server DISCONNECT)
    /// the connection is only closed. Packets the client sent before it are relayed.
    pub fn poison(mut self, topic_contains: &str, reason: ReasonCode) -> Self {
        self.poison = Some((topic_contains.to_owned(), reason));
        self
    }

    /// Drops every packet of this type the broker sends to the client (for example PUBCOMP,
    /// which leaves the client's QoS 2 publishes released but never completed).
    pub fn swallow_from_broker(mut self, packet_type: PacketType) -> Self {
        self.swallow.push(packet_type);
        self
    }

    /// Refuses (closes at once) every connection after the first `n`.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Stops the proxy by itself this long after it started.
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

/// What the proxy saw of one relayed connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// When the proxy accepted the client's TCP connection.
    pub accepted_at: Instant,
    /// When the broker's CONNACK was relayed to the client, if it was.
    pub connack_at: Option<Instant>,
    /// When the proxy saw the connection end (either side closed, a fault, or a stop).
    pub closed_at: Option<Instant>,
    /// Bytes relayed from the client to the broker.
    pub bytes_to_broker: u64,
    /// Bytes relayed from the broker to the client (swallowed packets not counted).
    pub bytes_to_client: u64,
    /// The connection was closed by [`ProxyConfig::cut_after_connack`].
    pub cut: bool,
    /// The connection was closed by [`ProxyConfig::poison`].
    pub poisoned: bool,
}

/// A running relay; see the module documentation.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("connections", &self.connections().len())
            .finish()
    }
}

/// State shared by the accept thread, the relay threads and the handle.
struct Shared {
    config: ProxyConfig,
    stop: AtomicBool,
    records: Mutex<Vec<ConnectionRecord>>,
    relays: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn records(&self) -> MutexGuard<'_, Vec<ConnectionRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, index: usize, f: impl FnOnce(&mut ConnectionRecord)) {
        if let Some(record) = self.records().get_mut(index) {
            f(record);
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and relays every accepted connection to `target`.
    ///
    /// # Errors
    ///
    /// The listener could not be bound, or its thread not spawned.
    pub fn start(target: SocketAddr, config: ProxyConfig) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            stop: AtomicBool::new(false),
            records: Mutex::new(Vec::new()),
            relays: Mutex::new(Vec::new()),
        });
        let inner = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name("proxy-accept".into())
            .spawn(move || accept_loop(&listener, target, &inner))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The port clients dial (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address clients dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every connection accepted so far, in order.
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        self.shared.records().clone()
    }

    /// When each connection was accepted, in order: the client's connection attempts.
    pub fn connect_times(&self) -> Vec<Instant> {
        self.shared
            .records()
            .iter()
            .map(|r| r.accepted_at)
            .collect()
    }

    /// How many times the poison PUBLISH was intercepted.
    pub fn poison_hits(&self) -> usize {
        self.shared.records().iter().filter(|r| r.poisoned).count()
    }

    /// Stops accepting, closes every relayed connection and joins the proxy's threads.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let relays: Vec<JoinHandle<()>> = self
            .shared
            .relays
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
            .collect();
        for relay in relays {
            let _ = relay.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, target: SocketAddr, shared: &Arc<Shared>) {
    let end = Instant::now() + shared.config.lifetime;
    while !shared.stopped() && Instant::now() < end {
        match listener.accept() {
            Ok((client, _)) => {
                let accepted = shared.records().len();
                if accepted >= shared.config.max_connections {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let index = {
                    let mut records = shared.records();
                    records.push(ConnectionRecord {
                        accepted_at: Instant::now(),
                        connack_at: None,
                        closed_at: None,
                        bytes_to_broker: 0,
                        bytes_to_client: 0,
                        cut: false,
                        poisoned: false,
                    });
                    records.len() - 1
                };
                let inner = Arc::clone(shared);
                let spawned = thread::Builder::new()
                    .name(format!("proxy-conn-{index}"))
                    .spawn(move || relay(client, target, index, &inner));
                match spawned {
                    Ok(handle) => shared
                        .relays
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(handle),
                    Err(_) => shared.update(index, |r| r.closed_at = Some(Instant::now())),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::sleep(TICK),
            Err(_) => thread::sleep(TICK),
        }
    }
    shared.stop.store(true, Ordering::SeqCst);
}

/// Why a relayed connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// A side closed or failed, or the proxy stopped.
    Closed,
    /// The cut delay after CONNACK passed.
    Cut,
    /// The poison PUBLISH arrived.
    Poisoned,
}

/// One relayed connection: a thread per direction, sharing the two sockets and the verdict.
fn relay(client: TcpStream, target: SocketAddr, index: usize, shared: &Arc<Shared>) {
    let Ok(broker) = TcpStream::connect_timeout(&target, DIAL_TIMEOUT) else {
        let _ = client.shutdown(Shutdown::Both);
        shared.update(index, |r| r.closed_at = Some(Instant::now()));
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = broker.set_nodelay(true);
    let (Ok(client_reader), Ok(broker_reader)) = (client.try_clone(), broker.try_clone()) else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = broker.shutdown(Shutdown::Both);
        return;
    };
    let conn = Arc::new(Conn {
        client: Mutex::new(client),
        broker: Mutex::new(broker),
        version: Mutex::new(ProtocolVersion::V311),
        connack_at: Mutex::new(None),
        end: Mutex::new(None),
    });
    let upstream = {
        let conn = Arc::clone(&conn);
        let shared = Arc::clone(shared);
        thread::Builder::new()
            .name(format!("proxy-up-{index}"))
            .spawn(move || pump(client_reader, Direction::ToBroker, index, &conn, &shared))
    };
    pump(broker_reader, Direction::ToClient, index, &conn, shared);
    if let Ok(upstream) = upstream {
        let _ = upstream.join();
    }
    shared.update(index, |r| r.closed_at = Some(Instant::now()));
}

/// The sockets and state of one relayed connection.
struct Conn {
    client: Mutex<TcpStream>,
    broker: Mutex<TcpStream>,
    /// The protocol version the client's CONNECT asked for.
    version: Mutex<ProtocolVersion>,
    connack_at: Mutex<Option<Instant>>,
    end: Mutex<Option<End>>,
}

impl Conn {
    fn end(&self) -> Option<End> {
        *self.end.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records why the connection ends; false if a reason was recorded already (the first
    /// one wins, and whoever recorded it closes the sockets).
    fn mark(&self, end: End) -> bool {
        let mut slot = self.end.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(end);
        true
    }

    /// Ends the connection and closes both sockets, which wakes the other direction's read;
    /// does nothing if it already ended.
    fn finish(&self, end: End) {
        if !self.mark(end) {
            return;
        }
        self.close_both();
    }

    fn close_both(&self) {
        for socket in [&self.client, &self.broker] {
            let _ = socket
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .shutdown(Shutdown::Both);
        }
    }

    fn write_to(&self, direction: Direction, bytes: &[u8]) -> io::Result<()> {
        let socket = match direction {
            Direction::ToBroker => &self.broker,
            Direction::ToClient => &self.client,
        };
        socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(bytes)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToBroker,
    ToClient,
}

/// Relays one direction packet by packet until either side closes, a fault ends the
/// connection, or the proxy stops.
fn pump(mut from: TcpStream, direction: Direction, index: usize, conn: &Conn, shared: &Shared) {
    let _ = from.set_read_timeout(Some(TICK));
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    // After a framing error the rest is relayed raw: the proxy is not the one to judge.
    let mut raw = false;
    loop {
        if conn.end().is_some() {
            return;
        }
        if shared.stopped() {
            conn.finish(End::Closed);
            return;
        }
        if let (Some(delay), Some(at)) = (
            shared.config.cut_after_connack,
            *conn.connack_at.lock().unwrap_or_else(|p| p.into_inner()),
        ) {
            if at.elapsed() >= delay {
                shared.update(index, |r| r.cut = true);
                conn.finish(End::Cut);
                return;
            }
        }
        let n = match from.read(&mut chunk) {
            Ok(0) => {
                conn.finish(End::Closed);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                conn.finish(End::Closed);
                return;
            }
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if raw {
            if forward(conn, direction, index, shared, &buf).is_err() {
                return;
            }
            buf.clear();
            continue;
        }
        let mut used = 0;
        loop {
            let rest = buf.get(used..).unwrap_or_default();
            let len = match frame_len(rest, &Limits::default()) {
                Ok(Some(len)) if len <= rest.len() => len,
                Ok(_) => break,
                Err(_) => {
                    raw = true;
                    let len = rest.len();
                    if forward(conn, direction, index, shared, rest).is_err() {
                        return;
                    }
                    used += len;
                    break;
                }
            };
            let packet = rest.get(..len).unwrap_or_default();
            used += len;
            match on_packet(packet, direction, conn, shared) {
                Verdict::Relay => {
                    if forward(conn, direction, index, shared, packet).is_err() {
                        return;
                    }
                    if direction == Direction::ToClient && packet_type(packet) == CONNACK {
                        let now = Instant::now();
                        *conn.connack_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
                        shared.update(index, |r| r.connack_at = Some(now));
                    }
                }
                Verdict::Drop => {}
                Verdict::Poison(reason) => {
                    if !conn.mark(End::Poisoned) {
                        return;
                    }
                    shared.update(index, |r| r.poisoned = true);
                    let _ = conn
                        .broker
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .shutdown(Shutdown::Both);
                    let version = *conn.version.lock().unwrap_or_else(|p| p.into_inner());
                    if version == ProtocolVersion::V5 {
                        let mut out = Vec::new();
                        let disconnect = Packet::Disconnect(Disconnect {
                            reason,
                            properties: Properties::EMPTY,
                        });
                        if disconnect.encode(version, &mut out).is_ok() {
                            let _ = conn.write_to(Direction::ToClient, &out);
                        }
                    }
                    close_gracefully(&mut from, conn);
                    return;
                }
            }
        }
        buf.drain(..used.min(buf.len()));
    }
}

/// Closes the client's side so that it reads everything sent before (the DISCONNECT): a
/// close with unread input would reset the connection, and a reset can discard data the
/// client has not read yet. Sends FIN, reads and drops the client's input until it closes
/// (at most a second), then closes.
fn close_gracefully(from: &mut TcpStream, conn: &Conn) {
    let _ = conn
        .client
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match from.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    conn.close_both();
}

/// What to do with one complete packet.
enum Verdict {
    Relay,
    Drop,
    Poison(ReasonCode),
}

fn on_packet(packet: &[u8], direction: Direction, conn: &Conn, shared: &Shared) -> Verdict {
    let kind = packet_type(packet);
    match direction {
        Direction::ToBroker => {
            if kind == CONNECT {
                // Variable header: protocol name (2-byte length + "MQTT"), then the level.
                if let Some(&level) = body(packet).get(6) {
                    let version = if level == ProtocolVersion::V5.level() {
                        ProtocolVersion::V5
                    } else {
                        ProtocolVersion::V311
                    };
                    *conn.version.lock().unwrap_or_else(|p| p.into_inner()) = version;
                }
            }
            if kind == PUBLISH {
                if let (Some((needle, reason)), Some(topic)) =
                    (&shared.config.poison, publish_topic(packet))
                {
                    if topic
                        .windows(needle.len().max(1))
                        .any(|w| w == needle.as_bytes())
                    {
                        return Verdict::Poison(*reason);
                    }
                }
            }
            Verdict::Relay
        }
        Direction::ToClient => {
            if shared.config.swallow.iter().any(|t| *t as u8 == kind) {
                Verdict::Drop
            } else {
                Verdict::Relay
            }
        }
    }
}

fn forward(
    conn: &Conn,
    direction: Direction,
    index: usize,
    shared: &Shared,
    bytes: &[u8],
) -> Result<(), ()> {
    if conn.write_to(direction, bytes).is_err() {
        conn.finish(End::Closed);
        return Err(());
    }
    let n = bytes.len() as u64;
    shared.update(index, |r| match direction {
        Direction::ToBroker => r.bytes_to_broker += n,
        Direction::ToClient => r.bytes_to_client += n,
    });
    Ok(())
}

/// The packet type from the high nibble of the first byte (0 for an empty slice).
fn packet_type(packet: &[u8]) -> u8 {
    packet.first().map_or(0, |b| b >> 4)
}

/// The bytes after the fixed header of a complete packet (empty if malformed).
fn body(packet: &[u8]) -> &[u8] {
    // The remaining length is 1 to 4 bytes, the last without its high bit.
    let length_bytes = packet
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map_or(0, |i| i + 1);
    packet.get(1 + length_bytes..).unwrap_or_default()
}

/// The topic of a PUBLISH: the first field of its variable header in both versions.
fn publish_topic(packet: &[u8]) -> Option<&[u8]> {
    let body = body(packet);
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]) as usize;
    body.get(2..2 + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_of_a_publish_is_read_after_the_fixed_header() {
        // QoS 0 PUBLISH "a/b" "hi", and one with a two-byte remaining length.
        let small = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
        assert_eq!(publish_topic(&small), Some(&b"a/b"[..]));
        let mut big = vec![0x30, 0x85, 0x01, 0x00, 0x01, b'x'];
        big.extend(std::iter::repeat_n(0, 130));
        assert_eq!(publish_topic(&big), Some(&b"x"[..]));
        // A topic length past the end is no topic, not a panic.
        assert_eq!(publish_topic(&[0x30, 0x02, 0x00, 0x09]), None);
        assert_eq!(publish_topic(&[]), None);
    }
}
