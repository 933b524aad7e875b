//! MQTT 5.0 enhanced authentication (§4.12, AUTH §3.15): the [`Authenticator`] a Session
//! runs the exchange with, and its errors.
//!
//! The Session only moves Authentication Data between the broker and the authenticator; the
//! method (SCRAM, Kerberos, a token scheme, ...) lives entirely in the authenticator. With the
//! `scram` feature, [`ScramSha256`] is a ready one.

use alloc::vec::Vec;
use core::fmt;

#[cfg(feature = "scram")]
mod scram;
#[cfg(feature = "scram")]
pub use scram::ScramSha256;

/// One side of an enhanced authentication method (MQTT 5.0 §4.12), driven by the Session.
///
/// The Session calls [`start`](Self::start) for CONNECT (and for each re-authentication),
/// [`challenge`](Self::challenge) for each AUTH with reason 0x18 (Continue authentication)
/// from the broker, and [`finish`](Self::finish) on success (CONNACK 0x00, or AUTH 0x00 ending
/// a re-authentication). An `Err` from any step ends the connection with
/// [`DisconnectReason::AuthFailed`](crate::DisconnectReason::AuthFailed).
///
/// Authentication data is secret: implementations must not print it in `Debug`.
/// The trait is object safe so that a Session can hold any method as
/// `Box<dyn Authenticator>` (see [`Session::set_authenticator`](crate::Session::set_authenticator)).
pub trait Authenticator: Send {
    /// The Authentication Method sent in CONNECT and in every AUTH, for example
    /// `"SCRAM-SHA-256"`. It must not change while the Session uses the authenticator.
    fn method(&self) -> &str;

    /// Begins an exchange: the Authentication Data for CONNECT or for AUTH 0x19
    /// (Re-authenticate); `None` sends no Authentication Data.
    fn start(&mut self) -> Result<Option<Vec<u8>>, AuthError>;

    /// Answers a challenge (the Authentication Data of the broker's AUTH 0x18, if any) with
    /// the Authentication Data of our AUTH 0x18.
    fn challenge(&mut self, data: Option<&[u8]>) -> Result<Option<Vec<u8>>, AuthError>;

    /// The broker declared success (CONNACK 0x00 or AUTH 0x00) with this final
    /// Authentication Data: checks it, for methods where the server proves its identity too
    /// (the SCRAM server signature). An `Err` means the broker is not who it claims to be.
    fn finish(&mut self, data: Option<&[u8]>) -> Result<(), AuthError>;
}

/// Why an authentication step failed. Carries no authentication data, so it is safe to log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthError {
    /// The broker's Authentication Data does not follow the method.
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// The broker declared success but could not prove it knows the credentials (for
    /// example a wrong or missing SCRAM server signature): it may be an impostor.
    ServerNotVerified,
    /// The broker reported a failure inside the method (SCRAM `e=`).
    ServerRejected {
        /// The method's error name, for example `"invalid-proof"`.
        what: &'static str,
    },
    /// The broker asked for something this client refuses, for example a SCRAM iteration
    /// count outside the accepted range.
    Refused {
        /// What was refused.
        what: &'static str,
    },
    /// A step arrived that the method did not expect at this point.
    UnexpectedStep {
        /// Which step.
        what: &'static str,
    },
    /// The application's input cannot be used (credentials, a nonce used twice, a method
    /// that does not match the connection's, MQTT 3.1.1, data too long for a packet).
    InvalidInput {
        /// What was wrong.
        what: &'static str,
    },
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { what } => write!(f, "malformed authentication data: {what}"),
            Self::ServerNotVerified => f.write_str(
                "the broker could not prove it knows the credentials (server signature wrong or missing)",
            ),
            Self::ServerRejected { what } => write!(f, "the broker rejected the authentication: {what}"),
            Self::Refused { what } => write!(f, "refused the broker's authentication step: {what}"),
            Self::UnexpectedStep { what } => write!(f, "unexpected authentication step: {what}"),
            Self::InvalidInput { what } => write!(f, "cannot authenticate: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AuthError {}

/// A [`Session::reauthenticate`](crate::Session::reauthenticate) the Session did not accept.
/// Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReauthError {
    /// Re-authentication needs an accepted connection (after CONNACK) [MQTT-4.12.1-1].
    NotConnected,
    /// The connection's CONNECT carried no Authentication Method, so re-authentication is not
    /// possible on it [MQTT-4.12.1-1].
    NoAuthenticationMethod,
    /// No authenticator is attached ([`Session::set_authenticator`](crate::Session::set_authenticator)).
    NoAuthenticator,
    /// The attached authenticator's method differs from the one CONNECT used; it must be the
    /// same [MQTT-4.12.1-1].
    MethodChanged,
    /// A re-authentication is already running; wait for
    /// [`Event::Authenticated`](crate::Event::Authenticated).
    InProgress,
    /// The authenticator could not start.
    Authenticator(AuthError),
}

impl fmt::Display for ReauthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotConnected => {
                f.write_str("re-authentication needs a connection accepted by CONNACK")
            }
            Self::NoAuthenticationMethod => f.write_str(
                "this connection's CONNECT carried no Authentication Method [MQTT-4.12.1-1]",
            ),
            Self::NoAuthenticator => {
                f.write_str("no authenticator is attached; call Session::set_authenticator")
            }
            Self::MethodChanged => f.write_str(
                "the authenticator's method differs from the one CONNECT used [MQTT-4.12.1-1]",
            ),
            Self::InProgress => f.write_str("a re-authentication is already running"),
            Self::Authenticator(e) => e.fmt(f),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ReauthError {}

/// The Session's authenticator, printed without its state: whatever it holds (passwords,
/// keys, nonces) stays out of the Session's `Debug` output.
#[cfg(feature = "enhanced-auth")]
pub(crate) struct AuthSlot(pub(crate) alloc::boxed::Box<dyn Authenticator>);

#[cfg(feature = "enhanced-auth")]
impl fmt::Debug for AuthSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("method", &self.0.method())
            .finish_non_exhaustive()
    }
}

/// Standard base64 (RFC 4648 §4, with padding), as SCRAM and tests use it. Small enough to
/// keep the dependency tree to the hash crates.
#[cfg(feature = "scram")]
pub(crate) mod base64 {
    use alloc::vec::Vec;

    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    /// Encodes with padding.
    pub(crate) fn encode(input: &[u8], out: &mut alloc::string::String) {
        for chunk in input.chunks(3) {
            let b = [
                chunk.first().copied().unwrap_or(0),
                chunk.get(1).copied().unwrap_or(0),
                chunk.get(2).copied().unwrap_or(0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
                if i <= chunk.len() {
                    let idx = ((n >> shift) & 0x3F) as usize;
                    out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
                } else {
                    out.push('=');
                }
            }
        }
    }

    fn value(c: u8) -> Option<u32> {
        ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
    }

    /// Decodes strictly: padded to a multiple of 4, no other characters. `None` if invalid.
    pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
        if !input.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::with_capacity(input.len() / 4 * 3);
        let quads = input.len() / 4;
        for (q, chunk) in input.chunks(4).enumerate() {
            let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 || (pad > 0 && q + 1 != quads) {
                return None;
            }
            let mut n = 0u32;
            for &c in chunk.get(..4 - pad)? {
                n = (n << 6) | value(c)?;
            }
            n <<= 6 * pad as u32;
            // Canonical encodings only (RFC 4648 §3.5): the padding bits must be zero, so a
            // signature has exactly one accepted spelling.
            let unused_bits: u32 = match pad {
                0 => 0,
                1 => 0xFF,
                _ => 0xFFFF,
            };
            if n & unused_bits != 0 {
                return None;
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(bytes.get(..3 - pad)?);
        }
        Some(out)
    }
}
