//! Every packet we send within the broker's Maximum Packet Size [MQTT-3.2.2-15]: control
//! packets the Session composes itself, and everything queued before a CONNACK that set or
//! lowered the limit.

use mqtt_sansio_proto::{
    Ack, Disconnect, Packet, Properties, ProtocolVersion, Publish, QoS, QosPid,
};

use crate::error::{PublishFailure, RequestFailure};
use crate::event::{Command, Event};
use crate::outgoing::{OutgoingState, RequestKind};
use crate::transmit::TransmitQueue;

use super::subscriptions::request_packet;
use super::*;

impl Session {
    /// Queues an acknowledgement, PINGREQ or DISCONNECT within the broker's limit (see
    /// [`push_within`]); `reply` marks an answer to a broker packet.
    pub(super) fn push_bounded(&mut self, packet: Packet<'_>, reply: bool) {
        let max = self.peer.max_packet_size as usize;
        let v = self.v();
        push_within(&mut self.tx, packet, max, v, reply);
    }

    /// After CONNACK: gives up what was accepted under an older (or no) limit and no longer
    /// fits [MQTT-3.2.2-15] — queued publishes, in-flight publishes that would be sent again,
    /// pending SUBSCRIBE/UNSUBSCRIBE — each with a failure event and its packet id freed, so
    /// that everything behind it flows.
    pub(super) fn fail_oversized(&mut self) {
        let max = self.peer.max_packet_size as usize;
        if max >= Limits::PROTOCOL_MAX_PACKET_SIZE as usize {
            // Everything was checked against a limit no larger than this one.
            return;
        }
        let v = self.v();
        let too_large = |p: Packet<'_>| p.encoded_len_to_server(v).ok().filter(|&len| len > max);
        // Failures go straight to the event queue, in the order found (outgoing, queued,
        // requests), without a staging `Vec` (issue 15: flash).
        #[cfg(feature = "store")]
        let first_new = self.events.len();
        let failed = &mut self.events;

        let ids = &mut self.ids;
        let held_ids = &mut self.held_ids;
        self.outgoing.retain(&mut |o| {
            let m = match &o.state {
                OutgoingState::AwaitingAck(m) => m,
                // Only a 4-byte PUBREL is ever sent again for it.
                OutgoingState::AwaitingPubComp => return true,
            };
            let probe = Publish {
                dup: o.published_before,
                qos: QosPid::new(m.qos, o.id),
                retain: m.retain,
                topic: m.topic_name(),
                properties: m.properties(),
                payload: m.payload(),
            };
            match too_large(Packet::Publish(probe)) {
                Some(len) => {
                    // `published_before` survives only when the broker resumed the session
                    // (session_not_resumed clears it): it may hold this QoS 2 message,
                    // awaiting a PUBREL that will never come, and would take a new message
                    // under the same id for a duplicate of it (5.0 §4.3.3). Keep the id
                    // out of use until that session ends.
                    if m.qos == QoS::ExactlyOnce && o.published_before {
                        held_ids.push(o.id);
                    } else {
                        ids.remove(o.id);
                    }
                    failed.push_back(Event::PublishFailed {
                        id: Some(o.id),
                        qos: m.qos,
                        reason: PublishFailure::PacketTooLarge { len, max },
                    });
                    false
                }
                None => true,
            }
        });
        self.unsent = self
            .outgoing
            .iter()
            .filter(|o| !o.sent_on_connection)
            .count();

        self.queued.retain(|m| {
            let probe = Publish {
                dup: false,
                qos: m
                    .packet_id
                    .map_or(QosPid::AtMostOnce, |id| QosPid::new(m.qos, id)),
                retain: m.retain,
                topic: m.topic_name(),
                properties: m.properties(),
                payload: m.payload(),
            };
            match too_large(Packet::Publish(probe)) {
                Some(len) => {
                    if let Some(id) = m.packet_id {
                        ids.remove(id);
                    }
                    failed.push_back(Event::PublishFailed {
                        id: m.packet_id,
                        qos: m.qos,
                        reason: PublishFailure::PacketTooLarge { len, max },
                    });
                    false
                }
                None => true,
            }
        });

        let auto_resubscribe = &mut self.auto_resubscribe;
        self.requests
            .retain(&mut |r| match too_large(request_packet(r)) {
                Some(len) => {
                    ids.remove(r.id);
                    if *auto_resubscribe == Some(r.id) {
                        *auto_resubscribe = None;
                    }
                    failed.push_back(Event::RequestFailed {
                        id: r.id,
                        command: match r.kind {
                            RequestKind::Subscribe(_) => Command::SubAck,
                            RequestKind::Unsubscribe(_) => Command::UnsubAck,
                        },
                        reason: RequestFailure::PacketTooLarge { len, max },
                    });
                    false
                }
                None => true,
            });

        // A publish given up here is a finished flow for the session store too.
        #[cfg(feature = "store")]
        if self.has_store() {
            let given_up: Vec<PacketId> = self
                .events
                .iter()
                .skip(first_new)
                .filter_map(|e| match e {
                    Event::PublishFailed { id: Some(id), .. } => Some(*id),
                    _ => None,
                })
                .collect();
            for id in given_up {
                self.persist_completed(id);
            }
        }
    }
}

/// Queues a packet the Session composes itself (acknowledgement, PINGREQ, DISCONNECT) so that
/// it never exceeds the broker's Maximum Packet Size `max` [MQTT-3.2.2-15]: when it would,
/// its optional properties (reason string, user properties) are left out, as the rules for
/// each packet allow [MQTT-3.4.2-2] / [MQTT-3.14.2-3]. A packet that does not fit even then
/// (a broker limit of 2 or 3 bytes) is not sent at all: the limit is the broker's to set,
/// and exceeding it is never allowed.
pub(super) fn push_within(
    tx: &mut TransmitQueue,
    packet: Packet<'_>,
    max: usize,
    v: ProtocolVersion,
    reply: bool,
) {
    let fits = |p: &Packet<'_>| p.encoded_len_to_server(v).is_ok_and(|len| len <= max);
    // The common case costs nothing: no control packet comes near MQTT's own limit.
    let packet = if v == ProtocolVersion::V311
        || max >= Limits::PROTOCOL_MAX_PACKET_SIZE as usize
        || fits(&packet)
    {
        packet
    } else {
        let packet = without_properties(packet);
        if !fits(&packet) {
            return;
        }
        packet
    };
    let _ = if reply {
        tx.push_reply(&packet, v)
    } else {
        tx.push(&packet, v)
    };
}

/// The same packet with its optional properties left out.
fn without_properties(packet: Packet<'_>) -> Packet<'_> {
    let strip = |a: Ack<'_>| Ack {
        properties: Properties::EMPTY,
        ..a
    };
    match packet {
        Packet::PubAck(a) => Packet::PubAck(strip(a)),
        Packet::PubRec(a) => Packet::PubRec(strip(a)),
        Packet::PubRel(a) => Packet::PubRel(strip(a)),
        Packet::PubComp(a) => Packet::PubComp(strip(a)),
        Packet::Disconnect(d) => Packet::Disconnect(Disconnect {
            properties: Properties::EMPTY,
            ..d
        }),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use mqtt_sansio_proto::{PacketId, PropertiesBuf, Property, ReasonCode};

    use super::*;

    fn popped(tx: &mut TransmitQueue) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        let mut out = Vec::new();
        while tx.pop_into(&mut out).is_some() {
            all.push(core::mem::take(&mut out));
        }
        all
    }

    #[test]
    fn an_ack_drops_its_reason_string_and_user_properties_rather_than_exceed_the_limit() {
        // [MQTT-3.4.2-2] (reason string) and [MQTT-3.4.2-3] (user properties) of PUBACK.
        let mut props = PropertiesBuf::new();
        props
            .push(Property::ReasonString("quota exceeded for this client"))
            .unwrap()
            .push(Property::UserProperty("k", "v"))
            .unwrap();
        let ack = Ack {
            packet_id: PacketId::new(7).unwrap(),
            reason: ReasonCode::QuotaExceeded,
            properties: props.as_properties(),
        };
        let v = ProtocolVersion::V5;
        let full = Packet::PubAck(ack).encoded_len(v).unwrap();
        let mut tx = TransmitQueue::default();

        // Room for everything: sent as is.
        push_within(&mut tx, Packet::PubAck(ack), full, v, true);
        assert_eq!(popped(&mut tx)[0].len(), full);

        // One byte less: the properties go, the reason code stays.
        push_within(&mut tx, Packet::PubAck(ack), full - 1, v, true);
        assert_eq!(popped(&mut tx), vec![vec![0x40, 0x03, 0x00, 0x07, 0x97]]);

        // Not even that fits: nothing is sent.
        push_within(&mut tx, Packet::PubAck(ack), 4, v, true);
        assert!(popped(&mut tx).is_empty());
    }

    #[test]
    fn a_disconnect_drops_its_properties_rather_than_exceed_the_limit() {
        // [MQTT-3.14.2-3] (reason string) and [MQTT-3.14.2-4] (user properties).
        let mut props = PropertiesBuf::new();
        props.push(Property::ReasonString("bye")).unwrap();
        let d = Disconnect {
            reason: ReasonCode::ProtocolError,
            properties: props.as_properties(),
        };
        let mut tx = TransmitQueue::default();
        push_within(
            &mut tx,
            Packet::Disconnect(d),
            4,
            ProtocolVersion::V5,
            false,
        );
        assert_eq!(popped(&mut tx), vec![vec![0xE0, 0x01, 0x82]]);
    }
}
