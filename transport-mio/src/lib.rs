//! # mqtt-sansio-mio
//!
//! The shared MQTT client layer ([`mqtt_sansio_client`]) on real sockets with [`mio`], in
//! two layers:
//!
//! - [`MqttConnection`]: for people who run their own `mio::Poll`. Open it on a socket you
//!   dialled under your token, or let [`MqttConnection::dial`] reach the server the client
//!   core asks for as the [`Client`] does (server lists with failover, `mqtt`/`mqtts`/`ws`/
//!   `wss` URLs, HTTP CONNECT and SOCKS5 proxies; blocking up to the connect timeout per
//!   step); feed it readiness events and timeouts, drain its events. No thread, no hidden
//!   runtime.
//! - [`Client`]: the blocking client with the seed library's API (`connect`, `on`,
//!   `loop_start`, `publish`, `subscribe`, `reconnect`, `disconnect`, ...), a background I/O
//!   thread that answers the protocol, reconnects by the [`ReconnectPolicy`] and runs
//!   callbacks that may publish from inside, an event iterator for users who prefer no
//!   callbacks, and blocking waits for completions.
//!
//! Both take the one [`ClientOptions`] type the async client takes too, re-exported here
//! with everything an example needs, so this crate is the only dependency. TLS uses
//! `rustls` ([`TlsConfig`]): certificates and host names are verified by default.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod client;
mod connect;
mod connection;
mod io;
mod stream;
mod ws;

pub use client::{Client, PublishHandle};
pub use connection::MqttConnection;
pub use mqtt_sansio_client::{
    Ack, Action, CallbackFailure, CallbackResult, ClientError, ClientState, Completion,
    ConnectProperties, ConnectUpdate, Connected, Credentials, DisconnectRequest, Failure, LastWill,
    OutgoingPublish, PublishOutcome, PublishProperties, ReconnectPolicy, Reconnecting, RecvError,
    ServerAddr, SockKeepalive, StopReason, SubscribeOutcome, SubscribeProperties, TlsConfig, Token,
    WillProperties,
};
pub use mqtt_sansio_client::{ClientOptions, StdClock};
/// Reach (issue 13): broker URLs, server lists, proxies, WebSocket transports, counters.
pub use mqtt_sansio_client::{
    Counters, PerQos, Proxy, ProxyKind, Scheme, ServerOrder, ServerUrl, Transport, UrlError,
};
pub use mqtt_sansio_proto::{
    PacketId, Properties, ProtocolVersion, QoS, ReasonCode, RetainHandling, Subscription,
    SubscriptionOptions, TopicFilter,
};
pub use mqtt_sansio_session::{
    AckError, AckMode, AckToken, Backoff, Command, DisconnectReason, Event, HandlerId, Message,
    QueuePolicy,
};

pub use mqtt_sansio_client;
pub use mqtt_sansio_proto;
pub use mqtt_sansio_session;
