//! Arbitrary bytes through the MQTT 3.1.1 decoder, read as a stream of packets; every
//! decoded packet must re-encode and decode back equal (see `mqtt_fuzz::decode_check`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqtt_sansio_proto::ProtocolVersion;

fuzz_target!(|data: &[u8]| {
    mqtt_fuzz::decode_check::check_decode(data, ProtocolVersion::V311);
});
