//! The [`Session`] state machine.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use mqtt_sansio_proto::{
    decode_from_server, rules, Disconnect, Limits, Packet, PacketId, Properties, ProtocolVersion,
    QoS, ReasonCode, Rule, RuleTags, SubscriptionOptions,
};

use crate::ack_properties::{AckProperties, ServerReference};
#[cfg(feature = "enhanced-auth")]
use crate::auth::AuthSlot;
use crate::config::SessionConfig;
use crate::error::{DisconnectReason, ProtocolError};
use crate::event::Event;
use crate::message::Message;
use crate::outgoing::{Outgoing, Request};
use crate::packet_id::{InFlightIds, PacketIdSet};
use crate::time::Instant;
use crate::transmit::TransmitQueue;
use crate::vec_map::{VecMap, VecQueue};

mod auth;
mod connection;
mod give_up;
mod inbound;
#[cfg(feature = "manual-acks")]
mod manual_ack;
#[cfg(not(feature = "manual-acks"))]
mod manual_ack_off;
#[cfg(feature = "offline-queue")]
mod offline_queue;
#[cfg(not(feature = "offline-queue"))]
mod offline_queue_off;
mod outbound;
mod packet_size;
mod persist;
mod subscriptions;
mod topic_alias;

#[cfg(feature = "manual-acks")]
use manual_ack::PendingAcks;
#[cfg(not(feature = "manual-acks"))]
use manual_ack_off::PendingAcks;
#[cfg(feature = "offline-queue")]
use offline_queue::OfflineQueue;
#[cfg(not(feature = "offline-queue"))]
use offline_queue_off::OfflineQueue;
use topic_alias::{IncomingAliases, OutgoingAliases};

/// Where the Session is in the life of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionState {
    /// No connection. Publishes (with the cargo feature `offline-queue`) and subscriptions
    /// are queued (within limits).
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
/// use mqtt_sansio_proto::{ProtocolVersion, QoS};
/// use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};
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
/// assert!(matches!(
///     session.poll_event(),
///     Some(Event::Connected { session_present: false, .. })
/// ));
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
    /// Keep alive in seconds, as CONNECT or the 5.0 Server Keep Alive set it (two bytes on the
    /// wire, so two here rather than a 16-byte `Duration`; see `keep_alive()`).
    keep_alive_secs: u16,
    connack_deadline: Instant,
    last_sent: Instant,
    last_received: Instant,
    next_retry: Option<Instant>,
    /// A PINGREQ went out and its PINGRESP has not arrived yet.
    ping_outstanding: bool,
    peer: PeerLimits,
    incoming_aliases: IncomingAliases,
    /// The Authentication Method this connection's CONNECT carried (5.0 §4.12).
    auth_method: Option<String>,
    /// AUTH 0x19 went out and the broker's AUTH 0x00 has not arrived yet.
    reauthenticating: bool,
    /// Topic aliases of our PUBLISH packets on this connection.
    aliases: OutgoingAliases,

    // I/O.
    rx: Vec<u8>,
    /// When the first byte of the incomplete packet in `rx` arrived.
    rx_partial_since: Option<Instant>,
    tx: TransmitQueue,
    events: VecDeque<Event>,

    // Session state, kept across connections.
    ids: InFlightIds,
    outgoing: VecQueue<Outgoing>,
    /// Outgoing entries not yet transmitted on this connection.
    unsent: usize,
    queued: OfflineQueue,
    requests: VecQueue<Request>,
    incoming_qos2: VecMap<PacketId, Message>,
    /// Bytes of topic, properties and payload held in `incoming_qos2`.
    incoming_qos2_bytes: usize,
    /// Incoming QoS 2 messages past the budget, already delivered at PUBLISH and waiting for
    /// PUBREL: only their ids. Allocated (8 KiB) when the budget is first exceeded, so a
    /// session that never overflows pays nothing.
    incoming_qos2_ids_only: Option<Box<PacketIdSet>>,
    subscriptions: VecMap<String, SubscriptionOptions>,
    /// The automatic resubscription made after a session loss, while unacknowledged. At most
    /// one is kept, so repeated session losses cannot pile up requests.
    auto_resubscribe: Option<PacketId>,
    /// A publish was refused for lack of room; tell the application when room frees up.
    blocked: bool,
    /// Enhanced authentication (5.0); see `Session::set_authenticator`.
    #[cfg(feature = "enhanced-auth")]
    authenticator: Option<AuthSlot>,
    /// Ids of failed QoS 2 publishes the resumed broker session may still hold unreleased:
    /// reused, a new message would look like a duplicate of that one there and be dropped.
    /// Freed when the broker's session ends (see `packet_size.rs`).
    held_ids: Vec<PacketId>,
    /// The message the broker's last error DISCONNECT most likely answered, with its reason
    /// (see [`Session::rejected_candidate`]); cleared by `connect`.
    rejected_candidate: Option<(PacketId, ReasonCode)>,
    /// Incoming messages waiting for the application's acknowledgement (manual acks).
    acks: PendingAcks,
    /// The session store the flows write through (see [`crate::store`]); `None`: memory only.
    /// Boxed: one word in every session that has none (issue 15: RAM per session).
    #[cfg(feature = "store")]
    store: Option<Box<persist::StoreSlot>>,
}

impl Session {
    /// A disconnected session with this identity and these limits.
    pub fn new(config: SessionConfig) -> Self {
        let aliases = OutgoingAliases::new(config.outgoing_topic_aliases);
        Self {
            config,
            state: SessionState::Disconnected,
            now: Instant::ZERO,
            keep_alive_secs: 0,
            connack_deadline: Instant::ZERO,
            last_sent: Instant::ZERO,
            last_received: Instant::ZERO,
            next_retry: None,
            ping_outstanding: false,
            peer: PeerLimits::DEFAULT,
            incoming_aliases: IncomingAliases::new(),
            auth_method: None,
            reauthenticating: false,
            aliases,
            rx: Vec::new(),
            rx_partial_since: None,
            tx: TransmitQueue::new(),
            // One slot: the application usually takes events one at a time, and the queue
            // keeps its capacity for the session's lifetime (issue 15: RAM per session);
            // a burst still grows it by doubling.
            events: VecDeque::with_capacity(1),
            ids: InFlightIds::new(),
            outgoing: VecQueue::new(),
            unsent: 0,
            queued: OfflineQueue::default(),
            requests: VecQueue::new(),
            incoming_qos2: VecMap::new(),
            incoming_qos2_bytes: 0,
            incoming_qos2_ids_only: None,
            subscriptions: VecMap::new(),
            auto_resubscribe: None,
            blocked: false,
            #[cfg(feature = "enhanced-auth")]
            authenticator: None,
            held_ids: Vec::new(),
            rejected_candidate: None,
            acks: PendingAcks::default(),
            #[cfg(feature = "store")]
            store: None,
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
    /// one the broker assigned, the session expiry interval by one a DISCONNECT set).
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Outgoing QoS 1/2 messages not yet completed (in the window).
    pub fn inflight_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Publishes waiting to enter the window (always 0 without the cargo feature
    /// `offline-queue`).
    pub fn queued_len(&self) -> usize {
        self.queued.len()
    }

    /// Incoming QoS 2 messages held until their PUBREL (within `max_incoming_qos2` and
    /// `max_incoming_qos2_bytes`). Messages past that budget are counted by
    /// [`incoming_qos2_ids_only`](Self::incoming_qos2_ids_only) instead.
    pub fn pending_incoming_qos2(&self) -> usize {
        self.incoming_qos2.len()
    }

    /// Bytes of topic, properties and payload of the messages counted by
    /// [`pending_incoming_qos2`](Self::pending_incoming_qos2); at most
    /// `max_incoming_qos2_bytes`.
    pub fn pending_incoming_qos2_bytes(&self) -> usize {
        self.incoming_qos2_bytes
    }

    /// Incoming QoS 2 messages that arrived past the held-message budget: already delivered
    /// (as [`Event::Message`] at PUBLISH), only their packet id kept until PUBREL so that a
    /// resent PUBLISH is not delivered again (SPEC "Exactly once, bounded").
    pub fn incoming_qos2_ids_only(&self) -> usize {
        self.incoming_qos2_ids_only
            .as_ref()
            .map_or(0, |ids| ids.len())
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

    /// Whether a publish at `qos` would be accepted now: the window or the queue has room,
    /// or [`QueuePolicy::DropOldestQos0`](crate::QueuePolicy::DropOldestQos0) would make
    /// some. (A message larger than the room left under `max_queued_bytes` may still be
    /// refused.) Without the cargo feature `offline-queue`: only when connected with room in
    /// the window (QoS 1/2) or in the transmit buffer (QoS 0).
    pub fn can_publish(&self, qos: QoS) -> bool {
        match qos {
            QoS::AtMostOnce if self.is_connected() && self.queued.is_empty() => {
                self.tx.bytes() <= self.config.max_transmit_bytes
            }
            QoS::AtMostOnce => self.queue_room_plan(1).is_some(),
            _ => {
                self.ids.len() < usize::from(u16::MAX)
                    && ((self.is_connected() && self.queued.is_empty() && self.window_has_room())
                        || self.queue_room_plan(1).is_some())
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

    fn keep_alive(&self) -> Duration {
        Duration::from_secs(u64::from(self.keep_alive_secs))
    }

    fn window(&self) -> usize {
        usize::from(self.config.max_inflight.min(self.peer.receive_maximum)).max(1)
    }

    fn window_has_room(&self) -> bool {
        self.outgoing.len() < self.window()
    }

    /// The protocol version of this session. With only one of the cargo features `v311` and
    /// `v5` enabled it is a constant (`connect` refuses the other one), so the optimiser drops
    /// the other version's branches.
    #[inline(always)]
    fn v(&self) -> ProtocolVersion {
        if !cfg!(feature = "v5") {
            ProtocolVersion::V311
        } else if !cfg!(feature = "v311") {
            ProtocolVersion::V5
        } else {
            self.config.version
        }
    }

    fn advance(&mut self, now: Instant) -> Instant {
        // Time never goes backwards: an older `now` counts as the latest seen.
        if now > self.now {
            self.now = now;
        }
        self.now
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
            // A tail left over started in this read.
            self.rx_partial_since = (!self.rx.is_empty()).then_some(now);
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
            if self.rx.is_empty() {
                self.rx_partial_since = None;
            } else if used > 0 {
                // The packet that was incomplete finished; the tail is a new one, started
                // in this read.
                self.rx_partial_since = Some(now);
            }
        }
        self.check_unread_backlog();
    }

    /// Decodes and handles whole packets from `input`; returns the bytes used.
    fn process(&mut self, input: &[u8], limits: &Limits) -> usize {
        let mut used = 0;
        // Past a full window of manual acknowledgements (3.1.1) the rest waits, undecoded.
        while self.state != SessionState::Disconnected && !self.reading_paused() {
            let rest = input.get(used..).unwrap_or_default();
            // Client side: CONNECT, SUBSCRIBE and UNSUBSCRIBE from the broker are refused by
            // type (the same rule and words as `handle_packet` uses for PINGREQ), and their
            // parsers stay out of the firmware.
            match decode_from_server(rest, self.v(), limits) {
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
                    self.decode_failed(e);
                    break;
                }
            }
        }
        used
    }

    /// A deadline passed (or not yet: calling early or twice does nothing).
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.advance(now);
        // Queued messages expire whether or not a connection is up.
        self.expire_queued();
        if let Some(deadline) = self.partial_packet_deadline() {
            if now >= deadline {
                // SPEC "Bad input and faults": a packet that never completes ends the
                // connection after a bound; keepalive alone does not catch it.
                let reason = DisconnectReason::IncompletePacket {
                    received: self.rx.len(),
                    after: self.packet_completion_timeout(),
                };
                self.tx.clear();
                self.connection_ended(reason);
                return;
            }
        }
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
                        self.push_bounded(Packet::PingReq, false);
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
        self.close(now, DisconnectReason::TransportClosed);
    }

    /// Ends the connection here, without DISCONNECT, for `reason` (for example
    /// [`DisconnectReason::ReconnectRequested`]): emits [`Event::Disconnected`] with it, so
    /// the application's own decision is not reported as a transport failure. Bytes not yet
    /// taken with [`poll_transmit`](Self::poll_transmit) are dropped, as the transport is
    /// about to be closed; unacknowledged messages are kept for the next connection. Does
    /// nothing when already disconnected. Use [`disconnect`](Self::disconnect) for a clean
    /// end that tells the broker (and discards the will).
    pub fn close(&mut self, now: Instant, reason: DisconnectReason) {
        self.advance(now);
        if self.state != SessionState::Disconnected {
            self.tx.reset();
            self.connection_ended(reason);
        }
    }

    // ---------------------------------------------------------------- (D) outputs

    /// Appends the next packet to send to `out`; returns its length, or `None` if there is
    /// nothing to send. Hands out exactly one whole packet per call.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, out: &mut Vec<u8>) -> Option<usize> {
        let now = self.advance(now);
        if !self.tx.is_empty() && !self.sync_before_output() {
            return None;
        }
        let n = self.tx.pop_into(out)?;
        // Keepalive counts from the last packet sent [MQTT-3.1.2-23].
        self.last_sent = now;
        // Draining the transmit buffer can make room for a QoS 0 publish that was refused
        // for `max_transmit_bytes`: PublishUnblocked must follow (no ack may ever come).
        self.unblock_if_room();
        Some(n)
    }

    /// Copies waiting bytes into `out`, as many as fit, and returns how many (0: nothing to
    /// send). The zero-copy way to feed a caller-owned write buffer: whole packets back to
    /// back and, when the next packet does not fit, its start; the next call continues with
    /// its rest. Write the `n` bytes before calling again, in order: the Session counts them
    /// as sent (keepalive [MQTT-3.1.2-23]) once they are handed out.
    ///
    /// A packet started here always ends on this connection: an error that ends the
    /// connection keeps its rest in front of anything still sent (such as the DISCONNECT
    /// after a protocol error), so the broker never reads half a packet glued to another.
    /// [`connect`](Self::connect) drops it with the old transport, and so do
    /// [`close`](Self::close) and [`handle_closed`](Self::handle_closed) while the connection
    /// is up. Mixing with [`poll_transmit`](Self::poll_transmit) is fine: it hands out the
    /// rest of a started packet.
    ///
    /// ```
    /// use mqtt_sansio_proto::ProtocolVersion;
    /// use mqtt_sansio_session::{ConnectOptions, Instant, Session, SessionConfig};
    ///
    /// let mut session = Session::new(SessionConfig::new("doc", true, ProtocolVersion::V311));
    /// let now = Instant::from_millis(0);
    /// session.connect(now, &ConnectOptions::new(30))?;
    /// // A write buffer smaller than the CONNECT packet: it goes out in pieces.
    /// let (mut buf, mut wire) = ([0u8; 8], Vec::new());
    /// loop {
    ///     let n = session.transmit_into(now, &mut buf);
    ///     if n == 0 {
    ///         break;
    ///     }
    ///     wire.extend_from_slice(&buf[..n]); // the socket write
    /// }
    /// assert_eq!(wire[0], 0x10); // CONNECT
    /// assert_eq!(wire.len(), 2 + usize::from(wire[1]));
    /// assert_eq!(session.pending_transmit_bytes(), 0);
    /// # Ok::<(), mqtt_sansio_session::ConnectError>(())
    /// ```
    pub fn transmit_into(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let now = self.advance(now);
        if self.tx.is_empty() || out.is_empty() || !self.sync_before_output() {
            return 0;
        }
        let n = self.tx.take_into(out);
        // Keepalive counts from the last packet sent [MQTT-3.1.2-23].
        self.last_sent = now;
        // As in `poll_transmit`: room for a refused QoS 0 publish.
        self.unblock_if_room();
        n
    }

    /// The next event, oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if !self.events.is_empty() {
            // An event may report what a record guards (a released message): durable first.
            self.sync_before_output();
        }
        self.events.pop_front()
    }

    /// The earliest instant at which [`handle_timeout`](Self::handle_timeout) has work, or
    /// `None` when no timer runs (disconnected, keepalive off, ...).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let connection = match self.state {
            // No connection timer; queued messages expire by `next_queue_expiry`.
            SessionState::Disconnected => return None,
            SessionState::Connecting => Some(self.connack_deadline),
            SessionState::Connected => [
                self.keepalive_deadline(),
                self.silence_deadline(),
                self.next_retry,
            ]
            .into_iter()
            .flatten()
            .min(),
        };
        [
            connection,
            self.partial_packet_deadline(),
            self.queued.next_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// How long a started packet may take to complete (see
    /// [`SessionConfig::packet_completion_timeout`]).
    fn packet_completion_timeout(&self) -> Duration {
        if let Some(bound) = self.config.packet_completion_timeout {
            return bound;
        }
        if self.state == SessionState::Connecting || self.keep_alive_secs == 0 {
            self.config.connack_timeout
        } else {
            self.keep_alive() * 3 / 2
        }
    }

    /// When the incomplete packet being received must be complete, if one is.
    fn partial_packet_deadline(&self) -> Option<Instant> {
        if self.state == SessionState::Disconnected || self.reading_paused() {
            return None;
        }
        self.rx_partial_since
            .map(|since| since.saturating_add(self.packet_completion_timeout()))
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        // While bytes wait to be handed out, sending them is the pending obligation.
        if self.keep_alive_secs == 0 || !self.tx.is_empty() {
            return None;
        }
        // A PINGREQ is due when nothing was sent for a keepalive [MQTT-3.1.2-23], and also
        // when nothing was heard for one: a client that only publishes QoS 0 hears nothing
        // back, and without a PINGRESP the silence timeout would end a healthy connection.
        // (A client may send PINGREQ at any time, §3.12.)
        let sent = self.last_sent.saturating_add(self.keep_alive());
        if self.ping_outstanding {
            return Some(sent);
        }
        Some(sent.min(self.last_received.saturating_add(self.keep_alive())))
    }

    fn silence_deadline(&self) -> Option<Instant> {
        // Paused reading (manual acks): the broker is not silent, we are not listening.
        if self.keep_alive_secs == 0 || self.reading_paused() {
            return None;
        }
        let timeout = self
            .config
            .keepalive_timeout
            .unwrap_or(self.keep_alive() * 3 / 2);
        Some(self.last_received.saturating_add(timeout))
    }

    // ---------------------------------------------------------------- internals

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Ends the current connection: state, event, and bookkeeping for the next one.
    fn connection_ended(&mut self, reason: DisconnectReason) {
        self.connection_ended_with(reason, None, AckProperties::default());
    }

    /// [`connection_ended`](Self::connection_ended) with what the broker's DISCONNECT or
    /// refusing CONNACK said (5.0), for the application to read in the event.
    fn connection_ended_with(
        &mut self,
        reason: DisconnectReason,
        server_reference: Option<ServerReference>,
        properties: AckProperties,
    ) {
        self.state = SessionState::Disconnected;
        self.rx.clear();
        self.rx_partial_since = None;
        for o in self.outgoing.iter_mut() {
            o.sent_on_connection = false;
        }
        self.unsent = self.outgoing.len();
        for r in self.requests.iter_mut() {
            r.sent_on_connection = false;
        }
        self.next_retry = None;
        self.reauthenticating = false;
        self.acks.connection_ended();
        self.emit(Event::Disconnected {
            reason,
            server_reference,
            properties,
        });
    }

    /// The broker broke the protocol: close (5.0: DISCONNECT with the reason code) and keep
    /// every unacknowledged message. Later input is ignored until the next `connect`.
    /// The broker's bytes are not a packet: out of line, so that the conversion stays off
    /// the receive loop.
    #[cold]
    #[inline(never)]
    fn decode_failed(&mut self, e: mqtt_sansio_proto::DecodeError) {
        self.protocol_error(e.into());
    }

    /// Cold and out of line: every rule check on the receive path ends here, and inlining it
    /// into each made `process` one 13 KB function (issue 15).
    #[cold]
    #[inline(never)]
    fn protocol_error(&mut self, err: ProtocolError) {
        self.tx.clear();
        if self.v() == ProtocolVersion::V5
            && err
                .reason_code
                .is_valid_for(mqtt_sansio_proto::PacketType::Disconnect)
        {
            let packet = Packet::Disconnect(Disconnect {
                reason: err.reason_code,
                properties: Properties::EMPTY,
            });
            self.push_bounded(packet, false);
        }
        self.connection_ended(DisconnectReason::Protocol(err));
    }

    /// Inlined so that `what` stays a literal at the call site (and leaves the binary with
    /// `compact-errors`); the work is in the cold `protocol_error`.
    #[inline(always)]
    fn violation(&mut self, rule: Rule, what: &'static str) {
        self.protocol_error(ProtocolError::new(rule, what, ReasonCode::ProtocolError));
    }

    fn handle_packet(&mut self, packet: Packet<'_>) {
        let auth_before_connack = matches!(packet, Packet::Auth(_)) && self.auth_method.is_some();
        if self.state == SessionState::Connecting
            && !matches!(packet, Packet::ConnAck(_))
            && !auth_before_connack
        {
            // The first packet from the server must be CONNACK [MQTT-3.2.0-1], or AUTH 0x18
            // when CONNECT asked for enhanced authentication (5.0 §4.12).
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
                if d.reason.is_error() {
                    // Before connection_ended clears the per-connection flags.
                    self.rejected_candidate =
                        self.oldest_unacknowledged_sent().map(|id| (id, d.reason));
                }
                self.tx.clear();
                self.connection_ended_with(
                    DisconnectReason::Remote(d.reason),
                    ServerReference::from_properties(&d.properties),
                    AckProperties::from_properties(&d.properties),
                );
            }
            Packet::Auth(a) => self.on_auth(&a),
            Packet::Connect(_)
            | Packet::Subscribe(_)
            | Packet::Unsubscribe(_)
            | Packet::PingReq => self.violation(
                SERVER_PACKET,
                "the server sent a packet only a client may send",
            ),
        }
    }
}

/// Floor of the reply backlog limit, so that a small `max_transmit_bytes` cannot turn one
/// read's worth of acknowledgements (16,384 of 4 bytes) into a disconnect.
const MIN_REPLY_BACKLOG: usize = 64 * 1024;

const FIRST_PACKET_CONNACK: Rule = Rule::new(&RuleTags::split("MQTT-3.2.0-1", "MQTT-3.2.0-1"));
const CONNACK_TWICE: Rule = Rule::new(&RuleTags::split("3.1.1 §3.2", "MQTT-3.2.0-2"));
const SESSION_PRESENT_CLEAN: Rule = Rule::new(&RuleTags::split("MQTT-3.2.2-1", "MQTT-3.2.2-2"));
const SERVER_PACKET: Rule = rules::PACKET_DIRECTION;
const AUTH_UNEXPECTED: Rule = Rule::new(&RuleTags::only_v5("MQTT-4.12.0-6"));
const ACK_MISMATCH: Rule = Rule::new(&RuleTags::split("3.1.1 §4.3", "5.0 §4.3"));
const SUBACK_COUNT: Rule = Rule::new(&RuleTags::split("MQTT-3.9.3-1", "MQTT-3.9.3-1"));
const TOPIC_ALIAS_INVALID: Rule = Rule::new(&RuleTags::only_v5("MQTT-3.3.2-9"));
const RECEIVE_MAXIMUM: Rule = Rule::new(&RuleTags::only_v5("MQTT-3.3.4-9"));
