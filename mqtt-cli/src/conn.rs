//! The connection options every subcommand shares (broker, protocol, login, TLS) and the
//! session options of `pub` and `sub` (client id, clean session, will), turned into the
//! library's `ClientOptions`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use mqtt_sansio_mio::{
    Client, ClientOptions, LastWill, ProtocolVersion, QoS, ServerAddr, WillProperties,
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
        help = "Broker URL: mqtt://[user[:pass]@]host[:port][/topic] or mqtts://... (TLS). \
                -h, -p, -u and -P given as well take precedence over the URL's parts"
    )]
    pub(crate) url: Option<String>,

    /// Broker host name or address.
    #[arg(short = 'h', long = "host", value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// Broker port [default: 1883, 8883 with TLS].
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
    pub(crate) tls: bool,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    /// The URL's path: the default topic.
    pub(crate) topic: Option<String>,
}

impl ConnArgs {
    /// Resolves the URL and the flags into one target. WebSocket URLs are recognised and
    /// refused with a clear message until the library has the transport.
    pub(crate) fn target(&self) -> Result<Target, CliError> {
        let parsed: Option<BrokerUrl> = match &self.url {
            Some(u) => Some(url::parse(u).map_err(|e| CliError::Usage(e.to_string()))?),
            None => None,
        };
        if let Some(u) = &parsed {
            if u.scheme.is_websocket() {
                return Err(CliError::Usage(
                    "WebSocket support not built in yet: ws:// and wss:// URLs are recognised, \
                     but this build speaks MQTT over TCP and TLS only (use mqtt:// or mqtts://)"
                        .into(),
                ));
            }
        }
        let tls = parsed.as_ref().is_some_and(|u| u.scheme.is_tls()) || self.tls.wanted();
        let host = self
            .host
            .clone()
            .or_else(|| parsed.as_ref().map(|u| u.host.clone()))
            .unwrap_or_else(|| "localhost".to_string());
        let port = self
            .port
            .or_else(|| parsed.as_ref().and_then(|u| u.port))
            .unwrap_or(match &parsed {
                // mqtts:// with TLS, mqtt:// without.
                Some(u) if u.scheme.is_tls() == tls => u.scheme.default_port(),
                _ if tls => 8883,
                _ => 1883,
            });
        let username = self
            .username
            .clone()
            .or_else(|| parsed.as_ref().and_then(|u| u.username.clone()));
        let password = self
            .password
            .clone()
            .or_else(|| parsed.as_ref().and_then(|u| u.password.clone()));
        if password.is_some() && username.is_none() {
            return Err(CliError::Usage(
                "a password needs a user name (-u USER, or user:pass@ in the URL)".into(),
            ));
        }
        Ok(Target {
            host,
            port,
            tls,
            username,
            password,
            topic: parsed.and_then(|u| u.path),
        })
    }

    /// The client options for `target`: server, protocol, login, keepalive and TLS.
    pub(crate) fn options(&self, target: &Target) -> Result<ClientOptions, CliError> {
        let mut options = ClientOptions::new()
            .servers([ServerAddr::new(target.host.as_str(), Some(target.port))])
            .protocol(self.version.protocol())
            .keep_alive(self.keep_alive)
            .connect_timeout(Duration::from_secs(self.connect_timeout.max(1)))
            .max_incoming_qos2(self.receive_maximum);
        match (&target.username, &target.password) {
            (Some(u), Some(p)) => options = options.credentials(u, p.as_bytes()),
            (Some(u), None) => options = options.username(u),
            _ => {}
        }
        if target.tls {
            options = options.tls(self.tls.config()?);
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
        assert_eq!((t.host.as_str(), t.port, t.tls), ("broker", 2000, false));
        assert_eq!(t.username.as_deref(), Some("u"));
        assert_eq!(t.password.as_deref(), Some("pw"));
        assert_eq!(t.topic.as_deref(), Some("t/x"));
        let t = probe(&["-L", "mqtts://broker"]).conn.target().unwrap();
        assert_eq!((t.port, t.tls), (8883, true));
        let t = probe(&[]).conn.target().unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("localhost", 1883, false));
    }

    #[test]
    fn websocket_urls_are_recognised_and_refused_clearly() {
        for u in ["ws://broker/mqtt", "wss://broker:443"] {
            let err = probe(&["-L", u]).conn.target().unwrap_err().to_string();
            assert!(err.contains("WebSocket support not built in yet"), "{err}");
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
