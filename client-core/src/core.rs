//! [`ClientCore`]: the Session plus everything between it and a socket, sans-IO.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use mqtt_sansio_proto::{
    PacketId, Properties, PropertiesBuf, Property, ProtocolVersion, QoS, ReasonCode, Subscription,
    TopicFilter, TopicName, ValueError, Will,
};
use mqtt_sansio_session::{
    AckError, AckToken, Backoff, ConnAckProperties, ConnectError, ConnectOptions, DisconnectReason,
    Event, Instant, PublishError, RequestFailure, Session, SessionState, SubscribeError,
};

use crate::compat::{self, CancelError};
use crate::completion::{
    Ack, Completion, Completions, ConnectOutcome, Failure, PublishOutcome, StopReason,
    SubscribeOutcome, Token, TokenKind,
};
use crate::counters::{bump, Counters};
use crate::options::{CoreOptions, Credentials, LastWill, ServerAddr, ServerOrder};
use crate::poison::PoisonTracker;
use crate::redirect::{self, Redirect};
use crate::txbuf::TxBuffer;
use crate::wire::{self, Framer};

/// After the Session ended a connection, how long the transport may still write what it
/// holds (a final DISCONNECT) before the core asks it to close the socket anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// What the transport must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Dial this server (TCP, then TLS per the options), then call
    /// [`ClientCore::handle_opened`] or [`ClientCore::handle_open_failed`].
    Open {
        /// Where to connect.
        server: ServerAddr,
        /// Attempt number since the last stable connection (1 = first).
        attempt: u32,
        /// Whether a connection was made before (hooks: before_reconnect runs only then).
        reconnect: bool,
    },
    /// Close the socket now, then call [`ClientCore::handle_closed`].
    Close,
    /// The client is finished; end the I/O loop.
    Stop(StopReason),
    /// Nothing until I/O, a command, or [`ClientCore::poll_timeout`].
    None,
}

/// Where the client is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// [`ClientCore::start`] was not called yet.
    Idle,
    /// A socket is being dialled.
    Opening,
    /// CONNECT was queued; waiting for CONNACK.
    Connecting,
    /// The broker accepted the connection.
    Connected,
    /// `disconnect` was called: writing what is queued before DISCONNECT.
    Draining,
    /// The connection ended; the socket is being closed.
    Closing,
    /// Waiting for the reconnect delay.
    Waiting,
    /// Finished.
    Stopped,
}

/// A command the core refused. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The Session refused the publish.
    Publish(PublishError),
    /// The Session refused the SUBSCRIBE / UNSUBSCRIBE.
    Subscribe(SubscribeError),
    /// A property value is not valid (too long, U+0000, ...).
    Property(ValueError),
    /// The client stopped, or `disconnect` was called.
    Closed,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Publish(e) => e.fmt(f),
            Self::Subscribe(e) => e.fmt(f),
            Self::Property(e) => write!(f, "invalid property: {e}"),
            Self::Closed => f.write_str("the client was disconnected or stopped"),
        }
    }
}

impl From<PublishError> for CommandError {
    fn from(e: PublishError) -> Self {
        Self::Publish(e)
    }
}

impl From<SubscribeError> for CommandError {
    fn from(e: SubscribeError) -> Self {
        Self::Subscribe(e)
    }
}

impl From<ValueError> for CommandError {
    fn from(e: ValueError) -> Self {
        Self::Property(e)
    }
}

/// One publish: topic, payload, QoS, retain and 5.0 properties.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingPublish<'a> {
    /// The topic name.
    pub topic: &'a str,
    /// The payload.
    pub payload: &'a [u8],
    /// The QoS.
    pub qos: QoS,
    /// Whether the broker retains it.
    pub retain: bool,
    /// 5.0 PUBLISH properties.
    pub properties: Properties<'a>,
}

impl<'a> OutgoingPublish<'a> {
    /// A publish without properties.
    pub const fn new(topic: &'a str, payload: &'a [u8], qos: QoS, retain: bool) -> Self {
        Self {
            topic,
            payload,
            qos,
            retain,
            properties: Properties::EMPTY,
        }
    }
}

/// DISCONNECT with a reason code and 5.0 properties, and how long to drain first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisconnectRequest {
    /// The reason code (5.0; 3.1.1 has none).
    pub reason: ReasonCode,
    /// A new Session Expiry Interval (5.0), refused by the Session after a CONNECT with 0
    /// [MQTT-3.14.2-2].
    pub session_expiry: Option<u32>,
    /// Reason String (5.0).
    pub reason_string: Option<String>,
    /// User Property pairs (5.0).
    pub user_properties: Vec<(String, String)>,
    /// How long to keep writing what is queued; `None`: the options' `disconnect_timeout`.
    pub drain: Option<Duration>,
}

impl Default for DisconnectRequest {
    fn default() -> Self {
        Self {
            reason: ReasonCode::NORMAL_DISCONNECTION,
            session_expiry: None,
            reason_string: None,
            user_properties: Vec::new(),
            drain: None,
        }
    }
}

/// SUBSCRIBE properties (5.0): subscription identifier and user properties.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    /// Subscription Identifier (1 to 268,435,455), echoed on matching deliveries.
    pub subscription_identifier: Option<u32>,
    /// User Property pairs.
    pub user_properties: Vec<(String, String)>,
}

/// What a `before_connect` hook may change before a CONNECT, and what it may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectUpdate {
    attempt: u32,
    server: Option<ServerAddr>,
    /// The credentials the CONNECT will carry.
    pub credentials: Credentials,
    /// The will the CONNECT will carry.
    pub will: Option<LastWill>,
}

impl ConnectUpdate {
    /// Attempt number since the last stable connection (1 = first).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The server being connected to.
    pub fn server(&self) -> Option<&ServerAddr> {
        self.server.as_ref()
    }
}

#[derive(Clone, Debug)]
struct Drain {
    deadline: Instant,
    request: DisconnectRequest,
    sent: bool,
}

/// Whether a CONNACK refusal is one retrying cannot fix: bad credentials (0x86; 3.1.1 code
/// 4), not authorized (0x87; 3.1.1 code 5), bad authentication method (0x8C).
fn is_auth_refusal(code: ReasonCode) -> bool {
    matches!(
        code,
        ReasonCode::BadUserNameOrPassword
            | ReasonCode::NotAuthorized
            | ReasonCode::BadAuthenticationMethod
    )
}

/// The Session plus everything between it and a socket: connection lifecycle, reconnect
/// policy, completions by token, poison-message bound and a bounded transmit buffer.
///
/// Sans-IO like the Session: time (`now`) and randomness (the backoff seed) are arguments,
/// and it never calls hooks or callbacks (those run in the transport, outside any lock).
///
/// ```
/// use mqtt_sansio_client::{Action, ClientCore, CoreOptions};
/// use mqtt_sansio_session::Instant;
/// let mut core = ClientCore::new(CoreOptions::new("sensor-17"), 42).unwrap();
/// let t0 = Instant::from_millis(0);
/// let _first = core.start(t0);
/// assert!(matches!(core.poll_action(t0), Action::Open { attempt: 1, .. }));
/// core.handle_opened(t0).unwrap();
/// assert!(core.poll_transmit(t0).is_some()); // CONNECT
/// ```
pub struct ClientCore {
    session: Session,
    options: CoreOptions,
    backoff: Backoff,
    phase: ClientState,
    completions: Completions,
    poison: PoisonTracker,
    abandoned: Option<(PacketId, u32)>,
    tx: TxBuffer,
    events: VecDeque<Event>,
    last_disconnect: Option<DisconnectReason>,
    connack: Option<Box<ConnAckProperties>>,
    session_present: bool,
    connected_at: Option<Instant>,
    stable_reached: bool,
    socket_open: bool,
    open_requested: bool,
    close_requested: bool,
    close_deadline: Option<Instant>,
    wait_until: Option<Instant>,
    drain: Option<Drain>,
    stop_requested: bool,
    reconnect_requested: bool,
    local_close_reason: Option<DisconnectReason>,
    refusal: Option<ReasonCode>,
    end_reason: Option<DisconnectReason>,
    server_index: usize,
    start_token: Option<Token>,
    completed_start: bool,
    refused_start: Option<ReasonCode>,
    ever_connected: bool,
    stop_reason: Option<StopReason>,
    counters: Counters,
    framer: Framer,
    redirect: Option<Redirect>,
    redirects_in_a_row: u32,
}

impl fmt::Debug for ClientCore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCore")
            .field("state", &self.state())
            .field("session", &self.session.state())
            .field("last_disconnect", &self.last_disconnect)
            .finish_non_exhaustive()
    }
}

impl ClientCore {
    /// A client that has not connected. Identity, will and properties are checked now, so a
    /// bad configuration is an error before any socket is opened.
    pub fn new(options: CoreOptions, seed: u64) -> Result<Self, ConnectError> {
        options.session.validate()?;
        if let Some(w) = &options.will {
            TopicName::new(&w.topic).map_err(|e| ConnectError::Invalid(e.into()))?;
            w.properties
                .encode()
                .map_err(|e| ConnectError::Invalid(e.into()))?;
        }
        options
            .connect_properties
            .encode()
            .map_err(|e| ConnectError::Invalid(e.into()))?;
        let backoff = if options.reconnect.backoff.is_seeded() {
            options.reconnect.backoff.clone()
        } else {
            options.reconnect.backoff.clone().seed(seed)
        };
        Ok(Self {
            session: Session::new(options.session.clone()),
            options,
            backoff,
            phase: ClientState::Idle,
            completions: Completions::default(),
            poison: PoisonTracker::default(),
            abandoned: None,
            tx: TxBuffer::new(),
            events: VecDeque::new(),
            last_disconnect: None,
            connack: None,
            session_present: false,
            connected_at: None,
            stable_reached: false,
            socket_open: false,
            open_requested: false,
            close_requested: false,
            close_deadline: None,
            wait_until: None,
            drain: None,
            stop_requested: false,
            reconnect_requested: false,
            local_close_reason: None,
            refusal: None,
            end_reason: None,
            server_index: 0,
            start_token: None,
            completed_start: false,
            refused_start: None,
            ever_connected: false,
            stop_reason: None,
            counters: Counters::default(),
            framer: Framer::default(),
            redirect: None,
            redirects_in_a_row: 0,
        })
        .map(|mut core| {
            core.order_servers(seed);
            core.start_ack_tokens(seed);
            core
        })
    }

    /// Under manual acknowledgements, numbers the Session's ack tokens from a point drawn
    /// from the seed, so that a token kept from another client value (one rebuilt from the
    /// same store, or dropped after an error) is stale here rather than equal to a live
    /// token of a message that arrived under the same packet identifier.
    fn start_ack_tokens(&mut self, seed: u64) {
        if !self.options.session.acks.is_manual() {
            return;
        }
        // Its own stream of the seed: the server shuffle draws from the seed itself.
        let mut state = seed ^ 0xac6b_70c3_a11e_d5a1;
        let first = (redirect::splitmix64(&mut state) >> 32) as u32;
        self.session.start_ack_tokens_at(
            core::num::NonZeroU32::new(first).unwrap_or(core::num::NonZeroU32::MIN),
        );
    }

    /// Applies [`ServerOrder`]: a Fisher-Yates shuffle driven by the seed (sans-IO: the
    /// randomness is an argument).
    fn order_servers(&mut self, seed: u64) {
        let ServerOrder::Shuffled { seed: fixed } = self.options.server_order else {
            return;
        };
        let mut state = fixed.unwrap_or(seed);
        let servers = &mut self.options.servers;
        for i in (1..servers.len()).rev() {
            let j = (redirect::splitmix64(&mut state) % (i as u64 + 1)) as usize;
            servers.swap(i, j);
        }
    }

    /// Attaches a session store (see [`mqtt_sansio_session::store`]) before the first
    /// connection and restores what it holds: unacknowledged messages are resent with their
    /// ids and DUP, incoming QoS 2 messages are delivered at most once across restarts.
    /// Refused when the store belongs to another client id or protocol version, or when
    /// publishes or subscriptions were already made ([`StoreError::SessionInUse`]).
    ///
    /// [`StoreError::SessionInUse`]: mqtt_sansio_session::store::StoreError::SessionInUse
    #[cfg(feature = "store")]
    pub fn attach_store(
        &mut self,
        store: Box<dyn mqtt_sansio_session::store::Store + Send>,
    ) -> Result<(), mqtt_sansio_session::store::StoreError> {
        self.session.attach_store(store)
    }

    /// Requests the first connection; the token completes with
    /// [`Completion::Connected`] or [`Completion::Failed`]. Calling it again returns the
    /// same token.
    pub fn start(&mut self, _now: Instant) -> Token {
        if let Some(t) = self.start_token {
            return t;
        }
        let token = self.completions.token(None, TokenKind::Connect);
        self.start_token = Some(token);
        if self.phase == ClientState::Idle {
            self.phase = ClientState::Opening;
            self.open_requested = false;
        }
        token
    }

    /// What the transport must do next; call it after every `handle_*` call and command.
    pub fn poll_action(&mut self, now: Instant) -> Action {
        self.check_drain(now);
        match self.phase {
            ClientState::Stopped => {
                let reason = self.stop_reason.clone().unwrap_or(StopReason::Disconnected);
                return Action::Stop(reason);
            }
            ClientState::Waiting if self.wait_until.is_none_or(|t| now >= t) => {
                self.wait_until = None;
                self.phase = ClientState::Opening;
                self.open_requested = false;
            }
            _ => {}
        }
        if self.phase == ClientState::Opening && !self.open_requested && !self.socket_open {
            self.open_requested = true;
            let server = self
                .current_server()
                .cloned()
                .unwrap_or_else(|| ServerAddr::new("localhost", None));
            let attempt = self.backoff.attempts().saturating_add(1);
            log_debug!("dialling {server} (attempt {attempt})");
            return Action::Open {
                server,
                attempt,
                reconnect: self.ever_connected,
            };
        }
        if self.phase == ClientState::Closing && self.socket_open && !self.close_requested {
            let written = self.tx.is_empty() && self.session.pending_transmit_bytes() == 0;
            if written || self.close_deadline.is_some_and(|d| now >= d) {
                self.close_requested = true;
                return Action::Close;
            }
        }
        Action::None
    }

    /// The credentials and will of the next CONNECT, for a `before_connect` hook.
    pub fn connect_update(&self) -> ConnectUpdate {
        ConnectUpdate {
            attempt: self.backoff.attempts().saturating_add(1),
            server: self.current_server().cloned(),
            credentials: self.options.credentials.clone(),
            will: self.options.will.clone(),
        }
    }

    /// Applies what a `before_connect` hook changed.
    pub fn apply_connect_update(&mut self, update: ConnectUpdate) {
        self.options.credentials = update.credentials;
        self.options.will = update.will;
    }

    /// The socket asked for by [`Action::Open`] is open: queues CONNECT with the will,
    /// credentials and properties. On an error (a will the hook made invalid, ...) the
    /// client stops and the socket is to be closed.
    pub fn handle_opened(&mut self, now: Instant) -> Result<(), ConnectError> {
        self.open_requested = false;
        self.socket_open = true;
        self.close_requested = false;
        self.tx.clear();
        self.framer.reset();
        bump(&mut self.counters.connection_attempts);
        if let Some(server) = self.current_server() {
            log_info!("connecting to {server}");
        }
        if self.stop_requested && self.drain.is_none() {
            self.begin_close(now);
            return Ok(());
        }
        if let Err(e) = self.connect_session(now) {
            self.begin_close(now);
            self.stop_after_close(StopReason::FirstConnectFailed(None));
            return Err(e);
        }
        self.phase = ClientState::Connecting;
        self.route(now);
        Ok(())
    }

    fn connect_session(&mut self, now: Instant) -> Result<(), ConnectError> {
        let v5 = self.session.config().version == ProtocolVersion::V5;
        let invalid = |e: ValueError| ConnectError::Invalid(e.into());
        let will_props = match (&self.options.will, v5) {
            (Some(w), true) => w.properties.encode().map_err(invalid)?,
            _ => PropertiesBuf::new(),
        };
        let connect_props = if v5 {
            self.options.connect_properties.encode().map_err(invalid)?
        } else {
            PropertiesBuf::new()
        };
        let mut opts = ConnectOptions::new(self.options.keep_alive);
        if let Some(w) = &self.options.will {
            opts.will = Some(Will {
                topic: TopicName::new(&w.topic).map_err(invalid)?,
                payload: &w.payload,
                qos: w.qos,
                retain: w.retain,
                properties: will_props.as_properties(),
            });
        }
        opts.username = self.options.credentials.username.as_deref();
        opts.password = self.options.credentials.password.as_deref();
        opts.properties = connect_props.as_properties();
        self.session.connect(now, &opts)
    }

    /// Dialling or the TLS handshake failed: schedules the next attempt (backoff, next
    /// server) or stops.
    pub fn handle_open_failed(&mut self, now: Instant) {
        self.open_requested = false;
        if self.phase != ClientState::Opening {
            return;
        }
        bump(&mut self.counters.dial_failures);
        if let Some(server) = self.current_server() {
            log_warn!("could not reach {server}");
        }
        self.end_reason = None;
        self.connection_over(now);
    }

    /// Bytes read from the socket.
    pub fn handle_read(&mut self, now: Instant, bytes: &[u8]) {
        self.counters.bytes_received = self
            .counters
            .bytes_received
            .saturating_add(bytes.len() as u64);
        let counters = &mut self.counters;
        self.framer.feed(bytes, |p| {
            counters.received(&p);
            log_trace!(
                "received {} id {:?} ({} B)",
                wire::kind_name(p.kind),
                p.id,
                p.len
            );
        });
        self.session.handle_read(now, bytes);
        self.check_stable(now);
        self.route(now);
    }

    /// The socket accepted the first `n` bytes of the last [`poll_transmit`](Self::poll_transmit).
    pub fn handle_written(&mut self, n: usize) {
        self.tx.consume(n);
    }

    /// A deadline passed (Session timers, reconnect delay, stable time, drain deadline);
    /// early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.check_stable(now);
        self.route(now);
        self.check_drain(now);
    }

    /// The socket closed (EOF, an error, or after [`Action::Close`]).
    pub fn handle_closed(&mut self, now: Instant) {
        if !self.socket_open {
            return;
        }
        self.socket_open = false;
        self.close_requested = false;
        self.close_deadline = None;
        self.tx.clear();
        if self.session.state() != SessionState::Disconnected {
            // The transport's close, or our own (reconnect), before the Session ended it.
            let reason = self
                .local_close_reason
                .unwrap_or(DisconnectReason::TransportClosed);
            compat::close(&mut self.session, now, reason);
            self.route(now);
        }
        self.connection_over(now);
    }

    /// Unwritten bytes, refilled from the Session up to 64 KiB; `None`: nothing to write.
    /// Report what the socket took with [`handle_written`](Self::handle_written).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        if !self.socket_open {
            return None;
        }
        self.check_drain(now);
        let counters = &mut self.counters;
        let _ = self.tx.fill_with(&mut self.session, now, |packet| {
            if let Some(p) = wire::peek(packet) {
                counters.sent(&p);
                log_trace!(
                    "sending {} id {:?} ({} B)",
                    wire::kind_name(p.kind),
                    p.id,
                    p.len
                );
            }
        });
        self.route(now);
        let pending = self.tx.pending();
        (!pending.is_empty()).then_some(pending)
    }

    /// The next Session event, after the core's own bookkeeping on it. Drain it after every
    /// call: events wait here until taken.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next finished command. Drain it after every call: QoS 0 publishes complete at
    /// once, so completions wait here until taken.
    #[must_use]
    pub fn poll_completion(&mut self) -> Option<(Token, Completion)> {
        self.completions.pop()
    }

    /// The earliest of: the Session's deadline, the reconnect time, the stable time, the
    /// drain deadline and the close deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let stable = match (self.connected_at, self.stable_reached) {
            (Some(at), false) => Some(at.saturating_add(self.options.stable_after())),
            _ => None,
        };
        let drain = self.drain.as_ref().filter(|d| !d.sent).map(|d| d.deadline);
        let close = self.close_deadline.filter(|_| self.socket_open);
        let wait = self
            .wait_until
            .filter(|_| self.phase == ClientState::Waiting);
        // Queued messages expire while offline too (the Session's own timeout is None then).
        let expiry = self.session.next_queue_expiry();
        [
            self.session.poll_timeout(),
            stable,
            drain,
            close,
            wait,
            expiry,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ------------------------------------------------------------------ commands

    /// Publishes; refused at the call (nothing queued) when the Session refuses it or the
    /// client is stopping. QoS 0 completes at once.
    pub fn publish(
        &mut self,
        now: Instant,
        msg: &OutgoingPublish<'_>,
    ) -> Result<Token, CommandError> {
        self.check_open()?;
        let id = self.session.publish_with_properties(
            now,
            msg.topic,
            msg.payload,
            msg.qos,
            msg.retain,
            msg.properties,
        )?;
        let token = self.completions.token(id, TokenKind::Publish);
        if msg.qos == QoS::AtMostOnce {
            self.completions.complete_qos0(token);
        }
        self.route(now);
        Ok(token)
    }

    /// Acknowledges an incoming message under manual acknowledgements
    /// ([`Session::ack`](mqtt_sansio_session::Session::ack)): its PUBACK / PUBREC goes out
    /// once every message that arrived before it was acknowledged too.
    pub fn ack(&mut self, now: Instant, token: AckToken) -> Result<(), AckError> {
        self.session.ack(now, token)?;
        self.route(now);
        Ok(())
    }

    /// Subscribes with 5.0 options; `properties` carry the subscription identifier and user
    /// properties (3.1.1 refuses any).
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription<'_>],
        properties: &SubscribeProperties,
    ) -> Result<Token, CommandError> {
        self.check_open()?;
        let mut buf = PropertiesBuf::new();
        if let Some(id) = properties.subscription_identifier {
            buf.push(Property::SubscriptionIdentifier(id))?;
        }
        for (k, v) in &properties.user_properties {
            buf.push(Property::UserProperty(k, v))?;
        }
        let id = self
            .session
            .subscribe_with_properties(now, subscriptions, buf.as_properties())?;
        let token = self.completions.token(Some(id), TokenKind::Subscribe);
        self.route(now);
        Ok(token)
    }

    /// Unsubscribes, with 5.0 user properties (3.1.1 refuses any).
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: &[TopicFilter<'_>],
        user_properties: &[(String, String)],
    ) -> Result<Token, CommandError> {
        self.check_open()?;
        let mut buf = PropertiesBuf::new();
        for (k, v) in user_properties {
            buf.push(Property::UserProperty(k, v))?;
        }
        let id = self
            .session
            .unsubscribe_with_properties(now, filters, buf.as_properties())?;
        let token = self.completions.token(Some(id), TokenKind::Unsubscribe);
        self.route(now);
        Ok(token)
    }

    /// Cancels a publish not yet sent; its token fails with [`Failure::Cancelled`]. A
    /// message already sent may be held by the broker and cannot be taken back.
    pub fn cancel(&mut self, now: Instant, token: Token) -> Result<(), CancelError> {
        let Some(id) = token.packet_id() else {
            return Err(CancelError::NotFound);
        };
        if token.kind() != TokenKind::Publish || !self.completions.is_waiting(&token) {
            return Err(CancelError::NotFound);
        }
        compat::cancel_publish(&mut self.session, now, id)?;
        self.route(now);
        Ok(())
    }

    /// Writes what is queued (QoS 0 included) until everything was handed to the socket or
    /// the drain time passed, then sends DISCONNECT with the request's reason and
    /// properties, closes, and stops. Later commands are refused with
    /// [`CommandError::Closed`].
    pub fn disconnect(&mut self, now: Instant, request: DisconnectRequest) {
        if self.phase == ClientState::Stopped || self.stop_requested {
            return;
        }
        self.stop_requested = true;
        match self.phase {
            // Opening: what is queued goes out on the connection being made.
            ClientState::Opening | ClientState::Connecting | ClientState::Connected => {
                let drain = request.drain.unwrap_or(self.options.disconnect_timeout);
                self.drain = Some(Drain {
                    deadline: now.saturating_add(drain),
                    request,
                    sent: false,
                });
                self.check_drain(now);
            }
            // connection_over stops.
            ClientState::Closing => {}
            _ => self.stop(StopReason::Disconnected),
        }
    }

    /// Closes the connection now, without DISCONNECT, as a crash looks to the broker (it
    /// publishes the will, after its delay), and stops: no reconnection, so no new connection
    /// under the same client id cancels a delayed will [MQTT-3.1.3-9]. Unlike
    /// [`reconnect`](Self::reconnect) followed by [`disconnect`](Self::disconnect), nothing
    /// can race in between. Later commands are refused with [`CommandError::Closed`].
    pub fn abort(&mut self, now: Instant) {
        if self.phase == ClientState::Stopped {
            return;
        }
        self.stop_requested = true;
        self.drain = None;
        match self.phase {
            ClientState::Connecting | ClientState::Connected if self.socket_open => {
                self.local_close_reason = Some(DisconnectReason::TransportClosed);
                compat::close(&mut self.session, now, DisconnectReason::TransportClosed);
                self.tx.clear();
                self.route(now);
            }
            // connection_over stops.
            ClientState::Closing => {}
            _ => self.stop(StopReason::Disconnected),
        }
    }

    /// Closes the connection now, without DISCONNECT (the broker publishes the will), and
    /// connects again at once. The end is reported as a local reconnect request.
    pub fn reconnect(&mut self, now: Instant) -> Result<(), CommandError> {
        self.check_open()?;
        match self.phase {
            ClientState::Connecting | ClientState::Connected if self.socket_open => {
                self.reconnect_requested = true;
                self.local_close_reason = Some(compat::RECONNECT_REQUESTED);
                compat::close(&mut self.session, now, compat::RECONNECT_REQUESTED);
                self.tx.clear();
                self.route(now);
            }
            ClientState::Waiting => {
                self.wait_until = Some(now);
            }
            ClientState::Closing => self.reconnect_requested = true,
            _ => {}
        }
        Ok(())
    }

    /// Replaces every option but the Session settings before [`start`](Self::start): a
    /// blocking client learns the server, keepalive and policy only when its `connect` is
    /// called, and what was queued before (publishes, subscriptions) must stay. Refused
    /// with [`ConnectError::AlreadyConnected`] once started; the new will and properties are
    /// checked as [`new`](Self::new) checks them.
    pub fn reconfigure(&mut self, mut options: CoreOptions, seed: u64) -> Result<(), ConnectError> {
        if self.phase != ClientState::Idle || self.start_token.is_some() {
            return Err(ConnectError::AlreadyConnected);
        }
        if let Some(w) = &options.will {
            TopicName::new(&w.topic).map_err(|e| ConnectError::Invalid(e.into()))?;
            w.properties
                .encode()
                .map_err(|e| ConnectError::Invalid(e.into()))?;
        }
        options
            .connect_properties
            .encode()
            .map_err(|e| ConnectError::Invalid(e.into()))?;
        options.session = self.options.session.clone();
        self.backoff = if options.reconnect.backoff.is_seeded() {
            options.reconnect.backoff.clone()
        } else {
            options.reconnect.backoff.clone().seed(seed)
        };
        self.options = options;
        Ok(())
    }

    /// The will of the next connections (`None`: no will).
    pub fn set_will(&mut self, will: Option<LastWill>) {
        self.options.will = will;
    }

    /// The credentials of the next connections.
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.options.credentials = credentials;
    }

    // ------------------------------------------------------------------ getters

    /// Where the client is in its life.
    pub fn state(&self) -> ClientState {
        match self.phase {
            ClientState::Opening | ClientState::Connecting | ClientState::Connected
                if self.drain.as_ref().is_some_and(|d| !d.sent) =>
            {
                ClientState::Draining
            }
            p => p,
        }
    }

    /// Whether the broker accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// The Session (limits, subscriptions, counters).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The options in use (credentials and will as last changed).
    pub fn options(&self) -> &CoreOptions {
        &self.options
    }

    /// Whether the last CONNACK resumed a stored session.
    pub fn session_present(&self) -> bool {
        self.session_present
    }

    /// What the last accepted CONNACK said (5.0 properties; empty in 3.1.1).
    pub fn connack(&self) -> Option<&ConnAckProperties> {
        self.connack.as_deref()
    }

    /// Why the last connection ended (set for every end, local ones included).
    pub fn last_disconnect(&self) -> Option<DisconnectReason> {
        self.last_disconnect
    }

    /// Publishes not yet completed (in flight and queued).
    pub fn pending_messages(&self) -> usize {
        self.session.inflight_len() + self.session.queued_len()
    }

    /// Whether a publish of this QoS would be accepted now.
    pub fn can_publish(&self, qos: QoS) -> bool {
        !self.stop_requested && self.phase != ClientState::Stopped && self.session.can_publish(qos)
    }

    /// Failed connection attempts since the last stable connection.
    pub fn attempts(&self) -> u32 {
        self.backoff.attempts()
    }

    /// The server dialled now or next.
    pub fn current_server(&self) -> Option<&ServerAddr> {
        match &self.redirect {
            Some(r) => Some(&r.server),
            None => self.options.servers.get(self.server_index),
        }
    }

    /// What the client did so far (messages and bytes per QoS, connections, errors) and
    /// its window and queue sizes now.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters.clone();
        c.inflight = self.session.inflight_len();
        c.queued = self.session.queued_len();
        let broker_max = self
            .connack
            .as_ref()
            .and_then(|p| p.receive_maximum)
            .unwrap_or(u16::MAX);
        c.window = usize::from(self.session.config().max_inflight.min(broker_max)).max(1);
        c.transmit_backlog = self
            .session
            .pending_transmit_bytes()
            .saturating_add(self.tx.pending().len());
        c.incoming_qos2_pending = self.session.pending_incoming_qos2();
        c
    }

    fn next_server(&mut self) {
        if !self.options.servers.is_empty() {
            self.server_index = (self.server_index + 1) % self.options.servers.len();
        }
    }

    /// Remembers where a 5.0 Server Reference sends the next connection, if the options
    /// allow following it and the reason is 0x9C or 0x9D.
    fn note_redirect(
        &mut self,
        reason: DisconnectReason,
        reference: Option<&mqtt_sansio_session::ServerReference>,
    ) {
        let code = match reason {
            DisconnectReason::Refused(c) | DisconnectReason::Remote(c) => c,
            _ => return,
        };
        if !self.options.follow_server_reference {
            return;
        }
        let Some(reference) = reference else { return };
        let transport = self.current_server().and_then(|s| s.transport.clone());
        let Some(target) = redirect::parse_reference(reference, transport) else {
            log_warn!("ignoring a Server Reference that names no usable server");
            return;
        };
        if self.redirects_in_a_row >= redirect::MAX_REDIRECTS_IN_A_ROW {
            log_warn!("ignoring a Server Reference: too many redirects without a connection");
            return;
        }
        match code {
            // Server moved: for good, the list's entry changes.
            ReasonCode::ServerMoved => {
                if let Some(slot) = self.options.servers.get_mut(self.server_index) {
                    *slot = target.clone();
                }
                self.redirect = Some(Redirect::fresh(target, true));
            }
            // Use another server: for the next connection only.
            ReasonCode::UseAnotherServer => self.redirect = Some(Redirect::fresh(target, false)),
            _ => return,
        }
        bump(&mut self.counters.redirects);
        self.redirects_in_a_row = self.redirects_in_a_row.saturating_add(1);
    }

    /// Whether a redirect set during the connection that just ended applies to the next
    /// one; a redirect that was already used is dropped (the list takes over again).
    fn take_redirect(&mut self) -> bool {
        match &mut self.redirect {
            Some(r) if r.fresh => {
                r.fresh = false;
                if r.permanent {
                    // The list's entry was replaced: dial it as a list entry.
                    self.redirect = None;
                }
                true
            }
            Some(_) => {
                self.redirect = None;
                false
            }
            None => false,
        }
    }

    /// Why the client stopped, once it did.
    pub fn stop_reason(&self) -> Option<&StopReason> {
        self.stop_reason.as_ref()
    }

    /// Bytes allocated by the transmit buffer (memory bound, issue 10 defect 7).
    pub fn tx_capacity(&self) -> usize {
        self.tx.capacity()
    }

    // ------------------------------------------------------------------ internals

    fn check_open(&self) -> Result<(), CommandError> {
        if self.stop_requested || self.phase == ClientState::Stopped {
            return Err(CommandError::Closed);
        }
        Ok(())
    }

    fn check_stable(&mut self, now: Instant) {
        if let Some(at) = self.connected_at {
            if !self.stable_reached
                && now.saturating_duration_since(at) >= self.options.stable_after()
            {
                // Only a connection that stayed up proves the broker is healthy again.
                self.stable_reached = true;
                self.backoff.reset();
            }
        }
    }

    fn check_drain(&mut self, now: Instant) {
        let Some(drain) = &self.drain else { return };
        if drain.sent {
            return;
        }
        if self.session.state() == SessionState::Disconnected {
            // Not connected yet: nothing can be written before the deadline.
            if now >= drain.deadline && !self.socket_open {
                self.drain = None;
                if !self.open_requested {
                    self.stop(StopReason::Disconnected);
                }
                // Else the dial in progress ends in handle_opened (closes at once) or
                // handle_open_failed (stops).
            }
            return;
        }
        let written = self.session.is_connected()
            && self.session.pending_transmit_bytes() == 0
            && self.session.queued_len() == 0
            && self.tx.is_empty();
        if !written && now < drain.deadline {
            return;
        }
        let deadline = drain.deadline;
        let request = drain.request.clone();
        if let Some(d) = &mut self.drain {
            d.sent = true;
        }
        let mut props = PropertiesBuf::new();
        let mut ok = true;
        if let Some(e) = request.session_expiry {
            ok &= props.push(Property::SessionExpiryInterval(e)).is_ok();
        }
        if let Some(s) = &request.reason_string {
            ok &= props.push(Property::ReasonString(s)).is_ok();
        }
        for (k, v) in &request.user_properties {
            ok &= props.push(Property::UserProperty(k, v)).is_ok();
        }
        let sent = ok
            && self
                .session
                .disconnect_with_properties(now, request.reason, props.as_properties())
                .is_ok();
        if !sent {
            // Properties the Session refuses must not keep the connection open: the
            // application asked to leave.
            self.session.disconnect(now, request.reason);
        }
        self.route(now);
        // The DISCONNECT itself gets a short grace even when the drain time is over.
        self.close_deadline = Some(deadline.max(now).saturating_add(CLOSE_GRACE));
    }

    fn begin_close(&mut self, now: Instant) {
        self.phase = ClientState::Closing;
        self.close_deadline = Some(now.saturating_add(CLOSE_GRACE));
    }

    fn stop_after_close(&mut self, reason: StopReason) {
        self.stop_reason = Some(reason);
    }

    /// Every Session event passes here once, right after the call that produced it, so no
    /// command can interleave and reuse a freed packet identifier.
    fn route(&mut self, now: Instant) {
        while let Some(mut event) = self.session.poll_event() {
            match &mut event {
                Event::PubAck {
                    id,
                    reason,
                    properties,
                }
                | Event::PubComp {
                    id,
                    reason,
                    properties,
                } => {
                    self.poison.acknowledged(*id);
                    let ack = Ack {
                        reason: *reason,
                        properties: properties.clone(),
                    };
                    let outcome = if reason.is_error() {
                        PublishOutcome::Rejected(ack)
                    } else {
                        PublishOutcome::Acknowledged(ack)
                    };
                    self.completions
                        .complete_id(*id, Completion::Published(outcome));
                }
                Event::PubRec {
                    id,
                    reason,
                    properties,
                } => {
                    self.poison.acknowledged(*id);
                    if reason.is_error() {
                        let ack = Ack {
                            reason: *reason,
                            properties: properties.clone(),
                        };
                        self.completions
                            .complete_id(*id, Completion::Published(PublishOutcome::Rejected(ack)));
                    }
                }
                Event::SubAck {
                    id,
                    results,
                    properties,
                } => {
                    let outcome = SubscribeOutcome {
                        results: results.clone(),
                        properties: properties.clone(),
                    };
                    self.completions
                        .complete_id(*id, Completion::Subscribed(outcome));
                }
                Event::UnsubAck {
                    id,
                    results,
                    properties,
                } => {
                    let outcome = SubscribeOutcome {
                        results: results.clone(),
                        properties: properties.clone(),
                    };
                    self.completions
                        .complete_id(*id, Completion::Unsubscribed(outcome));
                }
                Event::PublishFailed {
                    id: Some(id),
                    reason,
                    ..
                } => {
                    let attempts = match self.abandoned {
                        Some((a, n)) if a == *id => {
                            self.abandoned = None;
                            n
                        }
                        _ => 0,
                    };
                    let failure = compat::failure_of(*reason, attempts);
                    self.completions
                        .complete_id(*id, Completion::Failed(failure));
                }
                Event::RequestFailed { id, reason, .. } => {
                    let RequestFailure::PacketTooLarge { len, max } = *reason else {
                        continue;
                    };
                    let failure =
                        Failure::Dropped(mqtt_sansio_session::PublishFailure::PacketTooLarge {
                            len,
                            max,
                        });
                    self.completions
                        .complete_id(*id, Completion::Failed(failure));
                }
                Event::Connected {
                    session_present,
                    properties,
                } => {
                    if self.ever_connected {
                        bump(&mut self.counters.reconnects);
                    }
                    bump(&mut self.counters.connections);
                    self.redirects_in_a_row = 0;
                    if let Some(server) = self.current_server() {
                        log_info!("connected to {server} (session present: {session_present})");
                    }
                    self.ever_connected = true;
                    self.connected_at = Some(now);
                    self.stable_reached = false;
                    self.session_present = *session_present;
                    self.connack = Some(properties.clone());
                    if self.phase == ClientState::Connecting {
                        self.phase = ClientState::Connected;
                    }
                    if let Some(token) = self.start_token {
                        if !self.completed_start {
                            self.completed_start = true;
                            self.completions.complete(
                                token,
                                Completion::Connected(ConnectOutcome {
                                    session_present: *session_present,
                                    properties: properties.clone(),
                                }),
                            );
                        }
                    }
                }
                Event::ConnectRefused { reason, .. } => {
                    bump(&mut self.counters.refusals);
                    log_warn!("the broker refused the connection: {reason}");
                    self.refusal = Some(*reason);
                }
                Event::Disconnected {
                    reason,
                    server_reference,
                    ..
                } => {
                    if let Some(local) = self.local_close_reason.take() {
                        if *reason == DisconnectReason::TransportClosed {
                            *reason = local;
                        }
                    }
                    self.note_redirect(*reason, server_reference.as_ref());
                    self.on_disconnected(now, *reason);
                }
                _ => {}
            }
            self.events.push_back(event);
        }
    }

    fn on_disconnected(&mut self, now: Instant, reason: DisconnectReason) {
        match reason {
            DisconnectReason::Protocol(e) => {
                self.counters.protocol_error(e.reason_code);
                log_warn!("protocol error, connection closed: {e}");
            }
            DisconnectReason::KeepAliveTimeout => bump(&mut self.counters.keepalive_timeouts),
            DisconnectReason::Remote(_) => bump(&mut self.counters.broker_disconnects),
            _ => {}
        }
        match reason {
            DisconnectReason::Local | DisconnectReason::ReconnectRequested => {
                log_info!("disconnected: {reason}");
            }
            _ => log_warn!("connection lost: {reason}"),
        }
        self.last_disconnect = Some(reason);
        self.end_reason = Some(reason);
        self.check_stable(now);
        self.connected_at = None;
        let candidate = compat::rejected_candidate(&self.session);
        if let Some((id, code, attempts)) = self
            .poison
            .connection_ended(candidate, self.options.max_delivery_attempts)
        {
            if compat::abandon_publish(&mut self.session, now, id, code) {
                // Its PublishFailed follows in this same routing pass.
                self.abandoned = Some((id, attempts));
            }
        }
        if self.socket_open {
            self.phase = ClientState::Closing;
            self.close_deadline = Some(now.saturating_add(CLOSE_GRACE));
        }
    }

    /// The socket is closed (or never opened): decide between reconnecting and stopping.
    fn connection_over(&mut self, now: Instant) {
        let reason = self.end_reason.take();
        let refusal = self.refusal.take();
        self.connected_at = None;
        self.drain = None;
        if let Some(stop) = self.stop_reason.clone() {
            return self.stop(stop);
        }
        if self.stop_requested {
            return self.stop(StopReason::Disconnected);
        }
        if self.take_redirect() {
            log_info!(
                "following the broker's Server Reference to {}",
                self.current_server()
                    .map_or_else(String::new, alloc::string::ToString::to_string)
            );
            self.phase = ClientState::Opening;
            self.open_requested = false;
            return;
        }
        if let Some(code) = refusal {
            if is_auth_refusal(code) && !self.options.reconnect.retry_on_auth_refusal {
                return self.stop(StopReason::Refused(code));
            }
        }
        if self.reconnect_requested {
            self.reconnect_requested = false;
            self.phase = ClientState::Opening;
            self.open_requested = false;
            return;
        }
        // A failure (dial, refusal, lost connection): the next attempt goes to the next
        // server, so a dead broker of a cluster costs one backoff delay, not one per retry.
        self.next_server();
        if !self.ever_connected && !self.options.reconnect.retry_first_connect {
            self.refused_start = refusal;
            return self.stop(StopReason::FirstConnectFailed(reason));
        }
        if !self.options.reconnect.enabled {
            return self.stop(StopReason::AutoReconnectOff(reason));
        }
        match self.backoff.next_delay() {
            None => self.stop(StopReason::AttemptsExhausted(reason)),
            Some(delay) => {
                if let Some(server) = self.current_server() {
                    log_info!(
                        "reconnecting to {server} in {} ms (attempt {})",
                        delay.as_millis(),
                        self.backoff.attempts().saturating_add(1)
                    );
                }
                self.phase = ClientState::Waiting;
                self.wait_until = Some(now.saturating_add(delay));
            }
        }
    }

    fn stop(&mut self, reason: StopReason) {
        log_info!("client stopped: {reason:?}");
        self.phase = ClientState::Stopped;
        self.stop_reason = Some(reason.clone());
        self.drain = None;
        self.wait_until = None;
        if let Some(token) = self.start_token {
            if !self.completed_start {
                self.completed_start = true;
                let refused = match &reason {
                    StopReason::Refused(code) => Some(*code),
                    _ => self.refused_start,
                };
                let failure = match refused {
                    Some(code) => Failure::Refused(code),
                    None => Failure::Stopped(reason.clone()),
                };
                self.completions
                    .complete(token, Completion::Failed(failure));
            }
        }
        self.completions.fail_all(&Failure::Stopped(reason));
    }
}
