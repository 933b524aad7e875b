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
/// whole buffer drained, which under a steady stream never happens), or earlier, when the
/// buffer is full and at least half written; it grows by doubling up to [`HIGH_WATER`] and
/// exactly beyond, so the capacity stays at most `2 * HIGH_WATER` plus the largest packet.
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
            if self.buf.len() + self.scratch.len() > self.buf.capacity() {
                self.make_room();
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

    /// Room for `scratch` at the end of `buf`: first by giving back the written prefix if it
    /// is at least half the buffer (copying at most as much as was written since the last
    /// copy: amortised O(1) per byte), else by growing: doubling up to `HIGH_WATER`, exactly
    /// beyond it (doubling there would overshoot the bound in the transient of a
    /// reallocation). Growing by one packet at a time from the start copied the whole buffer
    /// for every packet while it grew: about 4.5 KB and 0.15 allocations per message for a
    /// QoS 0 publisher (issue 14).
    fn make_room(&mut self) {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.copy_within(self.pos.., 0);
            let rest = self.buf.len() - self.pos;
            self.buf.truncate(rest);
            self.pos = 0;
        }
        let need = self.buf.len() + self.scratch.len();
        if need > self.buf.capacity() {
            let target = need.max(self.buf.capacity().saturating_mul(2).min(HIGH_WATER));
            self.buf.reserve_exact(target - self.buf.len());
        }
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
