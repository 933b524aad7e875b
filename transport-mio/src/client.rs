//! The blocking [`Client`] with the seed library's API: the shared client core on a
//! background mio I/O thread, with blocking waits for its completions.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Wake, Waker};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant as StdInstant};

use mio::{Events, Poll, Token as MioToken, Waker as MioWaker};
use mqtt_sansio_client::{
    client_api, lock, Action, CallbackResult, ClientCore, ClientError, ClientOptions, Completion,
    Connected, Credentials, DisconnectRequest, Failure, Hooks, OutgoingPublish, PublishOutcome,
    PublishProperties, RecvError, Shared, SharedState, StopReason, SubscribeOutcome,
    SubscribeProperties, Token,
};
use mqtt_sansio_proto::{PacketId, QoS, Subscription};
use mqtt_sansio_session::{
    ConnectError, DisconnectReason, Event, Message, PublishError, SessionConfig,
};

use crate::connect;
use crate::io::{self, Flow, READ_BUF_SIZE};
use crate::stream::Stream;

const SOCKET: MioToken = MioToken(0);
const WAKER: MioToken = MioToken(1);
/// What `disconnect` waits beyond the drain time for the I/O thread to close the socket (the
/// core's own close grace is 1 s).
const STOP_MARGIN: Duration = Duration::from_secs(3);

/// Wakes the I/O thread's `mio::Poll` from the shared layer's `std::task::Waker`.
struct MioWake(MioWaker);

impl Wake for MioWake {
    fn wake(self: Arc<Self>) {
        let _ = self.0.wake();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let _ = self.0.wake();
    }
}

struct Inner {
    shared: Shared<Client>,
    /// The options given at construction: their Session settings (identity, protocol,
    /// limits) are the client's; `connect`'s options supply everything else.
    options: ClientOptions,
    /// The shared layer was made with stand-in Session settings because the given ones
    /// were refused; `connect` reports that.
    stand_in: bool,
    /// The hooks of the options given to `connect`; the shared layer's hooks forward here
    /// because the client exists (and its shared layer with it) before `connect` is called.
    hooks: Arc<Mutex<Hooks>>,
    io: Mutex<Option<JoinHandle<()>>>,
    /// The consumer generation of `next_event` / `events`, claimed on first use.
    events: Mutex<Option<u64>>,
    dispatch: Mutex<Dispatch>,
}

/// Callbacks run from `loop_start` on (the seed's loop); events settled before it wait here
/// for them, the newest `event_capacity` kept, so a program that never starts the loop
/// (events only) is not slowed down. Messages are not kept while the program reads the event
/// queue and has registered no callback: it has them, and a copy of each would cost an
/// allocation per message (issue 14).
#[derive(Default)]
struct Dispatch {
    started: bool,
    pending: VecDeque<Event>,
}

/// The blocking MQTT client with the seed library's API.
///
/// Cloning gives another handle to the same client; callbacks receive one, so they can
/// publish and subscribe from inside. Callbacks run on the client's I/O thread from
/// [`loop_start`](Self::loop_start) on (QoS 2 messages reach them on PUBREL, the seed's
/// rule); every event also goes to [`next_event`](Self::next_event) /
/// [`events`](Self::events).
///
/// ```no_run
/// use mqtt_sansio_mio::{Client, ClientOptions, Command, Event, QoS};
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
/// client.disconnect();
/// # Ok::<(), mqtt_sansio_mio::ClientError>(())
/// ```
///
/// The client stops (what is queued is written, then DISCONNECT) when `disconnect` is called
/// or when the last handle made by a constructor and its clones is dropped. The handle a
/// callback receives does not keep the client alive.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Present in user handles: when the last one goes, the client shuts down.
    _owner: Option<Arc<OwnerGuard>>,
}

/// Shuts the client down when the last user handle is dropped (the I/O thread holds a handle
/// without a guard, so it cannot keep the client running forever).
struct OwnerGuard {
    inner: Weak<Inner>,
}

impl Drop for OwnerGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner
                .shared
                .with_core(|core, now| core.disconnect(now, DisconnectRequest::default()));
        }
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

client_api! {
    client = Client,
    shared = |c| &c.inner.shared,
    publish(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
    // A SUBSCRIBE / UNSUBSCRIBE token always carries its packet identifier.
    subscribe(register = false) = |_c, token| -> PacketId { token.packet_id().unwrap_or(PacketId::MIN) },
    unsubscribe(register = false) = |_c, token| -> PacketId { token.packet_id().unwrap_or(PacketId::MIN) },
}

impl Client {
    /// A client speaking MQTT 3.1.1 (the seed's `Client(client_id, clean_session)`). An empty
    /// `client_id` needs `clean_session` ([`connect`](Self::connect) refuses it with
    /// [`ClientError::Connect`] before dialling).
    pub fn new(client_id: &str, clean_session: bool) -> Self {
        Self::with_options(
            ClientOptions::new()
                .client_id(client_id)
                .clean_start(clean_session),
        )
    }

    /// A client with a full Session configuration (protocol version, limits); every other
    /// option keeps the client default.
    pub fn with_config(config: SessionConfig) -> Self {
        let mut options = ClientOptions::new();
        *options.session_config_mut() = config;
        Self::with_options(options)
    }

    /// A client with these options. Its identity, protocol and limits (the Session settings)
    /// are fixed here; the will and credentials apply unless `connect`'s options carry their
    /// own; [`connect_configured`](Self::connect_configured) uses these options whole.
    /// Invalid options are reported by the connect call.
    pub fn with_options(options: ClientOptions) -> Self {
        let hooks = Arc::new(Mutex::new(options.hooks().clone()));
        let forwarding = forward_hooks(options.clone(), &hooks);
        let mut stand_in = false;
        let shared = Shared::new(&forwarding, io::os_seed())
            .or_else(|_| {
                // Refused (say an empty persistent 3.1.1 id): keep the will and credentials
                // for later, and let `connect` report the configuration error before dialling.
                stand_in = true;
                // The stand-in never takes the store: it would bind it to the wrong identity.
                let mut placeholder = forwarding.clone().without_session_store();
                *placeholder.session_config_mut() = ClientOptions::new().core().session.clone();
                Shared::new(&placeholder, io::os_seed())
            })
            .or_else(|_| Shared::new(&forward_hooks(ClientOptions::new(), &hooks), io::os_seed()));
        let shared = match shared {
            Ok(s) => s,
            // The default options are valid by construction.
            Err(_) => io::unreachable_defaults(),
        };
        let inner = Arc::new(Inner {
            shared,
            options,
            stand_in,
            hooks,
            io: Mutex::new(None),
            events: Mutex::new(None),
            dispatch: Mutex::new(Dispatch::default()),
        });
        let owner = Some(Arc::new(OwnerGuard {
            inner: Arc::downgrade(&inner),
        }));
        Self {
            inner,
            _owner: owner,
        }
    }

    /// A handle for the client's own thread and callbacks: it does not keep the client alive.
    fn internal(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _owner: None,
        }
    }

    fn on_io_thread(&self) -> bool {
        self.inner.shared.lock().io_thread == Some(thread::current().id())
    }

    /// Connects to `host` and blocks until CONNACK (the seed's `connect(host, keepalive,
    /// ...)`); returns whether the broker resumed a session.
    ///
    /// `options` supply the port, TLS, socket options, reconnect policy, hooks and the
    /// other connection settings; the Session settings (client id, protocol, clean start,
    /// limits) are the client's, from its constructor. The will and credentials set with
    /// [`set_will`](Self::set_will) / [`set_username_pw`](Self::set_username_pw) apply unless
    /// `options` carry their own; publishes and subscriptions made before `connect` are
    /// sent on the connection. A refusal is [`ClientError::Refused`] with the broker's
    /// code; a TLS or network failure is [`ClientError::Io`] saying what went wrong. A
    /// client connects once: after `disconnect` or a failed first connect, make a new one.
    ///
    /// From then on the I/O thread answers the protocol, runs callbacks and, unless turned
    /// off, reconnects by itself.
    pub fn connect(
        &self,
        host: &str,
        keep_alive: u16,
        options: ClientOptions,
    ) -> Result<bool, ClientError> {
        self.start(options.host(host).keep_alive(keep_alive))
    }

    /// Connects with the options given to [`with_options`](Self::with_options) (servers,
    /// keepalive, TLS and hooks included) and blocks until CONNACK, as
    /// [`connect`](Self::connect) does: one options value, as the async client takes it.
    pub fn connect_configured(&self) -> Result<bool, ClientError> {
        self.start(self.inner.options.clone())
    }

    fn start(&self, options: ClientOptions) -> Result<bool, ClientError> {
        let shared = &self.inner.shared;
        let token = {
            let mut io_thread = lock(&self.inner.io);
            if io_thread.is_some() {
                return Err(ClientError::Connect(ConnectError::AlreadyConnected));
            }
            let mut st = shared.lock();
            if st.closed().is_some() || st.core.stop_reason().is_some() {
                return Err(ClientError::Closed);
            }
            if let Some(e) = self.inner.options.session_store_failure() {
                return Err(ClientError::Store(e));
            }
            let current = st.core.options().clone();
            let mut core = options.core().clone();
            core.session = self.inner.options.core().session.clone();
            if core.will.is_none() {
                core.will = current.will;
            }
            if core.credentials == Credentials::default() {
                core.credentials = current.credentials;
            }
            // Checked before any socket: a bad client id is the caller's configuration
            // error, not an I/O error on a connection that closes with nothing sent.
            core.session.validate()?;
            if self.inner.stand_in {
                st.core = ClientCore::new(core, io::os_seed())?;
            } else {
                // Keeps what was queued before `connect` (publishes, subscriptions).
                st.core.reconfigure(core, io::os_seed())?;
            }
            // A store given to `connect` rather than to the constructor.
            if let Some(store) = options.take_session_store() {
                st.core.attach_store(store)?;
            }
            *lock(&self.inner.hooks) = options.hooks().clone();
            let poll = Poll::new()?;
            let waker = MioWaker::new(poll.registry(), WAKER)?;
            st.set_io_waker(&Waker::from(Arc::new(MioWake(waker))));
            let token = st.core.start(shared.clock().now());
            drop(st);
            shared.register(token);
            let me = self.internal();
            let io_options = options.clone();
            let handle = thread::Builder::new()
                .name("mqtt-io".into())
                .spawn(move || me.io_loop(poll, &io_options))?;
            *io_thread = Some(handle);
            token
        };
        let limit = options.connect_timeout_value();
        match shared.wait(token, Some(limit)) {
            Ok(Completion::Connected(outcome)) => Ok(outcome.session_present),
            Ok(Completion::Failed(failure)) => {
                self.join_io(Duration::from_secs(1));
                Err(self.first_connect_error(failure))
            }
            Ok(_) => Err(ClientError::NotConnected),
            Err(e) => {
                // Bounded: stop trying and tell the caller.
                shared.with_core(|core, now| core.disconnect(now, DisconnectRequest::default()));
                self.join_io(STOP_MARGIN);
                Err(e)
            }
        }
    }

    /// Why the first connection failed, in the words that help most: the network or TLS
    /// error when the socket failed, the broker's code when it refused.
    fn first_connect_error(&self, failure: Failure) -> ClientError {
        let io_error = self.inner.shared.lock().io_error.take();
        match (failure, io_error) {
            (Failure::Refused(code), _)
            | (
                Failure::Stopped(StopReason::FirstConnectFailed(Some(DisconnectReason::Refused(
                    code,
                )))),
                _,
            ) => ClientError::Refused(code),
            (
                Failure::Stopped(StopReason::FirstConnectFailed(
                    None | Some(DisconnectReason::TransportClosed),
                )),
                Some(e),
            ) => ClientError::Io(e),
            (f, _) => f.into(),
        }
    }

    /// Waits (bounded) for the I/O thread to end and joins it.
    fn join_io(&self, limit: Duration) {
        if self.on_io_thread() {
            return;
        }
        if self.inner.shared.wait_closed(limit).is_none() {
            return;
        }
        let handle = lock(&self.inner.io).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The seed's `loop_start(on_message)`: from now on callbacks run, on the client's I/O
    /// thread, starting with the events that came since `connect` (except the messages that
    /// came while the program read them with `next_event` / `events` and no callback was
    /// registered: those it has already). `on_message`, if given,
    /// runs once for every application message whatever its QoS: QoS 2 messages reach it on
    /// PUBREL (the seed's rule), exactly once.
    pub fn loop_start<F>(&self, on_message: Option<F>)
    where
        F: FnMut(&Self, &Event) -> CallbackResult + Send + 'static,
    {
        if let Some(f) = on_message {
            let _ = self.on_message(f);
        }
        lock(&self.inner.dispatch).started = true;
        self.inner.shared.lock().wake_io();
    }

    /// `loop_start(None)` without the type annotation: from now on callbacks run, on the
    /// client's I/O thread, starting with the events that came since `connect`. Register
    /// the message callback with [`on_message`](Self::on_message) or
    /// [`on_topic`](Self::on_topic), before or after.
    pub fn start_loop(&self) {
        self.loop_start(None::<fn(&Self, &Event) -> CallbackResult>);
    }

    /// Starts the callbacks (as [`start_loop`](Self::start_loop)) and blocks the calling
    /// thread until the client stops (`disconnect` from a callback or another thread, or
    /// reconnection given up); returns why it stopped. From a callback it returns `None` at
    /// once (the callback's thread is the loop).
    pub fn loop_forever(&self) -> Option<StopReason> {
        self.start_loop();
        if self.on_io_thread() {
            return None;
        }
        loop {
            if let Some(reason) = self.inner.shared.wait_closed(Duration::from_secs(3600)) {
                return Some(reason);
            }
        }
    }

    fn events_generation(&self) -> u64 {
        let mut g = lock(&self.inner.events);
        *g.get_or_insert_with(|| self.inner.shared.claim_events())
    }

    /// The next event, blocking up to `timeout` (`None`: nothing came, or the client stopped
    /// and every event was taken). The first call claims the event queue: from then on it is
    /// lossless, and reading pauses while this consumer is far behind (backpressure).
    pub fn next_event(&self, timeout: Duration) -> Option<Event> {
        let generation = self.events_generation();
        self.inner.shared.next_event(generation, timeout)
    }

    /// The next event, blocking up to `timeout`; unlike [`next_event`](Self::next_event) it
    /// tells "nothing yet" ([`RecvError::Timeout`]: try again) from "no event will ever
    /// come" ([`RecvError::Closed`]: the client stopped and every event was taken). Claims
    /// the event queue as `next_event` does.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvError> {
        let generation = self.events_generation();
        self.inner.shared.recv_event(generation, timeout)
    }

    /// A blocking iterator over events that does not end on a quiet spell: each `next`
    /// waits up to `timeout_each` and yields `Err(RecvError::Timeout)` when nothing came;
    /// it ends (`None`) only when the client closed and every event was taken.
    pub fn recv_iter(
        &self,
        timeout_each: Duration,
    ) -> impl Iterator<Item = Result<Event, RecvError>> + '_ {
        std::iter::from_fn(move || match self.recv_timeout(timeout_each) {
            Err(RecvError::Closed) => None,
            other => Some(other),
        })
    }

    /// A blocking iterator over events; each `next` waits up to `timeout_each`. It ends on
    /// the first quiet spell as well as on close: use [`recv_iter`](Self::recv_iter) to tell
    /// them apart.
    pub fn events(&self, timeout_each: Duration) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.next_event(timeout_each))
    }

    /// [`publish`](Self::publish), waiting up to `timeout` for room when the window and the
    /// queue are full (instead of returning `Publish(QueueFull)`).
    pub fn publish_when_ready(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        timeout: Duration,
    ) -> Result<Option<PacketId>, ClientError> {
        let deadline = StdInstant::now() + timeout;
        loop {
            match self.publish(topic, payload, qos, retain) {
                Err(ClientError::Publish(PublishError::QueueFull)) => {
                    if self.on_io_thread() {
                        return Err(ClientError::WouldDeadlock);
                    }
                    let left = deadline.saturating_duration_since(StdInstant::now());
                    if left.is_zero() {
                        return Err(ClientError::Timeout);
                    }
                    self.wait_room(left);
                }
                other => return other,
            }
        }
    }

    /// Blocks until a publish would find room (after `Publish(QueueFull)`: the Session
    /// reports `PublishUnblocked`), the client stopped, or `timeout` passed; returns whether
    /// there is room.
    pub fn wait_room(&self, timeout: Duration) -> bool {
        self.inner.shared.wait_room(timeout)
    }

    /// Publishes and returns a [`Token`] whose completion is kept for
    /// [`wait_publish`](Self::wait_publish) (or [`cancel`](Self::cancel)); the packet
    /// identifier is `token.packet_id()`.
    pub fn publish_tracked(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Token, ClientError> {
        let msg = OutgoingPublish::new(topic, payload, qos, retain);
        self.inner
            .shared
            .command(true, |core, now| core.publish(now, &msg))
    }

    /// Publishes (the payload: bytes, a `String`, a `Vec`) and returns a
    /// [`PublishHandle`]: the packet identifier at once, then
    /// [`wait`](PublishHandle::wait) (blocking, bounded) or
    /// [`try_result`](PublishHandle::try_result) (non-blocking) for the broker's
    /// acknowledgement. A message queued while disconnected keeps its handle: it resolves
    /// once the message is sent and acknowledged after the reconnect.
    pub fn publish_handle(
        &self,
        topic: &str,
        payload: impl AsRef<[u8]>,
        qos: QoS,
        retain: bool,
    ) -> Result<PublishHandle, ClientError> {
        let token = self.publish_tracked(topic, payload.as_ref(), qos, retain)?;
        Ok(PublishHandle {
            client: self.internal(),
            token,
        })
    }

    /// 5.0 request/response: publishes `payload` to `topic` (QoS 1) with a Response Topic
    /// (`<client id>/responses`, subscribed once, on the first request) and a fresh
    /// Correlation Data, and blocks until the reply carrying that Correlation Data comes,
    /// or `timeout` passes ([`ClientError::Timeout`]). The reply goes to the caller only,
    /// not to callbacks or the event queue. A 3.1.1 client gets
    /// [`ClientError::RequiresV5`]; from a callback, `WouldDeadlock`.
    pub fn request(
        &self,
        topic: &str,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        self.request_with(topic, payload, &PublishProperties::new(), timeout)
    }

    /// [`request`](Self::request) with more PUBLISH properties (content type, user
    /// properties, expiry); its Response Topic and Correlation Data are the request's own.
    pub fn request_with(
        &self,
        topic: &str,
        payload: &[u8],
        properties: &PublishProperties,
        timeout: Duration,
    ) -> Result<Message, ClientError> {
        if self.on_io_thread() {
            return Err(ClientError::WouldDeadlock);
        }
        let shared = &self.inner.shared;
        let request = shared.send_request(topic, payload, properties)?;
        shared.wait_reply(&request, timeout)
    }

    /// Blocks until the publish of `token` (from [`publish_tracked`](Self::publish_tracked))
    /// completes, or `timeout` passes. A message the client can no longer confirm fails at
    /// once: `SessionLost` (SPEC "Exactly once, bounded"), `Rejected` after the poison
    /// bound, `Cancelled`, or the reason the client stopped.
    pub fn wait_publish(
        &self,
        token: Token,
        timeout: Duration,
    ) -> Result<PublishOutcome, ClientError> {
        match self.inner.shared.wait(token, Some(timeout))? {
            Completion::Published(outcome) => Ok(outcome),
            Completion::Failed(failure) => Err(failure.into()),
            _ => Err(ClientError::Closed),
        }
    }

    /// Publishes and blocks until the broker completes it (PUBACK / PUBCOMP, with its
    /// reason code and properties) or `timeout` passes. QoS 0 completes at once. From a
    /// callback it is refused with `WouldDeadlock` before anything is sent.
    pub fn publish_and_wait(
        &self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        timeout: Duration,
    ) -> Result<PublishOutcome, ClientError> {
        if self.on_io_thread() {
            return Err(ClientError::WouldDeadlock);
        }
        let token = self.publish_tracked(topic, payload, qos, retain)?;
        self.wait_publish(token, timeout)
    }

    /// Subscribes (5.0 options and properties as in [`subscribe_with`](Self::subscribe_with))
    /// and blocks until the SUBACK, or `timeout` passes. The outcome has one code per filter.
    pub fn subscribe_and_wait(
        &self,
        subscriptions: &[Subscription<'_>],
        properties: &SubscribeProperties,
        timeout: Duration,
    ) -> Result<SubscribeOutcome, ClientError> {
        if self.on_io_thread() {
            return Err(ClientError::WouldDeadlock);
        }
        let token = self.inner.shared.command(true, |core, now| {
            core.subscribe(now, subscriptions, properties)
        })?;
        match self.inner.shared.wait(token, Some(timeout))? {
            Completion::Subscribed(outcome) => Ok(outcome),
            Completion::Failed(failure) => Err(failure.into()),
            _ => Err(ClientError::Closed),
        }
    }

    /// Writes what is queued (QoS 0 included) for up to the options' `disconnect_timeout`,
    /// sends DISCONNECT (the broker discards the will), and blocks until the I/O thread
    /// stopped. Later commands are refused with `Closed`.
    pub fn disconnect(&self) {
        let _ = self.disconnect_with(DisconnectRequest::default());
    }

    /// [`disconnect`](Self::disconnect) with a 5.0 reason code, a new Session Expiry
    /// Interval, a reason string and user properties, and its own drain time. `Timeout`
    /// when the I/O thread did not stop within the drain time plus a margin; from a callback
    /// it returns at once (the I/O thread stops after the callback).
    pub fn disconnect_with(&self, request: DisconnectRequest) -> Result<(), ClientError> {
        let shared = &self.inner.shared;
        let drain = shared.with_core(|core, now| {
            let drain = request.drain.unwrap_or(core.options().disconnect_timeout);
            core.disconnect(now, request);
            drain
        });
        if self.on_io_thread() || lock(&self.inner.io).is_none() {
            return Ok(());
        }
        if shared.wait_closed(drain + STOP_MARGIN).is_none() {
            return Err(ClientError::Timeout);
        }
        self.join_io(STOP_MARGIN);
        Ok(())
    }

    // ------------------------------------------------------------------ the I/O thread

    /// Drives the core: its actions (dial, close, stop), the socket, its timers; settles
    /// completions and events and runs callbacks, outside the lock.
    fn io_loop(&self, mut poll: Poll, options: &ClientOptions) {
        let shared = &self.inner.shared;
        shared.lock().io_thread = Some(thread::current().id());
        let clock = *shared.clock();
        let mut events = Events::with_capacity(64);
        let mut read_buf = vec![0u8; READ_BUF_SIZE].into_boxed_slice();
        let mut conn: Option<Stream> = None;
        let mut want_read = false;
        let mut settled = Settled::default();
        let reason = 'run: loop {
            // 1. What the core wants done with the connection.
            loop {
                let action = {
                    let now = clock.now();
                    let mut st = shared.lock();
                    // From here on this turn sees every command: the next one wakes us.
                    st.io_running();
                    st.core.poll_action(now)
                };
                match action {
                    Action::None => break,
                    Action::Stop(reason) => break 'run reason,
                    Action::Open { ref server, .. } => {
                        shared.before_open(&action);
                        let opened =
                            connect::open(server, options).and_then(|(mut stream, keepalive)| {
                                io::register(poll.registry(), &mut stream, SOCKET)?;
                                Ok((stream, keepalive))
                            });
                        let mut st = shared.lock();
                        let now = clock.now();
                        match opened {
                            Ok((stream, keepalive)) => {
                                st.socket_keepalive = Some(keepalive);
                                st.io_error = None;
                                conn = Some(stream);
                                want_read = true;
                                if let Err(e) = st.core.handle_opened(now) {
                                    // The core closes the socket and stops.
                                    st.io_error = Some(std::io::Error::new(
                                        std::io::ErrorKind::InvalidInput,
                                        e,
                                    ));
                                }
                            }
                            Err(e) => {
                                st.io_error = Some(e);
                                st.core.handle_open_failed(now);
                            }
                        }
                    }
                    Action::Close => {
                        if let Some(stream) = conn.take() {
                            io::close(poll.registry(), stream);
                        }
                        let mut st = shared.lock();
                        st.socket_keepalive = None;
                        st.core.handle_closed(clock.now());
                    }
                }
                self.settle_and_deliver(&mut settled);
            }

            // 2. The socket: read (unless the event consumer is behind), then write.
            let mut busy = false;
            let mut ended = None;
            if let Some(stream) = conn.as_mut() {
                let mut st = shared.lock();
                let mut flow = Flow::Open {
                    progressed: false,
                    more: false,
                };
                if want_read && !st.read_paused() {
                    flow = io::read_into(stream, &mut read_buf, &mut st.core, &clock);
                    if let Flow::Open { progressed, more } = flow {
                        want_read = more;
                        busy |= progressed || more;
                    }
                }
                if let Flow::Open { .. } = flow {
                    flow = io::write_from(stream, &mut st.core, &clock);
                    if let Flow::Open { progressed, .. } = flow {
                        busy |= progressed;
                    }
                }
                if let Flow::Closed(error) = flow {
                    ended = Some(error);
                }
            }
            if let Some(error) = ended {
                if let Some(stream) = conn.take() {
                    io::close(poll.registry(), stream);
                }
                let mut st = shared.lock();
                if error.is_some() {
                    // Kept so the first connect can say *why* (a certificate that does not
                    // name the host, a reset) instead of only "closed".
                    st.io_error = error;
                }
                st.socket_keepalive = None;
                st.core.handle_closed(clock.now());
                want_read = false;
                busy = true;
            }
            self.settle_and_deliver(&mut settled);

            // 3. Wait for the socket, a command (the waker) or the core's next deadline.
            let timeout = {
                let st = shared.lock();
                if busy || (want_read && !st.read_paused()) {
                    Some(Duration::ZERO)
                } else {
                    st.core.poll_timeout().map(|d| clock.until(d))
                }
            };
            if let Err(e) = poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    let mut st = shared.lock();
                    st.io_error = Some(e);
                    st.core
                        .disconnect(clock.now(), DisconnectRequest::default());
                }
            }
            for ev in events.iter() {
                if ev.token() == SOCKET
                    && (ev.is_readable()
                        || ev.is_read_closed()
                        || ev.is_write_closed()
                        || ev.is_error())
                {
                    want_read = true;
                }
            }
            let now = clock.now();
            let mut st = shared.lock();
            if st.core.poll_timeout().is_some_and(|d| d <= now) {
                st.core.handle_timeout(now);
            }
        };
        if let Some(stream) = conn.take() {
            io::close(poll.registry(), stream);
        }
        {
            // Settled, queued and closed under one lock, as before: a command after this
            // point is refused, none slips in between.
            let mut st = shared.lock();
            st.socket_keepalive = None;
            st.settle_unqueued_into(&mut settled.taken);
            self.keep_for_callbacks(&st, &mut settled);
            st.queue_events(settled.taken.drain(..));
            st.close(reason);
        }
        self.run_callbacks(&mut settled);
        shared.lock().io_thread = None;
    }

    /// Moves completions to their waiters and events to the queue, then runs hooks and
    /// callbacks on the events, outside the lock.
    fn settle_and_deliver(&self, settled: &mut Settled) {
        let shared = &self.inner.shared;
        {
            let mut st = shared.lock();
            st.settle_unqueued_into(&mut settled.taken);
            // Even with no new event: events kept for `loop_start` go out once it was
            // called. Under the lock, so the copies are taken before a consumer can see the events
            // (lock order: state, then dispatch, then the callbacks; nothing takes them the
            // other way round).
            self.keep_for_callbacks(&st, settled);
            st.queue_events(settled.taken.drain(..));
        }
        self.run_callbacks(settled);
    }

    /// Copies, from the events of a turn, those a callback will see: once the loop started,
    /// the ones a registered callback or listener takes now; before, the ones kept for
    /// `loop_start` (see [`Dispatch`]). A `Connected` also leaves its information for the
    /// `after_connect` hook, which runs at once. The events themselves go to the queue.
    fn keep_for_callbacks(&self, st: &SharedState, settled: &mut Settled) {
        let shared = &self.inner.shared;
        for event in &settled.taken {
            if let Event::Connected {
                session_present,
                properties,
            } = event
            {
                settled.connected.push(Connected {
                    session_present: *session_present,
                    properties: (**properties).clone(),
                });
            }
        }
        let mut d = lock(&self.inner.dispatch);
        let callbacks = shared.dispatcher();
        if d.started {
            settled.for_callbacks.extend(d.pending.drain(..));
            settled.for_callbacks.extend(
                settled
                    .taken
                    .iter()
                    .filter(|e| {
                        callbacks.select(e).is_some() || callbacks.listeners(e).next().is_some()
                    })
                    .cloned(),
            );
            return;
        }
        let cap = st.core.options().event_capacity.max(1);
        // A program that reads its messages from the queue and registered no callback has
        // taken them there: a copy for a `loop_start` it may never call would cost an
        // allocation per message (issue 14).
        let keep_messages = !st.events_consumed() || !callbacks.is_empty();
        // Events no callback can take (PublishUnblocked) are not kept for them.
        for event in settled.taken.iter().filter(|e| e.command().is_some()) {
            if !keep_messages && matches!(event, Event::Message(_) | Event::MessageReleased(_)) {
                continue;
            }
            if d.pending.len() >= cap {
                d.pending.pop_front();
            }
            d.pending.push_back(event.clone());
        }
    }

    /// Runs the `after_connect` hook at once and the callbacks on the events
    /// [`keep_for_callbacks`](Self::keep_for_callbacks) kept, outside every lock.
    fn run_callbacks(&self, settled: &mut Settled) {
        let shared = &self.inner.shared;
        for info in settled.connected.drain(..) {
            shared.run_after_connect(&info);
        }
        for event in settled.for_callbacks.drain(..) {
            shared.dispatch(self, &event);
        }
        // A burst does not keep its buffers for the rest of the connection.
        settled.taken.shrink_to(SETTLED_KEPT);
        settled.for_callbacks.shrink_to(SETTLED_KEPT);
    }
}

/// The I/O loop's buffers for handing out events, kept across turns so that settling
/// allocates nothing per turn, and each event is moved to the queue, copied only for a
/// callback that will see it (issue 14).
#[derive(Default)]
struct Settled {
    /// The turn's events, from the core to the queue.
    taken: Vec<Event>,
    /// Copies for the callbacks.
    for_callbacks: Vec<Event>,
    /// What the `after_connect` hook gets, one per `Connected`.
    connected: Vec<Connected>,
}

/// Events whose room each settle buffer keeps between turns (more is given back after a
/// burst).
const SETTLED_KEPT: usize = 256;

/// One publish of the blocking client, tracked to its acknowledgement (from
/// [`Client::publish_handle`]). The outcome is handed out once: by the `wait` or
/// `try_result` that finds it.
#[derive(Debug)]
pub struct PublishHandle {
    /// Does not keep the client alive: a handle outliving the client resolves as stopped.
    client: Client,
    token: Token,
}

impl PublishHandle {
    /// The packet identifier (the seed's `mid`); `None` for QoS 0.
    pub fn packet_id(&self) -> Option<PacketId> {
        self.token.packet_id()
    }

    /// The token naming this publish (for [`Client::cancel`]).
    pub fn token(&self) -> Token {
        self.token
    }

    /// Blocks until the broker acknowledges (PUBACK for QoS 1, PUBCOMP for QoS 2; QoS 0 at
    /// once) or `timeout` passes ([`ClientError::Timeout`]: the handle can wait again). A
    /// message the client can no longer confirm fails: `SessionLost`, `Rejected`,
    /// `Cancelled`, or the reason the client stopped. From a callback it is refused with
    /// `WouldDeadlock` (the callback's thread is the one that completes it).
    pub fn wait(&self, timeout: Duration) -> Result<PublishOutcome, ClientError> {
        self.client.wait_publish(self.token, timeout)
    }

    /// The outcome if it came, without blocking; `None` while the publish is pending.
    pub fn try_result(&self) -> Option<Result<PublishOutcome, ClientError>> {
        self.client
            .inner
            .shared
            .try_completion(self.token)
            .map(|c| match c {
                Completion::Published(outcome) => Ok(outcome),
                Completion::Failed(failure) => Err(failure.into()),
                _ => Err(ClientError::Closed),
            })
    }
}

/// Options whose hooks call the ones in `slot`: the shared layer takes its hooks once, when
/// the client is made, and `connect` brings the real ones later.
fn forward_hooks(options: ClientOptions, slot: &Arc<Mutex<Hooks>>) -> ClientOptions {
    let (a, b, c) = (slot.clone(), slot.clone(), slot.clone());
    options
        .before_connect(move |update| {
            let hook = lock(&a).before_connect.clone();
            if let Some(h) = hook {
                (lock(&h))(update);
            }
        })
        .before_reconnect(move |info| {
            let hook = lock(&b).before_reconnect.clone();
            if let Some(h) = hook {
                (lock(&h))(info);
            }
        })
        .after_connect(move |info| {
            let hook = lock(&c).after_connect.clone();
            if let Some(h) = hook {
                (lock(&h))(info);
            }
        })
}
