//! What the examples share: `--host H --port P` parsing, the broker to run against when none
//! is given (mosquitto when it is installed, else an in-process one: the `rumqttd` crate on
//! 127.0.0.1, so they run on a fresh machine), its name to print, and a check that tells a
//! broker's QoS upgrade apart from a client bug.
//!
//! Why the name matters: rumqttd 0.20 delivers a QoS 0 message to a QoS 1 subscription as
//! QoS 1, which MQTT forbids; with mosquitto the same demo prints QoS 0. A demo must not show
//! that as the client's behaviour, so it says which broker it talks to and flags an upgrade
//! with [`delivered_qos_note`].

use std::error::Error;
use std::fmt;
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use mqtt_sansio_proto::QoS;

use crate::{mosquitto_available, Broker, BrokerConfig};

/// The broker a demo runs against, kept alive as long as this value (a mosquitto started for
/// the demo is killed when it drops).
#[derive(Debug)]
pub struct DemoBroker {
    host: String,
    port: u16,
    kind: DemoBrokerKind,
    // Keeps a mosquitto started for the demo running.
    _mosquitto: Option<Broker>,
}

/// Where a [`DemoBroker`] comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoBrokerKind {
    /// `--host` / `--port` on the command line.
    Given,
    /// A mosquitto started for the demo; the version line it printed, if any.
    Mosquitto(Option<String>),
    /// rumqttd in this process (no mosquitto installed).
    InProcess,
}

impl DemoBroker {
    /// The broker named on the command line; else a mosquitto started on a free loopback port
    /// when it is installed ([`mosquitto_available`]); else rumqttd in this process.
    ///
    /// # Errors
    ///
    /// Bad arguments, or the broker could not be started.
    pub fn from_args() -> Result<Self, Box<dyn Error>> {
        if let Some((host, port)) = host_port_from_args()? {
            return Ok(Self {
                host,
                port,
                kind: DemoBrokerKind::Given,
                _mosquitto: None,
            });
        }
        if mosquitto_available() {
            let broker = Broker::start(BrokerConfig::plain())?;
            return Ok(Self {
                host: broker.host().to_owned(),
                port: broker.port(),
                kind: DemoBrokerKind::Mosquitto(mosquitto_version()),
                _mosquitto: Some(broker),
            });
        }
        let port = start_in_process_broker()?;
        Ok(Self {
            host: "127.0.0.1".to_owned(),
            port,
            kind: DemoBrokerKind::InProcess,
            _mosquitto: None,
        })
    }

    /// Host to dial.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Port to dial.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where it comes from.
    pub fn kind(&self) -> &DemoBrokerKind {
        &self.kind
    }
}

impl fmt::Display for DemoBroker {
    /// A line for the demo to print: which broker, where.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (host, port) = (&self.host, self.port);
        match &self.kind {
            DemoBrokerKind::Given => {
                write!(f, "the broker at {host}:{port} (from the command line)")
            }
            DemoBrokerKind::Mosquitto(Some(version)) => {
                write!(f, "{version}, started for this demo on {host}:{port}")
            }
            DemoBrokerKind::Mosquitto(None) => {
                write!(f, "mosquitto, started for this demo on {host}:{port}")
            }
            DemoBrokerKind::InProcess => write!(
                f,
                "the in-process rumqttd broker on {host}:{port} (mosquitto is not installed)"
            ),
        }
    }
}

/// `Some(note)` when a message published at `published` was delivered at a higher QoS: the
/// broker's doing, since a delivery's QoS must be the minimum of the published QoS and the
/// subscription's (MQTT 3.1.1 [MQTT-3.8.4-6], MQTT 5.0 §3.8.4), and the client only reports
/// the QoS of the PUBLISH it received. `None` when the QoS is allowed.
pub fn delivered_qos_note(published: QoS, delivered: QoS) -> Option<String> {
    (delivered > published).then(|| {
        format!(
            "note: published at QoS {} but delivered at QoS {}: the broker upgraded it \
             (MQTT requires the minimum of the published and the subscribed QoS, \
             [MQTT-3.8.4-6]); the client reports what the broker sent",
            published as u8, delivered as u8
        )
    })
}

/// The first line of `mosquitto -h` (`mosquitto version 2.0.11`), if it runs.
fn mosquitto_version() -> Option<String> {
    let binary = crate::mosquitto_binary().ok()?;
    let output = Command::new(binary).arg("-h").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines()
        .next()
        .filter(|line| line.starts_with("mosquitto"))
        .map(str::to_owned)
}

/// `--host H --port P` from the command line (port 1883 by default), or `None` without
/// `--host`.
pub fn host_port_from_args() -> Result<Option<(String, u16)>, Box<dyn Error>> {
    let mut host = None;
    let mut port = 1883;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host" => host = Some(args.next().ok_or("--host needs a value")?),
            "--port" => port = args.next().ok_or("--port needs a value")?.parse()?,
            other => {
                return Err(format!("unknown argument {other:?}; use --host H --port P").into())
            }
        }
    }
    Ok(host.map(|h| (h, port)))
}

/// The broker named on the command line, or a new in-process one on a free loopback port.
/// [`DemoBroker::from_args`] prefers mosquitto when it is installed.
pub fn broker_from_args_or_in_process() -> Result<(String, u16), Box<dyn Error>> {
    match host_port_from_args()? {
        Some(addr) => Ok(addr),
        None => {
            let port = start_in_process_broker()?;
            println!("started an in-process broker on 127.0.0.1:{port}");
            Ok(("127.0.0.1".to_string(), port))
        }
    }
}

/// Starts rumqttd in this process on a free loopback port and waits until it listens. It
/// runs until the process exits.
pub fn start_in_process_broker() -> Result<u16, Box<dyn Error>> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = format!(
        r#"
id = 0
[router]
id = 0
max_connections = 16
max_outgoing_packet_count = 200
max_segment_size = 1048576
max_segment_count = 10
[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 1
[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
"#
    );
    let config: rumqttd::Config = toml::from_str(&config)?;
    let mut broker = rumqttd::Broker::new(config);
    thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            if let Err(e) = broker.start() {
                eprintln!("in-process broker stopped: {e}");
            }
        })?;
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err("the in-process broker did not start listening".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_upgrade_is_flagged() {
        assert_eq!(delivered_qos_note(QoS::AtMostOnce, QoS::AtMostOnce), None);
        assert_eq!(delivered_qos_note(QoS::ExactlyOnce, QoS::AtLeastOnce), None);
        let note = delivered_qos_note(QoS::AtMostOnce, QoS::AtLeastOnce).unwrap_or_default();
        assert!(note.contains("QoS 0") && note.contains("QoS 1") && note.contains("broker"));
        assert!(!note.contains("  "), "one line, single spaces: {note:?}");
    }
}
