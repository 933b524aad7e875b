//! Connection life: CONNECT, CONNACK, what a resumed or lost session means, and DISCONNECT.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mqtt_sansio_proto::{
    ConnAck, Connect, Disconnect, Limits, Packet, Properties, PropertiesBuf, Property,
    ProtocolVersion, QoS, ReasonCode, SubscriptionOptions,
};

use crate::ack_properties::{AckProperties, ConnAckProperties, ServerReference};
use crate::config::{ConnectOptions, NO_PACKET_SIZE_LIMIT};
use crate::error::{ConnectError, DisconnectError, DisconnectReason, PublishFailure};
use crate::event::Event;
use crate::outgoing::{OutgoingState, Request, RequestKind};
use crate::store::Record;
use crate::time::Instant;

use super::*;

impl Session {
    /// Starts the MQTT handshake on a transport the caller just opened: queues CONNECT.
    ///
    /// The outcome arrives as [`Event::Connected`] or [`Event::ConnectRefused`]; without a
    /// CONNACK within `connack_timeout` the connection ends with
    /// [`DisconnectReason::ConnAckTimeout`].
    ///
    /// Refused, with nothing queued: a configuration [`SessionConfig::validate`] rejects
    /// (transports check it before opening the socket), a CONNECT property the Session sets
    /// itself ([`ConnectError::PropertySetBySession`]), or options that cannot be encoded.
    ///
    /// [`SessionConfig::validate`]: crate::SessionConfig::validate
    pub fn connect(
        &mut self,
        now: Instant,
        options: &ConnectOptions<'_>,
    ) -> Result<(), ConnectError> {
        let now = self.advance(now);
        if self.state != SessionState::Disconnected {
            return Err(ConnectError::AlreadyConnected);
        }
        self.config.validate()?;
        let mut props = PropertiesBuf::new();
        let v = self.v();
        let auth_method =
            self.connect_auth_properties(&mut props, options.properties.authentication_method())?;
        if v == ProtocolVersion::V5 {
            for p in options.properties.iter() {
                if SESSION_SET_PROPERTIES.contains(&p.id()) {
                    // One source of truth: the value the Session enforces (its Receive
                    // Maximum, its packet size limit, ...) is the one the broker is told.
                    return Err(ConnectError::PropertySetBySession { property: p.id() });
                }
            }
            let alias_max = IncomingAliases::maximum(self.config.topic_alias_maximum);
            // Only what differs from the protocol defaults, in this fixed order (SPEC "On
            // the wire"); an absent property means the default (5.0 §3.1.2.11).
            let ours = [
                (self.session_expiry() != 0)
                    .then_some(Property::SessionExpiryInterval(self.session_expiry())),
                (self.receive_maximum() != u16::MAX)
                    .then_some(Property::ReceiveMaximum(self.receive_maximum())),
                (self.config.max_packet_size < NO_PACKET_SIZE_LIMIT).then_some(
                    Property::MaximumPacketSize(self.config.max_packet_size.max(1)),
                ),
                (alias_max != 0).then_some(Property::TopicAliasMaximum(alias_max)),
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
        packet
            .encoded_len_to_server(v)
            .map_err(ConnectError::Invalid)?;
        // Also the rest of a packet started on the old transport.
        self.tx.reset();
        self.rx.clear();
        self.tx.push(&packet, v).map_err(ConnectError::Invalid)?;
        self.state = SessionState::Connecting;
        self.keep_alive_secs = options.keep_alive;
        self.connack_deadline = now.saturating_add(self.config.connack_timeout);
        self.last_sent = now;
        self.last_received = now;
        self.next_retry = None;
        self.ping_outstanding = false;
        self.peer = PeerLimits::DEFAULT;
        self.incoming_aliases.clear();
        self.auth_method = auth_method;
        self.reauthenticating = false;
        self.rejected_candidate = None;
        // Every alias is forgotten with the old connection [MQTT-3.3.2-7]; none may be used
        // before CONNACK tells the broker's maximum.
        self.aliases.reset(0);
        Ok(())
    }

    /// Ends the connection cleanly: queues DISCONNECT (so the broker discards the will) and
    /// emits [`Event::Disconnected`] with [`DisconnectReason::Local`]. Drain
    /// `poll_transmit`, then close the transport. Unacknowledged messages are kept for the
    /// next connection.
    pub fn disconnect(&mut self, now: Instant, reason: ReasonCode) {
        // Without properties nothing can be refused.
        let _ = self.disconnect_with_properties(now, reason, Properties::EMPTY);
    }

    /// [`disconnect`](Self::disconnect) with MQTT 5.0 DISCONNECT properties: Session Expiry
    /// Interval, Reason String, User Property.
    ///
    /// A reason code DISCONNECT does not allow becomes Normal disconnection (0x00), as in
    /// `disconnect` (3.1.1's DISCONNECT has no reason code). Properties DISCONNECT does not
    /// allow, and any property in 3.1.1, are refused with [`DisconnectError::Invalid`].
    ///
    /// A Session Expiry Interval changes how long the broker keeps the session after this
    /// connection. It is refused when the CONNECT said 0 [MQTT-3.14.2-2]. When accepted it is
    /// also remembered in [`SessionConfig::session_expiry_interval`] and sent with the next
    /// CONNECT: the broker now holds the session under the new interval, and reconnecting
    /// with the old one would silently undo the application's choice.
    ///
    /// Errors change nothing: the connection stays up.
    pub fn disconnect_with_properties(
        &mut self,
        now: Instant,
        reason: ReasonCode,
        properties: Properties<'_>,
    ) -> Result<(), DisconnectError> {
        self.advance(now);
        if self.state == SessionState::Disconnected {
            return Ok(());
        }
        let v5 = self.v() == ProtocolVersion::V5;
        let reason = if v5 && reason.is_valid_for(mqtt_sansio_proto::PacketType::Disconnect) {
            reason
        } else {
            ReasonCode::NORMAL_DISCONNECTION
        };
        let packet = Packet::Disconnect(Disconnect { reason, properties });
        // Properties DISCONNECT does not allow, any in 3.1.1, or too long: refused here.
        packet
            .encoded_len_to_server(self.v())
            .map_err(DisconnectError::Invalid)?;
        let new_expiry = properties.session_expiry_interval();
        if new_expiry.is_some_and(|e| e != 0) && self.session_expiry() == 0 {
            return Err(DisconnectError::SessionExpiryAfterZero);
        }
        self.push_bounded(packet, false);
        if let Some(expiry) = new_expiry {
            self.config.session_expiry_interval = Some(expiry);
        }
        self.connection_ended(DisconnectReason::Local);
        Ok(())
    }

    /// The Session Expiry Interval the CONNECT carries (5.0): the configured one, else 0
    /// with a clean session and "never expires" without (3.1.1's persistent session).
    pub(super) fn session_expiry(&self) -> u32 {
        self.config
            .session_expiry_interval
            .unwrap_or(if self.config.clean_session {
                0
            } else {
                u32::MAX
            })
    }

    /// The Receive Maximum the CONNECT carries; 0 is a protocol error (5.0 §3.1.2.11.3).
    pub(super) fn receive_maximum(&self) -> u16 {
        let qos2 = self.config.max_incoming_qos2.max(1);
        // Manual acknowledgements: the broker must not send more than the window either.
        self.config.acks.window().map_or(qos2, |w| qos2.min(w))
    }

    // Out of line: it runs once per connection, and inlined into `process` it made that function
    // larger than the call costs (issue 15: flash).
    #[inline(never)]
    pub(super) fn on_connack(&mut self, ack: &ConnAck<'_>) {
        if self.state != SessionState::Connecting {
            return self.violation(CONNACK_TWICE, "a second CONNACK on the same connection");
        }
        if ack.reason != ReasonCode::Success {
            // 0x9C / 0x9D come with a Server Reference the application may follow (§4.11).
            // Both events get them: read twice from the packet rather than cloned, which
            // would link the clones of both types (issue 15: flash).
            self.emit(Event::ConnectRefused {
                reason: ack.reason,
                server_reference: ServerReference::from_properties(&ack.properties),
                properties: AckProperties::from_properties(&ack.properties),
            });
            self.tx.clear();
            self.connection_ended_with(
                DisconnectReason::Refused(ack.reason),
                ServerReference::from_properties(&ack.properties),
                AckProperties::from_properties(&ack.properties),
            );
            return;
        }
        if ack.session_present && self.config.clean_session {
            // With a clean session the server must report no session [MQTT-3.2.2-1]/[MQTT-3.2.2-2].
            return self.violation(
                SESSION_PRESENT_CLEAN,
                "session present with a clean session",
            );
        }
        if !self.verify_connack_auth(ack) {
            return;
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
            // Absent means 0: no aliases towards this broker [MQTT-3.2.2-17]/[MQTT-3.2.2-18].
            self.aliases.reset(p.topic_alias_maximum().unwrap_or(0));
            if let Some(ka) = p.server_keep_alive() {
                // The server's keep alive replaces ours [MQTT-3.2.2-21].
                self.keep_alive_secs = ka;
            }
            if let Some(id) = p.assigned_client_identifier() {
                // Reused on reconnect so a persistent session can be resumed.
                self.config.client_id = id.to_string();
            }
        }
        self.state = SessionState::Connected;
        self.emit(Event::Connected {
            session_present: ack.session_present,
            properties: Box::new(ConnAckProperties::from_properties(&ack.properties)),
        });
        if !ack.session_present {
            self.session_not_resumed();
        }
        // Whatever was queued before this CONNACK was checked against an older limit (or
        // none) [MQTT-3.2.2-15].
        self.fail_oversized();
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
    pub(super) fn session_not_resumed(&mut self) {
        let had_state = !self.outgoing.is_empty()
            || !self.incoming_qos2.is_empty()
            || !self.subscriptions.is_empty();
        if (!self.incoming_qos2.is_empty() || self.incoming_qos2_ids_only.is_some())
            && !self.persist(&Record::IncomingCleared)
        {
            // Delivering them anyway: the broker's session that could resend them is gone.
            self.store_failed();
        }
        // The broker will never send PUBREL for these: deliver them now, once.
        let released = self.incoming_qos2.len();
        self.incoming_qos2_bytes = 0;
        for (_, m) in core::mem::take(&mut self.incoming_qos2) {
            self.emit(Event::MessageReleased(m));
        }
        // The broker's copies of failed messages are gone with its session.
        for id in core::mem::take(&mut self.held_ids) {
            self.ids.remove(id);
            self.persist_completed(id);
        }
        // Those were delivered at PUBLISH already; the new session will never release them,
        // and their ids may be reused for new messages.
        self.incoming_qos2_ids_only = None;
        self.acks.session_lost();
        let mut resent = 0;
        let mut unconfirmed = 0;
        let ids = &mut self.ids;
        let events = &mut self.events;
        self.outgoing.retain(&mut |o| match o.state {
            OutgoingState::AwaitingPubComp => {
                // PUBREC said the broker has it; sending it again could deliver it twice.
                // Its completion fails on its own id (SPEC "Exactly once, bounded": "session
                // lost, unconfirmed"), so a waiter needs no guess from SessionLost's count.
                unconfirmed += 1;
                ids.remove(o.id);
                events.push_back(Event::PublishFailed {
                    id: Some(o.id),
                    qos: QoS::ExactlyOnce,
                    reason: PublishFailure::Unconfirmed,
                });
                false
            }
            _ => {
                resent += 1;
                o.published_before = false;
                true
            }
        });
        self.unsent = self.outgoing.len();
        self.queued.clear_dup();
        // Without the store feature `persist_completed` does nothing: no list to build.
        #[cfg(feature = "store")]
        let failed: Vec<PacketId> = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::PublishFailed {
                    id: Some(id),
                    reason: PublishFailure::Unconfirmed,
                    ..
                } => Some(*id),
                _ => None,
            })
            .collect();
        #[cfg(feature = "store")]
        for id in failed {
            self.persist_completed(id);
        }
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
            if !self.subscriptions.is_empty() && !self.persist(&Record::SubscriptionsCleared) {
                self.store_failed();
            }
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
}

/// CONNECT properties the Session derives from [`SessionConfig`](crate::SessionConfig) and
/// therefore refuses in [`ConnectOptions::properties`]: Session Expiry Interval (0x11),
/// Receive Maximum (0x21), Maximum Packet Size (0x27), Topic Alias Maximum (0x22).
const SESSION_SET_PROPERTIES: [u8; 4] = [0x11, 0x21, 0x27, 0x22];
