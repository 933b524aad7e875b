//! Structured round trip: an `arbitrary` owned packet model, made valid for each protocol
//! version, must encode, decode back equal, and re-encode identically (both versions).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_fuzz::roundtrip::{check_model, PacketModel};

fuzz_target!(|model: PacketModel| {
    check_model(&model);
});
