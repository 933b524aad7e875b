//! Outgoing application messages: the QoS 1/2 window, the queue behind it, and the
//! PUBACK / PUBREC / PUBCOMP flows.

use mqtt_sansio_proto::{
    Ack, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode, TopicName,
};

use crate::ack_properties::AckProperties;
use crate::error::PublishError;
use crate::event::Event;
use crate::message::Message;
use crate::outgoing::{Outgoing, OutgoingState};
use crate::store::Record;
use crate::time::Instant;
use crate::transmit::TransmitQueue;

use super::packet_size::push_within;
use super::subscriptions::encode_request;
use super::topic_alias::OutgoingAliases;
use super::*;

impl Session {
    /// Publishes a message; returns its packet identifier (the seed's `mid`), `None` for QoS 0.
    ///
    /// QoS 1/2 messages are kept until acknowledged, across reconnects. While disconnected,
    /// or while the in-flight window is full, the message is queued (see
    /// [`SessionConfig::max_queued`]). Completion arrives as [`Event::PubAck`] (QoS 1) or
    /// [`Event::PubComp`] (QoS 2) carrying the identifier.
    ///
    /// Without the cargo feature `offline-queue` nothing is queued: while not connected, or
    /// with the window full, the publish is refused with [`PublishError::QueueFull`]
    /// (nothing changes; [`Event::PublishUnblocked`] follows when a connection or the window
    /// has room), as with `max_queued = 0`. Messages already in the window are still resent
    /// after a reconnect [MQTT-4.4.0-1].
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
    ///
    /// A Topic Alias property is accepted only with
    /// [`TopicAliasPolicy::Manual`](crate::TopicAliasPolicy::Manual), always with the full
    /// topic: the Session decides per connection whether the topic goes with it.
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
        if let Some(alias) = properties.topic_alias() {
            // Aliases are the Session's to manage unless the caller asked for Manual.
            let manual = v == ProtocolVersion::V5 && self.aliases.is_manual();
            if !manual {
                return Err(PublishError::TopicAliasNotAllowed);
            }
            // 0 is not an alias [MQTT-3.3.2-8], and none may exceed the broker's Topic Alias
            // Maximum [MQTT-3.3.2-9]. While disconnected the next broker's maximum is not
            // known: the alias is checked again when the message is transmitted.
            let max = self.aliases.limit();
            if alias == 0 || (self.is_connected() && alias > max) {
                return Err(PublishError::TopicAliasInvalid { alias, max });
            }
        }
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
            .encoded_len_to_server(v)
            .map_err(PublishError::Invalid)?;
        let max = self.peer.max_packet_size as usize;
        if len > max {
            return Err(PublishError::PacketTooLarge { len, max });
        }
        let direct = self.is_connected() && self.queued.is_empty();
        // What holding the message costs in the queue, and room for it by the policy.
        let stored = topic.as_str().len() + properties.as_bytes().len() + payload.len();
        if !direct {
            self.expire_queued();
        }
        if qos == QoS::AtMostOnce {
            if direct {
                if self.tx.bytes() > self.config.max_transmit_bytes {
                    self.blocked = true;
                    return Err(PublishError::QueueFull);
                }
                self.aliases
                    .push_publish(&mut self.tx, probe, max, v)
                    .map_err(PublishError::Invalid)?;
                return Ok(None);
            }
            let Some(plan) = self.queue_room_plan(stored) else {
                self.blocked = true;
                return Err(PublishError::QueueFull);
            };
            self.enqueue(
                plan,
                Message::build(topic, properties, payload, qos, retain, false, None),
            );
            return Ok(None);
        }
        let to_window = direct && self.window_has_room();
        let plan = if to_window {
            None
        } else {
            let Some(plan) = self.queue_room_plan(stored) else {
                self.blocked = true;
                return Err(PublishError::QueueFull);
            };
            Some(plan)
        };
        let id = self
            .ids
            .allocate()
            .ok_or(PublishError::PacketIdsExhausted)?;
        let message = Message::build(topic, properties, payload, qos, retain, false, Some(id));
        // Durable before any PUBLISH of it can be handed out (see `crate::store`).
        if !self.persist(&Record::Publish {
            id,
            message: &message,
        }) {
            self.ids.remove(id);
            return Err(PublishError::StoreFailed);
        }
        match plan {
            None => {
                self.push_outgoing(message);
                #[cfg(feature = "fast-paths")]
                self.transmit_new(topic, max, v);
                self.pump();
            }
            Some(plan) => self.enqueue(plan, message),
        }
        Ok(Some(id))
    }

    /// Transmits what the window and the connection allow, in order: requests, outgoing
    /// messages not yet sent on this connection, then the queue.
    pub(super) fn pump(&mut self) {
        if self.state != SessionState::Connected {
            return;
        }
        // Expired messages go first, so none is sent after its time [MQTT-3.3.2-5].
        self.expire_queued();
        let v = self.v();
        let max = self.peer.max_packet_size as usize;
        // Encoded from the stored request in place: the window and the transmit queue are
        // separate fields (a clone of the request here cost flash and an allocation each).
        for r in self.requests.iter_mut() {
            if r.sent_on_connection {
                continue;
            }
            r.sent_on_connection = true;
            encode_request(&mut self.tx, r, v);
        }
        if self.unsent > 0 {
            let window = self.window();
            let mut sent = self.outgoing.len() - self.unsent;
            // Unsent entries normally form a suffix (sending goes front to back, new entries
            // join at the back): start there, so a publish costs O(1), not O(window). Only a
            // misbehaving broker's PUBREC can break the suffix; then scan everything.
            let suffix = self.outgoing.len() - self.unsent;
            let start = if self
                .outgoing
                .iter_from(suffix)
                .all(|o| !o.sent_on_connection)
            {
                suffix
            } else {
                0
            };
            for o in self.outgoing.iter_mut_from(start) {
                if sent >= window {
                    break;
                }
                if o.sent_on_connection {
                    continue;
                }
                transmit_outgoing(&mut self.tx, &mut self.aliases, o, None, max, v);
                self.unsent -= 1;
                sent += 1;
            }
        }
        while self.unsent == 0 {
            let Some(front) = self.queued.front() else {
                break;
            };
            if front.qos == QoS::AtMostOnce {
                if let Some(m) = self.queued.pop_front(self.now) {
                    let topic = m.topic_name();
                    let p = Publish {
                        dup: false,
                        qos: QosPid::AtMostOnce,
                        retain: m.retain,
                        topic,
                        properties: m.properties(),
                        payload: m.payload(),
                    };
                    let _ = self.aliases.push_publish(&mut self.tx, p, max, v);
                }
                continue;
            }
            if !self.window_has_room() {
                break;
            }
            if let Some(m) = self.queued.pop_front(self.now) {
                self.push_outgoing(m);
                if let Some(o) = self.outgoing.last_mut() {
                    transmit_outgoing(&mut self.tx, &mut self.aliases, o, None, max, v);
                    self.unsent -= 1;
                }
            }
        }
        self.unblock_if_room();
    }

    /// Sends the publish just put into the window, encoded from the caller's topic (validated
    /// by the publish call: the stored copy need not be checked again, about 6% of a QoS 1
    /// publish), when nothing is waiting to go before it: no other unsent entry of the window
    /// and no unsent request, so the order on the wire is the one `pump` would give.
    /// Otherwise `pump` sends it in turn.
    #[cfg(feature = "fast-paths")]
    fn transmit_new(&mut self, topic: TopicName<'_>, max: usize, v: ProtocolVersion) {
        if self.state != SessionState::Connected
            || self.unsent != 1
            || self.requests.iter().any(|r| !r.sent_on_connection)
        {
            return;
        }
        if let Some(o) = self.outgoing.last_mut() {
            transmit_outgoing(&mut self.tx, &mut self.aliases, o, Some(topic), max, v);
            self.unsent -= 1;
        }
    }

    pub(super) fn push_outgoing(&mut self, message: Message) {
        let Some(id) = message.packet_id else { return };
        let state = OutgoingState::AwaitingAck(message);
        // Grown toward the window, not past it: the window bounds what is in flight.
        let window = self.window();
        self.outgoing.grow_by_half(4, window);
        // A message restored from the store past the window may have gone out before the
        // restart (see `requeue_past_window`): its DUP says so [MQTT-3.3.1-1].
        let maybe_sent = match &state {
            OutgoingState::AwaitingAck(m) => m.dup,
            OutgoingState::AwaitingPubComp => false,
        };
        self.outgoing.push_back(Outgoing {
            id,
            state,
            published_before: maybe_sent,
            sent_on_connection: false,
            ever_sent: maybe_sent,
        });
        self.unsent += 1;
    }

    /// Only the flag is tested on every packet handed out; the rest is rare.
    pub(super) fn unblock_if_room(&mut self) {
        if self.blocked {
            self.unblock_blocked();
        }
    }

    #[cold]
    #[inline(never)]
    fn unblock_blocked(&mut self) {
        // Room for every QoS: a refused QoS 0 publish waits on the transmit buffer, a refused
        // QoS 1/2 publish on the window or the queue.
        if self.can_publish(QoS::ExactlyOnce) && self.can_publish(QoS::AtMostOnce) {
            self.blocked = false;
            self.emit(Event::PublishUnblocked);
        }
    }

    pub(super) fn retry_v311(&mut self, now: Instant) {
        let v = self.v();
        let max = self.peer.max_packet_size as usize;
        // Only when everything queued before was handed out: while the transport is not
        // taking bytes, each interval would add another copy of every message in flight and
        // the transmit buffer would grow without bound (found by tests/state_machine.rs:
        // `v311_retry_does_not_pile_up_while_the_transport_is_stalled`).
        if self.tx.is_empty() {
            for o in self.outgoing.iter_mut().filter(|o| o.sent_on_connection) {
                transmit_outgoing(&mut self.tx, &mut self.aliases, o, None, max, v);
            }
        }
        self.next_retry = self
            .config
            .retry_interval_v311
            .map(|d| now.saturating_add(d));
    }

    pub(super) fn find_outgoing(&self, id: PacketId) -> Option<usize> {
        self.outgoing.iter().position(|o| o.id == id)
    }

    pub(super) fn complete_outgoing(&mut self, index: usize) {
        // Acknowledgements mostly complete the oldest message: `pop_front` moves nothing.
        let removed = if index == 0 {
            self.outgoing.pop_front()
        } else {
            self.outgoing.remove(index)
        };
        if let Some(o) = removed {
            if !o.sent_on_connection {
                self.unsent = self.unsent.saturating_sub(1);
            }
            self.ids.remove(o.id);
            self.persist_completed(o.id);
        }
        self.pump();
    }

    pub(super) fn on_puback(&mut self, ack: &Ack<'_>) {
        let Some(i) = self.find_outgoing(ack.packet_id) else {
            // Not ours (or already completed): nothing to do.
            return;
        };
        if !matches!(
            self.outgoing.get(i).map(|o| &o.state),
            Some(OutgoingState::AwaitingAck(m)) if m.qos == QoS::AtLeastOnce
        ) {
            return self.violation(ACK_MISMATCH, "PUBACK for a message that is not QoS 1");
        }
        self.emit(Event::PubAck {
            id: ack.packet_id,
            reason: ack.reason,
            properties: AckProperties::from_properties(&ack.properties),
        });
        self.complete_outgoing(i);
    }

    pub(super) fn on_pubrec(&mut self, ack: &Ack<'_>) {
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
            self.push_bounded(Packet::PubRel(rel), true);
            return;
        };
        let Some(o) = self.outgoing.get(i) else {
            return;
        };
        match &o.state {
            OutgoingState::AwaitingAck(m) if m.qos != QoS::ExactlyOnce => {
                self.violation(ACK_MISMATCH, "PUBREC for a message that is not QoS 2")
            }
            OutgoingState::AwaitingPubComp => {
                // A repeated PUBREC: answer with PUBREL again.
                self.push_bounded(Packet::PubRel(Ack::new(ack.packet_id)), true);
            }
            OutgoingState::AwaitingAck(_) => {
                self.emit(Event::PubRec {
                    id: ack.packet_id,
                    reason: ack.reason,
                    properties: AckProperties::from_properties(&ack.properties),
                });
                if ack.reason.is_error() {
                    // 5.0: a failing PUBREC ends the flow (§4.3.3).
                    return self.complete_outgoing(i);
                }
                // Durable before the PUBREL goes out: from now on the PUBLISH must never be
                // sent again, across restarts too (§4.3.3).
                if !self.persist_or_close(&Record::Released { id: ack.packet_id }) {
                    return;
                }
                let mut release = false;
                if let Some(o) = self.outgoing.get_mut(i) {
                    // The payload is dropped: from now on only PUBREL is ever sent.
                    o.state = OutgoingState::AwaitingPubComp;
                    release = o.sent_on_connection;
                }
                if release {
                    self.push_bounded(Packet::PubRel(Ack::new(ack.packet_id)), true);
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
                    self.outgoing.move_entry(i, j);
                }
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, ack: &Ack<'_>) {
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
            properties: AckProperties::from_properties(&ack.properties),
        });
        self.complete_outgoing(i);
    }
}

/// Queues the PUBLISH (with DUP when it went out before, with the alias form chosen now) or
/// the PUBREL of `o`, within the broker's Maximum Packet Size `max`. `topic`: the message's
/// topic when the caller holds it validated already (its first transmission, from the
/// publish call), so the stored copy is not checked again.
pub(super) fn transmit_outgoing(
    tx: &mut TransmitQueue,
    aliases: &mut OutgoingAliases,
    o: &mut Outgoing,
    topic: Option<TopicName<'_>>,
    max: usize,
    v: ProtocolVersion,
) {
    let packet = match &o.state {
        OutgoingState::AwaitingAck(m) => {
            let p = Publish {
                // A re-delivery carries DUP [MQTT-3.3.1-1].
                dup: o.published_before,
                qos: QosPid::new(m.qos, o.id),
                retain: m.retain,
                topic: topic.unwrap_or_else(|| m.topic_name()),
                properties: m.properties(),
                payload: m.payload(),
            };
            let _ = aliases.push_publish(tx, p, max, v);
            o.published_before = true;
            o.ever_sent = true;
            o.sent_on_connection = true;
            return;
        }
        // PUBREL has fixed flags and never carries DUP [MQTT-3.6.1-1].
        OutgoingState::AwaitingPubComp => Packet::PubRel(Ack::new(o.id)),
    };
    push_within(tx, packet, max, v, false);
    o.sent_on_connection = true;
}
