//! # transport-mio
//!
//! The [`mqtt_session::Session`] on real sockets with [`mio`], in two layers:
//!
//! - [`MqttConnection`]: for people who run their own `mio::Poll`. Register it under your
//!   token, feed it readiness events and timeouts, drain its events. No thread, no hidden
//!   runtime, no allocation per event.
//! - [`Client`]: the blocking client with the seed library's API (`connect`, `on`,
//!   `loop_start`, `publish`, `subscribe`, `reconnect`, `disconnect`, ...), a background I/O
//!   thread that answers the protocol and reconnects with [`Backoff`], callbacks that may
//!   publish from inside, and an event iterator for users who prefer no callbacks.
//!
//! TLS uses `rustls` ([`TlsConfig`]): certificates and host names are verified by default.
//! TCP keepalive uses `socket2`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod clock;
mod connection;
mod stream;
mod tls;

pub use client::{
    CallbackFailure, CallbackResult, Client, ClientError, ClientOptions, PublishOutcome,
    SockKeepalive,
};
pub use connection::MqttConnection;
pub use mqtt_session::Backoff;
pub use tls::TlsConfig;

pub use mqtt_proto;
pub use mqtt_session;
