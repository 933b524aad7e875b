//! The std layer both clients share: options with TLS, socket settings and hooks; one error
//! type; the clock; the shared handle state (completions, events, callbacks); and the
//! `client_api!` macro.

mod api;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod file_store;
pub(crate) mod options;
pub(crate) mod request;
pub(crate) mod shared;
pub(crate) mod store_slot;
#[cfg(feature = "ws")]
pub(crate) mod ws;

pub use clock::StdClock;
pub use error::ClientError;
pub use file_store::{Damage, FileStore, FileStoreStats, Fsync, Recovery};
pub use options::{
    generated_client_id, AfterConnectHook, BeforeConnectHook, BeforeReconnectHook, ClientOptions,
    Connected, Hooks, Reconnecting, SockKeepalive,
};
pub use request::RequestId;
pub use shared::{
    lock, Callback, CallbackFailure, CallbackResult, RecvError, Shared, SharedState, StreamState,
    MAX_CALLBACK_FAILURES,
};
#[cfg(feature = "ws")]
pub use ws::{
    ws_check_response, ws_config, ws_io_error, ws_request, ws_text_frame_error,
    WS_MAX_FRAME_PAYLOAD,
};
