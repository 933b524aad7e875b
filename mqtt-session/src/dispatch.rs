//! [`Dispatcher`]: picks the callback for an [`Event`] by the seed's rules.
//!
//! Handlers are registered per [`Command`] (the seed's `on(command, callback, condition,
//! priority)`). A handler with a [`Condition`] is *specific*; a command has at most one
//! handler without a condition, its *generic* handler. For an event of that command exactly
//! one handler is chosen:
//!
//! 1. among the specific handlers whose condition returns true, the one with the highest
//!    priority, and on a tie the one registered first;
//! 2. if no condition is true, the generic handler;
//! 3. otherwise none.
//!
//! Conditions are tried from the highest priority down and the first true one wins, so a
//! condition may not be called at all; conditions should be pure. Selection does not
//! allocate. The dispatcher is pure: it stores handlers of any type `H` and never calls
//! them itself, except through [`Dispatcher::dispatch`], which reports the handler's error
//! instead of swallowing it (the seed's loop swallowed a callback's exception).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::fmt;

use mqtt_sansio_proto::{PacketId, TopicFilter, ValueError};

use crate::event::{Command, Event};

/// A condition: true when the callback wants this event (the seed's `condition(data)`).
pub type Condition = Box<dyn Fn(&Event) -> bool + Send>;

/// Identifies a registered handler, for [`Dispatcher::remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandlerId(u64);

struct Specific<H> {
    id: HandlerId,
    command: Command,
    priority: i32,
    condition: Condition,
    handler: H,
}

struct Generic<H> {
    id: HandlerId,
    command: Command,
    handler: H,
}

/// A listener: runs for every event its condition accepts, besides the one handler the
/// seed's rule selects (connection callbacks must not compete with `on` handlers).
struct Listener<H> {
    id: HandlerId,
    condition: Condition,
    handler: H,
}

enum Slot {
    Specific(usize),
    Generic(usize),
}

/// Callback registry with the seed's selection rule: for an event, among the specific
/// handlers of its command whose [`Condition`] is true, the highest priority wins (the first
/// registered on a tie); if no condition is true, the command's generic handler runs.
///
/// `H` is whatever the caller runs: a boxed closure taking the client, a channel, a label.
///
/// ```
/// use mqtt_sansio_proto::QoS;
/// use mqtt_sansio_session::{Command, Dispatcher, Event, Message};
///
/// // The seed's example: `on(PUBLISH, print_cool_stuff, is_cool)` beside a generic callback.
/// let mut d = Dispatcher::new();
/// let is_cool = Box::new(|e: &Event| e.message().is_some_and(|m| m.topic() == "cool"));
/// d.on(Command::Publish, "print_cool_stuff", Some(is_cool), 0);
/// d.on(Command::Publish, "print_generic_stuff", None, 0);
///
/// let cool = Event::Message(Message::new("cool", b"ice", QoS::AtMostOnce, false)?);
/// let warm = Event::Message(Message::new("warm", b"tea", QoS::AtMostOnce, false)?);
/// assert_eq!(d.select(&cool), Some(&"print_cool_stuff"));
/// assert_eq!(d.select(&warm), Some(&"print_generic_stuff"));
///
/// // `dispatch` runs the chosen handler and hands back its error.
/// let ran = d.dispatch(&cool, |name, event| {
///     assert_eq!(*name, "print_cool_stuff");
///     assert_eq!(event.message().map(Message::payload), Some(&b"ice"[..]));
///     Err("disk full")
/// });
/// assert_eq!(ran, Err("disk full"));
/// assert_eq!(d.dispatch(&Event::PingResp, |_, _| Ok::<(), ()>(())), Ok(false));
/// # Ok::<(), mqtt_sansio_proto::ValueError>(())
/// ```
pub struct Dispatcher<H> {
    /// Sorted by command, then priority (highest first), then registration order.
    specific: Vec<Specific<H>>,
    /// At most one per command.
    generic: Vec<Generic<H>>,
    /// Run besides the selected handler, in registration order.
    listeners: Vec<Listener<H>>,
    /// The PUBLISH handler added by the last [`Dispatcher::on_message`].
    on_message: Option<HandlerId>,
    next_id: u64,
}

impl<H> Dispatcher<H> {
    /// An empty dispatcher.
    pub const fn new() -> Self {
        Self {
            specific: Vec::new(),
            generic: Vec::new(),
            listeners: Vec::new(),
            on_message: None,
            next_id: 0,
        }
    }

    fn next_id(&mut self) -> HandlerId {
        self.next_id = self.next_id.wrapping_add(1);
        HandlerId(self.next_id)
    }

    /// Registers `handler` for `command` (the seed's `on`). With a condition it is a specific
    /// handler; without one it becomes *the* generic handler of `command`, and the previous
    /// generic handler is dropped (use [`Dispatcher::set_generic`] to get it back).
    /// `priority` only matters among specific handlers.
    pub fn on(
        &mut self,
        command: Command,
        handler: H,
        condition: Option<Condition>,
        priority: i32,
    ) -> HandlerId {
        let Some(condition) = condition else {
            return self.set_generic(command, handler).0;
        };
        let id = self.next_id();
        self.insert_specific(id, command, handler, condition, priority);
        id
    }

    fn insert_specific(
        &mut self,
        id: HandlerId,
        command: Command,
        handler: H,
        condition: Condition,
        priority: i32,
    ) {
        let key = (command, Reverse(priority));
        // After every handler with the same key: the first registered wins a tie.
        let at = self
            .specific
            .partition_point(|s| (s.command, Reverse(s.priority)) <= key);
        self.specific.insert(
            at,
            Specific {
                id,
                command,
                priority,
                condition,
                handler,
            },
        );
    }

    /// Registers `handler` for every application message whose topic matches `filter`, at
    /// any QoS, exactly once per message: as a specific PUBLISH handler (QoS 0 and 1, and a
    /// QoS 2 message past the held-message budget) and a specific PUBREL handler (QoS 2, on
    /// release, the seed's rule), both under one id and `priority`. A condition on
    /// [`Command::Publish`] alone misses every QoS 2 message (it arrives on PUBREL); this is
    /// the registration that does not. The filter is checked now: an invalid one (or a
    /// malformed `$share/` filter) is an error and nothing is registered.
    pub fn on_topic(
        &mut self,
        filter: &str,
        handler: H,
        priority: i32,
    ) -> Result<HandlerId, ValueError>
    where
        H: Clone,
    {
        let on_publish = topic_condition(filter)?;
        let on_release = topic_condition(filter)?;
        let id = self.next_id();
        self.insert_specific(id, Command::Publish, handler.clone(), on_publish, priority);
        self.insert_specific(id, Command::PubRel, handler, on_release, priority);
        Ok(id)
    }

    /// Registers a listener: `handler` runs for every event `condition` accepts, in
    /// addition to the handler [`select`](Self::select) picks (it never takes an event away
    /// from one). For callbacks on the connection's life (connected, connection lost,
    /// session lost, publishing unblocked), including events that have no command.
    pub fn listen(&mut self, condition: Condition, handler: H) -> HandlerId {
        let id = self.next_id();
        self.listeners.push(Listener {
            id,
            condition,
            handler,
        });
        id
    }

    /// The listeners whose condition accepts `event`, in registration order.
    pub fn listeners<'a>(&'a self, event: &'a Event) -> impl Iterator<Item = &'a H> + 'a {
        self.listeners
            .iter()
            .filter(move |l| (l.condition)(event))
            .map(|l| &l.handler)
    }

    /// Makes `handler` the generic handler of `command`, returning the one it replaces.
    pub fn set_generic(&mut self, command: Command, handler: H) -> (HandlerId, Option<H>) {
        let id = self.next_id();
        match self.generic.iter_mut().find(|g| g.command == command) {
            Some(g) => {
                g.id = id;
                (id, Some(core::mem::replace(&mut g.handler, handler)))
            }
            None => {
                self.generic.push(Generic {
                    id,
                    command,
                    handler,
                });
                (id, None)
            }
        }
    }

    /// Unregisters a handler and returns it; `None` if it is not (or no longer) registered.
    pub fn remove(&mut self, id: HandlerId) -> Option<H> {
        if let Some(i) = self.specific.iter().position(|s| s.id == id) {
            let handler = self.specific.remove(i).handler;
            // An `on_topic` registration has a PUBLISH and a PUBREL entry under one id.
            self.specific.retain(|s| s.id != id);
            return Some(handler);
        }
        if let Some(i) = self.listeners.iter().position(|l| l.id == id) {
            return Some(self.listeners.remove(i).handler);
        }
        let i = self.generic.iter().position(|g| g.id == id)?;
        Some(self.generic.swap_remove(i).handler)
    }

    fn find(&self, event: &Event) -> Option<Slot> {
        let command = event.command()?;
        let start = self.specific.partition_point(|s| s.command < command);
        let same_command = self.specific.get(start..).unwrap_or_default();
        let specific = same_command
            .iter()
            .take_while(|s| s.command == command)
            .position(|s| (s.condition)(event))
            .map(|i| Slot::Specific(start + i));
        specific.or_else(|| {
            self.generic
                .iter()
                .position(|g| g.command == command)
                .map(Slot::Generic)
        })
    }

    /// The handler for `event`: among the specific handlers of the event's command
    /// ([`Event::command`]) whose condition is true, the one with the highest priority, the
    /// first registered on a tie; if no condition is true, the generic handler; else `None`.
    pub fn select(&self, event: &Event) -> Option<&H> {
        match self.find(event)? {
            Slot::Specific(i) => self.specific.get(i).map(|s| &s.handler),
            Slot::Generic(i) => self.generic.get(i).map(|g| &g.handler),
        }
    }

    /// [`Dispatcher::select`], mutably (for `FnMut` handlers).
    pub fn select_mut(&mut self, event: &Event) -> Option<&mut H> {
        match self.find(event)? {
            Slot::Specific(i) => self.specific.get_mut(i).map(|s| &mut s.handler),
            Slot::Generic(i) => self.generic.get_mut(i).map(|g| &mut g.handler),
        }
    }

    /// Runs the selected handler with `run` and reports what happened: `Ok(true)` it ran,
    /// `Ok(false)` no handler wanted the event, `Err(e)` the handler failed. The error is
    /// passed on, never swallowed (unlike the seed's loop).
    pub fn dispatch<E>(
        &mut self,
        event: &Event,
        run: impl FnOnce(&mut H, &Event) -> Result<(), E>,
    ) -> Result<bool, E> {
        match self.select_mut(event) {
            Some(handler) => run(handler, event).map(|()| true),
            None => Ok(false),
        }
    }

    /// The seed's `loop(on_message)`: `handler` is called once for every application message,
    /// whatever its QoS. It is registered as the generic PUBREL handler (a QoS 2 message is
    /// delivered on release) and as a specific PUBLISH handler with priority -1 whose condition
    /// is "the event carries a message" (so a QoS 2 PUBLISH, which carries only its id, does
    /// not trigger it; a QoS 2 message past the Session's held-message budget arrives whole
    /// as [`Event::Message`] on PUBLISH, triggers it there, and nothing follows on PUBREL, so
    /// it too is handled exactly once). A specific PUBLISH handler with a higher priority and
    /// a true condition still takes the message, as in the seed, and any specific PUBREL
    /// handler with a true condition does.
    ///
    /// Returns the ids of the PUBLISH and the PUBREL registration. Calling it again replaces
    /// both registrations (the seed calls `loop` once).
    pub fn on_message(&mut self, handler: H) -> (HandlerId, HandlerId)
    where
        H: Clone,
    {
        if let Some(old) = self.on_message.take() {
            self.remove(old);
        }
        let carries_message = Box::new(|e: &Event| e.message().is_some());
        let publish = self.on(Command::Publish, handler.clone(), Some(carries_message), -1);
        let pubrel = self.set_generic(Command::PubRel, handler).0;
        self.on_message = Some(publish);
        (publish, pubrel)
    }

    /// The number of registered handlers, specific and generic.
    pub fn len(&self) -> usize {
        self.specific.len() + self.generic.len() + self.listeners.len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.specific.is_empty() && self.generic.is_empty() && self.listeners.is_empty()
    }
}

impl<H> Default for Dispatcher<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> fmt::Debug for Dispatcher<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("specific", &self.specific.len())
            .field("generic", &self.generic.len())
            .finish()
    }
}

/// A condition true when the event carries a message whose topic matches `filter`, with
/// MQTT wildcards (`+`, `#`; a filter starting with a wildcard does not match a topic
/// starting with `$` [MQTT-4.7.2-1]). An invalid filter, or a malformed `$share/` filter,
/// is an error.
pub fn topic_condition(filter: &str) -> Result<Condition, ValueError> {
    TopicFilter::new(filter)?.check_shared_v5()?;
    let filter: Box<str> = filter.into();
    Ok(Box::new(move |event: &Event| {
        event.message().is_some_and(|m| {
            // Validated above; validating again is cheap and keeps the closure 'static.
            TopicFilter::new(&filter).is_ok_and(|f| f.matches(m.topic_name()))
        })
    }))
}

/// A condition true when the event concerns packet id `id` ([`Event::packet_id`]; the seed's
/// conditions on `mid`, e.g. the PUBACK of the publish that returned `id`).
pub fn packet_id_condition(id: PacketId) -> Condition {
    Box::new(move |event: &Event| event.packet_id() == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use alloc::vec;
    use mqtt_sansio_proto::{QoS, ReasonCode};

    fn msg(topic: &str, payload: &[u8], qos: QoS, id: u16) -> Message {
        let mut m = Message::new(topic, payload, qos, false).unwrap();
        m.packet_id = PacketId::new(id);
        m
    }

    fn publish(topic: &str) -> Event {
        Event::Message(msg(topic, b"x", QoS::AtMostOnce, 0))
    }

    fn when(f: impl Fn(&Event) -> bool + Send + 'static) -> Option<Condition> {
        Some(Box::new(f))
    }

    fn id(n: u16) -> PacketId {
        PacketId::new(n).unwrap()
    }

    /// The seed's `on()` example: `is_cool` checks for a message (a QoS 2 PUBLISH has none).
    #[test]
    fn seed_example_specific_beats_generic_and_generic_runs_when_condition_false() {
        let is_cool = |e: &Event| e.message().is_some_and(|m| m.topic() == "cool");
        let mut d = Dispatcher::new();
        d.on(Command::Publish, "print_cool_stuff", when(is_cool), 0);
        d.on(Command::Publish, "print_generic_stuff", None, 0);
        assert_eq!(d.select(&publish("cool")), Some(&"print_cool_stuff"));
        assert_eq!(d.select(&publish("not/cool")), Some(&"print_generic_stuff"));
        let qos2 = Event::Qos2Received { id: id(1) };
        assert_eq!(d.select(&qos2), Some(&"print_generic_stuff"));
        assert_eq!(d.select(&Event::PingResp), None, "no PINGRESP handler");
    }

    #[test]
    fn higher_priority_wins_regardless_of_registration_order() {
        let mut d = Dispatcher::new();
        d.on(Command::Publish, "low", when(|_| true), 1);
        d.on(Command::Publish, "high", when(|_| true), 5);
        d.on(Command::Publish, "mid", when(|_| true), 3);
        d.on(Command::Publish, "higher-but-false", when(|_| false), 9);
        assert_eq!(d.select(&publish("a")), Some(&"high"));
    }

    #[test]
    fn tie_goes_to_first_registered() {
        let mut d = Dispatcher::new();
        d.on(Command::Publish, "first", when(|_| true), 2);
        d.on(Command::Publish, "second", when(|_| true), 2);
        assert_eq!(d.select(&publish("a")), Some(&"first"));
    }

    #[test]
    fn new_generic_replaces_old() {
        let mut d = Dispatcher::new();
        let old = d.on(Command::Publish, "old", None, 0);
        d.on(Command::Publish, "new", None, 0);
        assert_eq!(d.len(), 1);
        assert_eq!(d.select(&publish("a")), Some(&"new"));
        assert_eq!(d.remove(old), None, "the replaced handler is gone");
        assert_eq!(d.set_generic(Command::Publish, "newer").1, Some("new"));
    }

    #[test]
    fn generic_runs_only_when_no_condition_is_true_and_only_for_its_command() {
        let mut d = Dispatcher::new();
        d.on(Command::Publish, "generic", None, 0);
        d.on(
            Command::Publish,
            "a-only",
            when(|e| e.message().is_some_and(|m| m.topic() == "a")),
            0,
        );
        d.on(Command::PubAck, "puback", None, 0);
        assert_eq!(d.select(&publish("a")), Some(&"a-only"));
        assert_eq!(d.select(&publish("b")), Some(&"generic"));
        let puback = Event::PubAck {
            id: id(1),
            reason: ReasonCode::Success,
            properties: Default::default(),
        };
        assert_eq!(d.select(&puback), Some(&"puback"));
        assert_eq!(
            d.select(&Event::PublishUnblocked),
            None,
            "no command, no handler"
        );
    }

    #[test]
    fn remove_unregisters_specific_and_generic() {
        let mut d = Dispatcher::new();
        let s = d.on(Command::Publish, "specific", when(|_| true), 0);
        let g = d.on(Command::Publish, "generic", None, 0);
        assert_eq!(d.remove(s), Some("specific"));
        assert_eq!(d.select(&publish("a")), Some(&"generic"));
        assert_eq!(d.remove(s), None);
        assert_eq!(d.remove(g), Some("generic"));
        assert_eq!(d.select(&publish("a")), None);
        assert!(d.is_empty());
    }

    /// Feeds events through `dispatch` and returns the names of the handlers that ran.
    fn run_all(d: &mut Dispatcher<&'static str>, events: &[Event]) -> Vec<&'static str> {
        let mut ran = Vec::new();
        for e in events {
            d.dispatch(e, |h, _| {
                ran.push(*h);
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        ran
    }

    /// The seed's `loop(on_message)`: each message once, a QoS 2 one on its PUBREL.
    #[test]
    fn on_message_gets_every_qos_exactly_once() {
        let mut d = Dispatcher::new();
        d.on_message("on_message");
        let events = [
            Event::Message(msg("t", b"0", QoS::AtMostOnce, 0)),
            Event::Message(msg("t", b"1", QoS::AtLeastOnce, 1)),
            Event::Qos2Received { id: id(2) },
            Event::MessageReleased(msg("t", b"2", QoS::ExactlyOnce, 2)),
        ];
        assert_eq!(run_all(&mut d, &events), ["on_message"; 3]);
        assert_eq!(
            d.select(&events[2]),
            None,
            "a QoS 2 PUBLISH alone does not trigger it"
        );
        // Calling it again replaces, rather than doubles, the registrations.
        d.on_message("again");
        assert_eq!(d.len(), 2);
        assert_eq!(run_all(&mut d, &events), ["again"; 3]);
    }

    /// SPEC "Exactly once, bounded": a QoS 2 message past the held-message budget is an
    /// `Event::Message` at PUBLISH and the PUBREL brings no message; `on_message` runs once.
    #[test]
    fn on_message_gets_an_overflowed_qos2_message_once_at_publish() {
        let mut d = Dispatcher::new();
        d.on_message("on_message");
        let overflowed = Event::Message(msg("t", b"2", QoS::ExactlyOnce, 2));
        assert_eq!(run_all(&mut d, &[overflowed]), ["on_message"]);
    }

    #[test]
    fn user_specific_publish_handler_with_priority_0_beats_on_message() {
        let mut d = Dispatcher::new();
        d.on_message("on_message");
        d.on(
            Command::Publish,
            "cool",
            when(|e| e.message().is_some_and(|m| m.topic() == "cool")),
            0,
        );
        d.on(Command::Publish, "below", when(|_| true), -2);
        assert_eq!(d.select(&publish("cool")), Some(&"cool"));
        assert_eq!(d.select(&publish("warm")), Some(&"on_message"));
    }

    /// Regression: the seed's loop swallowed an exception raised in a callback.
    #[test]
    fn dispatch_reports_the_handlers_error() {
        let mut d = Dispatcher::new();
        d.on(Command::Publish, "failing", None, 0);
        assert_eq!(d.dispatch(&publish("a"), |_, _| Err("boom")), Err("boom"));
        assert_eq!(
            d.dispatch(&publish("a"), |_, _| Ok::<(), &str>(())),
            Ok(true)
        );
        assert_eq!(
            d.dispatch(&Event::PingResp, |_, _| Err("never run")),
            Ok(false)
        );
    }

    #[test]
    fn dispatch_lets_handlers_keep_state() {
        let mut d = Dispatcher::new();
        d.on(Command::Publish, 0u32, None, 0);
        for _ in 0..3 {
            d.dispatch(&publish("a"), |n, _| {
                *n += 1;
                Ok::<(), ()>(())
            })
            .unwrap();
        }
        assert_eq!(d.select(&publish("a")), Some(&3));
    }

    #[test]
    fn topic_condition_follows_mqtt_wildcards() {
        let cases = [
            ("home/+/temp", "home/kitchen/temp", true),
            ("home/+/temp", "home/kitchen/hum", false),
            ("home/+/temp", "home/a/b/temp", false),
            ("home/#", "home", true),
            ("home/#", "home/a/b", true),
            ("#", "anything/at/all", true),
            ("#", "$SYS/uptime", false),
            ("+/uptime", "$SYS/uptime", false),
            ("$SYS/#", "$SYS/uptime", true),
            ("$SYS/+", "$SYS/uptime", true),
            ("$share/group/home/+", "home/x", true),
        ];
        for (filter, topic, expected) in cases {
            let c = topic_condition(filter).unwrap();
            assert_eq!(c(&publish(topic)), expected, "{filter} vs {topic}");
            let released = Event::MessageReleased(msg(topic, b"", QoS::ExactlyOnce, 3));
            assert_eq!(c(&released), expected, "{filter} vs {topic} on PUBREL");
        }
        let any = topic_condition("#").unwrap();
        assert!(
            !any(&Event::Qos2Received { id: id(3) }),
            "no message, no match"
        );
    }

    #[test]
    fn topic_condition_rejects_invalid_filters() {
        for bad in [
            "",
            "a/#/b",
            "a/b#",
            "a+/b",
            "a\0b",
            "$share/",
            "$share/g+/a",
            "$share/g",
        ] {
            assert!(topic_condition(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn packet_id_condition_matches_only_that_id() {
        let c = packet_id_condition(id(7));
        let puback = |n| Event::PubAck {
            id: id(n),
            reason: ReasonCode::Success,
            properties: Default::default(),
        };
        let suback = |n| Event::SubAck {
            id: id(n),
            results: vec![ReasonCode::GrantedQoS1].into(),
            properties: Default::default(),
        };
        assert!(c(&puback(7)));
        assert!(c(&suback(7)));
        assert!(!c(&puback(8)));
        assert!(!c(&suback(6)));
        assert!(!c(&Event::PingResp));
        // Used as the seed uses `mid`: a callback for one publish's PUBACK.
        let mut d = Dispatcher::new();
        d.on(Command::PubAck, "mine", Some(c), 0);
        assert_eq!(d.select(&puback(7)), Some(&"mine"));
        assert_eq!(d.select(&puback(8)), None);
    }

    /// Issue 16: `on_topic` takes each matching message once at every QoS (QoS 2 on its
    /// PUBREL, the seed's rule), never a non-matching one, and beats `on_message`.
    #[test]
    fn on_topic_gets_every_qos_once_and_only_matching_topics() {
        let mut d = Dispatcher::new();
        d.on_message("fallback");
        let temp = d.on_topic("sensors/+/temp", "temp", 0).unwrap();
        let events = [
            Event::Message(msg("sensors/a/temp", b"0", QoS::AtMostOnce, 0)),
            Event::Message(msg("sensors/a/temp", b"1", QoS::AtLeastOnce, 1)),
            Event::Qos2Received { id: id(2) },
            Event::MessageReleased(msg("sensors/a/temp", b"2", QoS::ExactlyOnce, 2)),
            Event::Message(msg("sensors/a/hum", b"0", QoS::AtMostOnce, 0)),
            Event::MessageReleased(msg("sensors/a/hum", b"2", QoS::ExactlyOnce, 3)),
        ];
        assert_eq!(
            run_all(&mut d, &events),
            ["temp", "temp", "temp", "fallback", "fallback"]
        );
        // One id removes both the PUBLISH and the PUBREL entry.
        assert_eq!(d.remove(temp), Some("temp"));
        assert_eq!(run_all(&mut d, &events[..4]), ["fallback"; 3]);
    }

    /// A shared subscription's messages arrive on the topic after `$share/<group>/` (5.0
    /// §4.8.2): an `on_topic` handler for the shared filter gets them.
    #[test]
    fn on_topic_with_a_shared_filter_matches_the_delivered_topic() {
        let mut d = Dispatcher::new();
        d.on_message("fallback");
        d.on_topic("$share/workers/jobs/+", "jobs", 0).unwrap();
        let events = [
            Event::Message(msg("jobs/1", b"a", QoS::AtLeastOnce, 1)),
            Event::MessageReleased(msg("jobs/2", b"b", QoS::ExactlyOnce, 2)),
            Event::Message(msg("workers/jobs/3", b"c", QoS::AtMostOnce, 0)),
        ];
        assert_eq!(run_all(&mut d, &events), ["jobs", "jobs", "fallback"]);
        assert!(d.on_topic("$share/no-filter", "bad", 0).is_err());
    }

    #[test]
    fn on_topic_checks_the_filter_at_registration() {
        let mut d: Dispatcher<&str> = Dispatcher::new();
        assert!(d.on_topic("a/#/b", "bad", 0).is_err());
        assert!(d.on_topic("a+", "bad", 0).is_err());
        assert!(d.is_empty(), "nothing registered for an invalid filter");
    }

    /// Listeners run besides the selected handler, also for events without a command.
    #[test]
    fn listeners_run_besides_the_selected_handler() {
        let puback = |n| Event::PubAck {
            id: id(n),
            reason: ReasonCode::Success,
            properties: Default::default(),
        };
        let mut d = Dispatcher::new();
        d.on(Command::PubAck, "generic", None, 0);
        let l = d.listen(
            Box::new(|e: &Event| matches!(e, Event::PublishUnblocked | Event::PubAck { .. })),
            "listener",
        );
        let unblocked = Event::PublishUnblocked;
        assert_eq!(d.listeners(&unblocked).collect::<Vec<_>>(), [&"listener"]);
        assert_eq!(d.select(&puback(1)), Some(&"generic"));
        assert_eq!(d.listeners(&puback(1)).count(), 1);
        assert_eq!(d.listeners(&Event::PingResp).count(), 0);
        assert_eq!(d.remove(l), Some("listener"));
        assert_eq!(d.listeners(&unblocked).count(), 0);
    }
}
