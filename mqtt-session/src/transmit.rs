//! [`TransmitQueue`]: encoded packets waiting for `poll_transmit`, in one reused buffer.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use mqtt_sansio_proto::{EncodeError, Packet, ProtocolVersion};

/// Packets encoded back to back in one buffer, with their lengths, so that `poll_transmit`
/// hands out exactly one whole packet and steady-state sending allocates nothing.
#[derive(Default)]
pub(crate) struct TransmitQueue {
    buf: Vec<u8>,
    head: usize,
    frames: VecDeque<Frame>,
    /// Bytes of waiting frames that answer the broker (acknowledgements).
    reply_bytes: usize,
}

/// Sizes only: the waiting bytes can hold a CONNECT password or AUTH data, which must never
/// reach `Debug` output (SPEC: secrets never appear in Debug output or logs).
impl core::fmt::Debug for TransmitQueue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransmitQueue")
            .field("packets", &self.frames.len())
            .field("bytes", &self.bytes())
            .field("reply_bytes", &self.reply_bytes)
            .finish_non_exhaustive()
    }
}

/// One encoded packet in the buffer: its length, and in the top bit whether it answers a
/// packet from the broker. Answers are counted because the broker, not the application,
/// decides how many are made; four bytes per record keep the bookkeeping of a backlog of
/// 4-byte acknowledgements as small as the acknowledgements themselves.
#[derive(Clone, Copy, Debug)]
struct Frame(u32);

impl Frame {
    const REPLY: u32 = 1 << 31;

    /// `None` when `len` does not fit (never for a packet MQTT can express: at most
    /// 268,435,460 bytes).
    fn new(len: usize, reply: bool) -> Option<Self> {
        let len = u32::try_from(len).ok().filter(|l| l & Self::REPLY == 0)?;
        Some(Self(if reply { len | Self::REPLY } else { len }))
    }

    fn len(self) -> usize {
        (self.0 & !Self::REPLY) as usize
    }

    fn is_reply(self) -> bool {
        self.0 & Self::REPLY != 0
    }
}

impl TransmitQueue {
    /// An empty queue with room for one packet record: usually one or two packets wait, and
    /// the record queue keeps its capacity for the session's lifetime (issue 15: RAM per
    /// session), so it starts at one rather than at the four of a first `push_back`.
    pub(crate) fn new() -> Self {
        Self {
            frames: VecDeque::with_capacity(1),
            ..Self::default()
        }
    }

    /// Encodes `packet` at the back; on error nothing is queued.
    pub(crate) fn push(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        self.push_frame(packet, v, false)
    }

    /// Like [`push`](Self::push), for a packet that answers one from the broker.
    pub(crate) fn push_reply(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        self.push_frame(packet, v, true)
    }

    fn push_frame(
        &mut self,
        packet: &Packet<'_>,
        v: ProtocolVersion,
        reply: bool,
    ) -> Result<usize, EncodeError> {
        let start = self.buf.len();
        let len = packet.encode_to_server(v, &mut self.buf)?;
        let Some(frame) = Frame::new(len, reply) else {
            self.buf.truncate(start);
            return Err(EncodeError::PacketTooLarge {
                len,
                max: (Frame::REPLY - 1) as usize,
            });
        };
        self.frames.push_back(frame);
        if reply {
            self.reply_bytes += len;
        }
        Ok(len)
    }

    /// Moves the oldest packet to the end of `out`; returns its length.
    pub(crate) fn pop_into(&mut self, out: &mut Vec<u8>) -> Option<usize> {
        let frame = self.frames.pop_front()?;
        let n = frame.len();
        if frame.is_reply() {
            self.reply_bytes = self.reply_bytes.saturating_sub(n);
        }
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

    /// Bytes waiting that answer the broker.
    pub(crate) fn reply_bytes(&self) -> usize {
        self.reply_bytes
    }

    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.frames.clear();
        self.reply_bytes = 0;
    }
}
