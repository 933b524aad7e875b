//! # mqtt-sansio
//!
//! One dependency for the whole MQTT 3.1.1 and 5.0 client: the blocking [`Client`] (the seed
//! library's API, with a background I/O thread), the async [`AsyncClient`] (async-io, any
//! executor), both over one [`ClientOptions`] type and one client layer with the same
//! guarantees, and the sans-IO pieces underneath for your own event loop or firmware.
//!
//! | feature | what it adds |
//! |---|---|
//! | `mio` (default) | [`Client`], and [`mio::MqttConnection`] for your own `mio::Poll` |
//! | `async` (default) | [`AsyncClient`] and its [`Driver`] future |
//! | `embedded` | the `embedded` module: `embedded-io` sockets (for `no_std` firmware depend on `mqtt-sansio-embedded` directly) |
//!
//! The building blocks are here too: [`proto`] (the codec), [`session`] (the sans-IO
//! `Session`) and [`client`] (the client layer both clients share: options, completions,
//! reconnect policy).
//!
//! ```no_run
//! use mqtt_sansio::{Client, ClientOptions, QoS};
//!
//! let client = Client::new("sensor-17", true);
//! client.connect("localhost", 30, ClientOptions::new().port(1883))?;
//! client.publish("sensors/17/temperature", b"21.5", QoS::AtLeastOnce, false)?;
//! client.disconnect();
//! # Ok::<(), mqtt_sansio::ClientError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use mqtt_sansio_client as client;
pub use mqtt_sansio_proto as proto;
pub use mqtt_sansio_session as session;

/// The blocking client and the mio adapter.
#[cfg(feature = "mio")]
pub use mqtt_sansio_mio as mio;

/// The async client over async-io.
#[cfg(feature = "async")]
pub use mqtt_sansio_async as async_io;

/// The `embedded-io` / `embedded-io-async` adapter.
#[cfg(feature = "embedded")]
pub use mqtt_sansio_embedded as embedded;

#[cfg(feature = "mio")]
pub use mqtt_sansio_mio::Client;

#[cfg(feature = "async")]
pub use mqtt_sansio_async::{AsyncClient, Driver, EventStream, PublishHandle};

/// A client certificate rustls cannot use (X.509 v1), refused by [`TlsConfig`] with a hint.
pub use mqtt_sansio_client::UnsupportedCertificateVersion;
pub use mqtt_sansio_client::{
    CallbackResult, ClientError, ClientOptions, ConnectProperties, Connected, Credentials,
    DisconnectRequest, Failure, LastWill, PublishOutcome, PublishProperties, ReconnectPolicy,
    RecvError, SubscribeOutcome, SubscribeProperties, TlsConfig, Token, UnsubscribeProperties,
    WillProperties,
};
/// Reach (issue 13): broker URLs, server lists, proxies, WebSocket transports, counters.
pub use mqtt_sansio_client::{
    Counters, PerQos, Proxy, ProxyKind, Scheme, ServerOrder, ServerUrl, Transport, UrlError,
};
pub use mqtt_sansio_proto::{
    PacketId, ProtocolVersion, QoS, ReasonCode, RetainHandling, Subscription, SubscriptionOptions,
};
pub use mqtt_sansio_session::{
    AckError, AckMode, AckToken, Backoff, Command, DisconnectReason, Event, HandlerId, Message,
    QueuePolicy,
};

/// The session store: messages that survive the process ([`ClientOptions::session_store`]).
pub use mqtt_sansio_client::{FileStore, Fsync};
