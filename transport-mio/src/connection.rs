//! [`MqttConnection`]: a Session on a non-blocking socket, driven by the user's `mio::Poll`.

use std::fmt;
use std::io;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use mqtt_proto::{Properties, QoS, ReasonCode, Subscription, TopicFilter};
use mqtt_session::{
    ConnectError, ConnectOptions, Event, PublishError, Session, SessionConfig, SubscribeError,
};

use crate::clock::Clock;
use crate::stream::Stream;
use crate::tls::TlsConfig;

/// Output waiting for the socket beyond this many bytes stops pulling packets out of the
/// Session: they stay inside its bounded queues, so backpressure reaches `publish`.
const HIGH_WATER: usize = 64 * 1024;
/// Reads per readiness event before yielding to other connections (fairness).
const MAX_READS_PER_EVENT: usize = 64;

/// One MQTT connection for a `mio::Poll` you run yourself.
///
/// Register it under your own [`Token`], pass it the readiness events for that token, call
/// [`handle_timeout`](Self::handle_timeout) when [`timeout`](Self::timeout) has elapsed, and
/// drain [`poll_event`](Self::poll_event). No thread, no hidden runtime, and no allocation
/// per readiness event.
///
/// ```no_run
/// use mio::{Events, Poll, Token};
/// use mqtt_proto::ProtocolVersion;
/// use mqtt_session::{ConnectOptions, Event, SessionConfig};
/// use transport_mio::MqttConnection;
///
/// let mut poll = Poll::new()?;
/// let mut conn = MqttConnection::new(SessionConfig::new("mio-demo", true, ProtocolVersion::V311));
/// // A bad client id is a configuration error: find out before opening a socket.
/// conn.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
/// let tcp = mio::net::TcpStream::connect("127.0.0.1:1883".parse().unwrap())?;
/// conn.open(poll.registry(), Token(7), tcp, None, "127.0.0.1", &ConnectOptions::new(30))?;
/// let mut events = Events::with_capacity(64);
/// loop {
///     poll.poll(&mut events, conn.timeout())?;
///     for event in events.iter() {
///         if event.token() == Token(7) {
///             conn.handle_ready(event.is_readable(), event.is_writable());
///         }
///     }
///     conn.handle_timeout();
///     while let Some(event) = conn.poll_event() {
///         if let Event::Connected { .. } = event { /* subscribe, publish, ... */ }
///     }
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MqttConnection {
    session: Session,
    clock: Clock,
    stream: Option<Stream>,
    out: Vec<u8>,
    out_pos: usize,
    read_buf: Box<[u8]>,
    /// The I/O or TLS error that closed the socket, kept so the user learns *why* (a
    /// certificate that does not name the host, a reset) instead of only "closed".
    last_error: Option<io::Error>,
}

impl fmt::Debug for MqttConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Byte counts only: the output may hold a CONNECT with its password.
        f.debug_struct("MqttConnection")
            .field("session", &self.session)
            .field("open", &self.stream.is_some())
            .field("out", &self.out.len().saturating_sub(self.out_pos))
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl MqttConnection {
    /// A connection object for this session configuration; nothing is opened yet.
    pub fn new(config: SessionConfig) -> Self {
        Self::with_session(Session::new(config))
    }

    /// Wraps an existing Session (for example one restored from elsewhere).
    pub fn with_session(session: Session) -> Self {
        Self {
            session,
            clock: Clock::new(),
            stream: None,
            out: Vec::with_capacity(4096),
            out_pos: 0,
            read_buf: vec![0; 16 * 1024].into_boxed_slice(),
            last_error: None,
        }
    }

    /// Checks the Session's configuration (the client id) as
    /// [`SessionConfig::validate`] does. Call it before opening the TCP stream for
    /// [`open`](Self::open): a bad id is then a typed configuration error and no socket is
    /// opened for nothing.
    pub fn validate(&self) -> Result<(), ConnectError> {
        self.session.config().validate()
    }

    /// Starts MQTT on a TCP stream (connected or still connecting): wraps it in TLS when
    /// `tls` is given (verifying `host`), registers it with `registry` under `token`, and
    /// queues CONNECT. The outcome arrives as [`Event::Connected`] or
    /// [`Event::ConnectRefused`].
    ///
    /// An invalid configuration ([`validate`](Self::validate)) or options are refused with
    /// [`io::ErrorKind::InvalidInput`] wrapping the [`ConnectError`] (read it with
    /// `err.get_ref()` and `downcast_ref`), before the stream is touched.
    pub fn open(
        &mut self,
        registry: &Registry,
        token: Token,
        tcp: TcpStream,
        tls: Option<&TlsConfig>,
        host: &str,
        options: &ConnectOptions<'_>,
    ) -> io::Result<()> {
        self.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut stream = match tls {
            Some(t) => {
                let (config, name) = t.build(host)?;
                Stream::tls(tcp, config, name)?
            }
            None => Stream::Plain(tcp),
        };
        // Edge-triggered, both directions, for the socket's life: commands never need the
        // registry, a writable edge arrives whenever a full socket drains.
        registry.register(
            stream.tcp_mut(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        if let Err(e) = self.session.connect(self.clock.now(), options) {
            let _ = registry.deregister(stream.tcp_mut());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        self.out.clear();
        self.out_pos = 0;
        self.last_error = None;
        self.stream = Some(stream);
        self.flush();
        Ok(())
    }

    /// The TCP socket, while one is attached (for socket options).
    pub fn tcp(&self) -> Option<&TcpStream> {
        self.stream.as_ref().map(Stream::tcp)
    }

    /// Whether a socket is attached.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// The Session, for getters and for commands not wrapped here. After a command, call
    /// [`flush`](Self::flush).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Mutable access to the Session; call [`flush`](Self::flush) after a command.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The socket of this connection is ready: read and/or write as much as it allows.
    pub fn handle_ready(&mut self, readable: bool, writable: bool) {
        if readable {
            self.read();
        }
        if writable || readable {
            self.flush();
        }
    }

    fn read(&mut self) {
        for _ in 0..MAX_READS_PER_EVENT {
            let Some(stream) = self.stream.as_mut() else {
                return;
            };
            match stream.read(&mut self.read_buf) {
                Ok(0) => return self.closed(),
                Ok(n) => {
                    let now = self.clock.now();
                    self.session
                        .handle_read(now, self.read_buf.get(..n).unwrap_or_default());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.failed(e),
            }
        }
    }

    /// The socket failed with `e` (TLS errors included): remember it, then close.
    fn failed(&mut self, e: io::Error) {
        self.last_error = Some(e);
        self.closed();
    }

    /// The I/O or TLS error that closed the last connection, if an error (rather than an
    /// orderly end of stream or a command) closed it; taken once, cleared by
    /// [`open`](Self::open). Pair it with [`Event::Disconnected`] for a message that says what
    /// went wrong, e.g. that the broker's certificate does not name the host.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.last_error.take()
    }

    fn closed(&mut self) {
        if let Some(mut s) = self.stream.take() {
            s.shutdown();
        }
        self.out.clear();
        self.out_pos = 0;
        self.session.handle_closed(self.clock.now());
    }

    /// Moves packets from the Session to the socket until either runs dry or the socket is
    /// full. Call after every command.
    pub fn flush(&mut self) {
        loop {
            while self.out.len() - self.out_pos < HIGH_WATER {
                let now = self.clock.now();
                if self.session.poll_transmit(now, &mut self.out).is_none() {
                    break;
                }
            }
            let Some(stream) = self.stream.as_mut() else {
                self.out.clear();
                self.out_pos = 0;
                return;
            };
            if self.out_pos == self.out.len() {
                let _ = stream.flush();
                self.out.clear();
                self.out_pos = 0;
                return;
            }
            match stream.write(self.out.get(self.out_pos..).unwrap_or_default()) {
                Ok(0) => return self.closed(),
                Ok(n) => self.out_pos += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                    ) =>
                {
                    // Keep the unsent tail; the next writable edge resumes.
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.failed(e),
            }
        }
    }

    /// How long until [`handle_timeout`](Self::handle_timeout) has work; pass it to
    /// `Poll::poll`. `None`: no timer runs.
    pub fn timeout(&self) -> Option<Duration> {
        self.session.poll_timeout().map(|d| self.clock.until(d))
    }

    /// Fires the Session's timers whose deadline passed (keepalive PINGREQ, silence,
    /// CONNACK timeout). Calling it early does nothing.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if self.session.poll_timeout().is_some_and(|d| d <= now) {
            self.session.handle_timeout(now);
            self.flush();
        }
    }

    /// The next event. After [`Event::Disconnected`] the socket is flushed and closed; call
    /// [`open`](Self::open) with a new one to reconnect.
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.session.poll_event()?;
        if matches!(event, Event::Disconnected { .. }) {
            // A final DISCONNECT may be queued: best effort, then close.
            self.flush();
            if let Some(mut s) = self.stream.take() {
                s.shutdown();
            }
            self.out.clear();
            self.out_pos = 0;
        }
        Some(event)
    }

    /// Publishes (see [`Session::publish`]) and flushes.
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<mqtt_proto::PacketId>, PublishError> {
        let r = self
            .session
            .publish(self.clock.now(), topic, payload, qos, retain);
        self.flush();
        r
    }

    /// Publishes with MQTT 5.0 properties and flushes.
    pub fn publish_with_properties(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<Option<mqtt_proto::PacketId>, PublishError> {
        let r = self.session.publish_with_properties(
            self.clock.now(),
            topic,
            payload,
            qos,
            retain,
            properties,
        );
        self.flush();
        r
    }

    /// Subscribes (see [`Session::subscribe`]) and flushes.
    pub fn subscribe(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> Result<mqtt_proto::PacketId, SubscribeError> {
        let r = self.session.subscribe(self.clock.now(), subscriptions);
        self.flush();
        r
    }

    /// Unsubscribes and flushes.
    pub fn unsubscribe(
        &mut self,
        filters: &[TopicFilter<'_>],
    ) -> Result<mqtt_proto::PacketId, SubscribeError> {
        let r = self.session.unsubscribe(self.clock.now(), filters);
        self.flush();
        r
    }

    /// Sends DISCONNECT; the [`Event::Disconnected`] that follows closes the socket.
    pub fn disconnect(&mut self) {
        self.session
            .disconnect(self.clock.now(), ReasonCode::NORMAL_DISCONNECTION);
        self.flush();
    }

    /// Deregisters and drops the socket without MQTT DISCONNECT (the broker sends the will).
    pub fn abort(&mut self, registry: &Registry) {
        if let Some(mut s) = self.stream.take() {
            let _ = registry.deregister(s.tcp_mut());
            s.shutdown();
        }
        self.session.handle_closed(self.clock.now());
    }

    /// Milliseconds on this connection's clock (the Session's time base).
    pub fn now(&self) -> mqtt_session::Instant {
        self.clock.now()
    }
}
