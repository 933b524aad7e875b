//! The one-enum façade over the Session's methods, for simple loops and fuzzers.

use alloc::vec::Vec;

use crate::event::Event;
use crate::session::Session;
use crate::time::Instant;

/// Something that happened to the transport, for [`Session::handle_input`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// Bytes were read.
    Read(Instant, &'a [u8]),
    /// The clock reached (or passed) a deadline.
    Timeout(Instant),
    /// The transport closed.
    Closed(Instant),
}

/// What the Session wants done next, from [`Session::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A packet of this many bytes was appended to the buffer: send it.
    Transmit(usize),
    /// Something happened.
    Event(Event),
    /// Nothing more to do until this deadline (or I/O, or a command). Ends a drain.
    Timeout(Option<Instant>),
}

impl Session {
    /// Feeds one [`Input`]: [`handle_read`](Self::handle_read),
    /// [`handle_timeout`](Self::handle_timeout) or [`handle_closed`](Self::handle_closed).
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Read(now, bytes) => self.handle_read(now, bytes),
            Input::Timeout(now) => self.handle_timeout(now),
            Input::Closed(now) => self.handle_closed(now),
        }
    }

    /// The next thing to do: bytes to send first, then events, then the deadline to wait for.
    ///
    /// ```
    /// use mqtt_sansio_proto::ProtocolVersion;
    /// use mqtt_sansio_session::{ConnectOptions, Instant, Output, Session, SessionConfig};
    /// let mut session = Session::new(SessionConfig::new("io", true, ProtocolVersion::V5));
    /// let now = Instant::from_millis(0);
    /// session.connect(now, &ConnectOptions::new(10)).unwrap();
    /// let mut buf = Vec::new();
    /// loop {
    ///     match session.poll_output(now, &mut buf) {
    ///         Output::Transmit(_) => continue, // write `buf` to the socket
    ///         Output::Event(event) => println!("{event:?}"),
    ///         Output::Timeout(deadline) => {
    ///             assert_eq!(deadline, Some(Instant::from_millis(30_000))); // CONNACK timeout
    ///             break;
    ///         }
    ///     }
    /// }
    /// ```
    #[must_use]
    pub fn poll_output(&mut self, now: Instant, out: &mut Vec<u8>) -> Output {
        if let Some(n) = self.poll_transmit(now, out) {
            return Output::Transmit(n);
        }
        if let Some(e) = self.poll_event() {
            return Output::Event(e);
        }
        Output::Timeout(self.poll_timeout())
    }
}
