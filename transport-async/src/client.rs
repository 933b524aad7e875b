//! [`AsyncClient`]: commands, completion futures, callbacks and the event stream.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use mqtt_proto::{
    PacketId, Properties, QoS, ReasonCode, Redacted, Subscription, TopicFilter, TopicName, Will,
};
use mqtt_session::{
    Command, ConnectError, ConnectOptions, DisconnectReason, Event, HandlerId, PublishError,
    Session, SessionConfig, SessionState, SubscribeError,
};
use smallvec::SmallVec;

use crate::driver::{self, Driver};
use crate::error::{ClientError, Failure};
use crate::shared::{lock, Outcome, Shared, StreamState, MAX_PENDING_EVENTS};
use crate::tls::TlsConfig;
use mqtt_session::Backoff;

/// What a callback returns: an error is reported (see
/// [`AsyncClient::take_callback_failures`]), never swallowed, and the driver goes on.
pub type CallbackResult = Result<(), Box<dyn StdError + Send + Sync>>;

pub(crate) type Callback = Arc<Mutex<dyn FnMut(&AsyncClient, &Event) -> CallbackResult + Send>>;
pub(crate) type Hook = Arc<Mutex<dyn FnMut(&AsyncClient) + Send>>;

/// A callback that failed: it returned an error or panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackFailure {
    /// The command of the event being dispatched (`None` for a reconnect hook).
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

/// The outcome of one publish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PublishOutcome {
    /// The broker acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2) with this code. A QoS
    /// 0 publish has nothing to acknowledge and reports `Acknowledged(Success)` at once.
    Acknowledged(ReasonCode),
    /// The broker refused it (5.0 PUBACK/PUBREC with an error code).
    Rejected(ReasonCode),
}

/// The will, owned.
#[derive(Clone, Debug)]
pub(crate) struct OwnedWill {
    topic: String,
    payload: Vec<u8>,
    qos: QoS,
    retain: bool,
}

/// Options of [`AsyncClient::connect`] (the seed's keyword arguments).
///
/// ```
/// use std::time::Duration;
/// use mqtt_proto::QoS;
/// use transport_async::{Backoff, ClientOptions};
/// let options = ClientOptions::new()
///     .keep_alive(30)
///     .will("status/sensor-17", b"offline", QoS::AtLeastOnce, true)
///     .credentials("sensor-17", b"secret")
///     .backoff(Backoff::new(Duration::from_millis(50), Duration::from_secs(10)));
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    pub(crate) keep_alive: u16,
    pub(crate) tls: Option<TlsConfig>,
    pub(crate) sock_keepalive: Option<SockKeepalive>,
    pub(crate) backoff: Backoff,
    pub(crate) auto_reconnect: bool,
    pub(crate) connect_timeout: Duration,
    pub(crate) will: Option<OwnedWill>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) before_reconnect: Option<Hook>,
    pub(crate) after_connect: Option<Hook>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("keep_alive", &self.keep_alive)
            .field("tls", &self.tls)
            .field("sock_keepalive", &self.sock_keepalive)
            .field("backoff", &self.backoff)
            .field("auto_reconnect", &self.auto_reconnect)
            .field("connect_timeout", &self.connect_timeout)
            .field("will", &self.will)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientOptions {
    /// Keepalive 60 s, plain TCP, automatic reconnection with [`Backoff::default`], 10 s to
    /// open a connection, no will, no credentials.
    pub fn new() -> Self {
        Self {
            keep_alive: 60,
            tls: None,
            sock_keepalive: None,
            backoff: Backoff::default(),
            auto_reconnect: true,
            connect_timeout: Duration::from_secs(10),
            will: None,
            username: None,
            password: None,
            before_reconnect: None,
            after_connect: None,
        }
    }

    /// Keepalive in seconds: a PINGREQ goes out when nothing was sent for this long, and the
    /// connection counts as lost when nothing arrives for 1.5 times as long. 0 turns it off.
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.keep_alive = seconds;
        self
    }

    /// Uses TLS (the seed's `ssl_ctx`).
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
        self.backoff = backoff;
        self
    }

    /// Turns automatic reconnection on (the default) or off. Off: the driver ends with
    /// [`ClientError::Disconnected`] when the connection drops.
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.auto_reconnect = on;
        self
    }

    /// How long dialling, the TLS handshake and each reconnection attempt may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The will message, published by the broker if the connection ends without DISCONNECT.
    pub fn will(mut self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Self {
        self.will = Some(OwnedWill {
            topic: topic.to_string(),
            payload: payload.to_vec(),
            qos,
            retain,
        });
        self
    }

    /// User name and password.
    pub fn credentials(mut self, username: &str, password: &[u8]) -> Self {
        self.username = Some(username.to_string());
        self.password = Some(password.to_vec());
        self
    }

    /// Called by the driver before every reconnection attempt.
    pub fn before_reconnect(mut self, f: impl FnMut(&AsyncClient) + Send + 'static) -> Self {
        self.before_reconnect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// Called after every successful connection, the first one (inside
    /// [`AsyncClient::connect`]) included, once CONNACK accepted it and before the events of
    /// the connection are dispatched; resent messages may already be on their way.
    pub fn after_connect(mut self, f: impl FnMut(&AsyncClient) + Send + 'static) -> Self {
        self.after_connect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// The Session's per-connection options, borrowing the owned will and credentials.
    pub(crate) fn connect_options(&self) -> Result<ConnectOptions<'_>, ConnectError> {
        let mut options = ConnectOptions::new(self.keep_alive);
        if let Some(w) = &self.will {
            options.will = Some(Will {
                topic: TopicName::new(&w.topic).map_err(|e| ConnectError::Invalid(e.into()))?,
                payload: &w.payload,
                qos: w.qos,
                retain: w.retain,
                properties: Properties::EMPTY,
            });
        }
        options.username = self.username.as_deref();
        options.password = self.password.as_deref();
        Ok(options)
    }
}

/// Where to connect, and how: kept by the driver for reconnections.
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) options: ClientOptions,
}

/// The last handle to a client going away disconnects it.
pub(crate) struct ClientRef {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for ClientRef {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.stop = true;
        inner.wake_driver();
    }
}

/// The async MQTT client: cheap to clone, usable from any task and any thread.
///
/// [`AsyncClient::connect`] returns the client and its [`Driver`], a future that owns the
/// socket: spawn it on any executor (smol, async-std, `futures`' thread pool, tokio), or
/// run it with `async_io::block_on` on a thread of its own. Commands return at once with the
/// packet identifier and a future that resolves when the broker acknowledges; events come
/// through [`AsyncClient::events`] or callbacks ([`AsyncClient::on`], ...).
///
/// The driver reconnects by itself with [`Backoff`] when the connection drops, resending
/// what was not acknowledged with the original packet identifiers. Dropping every
/// `AsyncClient` handle disconnects cleanly, as [`AsyncClient::disconnect`] does.
///
/// ```no_run
/// use futures_lite::StreamExt;
/// use mqtt_proto::{ProtocolVersion, QoS};
/// use mqtt_session::{Event, SessionConfig};
/// use transport_async::{AsyncClient, ClientOptions};
///
/// smol::block_on(async {
///     let config = SessionConfig::new("async-doc", true, ProtocolVersion::V311);
///     let (client, driver) =
///         AsyncClient::connect(config, "127.0.0.1", 1883, ClientOptions::new()).await?;
///     smol::spawn(driver).detach();
///     let mut events = client.events();
///
///     client.subscribe(&[("greetings/#", QoS::ExactlyOnce)])?.await?;
///     let done = client.publish("greetings/hello", b"hi", QoS::ExactlyOnce, false)?;
///     println!("published with packet id {:?}", done.packet_id());
///     done.await?; // PUBCOMP
///     while let Some(event) = events.next().await {
///         if let Event::MessageReleased(m) = event {
///             println!("{} = {:?}", m.topic(), m.payload_str());
///             break;
///         }
///     }
///     client.disconnect().await;
///     Ok::<(), transport_async::ClientError>(())
/// })?;
/// # Ok::<(), transport_async::ClientError>(())
/// ```
#[derive(Clone)]
pub struct AsyncClient {
    handle: Arc<ClientRef>,
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient").finish_non_exhaustive()
    }
}

impl AsyncClient {
    pub(crate) fn from_ref(handle: Arc<ClientRef>) -> Self {
        Self { handle }
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Connects to `host:port` and waits for CONNACK. Returns the client and the [`Driver`]
    /// to spawn.
    ///
    /// Dials TCP (bounded by [`ClientOptions::connect_timeout`]), runs the TLS handshake if
    /// asked, sends CONNECT and drives the connection until the broker answers. A refusal is
    /// [`ClientError::Refused`] with the broker's code; no reconnection is attempted for this
    /// first connection. An invalid configuration ([`SessionConfig::validate`]) is
    /// [`ClientError::Connect`], returned before any socket is opened. Whether the broker
    /// resumed a session is in the
    /// [`Event::Connected`] waiting first in [`AsyncClient::events`], and in
    /// [`AsyncClient::session_present`].
    pub async fn connect(
        config: SessionConfig,
        host: &str,
        port: u16,
        options: ClientOptions,
    ) -> Result<(Self, Driver), ClientError> {
        // Before dialing: a bad client id is the caller's configuration error, not an I/O
        // error on a connection that closes with nothing sent.
        config.validate().map_err(ClientError::Connect)?;
        let shared = Arc::new(Shared::new(Session::new(config)));
        let settings = Arc::new(Settings {
            host: host.to_string(),
            port,
            options,
        });
        let conn = driver::open(&shared, &settings).await?;
        let handle = Arc::new(ClientRef {
            shared: shared.clone(),
        });
        let driver =
            driver::connect_and_run(shared, Arc::downgrade(&handle), settings, conn).await?;
        Ok((Self { handle }, driver))
    }

    /// Publishes; returns at once with a [`PublishHandle`] carrying the packet identifier
    /// (the seed's `mid`, `None` for QoS 0), a future that resolves when the broker
    /// acknowledges (PUBACK for QoS 1, PUBCOMP for QoS 2).
    ///
    /// The message is the Session's from here on: dropping the handle only stops waiting,
    /// the message is still delivered per its QoS, across reconnections. When the in-flight
    /// window and the queue are full this is [`PublishError::QueueFull`]; use
    /// [`AsyncClient::publish_when_ready`] to wait for room instead.
    pub fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<PublishHandle, ClientError> {
        self.publish_with_properties(topic, payload, qos, retain, Properties::EMPTY)
    }

    /// [`AsyncClient::publish`] with MQTT 5.0 PUBLISH properties.
    pub fn publish_with_properties(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<PublishHandle, ClientError> {
        let shared = self.shared();
        let mut inner = shared.lock();
        if inner.closed || inner.stop {
            return Err(ClientError::Closed);
        }
        let now = shared.clock.now();
        let id = inner
            .session
            .publish_with_properties(now, topic, payload, qos, retain, properties)
            .map_err(ClientError::Publish)?;
        // Registered under the same lock as the publish: the ack cannot be missed.
        let outcome = match id {
            None => Some(Outcome::Publish(PublishOutcome::Acknowledged(
                ReasonCode::Success,
            ))),
            Some(_) => None,
        };
        let token = inner.new_slot(id, outcome);
        inner.wake_driver();
        Ok(PublishHandle {
            id,
            waiter: Waiter::new(shared.clone(), token),
        })
    }

    /// Publishes, first waiting while the in-flight window and the queue are full (instead of
    /// failing with [`PublishError::QueueFull`]). Other errors are returned at once.
    pub async fn publish_when_ready(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<PublishHandle, ClientError> {
        std::future::poll_fn(|cx| {
            match self.publish(topic, payload, qos, retain) {
                Err(ClientError::Publish(PublishError::QueueFull)) => {}
                other => return Poll::Ready(other),
            }
            let mut inner = self.shared().lock();
            // The refusal set the Session's "blocked" flag: Event::PublishUnblocked follows
            // once there is room. Check again under the lock so it cannot be missed.
            if inner.session.can_publish(qos) || inner.closed {
                cx.waker().wake_by_ref();
            } else {
                inner.room_wakers.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Subscribes to `(filter, qos)` pairs; the [`SubscribeHandle`] resolves with the
    /// broker's codes (granted QoS or failure), one per filter, on SUBACK.
    pub fn subscribe(&self, topics: &[(&str, QoS)]) -> Result<SubscribeHandle, ClientError> {
        let mut subs = Vec::with_capacity(topics.len());
        for (f, q) in topics {
            let filter = TopicFilter::new(f)
                .map_err(|e| ClientError::Subscribe(SubscribeError::InvalidFilter(e)))?;
            subs.push(Subscription::new(filter, *q));
        }
        self.subscribe_with(&subs, Properties::EMPTY)
    }

    /// Subscribes with full subscription options (5.0: no local, retain handling, ...) and
    /// SUBSCRIBE properties.
    pub fn subscribe_with(
        &self,
        subscriptions: &[Subscription<'_>],
        properties: Properties<'_>,
    ) -> Result<SubscribeHandle, ClientError> {
        let shared = self.shared();
        let mut inner = shared.lock();
        if inner.closed || inner.stop {
            return Err(ClientError::Closed);
        }
        let now = shared.clock.now();
        let id = inner
            .session
            .subscribe_with_properties(now, subscriptions, properties)
            .map_err(ClientError::Subscribe)?;
        let token = inner.new_slot(Some(id), None);
        inner.wake_driver();
        Ok(SubscribeHandle {
            id,
            waiter: Waiter::new(shared.clone(), token),
        })
    }

    /// Unsubscribes from filters; the [`UnsubscribeHandle`] resolves on UNSUBACK (with one
    /// code per filter in 5.0, none in 3.1.1).
    pub fn unsubscribe(&self, filters: &[&str]) -> Result<UnsubscribeHandle, ClientError> {
        let mut list = Vec::with_capacity(filters.len());
        for f in filters {
            list.push(
                TopicFilter::new(f)
                    .map_err(|e| ClientError::Subscribe(SubscribeError::InvalidFilter(e)))?,
            );
        }
        let shared = self.shared();
        let mut inner = shared.lock();
        if inner.closed || inner.stop {
            return Err(ClientError::Closed);
        }
        let now = shared.clock.now();
        let id = inner
            .session
            .unsubscribe(now, &list)
            .map_err(ClientError::Subscribe)?;
        let token = inner.new_slot(Some(id), None);
        inner.wake_driver();
        Ok(UnsubscribeHandle {
            id,
            waiter: Waiter::new(shared.clone(), token),
        })
    }

    /// The stream of events, beginning with the [`Event::Connected`] of
    /// [`AsyncClient::connect`].
    ///
    /// One stream at a time: a new call takes over and the previous stream ends. While no
    /// stream was ever taken, the newest 4096 events are kept (older ones are dropped, so a
    /// callbacks-only program never stalls). While a stream is alive, nothing is dropped:
    /// when 4096 events wait unread the driver stops reading from the socket until the
    /// stream catches up. After the stream is dropped, events only go to callbacks.
    pub fn events(&self) -> EventStream {
        let mut inner = self.shared().lock();
        inner.stream_generation = inner.stream_generation.wrapping_add(1);
        if inner.stream_state == StreamState::Dropped {
            inner.events.clear();
        }
        inner.stream_state = StreamState::Alive;
        if let Some(w) = inner.stream_waker.take() {
            w.wake(); // the previous stream ends
        }
        EventStream {
            shared: self.shared().clone(),
            generation: inner.stream_generation,
        }
    }

    /// Registers a callback for `command` without a condition: the generic callback, run
    /// when no specific callback's condition is true (a new one replaces the old).
    ///
    /// Callbacks run on the driver's task, outside any lock: they may publish, subscribe and
    /// call other commands, but must not block on a completion future (that would stop the
    /// driver that completes it).
    pub fn on(
        &self,
        command: Command,
        callback: impl FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
    ) -> HandlerId {
        let cb: Callback = Arc::new(Mutex::new(callback));
        lock(&self.shared().dispatcher).on(command, cb, None, 0)
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
        lock(&self.shared().dispatcher).on(command, cb, Some(Box::new(condition)), priority)
    }

    /// The seed's `loop(on_message)`: `callback` runs once for every application message,
    /// whatever its QoS (QoS 2 on PUBREL). See [`mqtt_session::Dispatcher::on_message`].
    pub fn on_message(
        &self,
        callback: impl FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
    ) -> (HandlerId, HandlerId) {
        let cb: Callback = Arc::new(Mutex::new(callback));
        lock(&self.shared().dispatcher).on_message(cb)
    }

    /// Removes a callback; false if it was not registered.
    pub fn remove_callback(&self, id: HandlerId) -> bool {
        lock(&self.shared().dispatcher).remove(id).is_some()
    }

    /// Callback failures (errors and panics) reported since the last call, oldest first.
    pub fn take_callback_failures(&self) -> Vec<CallbackFailure> {
        self.shared().lock().failures.drain(..).collect()
    }

    /// Drops the socket and connects again now (without waiting for the backoff):
    /// `before_reconnect` runs, then the connection, then `after_connect`; unacknowledged
    /// messages are then resent with their original packet identifiers.
    pub fn reconnect(&self) -> Result<(), ClientError> {
        let mut inner = self.shared().lock();
        if inner.closed || inner.stop {
            return Err(ClientError::Closed);
        }
        inner.reconnect_now = true;
        inner.wake_driver();
        Ok(())
    }

    /// Sends DISCONNECT (the broker discards the will), stops reconnecting, and waits until
    /// the driver has closed the socket and ended. Completion futures still waiting fail with
    /// [`ClientError::Closed`]; with a persistent session their messages are resent on the
    /// next connection with the same client id.
    ///
    /// Needs the driver to be running (spawned), like every future of the client.
    pub async fn disconnect(&self) {
        {
            let mut inner = self.shared().lock();
            inner.stop = true;
            inner.wake_driver();
        }
        std::future::poll_fn(|cx| {
            let mut inner = self.shared().lock();
            if inner.closed {
                Poll::Ready(())
            } else {
                inner.close_wakers.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Whether the current connection is accepted (CONNACK received).
    pub fn is_connected(&self) -> bool {
        self.shared().lock().session.is_connected()
    }

    /// The Session's connection state.
    pub fn state(&self) -> SessionState {
        self.shared().lock().session.state()
    }

    /// Whether the client is closed (its driver ended); commands then fail with
    /// [`ClientError::Closed`].
    pub fn is_closed(&self) -> bool {
        let inner = self.shared().lock();
        inner.closed || inner.stop
    }

    /// Outgoing QoS 1/2 messages not yet completed, and messages queued behind them.
    pub fn pending_messages(&self) -> usize {
        let inner = self.shared().lock();
        inner.session.inflight_len() + inner.session.queued_len()
    }

    /// Whether the broker resumed a stored session on the latest connection (CONNACK's
    /// session present flag).
    pub fn session_present(&self) -> bool {
        self.shared().lock().session_present
    }

    /// The TCP keepalive settings read back from the socket of the latest connection when
    /// it was opened (`None`: keepalive off, or no connection was made yet).
    pub fn socket_keepalive(&self) -> std::io::Result<Option<SockKeepalive>> {
        match self.shared().lock().socket_keepalive {
            None => Ok(None),
            Some(Ok(k)) => Ok(k),
            Some(Err(kind)) => Err(std::io::Error::new(
                kind,
                "reading the TCP keepalive options of the socket failed",
            )),
        }
    }

    /// Why the last connection ended, if one did.
    pub fn last_disconnect(&self) -> Option<DisconnectReason> {
        self.shared().lock().last_disconnect
    }

    /// Runs `f` with the Session, for getters not wrapped here (do not call commands on it:
    /// the driver would not be woken).
    pub fn with_session<R>(&self, f: impl FnOnce(&Session) -> R) -> R {
        f(&self.shared().lock().session)
    }
}

/// A registered completion slot; dropping it only stops waiting.
struct Waiter {
    shared: Arc<Shared>,
    token: u64,
}

impl Waiter {
    fn new(shared: Arc<Shared>, token: u64) -> Self {
        Self { shared, token }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut inner = self.shared.lock();
        let closed = inner.closed;
        let Some(slot) = inner.slots.get_mut(&self.token) else {
            return Poll::Ready(Outcome::Failed(Failure::Closed));
        };
        if let Some(outcome) = slot.outcome.clone() {
            return Poll::Ready(outcome);
        }
        if closed {
            return Poll::Ready(Outcome::Failed(Failure::Closed));
        }
        match &slot.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // Only the waiter goes: the message stays in the Session and is delivered per its QoS.
        self.shared.lock().slots.remove(&self.token);
    }
}

/// Completes when the broker acknowledges a publish (PUBACK for QoS 1, PUBCOMP for QoS 2;
/// at once for QoS 0). Dropping it does not cancel the publish.
pub struct PublishHandle {
    id: Option<PacketId>,
    waiter: Waiter,
}

impl PublishHandle {
    /// The packet identifier (the seed's `mid`); `None` for QoS 0.
    pub fn packet_id(&self) -> Option<PacketId> {
        self.id
    }
}

impl fmt::Debug for PublishHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl Future for PublishHandle {
    type Output = Result<PublishOutcome, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.waiter.poll(cx).map(|o| match o {
            Outcome::Publish(p) => Ok(p),
            Outcome::Failed(f) => Err(f.into()),
            Outcome::Acks(_) => Err(ClientError::Closed),
        })
    }
}

/// Completes on SUBACK with the broker's codes, one per filter.
pub struct SubscribeHandle {
    id: PacketId,
    waiter: Waiter,
}

impl SubscribeHandle {
    /// The SUBSCRIBE's packet identifier.
    pub fn packet_id(&self) -> PacketId {
        self.id
    }
}

impl fmt::Debug for SubscribeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl Future for SubscribeHandle {
    type Output = Result<SmallVec<[ReasonCode; 4]>, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.waiter.poll(cx).map(acks)
    }
}

/// Completes on UNSUBACK (5.0: with one code per filter).
pub struct UnsubscribeHandle {
    id: PacketId,
    waiter: Waiter,
}

impl UnsubscribeHandle {
    /// The UNSUBSCRIBE's packet identifier.
    pub fn packet_id(&self) -> PacketId {
        self.id
    }
}

impl fmt::Debug for UnsubscribeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnsubscribeHandle")
            .field("id", &self.id)
            .finish()
    }
}

impl Future for UnsubscribeHandle {
    type Output = Result<SmallVec<[ReasonCode; 4]>, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.waiter.poll(cx).map(acks)
    }
}

fn acks(o: Outcome) -> Result<SmallVec<[ReasonCode; 4]>, ClientError> {
    match o {
        Outcome::Acks(a) => Ok(a),
        Outcome::Failed(f) => Err(f.into()),
        Outcome::Publish(_) => Err(ClientError::Closed),
    }
}

/// The client's events as a [`Stream`]; it ends when the client is closed (or another
/// stream took over, see [`AsyncClient::events`]).
///
/// ```no_run
/// # async fn demo(client: transport_async::AsyncClient) {
/// use futures_lite::StreamExt;
/// let mut events = client.events();
/// while let Some(event) = events.next().await {
///     if let Some(m) = event.message() {
///         println!("{}: {:?}", m.topic(), m.payload());
///     }
/// }
/// # }
/// ```
pub struct EventStream {
    shared: Arc<Shared>,
    generation: u64,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut inner = self.shared.lock();
        if inner.stream_generation != self.generation {
            return Poll::Ready(None);
        }
        if let Some(event) = inner.events.pop_front() {
            if inner.events.len() == MAX_PENDING_EVENTS / 2 {
                // The driver may have paused reading for us: it can go on.
                inner.wake_driver();
            }
            return Poll::Ready(Some(event));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        inner.stream_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        if inner.stream_generation == self.generation {
            inner.stream_state = StreamState::Dropped;
            inner.stream_waker = None;
            inner.events.clear();
            inner.wake_driver();
        }
    }
}
