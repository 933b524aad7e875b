//! Incoming application messages: PUBLISH (topic aliases, QoS 2 held until PUBREL, or past
//! the budget delivered at PUBLISH with only its id kept) and PUBREL.

use mqtt_sansio_proto::{
    Ack, Packet, Properties, ProtocolVersion, Publish, QosPid, ReasonCode, TopicName,
};

use crate::error::ProtocolError;
use crate::event::Event;
use crate::message::Message;
use crate::store::Record;

use super::*;

impl Session {
    pub(super) fn on_publish(&mut self, p: &Publish<'_>) {
        let mut topic = p.topic;
        let alias_topic;
        if let Some(alias) = p.properties.topic_alias() {
            let max = topic_alias::IncomingAliases::maximum(self.config.topic_alias_maximum);
            match self.incoming_aliases.resolve(alias, topic, max) {
                Ok(Some(t)) => {
                    alias_topic = t;
                    topic = TopicName::new(&alias_topic).unwrap_or(TopicName::EMPTY);
                }
                Ok(None) => {}
                Err(what) => {
                    return self.protocol_error(ProtocolError::new(
                        TOPIC_ALIAS_INVALID,
                        what,
                        ReasonCode::TopicAliasInvalid,
                    ))
                }
            }
        }
        #[cfg(feature = "manual-acks")]
        if let (true, Some(id)) = (self.config.acks.is_manual(), p.qos.packet_id()) {
            return self.on_publish_manual(p, topic, id);
        }
        match p.qos {
            QosPid::AtMostOnce => self.emit(Event::Message(Message::from_publish(p, topic))),
            QosPid::AtLeastOnce(id) => {
                self.emit(Event::Message(Message::from_publish(p, topic)));
                self.push_bounded(Packet::PubAck(Ack::new(id)), true);
            }
            QosPid::ExactlyOnce(id) => {
                let duplicate = self.incoming_qos2.contains_key(&id)
                    || self
                        .incoming_qos2_ids_only
                        .as_ref()
                        .is_some_and(|ids| ids.contains(id));
                if !duplicate {
                    let size = Message::stored_len_of(p, topic);
                    let held = self.incoming_qos2.len();
                    if self.v() == ProtocolVersion::V5
                        && held + self.incoming_qos2_ids_only()
                            >= usize::from(self.config.max_incoming_qos2.max(1))
                    {
                        // CONNECT announced the count as Receive Maximum (never 0), which
                        // bounds every unreleased QoS 2 message, held or id-only: exceeding
                        // it is the broker's fault [MQTT-3.3.4-9].
                        return self.protocol_error(ProtocolError::new(
                            RECEIVE_MAXIMUM,
                            "more unreleased QoS 2 messages than our Receive Maximum",
                            ReasonCode::ReceiveMaximumExceeded,
                        ));
                    }
                    let bytes_full = self.incoming_qos2_bytes.saturating_add(size)
                        > self.config.max_incoming_qos2_bytes;
                    let count_full = held >= usize::from(self.config.max_incoming_qos2);
                    if count_full || bytes_full {
                        // SPEC "Exactly once, bounded": a 3.1.1 broker cannot know our count,
                        // and no broker knows our byte budget, so closing would only make it
                        // resend the same messages forever. Keep only the id and deliver now;
                        // the id answers duplicates until PUBREL, so it is delivered once.
                        if !self.persist_or_close(&Record::IncomingDelivered { id }) {
                            return;
                        }
                        self.incoming_qos2_ids_only
                            .get_or_insert_with(|| Box::new(PacketIdSet::new()))
                            .insert(id);
                        self.emit(Event::Message(Message::from_publish(p, topic)));
                    } else {
                        let m = Message::from_publish(p, topic);
                        // Durable before the PUBREC: the broker will not send it again.
                        if !self.persist_or_close(&Record::IncomingHeld { id, message: &m }) {
                            return;
                        }
                        self.incoming_qos2_bytes += size;
                        self.incoming_qos2.insert(id, m);
                        self.emit(Event::Qos2Received { id });
                    }
                }
                // A duplicate only gets its PUBREC again; the first copy is kept (Method A),
                // or was already delivered (id only).
                self.push_bounded(Packet::PubRec(Ack::new(id)), true);
            }
        }
    }

    pub(super) fn on_pubrel(&mut self, ack: &Ack<'_>) {
        let v = self.v();
        let known = self.incoming_qos2.contains_key(&ack.packet_id)
            || self
                .incoming_qos2_ids_only
                .as_ref()
                .is_some_and(|ids| ids.contains(ack.packet_id));
        // Forgotten in the store before the application gets the message: across a restart
        // it is delivered at most once (a repeated PUBREL is answered all the same).
        if known && !self.persist_or_close(&Record::IncomingReleased { id: ack.packet_id }) {
            return;
        }
        let id_only = self
            .incoming_qos2_ids_only
            .as_mut()
            .is_some_and(|ids| ids.remove(ack.packet_id));
        let reason = match self.incoming_qos2.remove(&ack.packet_id) {
            Some(m) => {
                self.incoming_qos2_bytes = self.incoming_qos2_bytes.saturating_sub(m.stored_len());
                self.emit(Event::MessageReleased(m));
                ReasonCode::Success
            }
            // Delivered at PUBLISH (past the budget): the PUBREL only completes the flow.
            None if id_only => ReasonCode::Success,
            // Already released (our PUBCOMP was lost) or unknown: still answer PUBCOMP.
            None if v == ProtocolVersion::V5 => ReasonCode::PacketIdentifierNotFound,
            None => ReasonCode::Success,
        };
        let comp = Ack {
            packet_id: ack.packet_id,
            reason,
            properties: Properties::EMPTY,
        };
        self.push_bounded(Packet::PubComp(comp), true);
    }
}
