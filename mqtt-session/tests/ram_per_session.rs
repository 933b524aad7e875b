//! RAM per session (issue 15, "Done when" 2): after connect, one subscription and 10 QoS 1
//! messages in flight with 16-byte payloads, the Session holds at most 1 KiB plus the
//! messages' own bytes (topic and payload), counting both its struct and every heap block it
//! owns; and nothing it allocates is proportional to the packet identifier space.
//!
//! A counting global allocator tracks, per thread, the bytes live from allocations made while
//! a measurement runs (frees of those blocks subtract), so tests running in parallel do not
//! disturb each other.
//!
//! The 1 KiB bound is for 32-bit targets (microcontrollers): `scripts/test` runs this test
//! for i686-unknown-linux-gnu when that target is installed, and `scripts/footprint` prints
//! `size_of::<Session>()` for thumbv7em-none-eabihf. On a 64-bit host every pointer, length
//! and capacity is twice as wide, so the bound there is 2 KiB plus the messages' bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use mqtt_sansio_proto::{ProtocolVersion, QoS, Subscription, TopicFilter};
use mqtt_sansio_session::{ConnectOptions, Event, Instant, Session, SessionConfig};

struct Counting;

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    /// Bytes allocated minus bytes freed while measuring.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The largest single block requested while measuring.
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(delta: isize, size: usize) {
    let _ = MEASURING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|n| n.set(n.get() + delta));
            let _ = LARGEST.try_with(|n| n.set(n.get().max(size)));
        }
    });
}

fn signed(n: usize) -> isize {
    isize::try_from(n).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only
// `const`-initialised thread-locals, which neither allocate nor re-enter the allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(signed(layout.size()), layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which System shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(signed(layout.size()), layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(signed(new_size) - signed(layout.size()), new_size);
        // SAFETY: `ptr` was allocated by this allocator, i.e. by System.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-signed(layout.size()), 0);
        // SAFETY: `ptr` was allocated by this allocator, i.e. by System.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes the scenario leaves live, the largest block it asked for, and the messages' own
/// bytes (topic + payload of the 10 in flight).
fn measure(v: ProtocolVersion) -> (Session, usize, usize, usize) {
    const TOPIC: &str = "sensors/node-7/temperature";
    let payload = [0x5a_u8; 16];
    let now = Instant::from_millis(0);
    // The caller's transmit buffer is not the Session's: reserve it before measuring.
    let mut out = Vec::with_capacity(4096);

    LIVE.with(|n| n.set(0));
    LARGEST.with(|n| n.set(0));
    MEASURING.with(|on| on.set(true));

    let mut s = Session::new(SessionConfig::new("node-7", true, v));
    s.connect(now, &ConnectOptions::new(60)).unwrap();
    while s.poll_transmit(now, &mut out).is_some() {}
    out.clear();
    let connack: &[u8] = match v {
        ProtocolVersion::V311 => &[0x20, 0x02, 0x00, 0x00],
        ProtocolVersion::V5 => &[0x20, 0x03, 0x00, 0x00, 0x00],
    };
    s.handle_read(now, connack);
    assert!(matches!(s.poll_event(), Some(Event::Connected { .. })));

    let filter = TopicFilter::new("commands/node-7/#").unwrap();
    let id = s
        .subscribe(now, &[Subscription::new(filter, QoS::AtLeastOnce)])
        .unwrap();
    while s.poll_transmit(now, &mut out).is_some() {}
    out.clear();
    let [hi, lo] = id.get().to_be_bytes();
    let suback: &[u8] = match v {
        ProtocolVersion::V311 => &[0x90, 0x03, hi, lo, 0x01],
        ProtocolVersion::V5 => &[0x90, 0x04, hi, lo, 0x00, 0x01],
    };
    s.handle_read(now, suback);
    assert!(matches!(s.poll_event(), Some(Event::SubAck { .. })));
    assert!(s.poll_event().is_none());
    assert_eq!(s.subscriptions().count(), 1);

    for _ in 0..10 {
        let sent = s.publish(now, TOPIC, &payload, QoS::AtLeastOnce, false);
        assert!(matches!(sent, Ok(Some(_))), "{v:?}: {sent:?}");
        while s.poll_transmit(now, &mut out).is_some() {}
        out.clear();
    }
    assert_eq!(s.inflight_len(), 10);
    assert_eq!(s.packet_ids_in_use(), 10);

    MEASURING.with(|on| on.set(false));
    let live = usize::try_from(LIVE.with(Cell::get)).unwrap_or(0);
    let largest = LARGEST.with(Cell::get);
    (s, live, largest, 10 * (TOPIC.len() + payload.len()))
}

#[test]
fn a_session_with_10_qos1_messages_in_flight_fits_in_1_kib_plus_the_messages() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (s, heap, largest, messages) = measure(v);
        let total = heap + size_of::<Session>();
        println!(
            "{v:?}: size_of::<Session>() = {} B, heap = {heap} B, total = {total} B, \
             messages' own bytes = {messages} B, largest block = {largest} B",
            size_of::<Session>()
        );
        let fixed_budget = if cfg!(target_pointer_width = "32") {
            1024
        } else {
            2048
        };
        assert!(
            total <= fixed_budget + messages,
            "{v:?}: {total} B > {fixed_budget} B + {messages} B"
        );
        // Nothing proportional to the identifier space: the old outgoing id bitmap alone was
        // one 8 KiB block.
        assert!(largest < 1024, "{v:?}: a {largest} B block");
        drop(s);
    }
}
