//! A compact binary form of [`Record`]s, for stores that keep bytes.
//!
//! `tag, fields...`; integers big-endian. The message body is `qos, retain, topic length
//! (u16), topic, properties length (u32), properties, payload (the rest)`. Framing (length,
//! checksum) is the store's business.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use mqtt_sansio_proto::{
    PacketId, Properties, PropertyContext, QoS, RetainHandling, SubscriptionOptions, TopicName,
};

use super::{Record, StoreError};
use crate::message::Message;

const PUBLISH: u8 = 1;
const RELEASED: u8 = 2;
const COMPLETED: u8 = 3;
const INCOMING_HELD: u8 = 4;
const INCOMING_DELIVERED: u8 = 5;
const INCOMING_RELEASED: u8 = 6;
const INCOMING_CLEARED: u8 = 7;
const SUBSCRIBED: u8 = 8;
const UNSUBSCRIBED: u8 = 9;
const SUBSCRIPTIONS_CLEARED: u8 = 10;
const HELD: u8 = 11;

/// A decoded record that owns its message or filter; [`as_record`](Self::as_record) borrows
/// it back as a [`Record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedRecord {
    /// See [`Record::Publish`].
    Publish(PacketId, Message),
    /// See [`Record::Released`].
    Released(PacketId),
    /// See [`Record::Completed`].
    Completed(PacketId),
    /// See [`Record::Held`].
    Held(PacketId),
    /// See [`Record::IncomingHeld`].
    IncomingHeld(PacketId, Message),
    /// See [`Record::IncomingDelivered`].
    IncomingDelivered(PacketId),
    /// See [`Record::IncomingReleased`].
    IncomingReleased(PacketId),
    /// See [`Record::IncomingCleared`].
    IncomingCleared,
    /// See [`Record::Subscribed`].
    Subscribed(String, SubscriptionOptions),
    /// See [`Record::Unsubscribed`].
    Unsubscribed(String),
    /// See [`Record::SubscriptionsCleared`].
    SubscriptionsCleared,
}

impl OwnedRecord {
    /// A copy of `record`.
    pub fn from_record(record: &Record<'_>) -> Self {
        match *record {
            Record::Publish { id, message } => Self::Publish(id, message.clone()),
            Record::Released { id } => Self::Released(id),
            Record::Completed { id } => Self::Completed(id),
            Record::Held { id } => Self::Held(id),
            Record::IncomingHeld { id, message } => Self::IncomingHeld(id, message.clone()),
            Record::IncomingDelivered { id } => Self::IncomingDelivered(id),
            Record::IncomingReleased { id } => Self::IncomingReleased(id),
            Record::IncomingCleared => Self::IncomingCleared,
            Record::Subscribed { filter, options } => Self::Subscribed(filter.to_string(), options),
            Record::Unsubscribed { filter } => Self::Unsubscribed(filter.to_string()),
            Record::SubscriptionsCleared => Self::SubscriptionsCleared,
        }
    }

    /// The record, borrowing from `self`.
    pub fn as_record(&self) -> Record<'_> {
        match self {
            Self::Publish(id, message) => Record::Publish { id: *id, message },
            Self::Released(id) => Record::Released { id: *id },
            Self::Completed(id) => Record::Completed { id: *id },
            Self::Held(id) => Record::Held { id: *id },
            Self::IncomingHeld(id, message) => Record::IncomingHeld { id: *id, message },
            Self::IncomingDelivered(id) => Record::IncomingDelivered { id: *id },
            Self::IncomingReleased(id) => Record::IncomingReleased { id: *id },
            Self::IncomingCleared => Record::IncomingCleared,
            Self::Subscribed(filter, options) => Record::Subscribed {
                filter,
                options: *options,
            },
            Self::Unsubscribed(filter) => Record::Unsubscribed { filter },
            Self::SubscriptionsCleared => Record::SubscriptionsCleared,
        }
    }
}

/// Appends the binary form of `record` to `out`.
pub fn encode_record(record: &Record<'_>, out: &mut Vec<u8>) {
    let id_only = |out: &mut Vec<u8>, tag: u8, id: PacketId| {
        out.push(tag);
        out.extend_from_slice(&id.get().to_be_bytes());
    };
    match *record {
        Record::Publish { id, message } => {
            id_only(out, PUBLISH, id);
            encode_message(message, out);
        }
        Record::Released { id } => id_only(out, RELEASED, id),
        Record::Completed { id } => id_only(out, COMPLETED, id),
        Record::Held { id } => id_only(out, HELD, id),
        Record::IncomingHeld { id, message } => {
            id_only(out, INCOMING_HELD, id);
            encode_message(message, out);
        }
        Record::IncomingDelivered { id } => id_only(out, INCOMING_DELIVERED, id),
        Record::IncomingReleased { id } => id_only(out, INCOMING_RELEASED, id),
        Record::IncomingCleared => out.push(INCOMING_CLEARED),
        Record::Subscribed { filter, options } => {
            out.push(SUBSCRIBED);
            out.push(options_byte(options));
            out.extend_from_slice(filter.as_bytes());
        }
        Record::Unsubscribed { filter } => {
            out.push(UNSUBSCRIBED);
            out.extend_from_slice(filter.as_bytes());
        }
        Record::SubscriptionsCleared => out.push(SUBSCRIPTIONS_CLEARED),
    }
}

/// Decodes one record encoded by [`encode_record`] (the whole of `bytes`).
pub fn decode_record(bytes: &[u8]) -> Result<OwnedRecord, StoreError> {
    let mut r = Reader(bytes);
    let tag = r.u8()?;
    let record = match tag {
        PUBLISH => {
            let id = r.id()?;
            OwnedRecord::Publish(id, decode_message(&mut r, id)?)
        }
        RELEASED => OwnedRecord::Released(r.id()?),
        COMPLETED => OwnedRecord::Completed(r.id()?),
        HELD => OwnedRecord::Held(r.id()?),
        INCOMING_HELD => {
            let id = r.id()?;
            OwnedRecord::IncomingHeld(id, decode_message(&mut r, id)?)
        }
        INCOMING_DELIVERED => OwnedRecord::IncomingDelivered(r.id()?),
        INCOMING_RELEASED => OwnedRecord::IncomingReleased(r.id()?),
        INCOMING_CLEARED => OwnedRecord::IncomingCleared,
        SUBSCRIBED => {
            let options = options_from_byte(r.u8()?)?;
            OwnedRecord::Subscribed(r.rest_str()?, options)
        }
        UNSUBSCRIBED => OwnedRecord::Unsubscribed(r.rest_str()?),
        SUBSCRIPTIONS_CLEARED => OwnedRecord::SubscriptionsCleared,
        _ => return Err(StoreError::Format("unknown record type")),
    };
    if matches!(
        record,
        OwnedRecord::Publish(..) | OwnedRecord::IncomingHeld(..)
    ) || r.0.is_empty()
    {
        Ok(record)
    } else {
        Err(StoreError::Format("bytes after the end of a record"))
    }
}

fn encode_message(m: &Message, out: &mut Vec<u8>) {
    out.push(m.qos.as_u8());
    out.push(u8::from(m.retain));
    let topic = m.topic().as_bytes();
    // A topic name is at most 65,535 bytes [MQTT-1.5.3-1].
    out.extend_from_slice(&u16::try_from(topic.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(topic);
    let props = m.properties();
    let props = props.as_bytes();
    out.extend_from_slice(&u32::try_from(props.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(props);
    out.extend_from_slice(m.payload());
}

fn decode_message(r: &mut Reader<'_>, id: PacketId) -> Result<Message, StoreError> {
    let qos = QoS::from_u8(r.u8()?).ok_or(StoreError::Format("invalid QoS"))?;
    let retain = match r.u8()? {
        0 => false,
        1 => true,
        _ => return Err(StoreError::Format("invalid retain flag")),
    };
    let topic_len = usize::from(r.u16()?);
    let topic = core::str::from_utf8(r.take(topic_len)?)
        .map_err(|_| StoreError::Format("topic is not UTF-8"))?;
    let topic = TopicName::new(topic).map_err(|_| StoreError::Format("invalid topic name"))?;
    let props_len = usize::try_from(r.u32()?).map_err(|_| StoreError::Format("too long"))?;
    let props = Properties::parse(r.take(props_len)?, PropertyContext::Publish)
        .map_err(|_| StoreError::Format("invalid PUBLISH properties"))?;
    let payload = core::mem::take(&mut r.0);
    Ok(Message::build(
        topic,
        props,
        payload,
        qos,
        retain,
        false,
        Some(id),
    ))
}

fn options_byte(o: SubscriptionOptions) -> u8 {
    // The SUBSCRIBE options byte (5.0 §3.8.3.1).
    o.qos.as_u8()
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4)
}

fn options_from_byte(b: u8) -> Result<SubscriptionOptions, StoreError> {
    let qos = QoS::from_u8(b & 0b11).ok_or(StoreError::Format("invalid QoS"))?;
    let retain_handling = match (b >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendAtSubscribeIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(StoreError::Format("invalid retain handling")),
    };
    if b & 0b1100_0000 != 0 {
        return Err(StoreError::Format("invalid subscription options"));
    }
    Ok(SubscriptionOptions {
        qos,
        no_local: b & 0b100 != 0,
        retain_as_published: b & 0b1000 != 0,
        retain_handling,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.0.len() < n {
            return Err(StoreError::Format("record ends early"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StoreError> {
        Ok(self.take(1)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self) -> Result<u16, StoreError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, StoreError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn id(&mut self) -> Result<PacketId, StoreError> {
        PacketId::new(self.u16()?).ok_or(StoreError::Format("packet identifier 0"))
    }

    fn rest_str(&mut self) -> Result<String, StoreError> {
        let rest = core::mem::take(&mut self.0);
        core::str::from_utf8(rest)
            .map(ToString::to_string)
            .map_err(|_| StoreError::Format("topic filter is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    #[test]
    fn every_record_round_trips() {
        let m = Message::build(
            TopicName::new("a/b").unwrap(),
            Properties::EMPTY,
            b"payload",
            QoS::ExactlyOnce,
            true,
            false,
            Some(id(7)),
        );
        let mut held = m.clone();
        held.packet_id = Some(id(1));
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        let records = vec![
            Record::Publish {
                id: id(7),
                message: &m,
            },
            Record::Released { id: id(7) },
            Record::Completed { id: id(65535) },
            Record::Held { id: id(9) },
            Record::IncomingHeld {
                id: id(1),
                message: &held,
            },
            Record::IncomingDelivered { id: id(2) },
            Record::IncomingReleased { id: id(2) },
            Record::IncomingCleared,
            Record::Subscribed {
                filter: "a/#",
                options,
            },
            Record::Unsubscribed { filter: "a/#" },
            Record::SubscriptionsCleared,
        ];
        for record in records {
            let mut out = Vec::new();
            encode_record(&record, &mut out);
            let back = decode_record(&out).unwrap();
            assert_eq!(back.as_record(), record);
        }
    }

    #[test]
    fn truncated_and_unknown_records_are_errors_not_panics() {
        let m = Message::new("t", b"xyz", QoS::AtLeastOnce, false).unwrap();
        let mut out = Vec::new();
        encode_record(
            &Record::Publish {
                id: id(3),
                message: &m,
            },
            &mut out,
        );
        // Every cut inside the header fields fails; the payload is the rest, so cuts there
        // decode a shorter payload (the store's checksum catches those).
        for cut in 0..9 {
            assert!(decode_record(&out[..cut]).is_err(), "cut {cut}");
        }
        assert!(decode_record(&[0xff]).is_err());
        assert!(decode_record(&[COMPLETED, 0, 0]).is_err(), "id 0");
        assert!(
            decode_record(&[COMPLETED, 0, 1, 9]).is_err(),
            "trailing byte"
        );
    }
}
