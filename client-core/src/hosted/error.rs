//! [`ClientError`]: everything either client can fail with, one type for both.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use mqtt_sansio_proto::{ReasonCode, ValueError};
use mqtt_sansio_session::store::StoreError;
use mqtt_sansio_session::{
    AckError, ConnectError, DisconnectReason, PublishError, PublishFailure, SubscribeError,
};

use crate::compat::CancelError;
use crate::completion::{Failure, StopReason};
use crate::core::CommandError;

/// An error of the blocking or the async client.
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
    /// A property value is invalid (too long, U+0000, ...); nothing was sent.
    Property(ValueError),
    /// The connection ended and the client does not reconnect (automatic reconnection is
    /// off, or its attempts ran out).
    Disconnected(DisconnectReason),
    /// The wait ended before the answer came.
    Timeout,
    /// The client has no connection to act on.
    NotConnected,
    /// Waiting here would block the thread that completes the wait (a callback).
    WouldDeadlock,
    /// The client is closed: `disconnect` was called, every handle was dropped, or its I/O
    /// loop ended. Messages not yet acknowledged will not be.
    Closed,
    /// The broker did not resume the session, and this QoS 2 message had been received by it
    /// (PUBREC) but not completed; it is not sent again, since that could deliver it twice.
    SessionLost,
    /// The broker answered the message with an error DISCONNECT on `attempts` connections in
    /// a row; it was given up so that later messages flow.
    Rejected {
        /// The broker's reason code.
        reason: ReasonCode,
        /// Connections it was sent on.
        attempts: u32,
    },
    /// `cancel` removed the message before it was sent.
    Cancelled,
    /// `cancel` was refused.
    Cancel(CancelError),
    /// The Session gave the message up (for example larger than a new broker's maximum).
    Dropped(PublishFailure),
    /// The call needs MQTT 5.0 (request/response: Response Topic and Correlation Data are
    /// 5.0 properties); the client speaks 3.1.1.
    RequiresV5,
    /// `ack` did nothing: the message was acknowledged already, or arrived on a connection
    /// that has ended (the broker sends it again, to be acknowledged then).
    Ack(AckError),
    /// The session store could not be used: it belongs to another client id or protocol
    /// version, it is not a store, or reading it failed.
    Store(StoreError),
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
            Self::Property(e) => write!(f, "invalid property: {e}"),
            Self::Disconnected(r) => write!(f, "the connection ended and is not retried: {r}"),
            Self::Timeout => f.write_str("timed out waiting for the broker"),
            Self::NotConnected => f.write_str("not connected; call connect first"),
            Self::WouldDeadlock => f.write_str(
                "cannot wait inside a callback: the callback's thread is the one that completes the wait",
            ),
            Self::Closed => f.write_str(
                "the client is closed (disconnected, dropped, or its I/O loop stopped); connect again",
            ),
            Self::SessionLost => f.write_str(
                "the broker lost the session while this QoS 2 message was half done; it may or may not have been delivered",
            ),
            Self::Rejected { reason, attempts } => write!(
                f,
                "the broker rejected the message on {attempts} connections in a row ({reason}); it was given up"
            ),
            Self::Cancelled => f.write_str("the message was cancelled before it was sent"),
            Self::Cancel(e) => write!(f, "cannot cancel: {e}"),
            Self::Dropped(e) => write!(f, "the message was given up: {e}"),
            Self::RequiresV5 => f.write_str(
                "this needs MQTT 5.0; make the client with ProtocolVersion::V5",
            ),
            Self::Ack(e) => e.fmt(f),
            Self::Store(e) => e.fmt(f),
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
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<AckError> for ClientError {
    fn from(e: AckError) -> Self {
        Self::Ack(e)
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<ConnectError> for ClientError {
    fn from(e: ConnectError) -> Self {
        Self::Connect(e)
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<CancelError> for ClientError {
    fn from(e: CancelError) -> Self {
        Self::Cancel(e)
    }
}

impl From<CommandError> for ClientError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Publish(e) => Self::Publish(e),
            CommandError::Subscribe(e) => Self::Subscribe(e),
            CommandError::Property(e) => Self::Property(e),
            _ => Self::Closed,
        }
    }
}

impl From<StopReason> for ClientError {
    fn from(r: StopReason) -> Self {
        match r {
            StopReason::Refused(code) => Self::Refused(code),
            StopReason::AttemptsExhausted(Some(r))
            | StopReason::AutoReconnectOff(Some(r))
            | StopReason::FirstConnectFailed(Some(r)) => Self::Disconnected(r),
            StopReason::FirstConnectFailed(None) => Self::NotConnected,
            _ => Self::Closed,
        }
    }
}

impl From<Failure> for ClientError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::SessionLost => Self::SessionLost,
            Failure::Rejected { reason, attempts } => Self::Rejected { reason, attempts },
            Failure::Dropped(e) => Self::Dropped(e),
            Failure::Cancelled => Self::Cancelled,
            Failure::Stopped(r) => r.into(),
            Failure::Refused(code) => Self::Refused(code),
        }
    }
}
