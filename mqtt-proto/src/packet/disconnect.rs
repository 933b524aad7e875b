//! DISCONNECT (§3.14) and AUTH (§3.15, 5.0 only).

use super::check::{decode_reason, properties_len, reason};
use super::sink::Sink;
use crate::error::{DecodeError, EncodeError};
use crate::parse::{self, fail, u8_, PResult};
use crate::properties::{properties, Properties, PropertyContext};
use crate::reason::{PacketType, ReasonCode};
use crate::rule::rules;
use crate::types::ProtocolVersion;

/// DISCONNECT (§3.14). In 3.1.1 it has no body: reason Normal disconnection, no properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Why the connection is closing (5.0).
    pub reason: ReasonCode,
    /// DISCONNECT properties (5.0).
    pub properties: Properties<'a>,
}

impl Disconnect<'_> {
    /// A normal disconnection with no properties.
    pub const NORMAL: Disconnect<'static> = Disconnect {
        reason: ReasonCode::NORMAL_DISCONNECTION,
        properties: Properties::EMPTY,
    };

    pub(super) fn decode(body: &[u8], v: ProtocolVersion) -> Result<Disconnect<'_>, DecodeError> {
        match v {
            ProtocolVersion::V311 if body.is_empty() => Ok(Disconnect::NORMAL),
            ProtocolVersion::V311 => Err(DecodeError::malformed(
                rules::PACKET_LENGTH,
                "a 3.1.1 DISCONNECT has no body",
            )),
            ProtocolVersion::V5 => {
                let (reason, properties) =
                    parse::all(reason_and_properties(body, PacketType::Disconnect))?;
                Ok(Disconnect { reason, properties })
            }
        }
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        reason(self.reason, PacketType::Disconnect, v)?;
        let props = properties_len(&self.properties, v, PropertyContext::Disconnect)?;
        Ok(short_form_len(v, self.reason, &self.properties, props))
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        write_reason_and_properties(v, self.reason, &self.properties, s);
    }
}

/// AUTH (§3.15, 5.0 only): a step of enhanced authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Auth<'a> {
    /// Success, Continue authentication or Re-authenticate.
    pub reason: ReasonCode,
    /// AUTH properties: authentication method and data, reason string, user properties.
    pub properties: Properties<'a>,
}

impl<'a> Auth<'a> {
    pub(super) fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let (reason, properties) = parse::all(reason_and_properties(body, PacketType::Auth))?;
        // Only the empty short form may leave the method out (§3.15.2.1, §3.15.2.2.2).
        if !body.is_empty() && properties.authentication_method().is_none() {
            return Err(DecodeError::protocol(
                rules::AUTH_METHOD_MISSING,
                "AUTH without an Authentication Method",
            ));
        }
        Ok(Self { reason, properties })
    }

    pub(super) fn body_len(&self, v: ProtocolVersion) -> Result<usize, EncodeError> {
        if v == ProtocolVersion::V311 {
            return Err(EncodeError::invalid(
                rules::NOT_IN_V311,
                "AUTH exists only in MQTT 5.0",
            ));
        }
        reason(self.reason, PacketType::Auth, v)?;
        let props = properties_len(&self.properties, v, PropertyContext::Auth)?;
        let short = self.reason == ReasonCode::Success && self.properties.is_empty();
        if !short && self.properties.authentication_method().is_none() {
            return Err(EncodeError::invalid(
                rules::AUTH_METHOD_MISSING,
                "AUTH needs an Authentication Method unless it is the empty short form",
            ));
        }
        Ok(short_form_len(v, self.reason, &self.properties, props))
    }

    pub(super) fn write_body<S: Sink>(&self, v: ProtocolVersion, s: &mut S) {
        write_reason_and_properties(v, self.reason, &self.properties, s);
    }
}

/// DISCONNECT and AUTH may leave out the reason code when it is 0x00 and there are no
/// properties, and the property length when there are none (§3.14.2.1, §3.15.2.1).
fn short_form_len(
    v: ProtocolVersion,
    reason: ReasonCode,
    p: &Properties<'_>,
    props: usize,
) -> usize {
    match v {
        ProtocolVersion::V311 => 0,
        _ if p.is_empty() && reason == ReasonCode::Success => 0,
        _ if p.is_empty() => 1,
        _ => 1 + props,
    }
}

fn write_reason_and_properties<S: Sink>(
    v: ProtocolVersion,
    reason: ReasonCode,
    p: &Properties<'_>,
    s: &mut S,
) {
    if v == ProtocolVersion::V311 || (p.is_empty() && reason == ReasonCode::Success) {
        return;
    }
    s.put_u8(reason.as_u8());
    if !p.is_empty() {
        s.put_properties(p);
    }
}

fn reason_and_properties(i: &[u8], t: PacketType) -> PResult<'_, (ReasonCode, Properties<'_>)> {
    if i.is_empty() {
        return Ok((i, (ReasonCode::Success, Properties::EMPTY)));
    }
    let (i, code) = u8_(i)?;
    let reason = match decode_reason(code, t) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if i.is_empty() {
        return Ok((i, (reason, Properties::EMPTY)));
    }
    let ctx = if t == PacketType::Auth {
        PropertyContext::Auth
    } else {
        PropertyContext::Disconnect
    };
    let (i, props) = properties(i, ctx)?;
    Ok((i, (reason, props)))
}
