//! An embedded-style main loop on the host: the application supplies the clock (here a
//! millisecond tick counter, as a HAL timer would), owns the buffers and the socket, and
//! calls `poll` in its superloop, sleeping when there is nothing to do. It publishes a
//! "sensor reading" at QoS 0, 1 and 2, receives its own readings back, and disconnects.
//!
//! ```text
//! cargo run -p transport-embedded --example embedded_loop             # in-process broker
//! cargo run -p transport-embedded --example embedded_loop -- --host 127.0.0.1 --port 1883
//! ```
//!
//! On a microcontroller the socket would be an `embedded-io` TCP socket of your network
//! stack and the clock your HAL's tick; nothing else changes. With no `--host` it starts an
//! in-process broker (`rumqttd`), so it runs on a fresh machine and exits by itself.

use std::error::Error;
use std::net::TcpListener;
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use mqtt_proto::{ProtocolVersion, QoS};
use mqtt_session::{ConnectOptions, Event, Instant, SessionConfig};
use transport_embedded::std_io::StdTcp;
use transport_embedded::{Clock, MqttClient};

/// The board's millisecond tick (on hardware: a SysTick counter or `embassy_time::Instant`).
struct Ticks {
    boot: StdInstant,
}

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant::from_millis(self.boot.elapsed().as_millis() as u64)
    }
}

/// Readings to publish: one per QoS.
const READINGS: [(&str, QoS); 3] = [
    ("21.5", QoS::AtMostOnce),
    ("21.7", QoS::AtLeastOnce),
    ("21.6", QoS::ExactlyOnce),
];

fn main() -> Result<(), Box<dyn Error>> {
    let (host, port) = match parse_args()? {
        Some(addr) => addr,
        None => {
            let port = start_local_broker()?;
            println!("started an in-process broker on 127.0.0.1:{port}");
            ("127.0.0.1".to_string(), port)
        }
    };

    // Static buffers on a microcontroller; stack arrays here.
    let mut rx = [0u8; 512];
    let mut tx = [0u8; 512];
    let clock = Ticks {
        boot: StdInstant::now(),
    };
    let mut config = SessionConfig::new("board-7", true, ProtocolVersion::V311);
    config.max_inflight = 4;
    config.max_queued = 8;
    let mut client = MqttClient::new(config, clock, &mut rx, &mut tx);

    let mut socket = StdTcp::connect((host.as_str(), port))?;
    client.connect(&mut socket, &ConnectOptions::new(10))?;

    let mut next_reading = 0;
    let mut next_publish_at = None;
    let mut echoed = 0;
    let started = StdInstant::now();
    // The superloop.
    loop {
        if started.elapsed() > Duration::from_secs(15) {
            return Err("timed out".into());
        }
        match client.poll(&mut socket)? {
            Some(Event::Connected { session_present }) => {
                println!("connected (session present: {session_present})");
                client.subscribe(&[("board-7/temp", QoS::ExactlyOnce)])?;
            }
            Some(Event::ConnectRefused { reason }) => {
                return Err(format!("refused: {reason}").into())
            }
            Some(Event::SubAck { results, .. }) => {
                println!("subscribed: {results:?}");
                next_publish_at = Some(client.now());
            }
            Some(Event::Message(m)) | Some(Event::MessageReleased(m)) => {
                println!(
                    "  received {} = {:?} at QoS {}",
                    m.topic(),
                    m.payload_str(),
                    m.qos.as_u8()
                );
                echoed += 1;
                if echoed == READINGS.len() {
                    client.disconnect(&mut socket)?;
                }
            }
            Some(Event::PubAck { id, .. }) => println!("  PUBACK for mid {id}"),
            Some(Event::PubComp { id, .. }) => println!("  PUBCOMP for mid {id}"),
            Some(Event::Disconnected { reason }) => {
                println!("disconnected: {reason}");
                return Ok(());
            }
            Some(_) => {}
            None => {
                // Nothing to do: the application's own work, then sleep (WFI on hardware).
                if let Some(at) = next_publish_at.filter(|at| client.now() >= *at) {
                    if let Some((value, qos)) = READINGS.get(next_reading) {
                        let id = client.publish("board-7/temp", value.as_bytes(), *qos, false)?;
                        println!(
                            "publish {value} at QoS {} -> mid {:?}",
                            qos.as_u8(),
                            id.map(|i| i.get())
                        );
                        next_reading += 1;
                        next_publish_at = Some(at.saturating_add(Duration::from_millis(300)));
                    } else {
                        next_publish_at = None;
                    }
                }
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// `--host H --port P`, or nothing.
fn parse_args() -> Result<Option<(String, u16)>, Box<dyn Error>> {
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

/// Starts rumqttd in this process on a free loopback port.
fn start_local_broker() -> Result<u16, Box<dyn Error>> {
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
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err("the in-process broker did not start listening".into())
}
