//! [`TxBuffer`]: bytes handed to the socket, bounded, giving written bytes back as it goes.

use alloc::vec::Vec;

use mqtt_sansio_session::{Instant, Session};

/// Refill from the Session only while fewer bytes than this wait to be written: enough to
/// fill a socket buffer, small enough that a steady QoS 0 stream keeps the heap bounded
/// (issue 10, defect 7).
pub const HIGH_WATER: usize = 64 * 1024;

/// The bytes between the Session and the socket.
///
/// The written prefix is reclaimed as soon as it reaches [`HIGH_WATER`] (not only when the
/// whole buffer drained, which under a steady stream never happens), and packets are copied
/// in with exact reservations, so the capacity stays at most `2 * HIGH_WATER` plus the
/// largest packet.
#[derive(Debug, Default)]
pub struct TxBuffer {
    buf: Vec<u8>,
    pos: usize,
    scratch: Vec<u8>,
}

impl TxBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves packets from the Session while fewer than [`HIGH_WATER`] bytes wait; returns
    /// the unwritten bytes (empty: nothing to write).
    pub fn fill(&mut self, session: &mut Session, now: Instant) -> &[u8] {
        self.fill_with(session, now, |_| {})
    }

    /// [`fill`](Self::fill), showing each packet to `on_packet` as it is moved (counters,
    /// trace records).
    pub fn fill_with(
        &mut self,
        session: &mut Session,
        now: Instant,
        mut on_packet: impl FnMut(&[u8]),
    ) -> &[u8] {
        while self.buf.len().saturating_sub(self.pos) < HIGH_WATER {
            self.scratch.clear();
            if session.poll_transmit(now, &mut self.scratch).is_none() {
                break;
            }
            if self.buf.capacity() - self.buf.len() < self.scratch.len() {
                // Exact growth: amortised doubling would overshoot the bound.
                self.buf.reserve_exact(self.scratch.len());
            }
            on_packet(&self.scratch);
            self.buf.extend_from_slice(&self.scratch);
        }
        if self.scratch.capacity() > HIGH_WATER {
            // One large packet passed through; do not keep its size around.
            self.scratch = Vec::new();
        }
        self.pending()
    }

    /// The bytes not yet written.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Whether nothing waits to be written.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The socket took the first `n` bytes of [`pending`](Self::pending).
    pub fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos >= HIGH_WATER {
            // Give the written prefix back: copying < HIGH_WATER + one packet once per
            // HIGH_WATER bytes written is amortised O(1) per byte.
            self.buf.copy_within(self.pos.., 0);
            let rest = self.buf.len() - self.pos;
            self.buf.truncate(rest);
            self.pos = 0;
        }
    }

    /// Drops everything not yet written (the connection is gone).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }

    /// Bytes allocated (for the memory bound's tests and benchmarks).
    pub fn capacity(&self) -> usize {
        self.buf.capacity() + self.scratch.capacity()
    }
}
