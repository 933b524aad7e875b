//! Which records are still live, for store backends: each live record is represented by a
//! handle of the backend's choosing (the record itself, a file offset, ...).

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};

use mqtt_sansio_proto::PacketId;

use super::Record;

/// The live records of a store, each as a handle `H`, in restore order.
///
/// A record stays live while it describes current state: the latest [`Record::Publish`] or
/// [`Record::Released`] of an outgoing identifier until its [`Record::Completed`], the
/// latest incoming record of an identifier until [`Record::IncomingReleased`] or
/// [`Record::IncomingCleared`], a [`Record::Subscribed`] until its filter is unsubscribed or
/// cleared. Every other record is dead once applied; a backend compacts by rewriting only
/// the live ones, in [`iter`](Self::iter) order.
///
/// ```
/// use mqtt_sansio_session::store::{LiveRecords, Record};
/// use mqtt_sansio_session::Message;
/// use mqtt_sansio_session::mqtt_sansio_proto::{PacketId, QoS};
///
/// let id = PacketId::new(1).unwrap();
/// let m = Message::new("t", b"x", QoS::AtLeastOnce, false).unwrap();
/// let mut live = LiveRecords::new();
/// live.apply(&Record::Publish { id, message: &m }, "record 0");
/// assert_eq!(live.iter().collect::<Vec<_>>(), [&"record 0"]);
/// live.apply(&Record::Completed { id }, "record 1");
/// assert_eq!(live.len(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct LiveRecords<H> {
    next: u64,
    /// Outgoing, by the order their live record was written: PUBLISHes in send order and
    /// PUBRELs in PUBREC order, as resends need them [MQTT-4.6.0-1], [MQTT-4.6.0-4].
    outgoing: BTreeMap<u64, H>,
    outgoing_ids: BTreeMap<PacketId, u64>,
    incoming: BTreeMap<PacketId, H>,
    subscriptions: BTreeMap<String, H>,
}

impl<H> Default for LiveRecords<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> LiveRecords<H> {
    /// No live record.
    pub const fn new() -> Self {
        Self {
            next: 0,
            outgoing: BTreeMap::new(),
            outgoing_ids: BTreeMap::new(),
            incoming: BTreeMap::new(),
            subscriptions: BTreeMap::new(),
        }
    }

    /// Applies `record`, represented by `handle`; returns the handles it made dead (the
    /// record it replaces, or the records it ends), for backends that count dead bytes.
    pub fn apply(&mut self, record: &Record<'_>, handle: H) -> impl Iterator<Item = H> {
        let mut dead = alloc::vec::Vec::new();
        match *record {
            Record::Publish { id, .. } | Record::Released { id } => {
                dead.extend(self.remove_outgoing(id));
                let seq = self.next;
                self.next += 1;
                self.outgoing.insert(seq, handle);
                self.outgoing_ids.insert(id, seq);
            }
            Record::Completed { id } => {
                dead.extend(self.remove_outgoing(id));
                dead.push(handle);
            }
            Record::IncomingHeld { id, .. } | Record::IncomingDelivered { id } => {
                dead.extend(self.incoming.insert(id, handle));
            }
            Record::IncomingReleased { id } => {
                dead.extend(self.incoming.remove(&id));
                dead.push(handle);
            }
            Record::IncomingCleared => {
                dead.extend(core::mem::take(&mut self.incoming).into_values());
                dead.push(handle);
            }
            Record::Subscribed { filter, .. } => {
                dead.extend(self.subscriptions.insert(filter.to_string(), handle));
            }
            Record::Unsubscribed { filter } => {
                dead.extend(self.subscriptions.remove(filter));
                dead.push(handle);
            }
            Record::SubscriptionsCleared => {
                dead.extend(core::mem::take(&mut self.subscriptions).into_values());
                dead.push(handle);
            }
        }
        dead.into_iter()
    }

    fn remove_outgoing(&mut self, id: PacketId) -> Option<H> {
        let seq = self.outgoing_ids.remove(&id)?;
        self.outgoing.remove(&seq)
    }

    /// How many records are live.
    pub fn len(&self) -> usize {
        self.outgoing.len() + self.incoming.len() + self.subscriptions.len()
    }

    /// Whether no record is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live records in restore order (see [`Store::restore`](super::Store::restore)).
    pub fn iter(&self) -> impl Iterator<Item = &H> {
        self.outgoing
            .values()
            .chain(self.incoming.values())
            .chain(self.subscriptions.values())
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}
