//! # mqtt-sansio-embedded
//!
//! The sans-IO [`mqtt_sansio_session::Session`] over [`embedded_io`] sockets, for `no_std` targets
//! (with `alloc`): blocking ([`embedded_io::Read`] + [`embedded_io::Write`]) and async
//! ([`embedded_io_async::Read`] + [`embedded_io_async::Write`], with an
//! [`embedded_hal_async::delay::DelayNs`] for timers).
//!
//! - **Time** comes from the application through [`Clock`]: a monotonic millisecond count
//!   (a HAL tick, `embassy_time::Instant`, ...). The crate never reads a clock of its own.
//! - **Buffers** belong to the caller: [`MqttClient::new`] takes a read buffer and a write
//!   buffer (`&mut [u8]`). Socket reads go into the read buffer; outgoing packets are staged
//!   in the write buffer, several small packets per socket write. The Session itself keeps
//!   its state on the heap (`alloc`), bounded by [`mqtt_sansio_session::SessionConfig`].
//! - **You own the socket** and pass it to each call, so the same client works over TCP,
//!   TLS (for example `embedded-tls`) or a serial link, and you reconnect by opening a new
//!   socket and calling [`MqttClient::connect`] again: unacknowledged messages are then
//!   resent with their original packet identifiers.
//!
//! ## Blocking sockets and keepalive
//!
//! A blocking [`embedded_io::Read`] has no timeout, yet the client must wake for keepalive
//! (PINGREQ) and to notice a silent broker. Two ways:
//!
//! - [`MqttClient::poll`] needs [`embedded_io::ReadReady`] and reads only when data is
//!   waiting, so it never blocks; it returns `Ok(None)` when there is nothing to do, and
//!   the application sleeps until [`MqttClient::poll_timeout`] or its next tick.
//! - [`MqttClient::poll_blocking`] reads even when nothing is waiting. Give the socket a
//!   read timeout shorter than the keepalive: a read error of kind
//!   [`embedded_io::ErrorKind::TimedOut`] counts as "nothing arrived".
//!
//! ## Async
//!
//! [`MqttClient::poll_async`] waits for the first of: bytes from the socket, the Session's
//! next deadline (through the [`DelayNs`](embedded_hal_async::delay::DelayNs) you pass),
//! and returns the next [`Event`](mqtt_sansio_session::Event). To publish while it waits, race it
//! against your own signal (for example with `embassy_futures::select`) and call the command
//! when your branch wins: dropping `poll_async` loses nothing as long as the socket's `read`
//! and `write` are cancel-safe (as the `embedded-io-async` documentation asks of
//! implementations).
//!
//! ## Features
//!
//! - `std` (off): `std::error::Error` for the errors, and `std_io` adapters (`StdTcp`, a
//!   `std::net::TcpStream` with `ReadReady`; `StdClock`) to run the client on a host, for
//!   tests and examples.
//! - `v311`, `v5` (both on by default, at least one required): the protocol versions compiled
//!   in. With one only, the other is refused by `connect` with a typed error
//!   ([`ConnectError::Invalid`](mqtt_sansio_session::ConnectError::Invalid) citing [MQTT-3.1.2-2])
//!   and its code leaves the firmware. `--no-default-features --features v311` for a 3.1.1-only
//!   build.
//! - `compact-errors` (off): errors keep their types and rule references but lose their words,
//!   several KB of flash (see BENCHMARKS.md, "Embedded footprint").
//! - `compact-rules` (off): rules lose their tags too ([`Rule::v311`] and [`Rule::v5`] return
//!   `None`); the typed errors and their reason codes stay. 2.7 KB of flash.
//! - `topic-aliases`, `enhanced-auth` (on): MQTT 5.0 topic aliases in both directions and the
//!   AUTH exchange (`Session::set_authenticator`). Without them their code leaves the
//!   firmware: CONNECT allows the broker no aliases, and an alias or an AUTH from the broker
//!   is a protocol error ([MQTT-3.1.2-27], [MQTT-4.12.0-6]); a Topic Alias given to
//!   `publish_with_properties` is refused.
//!
//! [`Rule::v311`]: mqtt_sansio_proto::Rule::v311
//! [`Rule::v5`]: mqtt_sansio_proto::Rule::v5
//! - `defmt` (off): `defmt::Format` for the public types of mqtt-sansio-proto and mqtt-sansio-session that
//!   applications log.
//!
//! ```no_run
//! # #[cfg(feature = "std")] {
//! use mqtt_sansio_proto::{ProtocolVersion, QoS};
//! use mqtt_sansio_session::{ConnectOptions, Event, SessionConfig};
//! use mqtt_sansio_embedded::std_io::{StdClock, StdTcp};
//! use mqtt_sansio_embedded::MqttClient;
//!
//! let mut socket = StdTcp::connect("127.0.0.1:1883")?;
//! let (mut rx, mut tx) = ([0u8; 1024], [0u8; 1024]);
//! let config = SessionConfig::new("board-7", true, ProtocolVersion::V311);
//! let mut client = MqttClient::new(config, StdClock::new(), &mut rx, &mut tx);
//! client.connect(&mut socket, &ConnectOptions::new(30))?;
//! loop {
//!     match client.poll(&mut socket)? {
//!         Some(Event::Connected { .. }) => {
//!             client.subscribe(&[("cmd/board-7", QoS::AtLeastOnce)])?;
//!             client.publish("status/board-7", b"up", QoS::AtLeastOnce, true)?;
//!         }
//!         Some(Event::Message(m)) => println!("{} = {:?}", m.topic(), m.payload()),
//!         Some(_) => {}
//!         None => std::thread::sleep(std::time::Duration::from_millis(10)),
//!     }
//! }
//! # }
//! # #[allow(unreachable_code)] Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod client;
#[cfg(feature = "std")]
pub mod std_io;

pub use client::{Clock, Error, MqttClient};

pub use embedded_hal_async;
pub use embedded_io;
pub use embedded_io_async;
pub use mqtt_sansio_proto;
pub use mqtt_sansio_session;
