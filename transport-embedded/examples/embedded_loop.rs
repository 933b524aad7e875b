//! An embedded-style main loop on the host: the application supplies the clock (here a
//! millisecond tick counter, as a HAL timer would), owns the buffers and the socket, and
//! calls `poll` in its superloop, sleeping when there is nothing to do. It publishes a
//! "sensor reading" at QoS 0, 1 and 2, receives its own readings back, and disconnects.
//!
//! ```text
//! cargo run -p mqtt-sansio-embedded --example embedded_loop             # in-process broker
//! cargo run -p mqtt-sansio-embedded --example embedded_loop -- --host 127.0.0.1 --port 1883
//! ```
//!
//! On a microcontroller the socket would be an `embedded-io` TCP socket of your network
//! stack and the clock your HAL's tick; nothing else changes. With no `--host` it starts an
//! in-process broker (`rumqttd`), so it runs on a fresh machine and exits by itself.

use std::error::Error;
use std::thread;
use std::time::{Duration, Instant as StdInstant};

use mqtt_sansio_embedded::std_io::StdTcp;
use mqtt_sansio_embedded::{Clock, MqttClient};
use mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_session::{ConnectOptions, Event, Instant, SessionConfig};

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
    let (host, port) = mqtt_test_broker::demo::broker_from_args_or_in_process()?;

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
            Some(Event::Connected {
                session_present, ..
            }) => {
                println!("connected (session present: {session_present})");
                client.subscribe(&[("board-7/temp", QoS::ExactlyOnce)])?;
            }
            Some(Event::ConnectRefused { reason, .. }) => {
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
            Some(Event::Disconnected { reason, .. }) => {
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
