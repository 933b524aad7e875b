//! Shared by the footprint images: inputs the optimiser cannot see through, a panic handler,
//! and (feature `heap`) a global allocator with its arena.
#![no_std]

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

/// Bytes "received from the network": a static the program never writes, read through
/// `black_box` so the optimiser must keep every parser path.
static RX_WIRE: [AtomicU8; 256] = [const { AtomicU8::new(0) }; 256];
/// The millisecond tick, as a timer interrupt would advance it.
static TICKS: AtomicU32 = AtomicU32::new(0);

/// A tick count the optimiser cannot predict.
pub fn now_ms() -> u64 {
    u64::from(black_box(TICKS.load(Ordering::Relaxed)))
}

/// Copies up to `buf.len()` unpredictable bytes into `buf`; returns how many (possibly 0).
pub fn receive(buf: &mut [u8]) -> usize {
    let n = black_box(usize::from(RX_WIRE[0].load(Ordering::Relaxed))).min(buf.len());
    for (i, b) in buf.iter_mut().take(n).enumerate() {
        *b = RX_WIRE[(i + 1) % RX_WIRE.len()].load(Ordering::Relaxed);
    }
    n
}

/// Takes `bytes` "onto the wire": the optimiser must assume they are used.
pub fn transmit(bytes: &[u8]) -> usize {
    black_box(bytes);
    black_box(bytes.len())
}

/// A condition the optimiser cannot decide (which branch of the scenario runs).
pub fn flip() -> bool {
    black_box(TICKS.load(Ordering::Relaxed)) & 1 == 1
}

pub mod executor;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The heap arena size. Counted in `.bss`, so in the static RAM figure of the image.
#[cfg(feature = "heap")]
pub const HEAP_BYTES: usize = 8 * 1024;

#[cfg(feature = "heap")]
mod heap {
    use linked_list_allocator::LockedHeap;

    #[global_allocator]
    static ALLOCATOR: LockedHeap = LockedHeap::empty();
    static mut ARENA: [u8; super::HEAP_BYTES] = [0; super::HEAP_BYTES];

    /// Hands the arena to the allocator; call once before anything allocates.
    pub fn init() {
        // SAFETY: called once at start, before any allocation; the arena is used by nothing else.
        unsafe {
            ALLOCATOR.lock().init(
                core::ptr::addr_of_mut!(ARENA).cast::<u8>(),
                super::HEAP_BYTES,
            );
        }
    }
}

#[cfg(feature = "heap")]
pub use heap::init as init_heap;

/// Records `size_of::<T>()` for `scripts/footprint` as the *size* of a symbol named
/// `footprint_size_<name>` in a section of its own that is not loaded (so it costs neither
/// flash nor RAM in the figures): `llvm-nm -S` reads it back.
#[macro_export]
macro_rules! record_size {
    ($name:ident, $t:ty) => {
        #[used]
        #[no_mangle]
        #[link_section = ".footprint_sizes"]
        static $name: [u8; core::mem::size_of::<$t>()] = [0; core::mem::size_of::<$t>()];
    };
}
