//! Which records are still live, for store backends: each live record is represented by a
//! handle of the backend's choosing (the record itself, a file offset, ...).

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};

use mqtt_sansio_proto::PacketId;

use super::Record;

/// The live records of a store, each as a handle `H`, in restore order.
///
/// A record stays live while it describes current state: the latest [`Record::Publish`],
/// [`Record::Released`] or [`Record::Held`] of an outgoing identifier until its
/// [`Record::Completed`], the
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
/// live.apply(&Record::Publish { id, message: &m }, "record 0", |_| {});
/// assert_eq!(live.iter().collect::<Vec<_>>(), [&"record 0"]);
/// let mut dead = Vec::new();
/// live.apply(&Record::Completed { id }, "record 1", |h| dead.push(h));
/// assert_eq!(live.len(), 0);
/// assert_eq!(dead, ["record 0", "record 1"]);
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

    /// Applies `record`, represented by `handle`; hands `dead` every handle it makes dead
    /// (the record it replaces or ends, and `handle` itself when the record describes no
    /// state), for backends that count dead bytes.
    pub fn apply(&mut self, record: &Record<'_>, handle: H, mut dead: impl FnMut(H)) {
        match *record {
            Record::Publish { id, .. } | Record::Released { id } | Record::Held { id } => {
                if let Some(h) = self.remove_outgoing(id) {
                    dead(h);
                }
                let seq = self.next;
                self.next += 1;
                self.outgoing.insert(seq, handle);
                self.outgoing_ids.insert(id, seq);
            }
            Record::Completed { id } => {
                if let Some(h) = self.remove_outgoing(id) {
                    dead(h);
                }
                dead(handle);
            }
            Record::IncomingHeld { id, .. } | Record::IncomingDelivered { id } => {
                if let Some(h) = self.incoming.insert(id, handle) {
                    dead(h);
                }
            }
            Record::IncomingReleased { id } => {
                if let Some(h) = self.incoming.remove(&id) {
                    dead(h);
                }
                dead(handle);
            }
            Record::IncomingCleared => {
                core::mem::take(&mut self.incoming)
                    .into_values()
                    .for_each(&mut dead);
                dead(handle);
            }
            Record::Subscribed { filter, .. } => {
                if let Some(h) = self.subscriptions.insert(filter.to_string(), handle) {
                    dead(h);
                }
            }
            Record::Unsubscribed { filter } => {
                if let Some(h) = self.subscriptions.remove(filter) {
                    dead(h);
                }
                dead(handle);
            }
            Record::SubscriptionsCleared => {
                core::mem::take(&mut self.subscriptions)
                    .into_values()
                    .for_each(&mut dead);
                dead(handle);
            }
        }
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
