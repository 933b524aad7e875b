//! [`CoreOptions`]: everything [`ClientCore`](crate::ClientCore) needs, as plain owned data
//! (no_std), plus the pieces a CONNECT is built from (will, credentials, properties).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use mqtt_sansio_proto::{PropertiesBuf, Property, ProtocolVersion, QoS, Redacted, ValueError};
use mqtt_sansio_session::{Backoff, SessionConfig};

/// How the bytes of one server travel: the `mqtt://`, `mqtts://`, `ws://` and `wss://`
/// URL schemes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// MQTT over TCP (`mqtt://`, default port 1883).
    Tcp,
    /// MQTT over TLS over TCP (`mqtts://`, default port 8883).
    Tls,
    /// MQTT over WebSocket (`ws://`, default port 80; `wss://` with TLS, default port 443):
    /// subprotocol `mqtt`, binary frames, the HTTP upgrade sent to `path`.
    WebSocket {
        /// Whether the WebSocket runs over TLS (`wss://`).
        tls: bool,
        /// The request path of the upgrade (`/mqtt` is what most brokers listen on).
        path: String,
    },
}

impl Transport {
    /// Whether TLS is used under MQTT (or under the WebSocket).
    pub fn uses_tls(&self) -> bool {
        matches!(self, Self::Tls | Self::WebSocket { tls: true, .. })
    }

    /// The IANA port of the scheme: 1883, 8883, 80 or 443.
    pub fn default_port(&self) -> u16 {
        match self {
            Self::Tcp => 1883,
            Self::Tls => 8883,
            Self::WebSocket { tls: false, .. } => 80,
            Self::WebSocket { tls: true, .. } => 443,
        }
    }
}

/// The address of one broker. The options hold a list, tried in turn when dialling fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP address.
    pub host: String,
    /// `None`: the default port of the transport (1883, or 8883 when TLS is configured).
    pub port: Option<u16>,
    /// `None`: TCP, or TLS when the options carry a TLS configuration (the behaviour before
    /// server URLs); `Some`: this transport whatever the options say.
    pub transport: Option<Transport>,
}

impl ServerAddr {
    /// A server at `host`, on the default port for the transport.
    pub fn new(host: impl Into<String>, port: Option<u16>) -> Self {
        Self {
            host: host.into(),
            port,
            transport: None,
        }
    }

    /// The same server over this transport.
    pub fn with_transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Whether this server is reached over TLS; `options_tls`: whether the options carry a
    /// TLS configuration (decides when the server names no transport).
    pub fn uses_tls(&self, options_tls: bool) -> bool {
        self.transport
            .as_ref()
            .map_or(options_tls, Transport::uses_tls)
    }

    /// The port to dial: the explicit one, else the transport's default port (with no
    /// transport named: 8883 with TLS and 1883 without).
    pub fn port_or_default(&self, tls: bool) -> u16 {
        self.port.unwrap_or(match &self.transport {
            Some(t) => t.default_port(),
            None if tls => 8883,
            None => 1883,
        })
    }
}

/// The server as a URL without credentials, for log records: `mqtt://host:port` when no
/// transport is named (the options' TLS setting then decides), else the transport's scheme
/// and, for WebSocket, the path.
impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match &self.transport {
            None | Some(Transport::Tcp) => "mqtt",
            Some(Transport::Tls) => "mqtts",
            Some(Transport::WebSocket { tls: false, .. }) => "ws",
            Some(Transport::WebSocket { tls: true, .. }) => "wss",
        };
        let bracket = self.host.contains(':');
        write!(f, "{scheme}://")?;
        if bracket {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(Transport::WebSocket { path, .. }) = &self.transport {
            f.write_str(path)?;
        }
        Ok(())
    }
}

/// User name and password. The password never appears in `Debug` output (SPEC: secrets
/// never reach logs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// The CONNECT User Name.
    pub username: Option<String>,
    /// The CONNECT Password (binary in MQTT).
    pub password: Option<Vec<u8>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| Redacted))
            .finish()
    }
}

/// The will message with its 5.0 properties, owned so that it outlives any one CONNECT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastWill {
    /// Where the broker publishes the will.
    pub topic: String,
    /// The will's payload.
    pub payload: Vec<u8>,
    /// The will's QoS.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// 5.0 will properties (ignored in 3.1.1, which cannot carry them).
    pub properties: WillProperties,
}

impl LastWill {
    /// A will with no properties.
    pub fn new(
        topic: impl Into<String>,
        payload: impl Into<Vec<u8>>,
        qos: QoS,
        retain: bool,
    ) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            retain,
            properties: WillProperties::default(),
        }
    }

    /// The same will with these 5.0 properties.
    pub fn with_properties(mut self, properties: WillProperties) -> Self {
        self.properties = properties;
        self
    }
}

/// 5.0 will properties (§3.1.3.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WillProperties {
    /// Will Delay Interval (0x18): seconds the broker waits before publishing the will.
    pub delay_interval: Option<u32>,
    /// Payload Format Indicator (0x01): `true` when the payload is UTF-8.
    pub payload_format_utf8: Option<bool>,
    /// Message Expiry Interval (0x02) in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type (0x03).
    pub content_type: Option<String>,
    /// Response Topic (0x08).
    pub response_topic: Option<String>,
    /// Correlation Data (0x09).
    pub correlation_data: Option<Vec<u8>>,
    /// User Property (0x26) pairs, in order.
    pub user_properties: Vec<(String, String)>,
}

impl WillProperties {
    /// Encodes the properties for the CONNECT's will.
    pub(crate) fn encode(&self) -> Result<PropertiesBuf, ValueError> {
        let mut buf = PropertiesBuf::new();
        if let Some(v) = self.delay_interval {
            buf.push(Property::WillDelayInterval(v))?;
        }
        crate::properties::push_message_properties(
            &mut buf,
            self.payload_format_utf8,
            self.message_expiry_interval,
            self.content_type.as_deref(),
            self.response_topic.as_deref(),
            self.correlation_data.as_deref(),
            &self.user_properties,
        )?;
        Ok(buf)
    }
}

/// Extra 5.0 CONNECT properties. The Session sets Session Expiry, Receive Maximum, Maximum
/// Packet Size and Topic Alias Maximum itself from [`SessionConfig`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    /// User Property (0x26) pairs, in order.
    pub user_properties: Vec<(String, String)>,
    /// Request Response Information (0x19).
    pub request_response_information: Option<bool>,
    /// Request Problem Information (0x17).
    pub request_problem_information: Option<bool>,
}

impl ConnectProperties {
    pub(crate) fn encode(&self) -> Result<PropertiesBuf, ValueError> {
        let mut buf = PropertiesBuf::new();
        if let Some(v) = self.request_response_information {
            buf.push(Property::RequestResponseInformation(u8::from(v)))?;
        }
        if let Some(v) = self.request_problem_information {
            buf.push(Property::RequestProblemInformation(u8::from(v)))?;
        }
        for (k, v) in &self.user_properties {
            buf.push(Property::UserProperty(k, v))?;
        }
        Ok(buf)
    }
}

/// When and how the client reconnects by itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Reconnect when a connection ends (default `true`).
    pub enabled: bool,
    /// Delays with jitter and an optional bound on attempts in a row.
    pub backoff: Backoff,
    /// The backoff starts over only after a connection stayed up this long, so a broker that
    /// accepts and then drops every connection does not get reconnects at the minimum delay
    /// forever. `None`: one keepalive interval (or 60 s with keepalive off).
    pub stable_after: Option<Duration>,
    /// Keep retrying after a CONNACK refusal for bad credentials or authorization (0x86,
    /// 0x87, 0x8C; 3.1.1 codes 4 and 5). Default `false`: such a refusal will not change by
    /// retrying, so the client stops.
    pub retry_on_auth_refusal: bool,
    /// Retry when the very first connection fails (default `false`: the first connect
    /// reports its error to the caller, who may have mistyped the address).
    pub retry_first_connect: bool,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            backoff: Backoff::default(),
            stable_after: None,
            retry_on_auth_refusal: false,
            retry_first_connect: false,
        }
    }
}

/// Everything [`ClientCore`](crate::ClientCore) needs, as plain data (no_std). The std
/// `ClientOptions` wraps it with TLS, socket options and hooks.
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// Identity, protocol version, clean start, session expiry and every Session limit.
    pub session: SessionConfig,
    /// Keepalive in seconds (default 60; 0 turns it off).
    pub keep_alive: u16,
    /// The brokers to dial, in order (round robin when dialling fails).
    pub servers: Vec<ServerAddr>,
    /// The will sent with every CONNECT.
    pub will: Option<LastWill>,
    /// User name and password sent with every CONNECT.
    pub credentials: Credentials,
    /// Extra 5.0 CONNECT properties.
    pub connect_properties: ConnectProperties,
    /// Reconnect policy.
    pub reconnect: ReconnectPolicy,
    /// Poison-message bound: a publish the broker answers with an error DISCONNECT on this
    /// many connections in a row fails with the broker's reason instead of being sent again
    /// forever. Default 3; 0 means no bound.
    pub max_delivery_attempts: u32,
    /// How long `disconnect` keeps writing what is queued (QoS 0 included) before it sends
    /// DISCONNECT anyway. Default 10 s.
    pub disconnect_timeout: Duration,
    /// Most events waiting for a consumer (the std layer's event queue). Default 4096.
    pub event_capacity: usize,
    /// The order in which [`servers`](Self::servers) are tried. Default: as listed.
    pub server_order: ServerOrder,
    /// Follow a 5.0 Server Reference: a CONNACK or DISCONNECT with reason 0x9C (Use another
    /// server) or 0x9D (Server moved) sends the next connection to the first server it
    /// names (0x9D also replaces the current entry of the list for good). Default `false`:
    /// a broker should not be able to send the client elsewhere unless the application
    /// allows it (5.0 §4.11, Server redirection).
    pub follow_server_reference: bool,
}

/// The order in which the client tries its servers. On any failure (dialling, refusal, a
/// connection lost) it moves to the next one, round robin, with the backoff between
/// attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerOrder {
    /// As listed (the first server first).
    #[default]
    InOrder,
    /// Shuffled once when the client is created, so that many clients with the same list
    /// spread over a cluster. `seed: None` takes the client's random seed (the std clients
    /// draw it from the operating system); `Some` makes the order reproducible.
    Shuffled {
        /// The shuffle's seed.
        seed: Option<u64>,
    },
}

/// The client default for bytes waiting in the Session: small, so that a steady QoS 0
/// stream meets backpressure (`QueueFull`, then `PublishUnblocked`) long before the heap
/// grows (issue 10, defect 7: 256 KiB above an idle client is the target).
pub const DEFAULT_MAX_TRANSMIT_BYTES: usize = 64 * 1024;

impl CoreOptions {
    /// Options for client `client_id` with the client defaults: MQTT 3.1.1 (the seed's
    /// protocol), clean start, keepalive 60 s, resubscription on session loss on, 64 KiB of
    /// transmit backlog, and `localhost` as the only server.
    pub fn new(client_id: impl Into<String>) -> Self {
        let mut session = SessionConfig::new(client_id, true, ProtocolVersion::V311);
        session.resubscribe_on_session_loss = true;
        session.max_transmit_bytes = DEFAULT_MAX_TRANSMIT_BYTES;
        Self {
            session,
            keep_alive: 60,
            servers: alloc::vec![ServerAddr::new("localhost", None)],
            will: None,
            credentials: Credentials::default(),
            connect_properties: ConnectProperties::default(),
            reconnect: ReconnectPolicy::default(),
            max_delivery_attempts: 3,
            disconnect_timeout: Duration::from_secs(10),
            event_capacity: 4096,
            server_order: ServerOrder::InOrder,
            follow_server_reference: false,
        }
    }

    /// How long a connection must stay up before the backoff starts over.
    pub fn stable_after(&self) -> Duration {
        self.reconnect
            .stable_after
            .unwrap_or(if self.keep_alive == 0 {
                Duration::from_secs(60)
            } else {
                Duration::from_secs(u64::from(self.keep_alive))
            })
    }
}

impl Default for CoreOptions {
    fn default() -> Self {
        Self::new("")
    }
}
