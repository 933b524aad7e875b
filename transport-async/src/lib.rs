//! # mqtt-sansio-async
//!
//! The shared MQTT client core ([`mqtt_sansio_client`]) as an async client on
//! [`async-io`](async_io): it runs on any executor — smol, async-std, `futures`' executors,
//! `async_io::block_on` — and inside tokio programs. Same options type, same method names
//! and same semantics as the blocking client of `mqtt-sansio-mio`: both are generated from
//! one layer, and this crate only adds a socket, a wait and futures.
//!
//! - [`AsyncClient::connect`] takes the blocking client's arguments (host, keepalive,
//!   [`ClientOptions`]), dials (TCP, or TLS with rustls and certificate and host name
//!   verification, see [`TlsConfig`]), waits for CONNACK, and returns the client and its
//!   [`Driver`].
//! - The [`Driver`] is a future that owns the socket. Spawn it (`smol::spawn(driver)`,
//!   `tokio::spawn(driver)`, ...) or run it with `async_io::block_on(driver)` on a thread.
//!   It does what the core asks: answers the protocol, runs hooks and callbacks,
//!   reconnects per the [`ReconnectPolicy`] (backoff with jitter, reset only after a stable
//!   connection), resends unacknowledged messages with their original identifiers, and
//!   writes what is queued before DISCONNECT on [`AsyncClient::disconnect`].
//! - [`AsyncClient::publish`], [`AsyncClient::subscribe`] and [`AsyncClient::unsubscribe`]
//!   (and their 5.0 forms) return at once with the packet identifier and a future that
//!   resolves with the broker's acknowledgement, its reason code and properties
//!   ([`PublishHandle`], [`SubscribeHandle`], [`UnsubscribeHandle`]), or with a typed
//!   failure (session lost, rejected after the configured attempts, cancelled, closed).
//!   Dropping such a future only stops waiting: the message is still delivered per its QoS.
//! - Every event goes to the callbacks, with the seed library's conditions and priorities
//!   ([`AsyncClient::on`], [`AsyncClient::on_if`], [`AsyncClient::on_message`]), and to a
//!   [`futures_core::Stream`] ([`AsyncClient::events`]). QoS 2 messages reach `on_message`
//!   on PUBREL (the seed's rule).
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
//! use mqtt_sansio_async::{AsyncClient, ClientOptions, LastWill, PublishOutcome, QoS};
//!
//! async_io::block_on(async {
//!     let options = ClientOptions::new()
//!         .client_id("lib-doc")
//!         .clean_start(false)
//!         .will(LastWill::new("status/lib-doc", "offline", QoS::AtLeastOnce, false));
//!     let (client, driver) = AsyncClient::connect("127.0.0.1", 60, options).await?;
//!     std::thread::spawn(move || async_io::block_on(driver));
//!     let outcome = client.publish("sensors/t", b"21.5", QoS::AtLeastOnce, false)?.await?;
//!     assert!(matches!(outcome, PublishOutcome::Acknowledged(_)));
//!     client.disconnect().await;
//!     Ok::<(), mqtt_sansio_async::ClientError>(())
//! })?;
//! # Ok::<(), mqtt_sansio_async::ClientError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod driver;
mod stream;
mod ws;

pub use client::{AsyncClient, EventStream, PublishHandle, SubscribeHandle, UnsubscribeHandle};
pub use driver::Driver;

pub use mqtt_sansio_client::{
    Ack, AfterConnectHook, BeforeConnectHook, BeforeReconnectHook, CallbackFailure, CallbackResult,
    ClientError, ClientOptions, ClientState, ConnectProperties, ConnectUpdate, Connected,
    Credentials, DisconnectRequest, Failure, LastWill, PublishOutcome, PublishProperties,
    ReconnectPolicy, Reconnecting, ServerAddr, SockKeepalive, StopReason, SubscribeOutcome,
    SubscribeProperties, TlsConfig, Token, TokenKind, UnsubscribeProperties, WillProperties,
};
/// Reach (issue 13): broker URLs, server lists, proxies, WebSocket transports, counters.
pub use mqtt_sansio_client::{
    Counters, PerQos, Proxy, ProxyKind, Scheme, ServerOrder, ServerUrl, Transport, UrlError,
};
pub use mqtt_sansio_proto::{
    PacketId, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, Subscription,
    SubscriptionOptions, TopicFilter,
};
pub use mqtt_sansio_session::{
    AckError, AckMode, AckToken, Backoff, Command, ConnAckProperties, DisconnectReason, Event,
    HandlerId, Message, QueuePolicy, TopicAliasPolicy,
};

pub use mqtt_sansio_client;
pub use mqtt_sansio_proto;
pub use mqtt_sansio_session;
