//! [`ClientError`]: everything the async client can fail with.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use mqtt_proto::ReasonCode;
use mqtt_session::{ConnectError, DisconnectReason, PublishError, SubscribeError};

/// An error of the async client.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The network failed (DNS, TCP, TLS).
    Io(io::Error),
    /// The broker refused the connection; the code is the broker's (3.1.1 return codes map
    /// onto their 5.0 equivalents). Check the client id and the credentials.
    Refused(ReasonCode),
    /// The connect options are invalid (for example a will topic with wildcards).
    Connect(ConnectError),
    /// The publish was refused; nothing was queued or sent.
    Publish(PublishError),
    /// The subscribe or unsubscribe was refused; nothing was queued or sent.
    Subscribe(SubscribeError),
    /// The connection ended and the client does not reconnect (automatic reconnection is
    /// off, or its attempts ran out).
    Disconnected(DisconnectReason),
    /// The client is closed: `disconnect` was called, every `AsyncClient` was dropped, or the
    /// driver stopped or was dropped. Messages not yet acknowledged will not be.
    Closed,
    /// The broker did not resume the session, and this QoS 2 message had been received by it
    /// (PUBREC) but not completed; it is not sent again, since that could deliver it twice.
    SessionLost,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "network error: {e}"),
            Self::Refused(code) => write!(
                f,
                "the broker refused the connection: {code}; check client id and credentials"
            ),
            Self::Connect(e) => e.fmt(f),
            Self::Publish(e) => e.fmt(f),
            Self::Subscribe(e) => e.fmt(f),
            Self::Disconnected(r) => write!(f, "the connection ended and is not retried: {r}"),
            Self::Closed => f.write_str(
                "the client is closed (disconnected, dropped, or its driver stopped); connect again",
            ),
            Self::SessionLost => f.write_str(
                "the broker lost the session while this QoS 2 message was half done; it may or may not have been delivered",
            ),
        }
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Connect(e) => Some(e),
            Self::Publish(e) => Some(e),
            Self::Subscribe(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// Why a waiter failed; copyable, unlike [`ClientError`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Failure {
    Closed,
    Disconnected(DisconnectReason),
    SessionLost,
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Closed => Self::Closed,
            Failure::Disconnected(r) => Self::Disconnected(r),
            Failure::SessionLost => Self::SessionLost,
        }
    }
}
