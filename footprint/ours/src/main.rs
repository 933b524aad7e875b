//! The issue 15 scenario on this project's client (mqtt-sansio-embedded, blocking API):
//! connect, subscribe, publish at QoS 0/1/2, a poll loop feeding bytes and timeouts, and
//! reconnect, over a stand-in socket whose inputs the optimiser cannot see.
#![no_std]
#![no_main]

extern crate alloc;

use footprint_common::{flip, now_ms, receive, transmit};
use mqtt_sansio_embedded::embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use mqtt_sansio_embedded::mqtt_sansio_proto::{ProtocolVersion, QoS};
use mqtt_sansio_embedded::mqtt_sansio_session::{ConnectOptions, Event, Instant, SessionConfig};
use mqtt_sansio_embedded::{Clock, MqttClient};

/// The stand-in TCP socket.
struct Socket;

impl ErrorType for Socket {
    type Error = ErrorKind;
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(receive(buf))
    }
}

impl ReadReady for Socket {
    fn read_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(flip())
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(transmit(buf))
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// The board's millisecond tick.
struct Ticks;

impl Clock for Ticks {
    fn now(&self) -> Instant {
        Instant::from_millis(now_ms())
    }
}

fn version() -> ProtocolVersion {
    #[cfg(all(feature = "v311", feature = "v5"))]
    return if flip() {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    #[cfg(all(feature = "v311", not(feature = "v5")))]
    return ProtocolVersion::V311;
    #[cfg(all(feature = "v5", not(feature = "v311")))]
    return ProtocolVersion::V5;
}

footprint_common::record_size!(
    footprint_size_session,
    mqtt_sansio_embedded::mqtt_sansio_session::Session
);
footprint_common::record_size!(footprint_size_client, MqttClient<'static, Ticks>);
footprint_common::record_size!(footprint_size_event, Event);
footprint_common::record_size!(
    footprint_size_message,
    mqtt_sansio_embedded::mqtt_sansio_session::Message
);

#[no_mangle]
pub extern "C" fn _start() -> ! {
    footprint_common::init_heap();
    static mut RX: [u8; 256] = [0; 256];
    static mut TX: [u8; 768] = [0; 768];
    // SAFETY: `_start` runs once; nothing else touches the buffers.
    let (rx, tx) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(RX),
            &mut *core::ptr::addr_of_mut!(TX),
        )
    };
    let mut config = SessionConfig::new("board-7", false, version());
    config.max_inflight = 4;
    config.max_queued = 4;
    let mut client = MqttClient::new(config, Ticks, rx, tx);
    let mut published = 0u32;
    loop {
        // (Re)connect on a fresh socket.
        let mut socket = Socket;
        if client
            .connect(&mut socket, &ConnectOptions::new(30))
            .is_err()
        {
            continue;
        }
        loop {
            match client.poll(&mut socket) {
                Ok(Some(Event::Connected { .. })) => {
                    let _ = client.subscribe(&[("cmd/board-7", QoS::AtLeastOnce)]);
                }
                Ok(Some(Event::Message(m))) | Ok(Some(Event::MessageReleased(m))) => {
                    transmit(m.payload());
                }
                Ok(Some(Event::Disconnected { .. })) | Err(_) => break,
                Ok(Some(_)) => {}
                Ok(None) => {
                    // The application's work when idle: one reading per QoS in turn.
                    let qos = match published % 3 {
                        0 => QoS::AtMostOnce,
                        1 => QoS::AtLeastOnce,
                        _ => QoS::ExactlyOnce,
                    };
                    let reading = published.to_le_bytes();
                    if client.publish("board-7/temp", &reading, qos, false).is_ok() {
                        published = published.wrapping_add(1);
                    }
                    if flip() && client.disconnect(&mut socket).is_err() {
                        client.handle_closed();
                    }
                }
            }
        }
    }
}
