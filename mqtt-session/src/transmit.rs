//! [`TransmitQueue`]: encoded packets waiting for `poll_transmit` or `transmit_into`, in one
//! reused buffer.

use alloc::vec::Vec;

use mqtt_sansio_proto::{EncodeError, Packet, ProtocolVersion};

/// Packets encoded back to back in one buffer, so that `poll_transmit` hands out exactly one
/// whole packet, `transmit_into` as many bytes as fit, and steady-state sending allocates
/// nothing.
///
/// No record per packet: a packet's length is read back from its own fixed header (we
/// encoded it, so it is well formed), and an acknowledgement that answers the broker carries
/// [`REPLY_MARK`] in its first byte while it waits, taken off as it is handed out. A backlog
/// of 4-byte acknowledgements thus costs its bytes only.
#[derive(Default)]
pub(crate) struct TransmitQueue {
    buf: Vec<u8>,
    /// The first byte not handed out yet.
    head: usize,
    /// Bytes left of the packet at `head` whose start was already handed out (0: `head` is
    /// at a packet boundary). The rest must go out before any other byte, or the peer reads a
    /// different packet.
    rest: usize,
    /// Bytes of waiting packets that answer the broker (acknowledgements).
    reply_bytes: usize,
}

/// Sizes only: the waiting bytes can hold a CONNECT password or AUTH data, which must never
/// reach `Debug` output (SPEC: secrets never appear in Debug output or logs).
impl core::fmt::Debug for TransmitQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransmitQueue")
            .field("bytes", &self.bytes())
            .field("reply_bytes", &self.reply_bytes)
            .finish_non_exhaustive()
    }
}

/// Marks a waiting acknowledgement that answers the broker: bit 0 of the first byte, which
/// is reserved and 0 on the wire for PUBACK, PUBREC, PUBREL and PUBCOMP (§2.1.3: flags 0000
/// or 0010) and never leaves the queue set.
const REPLY_MARK: u8 = 0x01;

/// Whether `first` (a fixed header's first byte) is a PUBACK, PUBREC, PUBREL or PUBCOMP:
/// the only packets that answer the broker, and the only ones that may carry [`REPLY_MARK`].
fn is_ack(first: u8) -> bool {
    (4..=7).contains(&(first >> 4))
}

/// The length of the whole packet whose fixed header starts `bytes`: the first byte, the
/// Remaining Length (1-4 bytes, 7 bits each, low first) and what it counts (§2.2.3). The
/// queue holds only packets it encoded; anything else counts as the rest of the buffer, so a
/// mistake can only send too much at once, never read past the end.
fn packet_len(bytes: &[u8]) -> usize {
    // Most packets (every acknowledgement, small publishes) have a one-byte length.
    if let Some(&b) = bytes.get(1).filter(|b| **b & 0x80 == 0) {
        return (2 + usize::from(b)).min(bytes.len());
    }
    let mut remaining = 0usize;
    for (i, &b) in bytes.iter().enumerate().skip(1).take(4) {
        remaining |= usize::from(b & 0x7F) << (7 * (i - 1));
        if b & 0x80 == 0 {
            return (i + 1 + remaining).min(bytes.len());
        }
    }
    bytes.len()
}

impl TransmitQueue {
    /// An empty queue; allocates nothing until the first packet.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Encodes `packet` at the back; on error nothing is queued.
    pub(crate) fn push(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        self.push_frame(packet, v, false)
    }

    /// Like [`push`](Self::push), for an acknowledgement that answers one from the broker.
    pub(crate) fn push_reply(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        self.push_frame(packet, v, true)
    }

    /// One body for both, so that the encoder is inlined once.
    fn push_frame(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
        reply: bool,
    ) -> Result<usize, EncodeError> {
        let start = self.buf.len();
        let len = packet.encode_to_server(v, &mut self.buf)?;
        if reply {
            if let Some(first) = self.buf.get_mut(start).filter(|b| is_ack(**b)) {
                *first |= REPLY_MARK;
                self.reply_bytes += len;
            }
        }
        Ok(len)
    }

    /// Takes `n` bytes from `head` (at most to the end of the buffer) into the accounting:
    /// the marks of the acknowledgements starting among them are cleared in `out`, which
    /// holds a copy of exactly those bytes.
    fn account(&mut self, out: &mut [u8]) {
        let n = out.len();
        let mut at = self.rest.min(n);
        self.rest -= at;
        while at < n {
            let len = packet_len(self.buf.get(self.head + at..).unwrap_or_default());
            if let Some(first) = out.get_mut(at) {
                if is_ack(*first) && *first & REPLY_MARK != 0 {
                    *first &= !REPLY_MARK;
                    self.reply_bytes = self.reply_bytes.saturating_sub(len);
                }
            }
            // At least one byte: the loop always moves on.
            let taken = len.max(1).min(n - at);
            self.rest = len.saturating_sub(taken);
            at += taken;
        }
        self.head += n;
        self.after_taking();
    }

    /// Frees the buffer once everything was taken, or its consumed front when that dominates
    /// (amortised O(1) per byte).
    fn after_taking(&mut self) {
        if self.head >= self.buf.len() {
            self.buf.clear();
            self.head = 0;
            self.rest = 0;
        } else if self.head > 64 * 1024 && self.head > self.buf.len() / 2 {
            self.buf.drain(..self.head);
            self.head = 0;
        }
    }

    /// Moves the oldest packet (what is left of it, if [`take_into`](Self::take_into) handed
    /// out its start) to the end of `out`; returns its length.
    #[inline]
    pub(crate) fn pop_into(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        // Not through `account`: one whole packet needs no walk (the hot path of
        // `poll_transmit`).
        let waiting = self.buf.get(self.head..)?;
        let first = *waiting.first()?;
        let n = if self.rest > 0 {
            self.rest.min(waiting.len())
        } else {
            packet_len(waiting)
        };
        let start = out.len();
        out.extend_from_slice(waiting.get(..n).unwrap_or_default());
        if self.rest == 0 && first & REPLY_MARK != 0 && is_ack(first) {
            if let Some(b) = out.get_mut(start) {
                *b &= !REPLY_MARK;
            }
            self.reply_bytes = self.reply_bytes.saturating_sub(n);
        }
        self.rest = 0;
        self.head += n;
        self.after_taking();
        Some(n)
    }

    /// Copies waiting bytes into `out`, oldest first, as many as fit: whole packets and, when
    /// the next one does not fit, its start (the rest comes first on the next call). Returns
    /// how many bytes were copied.
    pub(crate) fn take_into(&mut self, out: &mut [u8]) -> usize {
        let waiting = self.buf.get(self.head..).unwrap_or_default();
        let n = waiting.len().min(out.len());
        let (Some(dst), Some(src)) = (out.get_mut(..n), waiting.get(..n)) else {
            return 0;
        };
        dst.copy_from_slice(src);
        self.account(dst);
        n
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.head >= self.buf.len()
    }

    /// Bytes waiting.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    /// Bytes waiting that answer the broker.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.reply_bytes
    }

    /// Drops the waiting packets, except the rest of one whose start was already handed out
    /// by [`take_into`](Self::take_into): the bytes that still go out on this connection (a
    /// DISCONNECT after a protocol error) must follow a whole packet, or the broker reads
    /// them as part of the cut one. Out of line: only connection ends call it, from many
    /// places.
    #[inline(never)]
    pub(crate) fn clear(&mut self) {
        if self.rest > 0 {
            // The started packet's answer, if it is one, was counted out at its start.
            self.buf.truncate(self.head + self.rest);
            self.reply_bytes = 0;
        } else {
            self.reset();
        }
    }

    /// Drops everything, a started packet too: for a new connection, or when the transport
    /// is gone.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.rest = 0;
        self.reply_bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mqtt_sansio_proto::{Ack, PacketId, Publish, QosPid, TopicName};

    const V: ProtocolVersion = ProtocolVersion::V311;

    fn publish(payload: &[u8]) -> Packet<'_> {
        Packet::Publish(Publish {
            retain: true,
            ..Publish::new(TopicName::new("t").unwrap(), payload, QosPid::AtMostOnce)
        })
    }

    fn puback(id: u16) -> Packet<'static> {
        Packet::PubAck(Ack::new(PacketId::new(id).unwrap()))
    }

    #[test]
    fn lengths_come_from_the_fixed_header_for_every_remaining_length_size() {
        for n in [0, 1, 120, 125, 126, 127, 300, 16_380, 16_400, 70_000] {
            let payload = alloc::vec![0xAB; n];
            let mut q = TransmitQueue::new();
            let len = q.push(&publish(&payload), V).unwrap();
            q.push_reply(&puback(1), V).unwrap();
            let mut out = Vec::new();
            assert_eq!(q.pop_into(&mut out), Some(len), "payload {n}");
            assert_eq!(out.len(), len);
            assert_eq!(q.pop_into(&mut out), Some(4));
            assert_eq!(out[len..], [0x40, 0x02, 0x00, 0x01]);
            assert_eq!(q.pop_into(&mut out), None);
        }
    }

    /// A reply mark is taken off whichever way the packet leaves, and the retain bit of a
    /// PUBLISH (also bit 0) is never mistaken for one.
    #[test]
    fn reply_marks_never_leave_and_count_reply_bytes() {
        let mut q = TransmitQueue::new();
        q.push(&publish(b"x"), V).unwrap();
        q.push_reply(&puback(7), V).unwrap();
        q.push_reply(&puback(8), V).unwrap();
        assert_eq!(q.reply_bytes(), 8);
        let mut out = [0u8; 64];
        // The PUBLISH and the first byte of the first PUBACK.
        let first = q.bytes() - 7;
        assert_eq!(q.take_into(&mut out[..first]), first);
        assert_eq!(out[0], 0x31, "retain stays set");
        assert_eq!(out[first - 1], 0x40, "mark taken off");
        assert_eq!(q.reply_bytes(), 4);
        let mut rest = Vec::new();
        assert_eq!(q.pop_into(&mut rest), Some(3));
        assert_eq!(q.pop_into(&mut rest), Some(4));
        assert_eq!(rest, [0x02, 0x00, 0x07, 0x40, 0x02, 0x00, 0x08]);
        assert_eq!(q.reply_bytes(), 0);
        assert!(q.is_empty());
    }

    /// Only what the queue encoded is ever read, but a header it cannot read still gives a
    /// length within the buffer.
    #[test]
    fn a_header_that_cannot_be_read_counts_as_the_rest_of_the_buffer() {
        assert_eq!(packet_len(&[0x30]), 1);
        assert_eq!(packet_len(&[0x30, 0x05, 0x00]), 3);
        assert_eq!(packet_len(&[0x30, 0x80, 0x80]), 3);
        assert_eq!(packet_len(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x00]), 7);
        assert_eq!(packet_len(&[0x30, 0x80, 0x01, 0x00]), 4);
        assert_eq!(packet_len(&[0xC0, 0x00, 0xC0, 0x00]), 2);
    }

    #[test]
    fn clear_keeps_only_the_rest_of_a_started_packet() {
        let mut q = TransmitQueue::new();
        q.push(&publish(b"abcdef"), V).unwrap();
        q.push_reply(&puback(1), V).unwrap();
        let mut out = [0u8; 4];
        assert_eq!(q.take_into(&mut out), 4);
        q.clear();
        assert_eq!(
            q.bytes(),
            7,
            "the PUBLISH's topic and payload, not the PUBACK"
        );
        assert_eq!(q.reply_bytes(), 0);
        let mut rest = Vec::new();
        assert_eq!(q.pop_into(&mut rest), Some(7));
        assert_eq!(rest, b"tabcdef");
        assert!(q.is_empty());
        // Nothing started: clear empties.
        q.push(&publish(b"abcdef"), V).unwrap();
        q.clear();
        assert!(q.is_empty());
    }
}
