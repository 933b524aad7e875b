//! [`MqttClient`]: the Session over caller-owned buffers and `embedded-io` sockets.

use alloc::vec::Vec;
use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::Poll;

use embedded_hal_async::delay::DelayNs;
use embedded_io::{ErrorKind, ReadReady};
use mqtt_sansio_proto::{PacketId, Properties, QoS, ReasonCode, Subscription, TopicFilter};
use mqtt_sansio_session::{
    ConnectError, ConnectOptions, Event, Instant, PublishError, Session, SessionConfig,
    SessionState, SubscribeError,
};

/// The application's monotonic clock, in milliseconds (a HAL tick, `embassy_time`, ...).
///
/// It must never go backwards; its origin does not matter.
///
/// ```
/// use core::cell::Cell;
/// use mqtt_sansio_session::Instant;
/// use mqtt_sansio_embedded::Clock;
///
/// /// A tick counter an interrupt handler advances.
/// struct Ticks(Cell<u64>);
/// impl Clock for Ticks {
///     fn now(&self) -> Instant {
///         Instant::from_millis(self.0.get())
///     }
/// }
/// let ticks = Ticks(Cell::new(5));
/// assert_eq!(ticks.now(), Instant::from_millis(5));
/// ```
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

/// An error of the transport, or a command that cannot run now.
///
/// After an I/O error the Session has heard that the connection is gone: the next poll
/// returns [`Event::Disconnected`]; open a new socket and call `connect` again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error<E> {
    /// The socket failed.
    Io(E),
    /// The socket accepted no bytes (`write` returned 0): the connection is gone.
    WriteZero,
    /// There is no connection to drive: call `connect` first (after
    /// [`Event::Disconnected`], with a new socket).
    NotConnected,
    /// `connect` was refused by the Session (already connected, invalid options).
    Connect(ConnectError),
}

impl<E: fmt::Debug> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(
                f,
                "socket error: {e:?}; open a new socket and connect again"
            ),
            Self::WriteZero => f.write_str("the socket accepted no bytes: the connection is gone"),
            Self::NotConnected => {
                f.write_str("not connected: call connect with an open socket first")
            }
            Self::Connect(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for Error<E> {}

/// An MQTT client for `embedded-io` sockets: the Session, a clock, and the caller's buffers.
///
/// Commands ([`publish`](Self::publish), [`subscribe`](Self::subscribe), ...) only queue
/// packets; they go out on the next [`poll`](Self::poll), [`poll_blocking`](Self::poll_blocking),
/// [`poll_async`](Self::poll_async), [`flush`](Self::flush) or
/// [`flush_async`](Self::flush_async). The poll functions also read, fire timers and hand
/// out events; call one of them in your main loop.
///
/// ```
/// use mqtt_sansio_proto::{ProtocolVersion, QoS};
/// use mqtt_sansio_session::{ConnectOptions, Event, Instant, SessionConfig};
/// use mqtt_sansio_embedded::{Clock, MqttClient};
///
/// struct Frozen;
/// impl Clock for Frozen {
///     fn now(&self) -> Instant { Instant::from_millis(0) }
/// }
///
/// // A fake socket: reads the broker's CONNACK, collects what the client writes.
/// struct Fake { input: &'static [u8], output: Vec<u8> }
/// impl embedded_io::ErrorType for Fake { type Error = embedded_io::ErrorKind; }
/// impl embedded_io::Read for Fake {
///     fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
///         let n = self.input.len().min(buf.len());
///         buf[..n].copy_from_slice(&self.input[..n]);
///         self.input = &self.input[n..];
///         Ok(n)
///     }
/// }
/// impl embedded_io::ReadReady for Fake {
///     fn read_ready(&mut self) -> Result<bool, Self::Error> { Ok(!self.input.is_empty()) }
/// }
/// impl embedded_io::Write for Fake {
///     fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
///         self.output.extend_from_slice(buf);
///         Ok(buf.len())
///     }
///     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
/// }
///
/// let mut socket = Fake { input: &[0x20, 0x02, 0x00, 0x00], output: Vec::new() };
/// let (mut rx, mut tx) = ([0u8; 256], [0u8; 256]);
/// let config = SessionConfig::new("doc", true, ProtocolVersion::V311);
/// let mut client = MqttClient::new(config, Frozen, &mut rx, &mut tx);
/// client.connect(&mut socket, &ConnectOptions::new(30))?;
/// assert_eq!(socket.output[0], 0x10); // CONNECT went out
/// assert!(matches!(
///     client.poll(&mut socket)?,
///     Some(Event::Connected { session_present: false, .. })
/// ));
/// let id = client.publish("t", b"x", QoS::AtLeastOnce, false)?;
/// assert!(id.is_some());
/// assert_eq!(client.poll(&mut socket)?, None); // nothing more to report: PUBLISH is sent
/// assert_eq!(socket.output.last(), Some(&b'x'));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MqttClient<'buf, C> {
    session: Session,
    clock: C,
    rx: &'buf mut [u8],
    tx: &'buf mut [u8],
    /// Staged bytes `tx[tx_start..tx_end]` not yet written; the Session keeps the rest.
    tx_start: usize,
    tx_end: usize,
}

impl<C> fmt::Debug for MqttClient<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttClient")
            .field("state", &self.session.state())
            .field("rx", &self.rx.len())
            .field("tx", &self.tx.len())
            .field("staged", &(self.tx_end - self.tx_start))
            .finish_non_exhaustive()
    }
}

impl<'buf, C: Clock> MqttClient<'buf, C> {
    /// A disconnected client with this identity and limits, time from `clock`, socket reads
    /// into `rx` and socket writes staged in `tx`.
    ///
    /// Any buffer sizes work; larger ones mean fewer socket calls. Incoming packets larger
    /// than `rx` are simply assembled across reads (up to
    /// [`SessionConfig::max_packet_size`]).
    ///
    /// # Panics
    ///
    /// If `rx` or `tx` is empty.
    pub fn new(config: SessionConfig, clock: C, rx: &'buf mut [u8], tx: &'buf mut [u8]) -> Self {
        Self::with_session(Session::new(config), clock, rx, tx)
    }

    /// Wraps an existing Session (for example one kept across a reset in RAM).
    ///
    /// # Panics
    ///
    /// If `rx` or `tx` is empty.
    pub fn with_session(
        session: Session,
        clock: C,
        rx: &'buf mut [u8],
        tx: &'buf mut [u8],
    ) -> Self {
        assert!(
            !rx.is_empty() && !tx.is_empty(),
            "MqttClient needs non-empty read and write buffers"
        );
        Self {
            session,
            clock,
            rx,
            tx,
            tx_start: 0,
            tx_end: 0,
        }
    }

    /// The Session, for its getters.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The Session, for commands not wrapped here; they go out on the next poll or flush.
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The time on the client's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The Session's next deadline (keepalive, CONNACK timeout, ...): poll again by then.
    /// `None`: no timer runs.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    /// Whether CONNACK accepted the current connection.
    pub fn is_connected(&self) -> bool {
        self.session.is_connected()
    }

    /// Checks the Session's configuration (the client id) as
    /// [`SessionConfig::validate`] does. Call it before opening the socket for
    /// [`connect`](Self::connect), so a bad id is a configuration error found before any
    /// network work; `connect` checks again before writing anything.
    pub fn validate(&self) -> Result<(), ConnectError> {
        self.session.config().validate()
    }

    // ------------------------------------------------------------------ commands

    fn start(&mut self, options: &ConnectOptions<'_>) -> Result<(), ConnectError> {
        self.session.connect(self.clock.now(), options)?;
        // Bytes of an earlier connection must never reach the new socket (the Session's
        // `connect` drops its own).
        self.tx_start = 0;
        self.tx_end = 0;
        Ok(())
    }

    /// Starts MQTT on a socket the caller just opened: sends CONNECT. The answer arrives as
    /// [`Event::Connected`] or [`Event::ConnectRefused`] from the poll functions.
    pub fn connect<T>(
        &mut self,
        io: &mut T,
        options: &ConnectOptions<'_>,
    ) -> Result<(), Error<T::Error>>
    where
        T: embedded_io::Write,
    {
        self.start(options).map_err(Error::Connect)?;
        self.flush(io)
    }

    /// [`connect`](Self::connect) on an async socket.
    pub async fn connect_async<T>(
        &mut self,
        io: &mut T,
        options: &ConnectOptions<'_>,
    ) -> Result<(), Error<T::Error>>
    where
        T: embedded_io_async::Write,
    {
        self.start(options).map_err(Error::Connect)?;
        self.flush_async(io).await
    }

    /// Queues a publish; returns its packet identifier (`None` for QoS 0). Completion
    /// arrives as [`Event::PubAck`] (QoS 1) or [`Event::PubComp`] (QoS 2).
    pub fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
    ) -> Result<Option<PacketId>, PublishError> {
        self.session
            .publish(self.clock.now(), topic, payload, qos, retain)
    }

    /// [`publish`](Self::publish) with MQTT 5.0 properties.
    pub fn publish_with_properties(
        &mut self,
        topic: &str,
        payload: &[u8],
        qos: QoS,
        retain: bool,
        properties: Properties<'_>,
    ) -> Result<Option<PacketId>, PublishError> {
        self.session.publish_with_properties(
            self.clock.now(),
            topic,
            payload,
            qos,
            retain,
            properties,
        )
    }

    /// Queues a SUBSCRIBE for `(filter, qos)` pairs; [`Event::SubAck`] carries the result.
    pub fn subscribe(&mut self, topics: &[(&str, QoS)]) -> Result<PacketId, SubscribeError> {
        let mut subs = Vec::with_capacity(topics.len());
        for (f, q) in topics {
            let filter = TopicFilter::new(f).map_err(SubscribeError::InvalidFilter)?;
            subs.push(Subscription::new(filter, *q));
        }
        self.session.subscribe(self.clock.now(), &subs)
    }

    /// Queues an UNSUBSCRIBE; [`Event::UnsubAck`] carries the result.
    pub fn unsubscribe(&mut self, filters: &[&str]) -> Result<PacketId, SubscribeError> {
        let mut list = Vec::with_capacity(filters.len());
        for f in filters {
            list.push(TopicFilter::new(f).map_err(SubscribeError::InvalidFilter)?);
        }
        self.session.unsubscribe(self.clock.now(), &list)
    }

    /// Sends DISCONNECT (the broker discards the will). The next poll returns
    /// [`Event::Disconnected`]; then close the socket.
    pub fn disconnect<T>(&mut self, io: &mut T) -> Result<(), Error<T::Error>>
    where
        T: embedded_io::Write,
    {
        self.session
            .disconnect(self.clock.now(), ReasonCode::NORMAL_DISCONNECTION);
        self.flush(io)
    }

    /// [`disconnect`](Self::disconnect) on an async socket.
    pub async fn disconnect_async<T>(&mut self, io: &mut T) -> Result<(), Error<T::Error>>
    where
        T: embedded_io_async::Write,
    {
        self.session
            .disconnect(self.clock.now(), ReasonCode::NORMAL_DISCONNECTION);
        self.flush_async(io).await
    }

    /// Tells the Session the socket is gone (for example after the application closed it
    /// or the network interface went down). The next poll returns [`Event::Disconnected`].
    pub fn handle_closed(&mut self) {
        self.session.handle_closed(self.clock.now());
        self.tx_start = 0;
        self.tx_end = 0;
    }

    // ------------------------------------------------------------------ staging

    /// Refills `tx` straight from the Session once it has been fully written: whole
    /// packets and the start of one that does not fit (the Session keeps its rest).
    fn stage(&mut self) {
        if self.tx_start != self.tx_end {
            return;
        }
        self.tx_start = 0;
        self.tx_end = self.session.transmit_into(self.clock.now(), self.tx);
    }

    fn staged(&self) -> &[u8] {
        self.tx.get(self.tx_start..self.tx_end).unwrap_or_default()
    }

    fn wrote(&mut self, n: usize) {
        self.tx_start = (self.tx_start + n).min(self.tx_end);
    }

    /// The socket is gone: tell the Session and forget staged bytes.
    fn fail<E>(&mut self, e: Error<E>) -> Error<E> {
        self.handle_closed();
        e
    }

    fn next_event(&mut self) -> Option<Event> {
        // Staged bytes of an ended connection never reach a new socket: `connect` clears them.
        self.session.poll_event()
    }

    /// `handle_timeout` does only what is due (calling it early does nothing), so no
    /// `poll_timeout` check first: that would compute every deadline twice, and keep the
    /// deadline code in firmware that never asks for it.
    fn fire_timers(&mut self) {
        self.session.handle_timeout(self.clock.now());
    }

    // ------------------------------------------------------------------ blocking

    /// Writes everything the Session has to send (blocking until the socket took it).
    pub fn flush<T>(&mut self, io: &mut T) -> Result<(), Error<T::Error>>
    where
        T: embedded_io::Write,
    {
        let mut wrote = false;
        loop {
            self.stage();
            if self.tx_start == self.tx_end {
                break;
            }
            match io.write(self.staged()) {
                Ok(0) => return Err(self.fail(Error::WriteZero)),
                Ok(n) => {
                    self.wrote(n);
                    wrote = true;
                }
                Err(e) if embedded_io::Error::kind(&e) == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(Error::Io(e))),
            }
        }
        if wrote {
            if let Err(e) = io.flush() {
                return Err(self.fail(Error::Io(e)));
            }
        }
        Ok(())
    }

    fn read_once<T>(&mut self, io: &mut T, timeout_is_quiet: bool) -> Result<(), Error<T::Error>>
    where
        T: embedded_io::Read,
    {
        match io.read(self.rx) {
            Ok(0) => self.handle_closed(),
            Ok(n) => {
                let now = self.clock.now();
                self.session
                    .handle_read(now, self.rx.get(..n).unwrap_or_default());
            }
            Err(e) => match embedded_io::Error::kind(&e) {
                ErrorKind::Interrupted => {}
                ErrorKind::TimedOut if timeout_is_quiet => {}
                _ => return Err(self.fail(Error::Io(e))),
            },
        }
        Ok(())
    }

    /// One step of the main loop that never blocks on reading: sends what is queued, fires
    /// due timers, reads once if [`ReadReady`] says data is waiting, and returns the next
    /// event. `Ok(None)`: nothing to report now; call again after a pause (at the latest at
    /// [`poll_timeout`](Self::poll_timeout)) or after a command.
    ///
    /// `Err(Error::NotConnected)` when there is no connection and no event left.
    pub fn poll<T>(&mut self, io: &mut T) -> Result<Option<Event>, Error<T::Error>>
    where
        T: embedded_io::Read + embedded_io::Write + ReadReady,
    {
        self.step(io, |client, io| match io.read_ready() {
            Ok(true) => client.read_once(io, false),
            Ok(false) => Ok(()),
            Err(e) => Err(client.fail(Error::Io(e))),
        })
    }

    /// [`poll`](Self::poll) for sockets without [`ReadReady`]: when there is nothing else to
    /// do it reads, blocking until data arrives or the socket's read timeout passes (an error
    /// of kind [`ErrorKind::TimedOut`], which counts as "nothing arrived"). Give the socket a
    /// read timeout well below the keepalive, or PINGREQs will be late.
    pub fn poll_blocking<T>(&mut self, io: &mut T) -> Result<Option<Event>, Error<T::Error>>
    where
        T: embedded_io::Read + embedded_io::Write,
    {
        self.step(io, |client, io| client.read_once(io, true))
    }

    fn step<T>(
        &mut self,
        io: &mut T,
        read: impl FnOnce(&mut Self, &mut T) -> Result<(), Error<T::Error>>,
    ) -> Result<Option<Event>, Error<T::Error>>
    where
        T: embedded_io::Write,
    {
        // Contract: transmit first, then events. Three rounds (before anything, after the
        // timers, after the read) in one loop, so flush and poll_event are instantiated once.
        let mut read = Some(read);
        for round in 0..3 {
            self.flush(io)?;
            if let Some(e) = self.next_event() {
                return Ok(Some(e));
            }
            match round {
                0 => {
                    if self.session.state() == SessionState::Disconnected {
                        return Err(Error::NotConnected);
                    }
                    self.fire_timers();
                }
                1 => {
                    if let Some(read) = read.take() {
                        read(self, io)?;
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    // ------------------------------------------------------------------ async

    /// Writes everything the Session has to send.
    pub async fn flush_async<T>(&mut self, io: &mut T) -> Result<(), Error<T::Error>>
    where
        T: embedded_io_async::Write,
    {
        let mut wrote = false;
        loop {
            self.stage();
            if self.tx_start == self.tx_end {
                break;
            }
            match io.write(self.staged()).await {
                Ok(0) => return Err(self.fail(Error::WriteZero)),
                Ok(n) => {
                    self.wrote(n);
                    wrote = true;
                }
                Err(e) if embedded_io::Error::kind(&e) == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(Error::Io(e))),
            }
        }
        if wrote {
            if let Err(e) = io.flush().await {
                return Err(self.fail(Error::Io(e)));
            }
        }
        Ok(())
    }

    /// Drives the connection until the next event: sends what is queued, waits for the
    /// first of socket data and the Session's next deadline (sleeping with `delay`), and
    /// checks the clock after every wake-up (the clock decides, not the delay).
    ///
    /// `Err(Error::NotConnected)` when there is no connection and no event left.
    ///
    /// Cancel safety: dropping the future while it waits for data loses nothing if the
    /// socket's `read` is cancel-safe; dropping it in the middle of a write is safe only if
    /// the socket's `write` is cancel-safe too (as `embedded-io-async` recommends).
    pub async fn poll_async<T, D>(
        &mut self,
        io: &mut T,
        delay: &mut D,
    ) -> Result<Event, Error<T::Error>>
    where
        T: embedded_io_async::Read + embedded_io_async::Write,
        D: DelayNs,
    {
        loop {
            self.flush_async(io).await?;
            if let Some(e) = self.next_event() {
                return Ok(e);
            }
            if self.session.state() == SessionState::Disconnected {
                return Err(Error::NotConnected);
            }
            let now = self.clock.now();
            let deadline = self.session.poll_timeout();
            if deadline.is_some_and(|d| d <= now) {
                self.session.handle_timeout(now);
                continue;
            }
            // Sleep at most ~an hour at a time; with no deadline only data can wake us.
            let wait = deadline.map_or(u32::MAX, |d| {
                u32::try_from(d.saturating_duration_since(now).as_millis()).unwrap_or(u32::MAX)
            });
            let sleep = async {
                if deadline.is_some() {
                    delay.delay_ms(wait.min(3_600_000)).await;
                } else {
                    poll_fn(|_| Poll::<()>::Pending).await;
                }
            };
            match select(io.read(self.rx), sleep).await {
                Either::First(Ok(0)) => self.handle_closed(),
                Either::First(Ok(n)) => {
                    let now = self.clock.now();
                    self.session
                        .handle_read(now, self.rx.get(..n).unwrap_or_default());
                }
                Either::First(Err(e)) => {
                    if embedded_io::Error::kind(&e) != ErrorKind::Interrupted {
                        return Err(self.fail(Error::Io(e)));
                    }
                }
                // The clock decides what is due, at the top of the loop.
                Either::Second(()) => {}
            }
        }
    }
}

enum Either<A, B> {
    First(A),
    Second(B),
}

/// Polls both futures, `a` first; returns the output of the first to finish.
async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let mut b = pin!(b);
    poll_fn(|cx| {
        if let Poll::Ready(x) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::First(x));
        }
        if let Poll::Ready(y) = b.as_mut().poll(cx) {
            return Poll::Ready(Either::Second(y));
        }
        Poll::Pending
    })
    .await
}
