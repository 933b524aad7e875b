//! The mio pump both the blocking [`Client`](crate::Client) and
//! [`MqttConnection`](crate::MqttConnection) use: dial, read into the core, write from the
//! core's bounded transmit buffer.

use std::io;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use mqtt_sansio_client::{ClientCore, StdClock};

use crate::stream::Stream;

/// Reads per readiness event before yielding to other work (fairness, and a bound on how
/// long one busy connection keeps the loop from writing).
pub(crate) const MAX_READS_PER_EVENT: usize = 64;
/// The read buffer of one connection.
pub(crate) const READ_BUF_SIZE: usize = 16 * 1024;

/// What a pump step left behind.
#[derive(Debug)]
pub(crate) enum Flow {
    /// The socket is still open; `more` says whether the step stopped before the socket ran
    /// dry (read cap reached), so the caller must come back without waiting for readiness.
    Open { progressed: bool, more: bool },
    /// The socket ended: orderly (`None`) or with this error (TLS errors included).
    Closed(Option<io::Error>),
}

/// Reads until the socket would block (at most [`MAX_READS_PER_EVENT`] reads) and feeds
/// the bytes to the core.
pub(crate) fn read_into(
    stream: &mut Stream,
    buf: &mut [u8],
    core: &mut ClientCore,
    clock: &StdClock,
) -> Flow {
    let mut progressed = false;
    for _ in 0..MAX_READS_PER_EVENT {
        match stream.read(buf) {
            Ok(0) => return Flow::Closed(None),
            Ok(n) => {
                progressed = true;
                core.handle_read(clock.now(), buf.get(..n).unwrap_or_default());
                if !core.session().wants_read() {
                    // A full window of manual acknowledgements (3.1.1): the rest stays in
                    // the socket until the application acknowledges (`more`: read then).
                    return Flow::Open {
                        progressed,
                        more: true,
                    };
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Flow::Open {
                    progressed,
                    more: false,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Flow::Closed(Some(e)),
        }
    }
    Flow::Open {
        progressed,
        more: true,
    }
}

/// Writes what the core has until the socket is full or nothing is left, reporting every
/// accepted byte with `handle_written`: the core's `TxBuffer` gives written bytes back as it
/// goes, so a steady QoS 0 stream keeps the heap bounded (issue 10, defect 7).
pub(crate) fn write_from(stream: &mut Stream, core: &mut ClientCore, clock: &StdClock) -> Flow {
    let mut progressed = false;
    loop {
        let result = match core.poll_transmit(clock.now()) {
            Some(bytes) => stream.write(bytes),
            None => {
                // Handshake records or buffered TLS data may still wait.
                return match stream.flush() {
                    Ok(()) => Flow::Open {
                        progressed,
                        more: false,
                    },
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Flow::Open {
                        progressed,
                        more: false,
                    },
                    Err(e) => Flow::Closed(Some(e)),
                };
            }
        };
        match result {
            Ok(0) => return Flow::Closed(None),
            Ok(n) => {
                progressed = true;
                core.handle_written(n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                // The unsent tail stays in the core; the next writable edge resumes.
                return Flow::Open {
                    progressed,
                    more: false,
                };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Flow::Closed(Some(e)),
        }
    }
}

/// Registers a stream for both directions, edge-triggered, for the socket's life: commands
/// never need the registry, a writable edge arrives whenever a full socket drains.
pub(crate) fn register(registry: &Registry, stream: &mut Stream, token: Token) -> io::Result<()> {
    registry.register(
        stream.tcp_mut(),
        token,
        Interest::READABLE | Interest::WRITABLE,
    )
}

/// Deregisters and shuts a stream down (TLS close_notify first).
pub(crate) fn close(registry: &Registry, mut stream: Stream) {
    let _ = registry.deregister(stream.tcp_mut());
    stream.shutdown();
}

/// Wraps a TCP stream in TLS when `tls` is given (verifying `host`).
pub(crate) fn wrap(
    tcp: TcpStream,
    tls: Option<&mqtt_sansio_client::TlsConfig>,
    host: &str,
) -> io::Result<Stream> {
    match tls {
        Some(t) => {
            let (config, name) = t.build(host)?;
            Stream::tls(tcp, config, name)
        }
        None => Ok(Stream::Plain(tcp)),
    }
}

/// The backoff jitter's seed: the standard library's per-process random hash keys (no
/// extra dependency for one random number).
pub(crate) fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x6d71_7474);
    h.finish()
}

/// The client defaults always make a valid core; reaching this is a bug in the core's
/// defaults, not a condition a caller can cause.
#[cold]
pub(crate) fn unreachable_defaults() -> ! {
    panic!("the default ClientOptions were refused by the client core")
}
