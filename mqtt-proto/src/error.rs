//! Error types: what the peer sent wrong ([`DecodeError`]), what a caller asked that cannot be
//! written ([`EncodeError`]), and an invalid value ([`ValueError`]).

use core::fmt;

use crate::reason::ReasonCode;
use crate::rule::Rule;

/// An error's words, or nothing with the `compact-errors` feature. Always inlined, so that with
/// the feature the literal is referenced nowhere and leaves the binary; the typed error and its
/// rule stay.
#[inline(always)]
pub(crate) const fn text(what: &'static str) -> &'static str {
    if cfg!(feature = "compact-errors") {
        ""
    } else {
        what
    }
}

/// A value that breaks a rule of the specification, such as a topic name with a wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ValueError {
    /// The rule that was broken.
    pub rule: Rule,
    /// What was wrong, in words.
    pub what: &'static str,
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.what, self.rule)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ValueError {}

/// Bytes from the network that are not a valid MQTT packet.
///
/// Incomplete input is not an error: [`decode`](crate::decode) returns `Ok(None)` for it.
/// Every variant names the rule that was broken; [`DecodeError::reason_code`] gives the
/// MQTT 5.0 reason code to close the connection with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// The bytes cannot be parsed as the packet they claim to be (5.0: Malformed Packet).
    Malformed {
        /// The rule that was broken.
        rule: Rule,
        /// What was wrong, in words.
        what: &'static str,
    },
    /// The bytes parse but break a rule of the protocol (5.0: Protocol Error).
    Protocol {
        /// The rule that was broken.
        rule: Rule,
        /// What was wrong, in words.
        what: &'static str,
    },
    /// The fixed header announces a packet larger than the configured limit.
    PacketTooLarge {
        /// The size of the whole packet, header included, as announced.
        len: usize,
        /// The configured maximum.
        max: u32,
    },
    /// A CONNECT names a protocol level this codec does not speak, or not the one expected.
    UnsupportedProtocolVersion {
        /// The protocol level byte of the CONNECT.
        level: u8,
    },
}

impl DecodeError {
    #[inline(always)]
    pub(crate) const fn malformed(rule: Rule, what: &'static str) -> Self {
        Self::Malformed {
            rule,
            what: text(what),
        }
    }

    #[inline(always)]
    pub(crate) const fn protocol(rule: Rule, what: &'static str) -> Self {
        Self::Protocol {
            rule,
            what: text(what),
        }
    }

    /// The rule that was broken.
    pub fn rule(&self) -> Rule {
        use crate::rule::rules;
        match *self {
            Self::Malformed { rule, .. } | Self::Protocol { rule, .. } => rule,
            Self::PacketTooLarge { .. } => rules::PACKET_TOO_LARGE,
            Self::UnsupportedProtocolVersion { .. } => rules::PROTOCOL_LEVEL,
        }
    }

    /// The MQTT 5.0 reason code that a DISCONNECT (or CONNACK) for this error carries.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Malformed { .. } => ReasonCode::MalformedPacket,
            Self::Protocol { .. } => ReasonCode::ProtocolError,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::UnsupportedProtocolVersion { .. } => ReasonCode::UnsupportedProtocolVersion,
        }
    }
}

impl From<ValueError> for DecodeError {
    fn from(e: ValueError) -> Self {
        Self::Malformed {
            rule: e.rule,
            what: e.what,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { rule, what } => write!(f, "malformed packet: {what} [{rule}]"),
            Self::Protocol { rule, what } => write!(f, "protocol error: {what} [{rule}]"),
            Self::PacketTooLarge { len, max } => write!(
                f,
                "packet of {len} bytes exceeds the maximum packet size of {max} bytes; \
                 raise Limits::max_packet_size if the peer is allowed to send it [{}]",
                self.rule()
            ),
            Self::UnsupportedProtocolVersion { level } => write!(
                f,
                "CONNECT with protocol level {level}: only 4 (3.1.1) and 5 (5.0) are supported, \
                 and it must match the version the decoder was given [{}]",
                self.rule()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// A packet that cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// A field breaks a rule, or uses a feature the protocol version lacks.
    Invalid {
        /// The rule that would be broken.
        rule: Rule,
        /// What was wrong, in words.
        what: &'static str,
    },
    /// The packet is longer than MQTT can express (268,435,455 bytes after the fixed header)
    /// or than the limit given.
    PacketTooLarge {
        /// The size of the whole packet in bytes.
        len: usize,
        /// The largest size allowed.
        max: usize,
    },
    /// The output slice is too small; nothing was written.
    BufferTooSmall {
        /// The number of bytes the packet needs.
        required: usize,
    },
}

impl EncodeError {
    #[inline(always)]
    pub(crate) const fn invalid(rule: Rule, what: &'static str) -> Self {
        Self::Invalid {
            rule,
            what: text(what),
        }
    }
}

impl From<ValueError> for EncodeError {
    fn from(e: ValueError) -> Self {
        Self::Invalid {
            rule: e.rule,
            what: e.what,
        }
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { rule, what } => write!(f, "cannot encode packet: {what} [{rule}]"),
            Self::PacketTooLarge { len, max } => write!(
                f,
                "packet of {len} bytes exceeds the maximum of {max} bytes; send a smaller payload"
            ),
            Self::BufferTooSmall { required } => write!(
                f,
                "output buffer too small: the packet needs {required} bytes; nothing was written"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}
