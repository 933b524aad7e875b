//! The std layer: one options type with client defaults, hooks that take context values,
//! events to callbacks and to a claimed queue, waits by token, and `client_api!`.
#![cfg(feature = "std")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mqtt_sansio_client::{
    client_api, Action, ClientError, ClientOptions, Completion, PublishOutcome, Shared, Token,
};
use mqtt_sansio_proto::{
    decode, Ack, ConnAck, Limits, Packet, PacketId, Properties, ProtocolVersion, QoS, ReasonCode,
};
use mqtt_sansio_session::{Command, Event};

/// A client with only the shared API; its publish waits by token like the async client's.
struct TestClient {
    shared: Arc<Shared<Self>>,
}

client_api! {
    client = TestClient,
    shared = |c| &c.shared,
    publish(register = true) = |_c, token| -> Token { token },
    subscribe(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
    unsubscribe(register = false) = |_c, token| -> Option<PacketId> { token.packet_id() },
}

fn client(options: ClientOptions) -> TestClient {
    TestClient {
        shared: Arc::new(Shared::new(&options, 1).unwrap()),
    }
}

fn encode(p: Packet<'_>, v: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    p.encode(v, &mut out).unwrap();
    out
}

/// Plays the transport for one step: opens when asked (running the before_connect hook as
/// a transport does), writes everything, and returns what was written.
fn open_and_write(c: &TestClient) -> Vec<u8> {
    let shared = &c.shared;
    let now = shared.clock().now();
    let action = shared.lock().core.poll_action(now);
    if let Action::Open { .. } = action {
        shared.run_before_connect();
        shared.lock().core.handle_opened(now).unwrap();
    }
    let mut st = shared.lock();
    let bytes = st
        .core
        .poll_transmit(now)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    st.core.handle_written(bytes.len());
    bytes
}

/// Feeds broker bytes, settles and delivers the events to hooks and callbacks.
fn read(c: &TestClient, bytes: &[u8]) {
    let events = {
        let mut st = c.shared.lock();
        let now = c.shared.clock().now();
        st.core.handle_read(now, bytes);
        st.settle()
    };
    c.shared.deliver(c, &events);
}

fn connack(v: ProtocolVersion) -> Vec<u8> {
    encode(
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }),
        v,
    )
}

fn connected(options: ClientOptions) -> TestClient {
    let c = client(options);
    let _ = c.shared.lock().core.start(c.shared.clock().now());
    open_and_write(&c);
    read(&c, &connack(ProtocolVersion::V311));
    assert!(c.is_connected());
    c
}

/// One options type with the client defaults the lead decided: MQTT 3.1.1 unless opted
/// into 5.0, resubscription on, 64 KiB transmit backlog (defect 7), 3 delivery attempts,
/// 10 s drain; secrets never in Debug.
#[test]
fn client_options_defaults_and_redaction() {
    let o = ClientOptions::new();
    let core = o.core();
    assert_eq!(core.session.version, ProtocolVersion::V311);
    assert!(core.session.resubscribe_on_session_loss);
    assert_eq!(core.session.max_transmit_bytes, 64 * 1024);
    assert_eq!(core.max_delivery_attempts, 3);
    assert_eq!(core.disconnect_timeout, Duration::from_secs(10));
    assert_eq!(
        core.stable_after(),
        Duration::from_secs(60),
        "one keepalive"
    );
    let o = o
        .protocol(ProtocolVersion::V5)
        .credentials("user", b"hunter2")
        .keep_alive(15);
    assert_eq!(o.core().session.version, ProtocolVersion::V5);
    assert_eq!(o.core().stable_after(), Duration::from_secs(15));
    let shown = format!("{o:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

/// before_connect runs before the first CONNECT and its changes go on the wire;
/// after_connect gets the CONNACK as a value before the Connected event is dispatched.
#[test]
fn hooks_take_context_values_and_run_before_the_first_connect() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o1, o2) = (order.clone(), order.clone());
    let options = ClientOptions::new()
        .client_id("hooked")
        .before_connect(|u| {
            assert_eq!(u.attempt(), 1);
            u.credentials.username = Some("fresh-token-user".into());
        })
        .after_connect(move |c| {
            o1.lock()
                .unwrap()
                .push(format!("after:{}", c.session_present))
        });
    let c = client(options);
    c.on(Command::ConnAck, move |_, _| {
        o2.lock().unwrap().push("callback".into());
        Ok(())
    });
    let _ = c.shared.lock().core.start(c.shared.clock().now());
    let connect = open_and_write(&c);
    let Some((Packet::Connect(p), _)) =
        decode(&connect, ProtocolVersion::V311, &Limits::default()).unwrap()
    else {
        panic!("no CONNECT");
    };
    assert_eq!(p.username, Some("fresh-token-user"));
    read(&c, &connack(ProtocolVersion::V311));
    assert_eq!(*order.lock().unwrap(), ["after:false", "callback"]);
}

/// Every event goes to the callbacks and to the claimed queue; before anyone claims it the
/// queue keeps only the newest `event_capacity` events, so a callbacks-only program never
/// stalls.
#[test]
fn events_reach_callbacks_and_the_claimed_queue() {
    let mut options = ClientOptions::new();
    options.core_mut().event_capacity = 2;
    let c = connected(options);
    let count = Arc::new(AtomicUsize::new(0));
    let n = count.clone();
    c.on(Command::PingResp, move |_, _| {
        n.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let pingresp = encode(Packet::PingResp, ProtocolVersion::V311);
    for _ in 0..5 {
        read(&c, &pingresp);
    }
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert!(!c.shared.lock().read_paused(), "unclaimed: never pauses");
    let generation = c.shared.claim_events();
    let mut got = 0;
    while let Some(e) = c.shared.next_event(generation, Duration::from_millis(10)) {
        assert_eq!(e, Event::PingResp);
        got += 1;
    }
    assert_eq!(got, 2, "only the newest two were kept");
    // Claimed: lossless, and reading pauses when the consumer is behind.
    read(&c, &pingresp);
    read(&c, &pingresp);
    assert!(c.shared.lock().read_paused());
}

/// With `settle_unqueued` the I/O loop runs the callbacks before the events reach the
/// claimed queue (`queue_events`): a consumer of the queue never sees an event whose
/// callback has not run yet, and the events keep their order.
#[test]
fn settle_unqueued_lets_callbacks_run_before_the_queue_sees_the_event() {
    let c = connected(ClientOptions::new());
    let generation = c.shared.claim_events();
    while c
        .shared
        .next_event(generation, Duration::from_millis(10))
        .is_some()
    {}
    let count = Arc::new(AtomicUsize::new(0));
    let n = count.clone();
    c.on(Command::PingResp, move |_, _| {
        n.fetch_add(1, Ordering::SeqCst);
        Ok(())
    });
    let pingresp = encode(Packet::PingResp, ProtocolVersion::V311);
    let events = {
        let mut st = c.shared.lock();
        let now = c.shared.clock().now();
        st.core.handle_read(now, &pingresp);
        st.core.handle_read(now, &pingresp);
        st.settle_unqueued()
    };
    assert_eq!(events, [Event::PingResp, Event::PingResp]);
    assert_eq!(
        c.shared.next_event(generation, Duration::from_millis(10)),
        None,
        "not queued before the callbacks ran"
    );
    c.shared.deliver(&c, &events);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    c.shared.lock().queue_events(events);
    for _ in 0..2 {
        assert_eq!(
            c.shared.next_event(generation, Duration::from_millis(10)),
            Some(Event::PingResp)
        );
    }
    assert_eq!(
        c.shared.next_event(generation, Duration::from_millis(10)),
        None
    );
}

/// The buffer form of settling: events are appended to the caller's buffer, in order and
/// not queued; queued from `drain(..)`, they reach the consumer and the buffer stays for the
/// next turn with its room (nothing to allocate per turn).
#[test]
fn settle_into_a_kept_buffer_moves_events_to_the_queue() {
    let c = connected(ClientOptions::new());
    let generation = c.shared.claim_events();
    while c
        .shared
        .next_event(generation, Duration::from_millis(10))
        .is_some()
    {}
    let pingresp = encode(Packet::PingResp, ProtocolVersion::V311);
    let mut buffer = Vec::new();
    for turn in 0..3 {
        {
            let mut st = c.shared.lock();
            let now = c.shared.clock().now();
            st.core.handle_read(now, &pingresp);
            st.core.handle_read(now, &pingresp);
            st.settle_unqueued_into(&mut buffer);
        }
        assert_eq!(buffer, [Event::PingResp, Event::PingResp], "turn {turn}");
        assert_eq!(
            c.shared.next_event(generation, Duration::from_millis(10)),
            None,
            "not queued before queue_events"
        );
        let room = buffer.capacity();
        c.shared.lock().queue_events(buffer.drain(..));
        assert!(buffer.is_empty());
        assert_eq!(buffer.capacity(), room, "the buffer keeps its room");
        for _ in 0..2 {
            assert_eq!(
                c.shared.next_event(generation, Duration::from_millis(10)),
                Some(Event::PingResp)
            );
        }
        assert_eq!(
            c.shared.next_event(generation, Duration::from_millis(10)),
            None
        );
    }
}

/// before_reconnect runs before a reconnection (not before the first connection) and
/// learns why the last connection ended; before_connect runs every time.
#[test]
fn before_open_runs_the_reconnect_hook_only_on_reconnection() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (seen.clone(), seen.clone());
    let options = ClientOptions::new()
        .before_reconnect(move |r| s1.lock().unwrap().push(format!("reconnect:{:?}", r.reason)))
        .before_connect(move |_| s2.lock().unwrap().push("connect".to_string()));
    let c = client(options);
    let now = c.shared.clock().now();
    let _ = c.shared.lock().core.start(now);
    let first = c.shared.lock().core.poll_action(now);
    c.shared.before_open(&first);
    c.shared.lock().core.handle_opened(now).unwrap();
    let _ = open_and_write(&c);
    read(&c, &connack(ProtocolVersion::V311));
    c.reconnect().unwrap();
    let close = c.shared.lock().core.poll_action(now);
    assert_eq!(close, Action::Close);
    c.shared.lock().core.handle_closed(now);
    let again = c.shared.lock().core.poll_action(now);
    assert!(
        matches!(
            again,
            Action::Open {
                reconnect: true,
                ..
            }
        ),
        "{again:?}"
    );
    c.shared.before_open(&again);
    assert_eq!(
        *seen.lock().unwrap(),
        ["connect", "reconnect:Some(ReconnectRequested)", "connect"]
    );
}

/// A callback's error or panic is reported, not swallowed, and the client goes on.
#[test]
fn callback_failures_are_reported() {
    let c = connected(ClientOptions::new());
    c.on(Command::PingResp, |_, _| Err("broken handler".into()));
    read(&c, &encode(Packet::PingResp, ProtocolVersion::V311));
    let failures = c.take_callback_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].message, "broken handler");
    assert_eq!(failures[0].command, Some(Command::PingResp));
    assert!(!failures[0].panicked);
}

/// A waiter blocked on a token wakes with the broker's acknowledgement; another times out.
#[test]
fn wait_by_token_wakes_on_the_ack_and_times_out_otherwise() {
    let c = connected(ClientOptions::new());
    let token = c.publish("t", b"1", QoS::AtLeastOnce, false).unwrap();
    let shared = c.shared.clone();
    let waiter = thread::spawn(move || shared.wait(token, Some(Duration::from_secs(5))));
    let _ = open_and_write(&c);
    thread::sleep(Duration::from_millis(20));
    let id = token.packet_id().unwrap();
    read(
        &c,
        &encode(Packet::PubAck(Ack::new(id)), ProtocolVersion::V311),
    );
    match waiter.join().unwrap() {
        Ok(Completion::Published(PublishOutcome::Acknowledged(ack))) => {
            assert_eq!(ack.reason, ReasonCode::Success)
        }
        other => panic!("{other:?}"),
    }
    let unanswered = c.publish("t", b"2", QoS::AtLeastOnce, false).unwrap();
    assert!(matches!(
        c.shared.wait(unanswered, Some(Duration::from_millis(30))),
        Err(ClientError::Timeout)
    ));
}

/// Counts the wake-ups of the I/O loop.
struct CountingWake(AtomicUsize);

impl std::task::Wake for CountingWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Commands wake the I/O loop once per turn of the loop (issue 14): the first command after
/// the loop started its turn wakes it, later ones find it already woken; a new turn (or a
/// new waker) makes the next command wake it again.
#[test]
fn commands_wake_the_io_loop_once_per_turn() {
    let c = connected(ClientOptions::new());
    let count = Arc::new(CountingWake(AtomicUsize::new(0)));
    c.shared
        .lock()
        .set_io_waker(&std::task::Waker::from(count.clone()));
    let wakes = || count.0.load(Ordering::SeqCst);
    assert_eq!(wakes(), 0);
    for _ in 0..10 {
        c.publish("a/b", b"x", QoS::AtLeastOnce, false).unwrap();
    }
    assert_eq!(wakes(), 1, "ten publishes in one turn: one wake-up");
    // The loop starts a turn: it will see everything so far, the next command wakes it.
    c.shared.lock().io_running();
    c.publish("a/b", b"x", QoS::AtMostOnce, false).unwrap();
    c.publish("a/b", b"x", QoS::AtMostOnce, false).unwrap();
    assert_eq!(wakes(), 2);
    // The async driver registers its waker at every poll: that is a new turn too.
    c.shared
        .lock()
        .set_io_waker(&std::task::Waker::from(count.clone()));
    c.shared.lock().wake_io();
    c.shared.lock().wake_io();
    assert_eq!(wakes(), 3);
}
