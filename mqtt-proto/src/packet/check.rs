//! Validation shared by the encoders: every field is checked before a byte is written.

use crate::error::{DecodeError, EncodeError};
use crate::properties::{Properties, PropertyContext};
use crate::reason::{PacketType, ReasonCode};
use crate::rule::rules;
use crate::types::{check_binary, check_mqtt_str, ProtocolVersion};

/// The wire length of a property list in `v`: nothing in 3.1.1 (where it must be empty).
pub(crate) fn properties_len(
    p: &Properties<'_>,
    v: ProtocolVersion,
    ctx: PropertyContext,
) -> Result<usize, EncodeError> {
    match v {
        ProtocolVersion::V311 if p.is_empty() => Ok(0),
        ProtocolVersion::V311 => Err(EncodeError::invalid(
            rules::NOT_IN_V311,
            "MQTT 3.1.1 packets carry no properties",
        )),
        ProtocolVersion::V5 => {
            p.check(ctx).map_err(|e| match e {
                DecodeError::Malformed { rule, what } | DecodeError::Protocol { rule, what } => {
                    EncodeError::invalid(rule, what)
                }
                _ => EncodeError::invalid(rules::PROPERTY_NOT_ALLOWED, "invalid property list"),
            })?;
            Ok(p.wire_len())
        }
    }
}

/// The wire length of a UTF-8 string field.
pub(crate) fn str_len(s: &str) -> Result<usize, EncodeError> {
    check_mqtt_str(s)?;
    Ok(2 + s.len())
}

/// The wire length of a binary data field.
pub(crate) fn binary_len(b: &[u8]) -> Result<usize, EncodeError> {
    check_binary(b)?;
    Ok(2 + b.len())
}

/// Checks that `code` may be sent in a `packet` of version `v`.
pub(crate) fn reason(
    code: ReasonCode,
    packet: PacketType,
    v: ProtocolVersion,
) -> Result<(), EncodeError> {
    if !code.is_valid_for(packet) {
        return Err(EncodeError::invalid(
            rules::REASON_CODE,
            "this reason code is not defined for this packet type",
        ));
    }
    if v == ProtocolVersion::V311 && code != ReasonCode::Success {
        return Err(EncodeError::invalid(
            rules::NOT_IN_V311,
            "MQTT 3.1.1 has no reason code in this packet",
        ));
    }
    Ok(())
}

/// Decoding side: a reason code byte valid for `packet` (5.0 §2.4).
pub(crate) fn decode_reason(byte: u8, packet: PacketType) -> Result<ReasonCode, DecodeError> {
    ReasonCode::from_u8(byte)
        .filter(|c| c.is_valid_for(packet))
        .ok_or(DecodeError::malformed(
            rules::REASON_CODE,
            "reason code not defined for this packet type",
        ))
}
