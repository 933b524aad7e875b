//! [`TransmitQueue`]: encoded packets waiting for `poll_transmit`, in one reused buffer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mqtt_proto::{EncodeError, Packet, ProtocolVersion};

/// Packets encoded back to back in one buffer, with their lengths, so that `poll_transmit`
/// hands out exactly one whole packet and steady-state sending allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct TransmitQueue {
    buf: Vec<u8>,
    head: usize,
    frames: VecDeque<usize>,
}

impl TransmitQueue {
    /// Encodes `packet` at the back; on error nothing is queued.
    pub(crate) fn push(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        let n = packet.encode(v, &mut self.buf)?;
        self.frames.push_back(n);
        Ok(n)
    }

    /// Moves the oldest packet to the end of `out`; returns its length.
    pub(crate) fn pop_into(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        let n = self.frames.pop_front()?;
        let end = self.head + n;
        out.extend_from_slice(self.buf.get(self.head..end).unwrap_or_default());
        self.head = end;
        if self.frames.is_empty() {
            self.buf.clear();
            self.head = 0;
        } else if self.head > 64 * 1024 && self.head > self.buf.len() / 2 {
            // Reclaim the consumed front when it dominates; amortised O(1) per byte.
            self.buf.drain(..self.head);
            self.head = 0;
        }
        Some(n)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Bytes waiting.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() - self.head
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.frames.clear();
    }
}
