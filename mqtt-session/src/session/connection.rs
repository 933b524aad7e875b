//! Connection life: CONNECT, CONNACK, what a resumed or lost session means, and DISCONNECT.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use mqtt_proto::{
    ConnAck, Connect, Disconnect, Limits, Packet, Properties, PropertiesBuf, Property,
    ProtocolVersion, QoS, ReasonCode, SubscriptionOptions,
};

use crate::config::ConnectOptions;
use crate::error::{ConnectError, DisconnectReason};
use crate::event::Event;
use crate::outgoing::{OutgoingState, Request, RequestKind};
use crate::time::Instant;

use super::*;

impl Session {
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
        let auth_method =
            self.connect_auth_properties(&mut props, options.properties.authentication_method())?;
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
        self.auth_method = auth_method;
        self.reauthenticating = false;
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
        self.push_bounded(packet, false);
        self.connection_ended(DisconnectReason::Local);
    }

    pub(super) fn on_connack(&mut self, ack: &ConnAck<'_>) {
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
        // The broker will never send PUBREL for these: deliver them now, once.
        let released = self.incoming_qos2.len();
        self.incoming_qos2_bytes = 0;
        for (_, m) in core::mem::take(&mut self.incoming_qos2) {
            self.emit(Event::MessageReleased(m));
        }
        // The broker's copies of failed messages are gone with its session.
        for id in core::mem::take(&mut self.held_ids) {
            self.ids.remove(id);
        }
        // Those were delivered at PUBLISH already; the new session will never release them,
        // and their ids may be reused for new messages.
        self.incoming_qos2_ids_only = None;
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
}
