//! Host adapters (feature `std`): a `std::net::TcpStream` as an `embedded-io` socket with
//! [`ReadReady`], and `std::time::Instant` as a [`Clock`]. For tests and examples on a PC.

use std::io::{self, Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant as StdInstant};

use embedded_io::{ErrorType, ReadReady};
use mqtt_sansio_session::Instant;

use crate::Clock;

/// A TCP stream with the blocking `embedded-io` traits plus [`ReadReady`].
///
/// A read that times out (see [`StdTcp::set_read_timeout`]) fails with
/// [`io::ErrorKind::TimedOut`], which [`MqttClient::poll_blocking`](crate::MqttClient::poll_blocking)
/// treats as "nothing arrived" (std reports it as `WouldBlock`, which `embedded-io` has no
/// kind for).
///
/// ```no_run
/// use std::time::Duration;
/// use mqtt_sansio_embedded::std_io::StdTcp;
/// let socket = StdTcp::connect("127.0.0.1:1883")?;
/// socket.set_read_timeout(Some(Duration::from_millis(100)))?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct StdTcp {
    stream: TcpStream,
}

impl StdTcp {
    /// Connects (blocking) and sets `TCP_NODELAY`.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self { stream })
    }

    /// Wraps a connected stream.
    pub fn new(stream: TcpStream) -> Self {
        Self { stream }
    }

    /// Read timeout for [`MqttClient::poll_blocking`](crate::MqttClient::poll_blocking).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// The stream.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// Closes both directions.
    pub fn shutdown(&self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Both)
    }
}

fn timed_out(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "read timed out")
    } else {
        e
    }
}

impl ErrorType for StdTcp {
    type Error = io::Error;
}

impl embedded_io::Read for StdTcp {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        self.stream.read(buf).map_err(timed_out)
    }
}

impl embedded_io::Write for StdTcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, io::Error> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> Result<(), io::Error> {
        self.stream.flush()
    }
}

impl ReadReady for StdTcp {
    /// Peeks without blocking: true when bytes wait or the peer closed (a read then returns
    /// at once).
    fn read_ready(&mut self) -> Result<bool, io::Error> {
        self.stream.set_nonblocking(true)?;
        let mut probe = [0u8; 1];
        let r = self.stream.peek(&mut probe);
        self.stream.set_nonblocking(false)?;
        match r {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            // An error is "ready": the read reports it.
            Err(_) => Ok(true),
        }
    }
}

/// `std::time::Instant` as the client's [`Clock`]: milliseconds since it was made.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    epoch: StdInstant,
}

impl StdClock {
    /// A clock starting at 0 now.
    pub fn new() -> Self {
        Self {
            epoch: StdInstant::now(),
        }
    }
}

impl Default for StdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for StdClock {
    fn now(&self) -> Instant {
        Instant::from_millis(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }
}
