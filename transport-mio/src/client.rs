//! The blocking [`Client`] with the seed library's API, driven by a background I/O thread.

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{TcpStream as StdTcpStream, ToSocketAddrs};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant as StdInstant};

use mio::{Events, Poll, Token, Waker};
use mqtt_proto::{
    PacketId, Properties, ProtocolVersion, QoS, ReasonCode, Subscription, TopicFilter, TopicName,
    Will,
};
use mqtt_session::Backoff;
use mqtt_session::{
    Command, ConnectError, ConnectOptions, DisconnectReason, Dispatcher, Event, HandlerId,
    PublishError, SessionConfig, SubscribeError,
};
use socket2::{SockRef, TcpKeepalive};

use crate::connection::MqttConnection;
use crate::tls::TlsConfig;

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Events waiting for a consumer; past this the I/O thread stops reading (backpressure).
const MAX_PENDING_EVENTS: usize = 4096;
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// An error of the blocking client.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The network failed (DNS, TCP, TLS).
    Io(io::Error),
    /// The broker refused the connection; the code is the broker's (3.1.1 return codes map
    /// onto their 5.0 equivalents).
    Refused(ReasonCode),
    /// `connect` was given invalid options.
    Connect(ConnectError),
    /// `publish` was refused.
    Publish(PublishError),
    /// `subscribe`/`unsubscribe` was refused.
    Subscribe(SubscribeError),
    /// The connection ended before the operation completed.
    Disconnected(DisconnectReason),
    /// Waited longer than allowed.
    Timeout,
    /// The operation needs `connect` first.
    NotConnected,
    /// Waiting here would block the thread that delivers the answer (called from a callback).
    WouldDeadlock,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "network error: {e}"),
            Self::Refused(code) => write!(f, "the broker refused the connection: {code}; check client id and credentials"),
            Self::Connect(e) => e.fmt(f),
            Self::Publish(e) => e.fmt(f),
            Self::Subscribe(e) => e.fmt(f),
            Self::Disconnected(r) => write!(f, "the connection ended: {r}"),
            Self::Timeout => f.write_str("timed out waiting for the broker"),
            Self::NotConnected => f.write_str("not connected: call connect first"),
            Self::WouldDeadlock => f.write_str("cannot wait for the broker from inside a callback; wait from another thread or use the event"),
        }
    }
}

impl StdError for ClientError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Connect(e) => Some(e),
            Self::Publish(e) => Some(e),
            Self::Subscribe(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// What a callback returns: an error is reported (see [`Client::take_callback_failures`]),
/// never swallowed, and the loop goes on.
pub type CallbackResult = Result<(), Box<dyn StdError + Send + Sync>>;

type Callback = Arc<Mutex<dyn FnMut(&Client, &Event) -> CallbackResult + Send>>;
type Hook = Arc<Mutex<dyn FnMut(&Client) + Send>>;

/// A callback that failed: it returned an error or panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackFailure {
    /// The command of the event being dispatched.
    pub command: Option<Command>,
    /// The error's or the panic's message.
    pub message: String,
    /// Whether it panicked (rather than returned an error).
    pub panicked: bool,
}

/// TCP keepalive settings: probes after `idle` without traffic, every `interval`, giving up
/// after `count` unanswered probes (the seed's `sock_keepalive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockKeepalive {
    /// Unanswered probes before the connection is dropped.
    pub count: u32,
    /// Idle time before the first probe.
    pub idle: Duration,
    /// Time between probes.
    pub interval: Duration,
}

/// Options of [`Client::connect`] (the seed's keyword arguments).
#[derive(Clone, Default)]
pub struct ClientOptions {
    /// Broker port; `None`: 1883, or 8883 with TLS.
    pub port: Option<u16>,
    /// TLS settings (the seed's `ssl_ctx`); `None` for plain TCP.
    pub tls: Option<TlsConfig>,
    /// TCP keepalive.
    pub sock_keepalive: Option<SockKeepalive>,
    /// Reconnect policy of the I/O thread.
    pub backoff: Option<Backoff>,
    /// Whether the I/O thread reconnects by itself when the connection drops (default true).
    pub auto_reconnect: Option<bool>,
    before_reconnect: Option<Hook>,
    after_connect: Option<Hook>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("sock_keepalive", &self.sock_keepalive)
            .field("backoff", &self.backoff)
            .field("auto_reconnect", &self.auto_reconnect)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Default options: port 1883, no TLS.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Uses TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets TCP keepalive: `count` probes, after `idle`, every `interval`.
    pub fn sock_keepalive(mut self, count: u32, idle: Duration, interval: Duration) -> Self {
        self.sock_keepalive = Some(SockKeepalive {
            count,
            idle,
            interval,
        });
        self
    }

    /// Sets the reconnect backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Turns automatic reconnection on or off.
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.auto_reconnect = Some(on);
        self
    }

    /// Called before every reconnection attempt (automatic or [`Client::reconnect`]).
    pub fn before_reconnect(mut self, f: impl FnMut(&Client) + Send + 'static) -> Self {
        self.before_reconnect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// Called after every successful connection, before resent messages go out.
    pub fn after_connect(mut self, f: impl FnMut(&Client) + Send + 'static) -> Self {
        self.after_connect = Some(Arc::new(Mutex::new(f)));
        self
    }
}

/// The will, owned.
#[derive(Clone, Debug)]
struct OwnedWill {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
}

/// The outcome of one QoS 1/2 publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The broker acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2) with this code.
    Acknowledged(ReasonCode),
    /// The broker refused it (5.0 PUBACK/PUBREC with an error code).
    Rejected(ReasonCode),
}

struct Settings {
    host: String,
    port: u16,
    keep_alive: u16,
    options: ClientOptions,
}

#[derive(Default)]
struct ConnectState {
    /// Set by the I/O thread for the waiting `connect` call.
    result: Option<Result<bool, ClientError>>,
}

struct Core {
    conn: MqttConnection,
    will: Option<OwnedWill>,
    username: Option<String>,
    password: Option<Vec<u8>>,
    settings: Option<Settings>,
    events: VecDeque<Event>,
    read_blocked: bool,
    waiters: HashMap<PacketId, Option<PublishOutcome>>,
    connect_state: ConnectState,
    stop: bool,
    reconnect_now: bool,
    io_thread: Option<thread::ThreadId>,
    dispatch_thread: Option<thread::ThreadId>,
    failures: VecDeque<CallbackFailure>,
    last_disconnect: Option<DisconnectReason>,
    /// A socket dialled by a user thread, waiting for the I/O thread to register it.
    pending: Option<StdTcpStream>,
}

struct Shared {
    core: Mutex<Core>,
    changed: Condvar,
    waker: Mutex<Option<Arc<Waker>>>,
    dispatcher: Mutex<Dispatcher<Callback>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// The blocking MQTT client with the seed library's API.
///
/// Cloning gives another handle to the same client; callbacks receive one, so they can
/// publish and subscribe from inside without deadlocking the loop.
///
/// ```no_run
/// use mqtt_proto::QoS;
/// use mqtt_session::{Command, Event};
/// use transport_mio::{Client, ClientOptions};
///
/// let client = Client::new("seed-example", true);
/// client.set_will("status/seed-example", b"gone", QoS::AtLeastOnce, true);
/// client.connect("127.0.0.1", 30, ClientOptions::new().port(1883))?;
/// client.on_if(
///     Command::Publish,
///     |_c, e| { println!("cool: {:?}", e.message()); Ok(()) },
///     |e| e.message().is_some_and(|m| m.payload() == b"cool"),
///     0,
/// );
/// client.loop_start(Some(|_c: &Client, e: &Event| { println!("message {:?}", e.message()); Ok(()) }));
/// client.subscribe(&[("seed/#", QoS::ExactlyOnce)])?;
/// client.publish("seed/a", b"cool", QoS::AtLeastOnce, false)?;
/// # Ok::<(), transport_mio::ClientError>(())
/// ```
///
/// The client stops (DISCONNECT, threads end) when `disconnect` is called or when the last
/// handle made by [`Client::new`] / [`Client::with_config`] and their clones is dropped. The
/// handle a callback receives does not keep the client alive.
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    /// Present in user handles: when the last one goes, the client shuts down.
    _owner: Option<Arc<OwnerGuard>>,
}

/// Shuts the client down when the last user handle is dropped (the I/O and loop threads hold
/// handles without a guard, so they cannot keep it running forever).
struct OwnerGuard {
    shared: Weak<Shared>,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        {
            let mut core = lock(&shared.core);
            if core.stop {
                return;
            }
            core.stop = true;
            core.conn.disconnect();
        }
        let waker = lock(&shared.waker).clone();
        if let Some(w) = waker {
            let _ = w.wake();
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking callback never holds these locks; recover from poisoning all the same.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Client {
    /// A client speaking MQTT 3.1.1. An empty `client_id` needs `clean_session`
    /// ([`connect`](Self::connect) refuses it with [`ClientError::Connect`] before dialing).
    pub fn new(client_id: &str, clean_session: bool) -> Self {
        Self::with_config(SessionConfig::new(
            client_id,
            clean_session,
            ProtocolVersion::V311,
        ))
    }

    /// A client with a full Session configuration (protocol version, limits).
    pub fn with_config(config: SessionConfig) -> Self {
        let core = Core {
            conn: MqttConnection::new(config),
            will: None,
            username: None,
            password: None,
            settings: None,
            events: VecDeque::new(),
            read_blocked: false,
            waiters: HashMap::new(),
            connect_state: ConnectState::default(),
            stop: false,
            reconnect_now: false,
            io_thread: None,
            dispatch_thread: None,
            failures: VecDeque::new(),
            last_disconnect: None,
            pending: None,
        };
        let shared = Arc::new(Shared {
            core: Mutex::new(core),
            changed: Condvar::new(),
            waker: Mutex::new(None),
            dispatcher: Mutex::new(Dispatcher::new()),
            threads: Mutex::new(Vec::new()),
        });
        let owner = Some(Arc::new(OwnerGuard {
            shared: Arc::downgrade(&shared),
        }));
        Self {
            shared,
            _owner: owner,
        }
    }

    /// A handle for the client's own threads and callbacks: it does not keep the client alive.
    fn internal(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            _owner: None,
        }
    }

    fn core(&self) -> MutexGuard<'_, Core> {
        lock(&self.shared.core)
    }

    fn wake_io(&self) {
        if let Some(w) = lock(&self.shared.waker).as_ref() {
            let _ = w.wake();
        }
    }

    /// Sets the will message for the next connections.
    pub fn set_will(&self, topic: &str, payload: &[u8], qos: QoS, retain: bool) {
        self.core().will = Some(OwnedWill {
            topic: topic.to_string(),
            payload: payload.to_vec(),
            qos,
            retain,
        });
    }

    /// Sets the credentials for the next connections.
    pub fn set_username_pw(&self, username: &str, password: Option<&[u8]>) {
        let mut core = self.core();
        core.username = Some(username.to_string());
        core.password = password.map(<[u8]>::to_vec);
    }

    /// Connects and blocks until CONNACK. Returns whether the broker resumed a session.
    ///
    /// Starts the I/O thread, which from then on answers the protocol (acks, pings) and,
    /// unless turned off, reconnects by itself when the connection drops.
    pub fn connect(
        &self,
        host: &str,
        keep_alive: u16,
        options: ClientOptions,
    ) -> Result<bool, ClientError> {
        let port = options
            .port
            .unwrap_or(if options.tls.is_some() { 8883 } else { 1883 });
        {
            let mut core = self.core();
            if core.io_thread.is_some() {
                return Err(ClientError::Connect(ConnectError::AlreadyConnected));
            }
            // Before any socket: a bad client id is the caller's configuration error, not an
            // I/O error on a connection that closes with nothing sent.
            core.conn.validate().map_err(ClientError::Connect)?;
            core.settings = Some(Settings {
                host: host.to_string(),
                port,
                keep_alive,
                options,
            });
            core.stop = false;
            core.connect_state = ConnectState::default();
        }
        self.dial_and_open()?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        *lock(&self.shared.waker) = Some(waker);
        // The socket was registered with a temporary registry by dial_and_open; move it.
        let me = self.internal();
        let handle = thread::Builder::new()
            .name("mqtt-io".into())
            .spawn(move || me.io_loop(poll))?;
        self.core().io_thread = Some(handle.thread().id());
        lock(&self.shared.threads).push(handle);
        // Wait for CONNACK (or its timeout, which the Session enforces).
        let mut core = self.core();
        let deadline = StdInstant::now() + Duration::from_secs(120);
        loop {
            if let Some(r) = core.connect_state.result.take() {
                if r.is_err() {
                    core.stop = true;
                    drop(core);
                    self.wake_io();
                    self.join_io();
                }
                return r;
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout);
            }
            core = self
                .shared
                .changed
                .wait_timeout(core, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn join_io(&self) {
        let handles: Vec<_> = lock(&self.shared.threads).drain(..).collect();
        let me = thread::current().id();
        for h in handles {
            if h.thread().id() != me {
                let _ = h.join();
            }
        }
        let mut core = self.core();
        core.io_thread = None;
        core.dispatch_thread = None;
    }

    /// Dials the broker (blocking, bounded) and hands the socket to the connection. The
    /// socket is registered later, by the I/O thread's own Poll.
    fn dial_and_open(&self) -> Result<(), ClientError> {
        let (host, port, keepalive) = {
            let core = self.core();
            let s = core.settings.as_ref().ok_or(ClientError::NotConnected)?;
            (s.host.clone(), s.port, s.options.sock_keepalive)
        };
        let tcp = dial(&host, port, keepalive)?;
        self.core().pending_socket(tcp);
        Ok(())
    }

    /// Registers a callback for `command` without a condition: the generic callback, run
    /// when no specific callback's condition is true (a new one replaces the old).
    pub fn on(
        &self,
        command: Command,
        callback: impl FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
    ) -> HandlerId {
        let cb: Callback = Arc::new(Mutex::new(callback));
        lock(&self.shared.dispatcher).on(command, cb, None, 0)
    }

    /// Registers a specific callback: among those whose condition is true for a packet of
    /// `command`, exactly one runs, the one with the highest priority (first registered on a
    /// tie).
    pub fn on_if(
        &self,
        command: Command,
        callback: impl FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
        condition: impl Fn(&Event) -> bool + Send + 'static,
        priority: i32,
    ) -> HandlerId {
        let cb: Callback = Arc::new(Mutex::new(callback));
        lock(&self.shared.dispatcher).on(command, cb, Some(Box::new(condition)), priority)
    }

    /// Removes a callback.
    pub fn remove_callback(&self, id: HandlerId) -> bool {
        lock(&self.shared.dispatcher).remove(id).is_some()
    }

    /// Starts the background thread that dispatches events to callbacks. If `on_message` is
    /// given it runs once for every application message whatever its QoS (QoS 2 on PUBREL).
    pub fn loop_start<F>(&self, on_message: Option<F>)
    where
        F: FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
    {
        if let Some(f) = on_message {
            let cb: Callback = Arc::new(Mutex::new(f));
            lock(&self.shared.dispatcher).on_message(cb);
        }
        if self.core().dispatch_thread.is_some() {
            return;
        }
        let me = self.internal();
        if let Ok(handle) = thread::Builder::new()
            .name("mqtt-loop".into())
            .spawn(move || me.dispatch_loop())
        {
            self.core().dispatch_thread = Some(handle.thread().id());
            lock(&self.shared.threads).push(handle);
        }
    }

    /// The next event, blocking up to `timeout` (for users who prefer no callbacks; do not
    /// combine with `loop_start`).
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        let deadline = StdInstant::now() + timeout;
        let mut core = self.core();
        loop {
            if let Some(e) = core.events.pop_front() {
                let unblock = core.read_blocked && core.events.len() < MAX_PENDING_EVENTS / 2;
                drop(core);
                if unblock {
                    self.wake_io();
                }
                return Some(e);
            }
            if core.stop && core.io_thread.is_none() {
                return None;
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return None;
            }
            core = self
                .shared
                .changed
                .wait_timeout(core, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// A blocking iterator over events; each `next` waits up to `timeout_each`.
    pub fn events(&self, timeout_each: Duration) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.next_event(timeout_each))
    }

    fn dispatch_loop(&self) {
        loop {
            let Some(event) = self.next_event(Duration::from_millis(200)) else {
                let core = self.core();
                if core.stop && core.io_thread.is_none() {
                    return;
                }
                if core.dispatch_thread != Some(thread::current().id()) {
                    return;
                }
                continue;
            };
            self.dispatch(&event);
        }
    }

    /// Runs the callback the dispatcher selects for `event`, reporting errors and panics.
    fn dispatch(&self, event: &Event) {
        let cb = lock(&self.shared.dispatcher).select(event).cloned();
        let Some(cb) = cb else { return };
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut f = lock(&cb);
            f(self, event)
        }));
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => CallbackFailure {
                command: event.command(),
                message: e.to_string(),
                panicked: false,
            },
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "callback panicked".into());
                CallbackFailure {
                    command: event.command(),
                    message,
                    panicked: true,
                }
            }
        };
        let mut core = self.core();
        if core.failures.len() >= 100 {
            core.failures.pop_front();
        }
        core.failures.push_back(failure);
        self.shared.changed.notify_all();
    }

    /// Callback failures (errors and panics) reported since the last call, oldest first.
    pub fn take_callback_failures(&self) -> Vec<CallbackFailure> {
        self.core().failures.drain(..).collect()
    }

    /// Publishes; returns the packet identifier (the seed's `mid`), `None` for QoS 0.
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, ClientError> {
        let r = self
            .core()
            .conn
            .publish(topic, payload, qos, retain)
            .map_err(ClientError::Publish);
        self.wake_io();
        r
    }

    /// Publishes with MQTT 5.0 properties.
    pub fn publish_with_properties(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<Option<PacketId>, ClientError> {
        let r = self
            .core()
            .conn
            .publish_with_properties(topic, payload, qos, retain, properties)
            .map_err(ClientError::Publish);
        self.wake_io();
        r
    }

    /// Publishes a QoS 1/2 message and blocks until the broker completes it (or `timeout`).
    pub fn publish_and_wait(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        timeout: Duration,
    ) -> Result<PublishOutcome, ClientError> {
        let id = {
            let mut core = self.core();
            if core.io_thread == Some(thread::current().id())
                || core.dispatch_thread == Some(thread::current().id())
            {
                return Err(ClientError::WouldDeadlock);
            }
            let id = core
                .conn
                .publish(topic, payload, qos, retain)
                .map_err(ClientError::Publish)?;
            let Some(id) = id else {
                return Ok(PublishOutcome::Acknowledged(ReasonCode::Success));
            };
            // Registered under the same lock as the publish: the ack cannot be missed.
            core.waiters.insert(id, None);
            id
        };
        self.wake_io();
        self.wait_for(id, timeout)
    }

    fn wait_for(&self, id: PacketId, timeout: Duration) -> Result<PublishOutcome, ClientError> {
        let deadline = StdInstant::now() + timeout;
        let mut core = self.core();
        loop {
            if let Some(Some(outcome)) = core.waiters.get(&id) {
                let outcome = *outcome;
                core.waiters.remove(&id);
                return Ok(outcome);
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                core.waiters.remove(&id);
                return Err(ClientError::Timeout);
            }
            core = self
                .shared
                .changed
                .wait_timeout(core, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Subscribes to `(filter, qos)` pairs; returns the packet identifier.
    pub fn subscribe(&self, topics: &[(&str, QoS)]) -> Result<PacketId, ClientError> {
        let mut subs = Vec::with_capacity(topics.len());
        for (f, q) in topics {
            let filter = TopicFilter::new(f)
                .map_err(|e| ClientError::Subscribe(SubscribeError::InvalidFilter(e)))?;
            subs.push(Subscription::new(filter, *q));
        }
        let r = self
            .core()
            .conn
            .subscribe(&subs)
            .map_err(ClientError::Subscribe);
        self.wake_io();
        r
    }

    /// Unsubscribes from filters; returns the packet identifier.
    pub fn unsubscribe(&self, filters: &[&str]) -> Result<PacketId, ClientError> {
        let mut list = Vec::with_capacity(filters.len());
        for f in filters {
            list.push(
                TopicFilter::new(f)
                    .map_err(|e| ClientError::Subscribe(SubscribeError::InvalidFilter(e)))?,
            );
        }
        let r = self
            .core()
            .conn
            .unsubscribe(&list)
            .map_err(ClientError::Subscribe);
        self.wake_io();
        r
    }

    /// Drops the socket and connects again now: `before_reconnect` runs, then the
    /// connection, then `after_connect`, then unacknowledged messages are resent.
    pub fn reconnect(&self) -> Result<(), ClientError> {
        let mut core = self.core();
        if core.io_thread.is_none() {
            return Err(ClientError::NotConnected);
        }
        core.reconnect_now = true;
        drop(core);
        self.wake_io();
        Ok(())
    }

    /// Sends DISCONNECT (the broker discards the will), stops reconnecting and stops the
    /// background threads.
    pub fn disconnect(&self) {
        {
            let mut core = self.core();
            core.stop = true;
            core.conn.disconnect();
        }
        self.wake_io();
        self.join_io();
    }

    /// Whether the current connection is accepted.
    pub fn is_connected(&self) -> bool {
        self.core().conn.session().is_connected()
    }

    /// Outgoing QoS 1/2 messages not yet completed, and messages queued behind them.
    pub fn pending_messages(&self) -> usize {
        let core = self.core();
        core.conn.session().inflight_len() + core.conn.session().queued_len()
    }

    /// The TCP keepalive settings read back from the socket, if connected.
    pub fn socket_keepalive(&self) -> io::Result<Option<SockKeepalive>> {
        let core = self.core();
        let Some(tcp) = core.conn.tcp() else {
            return Ok(None);
        };
        let sock = SockRef::from(tcp);
        if !sock.keepalive()? {
            return Ok(None);
        }
        Ok(Some(SockKeepalive {
            count: sock.tcp_keepalive_retries()?,
            idle: sock.tcp_keepalive_time()?,
            interval: sock.tcp_keepalive_interval()?,
        }))
    }

    /// Why the last connection ended, if one did.
    pub fn last_disconnect(&self) -> Option<DisconnectReason> {
        self.core().last_disconnect
    }

    // ------------------------------------------------------------------ the I/O thread

    fn io_loop(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(64);
        let mut backoff = self
            .core()
            .settings
            .as_ref()
            .and_then(|s| s.options.backoff.clone())
            .unwrap_or_default()
            .seeded_from_os();
        let mut reconnect_at: Option<StdInstant> = None;
        let mut first = true;
        // Attach the socket dialled by `connect`.
        if let Err(e) = self.open_pending(&poll) {
            self.finish_connect(Err(e));
            return;
        }
        loop {
            let timeout = {
                let core = self.core();
                if core.stop && !core.conn.is_open() {
                    break;
                }
                let t = core.conn.timeout();
                let r = reconnect_at.map(|at| at.saturating_duration_since(StdInstant::now()));
                [t, r].into_iter().flatten().min()
            };
            if poll.poll(&mut events, timeout).is_err() {
                continue;
            }
            let mut hooks: Vec<Hook> = Vec::new();
            let mut lost = false;
            {
                let mut core = self.core();
                for ev in events.iter() {
                    if ev.token() == SOCKET {
                        let readable = ev.is_readable() || ev.is_read_closed() || ev.is_error();
                        if readable && core.events.len() >= MAX_PENDING_EVENTS {
                            core.read_blocked = true;
                            core.conn.handle_ready(false, ev.is_writable());
                        } else {
                            core.conn
                                .handle_ready(readable, ev.is_writable() || ev.is_write_closed());
                        }
                    }
                }
                if core.read_blocked && core.events.len() < MAX_PENDING_EVENTS / 2 {
                    core.read_blocked = false;
                    core.conn.handle_ready(true, true);
                }
                core.conn.handle_timeout();
                while let Some(event) = core.conn.poll_event() {
                    match &event {
                        Event::Connected {
                            session_present, ..
                        } => {
                            backoff.reset();
                            reconnect_at = None;
                            if first {
                                core.connect_state.result = Some(Ok(*session_present));
                            }
                            if let Some(h) = core
                                .settings
                                .as_ref()
                                .and_then(|s| s.options.after_connect.clone())
                            {
                                hooks.push(h);
                            }
                            first = false;
                        }
                        Event::ConnectRefused { reason, .. } if first => {
                            core.connect_state.result = Some(Err(ClientError::Refused(*reason)));
                            core.stop = true;
                        }
                        Event::PubAck { id, reason, .. } | Event::PubComp { id, reason, .. } => {
                            if let Some(slot) = core.waiters.get_mut(id) {
                                *slot = Some(if reason.is_error() {
                                    PublishOutcome::Rejected(*reason)
                                } else {
                                    PublishOutcome::Acknowledged(*reason)
                                });
                            }
                        }
                        Event::PubRec { id, reason, .. } if reason.is_error() => {
                            if let Some(slot) = core.waiters.get_mut(id) {
                                *slot = Some(PublishOutcome::Rejected(*reason));
                            }
                        }
                        Event::Disconnected { reason, .. } => {
                            core.last_disconnect = Some(*reason);
                            if first && core.connect_state.result.is_none() {
                                let transport_error = core.conn.take_error();
                                core.connect_state.result =
                                    Some(Err(match (reason, transport_error) {
                                        (DisconnectReason::Refused(code), _) => {
                                            ClientError::Refused(*code)
                                        }
                                        // The socket failed (TLS handshake, certificate, reset):
                                        // report that error, which says what went wrong, not
                                        // only "closed by the transport" (it was swallowed).
                                        (DisconnectReason::TransportClosed, Some(e)) => {
                                            ClientError::Io(e)
                                        }
                                        (other, _) => ClientError::Disconnected(*other),
                                    }));
                                core.stop = true;
                            }
                            lost = true;
                        }
                        _ => {}
                    }
                    core.events.push_back(event);
                }
                let auto = core
                    .settings
                    .as_ref()
                    .and_then(|s| s.options.auto_reconnect)
                    .unwrap_or(true);
                if core.reconnect_now {
                    core.reconnect_now = false;
                    core.conn.abort(poll.registry());
                    while let Some(e) = core.conn.poll_event() {
                        core.events.push_back(e);
                    }
                    reconnect_at = Some(StdInstant::now());
                } else if lost && !core.stop && auto && reconnect_at.is_none() {
                    match backoff.next_delay() {
                        Some(d) => reconnect_at = Some(StdInstant::now() + d),
                        None => core.stop = true,
                    }
                } else if lost && !auto {
                    core.stop = true;
                }
                if core.stop && !core.conn.is_open() {
                    self.shared.changed.notify_all();
                    drop(core);
                    self.run_hooks(hooks);
                    break;
                }
                self.shared.changed.notify_all();
            }
            self.run_hooks(hooks);
            if reconnect_at.is_some_and(|at| at <= StdInstant::now()) {
                reconnect_at = None;
                let before = self
                    .core()
                    .settings
                    .as_ref()
                    .and_then(|s| s.options.before_reconnect.clone());
                if let Some(h) = before {
                    self.run_hooks(vec![h]);
                }
                let dialled = self.dial_and_open().and_then(|()| self.open_pending(&poll));
                if dialled.is_err() {
                    match backoff.next_delay() {
                        Some(d) => reconnect_at = Some(StdInstant::now() + d),
                        None => {
                            self.core().stop = true;
                        }
                    }
                }
            }
        }
        let mut core = self.core();
        core.io_thread = None;
        *lock(&self.shared.waker) = None;
        self.shared.changed.notify_all();
    }

    fn run_hooks(&self, hooks: Vec<Hook>) {
        for h in hooks {
            let r = catch_unwind(AssertUnwindSafe(|| (lock(&h))(self)));
            if r.is_err() {
                let mut core = self.core();
                core.failures.push_back(CallbackFailure {
                    command: None,
                    message: "a reconnect hook panicked".into(),
                    panicked: true,
                });
            }
        }
    }

    fn finish_connect(&self, r: Result<bool, ClientError>) {
        let mut core = self.core();
        core.connect_state.result = Some(r);
        core.stop = true;
        core.io_thread = None;
        self.shared.changed.notify_all();
    }

    /// Registers the socket dialled last with `poll` and starts the MQTT handshake.
    fn open_pending(&self, poll: &Poll) -> Result<(), ClientError> {
        let mut core = self.core();
        let Some(tcp) = core.pending.take() else {
            return Err(ClientError::NotConnected);
        };
        let tcp = mio::net::TcpStream::from_std(tcp);
        let Core {
            conn,
            will,
            username,
            password,
            settings,
            ..
        } = &mut *core;
        let Some(s) = settings.as_ref() else {
            return Err(ClientError::NotConnected);
        };
        let will = match will {
            Some(w) => Some(Will {
                topic: TopicName::new(&w.topic)
                    .map_err(|e| ClientError::Connect(ConnectError::Invalid(e.into())))?,
                payload: &w.payload,
                qos: w.qos,
                retain: w.retain,
                properties: Properties::EMPTY,
            }),
            None => None,
        };
        let mut options = ConnectOptions::new(s.keep_alive);
        options.will = will;
        options.username = username.as_deref();
        options.password = password.as_deref();
        conn.open(
            poll.registry(),
            SOCKET,
            tcp,
            s.options.tls.as_ref(),
            &s.host,
            &options,
        )
        .map_err(ClientError::Io)
    }
}

impl Core {
    fn pending_socket(&mut self, tcp: StdTcpStream) {
        self.pending = Some(tcp);
    }
}

/// Resolves and connects with a timeout, applies socket options, and makes it non-blocking.
fn dial(host: &str, port: u16, keepalive: Option<SockKeepalive>) -> io::Result<StdTcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{host}:{port} did not resolve"),
    );
    for addr in (host, port).to_socket_addrs()? {
        match StdTcpStream::connect_timeout(&addr, DIAL_TIMEOUT) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                if let Some(k) = keepalive {
                    let params = TcpKeepalive::new()
                        .with_time(k.idle)
                        .with_interval(k.interval)
                        .with_retries(k.count);
                    SockRef::from(&tcp).set_tcp_keepalive(&params)?;
                }
                tcp.set_nonblocking(true)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}
