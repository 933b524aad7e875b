//! SUBSCRIBE and UNSUBSCRIBE requests and their acknowledgements.

use alloc::string::ToString;

use mqtt_sansio_proto::{
    Packet, PacketId, Properties, PropertyContext, ProtocolVersion, SubAck, Subscribe,
    Subscription, TopicFilter, UnsubAck, Unsubscribe,
};
use smallvec::SmallVec;

use crate::ack_properties::AckProperties;
use crate::error::SubscribeError;
use crate::event::Event;
use crate::outgoing::{Request, RequestKind};
use crate::store::Record;
use crate::time::Instant;
use crate::transmit::TransmitQueue;

use super::*;

impl Session {
    /// Subscribes to topic filters; returns the packet identifier that the
    /// [`Event::SubAck`] will carry.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription<'_>],
    ) -> Result<PacketId, SubscribeError> {
        self.subscribe_with_properties(now, subscriptions, Properties::EMPTY)
    }

    /// [`subscribe`](Self::subscribe) with MQTT 5.0 SUBSCRIBE properties (subscription
    /// identifier, user properties).
    pub fn subscribe_with_properties(
        &mut self,
        now: Instant,
        subscriptions: &[Subscription<'_>],
        properties: Properties<'_>,
    ) -> Result<PacketId, SubscribeError> {
        self.advance(now);
        if subscriptions.is_empty() {
            return Err(SubscribeError::Empty);
        }
        let probe = Subscribe {
            packet_id: PacketId::MAX,
            properties,
            subscriptions: subscriptions.to_vec(),
        };
        let len = Packet::Subscribe(probe)
            .encoded_len_to_server(self.v())
            .map_err(SubscribeError::Invalid)?;
        self.check_request_size(len)?;
        let kind = RequestKind::Subscribe(
            subscriptions
                .iter()
                .map(|s| (s.filter.as_str().to_string(), s.options))
                .collect(),
        );
        self.add_request(kind, properties)
    }

    /// Unsubscribes from topic filters; returns the packet identifier that the
    /// [`Event::UnsubAck`] will carry.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        filters: &[TopicFilter<'_>],
    ) -> Result<PacketId, SubscribeError> {
        self.unsubscribe_with_properties(now, filters, Properties::EMPTY)
    }

    /// [`unsubscribe`](Self::unsubscribe) with MQTT 5.0 UNSUBSCRIBE properties (user
    /// properties, the only ones UNSUBSCRIBE allows: anything else is
    /// [`SubscribeError::Invalid`]). In 3.1.1 they are refused the same way, since the packet
    /// cannot carry them.
    pub fn unsubscribe_with_properties(
        &mut self,
        now: Instant,
        filters: &[TopicFilter<'_>],
        properties: Properties<'_>,
    ) -> Result<PacketId, SubscribeError> {
        self.advance(now);
        if filters.is_empty() {
            return Err(SubscribeError::Empty);
        }
        let probe = Unsubscribe {
            packet_id: PacketId::MAX,
            properties,
            filters: filters.to_vec(),
        };
        let len = Packet::Unsubscribe(probe)
            .encoded_len_to_server(self.v())
            .map_err(SubscribeError::Invalid)?;
        self.check_request_size(len)?;
        let kind =
            RequestKind::Unsubscribe(filters.iter().map(|f| f.as_str().to_string()).collect());
        self.add_request(kind, properties)
    }

    /// Every packet we send fits the broker's Maximum Packet Size [MQTT-3.2.2-15]; a
    /// request that does not is refused at the call, nothing queued.
    fn check_request_size(&self, len: usize) -> Result<(), SubscribeError> {
        let max = self.peer.max_packet_size as usize;
        if len > max {
            return Err(SubscribeError::PacketTooLarge { len, max });
        }
        Ok(())
    }

    pub(super) fn add_request(
        &mut self,
        kind: RequestKind,
        properties: Properties<'_>,
    ) -> Result<PacketId, SubscribeError> {
        if self.requests.len() >= self.config.max_pending_requests {
            return Err(SubscribeError::QueueFull);
        }
        let id = self
            .ids
            .allocate()
            .ok_or(SubscribeError::PacketIdsExhausted)?;
        self.requests.push_back(Request {
            id,
            kind,
            properties: properties.as_bytes().to_vec(),
            sent_on_connection: false,
        });
        self.pump();
        Ok(id)
    }

    pub(super) fn find_request(&self, id: PacketId) -> Option<usize> {
        self.requests.iter().position(|r| r.id == id)
    }

    // Out of line: it runs once per SUBSCRIBE, and inlined into `process` it made that function
    // larger than the call costs (issue 15: flash).
    #[inline(never)]
    pub(super) fn on_suback(&mut self, ack: &SubAck<'_>) {
        let Some(i) = self.find_request(ack.packet_id) else {
            return;
        };
        let Some(Request {
            kind: RequestKind::Subscribe(subs),
            ..
        }) = self.requests.get(i)
        else {
            return self.violation(ACK_MISMATCH, "SUBACK for an UNSUBSCRIBE");
        };
        if subs.len() != ack.reason_codes.len() {
            // One return code per topic filter [MQTT-3.9.3-1].
            return self.violation(
                SUBACK_COUNT,
                "SUBACK with a different number of codes than filters",
            );
        }
        let Some(Request {
            kind: RequestKind::Subscribe(subs),
            ..
        }) = self.requests.remove(i)
        else {
            return;
        };
        self.release_idle_requests();
        for ((filter, options), code) in subs.into_iter().zip(ack.reason_codes.iter()) {
            if !code.is_error() {
                if !self.persist(&Record::Subscribed {
                    filter: &filter,
                    options,
                }) {
                    // The broker has the subscription either way; a restart only forgets it.
                    self.store_failed();
                }
                self.subscriptions.insert(filter, options);
            }
        }
        self.ids.remove(ack.packet_id);
        if self.auto_resubscribe == Some(ack.packet_id) {
            self.auto_resubscribe = None;
        }
        self.emit(Event::SubAck {
            id: ack.packet_id,
            results: SmallVec::from_slice(&ack.reason_codes),
            properties: AckProperties::from_properties(&ack.properties),
        });
    }

    pub(super) fn on_unsuback(&mut self, ack: &UnsubAck<'_>) {
        let Some(i) = self.find_request(ack.packet_id) else {
            return;
        };
        let Some(Request {
            kind: RequestKind::Unsubscribe(filters),
            ..
        }) = self.requests.get(i)
        else {
            return self.violation(ACK_MISMATCH, "UNSUBACK for a SUBSCRIBE");
        };
        if self.v() == ProtocolVersion::V5 && filters.len() != ack.reason_codes.len() {
            return self.violation(
                SUBACK_COUNT,
                "UNSUBACK with a different number of codes than filters",
            );
        }
        let Some(Request {
            kind: RequestKind::Unsubscribe(filters),
            ..
        }) = self.requests.remove(i)
        else {
            return;
        };
        self.release_idle_requests();
        for f in filters {
            if self.subscriptions.remove(&f).is_some()
                && !self.persist(&Record::Unsubscribed { filter: &f })
            {
                self.store_failed();
            }
        }
        self.ids.remove(ack.packet_id);
        // A copy of the slice, not a collect: one push at a time links smallvec's growth
        // (issue 15: flash).
        let results = SmallVec::from_slice(&ack.reason_codes);
        self.emit(Event::UnsubAck {
            id: ack.packet_id,
            results,
            properties: AckProperties::from_properties(&ack.properties),
        });
    }
}

impl Session {
    /// Subscribing is rare: once no request waits, give the queue's block back rather than
    /// keep it for the session's lifetime (issue 15: RAM per session).
    fn release_idle_requests(&mut self) {
        if self.requests.is_empty() {
            self.requests = VecQueue::new();
        }
    }
}

pub(super) fn encode_request(tx: &mut TransmitQueue, r: &Request, v: ProtocolVersion) {
    // Validated when the request was made, and its size again at CONNACK.
    let _ = tx.push(&request_packet(r), v);
}

/// The SUBSCRIBE or UNSUBSCRIBE packet of a stored request.
pub(super) fn request_packet(r: &Request) -> Packet<'_> {
    let properties = Properties::parse(
        &r.properties,
        match r.kind {
            RequestKind::Subscribe(_) => PropertyContext::Subscribe,
            RequestKind::Unsubscribe(_) => PropertyContext::Unsubscribe,
        },
    )
    .unwrap_or(Properties::EMPTY);
    // Filled by pushes into exact capacities rather than collected from a `filter_map`:
    // collecting links a growth loop per element type (issue 15: flash). Every stored filter
    // was validated when the request was made, so none is left out in practice.
    match &r.kind {
        RequestKind::Subscribe(subs) => {
            let mut subscriptions = Vec::with_capacity(subs.len());
            for (f, o) in subs {
                if let Ok(filter) = TopicFilter::new(f) {
                    subscriptions.push(Subscription {
                        filter,
                        options: *o,
                    });
                }
            }
            Packet::Subscribe(Subscribe {
                packet_id: r.id,
                properties,
                subscriptions,
            })
        }
        RequestKind::Unsubscribe(list) => {
            let mut filters = Vec::with_capacity(list.len());
            for f in list {
                if let Ok(filter) = TopicFilter::new(f) {
                    filters.push(filter);
                }
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id: r.id,
                properties,
                filters,
            })
        }
    }
}
