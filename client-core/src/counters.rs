//! [`Counters`]: what the client did, counted in the sans-IO core so that every transport
//! reports the same figures.

use alloc::vec::Vec;

use mqtt_sansio_proto::{QoS, ReasonCode};

use crate::wire::PacketInfo;

/// One count per QoS level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PerQos {
    /// QoS 0.
    pub at_most_once: u64,
    /// QoS 1.
    pub at_least_once: u64,
    /// QoS 2.
    pub exactly_once: u64,
}

impl PerQos {
    /// The count for `qos`.
    pub fn get(&self, qos: QoS) -> u64 {
        match qos {
            QoS::AtMostOnce => self.at_most_once,
            QoS::AtLeastOnce => self.at_least_once,
            QoS::ExactlyOnce => self.exactly_once,
        }
    }

    /// The sum over the three levels.
    pub fn total(&self) -> u64 {
        self.at_most_once
            .saturating_add(self.at_least_once)
            .saturating_add(self.exactly_once)
    }

    fn add(&mut self, qos: QoS, n: u64) {
        let slot = match qos {
            QoS::AtMostOnce => &mut self.at_most_once,
            QoS::AtLeastOnce => &mut self.at_least_once,
            QoS::ExactlyOnce => &mut self.exactly_once,
        };
        *slot = slot.saturating_add(n);
    }
}

/// A snapshot of the client's counters and current sizes, from
/// [`ClientCore::counters`](crate::ClientCore::counters) (both std clients: `counters()`).
///
/// Totals run from the client's creation and never go back; the sizes (`inflight`,
/// `window`, `queued`, ...) are the values now. Bytes are whole packets as on the wire
/// (MQTT framing; WebSocket and TLS overhead not included).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// PUBLISH packets handed to the transport, retransmissions (DUP) included.
    pub publishes_sent: PerQos,
    /// Bytes of those PUBLISH packets.
    pub publish_bytes_sent: PerQos,
    /// Of `publishes_sent`, how many were retransmissions (DUP set, after a reconnect).
    pub retransmissions: u64,
    /// PUBLISH packets received from the broker, a broker's retransmission (DUP) included
    /// (the application still gets a QoS 2 message once).
    pub publishes_received: PerQos,
    /// Bytes of the PUBLISH packets received.
    pub publish_bytes_received: PerQos,
    /// Every byte handed to the transport (all packet types).
    pub bytes_sent: u64,
    /// Every byte received from the transport.
    pub bytes_received: u64,
    /// Connections dialled (TCP, proxy, TLS and WebSocket set up, CONNECT queued).
    pub connection_attempts: u64,
    /// Dials that failed before a CONNECT could be sent.
    pub dial_failures: u64,
    /// Connections the broker accepted.
    pub connections: u64,
    /// Accepted connections after the first (automatic and requested reconnections).
    pub reconnects: u64,
    /// CONNACK refusals.
    pub refusals: u64,
    /// Protocol errors of the broker that ended a connection, by the 5.0 reason code the
    /// client closed with (0x81 malformed packet, 0x82 protocol error, 0x93, 0x94, 0x95, ...),
    /// in order of first occurrence.
    pub protocol_errors: Vec<(ReasonCode, u64)>,
    /// Connections ended because nothing arrived within the keepalive timeout.
    pub keepalive_timeouts: u64,
    /// Connections the broker ended with a DISCONNECT (5.0).
    pub broker_disconnects: u64,
    /// Server References followed (5.0 CONNACK or DISCONNECT 0x9C / 0x9D).
    pub redirects: u64,
    /// QoS 1 and 2 publishes in flight now (sent, not yet completed).
    pub inflight: usize,
    /// The send window now: our `max_inflight`, lowered to the broker's Receive Maximum.
    pub window: usize,
    /// Publishes waiting for room in the window.
    pub queued: usize,
    /// Encoded bytes waiting to be written (Session and transmit buffer).
    pub transmit_backlog: usize,
    /// Incoming QoS 2 messages held until the broker's PUBREL.
    pub incoming_qos2_pending: usize,
}

impl Counters {
    /// The number of protocol errors of every kind.
    pub fn protocol_errors_total(&self) -> u64 {
        self.protocol_errors
            .iter()
            .fold(0u64, |a, (_, n)| a.saturating_add(*n))
    }

    pub(crate) fn sent(&mut self, p: &PacketInfo) {
        self.bytes_sent = self.bytes_sent.saturating_add(p.len as u64);
        if let Some(qos) = p.qos {
            self.publishes_sent.add(qos, 1);
            self.publish_bytes_sent.add(qos, p.len as u64);
            if p.dup {
                self.retransmissions = self.retransmissions.saturating_add(1);
            }
        }
    }

    pub(crate) fn received(&mut self, p: &PacketInfo) {
        if let Some(qos) = p.qos {
            self.publishes_received.add(qos, 1);
            self.publish_bytes_received.add(qos, p.len as u64);
        }
    }

    pub(crate) fn protocol_error(&mut self, code: ReasonCode) {
        match self.protocol_errors.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n = n.saturating_add(1),
            // Bounded: there are fewer than 256 reason codes.
            None => self.protocol_errors.push((code, 1)),
        }
    }
}

/// Adds `n` to a counter without ever wrapping.
pub(crate) fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}
