//! # transport-async
//!
//! The sans-IO [`mqtt_session::Session`] as an async client on [`async-io`](async_io): it
//! runs on any executor — smol, async-std, `futures`' executors, `async_io::block_on` — and
//! inside tokio programs.
//!
//! - [`AsyncClient::connect`] dials (TCP, or TLS with rustls and certificate and host name
//!   verification, see [`TlsConfig`]), waits for CONNACK, and returns the client and its
//!   [`Driver`].
//! - The [`Driver`] is a future that owns the socket. Spawn it (`smol::spawn(driver)`,
//!   `tokio::spawn(driver)`, ...) or run it on a thread with `async_io::block_on(driver)`.
//!   It answers the protocol, runs callbacks, and reconnects with [`Backoff`] when the
//!   connection drops, resending unacknowledged messages with their original identifiers.
//! - [`AsyncClient::publish`], [`AsyncClient::subscribe`] and [`AsyncClient::unsubscribe`]
//!   return at once with the packet identifier and a future that resolves on the broker's
//!   acknowledgement ([`PublishHandle`], [`SubscribeHandle`], [`UnsubscribeHandle`]).
//!   Dropping such a future only stops waiting: the Session still delivers the message per
//!   its QoS.
//! - Events arrive as a [`futures_core::Stream`] ([`AsyncClient::events`]) and through
//!   callbacks with the seed library's conditions and priorities ([`AsyncClient::on`],
//!   [`AsyncClient::on_if`], [`AsyncClient::on_message`], built on
//!   [`mqtt_session::Dispatcher`]).
//!
//! ## Inside tokio
//!
//! async-io drives its sockets and timers from its own reactor thread when no
//! `async_io::block_on` is running, so `tokio::spawn(driver)` works and the client's
//! futures can be awaited from tokio tasks; no tokio reactor is needed. To keep the MQTT I/O
//! off tokio's worker threads entirely, run the driver on a dedicated thread instead:
//! `std::thread::spawn(move || async_io::block_on(driver))`.
//!
//! ```no_run
//! use mqtt_proto::{ProtocolVersion, QoS};
//! use mqtt_session::SessionConfig;
//! use transport_async::{AsyncClient, ClientOptions, PublishOutcome};
//!
//! async_io::block_on(async {
//!     let config = SessionConfig::new("lib-doc", false, ProtocolVersion::V311);
//!     let (client, driver) =
//!         AsyncClient::connect(config, "127.0.0.1", 1883, ClientOptions::new()).await?;
//!     std::thread::spawn(move || async_io::block_on(driver));
//!     let outcome = client.publish("sensors/t", b"21.5", QoS::AtLeastOnce, false)?.await?;
//!     assert!(matches!(outcome, PublishOutcome::Acknowledged(_)));
//!     client.disconnect().await;
//!     Ok::<(), transport_async::ClientError>(())
//! })?;
//! # Ok::<(), transport_async::ClientError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod clock;
mod driver;
mod error;
mod shared;
mod stream;
mod tls;

pub use client::{
    AsyncClient, CallbackFailure, CallbackResult, ClientOptions, EventStream, PublishHandle,
    PublishOutcome, SockKeepalive, SubscribeHandle, UnsubscribeHandle,
};
pub use driver::Driver;
pub use error::ClientError;
pub use mqtt_session::Backoff;
pub use tls::TlsConfig;

pub use mqtt_proto;
pub use mqtt_session;
