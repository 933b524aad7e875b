//! Incoming application messages: PUBLISH (topic aliases, QoS 2 held until PUBREL) and PUBREL.

use alloc::string::ToString;

use mqtt_proto::{
    Ack, Packet, Properties, ProtocolVersion, Publish, QosPid, ReasonCode, TopicName,
};

use crate::error::ProtocolError;
use crate::event::Event;
use crate::message::Message;

use super::*;

impl Session {
    pub(super) fn on_publish(&mut self, p: &Publish<'_>) {
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
                self.push_bounded(Packet::PubAck(Ack::new(id)), true);
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
                self.push_bounded(Packet::PubRec(Ack::new(id)), true);
            }
        }
    }

    pub(super) fn on_pubrel(&mut self, ack: &Ack<'_>) {
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
        self.push_bounded(Packet::PubComp(comp), true);
    }
}
