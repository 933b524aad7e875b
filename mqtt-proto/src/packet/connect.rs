//! CONNECT (§3.1) and CONNACK (§3.2).

use core::fmt;

use super::check::{binary_len, decode_reason, properties_len, str_len};
use super::sink::Sink;
use crate::error::{DecodeError, EncodeError};
use crate::parse::{self, binary, fail, string, topic_name, u16_, u8_, PResult};
use crate::properties::{properties, Properties, PropertyContext, Redacted};
use crate::reason::{PacketType, ReasonCode};
use crate::rule::rules;
use crate::types::{ProtocolVersion, QoS, TopicName};

/// The will message of a CONNECT: published by the server if the connection ends without a
/// DISCONNECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Will<'a> {
    /// Where the will is published.
    pub topic: TopicName<'a>,
    /// The will's payload.
    pub payload: &'a [u8],
    /// The will's QoS.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will properties (5.0): delay interval, expiry, content type, ...
    pub properties: Properties<'a>,
}

/// CONNECT: the first packet a client sends (§3.1).
///
/// `Debug` shows the password as [`Redacted`](crate::Redacted) (and the properties' Authentication
/// Data likewise), so logging a packet never logs a secret.
///
/// ```
/// use mqtt_sansio_proto::{Connect, Packet, ProtocolVersion};
/// let connect = Connect::new("sensor-17", true, 60);
/// let mut out = Vec::new();
/// Packet::Connect(connect).encode(ProtocolVersion::V311, &mut out).unwrap();
/// assert_eq!(&out[..4], &[0x10, 21, 0x00, 0x04]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Connect<'a> {
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 turns it off.
    pub keep_alive: u16,
    /// The client identifier; may be empty only with a clean session [MQTT-3.1.3-7].
    pub client_id: &'a str,
    /// The will message, if any.
    pub will: Option<Will<'a>>,
    /// The user name, if any.
    pub username: Option<&'a str>,
    /// The password, if any. In 3.1.1 it needs a user name [MQTT-3.1.2-22].
    pub password: Option<&'a [u8]>,
    /// CONNECT properties (5.0).
    pub properties: Properties<'a>,
}

impl fmt::Debug for Connect<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connect")
            .field("clean_start", &self.clean_start)
            .field("keep_alive", &self.keep_alive)
            .field("client_id", &self.client_id)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.map(|_| Redacted))
            .field("properties", &self.properties)
            .finish()
    }
}

impl<'a> Connect<'a> {
    /// A CONNECT with no will, credentials or properties.
    pub const fn new(client_id: &'a str, clean_start: bool, keep_alive: u16) -> Self {
        Self {
            clean_start,
            keep_alive,
            client_id,
            will: None,
            username: None,
            password: None,
            properties: Properties::EMPTY,
        }
    }

    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(connect(body, v))
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        // Protocol name (2 + 4), level, flags, keep alive.
        let mut len = 6 + 1 + 1 + 2;
        len += properties_len(&self.properties, v, PropertyContext::Connect)?;
        len += str_len(self.client_id)?;
        if let Some(w) = &self.will {
            len += properties_len(&w.properties, v, PropertyContext::Will)?;
            if w.topic.is_empty() {
                return Err(EncodeError::invalid(
                    rules::TOPIC_EMPTY,
                    "the will topic must not be empty",
                ));
            }
            len += 2 + w.topic.as_str().len();
            len += binary_len(w.payload)?;
        }
        if let Some(u) = self.username {
            len += str_len(u)?;
        }
        if let Some(p) = self.password {
            if v == ProtocolVersion::V311 && self.username.is_none() {
                return Err(EncodeError::invalid(
                    rules::PASSWORD_WITHOUT_USERNAME,
                    "MQTT 3.1.1 allows a password only together with a user name",
                ));
            }
            len += binary_len(p)?;
        }
        Ok(len)
    }

    fn flags(&self) -> u8 {
        let mut f = 0;
        if self.clean_start {
            f |= 0b0000_0010;
        }
        if let Some(w) = &self.will {
            f |= 0b0000_0100 | (w.qos.as_u8() << 3);
            if w.retain {
                f |= 0b0010_0000;
            }
        }
        if self.password.is_some() {
            f |= 0b0100_0000;
        }
        if self.username.is_some() {
            f |= 0b1000_0000;
        }
        f
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_prefixed(b"MQTT");
        s.put_u8(v.level());
        s.put_u8(self.flags());
        s.put_u16(self.keep_alive);
        if v == ProtocolVersion::V5 {
            s.put_properties(&self.properties);
        }
        s.put_prefixed(self.client_id.as_bytes());
        if let Some(w) = &self.will {
            if v == ProtocolVersion::V5 {
                s.put_properties(&w.properties);
            }
            s.put_prefixed(w.topic.as_str().as_bytes());
            s.put_prefixed(w.payload);
        }
        if let Some(u) = self.username {
            s.put_prefixed(u.as_bytes());
        }
        if let Some(p) = self.password {
            s.put_prefixed(p);
        }
    }
}

fn connect(i: &[u8], v: ProtocolVersion) -> PResult<'_, Connect<'_>> {
    let (i, name) = binary(i)?;
    let (i, level) = u8_(i)?;
    if name == b"MQIsdp" {
        // MQTT 3.1: a version we do not speak, not garbage.
        return fail(DecodeError::UnsupportedProtocolVersion { level });
    }
    if name != b"MQTT" {
        return fail(DecodeError::malformed(
            rules::PROTOCOL_NAME,
            "the protocol name is not \"MQTT\"",
        ));
    }
    if level != v.level() {
        return fail(DecodeError::UnsupportedProtocolVersion { level });
    }
    let (i, flags) = u8_(i)?;
    if flags & 0b0000_0001 != 0 {
        return fail(DecodeError::malformed(
            rules::CONNECT_RESERVED_FLAG,
            "the reserved CONNECT flag is set",
        ));
    }
    let has_will = flags & 0b0000_0100 != 0;
    let will_qos_bits = (flags >> 3) & 0b11;
    let will_retain = flags & 0b0010_0000 != 0;
    let has_password = flags & 0b0100_0000 != 0;
    let has_username = flags & 0b1000_0000 != 0;
    if !has_will && will_qos_bits != 0 {
        return fail(DecodeError::malformed(
            rules::WILL_QOS_WITHOUT_WILL,
            "will QoS set without a will",
        ));
    }
    if !has_will && will_retain {
        return fail(DecodeError::malformed(
            rules::WILL_RETAIN_WITHOUT_WILL,
            "will retain set without a will",
        ));
    }
    let will_qos = match QoS::from_u8(will_qos_bits) {
        Some(q) => q,
        None => {
            return fail(DecodeError::malformed(
                rules::WILL_QOS_INVALID,
                "will QoS 3 is not valid",
            ))
        }
    };
    if v == ProtocolVersion::V311 && has_password && !has_username {
        return fail(DecodeError::malformed(
            rules::PASSWORD_WITHOUT_USERNAME,
            "password flag set without user name flag",
        ));
    }
    let (i, keep_alive) = u16_(i)?;
    let (i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::Connect)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    let (mut i, client_id) = string(i)?;
    let mut will = None;
    if has_will {
        let (j, wprops) = match v {
            ProtocolVersion::V5 => properties(i, PropertyContext::Will)?,
            ProtocolVersion::V311 => (i, Properties::EMPTY),
        };
        let (j, topic) = topic_name(j, false)?;
        let (j, payload) = binary(j)?;
        i = j;
        will = Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: wprops,
        });
    }
    let mut username = None;
    if has_username {
        let (j, u) = string(i)?;
        i = j;
        username = Some(u);
    }
    let mut password = None;
    if has_password {
        let (j, p) = binary(i)?;
        i = j;
        password = Some(p);
    }
    Ok((
        i,
        Connect {
            clean_start: flags & 0b0000_0010 != 0,
            keep_alive,
            client_id,
            will,
            username,
            password,
            properties: props,
        },
    ))
}

/// CONNACK: the server's answer to CONNECT (§3.2).
///
/// In 3.1.1 the return code (0..=5) is carried as its 5.0 equivalent [`ReasonCode`]; see
/// [`ReasonCode::from_v311_connack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnAck<'a> {
    /// Whether the server resumed a stored session.
    pub session_present: bool,
    /// Success, or why the connection was refused.
    pub reason: ReasonCode,
    /// CONNACK properties (5.0).
    pub properties: Properties<'a>,
}

impl<'a> ConnAck<'a> {
    pub(super) fn decode(body: &'a [u8], v: ProtocolVersion) -> Result<Self, DecodeError> {
        parse::all(connack(body, v))
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        match v {
            ProtocolVersion::V311 if self.reason.to_v311_connack().is_none() => {
                return Err(EncodeError::invalid(
                    rules::CONNACK_RETURN_CODE,
                    "this reason code has no MQTT 3.1.1 CONNACK return code",
                ))
            }
            ProtocolVersion::V5 if !self.reason.is_valid_for(PacketType::ConnAck) => {
                return Err(EncodeError::invalid(
                    rules::REASON_CODE,
                    "not a CONNACK reason code",
                ))
            }
            _ => {}
        }
        if self.session_present && self.reason != ReasonCode::Success {
            return Err(EncodeError::invalid(
                rules::CONNACK_SESSION_PRESENT,
                "a refusing CONNACK must not set session present",
            ));
        }
        Ok(2 + properties_len(&self.properties, v, PropertyContext::ConnAck)?)
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        s.put_u8(u8::from(self.session_present));
        match v {
            ProtocolVersion::V311 => s.put_u8(self.reason.to_v311_connack().unwrap_or(0)),
            ProtocolVersion::V5 => {
                s.put_u8(self.reason.as_u8());
                s.put_properties(&self.properties);
            }
        }
    }
}

fn connack(i: &[u8], v: ProtocolVersion) -> PResult<'_, ConnAck<'_>> {
    let (i, ack_flags) = u8_(i)?;
    if ack_flags & 0b1111_1110 != 0 {
        return fail(DecodeError::malformed(
            rules::CONNACK_RESERVED_FLAGS,
            "reserved CONNACK flags are set",
        ));
    }
    let (i, code) = u8_(i)?;
    let reason = match v {
        ProtocolVersion::V311 => match ReasonCode::from_v311_connack(code) {
            Some(r) => r,
            None => {
                return fail(DecodeError::malformed(
                    rules::CONNACK_RETURN_CODE,
                    "CONNACK return code above 5",
                ))
            }
        },
        ProtocolVersion::V5 => match decode_reason(code, PacketType::ConnAck) {
            Ok(r) => r,
            Err(e) => return fail(e),
        },
    };
    let session_present = ack_flags & 1 != 0;
    if session_present && reason != ReasonCode::Success {
        return fail(DecodeError::protocol(
            rules::CONNACK_SESSION_PRESENT,
            "a refusing CONNACK claims a session is present",
        ));
    }
    let (i, props) = match v {
        ProtocolVersion::V5 => properties(i, PropertyContext::ConnAck)?,
        ProtocolVersion::V311 => (i, Properties::EMPTY),
    };
    Ok((
        i,
        ConnAck {
            session_present,
            reason,
            properties: props,
        },
    ))
}
