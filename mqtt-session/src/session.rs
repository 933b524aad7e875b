//! The [`Session`] state machine.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use mqtt_proto::{
    decode, Ack, ConnAck, Connect, Disconnect, Limits, Packet, PacketId, Properties, PropertiesBuf,
    Property, PropertyContext, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, Rule, SubAck,
    Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, UnsubAck, Unsubscribe,
};
use smallvec::SmallVec;

use crate::config::{ConnectOptions, SessionConfig};
use crate::error::{ConnectError, DisconnectReason, ProtocolError, PublishError, SubscribeError};
use crate::event::Event;
use crate::message::Message;
use crate::outgoing::{Outgoing, OutgoingState, Request, RequestKind};
use crate::packet_id::PacketIdSet;
use crate::time::Instant;
use crate::transmit::TransmitQueue;

/// Where the Session is in the life of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// No connection. Publishes and subscriptions are queued (within limits).
    Disconnected,
    /// CONNECT sent, waiting for CONNACK.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// What the broker told us in CONNACK about the current connection (5.0), with the defaults
/// that apply when it says nothing (and always in 3.1.1).
#[derive(Clone, Copy, Debug)]
struct PeerLimits {
    receive_maximum: u16,
    max_packet_size: u32,
    max_qos: QoS,
    retain_available: bool,
}

impl PeerLimits {
    const DEFAULT: Self = Self {
        receive_maximum: u16::MAX,
        max_packet_size: Limits::PROTOCOL_MAX_PACKET_SIZE,
        max_qos: QoS::ExactlyOnce,
        retain_available: true,
    };
}

/// The sans-IO MQTT client session: bytes and time in, bytes and events out.
///
/// The Session never performs I/O and never reads a clock. A transport drives it:
///
/// - **(A) getters** ([`state`](Self::state), [`is_connected`](Self::is_connected), ...)
///   read the state.
/// - **(B) `handle_*`** report what happened: bytes read, a timer that expired, the
///   transport closing. They never return errors: a broker that breaks the protocol ends
///   the connection with [`Event::Disconnected`].
/// - **(C) commands** ([`connect`](Self::connect), [`publish`](Self::publish),
///   [`subscribe`](Self::subscribe), ...) validate everything first: an `Err` means nothing
///   was queued, sent or changed.
/// - **(D) `poll_*`** hand out what must be done: bytes to send, events, the next deadline.
///
/// **After every (B) or (C) call, drain [`poll_transmit`](Self::poll_transmit) until `None`
/// (or until the socket is full), then [`poll_event`](Self::poll_event) until `None`, then
/// read [`poll_timeout`](Self::poll_timeout); wait for the earliest of socket readiness, that
/// deadline, or an application command; repeat.**
///
/// ```
/// use mqtt_proto::{ProtocolVersion, QoS};
/// use mqtt_session::{ConnectOptions, Event, Instant, Session, SessionConfig};
///
/// let mut session = Session::new(SessionConfig::new("doc", true, ProtocolVersion::V311));
/// let now = Instant::from_millis(0);
/// session.connect(now, &ConnectOptions::new(30)).unwrap();
///
/// let mut out = Vec::new();
/// while let Some(_len) = session.poll_transmit(now, &mut out) {}
/// assert_eq!(out[0], 0x10); // CONNECT, to be written to the socket
///
/// // The broker answers CONNACK (session present = 0, accepted).
/// session.handle_read(now, &[0x20, 0x02, 0x00, 0x00]);
/// assert_eq!(session.poll_event(), Some(Event::Connected { session_present: false }));
///
/// let id = session.publish(now, "greetings", b"hello", QoS::AtLeastOnce, false).unwrap();
/// assert!(id.is_some());
/// // Nothing was sent for 30 s: the deadline is the keepalive PINGREQ.
/// out.clear();
/// while let Some(_len) = session.poll_transmit(now, &mut out) {}
/// assert_eq!(session.poll_timeout(), Some(Instant::from_millis(30_000)));
/// ```
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: SessionState,
    now: Instant,

    // Per connection.
    keep_alive: Duration,
    connack_deadline: Instant,
    last_sent: Instant,
    last_received: Instant,
    next_retry: Option<Instant>,
    /// A PINGREQ went out and its PINGRESP has not arrived yet.
    ping_outstanding: bool,
    peer: PeerLimits,
    incoming_aliases: BTreeMap<u16, String>,

    // I/O.
    rx: Vec<u8>,
    tx: TransmitQueue,
    events: VecDeque<Event>,

    // Session state, kept across connections.
    ids: PacketIdSet,
    outgoing: VecDeque<Outgoing>,
    /// Outgoing entries not yet transmitted on this connection.
    unsent: usize,
    queued: VecDeque<Message>,
    requests: VecDeque<Request>,
    incoming_qos2: BTreeMap<PacketId, Message>,
    subscriptions: BTreeMap<String, SubscriptionOptions>,
    /// The automatic resubscription made after a session loss, while unacknowledged. At most
    /// one is kept, so repeated session losses cannot pile up requests.
    auto_resubscribe: Option<PacketId>,
    /// A publish was refused for lack of room; tell the application when room frees up.
    blocked: bool,
}

impl Session {
    /// A disconnected session with this identity and these limits.
    pub fn new(config: SessionConfig) -> Self {
        Self {
            config,
            state: SessionState::Disconnected,
            now: Instant::ZERO,
            keep_alive: Duration::ZERO,
            connack_deadline: Instant::ZERO,
            last_sent: Instant::ZERO,
            last_received: Instant::ZERO,
            next_retry: None,
            ping_outstanding: false,
            peer: PeerLimits::DEFAULT,
            incoming_aliases: BTreeMap::new(),
            rx: Vec::new(),
            tx: TransmitQueue::default(),
            events: VecDeque::new(),
            ids: PacketIdSet::new(),
            outgoing: VecDeque::new(),
            unsent: 0,
            queued: VecDeque::new(),
            requests: VecDeque::new(),
            incoming_qos2: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
            auto_resubscribe: None,
            blocked: false,
        }
    }

    // ---------------------------------------------------------------- (A) getters

    /// The connection state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Whether CONNACK accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.state == SessionState::Connected
    }

    /// The configuration the Session was made with (the client id may have been replaced by
    /// one the broker assigned).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Outgoing QoS 1/2 messages not yet completed (in the window).
    pub fn inflight_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Publishes waiting to enter the window.
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Incoming QoS 2 messages waiting for their PUBREL.
    pub fn pending_incoming_qos2(&self) -> usize {
        self.incoming_qos2.len()
    }

    /// Packet identifiers in use (outgoing messages and subscription requests).
    pub fn packet_ids_in_use(&self) -> usize {
        self.ids.len()
    }

    /// Whether the identifier is in use by an outgoing message or request.
    pub fn is_packet_id_in_use(&self, id: PacketId) -> bool {
        self.ids.contains(id)
    }

    /// Bytes waiting for `poll_transmit`.
    pub fn pending_transmit_bytes(&self) -> usize {
        self.tx.bytes()
    }

    /// Bytes buffered of a packet not yet complete.
    pub fn pending_read_bytes(&self) -> usize {
        self.rx.len()
    }

    /// Whether a publish at `qos` would be accepted now (window or queue has room).
    pub fn can_publish(&self, qos: QoS) -> bool {
        match qos {
            QoS::AtMostOnce if self.is_connected() && self.queued.is_empty() => {
                self.tx.bytes() <= self.config.max_transmit_bytes
            }
            QoS::AtMostOnce => self.queued.len() < self.config.max_queued,
            _ => {
                self.ids.len() < usize::from(u16::MAX)
                    && ((self.is_connected() && self.queued.is_empty() && self.window_has_room())
                        || self.queued.len() < self.config.max_queued)
            }
        }
    }

    /// The topic filters the broker confirmed, with their options.
    pub fn subscriptions(&self) -> impl Iterator<Item = (&str, SubscriptionOptions)> {
        self.subscriptions.iter().map(|(f, o)| (f.as_str(), *o))
    }

    /// Most bytes of acknowledgements that may wait for `poll_transmit`.
    fn reply_backlog_limit(&self) -> usize {
        self.config.max_transmit_bytes.max(MIN_REPLY_BACKLOG)
    }

    fn window(&self) -> usize {
        usize::from(self.config.max_inflight.min(self.peer.receive_maximum)).max(1)
    }

    fn window_has_room(&self) -> bool {
        self.outgoing.len() < self.window()
    }

    fn v(&self) -> ProtocolVersion {
        self.config.version
    }

    fn advance(&mut self, now: Instant) -> Instant {
        // Time never goes backwards: an older `now` counts as the latest seen.
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    // ---------------------------------------------------------------- (C) commands

    /// Starts the MQTT handshake on a transport the caller just opened: queues CONNECT.
    ///
    /// The outcome arrives as [`Event::Connected`] or [`Event::ConnectRefused`]; without a
    /// CONNACK within `connack_timeout` the connection ends with
    /// [`DisconnectReason::ConnAckTimeout`].
    pub fn connect(
        &mut self,
        now: Instant,
        options: &ConnectOptions<'_>,
    ) -> Result<(), ConnectError> {
        let now = self.advance(now);
        if self.state != SessionState::Disconnected {
            return Err(ConnectError::AlreadyConnected);
        }
        if self.config.client_id.is_empty() && !self.config.clean_session {
            return Err(ConnectError::EmptyClientIdRequiresCleanSession);
        }
        let mut props = PropertiesBuf::new();
        let v = self.v();
        if v == ProtocolVersion::V5 {
            let expiry =
                self.config
                    .session_expiry_interval
                    .unwrap_or(if self.config.clean_session {
                        0
                    } else {
                        u32::MAX
                    });
            let ours = [
                (expiry != 0).then_some(Property::SessionExpiryInterval(expiry)),
                Some(Property::ReceiveMaximum(
                    self.config.max_incoming_qos2.max(1),
                )),
                Some(Property::MaximumPacketSize(
                    self.config.max_packet_size.max(1),
                )),
                (self.config.topic_alias_maximum != 0)
                    .then_some(Property::TopicAliasMaximum(self.config.topic_alias_maximum)),
            ];
            for p in ours.into_iter().flatten() {
                props.push(p).map_err(|e| ConnectError::Invalid(e.into()))?;
            }
            for p in options.properties.iter() {
                props.push(p).map_err(|e| ConnectError::Invalid(e.into()))?;
            }
        }
        let connect = Connect {
            clean_start: self.config.clean_session,
            keep_alive: options.keep_alive,
            client_id: &self.config.client_id,
            will: options.will,
            username: options.username,
            password: options.password,
            properties: props.as_properties(),
        };
        // Validate fully before changing anything.
        let packet = Packet::Connect(connect);
        packet.encoded_len(v).map_err(ConnectError::Invalid)?;
        self.tx.clear();
        self.rx.clear();
        self.tx.push(&packet, v).map_err(ConnectError::Invalid)?;
        self.state = SessionState::Connecting;
        self.keep_alive = Duration::from_secs(u64::from(options.keep_alive));
        self.connack_deadline = now.saturating_add(self.config.connack_timeout);
        self.last_sent = now;
        self.last_received = now;
        self.next_retry = None;
        self.ping_outstanding = false;
        self.peer = PeerLimits::DEFAULT;
        self.incoming_aliases.clear();
        Ok(())
    }

    /// Publishes a message; returns its packet identifier (the seed's `mid`), `None` for QoS 0.
    ///
    /// QoS 1/2 messages are kept until acknowledged, across reconnects. While disconnected,
    /// or while the in-flight window is full, the message is queued (see
    /// [`SessionConfig::max_queued`]). Completion arrives as [`Event::PubAck`] (QoS 1) or
    /// [`Event::PubComp`] (QoS 2) carrying the identifier.
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, PublishError> {
        self.publish_with_properties(now, topic, payload, qos, retain, Properties::EMPTY)
    }

    /// [`publish`](Self::publish) with MQTT 5.0 PUBLISH properties (message expiry, content
    /// type, response topic, correlation data, user properties).
    pub fn publish_with_properties(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<Option<PacketId>, PublishError> {
        self.advance(now);
        let topic = TopicName::new(topic).map_err(PublishError::InvalidTopic)?;
        if qos > self.peer.max_qos {
            return Err(PublishError::QosNotSupported {
                max: self.peer.max_qos,
            });
        }
        if retain && !self.peer.retain_available {
            return Err(PublishError::RetainNotSupported);
        }
        let v = self.v();
        // Size and validity with a placeholder id (an id does not change the length).
        let probe = Publish {
            dup: false,
            qos: QosPid::new(qos, PacketId::MAX),
            retain,
            topic,
            properties,
            payload,
        };
        let len = Packet::Publish(probe)
            .encoded_len(v)
            .map_err(PublishError::Invalid)?;
        let max = self.peer.max_packet_size as usize;
        if len > max {
            return Err(PublishError::PacketTooLarge { len, max });
        }
        let direct = self.is_connected() && self.queued.is_empty();
        if qos == QoS::AtMostOnce {
            if direct {
                if self.tx.bytes() > self.config.max_transmit_bytes {
                    self.blocked = true;
                    return Err(PublishError::QueueFull);
                }
                self.tx
                    .push(&Packet::Publish(probe), v)
                    .map_err(PublishError::Invalid)?;
                return Ok(None);
            }
            if self.queued.len() >= self.config.max_queued {
                self.blocked = true;
                return Err(PublishError::QueueFull);
            }
            self.queued.push_back(Message::build(
                topic, properties, payload, qos, retain, false, None,
            ));
            return Ok(None);
        }
        let to_window = direct && self.window_has_room();
        if !to_window && self.queued.len() >= self.config.max_queued {
            self.blocked = true;
            return Err(PublishError::QueueFull);
        }
        let id = self
            .ids
            .allocate()
            .ok_or(PublishError::PacketIdsExhausted)?;
        let message = Message::build(topic, properties, payload, qos, retain, false, Some(id));
        if to_window {
            self.push_outgoing(message);
            self.pump();
        } else {
            self.queued.push_back(message);
        }
        Ok(Some(id))
    }

    /// Subscribes to topic filters; returns the packet identifier that the
    /// [`Event::SubAck`] will carry.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, SubscribeError> {
        self.subscribe_with_properties(now, subscriptions, Properties::EMPTY)
    }

    /// [`subscribe`](Self::subscribe) with MQTT 5.0 SUBSCRIBE properties (subscription
    /// identifier, user properties).
    pub fn subscribe_with_properties(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription<'_>],
        properties: Properties<'_>,
    ) -> Result<PacketId, SubscribeError> {
        self.advance(now);
        if subscriptions.is_empty() {
            return Err(SubscribeError::Empty);
        }
        let probe = Subscribe {
            packet_id: PacketId::MAX,
            properties,
            subscriptions: subscriptions.to_vec(),
        };
        Packet::Subscribe(probe)
            .encoded_len(self.v())
            .map_err(SubscribeError::Invalid)?;
        let kind = RequestKind::Subscribe(
            subscriptions
                .iter()
                .map(|s| (s.filter.as_str().to_string(), s.options))
                .collect(),
        );
        self.add_request(kind, properties)
    }

    /// Unsubscribes from topic filters; returns the packet identifier that the
    /// [`Event::UnsubAck`] will carry.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: &[TopicFilter<'_>],
    ) -> Result<PacketId, SubscribeError> {
        self.advance(now);
        if filters.is_empty() {
            return Err(SubscribeError::Empty);
        }
        let probe = Unsubscribe {
            packet_id: PacketId::MAX,
            properties: Properties::EMPTY,
            filters: filters.to_vec(),
        };
        Packet::Unsubscribe(probe)
            .encoded_len(self.v())
            .map_err(SubscribeError::Invalid)?;
        let kind =
            RequestKind::Unsubscribe(filters.iter().map(|f| f.as_str().to_string()).collect());
        self.add_request(kind, Properties::EMPTY)
    }

    fn add_request(
        &mut self,
        kind: RequestKind,
        properties: Properties<'_>,
    ) -> Result<PacketId, SubscribeError> {
        if self.requests.len() >= self.config.max_pending_requests {
            return Err(SubscribeError::QueueFull);
        }
        let id = self
            .ids
            .allocate()
            .ok_or(SubscribeError::PacketIdsExhausted)?;
        self.requests.push_back(Request {
            id,
            kind,
            properties: properties.as_bytes().to_vec(),
            sent_on_connection: false,
        });
        self.pump();
        Ok(id)
    }

    /// Ends the connection cleanly: queues DISCONNECT (so the broker discards the will) and
    /// emits [`Event::Disconnected`] with [`DisconnectReason::Local`]. Drain
    /// `poll_transmit`, then close the transport. Unacknowledged messages are kept for the
    /// next connection.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        self.advance(now);
        if self.state == SessionState::Disconnected {
            return;
        }
        let reason = if self.v() == ProtocolVersion::V5
            && reason.is_valid_for(mqtt_proto::PacketType::Disconnect)
        {
            reason
        } else {
            ReasonCode::NORMAL_DISCONNECTION
        };
        let packet = Packet::Disconnect(Disconnect {
            reason,
            properties: Properties::EMPTY,
        });
        // A well-formed DISCONNECT always encodes.
        let _ = self.tx.push(&packet, self.v());
        self.connection_ended(DisconnectReason::Local);
    }

    // ---------------------------------------------------------------- (B) inputs

    /// Bytes arrived from the transport. Any split is fine: partial packets are kept until
    /// the rest arrives.
    pub fn handle_read(&mut self, now: Instant, bytes: &[u8]) {
        let now = self.advance(now);
        if self.state == SessionState::Disconnected || bytes.is_empty() {
            return;
        }
        self.last_received = now;
        let limits = Limits::with_max_packet_size(self.config.max_packet_size);
        if self.rx.is_empty() {
            // Fast path: decode straight from the caller's slice; keep only a partial tail.
            let used = self.process(bytes, &limits);
            if self.state != SessionState::Disconnected {
                self.rx
                    .extend_from_slice(bytes.get(used..).unwrap_or_default());
            }
        } else {
            self.rx.extend_from_slice(bytes);
            let rx = core::mem::take(&mut self.rx);
            let used = self.process(&rx, &limits);
            let mut rx = rx;
            if self.state == SessionState::Disconnected {
                rx.clear();
            } else {
                rx.drain(..used.min(rx.len()));
            }
            self.rx = rx;
        }
    }

    /// Decodes and handles whole packets from `input`; returns the bytes used.
    fn process(&mut self, input: &[u8], limits: &Limits) -> usize {
        let mut used = 0;
        while self.state != SessionState::Disconnected {
            let rest = input.get(used..).unwrap_or_default();
            match decode(rest, self.v(), limits) {
                Ok(Some((packet, n))) => {
                    used += n;
                    self.handle_packet(packet);
                    if self.tx.reply_bytes() > self.reply_backlog_limit() {
                        // The broker keeps sending but nobody takes our answers: holding
                        // more would let the network grow our memory without bound.
                        self.tx.clear();
                        self.connection_ended(DisconnectReason::ReplyBacklog);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.protocol_error(e.into());
                    break;
                }
            }
        }
        used
    }

    /// A deadline passed (or not yet: calling early or twice does nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        match self.state {
            SessionState::Disconnected => {}
            SessionState::Connecting => {
                if now >= self.connack_deadline {
                    // The transport is as good as dead: nothing queued is worth handing out.
                    self.tx.clear();
                    self.connection_ended(DisconnectReason::ConnAckTimeout);
                }
            }
            SessionState::Connected => {
                if let Some(deadline) = self.silence_deadline() {
                    if now >= deadline {
                        self.tx.clear();
                        self.connection_ended(DisconnectReason::KeepAliveTimeout);
                        return;
                    }
                }
                if let Some(deadline) = self.keepalive_deadline() {
                    if now >= deadline {
                        // Nothing was sent (or heard) for a whole keepalive [MQTT-3.1.2-23].
                        let _ = self.tx.push(&Packet::PingReq, self.v());
                        self.ping_outstanding = true;
                    }
                }
                if let Some(deadline) = self.next_retry {
                    if now >= deadline {
                        self.retry_v311(now);
                    }
                }
            }
        }
    }

    /// The transport is gone (EOF, reset, TLS failure). Unacknowledged messages are kept.
    pub fn handle_closed(&mut self, now: Instant) {
        self.advance(now);
        if self.state != SessionState::Disconnected {
            self.tx.clear();
            self.connection_ended(DisconnectReason::TransportClosed);
        }
    }

    // ---------------------------------------------------------------- (D) outputs

    /// Appends the next packet to send to `out`; returns its length, or `None` if there is
    /// nothing to send. Hands out exactly one whole packet per call.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<usize> {
        let now = self.advance(now);
        let n = self.tx.pop_into(out)?;
        // Keepalive counts from the last packet sent [MQTT-3.1.2-23].
        self.last_sent = now;
        // Draining the transmit buffer can make room for a QoS 0 publish that was refused
        // for `max_transmit_bytes`: PublishUnblocked must follow (no ack may ever come).
        self.unblock_if_room();
        Some(n)
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work, or
    /// `None` when no timer runs (disconnected, keepalive off, ...).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            SessionState::Disconnected => None,
            SessionState::Connecting => Some(self.connack_deadline),
            SessionState::Connected => [
                self.keepalive_deadline(),
                self.silence_deadline(),
                self.next_retry,
            ]
            .into_iter()
            .flatten()
            .min(),
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        // While bytes wait to be handed out, sending them is the pending obligation.
        if self.keep_alive.is_zero() || !self.tx.is_empty() {
            return None;
        }
        // A PINGREQ is due when nothing was sent for a keepalive [MQTT-3.1.2-23], and also
        // when nothing was heard for one: a client that only publishes QoS 0 hears nothing
        // back, and without a PINGRESP the silence timeout would end a healthy connection.
        // (A client may send PINGREQ at any time, §3.12.)
        let sent = self.last_sent.saturating_add(self.keep_alive);
        if self.ping_outstanding {
            return Some(sent);
        }
        Some(sent.min(self.last_received.saturating_add(self.keep_alive)))
    }

    fn silence_deadline(&self) -> Option<Instant> {
        if self.keep_alive.is_zero() {
            return None;
        }
        let timeout = self
            .config
            .keepalive_timeout
            .unwrap_or(self.keep_alive * 3 / 2);
        Some(self.last_received.saturating_add(timeout))
    }

    // ---------------------------------------------------------------- internals

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Ends the current connection: state, event, and bookkeeping for the next one.
    fn connection_ended(&mut self, reason: DisconnectReason) {
        self.state = SessionState::Disconnected;
        self.rx.clear();
        for o in &mut self.outgoing {
            o.sent_on_connection = false;
        }
        self.unsent = self.outgoing.len();
        for r in &mut self.requests {
            r.sent_on_connection = false;
        }
        self.next_retry = None;
        self.emit(Event::Disconnected { reason });
    }

    /// The broker broke the protocol: close (5.0: DISCONNECT with the reason code) and keep
    /// every unacknowledged message. Later input is ignored until the next `connect`.
    fn protocol_error(&mut self, err: ProtocolError) {
        self.tx.clear();
        if self.v() == ProtocolVersion::V5
            && err
                .reason_code
                .is_valid_for(mqtt_proto::PacketType::Disconnect)
        {
            let packet = Packet::Disconnect(Disconnect {
                reason: err.reason_code,
                properties: Properties::EMPTY,
            });
            let _ = self.tx.push(&packet, self.v());
        }
        self.connection_ended(DisconnectReason::Protocol(err));
    }

    fn violation(&mut self, rule: Rule, what: &'static str) {
        self.protocol_error(ProtocolError::new(rule, what, ReasonCode::ProtocolError));
    }

    fn handle_packet(&mut self, packet: Packet<'_>) {
        if self.state == SessionState::Connecting && !matches!(packet, Packet::ConnAck(_)) {
            // The first packet from the server must be CONNACK [MQTT-3.2.0-1].
            return self.violation(
                FIRST_PACKET_CONNACK,
                "a packet other than CONNACK arrived before CONNACK",
            );
        }
        match packet {
            Packet::ConnAck(ack) => self.on_connack(&ack),
            Packet::Publish(p) => self.on_publish(&p),
            Packet::PubAck(a) => self.on_puback(&a),
            Packet::PubRec(a) => self.on_pubrec(&a),
            Packet::PubRel(a) => self.on_pubrel(&a),
            Packet::PubComp(a) => self.on_pubcomp(&a),
            Packet::SubAck(a) => self.on_suback(&a),
            Packet::UnsubAck(a) => self.on_unsuback(&a),
            Packet::PingResp => {
                self.ping_outstanding = false;
                self.emit(Event::PingResp);
            }
            Packet::Disconnect(d) => {
                if self.v() == ProtocolVersion::V311 {
                    return self.violation(SERVER_PACKET, "a 3.1.1 server never sends DISCONNECT");
                }
                self.tx.clear();
                self.connection_ended(DisconnectReason::Remote(d.reason));
            }
            Packet::Auth(_) => {
                // Enhanced authentication was not requested [MQTT-4.12.0-1] (comes later).
                self.protocol_error(ProtocolError::new(
                    AUTH_UNEXPECTED,
                    "AUTH received although no authentication method was sent",
                    ReasonCode::ProtocolError,
                ))
            }
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => self.violation(
                SERVER_PACKET,
                "the server sent a packet only a client may send",
            ),
        }
    }

    fn on_connack(&mut self, ack: &ConnAck<'_>) {
        if self.state != SessionState::Connecting {
            return self.violation(CONNACK_TWICE, "a second CONNACK on the same connection");
        }
        if ack.reason != ReasonCode::Success {
            self.emit(Event::ConnectRefused { reason: ack.reason });
            self.tx.clear();
            self.connection_ended(DisconnectReason::Refused(ack.reason));
            return;
        }
        if ack.session_present && self.config.clean_session {
            // With a clean session the server must report no session [MQTT-3.2.2-1]/[MQTT-3.2.2-2].
            return self.violation(
                SESSION_PRESENT_CLEAN,
                "session present with a clean session",
            );
        }
        if self.v() == ProtocolVersion::V5 {
            let p = &ack.properties;
            self.peer = PeerLimits {
                receive_maximum: p.receive_maximum().unwrap_or(u16::MAX),
                max_packet_size: p
                    .maximum_packet_size()
                    .unwrap_or(Limits::PROTOCOL_MAX_PACKET_SIZE),
                max_qos: match p.maximum_qos() {
                    Some(0) => QoS::AtMostOnce,
                    Some(1) => QoS::AtLeastOnce,
                    _ => QoS::ExactlyOnce,
                },
                retain_available: p.retain_available().unwrap_or(true),
            };
            if let Some(ka) = p.server_keep_alive() {
                // The server's keep alive replaces ours [MQTT-3.2.2-21].
                self.keep_alive = Duration::from_secs(u64::from(ka));
            }
            if let Some(id) = p.assigned_client_identifier() {
                // Reused on reconnect so a persistent session can be resumed.
                self.config.client_id = id.to_string();
            }
        }
        self.state = SessionState::Connected;
        self.emit(Event::Connected {
            session_present: ack.session_present,
        });
        if !ack.session_present {
            self.session_not_resumed();
        }
        if self.v() == ProtocolVersion::V311 {
            self.next_retry = self
                .config
                .retry_interval_v311
                .map(|d| self.now.saturating_add(d));
        }
        self.pump();
    }

    /// The broker holds no session for us: apply the fresh-session policy (see
    /// [`Event::SessionLost`]).
    fn session_not_resumed(&mut self) {
        let had_state = !self.outgoing.is_empty()
            || !self.incoming_qos2.is_empty()
            || !self.subscriptions.is_empty();
        // The broker will never send PUBREL for these: deliver them now, once.
        let released = self.incoming_qos2.len();
        for (_, m) in core::mem::take(&mut self.incoming_qos2) {
            self.emit(Event::MessageReleased(m));
        }
        let mut resent = 0;
        let mut unconfirmed = 0;
        let ids = &mut self.ids;
        self.outgoing.retain_mut(|o| match o.state {
            OutgoingState::AwaitingPubComp => {
                // PUBREC said the broker has it; sending it again could deliver it twice.
                unconfirmed += 1;
                ids.remove(o.id);
                false
            }
            _ => {
                resent += 1;
                o.published_before = false;
                true
            }
        });
        self.unsent = self.outgoing.len();
        if let Some(old) = self.auto_resubscribe.take() {
            // The resubscription made at an earlier session loss was never acknowledged; the
            // one made below covers the same subscriptions (or fewer, after an UNSUBACK). Drop
            // it, or every loss would add one more request past `max_pending_requests` (found
            // by tests/state_machine.rs: `repeated_session_loss_keeps_one_resubscription`).
            if let Some(i) = self.find_request(old) {
                self.requests.remove(i);
                self.ids.remove(old);
            }
        }
        if self.config.resubscribe_on_session_loss && !self.subscriptions.is_empty() {
            let subs: Vec<(String, SubscriptionOptions)> = self
                .subscriptions
                .iter()
                .map(|(f, o)| (f.clone(), *o))
                .collect();
            if let Some(id) = self.ids.allocate() {
                self.auto_resubscribe = Some(id);
                // Ahead of everything else, so messages flow again as soon as possible.
                self.requests.push_front(Request {
                    id,
                    kind: RequestKind::Subscribe(subs),
                    properties: Vec::new(),
                    sent_on_connection: false,
                });
            }
        } else {
            self.subscriptions.clear();
        }
        if had_state {
            self.emit(Event::SessionLost {
                resent,
                unconfirmed,
                released,
            });
        }
        self.unblock_if_room();
    }

    /// Transmits what the window and the connection allow, in order: requests, outgoing
    /// messages not yet sent on this connection, then the queue.
    fn pump(&mut self) {
        if self.state != SessionState::Connected {
            return;
        }
        let v = self.v();
        for i in 0..self.requests.len() {
            let Some(r) = self.requests.get_mut(i) else {
                break;
            };
            if r.sent_on_connection {
                continue;
            }
            r.sent_on_connection = true;
            let r = r.clone();
            encode_request(&mut self.tx, &r, v);
        }
        if self.unsent > 0 {
            let window = self.window();
            let mut sent = self.outgoing.len() - self.unsent;
            // Unsent entries normally form a suffix (sending goes front to back, new entries
            // join at the back): start there, so a publish costs O(1), not O(window). Only a
            // misbehaving broker's PUBREC can break the suffix; then scan everything.
            let suffix = self.outgoing.len() - self.unsent;
            let start = if self.outgoing.range(suffix..).all(|o| !o.sent_on_connection) {
                suffix
            } else {
                0
            };
            for o in self.outgoing.range_mut(start..) {
                if sent >= window {
                    break;
                }
                if o.sent_on_connection {
                    continue;
                }
                transmit_outgoing(&mut self.tx, o, v);
                self.unsent -= 1;
                sent += 1;
            }
        }
        while self.unsent == 0 {
            let Some(front) = self.queued.front() else {
                break;
            };
            if front.qos == QoS::AtMostOnce {
                if let Some(m) = self.queued.pop_front() {
                    let topic = m.topic_name();
                    let p = Publish {
                        dup: false,
                        qos: QosPid::AtMostOnce,
                        retain: m.retain,
                        topic,
                        properties: m.properties(),
                        payload: m.payload(),
                    };
                    let _ = self.tx.push(&Packet::Publish(p), v);
                }
                continue;
            }
            if !self.window_has_room() {
                break;
            }
            if let Some(m) = self.queued.pop_front() {
                self.push_outgoing(m);
                if let Some(o) = self.outgoing.back_mut() {
                    transmit_outgoing(&mut self.tx, o, v);
                    self.unsent -= 1;
                }
            }
        }
        self.unblock_if_room();
    }

    fn push_outgoing(&mut self, message: Message) {
        let Some(id) = message.packet_id else { return };
        let state = match message.qos {
            QoS::ExactlyOnce => OutgoingState::AwaitingPubRec(message),
            _ => OutgoingState::AwaitingPubAck(message),
        };
        self.outgoing.push_back(Outgoing {
            id,
            state,
            published_before: false,
            sent_on_connection: false,
        });
        self.unsent += 1;
    }

    fn unblock_if_room(&mut self) {
        // Room for every QoS: a refused QoS 0 publish waits on the transmit buffer, a refused
        // QoS 1/2 publish on the window or the queue.
        if self.blocked && self.can_publish(QoS::ExactlyOnce) && self.can_publish(QoS::AtMostOnce) {
            self.blocked = false;
            self.emit(Event::PublishUnblocked);
        }
    }

    fn retry_v311(&mut self, now: Instant) {
        let v = self.v();
        // Only when everything queued before was handed out: while the transport is not
        // taking bytes, each interval would add another copy of every message in flight and
        // the transmit buffer would grow without bound (found by tests/state_machine.rs:
        // `v311_retry_does_not_pile_up_while_the_transport_is_stalled`).
        if self.tx.is_empty() {
            for o in self.outgoing.iter_mut().filter(|o| o.sent_on_connection) {
                transmit_outgoing(&mut self.tx, o, v);
            }
        }
        self.next_retry = self
            .config
            .retry_interval_v311
            .map(|d| now.saturating_add(d));
    }

    fn find_outgoing(&self, id: PacketId) -> Option<usize> {
        self.outgoing.iter().position(|o| o.id == id)
    }

    fn complete_outgoing(&mut self, index: usize) {
        if let Some(o) = self.outgoing.remove(index) {
            if !o.sent_on_connection {
                self.unsent = self.unsent.saturating_sub(1);
            }
            self.ids.remove(o.id);
        }
        self.pump();
    }

    fn on_puback(&mut self, ack: &Ack<'_>) {
        let Some(i) = self.find_outgoing(ack.packet_id) else {
            // Not ours (or already completed): nothing to do.
            return;
        };
        if !matches!(
            self.outgoing.get(i).map(|o| &o.state),
            Some(OutgoingState::AwaitingPubAck(_))
        ) {
            return self.violation(ACK_MISMATCH, "PUBACK for a message that is not QoS 1");
        }
        self.emit(Event::PubAck {
            id: ack.packet_id,
            reason: ack.reason,
        });
        self.complete_outgoing(i);
    }

    fn on_pubrec(&mut self, ack: &Ack<'_>) {
        let v = self.v();
        let Some(i) = self.find_outgoing(ack.packet_id) else {
            // Unknown id: answer PUBREL so the broker can finish (5.0: "not found").
            let reason = if v == ProtocolVersion::V5 {
                ReasonCode::PacketIdentifierNotFound
            } else {
                ReasonCode::Success
            };
            let rel = Ack {
                packet_id: ack.packet_id,
                reason,
                properties: Properties::EMPTY,
            };
            let _ = self.tx.push_reply(&Packet::PubRel(rel), v);
            return;
        };
        let Some(o) = self.outgoing.get(i) else {
            return;
        };
        match o.state {
            OutgoingState::AwaitingPubAck(_) => {
                self.violation(ACK_MISMATCH, "PUBREC for a message that is not QoS 2")
            }
            OutgoingState::AwaitingPubComp => {
                // A repeated PUBREC: answer with PUBREL again.
                let _ = self
                    .tx
                    .push_reply(&Packet::PubRel(Ack::new(ack.packet_id)), v);
            }
            OutgoingState::AwaitingPubRec(_) => {
                self.emit(Event::PubRec {
                    id: ack.packet_id,
                    reason: ack.reason,
                });
                if ack.reason.is_error() {
                    // 5.0: a failing PUBREC ends the flow (§4.3.3).
                    return self.complete_outgoing(i);
                }
                if let Some(o) = self.outgoing.get_mut(i) {
                    // The payload is dropped: from now on only PUBREL is ever sent.
                    o.state = OutgoingState::AwaitingPubComp;
                    if o.sent_on_connection {
                        let _ = self
                            .tx
                            .push_reply(&Packet::PubRel(Ack::new(ack.packet_id)), v);
                    }
                }
                // PUBRELs are (re-)sent in the order their PUBRECs arrived [MQTT-4.6.0-4]:
                // keep this entry behind every message already awaiting PUBCOMP. The order of
                // the PUBLISH entries among themselves is unchanged [MQTT-4.6.0-1].
                let last_rel = self
                    .outgoing
                    .iter()
                    .enumerate()
                    .rev()
                    .find(|(j, o)| *j != i && matches!(o.state, OutgoingState::AwaitingPubComp))
                    .map(|(j, _)| j);
                if let Some(j) = last_rel.filter(|&j| j > i) {
                    if let Some(o) = self.outgoing.remove(i) {
                        // After the removal, the entry at j - 1 is that last one.
                        self.outgoing.insert(j, o);
                    }
                }
            }
        }
    }

    fn on_pubcomp(&mut self, ack: &Ack<'_>) {
        let Some(i) = self.find_outgoing(ack.packet_id) else {
            return;
        };
        if !matches!(
            self.outgoing.get(i).map(|o| &o.state),
            Some(OutgoingState::AwaitingPubComp)
        ) {
            return self.violation(
                ACK_MISMATCH,
                "PUBCOMP for a message that is not awaiting it",
            );
        }
        self.emit(Event::PubComp {
            id: ack.packet_id,
            reason: ack.reason,
        });
        self.complete_outgoing(i);
    }

    fn on_publish(&mut self, p: &Publish<'_>) {
        let v = self.v();
        let mut topic = p.topic;
        let alias_topic;
        if let Some(alias) = p.properties.topic_alias() {
            if alias > self.config.topic_alias_maximum {
                return self.protocol_error(ProtocolError::new(
                    TOPIC_ALIAS_INVALID,
                    "topic alias above the Topic Alias Maximum we sent",
                    ReasonCode::TopicAliasInvalid,
                ));
            }
            if topic.is_empty() {
                let Some(t) = self.incoming_aliases.get(&alias) else {
                    return self.protocol_error(ProtocolError::new(
                        TOPIC_ALIAS_INVALID,
                        "topic alias used before it was set",
                        ReasonCode::TopicAliasInvalid,
                    ));
                };
                alias_topic = t.clone();
                topic = TopicName::new(&alias_topic).unwrap_or(TopicName::EMPTY);
            } else {
                self.incoming_aliases
                    .insert(alias, topic.as_str().to_string());
            }
        }
        match p.qos {
            QosPid::AtMostOnce => self.emit(Event::Message(Message::from_publish(p, topic))),
            QosPid::AtLeastOnce(id) => {
                self.emit(Event::Message(Message::from_publish(p, topic)));
                let _ = self.tx.push_reply(&Packet::PubAck(Ack::new(id)), v);
            }
            QosPid::ExactlyOnce(id) => {
                if !self.incoming_qos2.contains_key(&id) {
                    if self.incoming_qos2.len() >= usize::from(self.config.max_incoming_qos2) {
                        return self.protocol_error(ProtocolError::new(
                            RECEIVE_MAXIMUM,
                            "more unreleased QoS 2 messages than our Receive Maximum",
                            ReasonCode::ReceiveMaximumExceeded,
                        ));
                    }
                    self.incoming_qos2
                        .insert(id, Message::from_publish(p, topic));
                    self.emit(Event::Qos2Received { id });
                }
                // A duplicate only gets its PUBREC again; the first copy is kept (Method A).
                let _ = self.tx.push_reply(&Packet::PubRec(Ack::new(id)), v);
            }
        }
    }

    fn on_pubrel(&mut self, ack: &Ack<'_>) {
        let v = self.v();
        let reason = match self.incoming_qos2.remove(&ack.packet_id) {
            Some(m) => {
                self.emit(Event::MessageReleased(m));
                ReasonCode::Success
            }
            // Already released (our PUBCOMP was lost) or unknown: still answer PUBCOMP.
            None if v == ProtocolVersion::V5 => ReasonCode::PacketIdentifierNotFound,
            None => ReasonCode::Success,
        };
        let comp = Ack {
            packet_id: ack.packet_id,
            reason,
            properties: Properties::EMPTY,
        };
        let _ = self.tx.push_reply(&Packet::PubComp(comp), v);
    }

    fn find_request(&self, id: PacketId) -> Option<usize> {
        self.requests.iter().position(|r| r.id == id)
    }

    fn on_suback(&mut self, ack: &SubAck<'_>) {
        let Some(i) = self.find_request(ack.packet_id) else {
            return;
        };
        let Some(Request {
            kind: RequestKind::Subscribe(subs),
            ..
        }) = self.requests.get(i)
        else {
            return self.violation(ACK_MISMATCH, "SUBACK for an UNSUBSCRIBE");
        };
        if subs.len() != ack.reason_codes.len() {
            // One return code per topic filter [MQTT-3.9.3-1].
            return self.violation(
                SUBACK_COUNT,
                "SUBACK with a different number of codes than filters",
            );
        }
        let Some(Request {
            kind: RequestKind::Subscribe(subs),
            ..
        }) = self.requests.remove(i)
        else {
            return;
        };
        for ((filter, options), code) in subs.into_iter().zip(ack.reason_codes.iter()) {
            if !code.is_error() {
                self.subscriptions.insert(filter, options);
            }
        }
        self.ids.remove(ack.packet_id);
        if self.auto_resubscribe == Some(ack.packet_id) {
            self.auto_resubscribe = None;
        }
        self.emit(Event::SubAck {
            id: ack.packet_id,
            results: ack.reason_codes.iter().copied().collect(),
        });
    }

    fn on_unsuback(&mut self, ack: &UnsubAck<'_>) {
        let Some(i) = self.find_request(ack.packet_id) else {
            return;
        };
        let Some(Request {
            kind: RequestKind::Unsubscribe(filters),
            ..
        }) = self.requests.get(i)
        else {
            return self.violation(ACK_MISMATCH, "UNSUBACK for a SUBSCRIBE");
        };
        if self.v() == ProtocolVersion::V5 && filters.len() != ack.reason_codes.len() {
            return self.violation(
                SUBACK_COUNT,
                "UNSUBACK with a different number of codes than filters",
            );
        }
        let Some(Request {
            kind: RequestKind::Unsubscribe(filters),
            ..
        }) = self.requests.remove(i)
        else {
            return;
        };
        for f in filters {
            self.subscriptions.remove(&f);
        }
        self.ids.remove(ack.packet_id);
        let results: SmallVec<[ReasonCode; 4]> = ack.reason_codes.iter().copied().collect();
        self.emit(Event::UnsubAck {
            id: ack.packet_id,
            results,
        });
    }
}

/// Queues the PUBLISH (with DUP when it went out before) or the PUBREL of `o`.
fn transmit_outgoing(tx: &mut TransmitQueue, o: &mut Outgoing, v: ProtocolVersion) {
    let packet = match &o.state {
        OutgoingState::AwaitingPubAck(m) | OutgoingState::AwaitingPubRec(m) => {
            let p = Publish {
                // A re-delivery carries DUP [MQTT-3.3.1-1].
                dup: o.published_before,
                qos: QosPid::new(m.qos, o.id),
                retain: m.retain,
                topic: m.topic_name(),
                properties: m.properties(),
                payload: m.payload(),
            };
            let _ = tx.push(&Packet::Publish(p), v);
            o.published_before = true;
            o.sent_on_connection = true;
            return;
        }
        // PUBREL has fixed flags and never carries DUP [MQTT-3.6.1-1].
        OutgoingState::AwaitingPubComp => Packet::PubRel(Ack::new(o.id)),
    };
    let _ = tx.push(&packet, v);
    o.sent_on_connection = true;
}

fn encode_request(tx: &mut TransmitQueue, r: &Request, v: ProtocolVersion) {
    let properties = Properties::parse(
        &r.properties,
        match r.kind {
            RequestKind::Subscribe(_) => PropertyContext::Subscribe,
            RequestKind::Unsubscribe(_) => PropertyContext::Unsubscribe,
        },
    )
    .unwrap_or(Properties::EMPTY);
    let packet = match &r.kind {
        RequestKind::Subscribe(subs) => Packet::Subscribe(Subscribe {
            packet_id: r.id,
            properties,
            subscriptions: subs
                .iter()
                .filter_map(|(f, o)| {
                    TopicFilter::new(f).ok().map(|filter| Subscription {
                        filter,
                        options: *o,
                    })
                })
                .collect(),
        }),
        RequestKind::Unsubscribe(filters) => Packet::Unsubscribe(Unsubscribe {
            packet_id: r.id,
            properties,
            filters: filters
                .iter()
                .filter_map(|f| TopicFilter::new(f).ok())
                .collect(),
        }),
    };
    // Validated when the request was made.
    let _ = tx.push(&packet, v);
}

/// Floor of the reply backlog limit, so that a small `max_transmit_bytes` cannot turn one
/// read's worth of acknowledgements (16,384 of 4 bytes) into a disconnect.
const MIN_REPLY_BACKLOG: usize = 64 * 1024;

const FIRST_PACKET_CONNACK: Rule = Rule::split("MQTT-3.2.0-1", "MQTT-3.2.0-1");
const CONNACK_TWICE: Rule = Rule::split("3.1.1 §3.2", "MQTT-3.2.0-2");
const SESSION_PRESENT_CLEAN: Rule = Rule::split("MQTT-3.2.2-1", "MQTT-3.2.2-2");
const SERVER_PACKET: Rule = Rule::split("3.1.1 §2.2.1", "5.0 §2.1.2");
const AUTH_UNEXPECTED: Rule = Rule::only_v5("MQTT-4.12.0-1");
const ACK_MISMATCH: Rule = Rule::split("3.1.1 §4.3", "5.0 §4.3");
const SUBACK_COUNT: Rule = Rule::split("MQTT-3.9.3-1", "MQTT-3.9.3-1");
const TOPIC_ALIAS_INVALID: Rule = Rule::only_v5("MQTT-3.3.2-9");
const RECEIVE_MAXIMUM: Rule = Rule::only_v5("MQTT-3.3.4-9");
