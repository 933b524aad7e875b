//! The issue 15 scenario on rust-mqtt 0.6.0 (async, MQTT 5.0 only, a 1 KiB bump buffer):
//! connect, subscribe, publish at QoS 0/1/2, a poll loop feeding bytes, pings for keepalive
//! (rust-mqtt has no timers of its own), and reconnect, over a stand-in socket whose inputs
//! the optimiser cannot see.
#![no_std]
#![no_main]

use core::num::NonZero;

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use footprint_common::executor::block_on;
use footprint_common::{flip, receive, transmit};
use rust_mqtt::buffer::BumpBuffer;
use rust_mqtt::client::event::Event;
use rust_mqtt::client::options::{
    ConnectOptions, DisconnectOptions, PublicationOptions, SubscriptionOptions, TopicReference,
};
use rust_mqtt::client::Client;
use rust_mqtt::config::KeepAlive;
use rust_mqtt::types::{MqttString, QoS, TopicFilter, TopicName};
use rust_mqtt::Bytes;

/// The stand-in TCP socket.
struct Socket;

impl ErrorType for Socket {
    type Error = ErrorKind;
}

impl Read for Socket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        Ok(receive(buf))
    }
}

impl Write for Socket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        Ok(transmit(buf))
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

type Mqtt<'c> = Client<'c, 'c, Socket, BumpBuffer<'c>, 1, 4, 4, 1, 0, 0, 0>;

footprint_common::record_size!(footprint_size_session, Mqtt<'static>);

#[no_mangle]
pub extern "C" fn _start() -> ! {
    static mut BUMP: [u8; 1024] = [0; 1024];
    // SAFETY: `_start` runs once; nothing else touches the buffer.
    let bump = unsafe { &mut *core::ptr::addr_of_mut!(BUMP) };
    let mut buffer = BumpBuffer::new(bump);
    let mut client: Mqtt<'_> = Client::new(&mut buffer);
    let mut published = 0u32;
    let (Ok(id), Ok(topic), Ok(filter)) = (
        MqttString::from_str("board-7"),
        MqttString::from_str("board-7/temp"),
        MqttString::from_str("cmd/board-7"),
    ) else {
        loop {}
    };
    let (Some(topic), Some(filter)) = (TopicName::new(topic), TopicFilter::new(filter)) else {
        loop {}
    };
    let Some(keep_alive) = NonZero::new(30) else {
        loop {}
    };
    let connect = ConnectOptions::new().keep_alive(KeepAlive::Seconds(keep_alive));
    block_on(async {
        loop {
            // (Re)connect on a fresh socket.
            if client
                .connect(Socket, &connect, Some(id.as_borrowed()))
                .await
                .is_err()
            {
                continue;
            }
            let _ = client
                .subscribe(
                    filter.as_borrowed(),
                    &SubscriptionOptions::new().at_least_once(),
                )
                .await;
            loop {
                // SAFETY: nothing borrowed from the buffer outlives this iteration.
                unsafe { client.buffer_mut().reset() };
                match client.poll().await {
                    Ok(Event::Publish(p)) => {
                        transmit(&p.message);
                    }
                    Ok(_) => {
                        let qos = match published % 3 {
                            0 => QoS::AtMostOnce,
                            1 => QoS::AtLeastOnce,
                            _ => QoS::ExactlyOnce,
                        };
                        let reading = published.to_le_bytes();
                        let options =
                            PublicationOptions::new(TopicReference::Name(topic.as_borrowed()))
                                .qos(qos);
                        if client
                            .publish(&options, Bytes::from(&reading[..]))
                            .await
                            .is_ok()
                        {
                            published = published.wrapping_add(1);
                        }
                        if flip() {
                            let _ = client.ping().await;
                        }
                        if flip() {
                            let _ = client.disconnect(&DisconnectOptions::default()).await;
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    })
}
