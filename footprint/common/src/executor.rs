//! The smallest executor: poll a future to completion with a no-op waker. The stand-in socket
//! is always ready, so nothing ever needs waking; a real firmware would sleep (WFI) instead of
//! spinning.

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

/// Runs `f` to completion on this core.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
}
