//! What the counters and trace records need to know of each packet on the wire: its type,
//! QoS, DUP flag, packet identifier and size. Read from the fixed header and the first body
//! bytes only (the Session decodes and validates packets; this never rejects anything), so
//! it costs a few instructions per packet and nothing per payload byte.

use mqtt_sansio_proto::QoS;

/// The fields of one packet the counters and logs use. Never the topic or payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PacketInfo {
    /// The control packet type, 1 (CONNECT) to 15 (AUTH).
    pub(crate) kind: u8,
    /// PUBLISH: its QoS (DUP and RETAIN are in the low flag bits).
    pub(crate) qos: Option<QoS>,
    /// PUBLISH: the DUP flag.
    pub(crate) dup: bool,
    /// The packet identifier, for the packet types that carry one.
    pub(crate) id: Option<u16>,
    /// Whole packet length (fixed header included).
    pub(crate) len: usize,
}

/// The name of a control packet type for log records.
pub(crate) fn kind_name(kind: u8) -> &'static str {
    match kind {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "RESERVED",
    }
}

fn publish_qos(first: u8) -> Option<QoS> {
    match (first >> 1) & 3 {
        0 => Some(QoS::AtMostOnce),
        1 => Some(QoS::AtLeastOnce),
        2 => Some(QoS::ExactlyOnce),
        _ => None,
    }
}

/// Whether the packet type starts its variable header with a packet identifier.
fn id_first(kind: u8) -> bool {
    matches!(kind, 4..=11)
}

/// Reads one whole packet the Session encoded (`None` if `bytes` is not one: then nothing
/// is counted, never a panic).
pub(crate) fn peek(bytes: &[u8]) -> Option<PacketInfo> {
    let (&first, rest) = bytes.split_first()?;
    let mut value = 0usize;
    let mut header = 1usize;
    for (i, &b) in rest.iter().take(4).enumerate() {
        value |= usize::from(b & 0x7F) << (7 * i);
        header += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let body = bytes.get(header..)?;
    let kind = first >> 4;
    let u16_at = |at: usize| {
        let hi = *body.get(at)?;
        let lo = *body.get(at + 1)?;
        Some(u16::from_be_bytes([hi, lo]))
    };
    let (qos, id) = if kind == 3 {
        let qos = publish_qos(first);
        let id = match qos {
            Some(QoS::AtLeastOnce | QoS::ExactlyOnce) => {
                u16_at(0).and_then(|topic_len| u16_at(2 + usize::from(topic_len)))
            }
            _ => None,
        };
        (qos, id)
    } else if id_first(kind) {
        (None, u16_at(0))
    } else {
        (None, None)
    };
    Some(PacketInfo {
        kind,
        qos,
        dup: kind == 3 && first & 0x08 != 0,
        id,
        len: header + value,
    })
}

/// Where the incoming framer is inside the current packet.
#[derive(Clone, Copy, Debug, Default)]
enum Stage {
    /// Waiting for a fixed header's first byte.
    #[default]
    Start,
    /// Reading the Remaining Length (`shift`: bits read so far).
    Length { first: u8, value: usize, shift: u32 },
    /// Inside the body: `pos` of `len` bytes; `grab` holds the first two body bytes (the
    /// identifier of acks, or a PUBLISH's topic length), `id` a PUBLISH's identifier, found
    /// at `id_at`.
    Body {
        first: u8,
        len: usize,
        header: usize,
        pos: usize,
        grab: [u8; 2],
        id_at: Option<usize>,
        id: [u8; 2],
    },
    /// The stream is not MQTT (a Remaining Length over four bytes): the Session ends the
    /// connection; nothing more is counted until the next one.
    Lost,
}

/// Follows packet boundaries across the chunks the socket delivers, yielding a
/// [`PacketInfo`] for each packet that completes. O(1) state; skips payloads without looking.
#[derive(Clone, Debug, Default)]
pub(crate) struct Framer {
    stage: Stage,
}

impl Framer {
    /// Starts over (a new connection).
    pub(crate) fn reset(&mut self) {
        self.stage = Stage::Start;
    }

    /// Consumes `bytes`, calling `done` for every packet completed in them.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], mut done: impl FnMut(PacketInfo)) {
        while !bytes.is_empty() {
            match &mut self.stage {
                Stage::Lost => return,
                Stage::Start => {
                    let first = bytes[0];
                    bytes = &bytes[1..];
                    self.stage = Stage::Length {
                        first,
                        value: 0,
                        shift: 0,
                    };
                }
                Stage::Length {
                    first,
                    value,
                    shift,
                } => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    *value |= usize::from(b & 0x7F) << *shift;
                    *shift += 7;
                    if b & 0x80 != 0 {
                        if *shift >= 28 {
                            self.stage = Stage::Lost;
                        }
                        continue;
                    }
                    let (first, len, header) = (*first, *value, 1 + (*shift / 7) as usize);
                    self.stage = Stage::Body {
                        first,
                        len,
                        header,
                        pos: 0,
                        grab: [0; 2],
                        id_at: None,
                        id: [0; 2],
                    };
                    self.finish_if_done(&mut done);
                }
                Stage::Body {
                    first,
                    len,
                    pos,
                    grab,
                    id_at,
                    id,
                    ..
                } => {
                    let kind = *first >> 4;
                    let publish_with_id = kind == 3
                        && matches!(
                            publish_qos(*first),
                            Some(QoS::AtLeastOnce | QoS::ExactlyOnce)
                        );
                    if *pos < 2 && (publish_with_id || id_first(kind)) {
                        // The first two body bytes: an ack's identifier or a PUBLISH's
                        // topic length.
                        grab[*pos] = bytes[0];
                        bytes = &bytes[1..];
                        *pos += 1;
                        if publish_with_id && *pos == 2 {
                            *id_at = Some(2 + usize::from(u16::from_be_bytes([grab[0], grab[1]])));
                        }
                    } else if let Some(at) = id_at.filter(|&at| *pos >= at && *pos < at + 2) {
                        id[*pos - at] = bytes[0];
                        bytes = &bytes[1..];
                        *pos += 1;
                    } else {
                        // Skip to the next byte of interest or the end of the packet.
                        let mut target = *len;
                        if let Some(at) = *id_at {
                            if *pos < at {
                                target = target.min(at);
                            }
                        }
                        // At least one byte, so the loop always moves on.
                        let step = target.saturating_sub(*pos).clamp(1, bytes.len());
                        bytes = &bytes[step..];
                        *pos += step;
                    }
                    self.finish_if_done(&mut done);
                }
            }
        }
    }

    fn finish_if_done(&mut self, done: &mut impl FnMut(PacketInfo)) {
        let Stage::Body {
            first,
            len,
            header,
            pos,
            grab,
            id_at,
            id,
        } = self.stage
        else {
            return;
        };
        if pos < len {
            return;
        }
        let kind = first >> 4;
        let (qos, packet_id) = if kind == 3 {
            let qos = publish_qos(first);
            let id = id_at
                .filter(|&at| at + 2 <= len)
                .map(|_| u16::from_be_bytes(id));
            (qos, id)
        } else if id_first(kind) && len >= 2 {
            (None, Some(u16::from_be_bytes([grab[0], grab[1]])))
        } else {
            (None, None)
        };
        done(PacketInfo {
            kind,
            qos,
            dup: kind == 3 && first & 0x08 != 0,
            id: packet_id,
            len: header + len,
        });
        self.stage = Stage::Start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn publish(qos: u8, id: u16, topic: &str, payload: usize) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic.as_bytes());
        if qos > 0 {
            body.extend_from_slice(&id.to_be_bytes());
        }
        body.extend(core::iter::repeat_n(0xAA, payload));
        let mut p = alloc::vec![0x30 | (qos << 1)];
        let mut n = body.len();
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            p.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        p.extend(body);
        p
    }

    #[test]
    fn peek_reads_publish_and_acks() {
        let p = publish(2, 0x1234, "a/b", 300);
        let info = peek(&p).unwrap();
        assert_eq!(
            (info.kind, info.qos, info.id, info.len),
            (3, Some(QoS::ExactlyOnce), Some(0x1234), p.len())
        );
        let puback = [0x40, 2, 0, 7];
        assert_eq!(peek(&puback).unwrap().id, Some(7));
        assert_eq!(peek(&[0xC0, 0]).unwrap().kind, 12);
        assert_eq!(peek(&[]), None);
    }

    #[test]
    fn framer_finds_every_packet_whatever_the_chunking() {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, (qos, payload)) in [(0u8, 5usize), (1, 0), (2, 200), (1, 20_000)]
            .iter()
            .enumerate()
        {
            let p = publish(*qos, 100 + i as u16, "t/opic", *payload);
            expected.push((3u8, (*qos > 0).then_some(100 + i as u16), p.len()));
            stream.extend(p);
            stream.extend([0x50, 2, 0, 9]); // PUBREC 9
            expected.push((5, Some(9), 4));
            stream.extend([0xD0, 0]); // PINGRESP
            expected.push((13, None, 2));
        }
        for chunk in [1, 2, 3, 7, 64, 4096, stream.len()] {
            let mut framer = Framer::default();
            let mut got = Vec::new();
            for c in stream.chunks(chunk) {
                framer.feed(c, |i| got.push((i.kind, i.id, i.len)));
            }
            assert_eq!(got, expected, "chunk size {chunk}");
        }
    }

    #[test]
    fn framer_gives_up_on_garbage_without_panicking() {
        let mut framer = Framer::default();
        let mut n = 0;
        framer.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3], |_| n += 1);
        framer.feed(&[0x40, 2, 0, 1], |_| n += 1);
        assert_eq!(n, 0);
        framer.reset();
        framer.feed(&[0x40, 2, 0, 1], |_| n += 1);
        assert_eq!(n, 1);
    }
}
