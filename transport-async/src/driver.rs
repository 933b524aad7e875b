//! The [`Driver`]: the future that owns the socket and drives the Session.
//!
//! It follows quinn's connection driver (see the design guide, "Transport adapters"):
//!
//! - **Trust the clock, not only the timer.** Every wake-up compares the Session's deadline
//!   with the actual time, whatever woke the task; the timer future only makes sure there is
//!   a wake-up. The `async_io::Timer` is moved only to an earlier deadline: a later one
//!   (keepalive, after every packet) costs one early wake-up instead of a re-registration.
//! - **Keep the unsent tail.** Packets go from `poll_transmit` into one buffer; when the
//!   socket is not ready the rest stays there and goes first on the next wake-up. Past a
//!   high-water mark no more packets are pulled out of the Session, so backpressure reaches
//!   `publish` as an error instead of growing this buffer.
//! - **Cap the work per wake-up.** At most a fixed number of reads and of writes per poll;
//!   when a cap is hit the driver wakes itself and returns, so other tasks on the same
//!   executor get their turn.

use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use futures_lite::AsyncWriteExt;
use mqtt_proto::ReasonCode;
use mqtt_session::{DisconnectReason, Event, Instant, Session, SessionState};

use crate::client::{AsyncClient, CallbackFailure, ClientRef, Hook, Settings};
use crate::clock::Clock;
use crate::error::{ClientError, Failure};
use crate::shared::{lock, Shared};
use crate::stream::Stream;

/// Bytes waiting for the socket beyond which no more packets are taken from the Session.
const HIGH_WATER: usize = 64 * 1024;
/// Socket reads per wake-up before yielding (fairness).
const MAX_READS_PER_WAKE: usize = 16;
/// Socket writes per wake-up before yielding (fairness).
const MAX_WRITES_PER_WAKE: usize = 16;
/// How long a closing connection may take to send its last packets (DISCONNECT).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Size of the read buffer.
const READ_BUF: usize = 16 * 1024;

/// The future that owns the connection: spawn it on any executor, or run it with
/// `async_io::block_on` on a thread of its own.
///
/// It reads and writes the socket, answers the protocol (acks, pings), completes the
/// client's futures, runs callbacks, feeds the event stream, and reconnects with backoff
/// when the connection drops. It resolves with `Ok(())` after
/// [`AsyncClient::disconnect`] (or once every `AsyncClient` is dropped), and with an error
/// when the connection is lost for good (automatic reconnection off, or attempts exhausted,
/// or invalid connect options). Dropping it, polled or not, closes the client and its
/// socket at once (without DISCONNECT, so the broker publishes the will).
///
/// In a tokio program, `tokio::spawn(driver)` works: async-io runs its own reactor thread,
/// so its sockets and timers need no tokio reactor. A dedicated thread with
/// `std::thread::spawn(move || async_io::block_on(driver))` works everywhere.
///
/// ```no_run
/// # async fn demo() -> Result<(), transport_async::ClientError> {
/// use mqtt_proto::ProtocolVersion;
/// use mqtt_session::SessionConfig;
/// use transport_async::{AsyncClient, ClientOptions};
///
/// let config = SessionConfig::new("driver-doc", true, ProtocolVersion::V5);
/// let (client, driver) = AsyncClient::connect(config, "127.0.0.1", 1883, ClientOptions::new()).await?;
/// // Any executor: here a thread of its own.
/// let io = std::thread::spawn(move || async_io::block_on(driver));
/// client.disconnect().await;
/// io.join().expect("driver thread")?;
/// # Ok(()) }
/// ```
#[must_use = "the Driver does nothing unless spawned or awaited"]
pub struct Driver {
    fut: Pin<Box<dyn Future<Output = Result<(), ClientError>> + Send>>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").finish_non_exhaustive()
    }
}

impl Future for Driver {
    type Output = Result<(), ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.fut.as_mut().poll(cx)
    }
}

/// Everything the driver needs besides the connection.
struct Ctx {
    shared: Arc<Shared>,
    client: Weak<ClientRef>,
    settings: Arc<Settings>,
}

/// How a connection's poll loop ended.
enum ConnEnd {
    /// CONNACK accepted it (only reported while connecting).
    Connected,
    /// It is over.
    Lost(DisconnectReason),
}

/// One open connection: the stream, the unsent tail, the timer.
pub(crate) struct Conn {
    stream: Stream,
    out: Vec<u8>,
    out_pos: usize,
    needs_flush: bool,
    read_buf: Box<[u8]>,
    timer: Timer,
    timer_deadline: Option<Instant>,
    batch: Vec<Event>,
    /// CONNACK accepted this connection.
    connected: bool,
    /// The application asked to reconnect now.
    reconnect_requested: bool,
}

/// Dials, opens TLS if configured, and queues CONNECT.
pub(crate) async fn open(shared: &Arc<Shared>, settings: &Settings) -> Result<Conn, ClientError> {
    let options = settings
        .options
        .connect_options()
        .map_err(ClientError::Connect)?;
    let stream = Stream::open(
        &settings.host,
        settings.port,
        settings.options.tls.as_ref(),
        settings.options.sock_keepalive,
        settings.options.connect_timeout,
    )
    .await?;
    {
        let mut inner = shared.lock();
        if inner.session.state() != SessionState::Disconnected {
            // A connection that ended without the Session hearing of it (driver dropped).
            inner.session.handle_closed(shared.clock.now());
            while inner.session.poll_event().is_some() {}
        }
        inner
            .session
            .connect(shared.clock.now(), &options)
            .map_err(ClientError::Connect)?;
        inner.disconnect_sent = false;
        inner.socket_keepalive = Some(stream.read_keepalive().map_err(|e| e.kind()));
    }
    Ok(Conn {
        stream,
        out: Vec::with_capacity(4096),
        out_pos: 0,
        needs_flush: false,
        read_buf: vec![0; READ_BUF].into_boxed_slice(),
        timer: Timer::never(),
        timer_deadline: None,
        batch: Vec::new(),
        connected: false,
        reconnect_requested: false,
    })
}

/// Drives a freshly opened connection until CONNACK, then returns the driver for the rest.
pub(crate) async fn connect_and_run(
    shared: Arc<Shared>,
    client: Weak<ClientRef>,
    settings: Arc<Settings>,
    mut conn: Conn,
) -> Result<Driver, ClientError> {
    let ctx = Ctx {
        shared,
        client,
        settings,
    };
    let end = std::future::poll_fn(|cx| conn.poll_io(cx, &ctx, true)).await;
    match end {
        ConnEnd::Connected => {
            // Made here, not inside `run`: a future's arguments move into it when it is
            // created, so a driver dropped before its first poll still closes the client.
            let guard = CloseGuard {
                shared: ctx.shared.clone(),
                failure: Failure::Closed,
            };
            Ok(Driver {
                fut: Box::pin(run(ctx, conn, guard)),
            })
        }
        ConnEnd::Lost(reason) => {
            conn.finish(&ctx.shared).await;
            ctx.shared.lock().close(Failure::Disconnected(reason));
            Err(match reason {
                DisconnectReason::Refused(code) => ClientError::Refused(code),
                other => ClientError::Disconnected(other),
            })
        }
    }
}

/// Closes the client when the driver ends or is dropped.
struct CloseGuard {
    shared: Arc<Shared>,
    failure: Failure,
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        self.shared.lock().close(self.failure);
    }
}

/// The driver's life: run connections, reconnect with backoff between them.
async fn run(ctx: Ctx, mut conn: Conn, mut guard: CloseGuard) -> Result<(), ClientError> {
    let mut backoff = ctx.settings.options.backoff.clone().seeded_from_os();
    backoff.reset();
    loop {
        let reason = match std::future::poll_fn(|cx| conn.poll_io(cx, &ctx, false)).await {
            ConnEnd::Lost(reason) => reason,
            ConnEnd::Connected => continue,
        };
        conn.finish(&ctx.shared).await;
        if conn.connected {
            backoff.reset();
        }
        if ctx.shared.lock().stop {
            return Ok(());
        }
        let mut immediate = conn.reconnect_requested;
        if !immediate && !ctx.settings.options.auto_reconnect {
            guard.failure = Failure::Disconnected(reason);
            return Err(ClientError::Disconnected(reason));
        }
        conn = loop {
            if !immediate {
                let Some(delay) = backoff.next_delay() else {
                    guard.failure = Failure::Disconnected(reason);
                    return Err(ClientError::Disconnected(reason));
                };
                if sleep_unless_stopped(&ctx.shared, delay).await {
                    return Ok(());
                }
            }
            immediate = false;
            if ctx.shared.lock().stop {
                return Ok(());
            }
            if let Some(hook) = &ctx.settings.options.before_reconnect {
                run_hook(&ctx, hook);
            }
            match open(&ctx.shared, &ctx.settings).await {
                Ok(c) => break c,
                // Invalid options never get better.
                Err(e @ ClientError::Connect(_)) => return Err(e),
                Err(_) => continue,
            }
        };
    }
}

/// Sleeps for `delay`; returns true early if the client is told to stop.
async fn sleep_unless_stopped(shared: &Shared, delay: Duration) -> bool {
    let mut timer = Timer::after(delay);
    std::future::poll_fn(|cx| {
        let mut inner = shared.lock();
        inner.set_driver_waker(cx.waker());
        if inner.stop {
            return Poll::Ready(true);
        }
        if inner.reconnect_now {
            inner.reconnect_now = false;
            return Poll::Ready(false);
        }
        drop(inner);
        Pin::new(&mut timer).poll(cx).map(|_| false)
    })
    .await
}

fn run_hook(ctx: &Ctx, hook: &Hook) {
    let Some(client) = ctx.client.upgrade().map(AsyncClient::from_ref) else {
        return;
    };
    let r = catch_unwind(AssertUnwindSafe(|| (lock(hook))(&client)));
    if r.is_err() {
        push_failure(
            &ctx.shared,
            CallbackFailure {
                command: None,
                message: "a reconnect hook panicked".into(),
                panicked: true,
            },
        );
    }
}

fn push_failure(shared: &Shared, failure: CallbackFailure) {
    let mut inner = shared.lock();
    if inner.failures.len() >= 100 {
        inner.failures.pop_front();
    }
    inner.failures.push_back(failure);
}

/// Runs the callback the dispatcher selects for `event`, reporting errors and panics.
fn dispatch(ctx: &Ctx, event: &Event) {
    let cb = lock(&ctx.shared.dispatcher).select(event).cloned();
    let Some(cb) = cb else { return };
    let Some(client) = ctx.client.upgrade().map(AsyncClient::from_ref) else {
        return;
    };
    let result = catch_unwind(AssertUnwindSafe(|| (lock(&cb))(&client, event)));
    let failure = match result {
        Ok(Ok(())) => return,
        Ok(Err(e)) => CallbackFailure {
            command: event.command(),
            message: e.to_string(),
            panicked: false,
        },
        Err(panic) => CallbackFailure {
            command: event.command(),
            message: panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "callback panicked".into()),
            panicked: true,
        },
    };
    push_failure(&ctx.shared, failure);
}

impl Conn {
    /// One wake-up: read, fire due timers, write, hand out events, re-arm the timer.
    fn poll_io(&mut self, cx: &mut Context<'_>, ctx: &Ctx, until_connected: bool) -> Poll<ConnEnd> {
        let clock = ctx.shared.clock;
        let has_callbacks = !lock(&ctx.shared.dispatcher).is_empty();
        let mut again = false;
        let mut end = None;
        let mut connected_now = false;
        {
            let mut inner = ctx.shared.lock();
            inner.set_driver_waker(cx.waker());
            if inner.session.state() == SessionState::Disconnected {
                // Only after an end this poll already reported; be safe all the same.
                return Poll::Ready(ConnEnd::Lost(DisconnectReason::TransportClosed));
            }
            if inner.stop && !inner.disconnect_sent {
                inner.disconnect_sent = true;
                inner
                    .session
                    .disconnect(clock.now(), ReasonCode::NORMAL_DISCONNECTION);
            }
            if inner.reconnect_now {
                inner.reconnect_now = false;
                self.reconnect_requested = true;
                inner.session.handle_closed(clock.now());
            }
            if !inner.read_paused() {
                again |= self.read(cx, &mut inner.session, clock);
            }
            // Trust the clock: whatever woke us, fire what is due now.
            let now = clock.now();
            if inner.session.poll_timeout().is_some_and(|d| d <= now) {
                inner.session.handle_timeout(now);
            }
            match self.write(cx, &mut inner.session, clock) {
                Ok(capped) => again |= capped,
                Err(_) => inner.session.handle_closed(clock.now()),
            }
            while let Some(event) = inner.session.poll_event() {
                inner.note_event(&event);
                match &event {
                    Event::Disconnected { reason, .. } => end = Some(*reason),
                    Event::Connected { .. } => connected_now = true,
                    _ => {}
                }
                if has_callbacks {
                    self.batch.push(event);
                } else {
                    inner.push_event(event);
                }
            }
            if end.is_none() {
                let deadline = inner.session.poll_timeout();
                again |= self.arm_timer(cx, deadline, clock);
            }
        }
        if connected_now {
            self.connected = true;
            if let Some(hook) = &ctx.settings.options.after_connect {
                run_hook(ctx, hook);
            }
        }
        for event in self.batch.drain(..) {
            dispatch(ctx, &event);
            ctx.shared.lock().push_event(event);
        }
        if let Some(reason) = end {
            return Poll::Ready(ConnEnd::Lost(reason));
        }
        if connected_now && until_connected {
            return Poll::Ready(ConnEnd::Connected);
        }
        if again {
            // A cap was hit or the timer fired: come back soon, after other tasks.
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }

    /// Reads up to the per-wake cap; returns whether the cap was hit.
    fn read(&mut self, cx: &mut Context<'_>, session: &mut Session, clock: Clock) -> bool {
        let mut reads = 0;
        while session.state() != SessionState::Disconnected {
            match Pin::new(&mut self.stream).poll_read(cx, &mut self.read_buf) {
                Poll::Ready(Ok(0)) => {
                    session.handle_closed(clock.now());
                    return false;
                }
                Poll::Ready(Ok(n)) => {
                    session.handle_read(clock.now(), self.read_buf.get(..n).unwrap_or_default());
                    reads += 1;
                    if reads >= MAX_READS_PER_WAKE {
                        return true;
                    }
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(_)) => {
                    session.handle_closed(clock.now());
                    return false;
                }
                Poll::Pending => return false,
            }
        }
        false
    }

    /// Moves packets from the Session to the socket until either runs dry, the socket is
    /// full (the unsent tail is kept) or the cap is hit; returns whether the cap was hit.
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        session: &mut Session,
        clock: Clock,
    ) -> io::Result<bool> {
        let mut writes = 0;
        loop {
            if self.out_pos > HIGH_WATER {
                // Drop what was written so the buffer does not creep.
                self.out.drain(..self.out_pos);
                self.out_pos = 0;
            }
            while self.out.len() - self.out_pos < HIGH_WATER {
                if session.poll_transmit(clock.now(), &mut self.out).is_none() {
                    break;
                }
            }
            if self.out_pos == self.out.len() {
                self.out.clear();
                self.out_pos = 0;
                if self.needs_flush {
                    match Pin::new(&mut self.stream).poll_flush(cx) {
                        Poll::Ready(Ok(())) => self.needs_flush = false,
                        Poll::Ready(Err(e)) => return Err(e),
                        Poll::Pending => {}
                    }
                }
                return Ok(false);
            }
            if writes >= MAX_WRITES_PER_WAKE {
                return Ok(true);
            }
            let tail = self.out.get(self.out_pos..).unwrap_or_default();
            match Pin::new(&mut self.stream).poll_write(cx, tail) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    self.out_pos += n;
                    self.needs_flush = true;
                    writes += 1;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => return Err(e),
                // Keep the unsent tail: the socket wakes us when it drains.
                Poll::Pending => return Ok(false),
            }
        }
    }

    /// Makes sure a wake-up comes no later than `deadline`, and polls the timer; returns
    /// whether it fired.
    ///
    /// The timer moves only to an earlier instant. The keepalive deadlines move later with
    /// every packet sent or received, and moving an async-io timer re-registers it with the
    /// reactor (an allocation and a lock each time); an armed timer that fires before the
    /// Session's deadline only costs one early wake-up, after which it is armed anew for
    /// the deadline of that moment (the clock, not the timer, decides what is due).
    fn arm_timer(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>, clock: Clock) -> bool {
        let earlier = match (deadline, self.timer_deadline) {
            (Some(d), Some(armed)) => d < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if earlier {
            if let Some(at) = deadline.and_then(|d| clock.to_std(d)) {
                self.timer_deadline = deadline;
                self.timer.set_at(at);
            }
        }
        if self.timer_deadline.is_some() && Pin::new(&mut self.timer).poll(cx).is_ready() {
            // Fired: forget it, so the next pass arms it again for whatever is due next.
            self.timer_deadline = None;
            return true;
        }
        false
    }

    /// Sends what the Session still holds for this connection (a final DISCONNECT), within
    /// a bounded time, then closes the stream.
    async fn finish(&mut self, shared: &Shared) {
        {
            let mut inner = shared.lock();
            while inner
                .session
                .poll_transmit(shared.clock.now(), &mut self.out)
                .is_some()
            {}
        }
        let tail = self.out.get(self.out_pos..).unwrap_or_default().to_vec();
        self.out.clear();
        self.out_pos = 0;
        let stream = &mut self.stream;
        let close = async move {
            if !tail.is_empty() {
                let _ = stream.write_all(&tail).await;
            }
            let _ = stream.flush().await;
            let _ = stream.close().await;
        };
        futures_lite::future::or(close, async {
            Timer::after(CLOSE_TIMEOUT).await;
        })
        .await;
        let _ = self.stream.tcp().shutdown(std::net::Shutdown::Both);
    }
}
