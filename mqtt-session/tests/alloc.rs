//! Allocation counts of the Session's hot paths in steady state (DESIGN.md pitfall 14:
//! per-packet allocation).
//!
//! A counting global allocator wraps the system allocator and counts, per thread, the calls
//! to `alloc`, `alloc_zeroed` and `realloc` made while a measurement is running, so tests
//! running in parallel do not disturb each other. Every test first warms the Session up (a
//! connection from hand-fed CONNACK bytes, then traffic of the kind measured, so buffers and
//! queues reach their working capacity), then measures 1,000 messages.
//!
//! Measured (both protocol versions):
//! - QoS 0 `publish` + `poll_transmit` into a reused `Vec`: 0 allocations;
//! - QoS 0 PUBLISH received through `handle_read` + `poll_event`: 1 per message (the
//!   [`Message`](mqtt_sansio_session::Message) buffer holding topic and payload), also when every
//!   packet arrives in two reads;
//! - QoS 1 `publish` through PUBACK: 1 per message (the stored copy kept for resending);
//! - QoS 2 `publish` through PUBREC, PUBREL and PUBCOMP: 1 per message (the same copy, freed at
//!   PUBREC);
//! - a PUBACK without properties through `handle_read` + `poll_event`: 0 (the event's
//!   `AckProperties` stay empty, unallocated).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mqtt_sansio_proto::{Packet, PacketId, ProtocolVersion, Publish, QoS, QosPid, TopicName};
use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};

struct Counting;

thread_local! {
    // `const` initialisers without destructors: reading them never allocates.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator can be called while a thread's locals are being torn down.
    let _ = MEASURING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// `const`-initialised thread-locals, which neither allocate nor re-enter the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which System shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A growing buffer counts: steady state should not grow anything.
        note_allocation();
        // SAFETY: `ptr` was allocated by this allocator, i.e. by System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator, i.e. by System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations it made on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (R, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    MEASURING.with(|on| on.set(true));
    let r = f();
    MEASURING.with(|on| on.set(false));
    (r, ALLOCATIONS.with(Cell::get))
}

const ROUNDS: usize = 1_000;

/// The instrument itself: an allocation on this thread is seen, one on another is not.
#[test]
fn counter_counts_this_threads_allocations_only() {
    let (v, n) = count(|| Vec::<u8>::with_capacity(100));
    assert_eq!((v.capacity() >= 100, n), (true, 1));
    let (_, n) = count(|| {
        std::thread::spawn(|| Vec::<u8>::with_capacity(100).capacity())
            .join()
            .unwrap()
    });
    // Spawning allocates on this thread (the thread handle); the vector, on the other, does
    // not count. What matters: the count is not zero when something was allocated here.
    assert!(n >= 1);
    let (_, n) = count(|| {
        let mut v = Vec::<u8>::with_capacity(1);
        v.extend_from_slice(&[0; 64]);
        v
    });
    assert_eq!(n, 2, "a realloc counts");
}
const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

/// A connected Session (CONNACK fed by hand) and a transmit buffer, both warmed up.
fn connected(v: ProtocolVersion) -> (Session, Vec<u8>) {
    let now = Instant::from_millis(0);
    let mut session = Session::new(SessionConfig::new("alloc", false, v));
    // Keepalive 0: no PINGREQ interferes with the measured loops.
    session.connect(now, &ConnectOptions::new(0)).unwrap();
    let mut out = Vec::with_capacity(4096);
    while session.poll_transmit(now, &mut out).is_some() {}
    out.clear();
    // CONNACK: session present 0, accepted (3.1.1 return code / 5.0 reason code, no
    // properties).
    let connack: &[u8] = match v {
        ProtocolVersion::V311 => &[0x20, 0x02, 0x00, 0x00],
        ProtocolVersion::V5 => &[0x20, 0x03, 0x00, 0x00, 0x00],
    };
    session.handle_read(now, connack);
    assert_eq!(
        session.poll_event(),
        Some(Event::Connected {
            session_present: false,
            properties: Default::default()
        })
    );
    assert!(session.is_connected());
    (session, out)
}

/// An incoming PUBLISH, encoded by mqtt-sansio-proto.
fn publish_bytes(v: ProtocolVersion, topic: &str, payload: &[u8], qos: QosPid) -> Vec<u8> {
    let mut bytes = Vec::new();
    let p = Publish::new(TopicName::new(topic).unwrap(), payload, qos);
    Packet::Publish(p).encode(v, &mut bytes).unwrap();
    bytes
}

/// An ack packet (PUBACK 0x40, PUBREC 0x50, PUBCOMP 0x70) for `id`; without a reason code,
/// which both versions read as Success.
fn ack(first_byte: u8, id: PacketId) -> [u8; 4] {
    let [hi, lo] = id.get().to_be_bytes();
    [first_byte, 0x02, hi, lo]
}

#[test]
fn qos0_publish_and_transmit_allocate_nothing() {
    for v in VERSIONS {
        let (mut s, mut out) = connected(v);
        let now = Instant::from_millis(1);
        let payload = [0x5a; 64];
        let round = |s: &mut Session, out: &mut Vec<u8>| {
            let ok = s
                .publish(
                    now,
                    "sensors/kitchen/temp",
                    &payload,
                    QoS::AtMostOnce,
                    false,
                )
                .is_ok();
            let sent = s.poll_transmit(now, out).is_some() && s.poll_transmit(now, out).is_none();
            out.clear();
            ok && sent
        };
        for _ in 0..10 {
            assert!(round(&mut s, &mut out));
        }
        let (ok, n) = count(|| (0..ROUNDS).all(|_| round(&mut s, &mut out)));
        assert!(ok, "{v:?}: a publish or transmit failed");
        assert_eq!(n, 0, "{v:?}: {n} allocations for {ROUNDS} QoS 0 publishes");
        // A burst (the transmit queue holds several packets) reuses its buffer too.
        let burst = |s: &mut Session, out: &mut Vec<u8>| {
            let ok = (0..8).all(|_| {
                s.publish(now, "t", &payload, QoS::AtMostOnce, false)
                    .is_ok()
            });
            while s.poll_transmit(now, out).is_some() {}
            out.clear();
            ok
        };
        assert!(burst(&mut s, &mut out));
        let (ok, n) = count(|| (0..ROUNDS / 8).all(|_| burst(&mut s, &mut out)));
        assert!(ok);
        assert_eq!(n, 0, "{v:?}: {n} allocations for bursts of QoS 0 publishes");
    }
}

#[test]
fn qos0_receive_allocates_once_per_message() {
    for v in VERSIONS {
        let (mut s, _) = connected(v);
        let now = Instant::from_millis(1);
        let bytes = publish_bytes(v, "sensors/kitchen/temp", &[0xa5; 64], QosPid::AtMostOnce);
        let round = |s: &mut Session, reads: &[&[u8]]| {
            for r in reads {
                s.handle_read(now, r);
            }
            // The event (and its Message buffer) is dropped here, as an application would.
            matches!(s.poll_event(), Some(Event::Message(_))) && s.poll_event().is_none()
        };
        let whole: [&[u8]; 1] = [&bytes];
        let (a, b) = bytes.split_at(bytes.len() / 2);
        let halves: [&[u8]; 2] = [a, b];
        for reads in [&whole[..], &halves[..]] {
            for _ in 0..10 {
                assert!(round(&mut s, reads));
            }
            let (ok, n) = count(|| (0..ROUNDS).all(|_| round(&mut s, reads)));
            assert!(ok, "{v:?}: a message was not delivered");
            // One allocation per message: the Message's buffer (topic and payload together).
            // Feeding each packet in two reads adds nothing: the partial tail goes into the
            // Session's read buffer, whose capacity is reused.
            assert!(
                n <= ROUNDS,
                "{v:?}, {} read(s) per packet: {n} allocations for {ROUNDS} messages",
                reads.len()
            );
        }
    }
}

#[test]
fn qos1_and_qos2_publish_allocate_once_per_message() {
    for v in VERSIONS {
        let (mut s, mut out) = connected(v);
        let now = Instant::from_millis(1);
        let payload = [0x3c; 64];

        // QoS 1: publish, transmit PUBLISH, PUBACK arrives, PubAck event.
        let qos1 = |s: &mut Session, out: &mut Vec<u8>| {
            let Ok(Some(id)) = s.publish(
                now,
                "sensors/kitchen/temp",
                &payload,
                QoS::AtLeastOnce,
                false,
            ) else {
                return false;
            };
            let sent = s.poll_transmit(now, out).is_some();
            out.clear();
            s.handle_read(now, &ack(0x40, id));
            sent && matches!(s.poll_event(), Some(Event::PubAck { id: acked, .. }) if acked == id)
                && s.poll_event().is_none()
                && s.inflight_len() == 0
        };
        for _ in 0..10 {
            assert!(qos1(&mut s, &mut out));
        }
        let (ok, n) = count(|| (0..ROUNDS).all(|_| qos1(&mut s, &mut out)));
        assert!(ok, "{v:?}: a QoS 1 flow did not complete");
        // One allocation per message: the Message copy kept until PUBACK (for a resend after a
        // reconnect). The in-flight queue, the transmit queue and the event queue keep their
        // capacity; the packet id set is a fixed bitmap.
        assert!(
            n <= ROUNDS,
            "{v:?}: {n} allocations for {ROUNDS} QoS 1 publishes"
        );

        // QoS 2: publish, PUBLISH out, PUBREC in, PUBREL out, PUBCOMP in, PubRec + PubComp.
        let qos2 = |s: &mut Session, out: &mut Vec<u8>| {
            let Ok(Some(id)) = s.publish(
                now,
                "sensors/kitchen/temp",
                &payload,
                QoS::ExactlyOnce,
                false,
            ) else {
                return false;
            };
            let published = s.poll_transmit(now, out).is_some();
            s.handle_read(now, &ack(0x50, id));
            let released = s.poll_transmit(now, out).is_some();
            let pubrel_ok = out.get(out.len() - 4) == Some(&0x62);
            out.clear();
            s.handle_read(now, &ack(0x70, id));
            published
                && released
                && pubrel_ok
                && matches!(s.poll_event(), Some(Event::PubRec { .. }))
                && matches!(s.poll_event(), Some(Event::PubComp { id: done, .. }) if done == id)
                && s.poll_event().is_none()
                && s.inflight_len() == 0
        };
        for _ in 0..10 {
            assert!(qos2(&mut s, &mut out));
        }
        let (ok, n) = count(|| (0..ROUNDS).all(|_| qos2(&mut s, &mut out)));
        assert!(ok, "{v:?}: a QoS 2 flow did not complete");
        // One allocation per message: the same stored copy, dropped at PUBREC (from then on
        // only PUBREL is ever sent, which needs no payload).
        assert!(
            n <= ROUNDS,
            "{v:?}: {n} allocations for {ROUNDS} QoS 2 publishes"
        );
    }
}

/// Acknowledgement properties reach the events as owned values (issue 11), but an ack that
/// carries none must not pay for them: receiving it allocates nothing.
#[test]
fn acks_without_properties_allocate_nothing() {
    for v in VERSIONS {
        let (mut s, mut out) = connected(v);
        let now = Instant::from_millis(1);
        let mut total = 0;
        for round in 0..ROUNDS {
            let Ok(Some(id)) = s.publish(now, "t", b"x", QoS::AtLeastOnce, false) else {
                panic!("{v:?}: publish refused");
            };
            while s.poll_transmit(now, &mut out).is_some() {}
            out.clear();
            let [hi, lo] = id.get().to_be_bytes();
            // 5.0: alternate the short form with the long one (reason code 0x10 No matching
            // subscribers and a property length of 0).
            let long = [0x40, 0x04, hi, lo, 0x10, 0x00];
            let bytes: &[u8] = if v == ProtocolVersion::V5 && round % 2 == 1 {
                &long
            } else {
                &ack(0x40, id)
            };
            // The event is dropped inside the measurement, as an application would.
            let (ok, n) = count(|| {
                s.handle_read(now, bytes);
                matches!(
                    s.poll_event(),
                    Some(Event::PubAck { properties, .. }) if properties.is_empty()
                )
            });
            assert!(ok, "{v:?}: no PubAck");
            total += n;
        }
        assert_eq!(total, 0, "{v:?}: {total} allocations for {ROUNDS} acks");
    }
}
