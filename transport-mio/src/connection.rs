//! [`MqttConnection`]: the shared client core on a non-blocking socket, driven by the user's
//! `mio::Poll`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::io;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Registry, Token as MioToken};
use mqtt_sansio_client::{
    Action, ClientCore, ClientError, ClientOptions, CommandError, Completion, DisconnectRequest,
    OutgoingPublish, ServerAddr, StdClock, SubscribeProperties, Token,
};
use mqtt_sansio_proto::{PacketId, QoS, Subscription, TopicFilter};
use mqtt_sansio_session::{
    ConnectError, Event, Message, PublishError, Session, SessionConfig, SubscribeError,
};

use crate::connect;
use crate::io::{self as pump, Flow, READ_BUF_SIZE};
use crate::stream::Stream;

/// One MQTT connection for a `mio::Poll` you run yourself.
///
/// Open it on a TCP stream you dialled, register nothing yourself (it registers the stream
/// under your [`Token`](mio::Token)), pass it the readiness events for that token, call
/// [`handle_timeout`](Self::handle_timeout) when [`timeout`](Self::timeout) has elapsed, and
/// drain [`poll_event`](Self::poll_event). When the connection ends and the reconnect policy
/// wants another, [`poll_action`](Self::poll_action) says [`Action::Open`]: dial and call
/// [`open`](Self::open) again. No thread, no hidden runtime. To reach servers the way the
/// blocking [`Client`](crate::Client) does (URLs, server lists with failover, proxies,
/// WebSocket), let [`dial`](Self::dial) open the server of each [`Action::Open`].
///
/// ```no_run
/// use mio::{Events, Poll, Token};
/// use mqtt_sansio_mio::{ClientOptions, Event, MqttConnection};
///
/// let mut poll = Poll::new()?;
/// let mut conn = MqttConnection::with_options(ClientOptions::new().client_id("mio-demo").keep_alive(30))?;
/// let tcp = mio::net::TcpStream::connect("127.0.0.1:1883".parse().unwrap())?;
/// conn.open(poll.registry(), Token(7), tcp, "127.0.0.1")?;
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
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MqttConnection {
    core: ClientCore,
    options: ClientOptions,
    clock: StdClock,
    stream: Option<Stream>,
    /// The registry the open stream is registered with (to deregister on close).
    registry: Option<Registry>,
    read_buf: Box<[u8]>,
    /// The I/O or TLS error that closed the socket, kept so the user learns *why* (a
    /// certificate that does not name the host, a reset) instead of only "closed".
    last_error: Option<io::Error>,
    /// Tokens whose completion the user asked to keep; other completions are dropped at
    /// once, so a QoS 0 stream does not pile them up (issue 10, defect 7).
    tracked: HashSet<u64>,
    completions: VecDeque<(Token, Completion)>,
    /// An `Open` or `Stop` the core reported while this connection was closing a socket,
    /// kept for [`poll_action`](MqttConnection::poll_action).
    pending_action: Option<Action>,
    /// The last read stopped at its cap with bytes left: mio is edge-triggered and will not
    /// report them again, so [`timeout`](MqttConnection::timeout) asks to come back at once.
    read_more: bool,
}

impl fmt::Debug for MqttConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No bytes: the output may hold a CONNECT with its password.
        f.debug_struct("MqttConnection")
            .field("core", &self.core)
            .field("open", &self.stream.is_some())
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

impl MqttConnection {
    /// A connection for this Session configuration, with the client defaults for every other
    /// option; nothing is opened yet. A configuration the Session refuses is reported by
    /// [`validate`](Self::validate) and [`open`](Self::open).
    pub fn new(config: SessionConfig) -> Self {
        let mut options = ClientOptions::new();
        *options.session_config_mut() = config.clone();
        match ClientCore::new(options.core().clone(), 0) {
            Ok(core) => Self::with_core(core, options),
            Err(_) => {
                // Keep the caller's configuration for `validate` / `open` to report.
                let mut fallback = options.clone();
                *fallback.session_config_mut() = ClientOptions::new().core().session.clone();
                let core = ClientCore::new(fallback.core().clone(), 0)
                    .or_else(|_| ClientCore::new(ClientOptions::new().core().clone(), 0));
                match core {
                    Ok(core) => Self::with_core(core, options),
                    Err(_) => pump::unreachable_defaults(),
                }
            }
        }
    }

    /// A connection with these options (identity, protocol, will, credentials, TLS, socket
    /// keepalive, reconnect policy, limits, session store); nothing is opened yet. A session
    /// store of another client id or protocol version is [`ClientError::Store`].
    pub fn with_options(options: ClientOptions) -> Result<Self, ClientError> {
        let mut core = ClientCore::new(options.core().clone(), pump::os_seed())?;
        if let Some(store) = options.take_session_store() {
            core.attach_store(store)?;
        }
        Ok(Self::with_core(core, options))
    }

    fn with_core(core: ClientCore, options: ClientOptions) -> Self {
        Self {
            core,
            options,
            clock: StdClock::new(),
            stream: None,
            registry: None,
            read_buf: vec![0; READ_BUF_SIZE].into_boxed_slice(),
            last_error: None,
            tracked: HashSet::new(),
            completions: VecDeque::new(),
            pending_action: None,
            read_more: false,
        }
    }

    /// Checks the Session's configuration (the client id) as [`SessionConfig::validate`]
    /// does. Call it before opening the TCP stream for [`open`](Self::open): a bad id is then
    /// a typed configuration error and no socket is opened for nothing.
    pub fn validate(&self) -> Result<(), ConnectError> {
        self.options.core().session.validate()
    }

    /// Starts MQTT on a TCP stream (connected or still connecting): wraps it in TLS when the
    /// options have TLS settings (verifying `host`), registers it with `registry` under
    /// `token` for both directions, and queues CONNECT. The outcome arrives as
    /// [`Event::Connected`] or [`Event::ConnectRefused`].
    ///
    /// An invalid configuration ([`validate`](Self::validate)) is refused with
    /// [`io::ErrorKind::InvalidInput`] wrapping the [`ConnectError`] (read it with
    /// `err.get_ref()` and `downcast_ref`), before the stream is touched.
    pub fn open(
        &mut self,
        registry: &Registry,
        token: MioToken,
        tcp: TcpStream,
        host: &str,
    ) -> io::Result<()> {
        self.prepare_open()?;
        let mut stream = pump::wrap(tcp, self.options.tls_config(), host)?;
        pump::register(registry, &mut stream, token)?;
        self.take_open_action();
        self.attach(registry, stream)
    }

    /// Asks the core for the first connection: the next [`poll_action`](Self::poll_action)
    /// says [`Action::Open`] with the first server of the options (unless the client
    /// already stopped). Needed only before the first [`dial`](Self::dial); calling it
    /// again does nothing. [`open`](Self::open) starts the core by itself.
    pub fn start(&mut self) {
        let _ = self.core.start(self.clock.now());
        self.settle();
    }

    /// Dials `server` the way the blocking [`Client`](crate::Client) does and starts MQTT
    /// on it: through the proxy of the options (HTTP CONNECT or SOCKS5), with TLS per the
    /// server's scheme or the options (verifying the server's host name), as a WebSocket
    /// with the path and headers of the options for `ws://` / `wss://` servers; applies
    /// TCP_NODELAY and the socket keepalive of the options, registers the socket with
    /// `registry` under `token` for both directions and queues CONNECT, like
    /// [`open`](Self::open). Pass the `server` of the [`Action::Open`] that
    /// [`poll_action`](Self::poll_action) returned (after [`start`](Self::start) for the
    /// first connection).
    ///
    /// **It blocks**: resolving the name, the TCP connect, the proxy's answer, the TLS
    /// handshake and the WebSocket upgrade may each take up to the connect timeout
    /// (`ClientOptions::connect_timeout`, default 10 s). Only then does the socket turn
    /// non-blocking for your `Poll`. For a connect that never blocks your loop, dial a
    /// non-blocking `mio::net::TcpStream` yourself and call [`open`](Self::open) (TCP and
    /// TLS only).
    ///
    /// When dialling fails the core learns it (the next server of the list, after the
    /// backoff delay of the reconnect policy, arrives as the next [`Action::Open`]; or
    /// [`Action::Stop`] when the policy gives up, as for a first connection unless
    /// `ReconnectPolicy::retry_first_connect`), and the error is returned and also kept
    /// for [`take_error`](Self::take_error). A configuration the Session refuses is
    /// [`io::ErrorKind::InvalidInput`] as for [`open`](Self::open), before any dialling.
    ///
    /// ```no_run
    /// use mio::{Events, Poll, Token};
    /// use mqtt_sansio_mio::{Action, ClientOptions, Event, MqttConnection, Proxy};
    ///
    /// const MQTT: Token = Token(7);
    /// let options = ClientOptions::new()
    ///     .client_id("mio-dial-demo")
    ///     .servers_from_urls(&["ws://broker-a.example:8080/mqtt", "mqtts://broker-b.example"])?
    ///     .proxy(Proxy::socks5("127.0.0.1", 1080));
    /// let mut conn = MqttConnection::with_options(options)?;
    /// let mut poll = Poll::new()?;
    /// let mut events = Events::with_capacity(64);
    /// conn.start();
    /// loop {
    ///     match conn.poll_action() {
    ///         Action::Open { server, .. } => {
    ///             // On failure the core already chose the next server and its delay.
    ///             if let Err(e) = conn.dial(poll.registry(), MQTT, &server) {
    ///                 eprintln!("{server}: {e}");
    ///             }
    ///         }
    ///         Action::Stop(reason) => break println!("stopped: {reason:?}"),
    ///         _ => {}
    ///     }
    ///     poll.poll(&mut events, conn.timeout())?;
    ///     for event in events.iter() {
    ///         if event.token() == MQTT {
    ///             conn.handle_ready(event.is_readable(), event.is_writable());
    ///         }
    ///     }
    ///     conn.handle_timeout();
    ///     while let Some(event) = conn.poll_event() {
    ///         if let Event::Connected { .. } = event { /* subscribe, publish, ... */ }
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dial(
        &mut self,
        registry: &Registry,
        token: MioToken,
        server: &ServerAddr,
    ) -> io::Result<()> {
        self.prepare_open()?;
        self.take_open_action();
        let opened = connect::open(server, &self.options).and_then(|(mut stream, _)| {
            pump::register(registry, &mut stream, token)?;
            Ok(stream)
        });
        match opened {
            Ok(stream) => self.attach(registry, stream),
            Err(e) => {
                // The core picks the next server and the backoff delay; `take_error` keeps
                // why (io::Error is not Clone: the copy keeps the kind and the message).
                self.core.handle_open_failed(self.clock.now());
                self.last_error = Some(io::Error::new(e.kind(), e.to_string()));
                self.settle();
                Err(e)
            }
        }
    }

    /// Refuses an invalid configuration or a stopped client, and closes the socket still
    /// attached (a caller opening early replaces it).
    fn prepare_open(&mut self) -> io::Result<()> {
        self.validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if self.core.stop_reason().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                ClientError::Closed,
            ));
        }
        if let (Some(old), Some(reg)) = (self.stream.take(), self.registry.take()) {
            pump::close(&reg, old);
            self.core.handle_closed(self.clock.now());
        }
        Ok(())
    }

    /// Starts the core and consumes its [`Action::Open`]: the core asked for a socket
    /// (first connection, or a reconnection after its delay), or the caller opens one
    /// early; either way the socket being opened is the one.
    fn take_open_action(&mut self) {
        let now = self.clock.now();
        let _ = self.core.start(now);
        if self.pending_action.is_none() {
            let _ = self.core.poll_action(now);
        }
        self.pending_action = None;
    }

    /// Hands a registered stream to the core, which queues CONNECT.
    fn attach(&mut self, registry: &Registry, mut stream: Stream) -> io::Result<()> {
        let now = self.clock.now();
        if let Err(e) = self.core.handle_opened(now) {
            let _ = registry.deregister(stream.tcp_mut());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        self.registry = Some(registry.try_clone()?);
        self.last_error = None;
        self.stream = Some(stream);
        self.pump(false);
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

    /// The Session, for getters (limits, subscriptions, counters).
    pub fn session(&self) -> &Session {
        self.core.session()
    }

    /// The client core, for getters (state, CONNACK, last disconnect).
    pub fn core(&self) -> &ClientCore {
        &self.core
    }

    /// The client core, for commands not wrapped here or for many commands in a row
    /// without a write after each (batching); call [`flush`](Self::flush) after them.
    pub fn core_mut(&mut self) -> &mut ClientCore {
        &mut self.core
    }

    /// Writes what the core has queued, as far as the socket takes it.
    pub fn flush(&mut self) {
        self.pump(false);
    }

    /// Whether bytes wait to be written (the socket was full): the core's transmit buffer or
    /// the Session's queue.
    pub fn has_unwritten(&mut self) -> bool {
        self.core.poll_transmit(self.clock.now()).is_some()
    }

    /// What the core needs from the caller: [`Action::Open`] (dial, then
    /// [`open`](Self::open)), [`Action::Stop`] (the connection is finished), or
    /// [`Action::None`]. Closing sockets is done here.
    pub fn poll_action(&mut self) -> Action {
        self.settle();
        match self.pending_action.take() {
            // Stop stays the answer for good.
            Some(Action::Stop(reason)) => {
                self.pending_action = Some(Action::Stop(reason.clone()));
                Action::Stop(reason)
            }
            Some(action) => action,
            None => Action::None,
        }
    }

    /// The socket of this connection is ready: read and/or write as much as it allows.
    pub fn handle_ready(&mut self, readable: bool, writable: bool) {
        if readable || writable {
            self.pump(readable);
        }
    }

    /// Reads (when `read`), writes, and closes the socket when it ended or the core asks.
    fn pump(&mut self, read: bool) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let mut flow = Flow::Open {
            progressed: false,
            more: false,
        };
        // Manual acknowledgements (3.1.1) may pause reading; `read_more` keeps the read
        // owed for when `ack` resumes it.
        if read && self.core.session().wants_read() {
            flow = pump::read_into(stream, &mut self.read_buf, &mut self.core, &self.clock);
            self.read_more = matches!(flow, Flow::Open { more: true, .. });
        }
        if let Flow::Open { .. } = flow {
            flow = pump::write_from(stream, &mut self.core, &self.clock);
        }
        if let Flow::Closed(error) = flow {
            if error.is_some() {
                self.last_error = error;
            }
            self.close_socket();
        }
        self.settle();
    }

    fn close_socket(&mut self) {
        self.read_more = false;
        if let Some(stream) = self.stream.take() {
            match self.registry.take() {
                Some(reg) => pump::close(&reg, stream),
                None => {
                    let mut stream = stream;
                    stream.shutdown();
                }
            }
        }
        self.core.handle_closed(self.clock.now());
    }

    /// Handles what the core asks (closing) and keeps only tracked completions.
    fn settle(&mut self) {
        if self.pending_action.is_none() {
            let now = self.clock.now();
            let mut action = self.core.poll_action(now);
            while action == Action::Close {
                self.close_socket();
                action = self.core.poll_action(self.clock.now());
            }
            // Open and Stop are the caller's: `poll_action` hands them over (the core reports
            // each once).
            if action != Action::None {
                self.pending_action = Some(action);
            }
        }
        while let Some((token, completion)) = self.core.poll_completion() {
            if self.tracked.remove(&token.seq()) {
                self.completions.push_back((token, completion));
            }
        }
    }

    /// The I/O or TLS error that closed the last connection, if an error (rather than an
    /// orderly end of stream or a command) closed it; taken once, cleared by
    /// [`open`](Self::open).
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.last_error.take()
    }

    /// How long until [`handle_timeout`](Self::handle_timeout) has work; pass it to
    /// `Poll::poll`. `None`: no timer runs.
    pub fn timeout(&self) -> Option<Duration> {
        if self.read_more && self.stream.is_some() && self.core.session().wants_read() {
            return Some(Duration::ZERO);
        }
        self.core.poll_timeout().map(|d| self.clock.until(d))
    }

    /// Fires the core's timers whose deadline passed (keepalive PINGREQ, silence, CONNACK
    /// timeout, reconnect delay, drain deadline). Calling it early does nothing.
    pub fn handle_timeout(&mut self) {
        let now = self.clock.now();
        if self.core.poll_timeout().is_some_and(|d| d <= now) {
            self.core.handle_timeout(now);
        }
        self.pump(self.read_more);
    }

    /// The next event. After [`Event::Disconnected`] the socket is closed (what was queued,
    /// a final DISCONNECT included, was written first).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.settle();
        self.core.poll_event()
    }

    /// The next completion of a command made with a `*_tracked` method.
    pub fn poll_completion(&mut self) -> Option<(Token, Completion)> {
        self.settle();
        self.completions.pop_front()
    }

    fn command(
        &mut self,
        track: bool,
        f: impl FnOnce(&mut ClientCore, mqtt_sansio_session::Instant) -> Result<Token, CommandError>,
    ) -> Result<Token, CommandError> {
        let token = f(&mut self.core, self.clock.now())?;
        if track {
            self.tracked.insert(token.seq());
        }
        self.pump(false);
        Ok(token)
    }

    /// Publishes and writes what the socket takes; returns the packet identifier (`None`
    /// for QoS 0).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, PublishError> {
        let msg = OutgoingPublish::new(topic, payload, qos, retain);
        self.publish_message(&msg, false)
            .map(|token| token.packet_id())
    }

    /// Publishes with 5.0 properties; its completion is kept for
    /// [`poll_completion`](Self::poll_completion) and it can be [`cancel`](Self::cancel)led
    /// while not yet sent.
    pub fn publish_tracked(&mut self, msg: &OutgoingPublish<'_>) -> Result<Token, PublishError> {
        self.publish_message(msg, true)
    }

    fn publish_message(
        &mut self,
        msg: &OutgoingPublish<'_>,
        track: bool,
    ) -> Result<Token, PublishError> {
        self.command(track, |core, now| core.publish(now, msg))
            .map_err(|e| match e {
                CommandError::Publish(e) => e,
                _ => PublishError::QueueFull,
            })
    }

    /// Subscribes and writes what the socket takes; returns the packet identifier.
    pub fn subscribe(
        &mut self,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, SubscribeError> {
        self.subscribe_with(subscriptions, &SubscribeProperties::default())
            .map(|token| token.packet_id().unwrap_or(PacketId::MIN))
    }

    /// Subscribes with 5.0 properties; the completion (one code per filter) is kept for
    /// [`poll_completion`](Self::poll_completion).
    pub fn subscribe_with(
        &mut self,
        subscriptions: &[Subscription<'_>],
        properties: &SubscribeProperties,
    ) -> Result<Token, SubscribeError> {
        self.command(true, |core, now| {
            core.subscribe(now, subscriptions, properties)
        })
        .map_err(subscribe_error)
    }

    /// Unsubscribes and writes what the socket takes; returns the packet identifier.
    pub fn unsubscribe(&mut self, filters: &[TopicFilter<'_>]) -> Result<PacketId, SubscribeError> {
        self.command(false, |core, now| core.unsubscribe(now, filters, &[]))
            .map(|token| token.packet_id().unwrap_or(PacketId::MIN))
            .map_err(subscribe_error)
    }

    /// Acknowledges `message` under manual acknowledgements (`ClientOptions::manual_acks`):
    /// its PUBACK / PUBREC goes out once every message that arrived before it was
    /// acknowledged too. A message with nothing to acknowledge is `Ok`; a stale one (already
    /// acknowledged, or from an ended connection) is `Ack(Stale)`. When it ends a 3.1.1
    /// pause, [`timeout`](Self::timeout) is zero again: the reads owed follow in
    /// [`handle_timeout`](Self::handle_timeout).
    pub fn ack(&mut self, message: &Message) -> Result<(), ClientError> {
        let Some(token) = message.ack_token() else {
            return Ok(());
        };
        let r = self.core.ack(self.clock.now(), token);
        self.settle();
        r.map_err(ClientError::from)
    }

    /// Cancels a tracked publish not yet sent; its completion fails with `Cancelled`.
    pub fn cancel(&mut self, token: Token) -> Result<(), ClientError> {
        let r = self.core.cancel(self.clock.now(), token);
        self.settle();
        r.map_err(ClientError::from)
    }

    /// Writes what is queued, sends DISCONNECT and closes (the [`Event::Disconnected`] that
    /// follows reports it). With a slow socket, keep driving the connection until
    /// [`poll_action`](Self::poll_action) says `Stop`.
    pub fn disconnect(&mut self) {
        self.disconnect_with(DisconnectRequest::default());
    }

    /// [`disconnect`](Self::disconnect) with a 5.0 reason code, properties and drain time.
    pub fn disconnect_with(&mut self, request: DisconnectRequest) {
        self.core.disconnect(self.clock.now(), request);
        self.pump(false);
    }

    /// Drops the socket without DISCONNECT (the broker sends the will); the reconnect
    /// policy then asks for a new one through [`poll_action`](Self::poll_action).
    pub fn abort(&mut self) {
        let _ = self.core.reconnect(self.clock.now());
        self.close_socket();
        self.settle();
    }

    /// The Session's time base, on this connection's clock.
    pub fn now(&self) -> mqtt_sansio_session::Instant {
        self.clock.now()
    }
}

fn subscribe_error(e: CommandError) -> SubscribeError {
    match e {
        CommandError::Subscribe(e) => e,
        CommandError::Property(e) => SubscribeError::InvalidFilter(e),
        // Stopped: nothing more can be sent; the closest the Session has.
        _ => SubscribeError::QueueFull,
    }
}
