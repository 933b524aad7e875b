//! State shared by the client handles, the driver and the event stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;

use mqtt_proto::{PacketId, ReasonCode};
use mqtt_session::{DisconnectReason, Dispatcher, Event, Session};
use smallvec::SmallVec;

use crate::client::{Callback, CallbackFailure, PublishOutcome, SockKeepalive};
use crate::clock::Clock;
use crate::error::Failure;

/// Events waiting for the [`EventStream`](crate::EventStream); past this the driver stops
/// reading from the socket (backpressure), or, while no stream was ever taken, drops the oldest.
pub(crate) const MAX_PENDING_EVENTS: usize = 4096;

pub(crate) struct Shared {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) dispatcher: Mutex<Dispatcher<Callback>>,
    pub(crate) clock: Clock,
}

pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Callbacks never run under these locks; recover from poisoning all the same.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn new(session: Session) -> Self {
        Self {
            inner: Mutex::new(Inner::new(session)),
            dispatcher: Mutex::new(Dispatcher::new()),
            clock: Clock::new(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }
}

/// What a completion future is waiting for.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    Publish(PublishOutcome),
    Acks(SmallVec<[ReasonCode; 4]>),
    Failed(Failure),
}

#[derive(Default)]
pub(crate) struct Slot {
    pub(crate) outcome: Option<Outcome>,
    pub(crate) waker: Option<Waker>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// No [`EventStream`](crate::EventStream) taken yet: keep the newest events.
    Unclaimed,
    /// A stream is alive: lossless, with backpressure.
    Alive,
    /// The stream was dropped: events go to callbacks only.
    Dropped,
}

pub(crate) struct Inner {
    pub(crate) session: Session,
    pub(crate) driver_waker: Option<Waker>,

    pub(crate) events: VecDeque<Event>,
    pub(crate) stream_state: StreamState,
    pub(crate) stream_generation: u64,
    pub(crate) stream_waker: Option<Waker>,

    /// Packet identifier in flight -> token of the completion waiting for it.
    pub(crate) acks: HashMap<PacketId, u64>,
    pub(crate) slots: HashMap<u64, Slot>,
    pub(crate) next_token: u64,
    pub(crate) room_wakers: Vec<Waker>,

    /// `disconnect` was called, or every client handle was dropped.
    pub(crate) stop: bool,
    /// DISCONNECT was queued for `stop`.
    pub(crate) disconnect_sent: bool,
    /// `reconnect` was called.
    pub(crate) reconnect_now: bool,
    /// The driver ended (or was dropped); nothing will happen any more.
    pub(crate) closed: bool,
    pub(crate) close_wakers: Vec<Waker>,

    pub(crate) failures: VecDeque<CallbackFailure>,
    pub(crate) last_disconnect: Option<DisconnectReason>,
    pub(crate) session_present: bool,
    /// The TCP keepalive read back from the latest connection's socket when it was opened
    /// (`None`: no connection yet). Kept as values, not as a duplicate of the socket: a
    /// duplicate descriptor would hold the connection open after the driver is dropped.
    pub(crate) socket_keepalive: Option<Result<Option<SockKeepalive>, std::io::ErrorKind>>,
}

impl Inner {
    fn new(session: Session) -> Self {
        Self {
            session,
            driver_waker: None,
            events: VecDeque::new(),
            stream_state: StreamState::Unclaimed,
            stream_generation: 0,
            stream_waker: None,
            acks: HashMap::new(),
            slots: HashMap::new(),
            next_token: 0,
            room_wakers: Vec::new(),
            stop: false,
            disconnect_sent: false,
            reconnect_now: false,
            closed: false,
            close_wakers: Vec::new(),
            failures: VecDeque::new(),
            last_disconnect: None,
            session_present: false,
            socket_keepalive: None,
        }
    }

    pub(crate) fn wake_driver(&self) {
        if let Some(w) = &self.driver_waker {
            w.wake_by_ref();
        }
    }

    pub(crate) fn set_driver_waker(&mut self, waker: &Waker) {
        match &self.driver_waker {
            Some(w) if w.will_wake(waker) => {}
            _ => self.driver_waker = Some(waker.clone()),
        }
    }

    /// A new completion slot; with `id`, the ack for that packet completes it.
    pub(crate) fn new_slot(&mut self, id: Option<PacketId>, outcome: Option<Outcome>) -> u64 {
        self.next_token = self.next_token.wrapping_add(1);
        let token = self.next_token;
        self.slots.insert(
            token,
            Slot {
                outcome,
                waker: None,
            },
        );
        if let Some(id) = id {
            self.acks.insert(id, token);
        }
        token
    }

    fn complete(&mut self, id: PacketId, outcome: Outcome) {
        let Some(token) = self.acks.remove(&id) else {
            return;
        };
        // The slot is gone if its future was dropped: it was only a waiter.
        if let Some(slot) = self.slots.get_mut(&token) {
            slot.outcome = Some(outcome);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }

    /// Settles completions for `event` and records what the client reports.
    pub(crate) fn note_event(&mut self, event: &Event) {
        match event {
            Event::PubAck { id, reason, .. } | Event::PubComp { id, reason, .. } => {
                let outcome = if reason.is_error() {
                    PublishOutcome::Rejected(*reason)
                } else {
                    PublishOutcome::Acknowledged(*reason)
                };
                self.complete(*id, Outcome::Publish(outcome));
            }
            Event::PubRec { id, reason, .. } if reason.is_error() => {
                self.complete(*id, Outcome::Publish(PublishOutcome::Rejected(*reason)));
            }
            Event::SubAck { id, results, .. } | Event::UnsubAck { id, results, .. } => {
                self.complete(*id, Outcome::Acks(results.clone()));
            }
            Event::SessionLost { .. } => {
                // QoS 2 messages the broker had received but not completed are forgotten by
                // the Session: their identifiers are free now.
                let gone: Vec<PacketId> = self
                    .acks
                    .keys()
                    .copied()
                    .filter(|id| !self.session.is_packet_id_in_use(*id))
                    .collect();
                for id in gone {
                    self.complete(id, Outcome::Failed(Failure::SessionLost));
                }
            }
            Event::PublishUnblocked => self.wake_room(),
            Event::Disconnected { reason, .. } => self.last_disconnect = Some(*reason),
            Event::Connected {
                session_present, ..
            } => self.session_present = *session_present,
            _ => {}
        }
    }

    pub(crate) fn wake_room(&mut self) {
        for w in self.room_wakers.drain(..) {
            w.wake();
        }
    }

    /// Queues `event` for the stream according to its state.
    pub(crate) fn push_event(&mut self, event: Event) {
        match self.stream_state {
            StreamState::Dropped => {}
            StreamState::Unclaimed => {
                if self.events.len() >= MAX_PENDING_EVENTS {
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

    /// Whether the driver should stop reading: the stream's consumer is behind.
    pub(crate) fn read_paused(&self) -> bool {
        self.stream_state == StreamState::Alive && self.events.len() >= MAX_PENDING_EVENTS
    }

    /// The driver is gone: fail every waiter and end the stream.
    pub(crate) fn close(&mut self, failure: Failure) {
        self.closed = true;
        self.acks.clear();
        for slot in self.slots.values_mut() {
            if slot.outcome.is_none() {
                slot.outcome = Some(Outcome::Failed(failure));
            }
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
        self.wake_room();
        if let Some(w) = self.stream_waker.take() {
            w.wake();
        }
        for w in self.close_wakers.drain(..) {
            w.wake();
        }
    }
}
