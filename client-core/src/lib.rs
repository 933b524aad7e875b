//! # mqtt-sansio-client
//!
//! The client layer every transport shares, written once: options, connection lifecycle,
//! reconnect policy, completions keyed by token, the poison-message bound, a bounded
//! transmit buffer and (with `std`) the shared handle, errors, clock and the `client_api!`
//! macro that gives the blocking and the async client the same methods.
//!
//! [`ClientCore`] is sans-IO like the Session under it: it never reads a clock, draws a
//! random number, touches a socket or calls a hook; time and the backoff seed are
//! arguments, and [`Action`]s tell the transport when to dial, close or stop. Without the
//! default features it is `no_std` + alloc, for embedded adapters.
//!
//! The transport's loop:
//!
//! 1. [`ClientCore::poll_action`]: dial on [`Action::Open`] (then `handle_opened` or
//!    `handle_open_failed`), close on [`Action::Close`] (then `handle_closed`), end on
//!    [`Action::Stop`].
//! 2. Write [`ClientCore::poll_transmit`] and report [`ClientCore::handle_written`].
//! 3. Take [`ClientCore::poll_event`] and [`ClientCore::poll_completion`].
//! 4. Wait for the socket or [`ClientCore::poll_timeout`]; feed `handle_read`,
//!    `handle_timeout` or `handle_closed`. Go to 1.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[macro_use]
mod logging;

mod compat;
mod completion;
mod core;
mod counters;
#[cfg(feature = "std")]
mod hosted;
#[cfg(feature = "net")]
mod net;
mod options;
mod poison;
mod properties;
mod proxy;
mod redirect;
#[cfg(feature = "tls")]
mod tls;
mod txbuf;
mod url;
mod wire;

pub use crate::compat::CancelError;
pub use crate::completion::{
    Ack, Completion, ConnectOutcome, Failure, PublishOutcome, StopReason, SubscribeOutcome, Token,
    TokenKind,
};
pub use crate::core::{
    Action, ClientCore, ClientState, CommandError, ConnectUpdate, DisconnectRequest,
    OutgoingPublish, SubscribeProperties,
};
pub use crate::counters::{Counters, PerQos};
#[cfg(feature = "std")]
pub use crate::hosted::{
    generated_client_id, lock, AfterConnectHook, BeforeConnectHook, BeforeReconnectHook, Callback,
    CallbackFailure, CallbackResult, ClientError, ClientOptions, Connected, Damage, FileStore,
    FileStoreStats, Fsync, Hooks, Reconnecting, Recovery, RecvError, RequestId, Shared,
    SharedState, SockKeepalive, StdClock, StreamState, MAX_CALLBACK_FAILURES,
};
#[cfg(feature = "ws")]
pub use crate::hosted::{
    ws_check_response, ws_config, ws_io_error, ws_request, ws_text_frame_error,
    WS_MAX_FRAME_PAYLOAD,
};
#[cfg(feature = "net")]
pub use crate::net::apply_socket_options;
pub use crate::options::{
    ConnectProperties, CoreOptions, Credentials, LastWill, ReconnectPolicy, ServerAddr,
    ServerOrder, Transport, WillProperties, DEFAULT_MAX_TRANSMIT_BYTES,
};
pub use crate::poison::PoisonTracker;
pub use crate::properties::{PublishProperties, UnsubscribeProperties};
#[cfg(feature = "std")]
pub use crate::proxy::proxy_handshake_blocking;
pub use crate::proxy::{Proxy, ProxyError, ProxyHandshake, ProxyKind, ProxyStep};
#[cfg(feature = "tls")]
pub use crate::tls::{TlsConfig, UnsupportedCertificateVersion};
pub use crate::txbuf::{TxBuffer, HIGH_WATER};
pub use crate::url::{Scheme, ServerUrl, UrlError};

pub use mqtt_sansio_proto;
pub use mqtt_sansio_session;
#[cfg(feature = "tls")]
pub use rustls;
#[cfg(feature = "ws")]
pub use tungstenite;
