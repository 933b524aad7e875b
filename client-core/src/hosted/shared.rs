//! [`Shared`]: the state one client's handles, its I/O loop and its event consumers share.
//!
//! One lock holds the [`ClientCore`], the completion slots and the event queue; callbacks
//! and hooks never run under it (they may call back into the client).

use std::boxed::Box;
use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::string::{String, ToString};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread, ThreadId};
use std::time::Duration;
use std::vec::Vec;

use mqtt_sansio_session::{Command, Dispatcher, Event, Instant};

use super::clock::StdClock;
use super::error::ClientError;
use super::options::{ClientOptions, Connected, Hooks, Reconnecting, SockKeepalive};
use crate::completion::{Completion, Failure, StopReason, Token};
use crate::core::{ClientCore, CommandError};

/// What a callback returns: an error is reported (see
/// [`Shared::take_callback_failures`]), never swallowed, and the client goes on.
pub type CallbackResult = Result<(), Box<dyn StdError + Send + Sync>>;

/// A registered callback of client type `C`.
pub type Callback<C> = Arc<Mutex<dyn FnMut(&C, &Event) -> CallbackResult + Send>>;

/// Callback failures kept for `take_callback_failures`; older ones are dropped.
pub const MAX_CALLBACK_FAILURES: usize = 100;

/// A callback or hook that failed: it returned an error or panicked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackFailure {
    /// The command of the event being dispatched (`None` for a hook).
    pub command: Option<Command>,
    /// The error's or the panic's message.
    pub message: String,
    /// Whether it panicked (rather than returned an error).
    pub panicked: bool,
}

/// Locks, recovering from poisoning: callbacks never run under these locks, so a poisoned
/// lock only means a panic elsewhere, and the data is still consistent.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a blocking receive returned no event: nothing came in time, or no event will ever
/// come (the client closed and every event was taken, or another consumer took over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvError {
    /// Nothing came within the timeout; the client is still running, try again.
    Timeout,
    /// The client closed (or another consumer claimed the events): stop receiving.
    Closed,
}

impl core::fmt::Display for RecvError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Timeout => "no event within the timeout",
            Self::Closed => "the client closed",
        })
    }
}

impl StdError for RecvError {}

/// Who consumes the event queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Nobody claimed the events yet: keep the newest `event_capacity` (older ones are
    /// dropped, so a callbacks-only program never stalls).
    Unclaimed,
    /// A consumer is alive: lossless, and reading pauses while it is `event_capacity`
    /// behind (backpressure).
    Alive,
    /// The consumer went away: events go to callbacks only.
    Dropped,
}

#[derive(Default)]
struct Slot {
    outcome: Option<Completion>,
    waker: Option<Waker>,
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker that unparks the calling thread. One per thread, made on its first wait and
/// cloned after (a reference count), so that a blocking wait, or polling for an event with
/// a zero timeout after every publish, allocates nothing (issue 14).
pub(crate) fn thread_waker() -> Waker {
    std::thread_local! {
        static WAKER: Waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    }
    WAKER
        .try_with(Waker::clone)
        // The thread is being torn down (a wait from a thread-local destructor).
        .unwrap_or_else(|_| Waker::from(Arc::new(ThreadWaker(thread::current()))))
}

/// The state under the client's one lock.
pub struct SharedState {
    /// The sans-IO core.
    pub core: ClientCore,
    /// The TCP keepalive read back when the latest connection opened (`None`: no
    /// connection yet).
    pub socket_keepalive: Option<Result<Option<SockKeepalive>, io::ErrorKind>>,
    /// The thread running the I/O loop and callbacks (blocking client), where waiting for
    /// a completion would deadlock.
    pub io_thread: Option<ThreadId>,
    /// The last I/O error, for the caller of the first connect.
    pub io_error: Option<io::Error>,
    slots: HashMap<u64, Slot>,
    events: VecDeque<Event>,
    event_capacity: usize,
    stream_state: StreamState,
    stream_generation: u64,
    stream_waker: Option<Waker>,
    failures: VecDeque<CallbackFailure>,
    io_waker: Option<Waker>,
    /// The I/O loop was woken and has not started its next turn yet (see `wake_io`).
    io_wake_pending: Cell<bool>,
    room_wakers: Vec<Waker>,
    close_wakers: Vec<Waker>,
    closed: Option<StopReason>,
    pub(crate) requests: super::request::Requests,
}

impl SharedState {
    /// Wakes the I/O loop (a command changed what it must do).
    ///
    /// Once per turn of the loop: after one wake-up, further commands do not wake it again
    /// until the loop reports with [`io_running`](Self::io_running) (or
    /// [`set_io_waker`](Self::set_io_waker)) that it runs and will look at the state. A
    /// publisher faster than the loop then costs one wake-up (a system call, often a context
    /// switch) per turn of the loop, not per message (issue 14). Nothing is missed: the flag
    /// is cleared, under this lock, before the loop reads what the commands changed, and any
    /// command after that wakes it again.
    pub fn wake_io(&self) {
        if let Some(w) = &self.io_waker {
            if !self.io_wake_pending.replace(true) {
                w.wake_by_ref();
            }
        }
    }

    /// Called by the I/O loop, under the lock, at the start of every turn, before it looks
    /// at the core: the next [`wake_io`](Self::wake_io) wakes it again.
    pub fn io_running(&self) {
        self.io_wake_pending.set(false);
    }

    /// The waker of the I/O loop; the loop is running (as with
    /// [`io_running`](Self::io_running)).
    pub fn set_io_waker(&mut self, waker: &Waker) {
        self.io_wake_pending.set(false);
        match &self.io_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.io_waker = Some(waker.clone()),
        }
    }

    /// Why the client stopped, once it did.
    pub fn closed(&self) -> Option<&StopReason> {
        self.closed.as_ref()
    }

    /// Whether the I/O loop should stop reading: the event consumer is behind, or (manual
    /// acknowledgements, 3.1.1) the application holds a whole window of unacknowledged
    /// messages (see `Session::wants_read`).
    pub fn read_paused(&self) -> bool {
        (self.stream_state == StreamState::Alive && self.events.len() >= self.event_capacity)
            || !self.core.session().wants_read()
    }

    /// Moves finished commands from the core to their waiters, and events to the queue;
    /// returns copies of the events for callbacks. Call after every step of the I/O loop.
    /// (The clients' loops use [`settle_unqueued_into`](Self::settle_unqueued_into), which
    /// copies nothing.)
    pub fn settle(&mut self) -> Vec<Event> {
        let events = self.settle_unqueued();
        for event in &events {
            self.push_event(event.clone());
        }
        events
    }

    /// As [`settle`](Self::settle), but the events are not queued yet: the I/O loop hands
    /// them to the callbacks first ([`Shared::deliver`]) and then to
    /// [`queue_events`](Self::queue_events), so a consumer of the queue sees an event only
    /// after its callback ran (what the async client promised before the shared layer).
    pub fn settle_unqueued(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        self.settle_unqueued_into(&mut out);
        out
    }

    /// As [`settle_unqueued`](Self::settle_unqueued), into `out` (appended): an I/O loop
    /// that keeps one buffer across its turns allocates nothing per turn here, and each
    /// event is moved, never copied (issue 14).
    pub fn settle_unqueued_into(&mut self, out: &mut Vec<Event>) {
        self.settle_completions();
        while let Some(event) = self.core.poll_event() {
            if matches!(event, Event::PublishUnblocked) {
                for w in self.room_wakers.drain(..) {
                    w.wake();
                }
            }
            if self.requests.take_reply(&event) {
                continue;
            }
            out.push(event);
        }
    }

    /// Queues events taken with [`settle_unqueued`](Self::settle_unqueued) (or
    /// [`settle_unqueued_into`](Self::settle_unqueued_into)), in order; pass
    /// `buffer.drain(..)` to keep the buffer for the next turn.
    pub fn queue_events(&mut self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.push_event(event);
        }
    }

    /// Whether a consumer reads the event queue (`next_event` / `events` / the stream was
    /// claimed and is alive): what it takes there it has seen.
    pub fn events_consumed(&self) -> bool {
        self.stream_state == StreamState::Alive
    }

    fn settle_completions(&mut self) {
        while let Some((token, completion)) = self.core.poll_completion() {
            // Nobody registered for it (a publish whose id was all the caller wanted).
            if let Some(slot) = self.slots.get_mut(&token.seq()) {
                slot.outcome = Some(completion);
                if let Some(w) = slot.waker.take() {
                    w.wake();
                }
            }
        }
    }

    fn push_event(&mut self, event: Event) {
        match self.stream_state {
            StreamState::Dropped => {}
            StreamState::Unclaimed => {
                if self.events.len() >= self.event_capacity {
                    self.events.pop_front();
                }
                self.events.push_back(event);
            }
            StreamState::Alive => {
                self.events.push_back(event);
                if let Some(w) = self.stream_waker.take() {
                    w.wake();
                }
            }
        }
    }

    /// The I/O loop ended: every waiter fails with `reason`, the stream ends.
    pub fn close(&mut self, reason: StopReason) {
        self.settle_completions();
        self.closed = Some(reason.clone());
        for slot in self.slots.values_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Completion::Failed(Failure::Stopped(reason.clone())));
            }
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        for w in self.room_wakers.drain(..) {
            w.wake();
        }
        if let Some(w) = self.stream_waker.take() {
            w.wake();
        }
        for w in self.close_wakers.drain(..) {
            w.wake();
        }
        self.requests.wake_all();
    }
}

/// The state one client's handles, its I/O loop and its event consumers share; `C` is the
/// client type callbacks receive.
pub struct Shared<C> {
    state: Mutex<SharedState>,
    dispatcher: Mutex<Dispatcher<Callback<C>>>,
    clock: StdClock,
    hooks: Hooks,
}

impl<C> Shared<C> {
    /// A client that has not connected; the options are checked now. `seed` is the backoff
    /// jitter's seed (transports draw it from the operating system).
    pub fn new(options: &ClientOptions, seed: u64) -> Result<Self, ClientError> {
        let mut core = ClientCore::new(options.core().clone(), seed)?;
        if let Some(store) = options.take_session_store() {
            if let Err(e) = core.attach_store(store) {
                options.session_store_failed(e.clone());
                return Err(ClientError::Store(e));
            }
        }
        Ok(Self {
            state: Mutex::new(SharedState {
                core,
                socket_keepalive: None,
                io_thread: None,
                io_error: None,
                slots: HashMap::new(),
                events: VecDeque::new(),
                event_capacity: options.core().event_capacity.max(1),
                stream_state: StreamState::Unclaimed,
                stream_generation: 0,
                stream_waker: None,
                failures: VecDeque::new(),
                io_waker: None,
                io_wake_pending: Cell::new(false),
                room_wakers: Vec::new(),
                close_wakers: Vec::new(),
                closed: None,
                requests: Default::default(),
            }),
            dispatcher: Mutex::new(Dispatcher::new()),
            clock: StdClock::new(),
            hooks: options.hooks().clone(),
        })
    }

    /// The state, locked.
    pub fn lock(&self) -> MutexGuard<'_, SharedState> {
        lock(&self.state)
    }

    /// The callbacks, locked.
    pub fn dispatcher(&self) -> MutexGuard<'_, Dispatcher<Callback<C>>> {
        lock(&self.dispatcher)
    }

    /// The client's clock.
    pub fn clock(&self) -> &StdClock {
        &self.clock
    }

    /// The client's hooks.
    pub fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Runs `f` on the core at the current time under the lock, then wakes the I/O loop.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut ClientCore, Instant) -> R) -> R {
        let mut st = self.lock();
        let now = self.clock.now();
        let r = f(&mut st.core, now);
        st.wake_io();
        r
    }

    /// Runs a command that yields a token; with `register`, its completion is kept for
    /// [`wait`](Self::wait) / [`poll_completion`](Self::poll_completion). Refused with
    /// [`ClientError::Closed`] once the client stopped.
    pub fn command(
        &self,
        register: bool,
        f: impl FnOnce(&mut ClientCore, Instant) -> Result<Token, CommandError>,
    ) -> Result<Token, ClientError> {
        let mut st = self.lock();
        if st.closed.is_some() {
            return Err(ClientError::Closed);
        }
        let now = self.clock.now();
        let token = f(&mut st.core, now)?;
        if register {
            st.slots.insert(token.seq(), Slot::default());
        }
        st.settle_completions();
        st.wake_io();
        Ok(token)
    }

    /// Keeps the completion of `token` for a later wait (a command run with `register`
    /// false whose caller decided to wait after all; a completion that already came is
    /// lost, so register at the command when possible).
    pub fn register(&self, token: Token) {
        self.lock().slots.entry(token.seq()).or_default();
    }

    /// Waits (blocking the thread) until `token` completes, or `timeout` passes; after a
    /// timeout the token can be waited on again.
    pub fn wait(&self, token: Token, timeout: Option<Duration>) -> Result<Completion, ClientError> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let waker = thread_waker();
        loop {
            {
                let mut st = self.lock();
                if st.io_thread == Some(thread::current().id()) {
                    st.slots.remove(&token.seq());
                    return Err(ClientError::WouldDeadlock);
                }
                let Some(slot) = st.slots.get_mut(&token.seq()) else {
                    return Err(ClientError::Closed);
                };
                if let Some(c) = slot.outcome.take() {
                    st.slots.remove(&token.seq());
                    return Ok(c);
                }
                slot.waker = Some(waker.clone());
            }
            match deadline {
                None => thread::park(),
                Some(d) => {
                    let now = std::time::Instant::now();
                    if now >= d {
                        // The slot stays: a caller may wait again (a blocking client polls
                        // with short timeouts), and a completion that comes meanwhile is
                        // kept for that wait.
                        return Err(ClientError::Timeout);
                    }
                    thread::park_timeout(d - now);
                }
            }
        }
    }

    /// Polls the completion of `token` (async).
    pub fn poll_completion(&self, token: Token, cx: &mut Context<'_>) -> Poll<Completion> {
        let mut st = self.lock();
        let closed = st.closed.clone();
        let Some(slot) = st.slots.get_mut(&token.seq()) else {
            let reason = closed.unwrap_or(StopReason::Disconnected);
            return Poll::Ready(Completion::Failed(Failure::Stopped(reason)));
        };
        if let Some(c) = slot.outcome.take() {
            st.slots.remove(&token.seq());
            return Poll::Ready(c);
        }
        slot.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Drops the slot of `token` (its future was dropped).
    pub fn forget(&self, token: Token) {
        self.lock().slots.remove(&token.seq());
    }

    /// Claims the event queue for a new consumer; the previous one ends. Returns the
    /// consumer's generation.
    pub fn claim_events(&self) -> u64 {
        let mut st = self.lock();
        st.stream_generation = st.stream_generation.wrapping_add(1);
        if st.stream_state == StreamState::Dropped {
            st.events.clear();
        }
        st.stream_state = StreamState::Alive;
        if let Some(w) = st.stream_waker.take() {
            w.wake();
        }
        st.wake_io(); // reading may resume
        st.stream_generation
    }

    /// The consumer of `generation` went away: events go to callbacks only.
    pub fn release_events(&self, generation: u64) {
        let mut st = self.lock();
        if st.stream_generation == generation {
            st.stream_state = StreamState::Dropped;
            st.events.clear();
            st.stream_waker = None;
            st.wake_io();
        }
    }

    /// The next event for the consumer of `generation`; `None` once it was replaced or the
    /// client closed and the queue is empty.
    pub fn poll_next_event(&self, generation: u64, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut st = self.lock();
        if st.stream_generation != generation {
            return Poll::Ready(None);
        }
        if let Some(e) = st.events.pop_front() {
            if st.events.len() + 1 == st.event_capacity {
                st.wake_io(); // it was paused on a full queue
            }
            return Poll::Ready(Some(e));
        }
        if st.closed.is_some() {
            return Poll::Ready(None);
        }
        st.stream_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Blocks until an event of the consumer `generation` is there, or `timeout` passes;
    /// unlike [`next_event`](Self::next_event) it tells a timeout from the end.
    pub fn recv_event(&self, generation: u64, timeout: Duration) -> Result<Event, RecvError> {
        let deadline = std::time::Instant::now() + timeout;
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(e) = self.poll_next_event(generation, &mut cx) {
                return e.ok_or(RecvError::Closed);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(RecvError::Timeout);
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// The completion of `token` if it came, without blocking (`None`: not yet). A token
    /// not registered, or whose completion was already taken, reads as stopped.
    pub fn try_completion(&self, token: Token) -> Option<Completion> {
        let mut st = self.lock();
        let closed = st.closed.clone();
        let Some(slot) = st.slots.get_mut(&token.seq()) else {
            let reason = closed.unwrap_or(StopReason::Disconnected);
            return Some(Completion::Failed(Failure::Stopped(reason)));
        };
        let outcome = slot.outcome.take()?;
        st.slots.remove(&token.seq());
        Some(outcome)
    }

    /// Blocks until an event of the consumer `generation` is there, or `timeout` passes.
    pub fn next_event(&self, generation: u64, timeout: Duration) -> Option<Event> {
        let deadline = std::time::Instant::now() + timeout;
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(e) = self.poll_next_event(generation, &mut cx) {
                return e;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// Registers a waker for room in the publish queue (after `QueueFull`).
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.lock();
        if st.closed.is_some() || st.core.can_publish(mqtt_sansio_proto::QoS::AtMostOnce) {
            return Poll::Ready(());
        }
        st.room_wakers.push(cx.waker().clone());
        Poll::Pending
    }

    /// Whether the I/O loop ended; registers `cx` to hear when it does.
    pub fn poll_closed(&self, cx: &mut Context<'_>) -> Poll<StopReason> {
        let mut st = self.lock();
        match &st.closed {
            Some(r) => Poll::Ready(r.clone()),
            None => {
                st.close_wakers.push(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Blocks until the I/O loop ended, or `timeout` passes.
    pub fn wait_closed(&self, timeout: Duration) -> Option<StopReason> {
        let deadline = std::time::Instant::now() + timeout;
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = self.poll_closed(&mut cx) {
                return Some(r);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// Records a callback failure (the newest [`MAX_CALLBACK_FAILURES`] are kept).
    pub fn push_failure(&self, failure: CallbackFailure) {
        let mut st = self.lock();
        if st.failures.len() >= MAX_CALLBACK_FAILURES {
            st.failures.pop_front();
        }
        st.failures.push_back(failure);
    }

    /// Callback failures since the last call, oldest first.
    pub fn take_callback_failures(&self) -> Vec<CallbackFailure> {
        self.lock().failures.drain(..).collect()
    }

    /// Runs the hooks due before dialling for `action`: `before_reconnect` when it is a
    /// reconnection, then `before_connect` (every CONNECT, the first included). Call it on
    /// every [`Action::Open`](crate::Action::Open) before dialling, outside the lock.
    pub fn before_open(&self, action: &crate::Action) {
        let crate::Action::Open {
            attempt, reconnect, ..
        } = action
        else {
            return;
        };
        if *reconnect {
            let reason = self.lock().core.last_disconnect();
            self.run_before_reconnect(&Reconnecting {
                attempt: *attempt,
                reason,
            });
        }
        self.run_before_connect();
    }

    /// Blocks until a QoS 0 publish would be accepted (room after `QueueFull`), the client
    /// closed, or `timeout` passed; returns whether there is room.
    pub fn wait_room(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let waker = thread_waker();
        let mut cx = Context::from_waker(&waker);
        loop {
            if self.poll_room(&mut cx).is_ready() {
                return self.lock().closed.is_none();
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return false;
            }
            thread::park_timeout(deadline - now);
        }
    }

    /// Runs the `before_connect` hook on the next CONNECT's credentials and will, outside
    /// the lock, and applies what it changed.
    pub fn run_before_connect(&self) {
        let Some(hook) = self.hooks.before_connect.clone() else {
            return;
        };
        let mut update = self.lock().core.connect_update();
        let r = catch_unwind(AssertUnwindSafe(|| (lock(&hook))(&mut update)));
        match r {
            Ok(()) => self.lock().core.apply_connect_update(update),
            Err(p) => self.hook_panicked("before_connect", p),
        }
    }

    /// Runs the `before_reconnect` hook.
    pub fn run_before_reconnect(&self, info: &Reconnecting) {
        if let Some(hook) = self.hooks.before_reconnect.clone() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| (lock(&hook))(info))) {
                self.hook_panicked("before_reconnect", p);
            }
        }
    }

    /// Runs the `after_connect` hook.
    pub fn run_after_connect(&self, info: &Connected) {
        if let Some(hook) = self.hooks.after_connect.clone() {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| (lock(&hook))(info))) {
                self.hook_panicked("after_connect", p);
            }
        }
    }

    fn hook_panicked(&self, which: &str, panic: Box<dyn std::any::Any + Send>) {
        self.push_failure(CallbackFailure {
            command: None,
            message: std::format!("the {which} hook panicked: {}", panic_message(&panic)),
            panicked: true,
        });
    }

    /// Whether no callback or listener is registered at all.
    pub fn no_callbacks(&self) -> bool {
        self.dispatcher().is_empty()
    }

    /// Whether [`deliver`](Self::deliver) has anything to run: a callback, or the
    /// `after_connect` hook on a `Connected` among `events`.
    pub fn wants_delivery(&self, events: &[Event]) -> bool {
        (self.hooks.after_connect.is_some()
            && events.iter().any(|e| matches!(e, Event::Connected { .. })))
            || !self.no_callbacks()
    }

    /// Runs the callback the dispatcher selects for `event`, outside every lock, reporting
    /// errors and panics. Listeners (connection callbacks) run first, then the selected callback.
    pub fn dispatch(&self, client: &C, event: &Event) {
        let (listeners, selected) = {
            let d = self.dispatcher();
            let listeners: Vec<Callback<C>> = d.listeners(event).cloned().collect();
            (listeners, d.select(event).cloned())
        };
        for cb in listeners.iter().chain(selected.as_ref()) {
            self.run_callback(cb, client, event);
        }
    }

    fn run_callback(&self, cb: &Callback<C>, client: &C, event: &Event) {
        let result = catch_unwind(AssertUnwindSafe(|| (lock(cb))(client, event)));
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(e)) => CallbackFailure {
                command: event.command(),
                message: e.to_string(),
                panicked: false,
            },
            Err(panic) => CallbackFailure {
                command: event.command(),
                message: panic_message(&panic),
                panicked: true,
            },
        };
        self.push_failure(failure);
    }

    /// Hands settled events to the hooks and callbacks: `after_connect` runs on each
    /// `Connected` before that event is dispatched.
    pub fn deliver(&self, client: &C, events: &[Event]) {
        for event in events {
            if let Event::Connected {
                session_present,
                properties,
            } = event
            {
                self.run_after_connect(&Connected {
                    session_present: *session_present,
                    properties: (**properties).clone(),
                });
            }
            self.dispatch(client, event);
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into())
}
