//! The issue 15 scenario on minimq 0.13.5 (async, MQTT 5.0 only): connect, subscribe, publish
//! at QoS 0/1/2, a poll loop feeding bytes and timeouts, and reconnect, over a stand-in socket
//! whose inputs the optimiser cannot see. Time comes from an embassy-time driver reading the
//! same hidden tick as the other images.
#![no_std]
#![no_main]

use core::task::Waker;

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};
use footprint_common::executor::block_on;
use footprint_common::{flip, now_ms, receive, transmit};
use minimq::{Buffers, ConfigBuilder, Publication, QoS, Session, TopicFilter};

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

/// embassy-time's clock: the board's tick (1 MHz ticks from the millisecond counter).
struct Ticks;

impl embassy_time_driver::Driver for Ticks {
    fn now(&self) -> u64 {
        now_ms() * 1000
    }

    fn schedule_wake(&self, _at: u64, waker: &Waker) {
        waker.wake_by_ref();
    }
}

embassy_time_driver::time_driver_impl!(static TICKS: Ticks = Ticks);

footprint_common::record_size!(footprint_size_session, Session<'static>);

#[no_mangle]
pub extern "C" fn _start() -> ! {
    static mut RX: [u8; 256] = [0; 256];
    static mut TX: [u8; 768] = [0; 768];
    // SAFETY: `_start` runs once; nothing else touches the buffers.
    let (rx, tx) = unsafe {
        (
            &mut *core::ptr::addr_of_mut!(RX),
            &mut *core::ptr::addr_of_mut!(TX),
        )
    };
    let Ok(config) = ConfigBuilder::new(Buffers::new(rx, tx)).client_id("board-7") else {
        loop {}
    };
    let mut session = Session::new(config.keepalive_interval(30));
    let mut published = 0u32;
    block_on(async {
        loop {
            // (Re)connect on a fresh socket.
            let Ok(mut conn) = session.connect(Socket).await else {
                continue;
            };
            let _ = conn
                .subscribe(&[TopicFilter::new("cmd/board-7")], &[])
                .await;
            loop {
                match conn.poll().await {
                    Ok(Some(m)) => {
                        transmit(m.payload());
                    }
                    Ok(None) => {
                        let qos = match published % 3 {
                            0 => QoS::AtMostOnce,
                            1 => QoS::AtLeastOnce,
                            _ => QoS::ExactlyOnce,
                        };
                        let reading = published.to_le_bytes();
                        let p = Publication::new("board-7/temp", &reading[..]).qos(qos);
                        if conn.publish(p).await.is_ok() {
                            published = published.wrapping_add(1);
                        }
                        if flip() {
                            let _ = conn.disconnect().await;
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        }
    })
}
