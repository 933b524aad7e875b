//! # mqtt-sansio-proto
//!
//! A strict, zero-copy codec for the control packets of MQTT 3.1.1 and MQTT 5.0, with no I/O:
//! bytes in, [`Packet`]s out, and back.
//!
//! - **One packet type for both versions.** [`Packet`] covers all fifteen packet types; the
//!   version is an argument of [`decode`] and [`Packet::encode`]. MQTT 5.0 fields (reason
//!   codes, [`Properties`]) are empty or `Success` in 3.1.1.
//! - **Borrowed decoding.** Topics, payloads, strings and properties point into the input.
//!   Decoding allocates nothing except for the topic lists of SUBSCRIBE and UNSUBSCRIBE
//!   (packets a client never receives), and SUBACK/UNSUBACK code lists longer than eight.
//! - **Incomplete input is normal.** [`decode`] returns `Ok(None)` until a whole packet is
//!   there; [`frame_len`] tells the size of the next packet as soon as its fixed header is in,
//!   and rejects one over [`Limits::max_packet_size`] before its body arrives.
//! - **Strict.** Every rule of the specifications that a single packet can break is checked,
//!   and every error names the rule ([`Rule`], e.g. `MQTT-3.3.2-2`) and says what was wrong.
//!   [`DecodeError::reason_code`] gives the 5.0 reason code to close the connection with.
//! - **Validated values.** [`TopicName`], [`TopicFilter`], [`PacketId`] and [`QoS`] cannot
//!   hold invalid values, so encoding a well-formed packet fails only on size limits.
//! - **no_std + alloc**, `#![forbid(unsafe_code)]`, and no panics on any input.
//!
//! ```
//! use mqtt_sansio_proto::{decode, Limits, Packet, ProtocolVersion, Publish, QosPid, TopicName};
//!
//! let topic = TopicName::new("sensors/kitchen")?;
//! let publish = Publish::new(topic, b"21.5", QosPid::AtMostOnce);
//! let mut wire = Vec::new();
//! Packet::Publish(publish).encode(ProtocolVersion::V5, &mut wire)?;
//!
//! let (packet, used) = decode(&wire, ProtocolVersion::V5, &Limits::default())?
//!     .expect("a whole packet");
//! assert_eq!(used, wire.len());
//! assert_eq!(packet, Packet::Publish(publish));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

#[cfg(not(any(feature = "v311", feature = "v5")))]
compile_error!(
    "mqtt-sansio-proto: enable at least one protocol version (cargo features `v311`, `v5`)"
);

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod packet;
mod parse;
mod properties;
mod reason;
mod rule;
mod scan;
mod types;
mod varint;

pub use error::{DecodeError, EncodeError, ValueError};
pub use packet::{
    decode, decode_from_server, frame_len, Ack, Auth, ConnAck, Connect, Disconnect, Limits, Packet,
    Publish, QosPid, RetainHandling, SubAck, Subscribe, Subscription, SubscriptionOptions,
    UnsubAck, Unsubscribe, Will,
};
pub use properties::{
    Properties, PropertiesBuf, Property, PropertyContext, PropertyIter, Redacted,
};
pub use reason::{PacketType, ReasonCode};
pub use rule::{rules, Rule, RuleTags};
pub use types::{PacketId, ProtocolVersion, QoS, TopicFilter, TopicName};

/// The largest value of a Variable Byte Integer, and so of a remaining length: 268,435,455.
pub const VARINT_MAX: u32 = varint::MAX;

/// Re-exported so users can name the code lists of [`SubAck`] and [`UnsubAck`].
pub use smallvec;
