//! Manual acknowledgements ([`AckMode::Manual`](crate::AckMode::Manual)): an incoming QoS 1/2
//! message is acknowledged when the application says so, in the order the PUBLISH packets
//! arrived, with at most a window of them unacknowledged.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::num::NonZeroU32;

use mqtt_sansio_proto::{Ack, Packet, PacketId, ProtocolVersion, Publish, QoS, TopicName};

use crate::error::ProtocolError;
use crate::event::Event;
use crate::manual_ack::{AckError, AckToken};
use crate::message::Message;
use crate::store::Record;
use crate::time::Instant;

use super::*;

/// The incoming messages of the current connection whose acknowledgement waits for the
/// application, and what must survive the connection. Allocated with the first message
/// under manual acknowledgements: a session that never uses them pays one pointer (issue
/// 15: RAM per session).
#[derive(Debug, Default)]
pub(super) struct PendingAcks(Option<Box<AckState>>);

#[derive(Debug, Default)]
struct AckState {
    /// In arrival order: acknowledgements go out from the front, and only while the front
    /// one was acknowledged [MQTT-4.6.0-2] / [MQTT-4.6.0-3].
    entries: VecDeque<Pending>,
    /// The last token number handed out (see `AckToken::seq`).
    last_seq: u32,
    /// Messages the application acknowledged whose PUBACK / PUBREC could not go out before
    /// the connection ended (an earlier message was still unacknowledged). The broker
    /// cannot reuse their packet ids before it gets that acknowledgement, so a PUBLISH with
    /// one of these ids on a resumed session is the same message sent again: it is
    /// acknowledged without being handed over a second time. At most one entry per packet
    /// id; cleared when the broker's session is lost.
    carried: Vec<(PacketId, QoS)>,
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    token: AckToken,
    acked: bool,
}

impl PendingAcks {
    fn state(&mut self) -> &mut AckState {
        self.0.get_or_insert_with(Box::default)
    }

    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.entries.len())
    }

    fn holds(&self, id: PacketId) -> bool {
        self.0
            .as_ref()
            .is_some_and(|s| s.entries.iter().any(|e| e.token.id == id))
    }

    /// Removes `id` from the carried acknowledgements; whether it was there.
    fn take_carried(&mut self, id: PacketId) -> bool {
        let Some(s) = self.0.as_mut() else {
            return false;
        };
        match s.carried.iter().position(|&(c, _)| c == id) {
            Some(k) => {
                s.carried.swap_remove(k);
                true
            }
            None => false,
        }
    }

    /// The next token handed out is numbered `first`.
    fn start_at(&mut self, first: NonZeroU32) {
        self.state().last_seq = first.get() - 1;
    }

    /// Queues a new message's acknowledgement; returns its token.
    fn push(&mut self, id: PacketId, qos: QoS, acked: bool) -> AckToken {
        let s = self.state();
        // 0 is skipped when the counter wraps, so the token fits an `Option` for free.
        s.last_seq = s.last_seq.checked_add(1).unwrap_or(1);
        let seq = NonZeroU32::new(s.last_seq).unwrap_or(NonZeroU32::MIN);
        let token = AckToken { seq, id, qos };
        s.entries.push_back(Pending { token, acked });
        token
    }

    /// The entry of `token`, if it still waits.
    fn find_mut(&mut self, token: AckToken) -> Option<&mut Pending> {
        let entries = &mut self.0.as_mut()?.entries;
        // Arrival order is token order except across the wrap of the 32-bit counter, so a
        // binary search finds it but for then; a miss is confirmed by a scan.
        let i = match entries.binary_search_by_key(&token.seq, |e| e.token.seq) {
            Ok(i) => Some(i),
            Err(_) => entries.iter().position(|e| e.token.seq == token.seq),
        };
        i.and_then(|i| entries.get_mut(i))
            .filter(|e| e.token == token)
    }

    /// The front entry, if the application acknowledged it.
    fn pop_ready(&mut self) -> Option<AckToken> {
        let entries = &mut self.0.as_mut()?.entries;
        if entries.front().is_some_and(|e| e.acked) {
            entries.pop_front().map(|e| e.token)
        } else {
            None
        }
    }

    /// The connection ended: every token of it is stale now. What the application already
    /// acknowledged is remembered, so the broker's resend is not handed over again.
    pub(super) fn connection_ended(&mut self) {
        let Some(s) = self.0.as_mut() else { return };
        for e in s.entries.drain(..) {
            if e.acked && !s.carried.iter().any(|&(id, _)| id == e.token.id) {
                s.carried.push((e.token.id, e.token.qos));
            }
        }
    }

    /// The broker holds no session: it will send none of these again.
    pub(super) fn session_lost(&mut self) {
        if let Some(s) = self.0.as_mut() {
            s.carried.clear();
        }
    }
}

impl Session {
    /// Numbers this Session's acknowledgement tokens from `first` on (from 1 when never
    /// called); call it before the first message arrives.
    ///
    /// A token belongs to the Session value that handed it out, but nothing in it says
    /// which: a program that may still hold tokens of one value while another serves the
    /// same client (a client rebuilt from its store, a new connection object after an
    /// error) gives each value a different start, so that an old token is refused as
    /// [`AckError::Stale`] instead of acknowledging another message that arrived under the
    /// same packet identifier. mqtt-sansio-client starts each of its sessions at a number
    /// drawn from its random seed.
    ///
    /// ```
    /// use core::num::{NonZeroU16, NonZeroU32};
    /// use mqtt_sansio_proto::ProtocolVersion;
    /// use mqtt_sansio_session::{AckMode, Session, SessionConfig};
    ///
    /// let mut config = SessionConfig::new("worker-1", false, ProtocolVersion::V5);
    /// config.acks = AckMode::manual(NonZeroU16::new(10).unwrap());
    /// let mut session = Session::new(config);
    /// session.start_ack_tokens_at(NonZeroU32::new(0x5eed_0001).unwrap());
    /// ```
    pub fn start_ack_tokens_at(&mut self, first: NonZeroU32) {
        self.acks.start_at(first);
    }

    /// Acknowledges an incoming message under [`AckMode::Manual`](crate::AckMode::Manual)
    /// (its token: [`Message::ack_token`]). Its PUBACK (QoS 1) or PUBREC (QoS 2) is queued
    /// for [`poll_transmit`](Self::poll_transmit) together with those of the messages
    /// after it that were acknowledged early: acknowledgements go out in the order the
    /// PUBLISH packets arrived [MQTT-4.6.0-2] / [MQTT-4.6.0-3], so one acknowledged before
    /// an older message waits for that one.
    ///
    /// [`AckError::Stale`] when the token was acknowledged already or belongs to a
    /// connection that has ended; nothing changes then. (The broker sends a message that was
    /// never acknowledged again when it resumes the session, with a new token; one that was
    /// acknowledged but whose acknowledgement could not go out before the connection ended
    /// is acknowledged again by the Session on the resend, not handed over twice.)
    ///
    /// Only with the cargo feature `manual-acks` (on by default); without it there is no
    /// [`AckMode::Manual`](crate::AckMode::Manual) and no token to pass here.
    ///
    /// In 3.1.1, acknowledging below the window lets the Session decode what it had read
    /// and not yet processed (see [`wants_read`](Self::wants_read)): drain
    /// [`poll_event`](Self::poll_event) afterwards too.
    ///
    /// ```
    /// use core::num::NonZeroU16;
    /// use mqtt_sansio_proto::ProtocolVersion;
    /// use mqtt_sansio_session::{AckMode, ConnectOptions, Event, Instant, Session, SessionConfig};
    ///
    /// let mut config = SessionConfig::new("worker", false, ProtocolVersion::V311);
    /// config.acks = AckMode::manual(NonZeroU16::new(8).unwrap());
    /// let mut session = Session::new(config);
    /// let now = Instant::from_millis(0);
    /// session.connect(now, &ConnectOptions::new(0)).unwrap();
    /// let mut out = Vec::new();
    /// while session.poll_transmit(now, &mut out).is_some() {}
    /// session.handle_read(now, &[0x20, 0x02, 0x00, 0x00]); // CONNACK
    ///
    /// // PUBLISH QoS 1, id 7, topic "t", payload "x".
    /// session.handle_read(now, &[0x32, 0x06, 0x00, 0x01, b't', 0x00, 0x07, b'x']);
    /// let mut token = None;
    /// while let Some(event) = session.poll_event() {
    ///     if let Event::Message(m) = event {
    ///         token = m.ack_token();
    ///     }
    /// }
    /// out.clear();
    /// assert_eq!(session.poll_transmit(now, &mut out), None); // no PUBACK yet
    ///
    /// session.ack(now, token.unwrap()).unwrap();
    /// assert!(session.poll_transmit(now, &mut out).is_some());
    /// assert_eq!(out, [0x40, 0x02, 0x00, 0x07]); // PUBACK 7
    /// assert!(session.ack(now, token.unwrap()).is_err()); // stale now
    /// ```
    pub fn ack(&mut self, now: Instant, token: AckToken) -> Result<(), AckError> {
        let now = self.advance(now);
        let was_paused = self.reading_paused();
        let entry = self.acks.find_mut(token).ok_or(AckError::Stale)?;
        if entry.acked {
            return Err(AckError::Stale);
        }
        entry.acked = true;
        self.send_ready_acks();
        if was_paused && !self.reading_paused() {
            // Nothing was read while paused: the broker was not silent, we did not listen.
            self.last_received = now;
            self.process_buffered(now);
        }
        Ok(())
    }

    /// Whether the transport should read from the socket. `false` only under
    /// [`AckMode::Manual`](crate::AckMode::Manual) on a 3.1.1 connection with the whole
    /// window of messages unacknowledged: a 3.1.1 broker cannot be told the window, so the
    /// client stops reading and TCP's flow control holds the broker back. Bytes read anyway
    /// are kept undecoded until [`ack`](Self::ack) makes room; while paused the keepalive
    /// silence timeout and the incomplete-packet bound do not run (the broker is not
    /// silent, we are not listening). Always `true` without the cargo feature `manual-acks`.
    pub fn wants_read(&self) -> bool {
        !self.reading_paused()
    }

    /// Incoming messages handed over under [`AckMode::Manual`](crate::AckMode::Manual)
    /// whose acknowledgement has not gone out yet (never more than the window). Always 0
    /// without the cargo feature `manual-acks`.
    pub fn unacknowledged(&self) -> usize {
        self.acks.len()
    }

    pub(super) fn reading_paused(&self) -> bool {
        match self.config.acks.window() {
            // 5.0: the broker knows the window as our Receive Maximum; pausing would only
            // hold back QoS 0 messages and the broker's acknowledgements.
            Some(window) => {
                self.v() == ProtocolVersion::V311
                    && self.state != SessionState::Disconnected
                    && self.acks.len() >= usize::from(window)
            }
            None => false,
        }
    }

    /// Bytes handed over while reading is paused wait undecoded; a transport that does not
    /// honour [`wants_read`](Self::wants_read) must not grow them without bound.
    pub(super) fn check_unread_backlog(&mut self) {
        let limit = (self.config.max_packet_size as usize).max(MIN_REPLY_BACKLOG);
        if self.reading_paused() && self.rx.len() > limit {
            self.rx.clear();
            self.rx_partial_since = None;
            self.tx.clear();
            self.connection_ended(DisconnectReason::UnreadBacklog);
        }
    }

    /// A QoS 1/2 PUBLISH under manual acknowledgements.
    pub(super) fn on_publish_manual(
        &mut self,
        p: &Publish<'_>,
        topic: TopicName<'_>,
        id: PacketId,
    ) {
        let qos = p.qos.qos();
        let released_pending = self
            .incoming_qos2_ids_only
            .as_ref()
            .is_some_and(|ids| ids.contains(id));
        if qos == QoS::ExactlyOnce && released_pending {
            // Acknowledged (PUBREC went out) and awaiting PUBREL: a resend is answered again
            // and never handed over twice ([MQTT-4.3.3-2] in 3.1.1, [MQTT-4.3.3-9] in 5.0).
            self.push_bounded(Packet::PubRec(Ack::new(id)), true);
            return;
        }
        if self.acks.holds(id) {
            // A resend (3.1.1 may resend within a connection) of a message the application
            // holds: its acknowledgement comes with the first copy's.
            return;
        }
        if self.v() == ProtocolVersion::V5 {
            // A message the application acknowledged on an earlier connection counts too:
            // its PUBACK / PUBREC never reached the broker, so for the broker it is one more
            // unacknowledged message (found by the session fuzz target: without this, such
            // a resend took the Session past its window).
            let unreleased = self.incoming_qos2.len() + self.incoming_qos2_ids_only();
            if self.acks.len() + unreleased >= usize::from(self.receive_maximum()) {
                // The broker may have at most Receive Maximum QoS 1/2 messages
                // unacknowledged (or unreleased) towards us [MQTT-3.3.4-9].
                return self.protocol_error(ProtocolError::new(
                    RECEIVE_MAXIMUM,
                    "more unacknowledged QoS 1/2 messages than our Receive Maximum",
                    mqtt_sansio_proto::ReasonCode::ReceiveMaximumExceeded,
                ));
            }
        }
        if self.acks.take_carried(id) {
            // Acknowledged by the application on an earlier connection; see `carried`.
            self.acks.push(id, qos, true);
            self.send_ready_acks();
            return;
        }
        let token = self.acks.push(id, qos, false);
        self.emit(Event::Message(Message::from_publish_with_ack(
            p, topic, token.seq,
        )));
    }

    /// Sends the acknowledgements at the front that the application has given.
    fn send_ready_acks(&mut self) {
        while let Some(token) = self.acks.pop_ready() {
            let id = token.id;
            if token.qos == QoS::ExactlyOnce {
                // Delivered already: only the id is kept until PUBREL, so that a resend is
                // answered and not handed over again (exactly once). Durable before the
                // PUBREC, as in the automatic flow: across a restart too.
                if !self.persist_or_close(&Record::IncomingDelivered { id }) {
                    return;
                }
                self.incoming_qos2_ids_only
                    .get_or_insert_with(|| Box::new(PacketIdSet::new()))
                    .insert(id);
                self.push_bounded(Packet::PubRec(Ack::new(id)), true);
            } else {
                self.push_bounded(Packet::PubAck(Ack::new(id)), true);
            }
        }
    }

    /// Decodes what was read while reading was paused.
    fn process_buffered(&mut self, now: Instant) {
        if self.rx.is_empty() || self.state == SessionState::Disconnected {
            return;
        }
        let limits = Limits::with_max_packet_size(self.config.max_packet_size);
        let mut rx = core::mem::take(&mut self.rx);
        let used = self.process(&rx, &limits);
        if self.state == SessionState::Disconnected {
            rx.clear();
        } else {
            rx.drain(..used.min(rx.len()));
        }
        self.rx = rx;
        self.rx_partial_since = (!self.rx.is_empty()).then_some(now);
    }
}
