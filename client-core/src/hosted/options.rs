//! [`ClientOptions`]: the one options type both clients take.

use std::boxed::Box;
use std::fmt;

use mqtt_sansio_session::store::{Store, StoreError};

use super::store_slot::StoreSlot;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::vec::Vec;

use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{
    AckMode, Backoff, ConnAckProperties, DisconnectReason, QueuePolicy, SessionConfig,
    TopicAliasPolicy,
};

use crate::core::ConnectUpdate;
use crate::options::{
    ConnectProperties, CoreOptions, Credentials, LastWill, ReconnectPolicy, ServerAddr, ServerOrder,
};
use crate::proxy::Proxy;
#[cfg(feature = "tls")]
use crate::tls::TlsConfig;
use crate::url::{ServerUrl, UrlError};

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

/// What a `before_reconnect` hook learns about the attempt about to be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reconnecting {
    /// Attempt number since the last stable connection (1 = first).
    pub attempt: u32,
    /// Why the last connection ended (`None`: dialling failed).
    pub reason: Option<DisconnectReason>,
}

/// What an `after_connect` hook learns about the connection the broker just accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connected {
    /// Whether the broker resumed a stored session.
    pub session_present: bool,
    /// What the 5.0 CONNACK said (empty in 3.1.1).
    pub properties: ConnAckProperties,
}

/// A hook run before every CONNECT.
pub type BeforeConnectHook = Arc<Mutex<dyn FnMut(&mut ConnectUpdate) + Send>>;
/// A hook run before every reconnection attempt.
pub type BeforeReconnectHook = Arc<Mutex<dyn FnMut(&Reconnecting) + Send>>;
/// A hook run after every accepted CONNACK.
pub type AfterConnectHook = Arc<Mutex<dyn FnMut(&Connected) + Send>>;

/// The hooks of a client. They receive context values, not the client, so one options type
/// serves both clients; a hook that needs to publish captures a client handle.
#[derive(Clone, Default)]
pub struct Hooks {
    /// See [`ClientOptions::before_connect`].
    pub before_connect: Option<BeforeConnectHook>,
    /// See [`ClientOptions::before_reconnect`].
    pub before_reconnect: Option<BeforeReconnectHook>,
    /// See [`ClientOptions::after_connect`].
    pub after_connect: Option<AfterConnectHook>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("before_connect", &self.before_connect.is_some())
            .field("before_reconnect", &self.before_reconnect.is_some())
            .field("after_connect", &self.after_connect.is_some())
            .finish()
    }
}

/// The options of both clients: identity, protocol, will, credentials, CONNECT properties,
/// servers, TLS, socket options, reconnect policy, limits and hooks. `Debug` never shows
/// the password or a private key.
///
/// ```
/// use std::time::Duration;
/// use mqtt_sansio_client::mqtt_sansio_proto::{ProtocolVersion, QoS};
/// use mqtt_sansio_client::{ClientOptions, LastWill};
/// let options = ClientOptions::new()
///     .client_id("sensor-17")
///     .protocol(ProtocolVersion::V5)
///     .server("broker.local", 1883)
///     .keep_alive(30)
///     .will(LastWill::new("status/sensor-17", "offline", QoS::AtLeastOnce, true))
///     .credentials("sensor-17", b"secret")
///     .disconnect_timeout(Duration::from_secs(5));
/// assert!(!format!("{options:?}").contains("secret"));
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    core: CoreOptions,
    #[cfg(feature = "tls")]
    tls: Option<TlsConfig>,
    sock_keepalive: Option<SockKeepalive>,
    connect_timeout: Duration,
    hooks: Hooks,
    proxy: Option<Proxy>,
    ws_headers: Vec<(String, String)>,
    store: Option<StoreSlot>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ClientOptions");
        d.field("core", &self.core);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls);
        d.field("sock_keepalive", &self.sock_keepalive)
            .field("connect_timeout", &self.connect_timeout)
            .field("hooks", &self.hooks)
            .field("proxy", &self.proxy)
            .field("ws_headers", &self.ws_headers.len())
            .field("session_store", &self.store.is_some())
            .finish()
    }
}

/// The client id a client makes up when given none: `mqttsansio` and 13 hex digits of
/// `random`: 23 letters and digits, what every 3.1.1 broker must accept ([MQTT-3.1.3-5]; a
/// longer id or a `-` may be refused with identifier rejected).
pub fn generated_client_id(random: u64) -> String {
    std::format!("mqttsansio{:013x}", random >> 12)
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientOptions {
    /// MQTT 3.1.1 (the seed's protocol; [`protocol`](Self::protocol) opts into 5.0), empty
    /// client id (the broker assigns one), clean start, keepalive 60 s, `localhost`,
    /// automatic reconnection, resubscription on session loss, 64 KiB of transmit backlog,
    /// 10 s to connect and 10 s to drain on `disconnect`.
    pub fn new() -> Self {
        Self {
            core: CoreOptions::new(""),
            #[cfg(feature = "tls")]
            tls: None,
            sock_keepalive: None,
            connect_timeout: Duration::from_secs(10),
            hooks: Hooks::default(),
            proxy: None,
            ws_headers: Vec::new(),
            store: None,
        }
    }

    /// Keeps the session's state in `store` (see [`mqtt_sansio_session::store`]), usually a
    /// [`FileStore`](crate::FileStore): a client made again after a crash or a restart, with
    /// the same client id, a persistent session ([`clean_start`](Self::clean_start)`(false)`)
    /// and the same store, resends what was unacknowledged with the original packet ids and
    /// DUP, finishes PUBREL flows, and never hands the application an incoming QoS 2 message
    /// twice. The first client made from these options (or their clones) takes the store; a
    /// store of another client id or protocol version makes its connect fail with
    /// [`ClientError::Store`](crate::ClientError::Store).
    ///
    /// ```
    /// use mqtt_sansio_client::{ClientOptions, FileStore, Fsync};
    /// let path = std::env::temp_dir().join(format!("doc-options-{}", std::process::id()));
    /// let options = ClientOptions::new()
    ///     .client_id("sensor-17")
    ///     .clean_start(false)
    ///     .session_store(FileStore::open(&path, Fsync::PerWake)?);
    /// assert!(options.has_session_store());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_store(mut self, store: impl Store + Send + 'static) -> Self {
        self.store = Some(StoreSlot::new(Box::new(store)));
        self
    }

    /// Whether these options carry a session store (taken or not).
    pub fn has_session_store(&self) -> bool {
        self.store.is_some()
    }

    /// These options without their session store (a stand-in client must not take it).
    pub fn without_session_store(mut self) -> Self {
        self.store = None;
        self
    }

    /// The session store, if no client took it yet.
    #[doc(hidden)]
    pub fn take_session_store(&self) -> Option<Box<dyn Store + Send>> {
        self.store.as_ref().and_then(StoreSlot::take)
    }

    /// Why the session store could not be attached, if a client tried and failed.
    pub fn session_store_failure(&self) -> Option<StoreError> {
        self.store.as_ref().and_then(StoreSlot::failure)
    }

    /// Records that the session store could not be attached (for
    /// [`session_store_failure`](Self::session_store_failure)).
    #[doc(hidden)]
    pub fn session_store_failed(&self, e: StoreError) {
        if let Some(slot) = &self.store {
            slot.failed(e);
        }
    }

    /// The client identifier (empty: the broker assigns one).
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.core.session.client_id = id.into();
        self
    }

    /// The protocol version.
    pub fn protocol(mut self, version: ProtocolVersion) -> Self {
        self.core.session.version = version;
        self
    }

    /// Clean start (5.0) / clean session (3.1.1).
    pub fn clean_start(mut self, on: bool) -> Self {
        self.core.session.clean_session = on;
        self
    }

    /// 5.0 Session Expiry Interval in seconds.
    pub fn session_expiry(mut self, seconds: u32) -> Self {
        self.core.session.session_expiry_interval = Some(seconds);
        self
    }

    /// Keepalive in seconds (0 turns it off).
    pub fn keep_alive(mut self, seconds: u16) -> Self {
        self.core.keep_alive = seconds;
        self
    }

    /// The will, with its 5.0 properties.
    pub fn will(mut self, will: LastWill) -> Self {
        self.core.will = Some(will);
        self
    }

    /// No will.
    pub fn no_will(mut self) -> Self {
        self.core.will = None;
        self
    }

    /// User name and password.
    pub fn credentials(mut self, username: &str, password: &[u8]) -> Self {
        self.core.credentials = Credentials {
            username: Some(username.to_string()),
            password: Some(password.to_vec()),
        };
        self
    }

    /// User name without a password.
    pub fn username(mut self, username: &str) -> Self {
        self.core.credentials = Credentials {
            username: Some(username.to_string()),
            password: None,
        };
        self
    }

    /// Extra 5.0 CONNECT properties.
    pub fn connect_properties(mut self, properties: ConnectProperties) -> Self {
        self.core.connect_properties = properties;
        self
    }

    /// Adds a 5.0 CONNECT user property.
    pub fn user_property(mut self, key: &str, value: &str) -> Self {
        self.core
            .connect_properties
            .user_properties
            .push((key.to_string(), value.to_string()));
        self
    }

    /// One broker at `host:port` (replaces the list).
    pub fn server(mut self, host: &str, port: u16) -> Self {
        self.core.servers = std::vec![ServerAddr::new(host, Some(port))];
        self
    }

    /// One broker at `host`, on the current port (or the default one) and over the current
    /// transport (a [`server_url`](Self::server_url)'s WebSocket path stays).
    pub fn host(mut self, host: &str) -> Self {
        let first = self.core.servers.first();
        let port = first.and_then(|s| s.port);
        let transport = first.and_then(|s| s.transport.clone());
        let mut server = ServerAddr::new(host, port);
        server.transport = transport;
        self.core.servers = std::vec![server];
        self
    }

    /// The port of every server.
    pub fn port(mut self, port: u16) -> Self {
        for s in &mut self.core.servers {
            s.port = Some(port);
        }
        self
    }

    /// Brokers tried in turn when dialling fails.
    pub fn servers<I: IntoIterator<Item = ServerAddr>>(mut self, servers: I) -> Self {
        self.core.servers = servers.into_iter().collect();
        self
    }

    /// One broker given by URL (replaces the list): `mqtt://`, `mqtts://`, `ws://` or
    /// `wss://`, with the scheme's default port. Credentials in the URL become the CONNECT
    /// User Name and Password. `mqtts://` and `wss://` use the [`tls`](Self::tls)
    /// configuration, or the platform's root certificates when none is set.
    ///
    /// ```
    /// use mqtt_sansio_client::{ClientOptions, Transport};
    /// let options = ClientOptions::new().server_url("ws://bob@broker.local:9001/mqtt")?;
    /// let server = &options.core().servers[0];
    /// assert_eq!(server.to_string(), "ws://broker.local:9001/mqtt");
    /// assert_eq!(options.core().credentials.username.as_deref(), Some("bob"));
    /// # Ok::<(), mqtt_sansio_client::UrlError>(())
    /// ```
    pub fn server_url(self, url: &str) -> Result<Self, UrlError> {
        self.servers_from_urls([url])
    }

    /// A list of brokers given by URL, tried in [`server_order`](Self::server_order) with
    /// the backoff, moving to the next on every failure. The first URL with credentials
    /// sets the CONNECT User Name and Password (one identity for the whole cluster).
    pub fn servers_from_urls<I, S>(mut self, urls: I) -> Result<Self, UrlError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut servers = Vec::new();
        let mut credentials = None;
        for url in urls {
            let url = ServerUrl::parse(url.as_ref())?;
            if credentials.is_none() && url.username().is_some() {
                credentials = Some(url.credentials());
            }
            servers.push(url.server_addr());
        }
        if servers.is_empty() {
            return Err(UrlError::MissingHost);
        }
        self.core.servers = servers;
        if let Some(c) = credentials {
            self.core.credentials = c;
        }
        Ok(self)
    }

    /// The order the servers are tried in (default: as listed).
    pub fn server_order(mut self, order: ServerOrder) -> Self {
        self.core.server_order = order;
        self
    }

    /// Whether a 5.0 Server Reference (CONNACK or DISCONNECT 0x9C / 0x9D) may send the
    /// client to another broker (default off).
    pub fn follow_server_reference(mut self, on: bool) -> Self {
        self.core.follow_server_reference = on;
        self
    }

    /// Reaches every broker through this proxy (HTTP CONNECT or SOCKS5), in front of TCP,
    /// TLS and WebSocket alike.
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Adds a header to the WebSocket upgrade request (`ws://`, `wss://` servers), for
    /// example an `Authorization` a gateway in front of the broker checks.
    pub fn ws_header(mut self, name: &str, value: &str) -> Self {
        self.ws_headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The proxy, if any.
    pub fn proxy_config(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// The extra WebSocket upgrade headers.
    pub fn ws_headers(&self) -> &[(String, String)] {
        &self.ws_headers
    }

    /// The TLS configuration for `server`: `None` when it is reached without TLS; the
    /// options' configuration, else the platform's roots, when it needs TLS.
    #[cfg(feature = "tls")]
    pub fn tls_for(&self, server: &ServerAddr) -> std::io::Result<Option<TlsConfig>> {
        if !server.uses_tls(self.tls.is_some()) {
            return Ok(None);
        }
        match &self.tls {
            Some(t) => Ok(Some(t.clone())),
            None => TlsConfig::with_platform_roots().map(Some),
        }
    }

    /// Uses TLS.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// TCP keepalive: `count` probes, after `idle`, every `interval`.
    pub fn sock_keepalive(mut self, count: u32, idle: Duration, interval: Duration) -> Self {
        self.sock_keepalive = Some(SockKeepalive {
            count,
            idle,
            interval,
        });
        self
    }

    /// How long dialling, the TLS handshake and the CONNACK of the first connection may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The whole reconnect policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.core.reconnect = policy;
        self
    }

    /// The reconnect delays.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.core.reconnect.backoff = backoff;
        self
    }

    /// Automatic reconnection on (default) or off.
    pub fn auto_reconnect(mut self, on: bool) -> Self {
        self.core.reconnect.enabled = on;
        self
    }

    /// The backoff starts over only after a connection stayed up this long (default: one
    /// keepalive interval).
    pub fn stable_after(mut self, d: Duration) -> Self {
        self.core.reconnect.stable_after = Some(d);
        self
    }

    /// Keep reconnecting after a refusal for credentials or authorization (default off).
    pub fn retry_on_auth_refusal(mut self, on: bool) -> Self {
        self.core.reconnect.retry_on_auth_refusal = on;
        self
    }

    /// Subscribe again when the broker did not resume the session (default on).
    pub fn resubscribe_on_session_loss(mut self, on: bool) -> Self {
        self.core.session.resubscribe_on_session_loss = on;
        self
    }

    /// Poison-message bound (default 3; 0: none).
    pub fn max_delivery_attempts(mut self, n: u32) -> Self {
        self.core.max_delivery_attempts = n;
        self
    }

    /// How long `disconnect` writes what is queued before DISCONNECT (default 10 s).
    pub fn disconnect_timeout(mut self, d: Duration) -> Self {
        self.core.disconnect_timeout = d;
        self
    }

    /// Most QoS 1/2 messages in flight.
    pub fn max_inflight(mut self, n: u16) -> Self {
        self.core.session.max_inflight = n;
        self
    }

    /// Most publishes waiting to enter the window.
    pub fn max_queued(mut self, n: usize) -> Self {
        self.core.session.max_queued = n;
        self
    }

    /// Most bytes (topic, properties and payload) of the publishes waiting to enter the
    /// window (default 16 MiB).
    pub fn max_queued_bytes(mut self, n: usize) -> Self {
        self.core.session.max_queued_bytes = n;
        self
    }

    /// What a publish meets when the queue is full: refused (the default,
    /// [`QueuePolicy::RefuseNew`]) or room made by dropping the oldest queued QoS 0
    /// messages ([`QueuePolicy::DropOldestQos0`]; QoS 1/2 are never dropped). A QoS 1/2
    /// publish that expires while queued (5.0 Message Expiry Interval) fails its completion
    /// with `Dropped(Expired)`. A QoS 0 publish has no acknowledgement, so its completion
    /// comes when it is accepted; one dropped from the queue later (policy or expiry) is
    /// reported by `Event::PublishFailed { id: None, .. }` with the reason.
    ///
    /// ```
    /// use mqtt_sansio_client::ClientOptions;
    /// use mqtt_sansio_client::mqtt_sansio_session::QueuePolicy;
    /// let options = ClientOptions::new()
    ///     .max_queued(500)
    ///     .max_queued_bytes(256 * 1024)
    ///     .queue_policy(QueuePolicy::DropOldestQos0);
    /// assert_eq!(options.core().session.queue_policy, QueuePolicy::DropOldestQos0);
    /// ```
    pub fn queue_policy(mut self, policy: QueuePolicy) -> Self {
        self.core.session.queue_policy = policy;
        self
    }

    /// Manual acknowledgements: the PUBACK / PUBREC of an incoming QoS 1/2 message goes
    /// out only when the application calls the client's `ack` with the message, in the
    /// order the messages arrived, with at most `window` (at least 1) unacknowledged. 5.0
    /// announces the window as Receive Maximum; in 3.1.1 the client stops reading the socket
    /// while the window is full. A message never acknowledged is sent again by the broker
    /// after a reconnect (with a persistent session), and handed over again. QoS 2 messages
    /// are handed over at PUBLISH under manual acknowledgements (see
    /// [`AckMode::Manual`]).
    ///
    /// ```
    /// use mqtt_sansio_client::ClientOptions;
    /// let options = ClientOptions::new().clean_start(false).manual_acks(32);
    /// assert_eq!(options.core().session.acks.window(), Some(32));
    /// ```
    pub fn manual_acks(mut self, window: u16) -> Self {
        let window = core::num::NonZeroU16::new(window).unwrap_or(core::num::NonZeroU16::MIN);
        self.core.session.acks = AckMode::manual(window);
        self
    }

    /// Most events waiting for a consumer of the client's event queue (default 4096). Once
    /// a consumer (iterator or stream) is behind by this many, the client stops reading the
    /// socket until it catches up (backpressure: TCP, and the broker's flow control, hold
    /// the broker back; nothing acknowledged is dropped). Before any consumer claims the
    /// events, only the newest this many are kept, so a callbacks-only program never stalls.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.core.event_capacity = n.max(1);
        self
    }

    /// Most incoming QoS 2 messages held until PUBREL.
    pub fn max_incoming_qos2(mut self, n: u16) -> Self {
        self.core.session.max_incoming_qos2 = n;
        self
    }

    /// Largest incoming packet.
    pub fn max_packet_size(mut self, n: u32) -> Self {
        self.core.session.max_packet_size = n;
        self
    }

    /// Most bytes waiting in the Session (client default 64 KiB: QoS 0 backpressure).
    pub fn max_transmit_bytes(mut self, n: usize) -> Self {
        self.core.session.max_transmit_bytes = n;
        self
    }

    /// Most topic aliases the broker may use towards us (5.0).
    pub fn topic_alias_maximum(mut self, n: u16) -> Self {
        self.core.session.topic_alias_maximum = n;
        self
    }

    /// Whether our PUBLISH packets use topic aliases (5.0).
    pub fn outgoing_topic_aliases(mut self, policy: TopicAliasPolicy) -> Self {
        self.core.session.outgoing_topic_aliases = policy;
        self
    }

    /// Every other Session setting.
    pub fn session_config_mut(&mut self) -> &mut SessionConfig {
        &mut self.core.session
    }

    /// Runs before every CONNECT, the first included: refresh credentials or the will.
    pub fn before_connect(mut self, f: impl FnMut(&mut ConnectUpdate) + Send + 'static) -> Self {
        self.hooks.before_connect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// Runs before every reconnection attempt (not before the first connection).
    pub fn before_reconnect(mut self, f: impl FnMut(&Reconnecting) + Send + 'static) -> Self {
        self.hooks.before_reconnect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// Runs after every accepted CONNACK, the first included, before the connection's events
    /// are dispatched.
    pub fn after_connect(mut self, f: impl FnMut(&Connected) + Send + 'static) -> Self {
        self.hooks.after_connect = Some(Arc::new(Mutex::new(f)));
        self
    }

    /// Gives a 3.1.1 client with an empty id and a clean session an id of its own,
    /// [`generated_client_id`]`(random)` (the transports draw it from the operating
    /// system, as the backoff seed): without one, a 3.1.1 broker makes up a different id on
    /// every connection, so the client's identity would change at each reconnect. The id is
    /// fixed here, once, so reconnects keep it. A persistent session with an empty id is left
    /// alone: [MQTT-3.1.3-7] (3.1.1) refuses it, and the connect call reports that before
    /// dialling; a 5.0 client with an empty id gets the broker's Assigned Client Identifier.
    #[doc(hidden)]
    pub fn with_default_client_id(mut self, random: u64) -> Self {
        let session = &mut self.core.session;
        if session.client_id.is_empty()
            && session.clean_session
            && session.version == ProtocolVersion::V311
        {
            session.client_id = generated_client_id(random);
        }
        self
    }

    /// The sans-IO part.
    pub fn core(&self) -> &CoreOptions {
        &self.core
    }

    /// The sans-IO part, to change.
    pub fn core_mut(&mut self) -> &mut CoreOptions {
        &mut self.core
    }

    /// TLS settings, if any.
    #[cfg(feature = "tls")]
    pub fn tls_config(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// Whether the connection uses TLS (decides the default port).
    pub fn uses_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// TCP keepalive settings, if any.
    pub fn sock_keepalive_config(&self) -> Option<SockKeepalive> {
        self.sock_keepalive
    }

    /// How long dialling and the first CONNACK may take.
    pub fn connect_timeout_value(&self) -> Duration {
        self.connect_timeout
    }

    /// The hooks.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Seed sugar: the will without properties.
    pub fn will_message(self, topic: &str, payload: &[u8], qos: QoS, retain: bool) -> Self {
        self.will(LastWill::new(topic, payload.to_vec(), qos, retain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(options: &ClientOptions) -> &str {
        &options.core().session.client_id
    }

    #[test]
    fn a_3_1_1_client_without_an_id_gets_a_conforming_generated_one() {
        let options = ClientOptions::new().with_default_client_id(0x0123_4567_89ab_cdef);
        let id = id_of(&options);
        // [MQTT-3.1.3-5]: 1 to 23 letters and digits, what every 3.1.1 broker accepts.
        assert_eq!(id, "mqttsansio0123456789abc");
        assert_eq!(id.len(), 23);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        assert_ne!(
            id_of(&ClientOptions::new().with_default_client_id(1 << 12)),
            id_of(&ClientOptions::new().with_default_client_id(2 << 12)),
        );
    }

    #[test]
    fn a_given_id_a_persistent_session_and_5_0_keep_theirs() {
        let given = ClientOptions::new()
            .client_id("given")
            .with_default_client_id(7);
        assert_eq!(id_of(&given), "given");
        // [MQTT-3.1.3-7]: left empty, so the connect call refuses it before dialling.
        let persistent = ClientOptions::new()
            .clean_start(false)
            .with_default_client_id(7);
        assert_eq!(id_of(&persistent), "");
        // 5.0: the broker's Assigned Client Identifier is used instead.
        let v5 = ClientOptions::new()
            .protocol(ProtocolVersion::V5)
            .with_default_client_id(7);
        assert_eq!(id_of(&v5), "");
    }
}
