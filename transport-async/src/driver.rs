//! The [`Driver`]: the future that owns the socket and drives the shared client core.
//!
//! The core decides everything (when to dial, when to close, reconnect delays, the drain on
//! `disconnect`); the driver only does what [`ClientCore::poll_action`] asks, moves bytes
//! between the socket and the core, and wakes up for the core's deadline. It follows
//! quinn's connection driver (see the design guide, "Transport adapters"):
//!
//! - **Trust the clock, not only the timer.** Every step compares the core's deadline with
//!   the actual time, whatever woke the task; the timer only makes sure there is a wake-up.
//!   It is moved only to an earlier deadline: a later one (keepalive, after every packet)
//!   costs one early wake-up instead of a re-registration with the reactor.
//! - **Bounded transmit buffer.** Bytes come from the core's [`ClientCore::poll_transmit`]
//!   (refilled up to 64 KiB, written bytes given back as they go) and what the socket took
//!   is reported with [`ClientCore::handle_written`]; backpressure reaches `publish`.
//! - **Cap the work per poll.** At most a fixed number of reads, writes and steps per poll;
//!   when a cap is hit the driver wakes itself and returns, so other tasks on the same
//!   executor get their turn.
//!
//! [`ClientCore::poll_action`]: mqtt_sansio_client::ClientCore::poll_action
//! [`ClientCore::poll_transmit`]: mqtt_sansio_client::ClientCore::poll_transmit
//! [`ClientCore::handle_written`]: mqtt_sansio_client::ClientCore::handle_written

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use mqtt_sansio_client::{
    Action, ClientCore, ClientError, ClientOptions, Shared, SockKeepalive, StdClock, StopReason,
};
use mqtt_sansio_session::{Event, Instant};

use crate::client::{AsyncClient, ClientRef};
use crate::stream::Stream;

/// Socket reads per step before yielding (fairness).
const MAX_READS_PER_STEP: usize = 16;
/// Socket writes per step before yielding (fairness).
const MAX_WRITES_PER_STEP: usize = 16;
/// Steps per poll before yielding (fairness).
const MAX_STEPS_PER_POLL: usize = 32;
/// After our FIN (or TLS close_notify), how long to read what the broker still sends until
/// its EOF: closing a socket with unread input resets it, which can discard the last bytes
/// we wrote (a DISCONNECT).
const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Size of the read buffer.
const READ_BUF: usize = 16 * 1024;
/// Events whose room the settle buffer keeps between turns (more is given back after a
/// burst).
const SETTLED_KEPT: usize = 256;

type Dial = Pin<Box<dyn Future<Output = io::Result<Stream>> + Send>>;

/// The future that owns the connection: spawn it on any executor, or run it with
/// `async_io::block_on` on a thread of its own.
///
/// It dials when the client core asks (the first connection, reconnections with backoff,
/// `reconnect()`), reads and writes the socket, fires the core's timers, completes the
/// client's futures, runs hooks and callbacks and feeds the event stream. It resolves with
/// `Ok(())` after [`AsyncClient::disconnect`] (or once every `AsyncClient` is dropped), and
/// with an error when the client stops for another reason (automatic reconnection off,
/// attempts exhausted, a refusal for credentials). Dropping it, polled or not, closes the
/// client and its socket at once (without DISCONNECT, so the broker publishes the will).
///
/// In a tokio program, `tokio::spawn(driver)` works: async-io runs its own reactor thread,
/// so its sockets and timers need no tokio reactor. A dedicated thread with
/// `std::thread::spawn(move || async_io::block_on(driver))` works everywhere.
///
/// ```no_run
/// # async fn demo() -> Result<(), mqtt_sansio_async::ClientError> {
/// use mqtt_sansio_async::{AsyncClient, ClientOptions, ProtocolVersion};
///
/// let options = ClientOptions::new()
///     .client_id("driver-doc")
///     .protocol(ProtocolVersion::V5);
/// let (client, driver) = AsyncClient::connect("127.0.0.1", 30, options).await?;
/// // Any executor: here a thread of its own.
/// let io = std::thread::spawn(move || async_io::block_on(driver));
/// client.disconnect().await;
/// io.join().expect("driver thread")?;
/// # Ok(()) }
/// ```
#[must_use = "the Driver does nothing unless spawned or awaited"]
pub struct Driver {
    shared: Arc<Shared<AsyncClient>>,
    client: Weak<ClientRef>,
    options: ClientOptions,
    dial: Option<Dial>,
    conn: Option<Stream>,
    needs_flush: bool,
    closing: Option<Closing>,
    read_buf: Box<[u8]>,
    /// The events of one turn, on their way to the callbacks and the stream; kept across
    /// turns so settling allocates nothing per turn (issue 14).
    settled: Vec<Event>,
    timer: Timer,
    timer_deadline: Option<Instant>,
    finished: bool,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("connected", &self.conn.is_some())
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

/// What one step of the driver came to.
enum Step {
    /// The client stopped: the driver's result.
    Done(Result<(), ClientError>),
    /// Something moved: step again.
    Again,
    /// A cap was hit: come back after other tasks.
    Yield,
    /// Everything waits on a registered waker.
    Idle,
}

/// A socket the core asked to close: our side is shut, the broker's EOF is awaited.
struct Closing {
    stream: Stream,
    write_closed: bool,
    linger: Timer,
}

impl Closing {
    /// Whether the socket can be dropped now.
    fn poll(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> bool {
        if !self.write_closed {
            match Pin::new(&mut self.stream).poll_close(cx) {
                Poll::Ready(_) => self.write_closed = true,
                Poll::Pending => return Pin::new(&mut self.linger).poll(cx).is_ready(),
            }
        }
        for _ in 0..MAX_READS_PER_STEP {
            match Pin::new(&mut self.stream).poll_read(cx, buf) {
                Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return true,
                Poll::Ready(Ok(_)) => {}
                Poll::Pending => return Pin::new(&mut self.linger).poll(cx).is_ready(),
            }
        }
        cx.waker().wake_by_ref();
        false
    }
}

impl Driver {
    pub(crate) fn new(
        shared: Arc<Shared<AsyncClient>>,
        client: Weak<ClientRef>,
        options: ClientOptions,
    ) -> Self {
        Self {
            shared,
            client,
            options,
            dial: None,
            conn: None,
            needs_flush: false,
            closing: None,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            settled: Vec::new(),
            timer: Timer::never(),
            timer_deadline: None,
            finished: false,
        }
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        let clock = *self.shared.clock();
        let started = clock.now();
        let mut progressed = false;
        // Trust the clock: whatever woke us, fire what is due now.
        let action = {
            let mut st = self.shared.lock();
            if st.core.poll_timeout().is_some_and(|d| d <= started) {
                st.core.handle_timeout(started);
            }
            st.core.poll_action(started)
        };
        match action {
            Action::Stop(reason) => return Step::Done(self.stop(reason)),
            Action::Open { ref server, .. } => {
                // Hooks run outside the lock: they may call the client.
                self.shared.before_open(&action);
                let server = server.clone();
                let options = self.options.clone();
                self.dial = Some(Box::pin(async move {
                    Stream::open_server(&server, &options).await
                }));
                progressed = true;
            }
            Action::Close => {
                match self.conn.take() {
                    Some(stream) => {
                        self.closing = Some(Closing {
                            stream,
                            write_closed: false,
                            linger: Timer::after(CLOSE_LINGER),
                        })
                    }
                    None => self.shared.lock().core.handle_closed(clock.now()),
                }
                progressed = true;
            }
            Action::None => {}
        }
        progressed |= self.poll_dial(cx, clock);
        if let Some(closing) = &mut self.closing {
            if closing.poll(cx, &mut self.read_buf) {
                self.closing = None;
                self.shared.lock().core.handle_closed(clock.now());
                progressed = true;
            }
        }
        let (moved, capped) = self.poll_io(cx, clock);
        progressed |= moved;
        self.settle();
        if capped {
            return Step::Yield;
        }
        if progressed {
            return Step::Again;
        }
        let deadline = self.shared.lock().core.poll_timeout();
        // A deadline that was due at the start of this step was handled then; if the core
        // still reports it, it waits on something else (a socket being closed), which has
        // its own waker.
        let deadline = deadline.filter(|d| *d > started);
        if self.arm_timer(cx, deadline, clock) {
            return Step::Again;
        }
        Step::Idle
    }

    /// Completions to their futures; events to the hooks and callbacks (outside the lock),
    /// then to the stream, so a stream consumer sees an event only after its callback ran.
    ///
    /// Each event is moved from the core to the stream, never copied: the callbacks borrow
    /// it in between.
    fn settle(&mut self) {
        let events = &mut self.settled;
        self.shared.lock().settle_unqueued_into(events);
        if events.is_empty() {
            return;
        }
        if self.shared.wants_delivery(events) {
            if let Some(handle) = self.client.upgrade() {
                self.shared.deliver(&AsyncClient::from_ref(handle), events);
            }
        }
        self.shared.lock().queue_events(events.drain(..));
        // A burst does not keep its buffer for the rest of the connection.
        events.shrink_to(SETTLED_KEPT);
    }

    /// Moves a dial in progress on; returns whether it finished.
    fn poll_dial(&mut self, cx: &mut Context<'_>, clock: StdClock) -> bool {
        let Some(dial) = &mut self.dial else {
            return false;
        };
        let Poll::Ready(result) = dial.as_mut().poll(cx) else {
            return false;
        };
        self.dial = None;
        let mut st = self.shared.lock();
        let now = clock.now();
        match result {
            Ok(stream) => {
                st.socket_keepalive = Some(SockKeepalive::read(stream.tcp()).map_err(|e| e.kind()));
                if let Err(e) = st.core.handle_opened(now) {
                    // The core closes this socket and stops; the first connect reports it.
                    st.io_error = Some(io::Error::new(io::ErrorKind::InvalidInput, e));
                }
                self.conn = Some(stream);
                self.needs_flush = false;
            }
            Err(e) => {
                st.io_error = Some(e);
                st.core.handle_open_failed(now);
            }
        }
        true
    }

    /// Reads into the core and writes what it holds; returns (anything moved, a cap hit).
    fn poll_io(&mut self, cx: &mut Context<'_>, clock: StdClock) -> (bool, bool) {
        let Some(stream) = &mut self.conn else {
            return (false, false);
        };
        let mut st = self.shared.lock();
        let (mut moved, mut capped, mut lost) = (false, false, false);
        // Why the connection ended, when a read or write failed (rather than an orderly end
        // of stream): kept, as the mio client does, so the first connect can say why (a
        // WebSocket text frame, a TLS alert, a reset) instead of only "closed".
        let mut failure: Option<io::Error> = None;
        if !st.read_paused() {
            let mut reads = 0;
            while reads < MAX_READS_PER_STEP {
                match Pin::new(&mut *stream).poll_read(cx, &mut self.read_buf) {
                    Poll::Ready(Ok(0)) => {
                        lost = true;
                        break;
                    }
                    Poll::Ready(Ok(n)) => {
                        let bytes = self.read_buf.get(..n).unwrap_or_default();
                        st.core.handle_read(clock.now(), bytes);
                        moved = true;
                        if !st.core.session().wants_read() {
                            // A full window of manual acknowledgements (3.1.1): the rest
                            // stays in the socket until the application acknowledges.
                            break;
                        }
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        failure = Some(e);
                        lost = true;
                        break;
                    }
                    Poll::Pending => break,
                }
                reads += 1;
            }
            capped |= reads >= MAX_READS_PER_STEP;
        }
        if !lost {
            match write(stream, cx, &mut st.core, clock.now(), &mut self.needs_flush) {
                Ok((wrote, cap)) => {
                    moved |= wrote;
                    capped |= cap;
                }
                Err(e) => {
                    failure = Some(e);
                    lost = true;
                }
            }
        }
        if lost {
            if failure.is_some() {
                st.io_error = failure;
            }
            self.conn = None;
            st.core.handle_closed(clock.now());
            return (true, false);
        }
        (moved, capped)
    }

    /// Makes sure a wake-up comes no later than `deadline`, and polls the timer; returns
    /// whether it fired.
    ///
    /// The timer moves only to an earlier instant: the keepalive deadlines move later with
    /// every packet, and moving an async-io timer re-registers it with the reactor; a timer
    /// that fires before the core's deadline only costs one early wake-up, after which it
    /// is armed anew for the deadline of that moment (the clock decides what is due).
    fn arm_timer(
        &mut self,
        cx: &mut Context<'_>,
        deadline: Option<Instant>,
        clock: StdClock,
    ) -> bool {
        let earlier = match (deadline, self.timer_deadline) {
            (Some(d), Some(armed)) => d < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if let (true, Some(d)) = (earlier, deadline) {
            self.timer_deadline = Some(d);
            self.timer.set_at(clock.to_std(d));
        }
        if self.timer_deadline.is_some() && Pin::new(&mut self.timer).poll(cx).is_ready() {
            // Fired: forget it, so the next step arms it for whatever is due next.
            self.timer_deadline = None;
            return true;
        }
        false
    }

    /// The core stopped: drop the sockets, hand out the last events, end every wait.
    fn stop(&mut self, reason: StopReason) -> Result<(), ClientError> {
        self.dial = None;
        self.conn = None;
        self.closing = None;
        self.settle();
        self.shared.lock().close(reason.clone());
        match reason {
            StopReason::Disconnected => Ok(()),
            other => Err(other.into()),
        }
    }
}

/// Moves bytes from the core to the socket until the core has none, the socket is full
/// (the core keeps the unsent tail) or the cap is hit; returns (anything written, cap hit).
fn write(
    stream: &mut Stream,
    cx: &mut Context<'_>,
    core: &mut ClientCore,
    now: Instant,
    needs_flush: &mut bool,
) -> io::Result<(bool, bool)> {
    let mut writes = 0;
    let mut wrote = false;
    loop {
        let Some(bytes) = core.poll_transmit(now) else {
            if *needs_flush {
                match Pin::new(&mut *stream).poll_flush(cx) {
                    Poll::Ready(Ok(())) => *needs_flush = false,
                    Poll::Ready(Err(e)) => return Err(e),
                    Poll::Pending => {}
                }
            }
            return Ok((wrote, false));
        };
        if writes >= MAX_WRITES_PER_STEP {
            return Ok((wrote, true));
        }
        writes += 1;
        match Pin::new(&mut *stream).poll_write(cx, bytes) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => {
                core.handle_written(n);
                wrote = true;
                *needs_flush = true;
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
            Poll::Ready(Err(e)) => return Err(e),
            // The socket wakes us when it drains; the core keeps the tail.
            Poll::Pending => return Ok((wrote, false)),
        }
    }
}

impl Future for Driver {
    type Output = Result<(), ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(Err(ClientError::Closed));
        }
        this.shared.lock().set_io_waker(cx.waker());
        for _ in 0..MAX_STEPS_PER_POLL {
            match this.step(cx) {
                Step::Done(result) => {
                    this.finished = true;
                    return Poll::Ready(result);
                }
                Step::Again => {}
                Step::Yield => break,
                Step::Idle => return Poll::Pending,
            }
        }
        // A cap was hit: come back soon, after other tasks.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.finished {
            // The socket goes with this value, without DISCONNECT: the broker sends the will.
            self.shared.lock().close(StopReason::Disconnected);
        }
    }
}
