//! The connection options every subcommand shares (broker, protocol, login, TLS) and the
//! session options of `pub` and `sub` (client id, clean session, will), turned into the
//! library's `ClientOptions`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mqtt_sansio_mio::{
    Client, ClientOptions, LastWill, ProtocolVersion, Proxy, QoS, ServerAddr, ServerUrl, Transport,
    WillProperties,
};

use crate::error::CliError;
use crate::tls::TlsArgs;
use crate::url::{self, BrokerUrl};

/// The MQTT protocol version (`-V`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (the default, as mosquitto's clients have it).
    #[value(name = "311", alias = "mqttv311", alias = "3.1.1")]
    V311,
    /// MQTT 5.0.
    #[value(name = "5", alias = "mqttv5", alias = "5.0")]
    V5,
}

impl Version {
    pub(crate) fn protocol(self) -> ProtocolVersion {
        match self {
            Self::V311 => ProtocolVersion::V311,
            Self::V5 => ProtocolVersion::V5,
        }
    }
}

/// Where the broker is and how to log in.
#[derive(Clone, Debug, Args)]
pub(crate) struct ConnArgs {
    // The help text as an attribute: rustdoc would read its brackets as links.
    #[arg(
        short = 'L',
        long = "url",
        value_name = "URL",
        help = "Broker URL: mqtt://[user[:pass]@]host[:port][/topic], mqtts://... (TLS), \
                ws://[user[:pass]@]host[:port][/path] (WebSocket) or wss://... (WebSocket \
                over TLS). For mqtt:// and mqtts:// the path is the default topic; for ws:// \
                and wss:// it is the HTTP path of the WebSocket upgrade [default: /mqtt] and \
                the topic comes from -t. -h, -p, -u and -P given as well take precedence over \
                the URL's parts"
    )]
    pub(crate) url: Option<String>,

    #[arg(
        long = "proxy",
        value_name = "URL",
        help = "Reach the broker through a proxy: http://[user:pass@]host[:port] (HTTP \
                CONNECT, port 8080 by default) or socks5://[user:pass@]host[:port] (port \
                1080), in front of mqtt, mqtts, ws and wss alike"
    )]
    pub(crate) proxy: Option<String>,

    /// Broker host name or address.
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// Broker port [default: 1883, 8883 with TLS; 80 for ws://, 443 for wss://].
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub(crate) port: Option<u16>,

    /// MQTT protocol version.
    #[arg(
        short = 'V',
        long = "protocol-version",
        value_enum,
        default_value = "311"
    )]
    pub(crate) version: Version,

    /// User name.
    #[arg(short = 'u', long = "username", value_name = "USER")]
    pub(crate) username: Option<String>,

    /// Password (needs a user name). Prefer MQTT_PASSWORD in the environment: arguments
    /// are visible to other users of the machine.
    #[arg(
        short = 'P',
        long = "pw",
        value_name = "PASSWORD",
        env = "MQTT_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) password: Option<String>,

    /// Keepalive interval in seconds (0: off).
    #[arg(
        short = 'k',
        long = "keepalive",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub(crate) keep_alive: u16,

    /// How long connecting (TCP, TLS and CONNACK) may take, in seconds.
    #[arg(long = "connect-timeout", value_name = "SECONDS", default_value_t = 10)]
    pub(crate) connect_timeout: u64,

    /// 5.0 Receive Maximum: most QoS 2 messages the broker may have unreleased towards us
    /// at once (memory stays bounded whatever it is: past 1 MiB only their ids are kept).
    /// The default, like mosquitto's clients, sets no limit: mosquitto 2.0.11 has been seen
    /// to exceed a lower one under load, which ends the connection [MQTT-3.3.4-9].
    #[arg(long = "receive-maximum", value_name = "N", default_value_t = u16::MAX,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) receive_maximum: u16,

    #[command(flatten)]
    pub(crate) tls: TlsArgs,
}

/// The broker to dial, resolved from the URL and the flags.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// TCP, TLS, or WebSocket (with or without TLS) with its HTTP path.
    pub(crate) transport: Transport,
    pub(crate) username: Option<String>,
    /// Binary, as MQTT passwords are (3.1.1 §3.1.3.5): a URL's %-escapes may encode any byte.
    pub(crate) password: Option<Vec<u8>>,
    /// The path of an `mqtt://` or `mqtts://` URL: the default topic.
    pub(crate) topic: Option<String>,
    pub(crate) proxy: Option<Proxy>,
}

impl Target {
    /// Whether the connection is encrypted.
    pub(crate) fn tls(&self) -> bool {
        self.transport.uses_tls()
    }
}

impl ConnArgs {
    /// Resolves the URL, the flags and the proxy into one target.
    pub(crate) fn target(&self) -> Result<Target, CliError> {
        let parsed: Option<BrokerUrl> = match &self.url {
            Some(u) => Some(url::parse(u).map_err(|e| CliError::Usage(e.to_string()))?),
            None => None,
        };
        let server = parsed.as_ref().map(|u| &u.server);
        // Any TLS flag turns TLS on, as with mosquitto's clients: under MQTT for mqtt://,
        // under the WebSocket for ws://.
        let tls = server.is_some_and(|s| s.scheme().uses_tls()) || self.tls.wanted();
        let transport = match server.map(ServerUrl::transport) {
            Some(Transport::WebSocket { path, .. }) => Transport::WebSocket { tls, path },
            _ if tls => Transport::Tls,
            _ => Transport::Tcp,
        };
        let host = self
            .host
            .clone()
            .or_else(|| server.map(|s| s.host().to_string()))
            .unwrap_or_else(|| "localhost".to_string());
        let port = self
            .port
            .or_else(|| server.filter(|s| s.has_explicit_port()).map(|s| s.port()))
            .unwrap_or_else(|| transport.default_port());
        let username = self.username.clone().or_else(|| {
            server
                .and_then(ServerUrl::username)
                .filter(|u| !u.is_empty())
                .map(str::to_string)
        });
        let password = self
            .password
            .as_ref()
            .map(|p| p.as_bytes().to_vec())
            .or_else(|| server.and_then(ServerUrl::password).map(<[u8]>::to_vec));
        if password.is_some() && username.is_none() {
            return Err(CliError::Usage(
                "a password needs a user name (-u USER, or user:pass@ in the URL)".into(),
            ));
        }
        let proxy = match &self.proxy {
            Some(p) => Some(Proxy::parse(p).map_err(|e| {
                CliError::Usage(format!(
                    "bad --proxy URL: {e}; the forms are http://[user:pass@]host[:port] and \
                     socks5://[user:pass@]host[:port]"
                ))
            })?),
            None => None,
        };
        Ok(Target {
            host,
            port,
            transport,
            username,
            password,
            topic: parsed.and_then(|u| u.topic),
            proxy,
        })
    }

    /// The client options for `target`: server, protocol, login, keepalive, TLS and proxy.
    pub(crate) fn options(&self, target: &Target) -> Result<ClientOptions, CliError> {
        let server = ServerAddr::new(target.host.as_str(), Some(target.port))
            .with_transport(target.transport.clone());
        let mut options = ClientOptions::new()
            .servers([server])
            .protocol(self.version.protocol())
            .keep_alive(self.keep_alive)
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)))
            .max_incoming_qos2(self.receive_maximum);
        match (&target.username, &target.password) {
            (Some(u), Some(p)) => options = options.credentials(u, p),
            (Some(u), None) => options = options.username(u),
            _ => {}
        }
        if target.tls() {
            options = options.tls(self.tls.config()?);
        }
        if let Some(proxy) = &target.proxy {
            options = options.proxy(proxy.clone());
        }
        Ok(options)
    }
}

/// The session options of `pub` and `sub`: identity, clean session, expiry and will.
#[derive(Clone, Debug, Args)]
pub(crate) struct SessionArgs {
    /// Client identifier [default: mqttpub or mqttsub and the process id].
    #[arg(short = 'i', long = "id", value_name = "ID")]
    pub(crate) client_id: Option<String>,

    /// Keep the session when the client disconnects (disables clean session / clean start):
    /// the broker holds subscriptions and queues QoS 1/2 messages for the next connection
    /// with the same client id. Needs -i.
    #[arg(short = 'c', long = "disable-clean-session")]
    pub(crate) persistent: bool,

    /// 5.0 Session Expiry Interval in seconds [default: 0, or never with -c].
    #[arg(short = 'x', long = "session-expiry", value_name = "SECONDS")]
    pub(crate) session_expiry: Option<u32>,

    /// Topic of the will, published by the broker if the connection ends without
    /// DISCONNECT.
    #[arg(long = "will-topic", value_name = "TOPIC")]
    pub(crate) will_topic: Option<String>,

    /// Payload of the will [default: empty].
    #[arg(long = "will-payload", value_name = "TEXT", requires = "will_topic")]
    pub(crate) will_payload: Option<String>,

    /// QoS of the will.
    #[arg(long = "will-qos", value_name = "QOS", default_value = "0", value_parser = parse_qos, requires = "will_topic")]
    pub(crate) will_qos: QoS,

    /// Retain the will.
    #[arg(long = "will-retain", requires = "will_topic")]
    pub(crate) will_retain: bool,

    /// 5.0 Will Delay Interval in seconds.
    #[arg(long = "will-delay", value_name = "SECONDS", requires = "will_topic")]
    pub(crate) will_delay: Option<u32>,
}

impl SessionArgs {
    /// Adds the identity, session and will settings to `options`.
    pub(crate) fn apply(
        &self,
        mut options: ClientOptions,
        version: Version,
        default_id_prefix: &str,
    ) -> Result<ClientOptions, CliError> {
        let id = match &self.client_id {
            Some(id) => id.clone(),
            None if self.persistent => {
                return Err(CliError::Usage(
                    "-c (persistent session) needs a client id (-i ID): the broker finds the \
                     session by it"
                        .into(),
                ))
            }
            // At most 23 letters and digits: what every 3.1.1 broker accepts [MQTT-3.1.3-5].
            None => format!("{default_id_prefix}{}", std::process::id())
                .chars()
                .take(23)
                .collect(),
        };
        options = options.client_id(id).clean_start(!self.persistent);
        if version == Version::V5 {
            // mosquitto's rule: -c alone keeps the session for ever, otherwise it ends with the
            // connection unless -x says otherwise.
            let expiry = self
                .session_expiry
                .unwrap_or(if self.persistent { u32::MAX } else { 0 });
            if expiry != 0 {
                options = options.session_expiry(expiry);
            }
        } else if self.session_expiry.is_some() {
            return Err(CliError::Usage(
                "-x (session expiry) is an MQTT 5.0 property: add -V 5".into(),
            ));
        }
        if let Some(topic) = &self.will_topic {
            let payload = self.will_payload.clone().unwrap_or_default().into_bytes();
            let mut will = LastWill::new(topic, payload, self.will_qos, self.will_retain);
            if let Some(delay) = self.will_delay {
                if version != Version::V5 {
                    return Err(CliError::Usage(
                        "--will-delay is an MQTT 5.0 property: add -V 5".into(),
                    ));
                }
                will = will.with_properties(
                    WillProperties::new().delay(Duration::from_secs(u64::from(delay))),
                );
            }
            options = options.will(will);
        }
        Ok(options)
    }
}

/// Parses a QoS: 0, 1 or 2.
pub(crate) fn parse_qos(s: &str) -> Result<QoS, String> {
    match s {
        "0" => Ok(QoS::AtMostOnce),
        "1" => Ok(QoS::AtLeastOnce),
        "2" => Ok(QoS::ExactlyOnce),
        _ => Err(format!("{s:?} is not a QoS: use 0, 1 or 2")),
    }
}

/// The QoS as its number.
pub(crate) fn qos_number(qos: QoS) -> u8 {
    match qos {
        QoS::AtMostOnce => 0,
        QoS::AtLeastOnce => 1,
        QoS::ExactlyOnce => 2,
    }
}

/// A `KEY=VALUE` pair (a 5.0 user property).
pub(crate) fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// Makes a client with `options` and connects it, blocking until CONNACK.
pub(crate) fn connect(options: ClientOptions) -> Result<Client, CliError> {
    let client = Client::with_options(options);
    client.connect_configured().map_err(CliError::Connect)?;
    Ok(client)
}

/// [`connect`], and a signal from now on disconnects the client cleanly (no will).
pub(crate) fn connect_watched(options: ClientOptions) -> Result<Client, CliError> {
    let client = connect(options)?;
    crate::interrupt::watch(&client);
    Ok(client)
}

/// Disconnects (the queue written, then DISCONNECT) a client from [`connect_watched`].
pub(crate) fn disconnect_watched(client: &Client) {
    crate::interrupt::forget();
    client.disconnect();
}

/// A file path argument that must exist, checked before connecting.
pub(crate) fn readable(path: &PathBuf) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use mqtt_sansio_mio::ProxyKind;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct Probe {
        #[command(flatten)]
        conn: ConnArgs,
        #[command(flatten)]
        session: SessionArgs,
    }

    fn probe(args: &[&str]) -> Probe {
        Probe::try_parse_from(std::iter::once("probe").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_take_precedence_over_the_url() {
        let p = probe(&["-L", "mqtt://u:pw@broker:1999/t/x", "-p", "2000"]);
        let t = p.conn.target().unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls()), ("broker", 2000, false));
        assert_eq!(t.username.as_deref(), Some("u"));
        assert_eq!(t.password.as_deref(), Some(&b"pw"[..]));
        assert_eq!(t.topic.as_deref(), Some("t/x"));
        let t = probe(&["-L", "mqtts://broker"]).conn.target().unwrap();
        assert_eq!((t.port, t.tls()), (8883, true));
        let t = probe(&[]).conn.target().unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls()),
            ("localhost", 1883, false)
        );
        let t = probe(&["-L", "mqtt://u:url-pw@b", "-P", "flag-pw"])
            .conn
            .target()
            .unwrap();
        assert_eq!(t.password.as_deref(), Some(&b"flag-pw"[..]));
    }

    #[test]
    fn websocket_urls_keep_their_http_path_and_take_no_topic() {
        let t = probe(&["-L", "ws://broker:9001/gw/mqtt?x=1"])
            .conn
            .target()
            .unwrap();
        assert_eq!(
            t.transport,
            Transport::WebSocket {
                tls: false,
                path: "/gw/mqtt?x=1".into()
            }
        );
        assert_eq!((t.port, t.topic), (9001, None));
        let t = probe(&["-L", "wss://broker"]).conn.target().unwrap();
        assert_eq!((t.port, t.tls()), (443, true));
        // A TLS flag turns ws:// into WebSocket over TLS, on wss's port.
        let t = probe(&["-L", "ws://broker", "--tls-use-os-certs"])
            .conn
            .target()
            .unwrap();
        assert_eq!(
            (t.port, t.transport),
            (
                443,
                Transport::WebSocket {
                    tls: true,
                    path: "/mqtt".into()
                }
            )
        );
        // -h and -p replace the URL's host and port; the WebSocket path stays.
        let p = probe(&["-L", "ws://broker/ws", "-h", "other", "-p", "8080"]);
        let o = p.conn.options(&p.conn.target().unwrap()).unwrap();
        assert_eq!(o.core().servers[0].to_string(), "ws://other:8080/ws");
    }

    #[test]
    fn the_proxy_is_parsed_before_connecting() {
        let p = probe(&["--proxy", "socks5://bob:pw@127.0.0.1"]);
        let t = p.conn.target().unwrap();
        let proxy = t.proxy.as_ref().unwrap();
        assert_eq!(
            (proxy.kind(), proxy.port(), proxy.username()),
            (ProxyKind::Socks5, 1080, Some("bob"))
        );
        let o = p.conn.options(&t).unwrap();
        assert_eq!(o.proxy_config(), Some(proxy));
        let p = probe(&["--proxy", "http://proxy.local"]);
        let proxy = p.conn.target().unwrap().proxy.unwrap();
        assert_eq!((proxy.kind(), proxy.port()), (ProxyKind::HttpConnect, 8080));
        for bad in ["ftp://p:21", "proxy.local:3128", "http://p:0"] {
            let err = probe(&["--proxy", bad]).conn.target().unwrap_err();
            assert!(
                matches!(&err, CliError::Usage(m) if m.contains("socks5://")),
                "{err}"
            );
        }
    }

    #[test]
    fn a_persistent_session_needs_an_id_and_expiry_needs_5_0() {
        let p = probe(&["-c"]);
        assert!(p
            .session
            .apply(ClientOptions::new(), Version::V311, "x")
            .is_err());
        let p = probe(&["-x", "10"]);
        assert!(p
            .session
            .apply(ClientOptions::new(), Version::V311, "x")
            .is_err());
        let p = probe(&["-c", "-i", "me", "-V", "5"]);
        let o = p
            .session
            .apply(ClientOptions::new(), Version::V5, "x")
            .unwrap();
        assert_eq!(o.core().session.client_id, "me");
        assert!(!o.core().session.clean_session);
        assert_eq!(o.core().session.session_expiry_interval, Some(u32::MAX));
    }

    #[test]
    fn the_made_up_id_is_one_a_3_1_1_broker_accepts() {
        let p = probe(&[]);
        let o = p
            .session
            .apply(ClientOptions::new(), Version::V311, "mqttpub")
            .unwrap();
        let id = &o.core().session.client_id;
        assert!(
            id.len() <= 23 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{id}"
        );
    }
}
