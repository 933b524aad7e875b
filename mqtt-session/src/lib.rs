//! # mqtt-sansio-session
//!
//! The sans-IO MQTT client: a pure [`Session`] state machine for MQTT 3.1.1 and 5.0 that
//! consumes bytes and time and produces bytes and [`Event`]s. It never touches a socket, a
//! clock, a thread or a random number generator, so the same Session runs under a `mio`
//! loop, any async executor, a microcontroller's main loop, or a fuzzer.
//!
//! ## The run loop
//!
//! A transport owns the socket and a clock, and drives the Session:
//!
//! 1. Open the connection (TCP, TLS, ...), then call [`Session::connect`].
//! 2. **Drain**: call [`Session::poll_transmit`] until `None` and write the bytes to the
//!    socket; call [`Session::poll_event`] until `None` and act on the events.
//! 3. **Wait** for the earliest of: the socket being readable (while
//!    [`Session::wants_read`]), the instant [`Session::poll_timeout`] returned (while
//!    disconnected, [`Session::next_queue_expiry`]), or an application command.
//! 4. **Feed** what happened: [`Session::handle_read`] with the bytes read,
//!    [`Session::handle_timeout`] when the deadline passed, [`Session::handle_closed`] when the
//!    socket closed; or call a command ([`Session::publish`], [`Session::subscribe`], ...).
//! 5. Go to 2. After [`Event::Disconnected`], drain once more, close the socket, and call
//!    `connect` again on a new one when you want to reconnect: unacknowledged messages are
//!    resent in their original order with their original packet identifiers.
//!
//! [`Session::handle_input`] and [`Session::poll_output`] offer the same loop through one
//! input enum and one output enum.
//!
//! ```no_run
//! # use mqtt_sansio_proto::{ProtocolVersion, QoS};
//! # use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};
//! # fn clock() -> Instant { Instant::from_millis(0) }
//! # fn write_all(_: &[u8]) {}
//! # fn wait_readable_until(_: Option<Instant>) -> Option<Vec<u8>> { None }
//! let mut session = Session::new(SessionConfig::new("sensor-17", false, ProtocolVersion::V311));
//! session.connect(clock(), &ConnectOptions::new(30))?;
//! let mut out = Vec::new();
//! loop {
//!     while let Some(_) = session.poll_transmit(clock(), &mut out) {}
//!     write_all(&out);
//!     out.clear();
//!     while let Some(event) = session.poll_event() {
//!         if let Event::Message(m) = event {
//!             println!("{} = {:?}", m.topic(), m.payload());
//!         }
//!     }
//!     match wait_readable_until(session.poll_timeout()) {
//!         Some(bytes) => session.handle_read(clock(), &bytes),
//!         None => session.handle_timeout(clock()),
//!     }
//! }
//! # Ok::<(), mqtt_sansio_session::ConnectError>(())
//! ```
//!
//! ## Time
//!
//! [`Instant`] is a millisecond count on a clock the caller chooses. Every call that can
//! change a timer or send takes `now`; an older `now` than one seen before counts as the
//! latest. Keepalive counts from the last packet handed out by `poll_transmit`; calling
//! `handle_timeout` early or twice does nothing.
//!
//! ## Errors
//!
//! - The **broker's** faults (malformed packets, protocol violations) are never returned:
//!   the connection ends with [`Event::Disconnected`] carrying a [`ProtocolError`] that
//!   names the rule, a 5.0 DISCONNECT with the matching reason code is queued, nothing
//!   unacknowledged is lost, and further input is ignored until the next `connect`.
//! - The **caller's** mistakes ([`PublishError`], [`SubscribeError`], [`ConnectError`]) are
//!   returned by the command, and then nothing was sent, queued or changed.
//! - The **transport's** faults live in the transport; the Session only hears
//!   [`Session::handle_closed`].
//!
//! ## Limits
//!
//! Every queue is bounded by [`SessionConfig`]: the in-flight window, the publish queue,
//! pending subscription requests, unreleased incoming QoS 2 messages, incoming packet size
//! and bytes waiting to be sent. A full queue is an error at the call and an
//! [`Event::PublishUnblocked`] later, never a silent drop: the publish queue (by count and
//! by bytes) refuses the new message, or, under [`QueuePolicy::DropOldestQos0`], drops the
//! oldest QoS 0 messages and reports each as [`Event::PublishFailed`]. A 5.0 message whose
//! Message Expiry Interval passes while queued fails the same way and is never sent; one
//! that goes out carries the interval that remains [MQTT-3.3.2-6]. Acknowledgements the broker's
//! packets call for count too: a broker that keeps sending while the answers are not taken
//! with `poll_transmit` ends the connection with [`DisconnectReason::ReplyBacklog`] once
//! `max_transmit_bytes` (at least 64 KiB) of them wait.
//!
//! ## Manual acknowledgements
//!
//! With [`AckMode::Manual`] in [`SessionConfig::acks`], an incoming QoS 1/2 message carries
//! an [`AckToken`] ([`Message::ack_token`]) and its PUBACK / PUBREC goes out only when the
//! application passes it to [`Session::ack`], always in arrival order. At most a window of
//! messages is unacknowledged: 5.0 announces it as Receive Maximum, and in 3.1.1 the Session
//! asks the transport to stop reading ([`Session::wants_read`]). A message never
//! acknowledged is sent again by the broker after a reconnect, with a new token.
//!
//! Manual acknowledgements and the publish queue are the cargo features `manual-acks` and
//! `offline-queue` (both on by default). Firmware turns them off as minimq does without
//! them: every message is then acknowledged as it is handed over, and a publish that would
//! wait (no connection, full window) is refused with [`PublishError::QueueFull`]; what is in
//! flight is still resent after a reconnect.
//!
//! ## Enhanced authentication (5.0)
//!
//! Attach an [`Authenticator`] with [`Session::set_authenticator`]: CONNECT then carries its
//! method and first data, the broker's AUTH challenges are answered before CONNACK, the
//! broker's final data is verified (a failure ends the connection with
//! [`DisconnectReason::AuthFailed`]), and [`Session::reauthenticate`] re-authenticates a live
//! connection. Authentication data never appears in `Debug` output. The `scram` feature adds
//! `ScramSha256` (RFC 7677).
//!
//! Enhanced authentication and topic aliases are the features `enhanced-auth` and
//! `topic-aliases` (both on by default). Firmware that needs neither turns them off: their
//! code leaves the image, CONNECT asks for neither, and a broker that sends an AUTH or a
//! topic alias anyway breaks the protocol ([MQTT-4.12.0-6], [MQTT-3.1.2-27]). `compact-errors`
//! and `compact-rules` drop the words and the rule tags of errors (issue 15: flash).
//!
//! ## Callbacks
//!
//! [`Dispatcher`] implements the seed library's `on(command, callback, condition, priority)`
//! rule over [`Event`]s, outside the Session, so handlers can publish from inside.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(not(any(feature = "v311", feature = "v5")))]
compile_error!(
    "mqtt-sansio-session: enable at least one protocol version (cargo features `v311`, `v5`)"
);

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod ack_properties;
mod auth;
mod backoff;
mod config;
mod dispatch;
mod error;
mod event;
mod io;
mod manual_ack;
mod message;
mod offline_queue;
mod outgoing;
mod packet_id;
mod session;
pub mod store;
mod time;
mod transmit;
mod vec_map;

pub use ack_properties::{AckProperties, ConnAckProperties, ServerReference};
#[cfg(feature = "scram")]
pub use auth::ScramSha256;
pub use auth::{AuthError, Authenticator, ReauthError};
pub use backoff::Backoff;
pub use config::{ConnectOptions, SessionConfig, TopicAliasPolicy, NO_PACKET_SIZE_LIMIT};
pub use dispatch::{packet_id_condition, topic_condition, Condition, Dispatcher, HandlerId};
pub use error::{
    CancelError, ConnectError, DisconnectError, DisconnectReason, ProtocolError, PublishError,
    PublishFailure, RequestFailure, SubscribeError,
};
pub use event::{Command, Event};
pub use io::{Input, Output};
pub use manual_ack::{AckError, AckMode, AckToken};
pub use message::Message;
pub use offline_queue::QueuePolicy;
pub use session::{Session, SessionState};
pub use time::Instant;

pub use mqtt_sansio_proto;
