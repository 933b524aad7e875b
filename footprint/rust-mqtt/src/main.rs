//! Placeholder until the rust-mqtt 0.6.0 image is written: `scripts/footprint` measures this
//! crate only once it uses rust_mqtt.
#![no_std]
#![no_main]

use footprint_common as _;

#[no_mangle]
pub extern "C" fn _start() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
