//! The session store: the state that must outlive the process, written through as records.
//!
//! A [`Session`](crate::Session) without a store keeps everything in memory, as before (the
//! default, and free). With one ([`Session::with_store`](crate::Session::with_store)) it
//! writes a [`Record`] at each point where the specification needs durable state:
//!
//! - a QoS 1/2 publish is recorded when it gets its packet identifier, before its PUBLISH
//!   can be handed out ([`Record::Publish`]);
//! - a PUBREC moves the message to "awaiting PUBCOMP" before the PUBREL is handed out
//!   ([`Record::Released`]);
//! - a finished flow (acknowledged, failed, cancelled) frees its identifier
//!   ([`Record::Completed`]), except a failed QoS 2 message the broker's session may still
//!   hold: its identifier stays out of use until that session ends ([`Record::Held`]);
//! - an incoming QoS 2 message is recorded before its PUBREC is handed out, held
//!   ([`Record::IncomingHeld`]) or already delivered ([`Record::IncomingDelivered`]), and
//!   forgotten when its PUBREL delivers it ([`Record::IncomingReleased`]), before the
//!   application sees it: across a restart it is delivered at most once;
//! - confirmed subscriptions ([`Record::Subscribed`], [`Record::Unsubscribed`]).
//!
//! The Session calls [`Store::sync`] before it hands out bytes
//! ([`poll_transmit`](crate::Session::poll_transmit)) or an event
//! ([`poll_event`](crate::Session::poll_event)) that follow unsynced records, so a store
//! can batch what one wake-up wrote into one write (and one `fsync`).
//!
//! [`MemoryStore`] keeps the records in memory (for tests and for sessions that outlive
//! their `Session` value but not the process); `FileStore` in `mqtt-sansio-client` keeps them
//! in a crash-safe file. [`LiveRecords`] and [`encode_record`] / [`decode_record`] are the
//! parts a backend of its own (flash, a database) can reuse.

use alloc::string::String;
#[cfg(target_has_atomic = "ptr")]
use alloc::sync::Arc;
use core::fmt;

use mqtt_sansio_proto::{PacketId, ProtocolVersion, SubscriptionOptions};

use crate::message::Message;

mod codec;
mod live;
mod memory;

pub use codec::{decode_record, encode_record, OwnedRecord};
pub use live::LiveRecords;
pub use memory::MemoryStore;

/// One change of the durable session state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// An outgoing QoS 1/2 message with its packet identifier, awaiting PUBACK or PUBREC.
    Publish {
        /// Its packet identifier, kept for every resend.
        id: PacketId,
        /// The message (topic, properties, payload, QoS, retain).
        message: &'a Message,
    },
    /// The QoS 2 message `id` was received by the broker (PUBREC): from now on only its
    /// PUBREL is ever sent (§4.3.3); its body is no longer needed.
    Released {
        /// The packet identifier.
        id: PacketId,
    },
    /// The outgoing flow `id` ended (PUBACK, PUBCOMP, failure, cancellation).
    Completed {
        /// The packet identifier, free again.
        id: PacketId,
    },
    /// The outgoing QoS 2 flow `id` failed after its PUBLISH went out on a broker session
    /// that still exists: the broker may hold the message unreleased and would take a new
    /// message under this identifier for a duplicate of it (5.0 §4.3.3), so the identifier
    /// stays out of use until that session ends (then [`Completed`](Self::Completed)).
    Held {
        /// The packet identifier, kept out of use.
        id: PacketId,
    },
    /// An incoming QoS 2 message held until its PUBREL (not yet given to the application).
    IncomingHeld {
        /// The broker's packet identifier.
        id: PacketId,
        /// The message.
        message: &'a Message,
    },
    /// An incoming QoS 2 message already given to the application, awaiting its PUBREL: a
    /// resent PUBLISH with this identifier is a duplicate.
    IncomingDelivered {
        /// The broker's packet identifier.
        id: PacketId,
    },
    /// The PUBREL of `id` arrived: the message is given to the application now and the
    /// identifier forgotten (a repeated PUBREL is answered all the same).
    IncomingReleased {
        /// The broker's packet identifier.
        id: PacketId,
    },
    /// The broker holds no session for us: every incoming QoS 2 state is gone.
    IncomingCleared,
    /// The broker confirmed a subscription.
    Subscribed {
        /// The topic filter.
        filter: &'a str,
        /// Its options.
        options: SubscriptionOptions,
    },
    /// The broker confirmed an unsubscription.
    Unsubscribed {
        /// The topic filter.
        filter: &'a str,
    },
    /// The subscriptions are gone with the broker's session (and not restored).
    SubscriptionsCleared,
}

/// Durable storage for a [`Session`](crate::Session)'s state.
///
/// Implementations append records and replay the live ones; they never interpret the
/// protocol. [`LiveRecords`] tracks which records are still live for them.
pub trait Store {
    /// Ties the store to a session's identity: a fresh store records it; a store written
    /// for another client identifier or protocol version is refused
    /// ([`StoreError::OtherClient`], [`StoreError::OtherVersion`]).
    fn bind(&mut self, client_id: &str, version: ProtocolVersion) -> Result<(), StoreError>;

    /// Replays the live records, oldest first, to rebuild a session: outgoing messages in
    /// send order (PUBREC'd ones in the order their PUBRECs arrived), then incoming QoS 2
    /// state, then subscriptions.
    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError>;

    /// Appends one record. It may be buffered until [`sync`](Self::sync).
    fn append(&mut self, record: &Record<'_>) -> Result<(), StoreError>;

    /// Makes every appended record durable as the store's policy says. Called before
    /// anything that depends on them leaves the Session.
    fn sync(&mut self) -> Result<(), StoreError>;
}

/// The check of [`Store::bind`] for a store that already names its session: `Ok` when
/// `client_id` and `version` are the stored ones, else [`StoreError::OtherClient`] or
/// [`StoreError::OtherVersion`]. For backends of their own, as [`MemoryStore`] and the file
/// store of mqtt-sansio-client use it.
///
/// ```
/// use mqtt_sansio_session::store::{check_owner, StoreError};
/// use mqtt_sansio_session::mqtt_sansio_proto::ProtocolVersion::{V311, V5};
///
/// assert_eq!(check_owner(("sensor-1", V5), "sensor-1", V5), Ok(()));
/// assert!(matches!(check_owner(("sensor-1", V5), "sensor-2", V5), Err(StoreError::OtherClient { .. })));
/// assert!(matches!(check_owner(("sensor-1", V5), "sensor-1", V311), Err(StoreError::OtherVersion { .. })));
/// ```
pub fn check_owner(
    stored: (&str, ProtocolVersion),
    client_id: &str,
    version: ProtocolVersion,
) -> Result<(), StoreError> {
    let (stored_id, stored_version) = stored;
    if stored_id != client_id {
        return Err(StoreError::OtherClient {
            stored: stored_id.into(),
            configured: client_id.into(),
        });
    }
    if stored_version != version {
        return Err(StoreError::OtherVersion {
            stored: stored_version,
            configured: version,
        });
    }
    Ok(())
}

/// Why a store could not be used.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store belongs to another client identifier: resuming its session under this one
    /// would send another client's messages. Use the store of this client, or a new one.
    OtherClient {
        /// The identifier the store was written for.
        stored: String,
        /// This session's identifier.
        configured: String,
    },
    /// The store was written by a session speaking another protocol version.
    OtherVersion {
        /// The version the store was written for.
        stored: ProtocolVersion,
        /// This session's version.
        configured: ProtocolVersion,
    },
    /// The store's contents are not what this library writes (not a store, or a newer
    /// format).
    Format(&'static str),
    /// The session already holds messages or subscriptions: a store can only be attached
    /// to a fresh session, or identifiers could clash with stored ones.
    SessionInUse,
    /// The storage itself failed (disk full, permission denied, I/O error). Shared, so
    /// that the Session can keep it for [`Session::store_error`](crate::Session::store_error)
    /// and return it too; absent on targets without pointer-sized atomics (`Arc`), where a
    /// backend reports [`Format`](Self::Format) or its own words through
    /// [`Failed`](Self::Failed).
    #[cfg(target_has_atomic = "ptr")]
    Backend(Arc<dyn core::error::Error + Send + Sync>),
    /// The storage failed, in the backend's words (for backends without an error type).
    Failed(&'static str),
}

impl PartialEq for StoreError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::OtherClient { stored, configured },
                Self::OtherClient {
                    stored: s,
                    configured: c,
                },
            ) => stored == s && configured == c,
            (
                Self::OtherVersion { stored, configured },
                Self::OtherVersion {
                    stored: s,
                    configured: c,
                },
            ) => stored == s && configured == c,
            (Self::Format(a), Self::Format(b)) => a == b,
            (Self::SessionInUse, Self::SessionInUse) => true,
            #[cfg(target_has_atomic = "ptr")]
            (Self::Backend(a), Self::Backend(b)) => Arc::ptr_eq(a, b),
            (Self::Failed(a), Self::Failed(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherClient { stored, configured } => write!(
                f,
                "the session store belongs to client id {stored:?}, not {configured:?}; \
                 give each client its own store"
            ),
            Self::OtherVersion { stored, configured } => write!(
                f,
                "the session store was written by an MQTT {stored:?} session, this one is \
                 {configured:?}; use a new store when changing the protocol version"
            ),
            Self::Format(what) => write!(f, "not a session store of this library: {what}"),
            Self::SessionInUse => f.write_str(
                "the session already holds messages or subscriptions; attach the store \
                 before publishing or subscribing",
            ),
            #[cfg(target_has_atomic = "ptr")]
            Self::Backend(e) => write!(f, "the session store failed: {e}"),
            Self::Failed(what) => write!(f, "the session store failed: {what}"),
        }
    }
}

impl core::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(target_has_atomic = "ptr")]
            Self::Backend(e) => Some(&**e),
            _ => None,
        }
    }
}
