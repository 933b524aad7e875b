//! A Session that received a valid CONNACK, then an arbitrary sequence of broker bytes, time
//! advances, closes and commands; its invariants are checked after every step (see
//! `mqtt_fuzz::session_input`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    mqtt_fuzz::session_input::run(data);
});
