//! The [`Packet`] enum, the fixed header, and the entry points [`decode`] and [`frame_len`].

mod ack;
mod check;
mod connect;
mod disconnect;
#[cfg(feature = "fast-paths")]
mod fast;
mod publish;
mod sink;
mod subscribe;

pub use ack::Ack;
pub use connect::{ConnAck, Connect, Will};
pub use disconnect::{Auth, Disconnect};
pub use publish::{Publish, QosPid};
pub use subscribe::{
    RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions, UnsubAck, Unsubscribe,
};

use sink::{Sink, SliceSink};

use crate::error::{DecodeError, EncodeError};
use crate::reason::PacketType;
use crate::rule::rules;
use crate::types::ProtocolVersion;
use crate::varint;

/// Limits applied while decoding.
///
/// ```
/// let mut limits = mqtt_sansio_proto::Limits::default();
/// limits.max_packet_size = 64 * 1024;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest whole packet accepted, fixed header included. A fixed header announcing a
    /// larger packet is rejected at once, before its body arrives.
    pub max_packet_size: u32,
}

impl Limits {
    /// The largest packet MQTT can express: 1 + 4 + 268,435,455 bytes.
    pub const PROTOCOL_MAX_PACKET_SIZE: u32 = 1 + 4 + varint::MAX;

    /// Limits with the given maximum packet size.
    pub const fn with_max_packet_size(max_packet_size: u32) -> Self {
        Self { max_packet_size }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::with_max_packet_size(Self::PROTOCOL_MAX_PACKET_SIZE)
    }
}

/// An MQTT control packet of either protocol version, borrowing from the bytes it was decoded
/// from (or from the values it was built from, to encode).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// CONNECT.
    Connect(Connect<'a>),
    /// CONNACK.
    ConnAck(ConnAck<'a>),
    /// PUBLISH.
    Publish(Publish<'a>),
    /// PUBACK.
    PubAck(Ack<'a>),
    /// PUBREC.
    PubRec(Ack<'a>),
    /// PUBREL.
    PubRel(Ack<'a>),
    /// PUBCOMP.
    PubComp(Ack<'a>),
    /// SUBSCRIBE.
    Subscribe(Subscribe<'a>),
    /// SUBACK.
    SubAck(SubAck<'a>),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe<'a>),
    /// UNSUBACK.
    UnsubAck(UnsubAck<'a>),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT.
    Disconnect(Disconnect<'a>),
    /// AUTH (MQTT 5.0 only).
    Auth(Auth<'a>),
}

/// The fixed header: packet type, flags and the length of the rest.
struct FixedHeader {
    packet_type: PacketType,
    flags: u8,
    header_len: usize,
    remaining: usize,
}

/// Reads the fixed header; `Ok(None)` if it is not complete yet.
fn fixed_header(input: &[u8], limits: &Limits) -> Result<Option<FixedHeader>, DecodeError> {
    let Some((&first, rest)) = input.split_first() else {
        return Ok(None);
    };
    let Some((remaining, n)) = varint::decode(rest)? else {
        return Ok(None);
    };
    let header_len = 1 + n;
    let total = header_len + remaining as usize;
    if total > limits.max_packet_size as usize {
        return Err(DecodeError::PacketTooLarge {
            len: total,
            max: limits.max_packet_size,
        });
    }
    let packet_type = PacketType::from_u8(first >> 4).ok_or(DecodeError::malformed(
        rules::PACKET_TYPE_RESERVED,
        "packet type 0 is reserved",
    ))?;
    Ok(Some(FixedHeader {
        packet_type,
        flags: first & 0x0F,
        header_len,
        remaining: remaining as usize,
    }))
}

/// The length of the whole packet at the start of `input`, once its fixed header is complete.
///
/// Lets a transport size its reads. `Ok(None)`: the fixed header is not complete yet. A
/// packet over `limits.max_packet_size` is an error as soon as its header is seen.
///
/// ```
/// use mqtt_sansio_proto::{frame_len, Limits};
/// // PINGREQ: two bytes in all.
/// assert_eq!(frame_len(&[0xC0, 0x00], &Limits::default()), Ok(Some(2)));
/// assert_eq!(frame_len(&[0x30], &Limits::default()), Ok(None));
/// ```
pub fn frame_len(input: &[u8], limits: &Limits) -> Result<Option<usize>, DecodeError> {
    Ok(fixed_header(input, limits)?.map(|h| h.header_len + h.remaining))
}

/// Checks the flags of the fixed header for every type but PUBLISH [MQTT-2.2.2-1].
fn check_flags(h: &FixedHeader) -> Result<(), DecodeError> {
    let expected = match h.packet_type {
        PacketType::Publish => return Ok(()),
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    };
    if h.flags == expected {
        Ok(())
    } else {
        Err(DecodeError::malformed(
            rules::FIXED_HEADER_FLAGS,
            "reserved flags of the fixed header have the wrong value",
        ))
    }
}

/// Decodes one packet from the start of `input`.
///
/// - `Ok(None)`: `input` holds only part of a packet; call again with more bytes.
/// - `Ok(Some((packet, consumed)))`: one packet, made of the first `consumed` bytes.
/// - `Err(_)`: the bytes are not a valid packet of `version`; close the connection.
///
/// The size limit is checked from the fixed header, before the body arrives. Nothing is
/// allocated except for the topic lists of SUBSCRIBE and UNSUBSCRIBE, and for SUBACK and
/// UNSUBACK code lists longer than eight.
///
/// ```
/// use mqtt_sansio_proto::{decode, Limits, Packet, ProtocolVersion, QoS};
/// let bytes = [0x30, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'];
/// let (packet, used) = decode(&bytes, ProtocolVersion::V311, &Limits::default())
///     .unwrap()
///     .unwrap();
/// assert_eq!(used, 9);
/// let Packet::Publish(p) = packet else { panic!() };
/// assert_eq!((p.topic.as_str(), p.payload, p.qos.qos()), ("a/b", &b"hi"[..], QoS::AtMostOnce));
/// // A partial packet is not an error.
/// assert_eq!(decode(&bytes[..4], ProtocolVersion::V311, &Limits::default()), Ok(None));
/// ```
pub fn decode<'a>(
    input: &'a [u8],
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<(Packet<'a>, usize)>, DecodeError> {
    decode_as::<false>(input, version, limits)
}

/// [`decode`] on the client side of a connection: a packet only a client sends (CONNECT,
/// SUBSCRIBE, UNSUBSCRIBE) is refused by its type once it is whole, with a protocol error
/// citing [`rules::PACKET_DIRECTION`], and its body is not parsed. A client that decodes with
/// this function carries none of those parsers in its binary (issue 15: flash).
///
/// Every other packet, and every error found before the body (fixed header flags, size),
/// decodes exactly as with [`decode`].
///
/// ```
/// use mqtt_sansio_proto::{decode_from_server, rules, DecodeError, Limits, ProtocolVersion};
/// // UNSUBSCRIBE, packet id 1, filter "a": well-formed, but never sent by a server.
/// let unsubscribe = [0xA2, 0x05, 0x00, 0x01, 0x00, 0x01, b'a'];
/// let err = decode_from_server(&unsubscribe, ProtocolVersion::V311, &Limits::default());
/// assert!(matches!(err, Err(DecodeError::Protocol { rule, .. }) if rule == rules::PACKET_DIRECTION));
/// // Incomplete: wait for the rest, as `decode` does.
/// assert_eq!(decode_from_server(&unsubscribe[..3], ProtocolVersion::V311, &Limits::default()), Ok(None));
/// ```
pub fn decode_from_server<'a>(
    input: &'a [u8],
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<(Packet<'a>, usize)>, DecodeError> {
    decode_as::<true>(input, version, limits)
}

#[inline(always)]
fn decode_as<'a, const AT_CLIENT: bool>(
    input: &'a [u8],
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<(Packet<'a>, usize)>, DecodeError> {
    if !version.is_enabled() {
        return Err(DecodeError::UnsupportedProtocolVersion {
            level: version.level(),
        });
    }
    let version = version.compiled();
    #[cfg(feature = "fast-paths")]
    {
        if let Some(decoded) = fast::decode(input, version, limits) {
            return Ok(Some(decoded));
        }
        // Nothing left: the Session reads until this answer, so on the client side it is
        // given without the call and the register saves of the general path.
        if AT_CLIENT && input.is_empty() {
            return Ok(None);
        }
    }
    decode_general::<AT_CLIENT>(input, version, limits)
}

/// Every packet in every form, every error: the path the fast decoder (`fast::decode`,
/// feature `fast-paths`) leaves the rest to. `version` is enabled and compiled. Out of line,
/// so that the fast path does not pay for the registers and stack of all the decoders.
#[inline(never)]
fn decode_general<'a, const AT_CLIENT: bool>(
    input: &'a [u8],
    version: ProtocolVersion,
    limits: &Limits,
) -> Result<Option<(Packet<'a>, usize)>, DecodeError> {
    let Some(h) = fixed_header(input, limits)? else {
        return Ok(None);
    };
    if h.packet_type == PacketType::Auth && version == ProtocolVersion::V311 {
        return Err(DecodeError::malformed(
            rules::PACKET_TYPE_RESERVED,
            "packet type 15 is reserved in MQTT 3.1.1",
        ));
    }
    check_flags(&h)?;
    if h.packet_type == PacketType::Publish {
        // QoS 3 is visible in the first byte: fail before the body.
        Publish::check_flags(h.flags)?;
    }
    let total = h.header_len + h.remaining;
    let Some(body) = input.get(h.header_len..total) else {
        return Ok(None);
    };
    if AT_CLIENT
        && matches!(
            h.packet_type,
            PacketType::Connect | PacketType::Subscribe | PacketType::Unsubscribe
        )
    {
        return Err(DecodeError::protocol(
            rules::PACKET_DIRECTION,
            "the server sent a packet only a client may send",
        ));
    }
    let v = version;
    let packet = match h.packet_type {
        PacketType::Connect => Packet::Connect(Connect::decode(body, v)?),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::decode(body, v)?),
        PacketType::Publish => Packet::Publish(Publish::decode(h.flags, body, v)?),
        t
        @ (PacketType::PubAck | PacketType::PubRec | PacketType::PubRel | PacketType::PubComp) => {
            // One call for the four acks (issue 15: flash).
            let ack = Ack::decode(t, body, v)?;
            match t {
                PacketType::PubAck => Packet::PubAck(ack),
                PacketType::PubRec => Packet::PubRec(ack),
                PacketType::PubRel => Packet::PubRel(ack),
                _ => Packet::PubComp(ack),
            }
        }
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(body, v)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(body, v)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(body, v)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(body, v)?),
        PacketType::PingReq | PacketType::PingResp => {
            if !body.is_empty() {
                return Err(DecodeError::malformed(
                    rules::PACKET_LENGTH,
                    "PINGREQ and PINGRESP have no body",
                ));
            }
            if h.packet_type == PacketType::PingReq {
                Packet::PingReq
            } else {
                Packet::PingResp
            }
        }
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(body, v)?),
        PacketType::Auth if AT_CLIENT && !cfg!(feature = "enhanced-auth") => {
            // Built without enhanced authentication, the client never sends an
            // Authentication Method, so the server must not send AUTH [MQTT-4.12.0-6].
            return Err(DecodeError::protocol(
                rules::AUTH_NOT_REQUESTED,
                "AUTH from a server although this client does not do enhanced authentication",
            ));
        }
        PacketType::Auth => Packet::Auth(Auth::decode(body)?),
    };
    Ok(Some((packet, total)))
}

impl Packet<'_> {
    /// The type of this packet.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// The low nibble of the first byte.
    fn flags(&self) -> u8 {
        match self {
            Self::Publish(p) => p.flags(),
            Self::PubRel(_) | Self::Subscribe(_) | Self::Unsubscribe(_) => 0b0010,
            _ => 0,
        }
    }

    /// Validates the packet for `v` and returns the length of its body. `TO_SERVER`: only
    /// what a client sends is taken (see [`Packet::encode_to_server`]), so that the encoders
    /// of the other packets are not linked into a client.
    fn body_len<const TO_SERVER: bool>(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        match self {
            Self::ConnAck(_) | Self::SubAck(_) | Self::UnsubAck(_) | Self::PingResp
                if TO_SERVER =>
            {
                Err(EncodeError::invalid(
                    rules::PACKET_DIRECTION,
                    "a client does not send CONNACK, SUBACK, UNSUBACK or PINGRESP",
                ))
            }
            // Built without enhanced authentication, a client never sends an Authentication
            // Method, so it must not send AUTH [MQTT-4.12.0-7].
            Self::Auth(_) if TO_SERVER && !cfg!(feature = "enhanced-auth") => {
                Err(EncodeError::invalid(
                    rules::AUTH_NOT_SENT,
                    "AUTH from a client built without enhanced authentication",
                ))
            }
            Self::Connect(p) => p.body_len(v),
            Self::ConnAck(p) => p.body_len(v),
            Self::Publish(p) => p.body_len(v),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.body_len(self.packet_type(), v)
            }
            Self::Subscribe(p) => p.body_len(v),
            Self::SubAck(p) => p.body_len(v),
            Self::Unsubscribe(p) => p.body_len(v),
            Self::UnsubAck(p) => p.body_len(v),
            Self::PingReq | Self::PingResp => Ok(0),
            Self::Disconnect(p) => p.body_len(v),
            Self::Auth(p) => p.body_len(v),
        }
    }

    fn write_body<const TO_SERVER: bool, S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        match self {
            // Refused by `body_len` before anything is written.
            Self::ConnAck(_) | Self::SubAck(_) | Self::UnsubAck(_) | Self::PingResp
                if TO_SERVER => {}
            Self::Auth(_) if TO_SERVER && !cfg!(feature = "enhanced-auth") => {}
            Self::Connect(p) => p.write_body(v, s),
            Self::ConnAck(p) => p.write_body(v, s),
            Self::Publish(p) => p.write_body(v, s),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.write_body(v, s)
            }
            Self::Subscribe(p) => p.write_body(v, s),
            Self::SubAck(p) => p.write_body(v, s),
            Self::Unsubscribe(p) => p.write_body(v, s),
            Self::UnsubAck(p) => p.write_body(v, s),
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(p) => p.write_body(v, s),
            Self::Auth(p) => p.write_body(v, s),
        }
    }

    /// PUBACK, PUBREC, PUBREL or PUBCOMP in the two-byte form (Success, no properties: the
    /// same in both versions, 5.0 §3.4.2.1), written out; nothing to validate.
    #[cfg(feature = "fast-paths")]
    #[inline(always)]
    fn plain_ack(&self, version: ProtocolVersion) -> Option<[u8; 4]> {
        let (Self::PubAck(a) | Self::PubRec(a) | Self::PubRel(a) | Self::PubComp(a)) = self else {
            return None;
        };
        if !(a.is_plain() && version.is_enabled()) {
            return None;
        }
        let [hi, lo] = a.packet_id.get().to_be_bytes();
        Some([((self.packet_type() as u8) << 4) | self.flags(), 2, hi, lo])
    }

    /// Validates the packet and returns (body length, whole length).
    fn lengths<const TO_SERVER: bool>(
        &self,
        v: ProtocolVersion,
    ) -> Result<(usize, usize), EncodeError> {
        if !v.is_enabled() {
            return Err(EncodeError::invalid(
                rules::PROTOCOL_LEVEL,
                "this protocol version is not compiled in (cargo features v311, v5)",
            ));
        }
        let body = self.body_len::<TO_SERVER>(v.compiled())?;
        if body > varint::MAX as usize {
            return Err(EncodeError::PacketTooLarge {
                len: body.saturating_add(5),
                max: Limits::PROTOCOL_MAX_PACKET_SIZE as usize,
            });
        }
        Ok((body, 1 + varint::len(body as u32) + body))
    }

    fn write<const TO_SERVER: bool, S: Sink>(&self, v: ProtocolVersion, body: usize, s: &mut S) {
        s.put_u8(((self.packet_type() as u8) << 4) | self.flags());
        s.put_varint(body as u32);
        self.write_body::<TO_SERVER, S>(v, s);
    }

    /// The exact number of bytes [`Packet::encode`] writes, after validating the packet.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        self.encoded_len_as::<false>(version)
    }

    /// [`Packet::encoded_len`] for what a client sends: see [`Packet::encode_to_server`].
    ///
    /// ```
    /// use mqtt_sansio_proto::{rules, EncodeError, Packet, ProtocolVersion};
    /// assert_eq!(Packet::PingReq.encoded_len_to_server(ProtocolVersion::V5), Ok(2));
    /// assert!(matches!(
    ///     Packet::PingResp.encoded_len_to_server(ProtocolVersion::V5),
    ///     Err(EncodeError::Invalid { rule, .. }) if rule == rules::PACKET_DIRECTION
    /// ));
    /// ```
    // With `fast-paths`, inlined so that a PUBLISH or an ack is measured in place, without a
    // call (the Session measures every packet it queues).
    #[cfg_attr(feature = "fast-paths", inline)]
    pub fn encoded_len_to_server(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        self.encoded_len_as::<true>(version)
    }

    #[inline(always)]
    fn encoded_len_as<const TO_SERVER: bool>(
        &self,
        version: ProtocolVersion,
    ) -> Result<usize, EncodeError> {
        #[cfg(feature = "fast-paths")]
        if version.is_enabled() {
            match self {
                Self::Publish(p) => {
                    if let Some(total) = p.plain_len(version.compiled()) {
                        return Ok(total);
                    }
                }
                _ if self.plain_ack(version).is_some() => return Ok(4),
                _ => {}
            }
        }
        self.lengths::<TO_SERVER>(version).map(|(_, total)| total)
    }

    /// Appends the packet to `out` and returns the number of bytes written.
    ///
    /// Every field is validated first: on error nothing is appended.
    ///
    /// ```
    /// use mqtt_sansio_proto::{Packet, ProtocolVersion};
    /// let mut out = Vec::new();
    /// assert_eq!(Packet::PingReq.encode(ProtocolVersion::V311, &mut out), Ok(2));
    /// assert_eq!(out, [0xC0, 0x00]);
    /// ```
    #[inline]
    pub fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        self.encode_as::<false>(version, out)
    }

    /// [`Packet::encode`] on the client side of a connection: only a packet a client sends
    /// is encoded. CONNACK, SUBACK, UNSUBACK and PINGRESP are refused with an error citing
    /// [`rules::PACKET_DIRECTION`], and AUTH too (citing [`rules::AUTH_NOT_SENT`]) when the
    /// crate is built without the `enhanced-auth` feature; nothing is appended then. Every
    /// other packet is encoded exactly as by [`Packet::encode`].
    ///
    /// The counterpart of [`decode_from_server`]: a client that encodes with this function
    /// (and measures with [`Packet::encoded_len_to_server`]) carries none of the encoders of
    /// the refused packets in its binary (issue 15: flash).
    ///
    /// ```
    /// use mqtt_sansio_proto::{rules, EncodeError, Packet, ProtocolVersion};
    /// let mut out = Vec::new();
    /// assert_eq!(Packet::PingReq.encode_to_server(ProtocolVersion::V311, &mut out), Ok(2));
    /// assert_eq!(out, [0xC0, 0x00]);
    /// let refused = Packet::PingResp.encode_to_server(ProtocolVersion::V311, &mut out);
    /// assert!(matches!(refused, Err(EncodeError::Invalid { rule, .. }) if rule == rules::PACKET_DIRECTION));
    /// assert_eq!(out.len(), 2);
    /// ```
    #[inline]
    pub fn encode_to_server(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        self.encode_as::<true>(version, out)
    }

    #[inline(always)]
    fn encode_as<const TO_SERVER: bool>(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        // What a client sends most, without the validating length pass: see
        // `Publish::encode_plain`.
        #[cfg(feature = "fast-paths")]
        if let (Self::Publish(p), true) = (self, version.is_enabled()) {
            if let Some(total) = p.encode_plain(version.compiled(), out) {
                return Ok(total);
            }
        } else if let Some(ack) = self.plain_ack(version) {
            out.extend_from_slice(&ack);
            return Ok(ack.len());
        }
        #[cfg(feature = "fast-paths")]
        if TO_SERVER {
            self.encode_general_to_server(version, out)
        } else {
            self.encode_general_any(version, out)
        }
        #[cfg(not(feature = "fast-paths"))]
        self.encode_general::<TO_SERVER>(version, out)
    }

    /// [`Packet::encode_general`] for every packet. Out of line, so that the common case
    /// above does not pay for the registers and stack of all the encoders; not generic, so
    /// compiled once, here, whoever calls it (the instruction counts of the ops table).
    #[cfg(feature = "fast-paths")]
    #[inline(never)]
    fn encode_general_any(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        self.encode_general::<false>(version, out)
    }

    /// [`Packet::encode_general`] for what a client sends, as `encode_general_any`.
    #[cfg(feature = "fast-paths")]
    #[inline(never)]
    fn encode_general_to_server(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        self.encode_general::<true>(version, out)
    }

    /// [`Packet::encode`] for every packet (`TO_SERVER`: for what a client sends): validate
    /// and measure, then write.
    #[cfg_attr(feature = "fast-paths", inline(always))]
    fn encode_general<const TO_SERVER: bool>(
        &self,
        version: ProtocolVersion,
        out: &mut alloc::vec::Vec<u8>,
    ) -> Result<usize, EncodeError> {
        let (body, total) = self.lengths::<TO_SERVER>(version)?;
        let version = version.compiled();
        out.reserve(total);
        self.write::<TO_SERVER, _>(version, body, out);
        Ok(total)
    }

    /// Writes the packet at the start of `buf` and returns the number of bytes written.
    ///
    /// For targets without a heap. If `buf` is too small the error says how many bytes are
    /// needed and nothing is written.
    ///
    /// ```
    /// use mqtt_sansio_proto::{EncodeError, Packet, ProtocolVersion};
    /// let mut small = [0u8; 1];
    /// assert_eq!(
    ///     Packet::PingReq.encode_to_slice(ProtocolVersion::V5, &mut small),
    ///     Err(EncodeError::BufferTooSmall { required: 2 })
    /// );
    /// assert_eq!(small, [0]);
    /// ```
    pub fn encode_to_slice(
        &self,
        version: ProtocolVersion,
        buf: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let (body, total) = self.lengths::<false>(version)?;
        let version = version.compiled();
        let Some(dest) = buf.get_mut(..total) else {
            return Err(EncodeError::BufferTooSmall { required: total });
        };
        let mut sink = SliceSink::new(dest);
        self.write::<false, _>(version, body, &mut sink);
        debug_assert_eq!(
            sink.written(),
            total,
            "encoded_len disagrees with the writer"
        );
        Ok(total)
    }
}

macro_rules! packet_from {
    ($($variant:ident($ty:ident)),*) => {
        $(impl<'a> From<$ty<'a>> for Packet<'a> {
            fn from(p: $ty<'a>) -> Self {
                Self::$variant(p)
            }
        })*
    };
}

packet_from!(
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    Disconnect(Disconnect),
    Auth(Auth)
);
