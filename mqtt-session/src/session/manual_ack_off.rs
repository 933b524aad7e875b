//! Without the cargo feature `manual-acks`: every incoming QoS 1/2 message is acknowledged
//! as it is handed over (`AckMode::Manual` does not exist), so no acknowledgement ever waits,
//! reading never pauses and no unread backlog can build up. The flows keep calling these;
//! they are constants the optimiser removes (issue 15: flash).

use super::*;

/// No acknowledgement ever waits for the application.
#[derive(Debug, Default)]
pub(super) struct PendingAcks {}

impl PendingAcks {
    #[inline(always)]
    pub(super) fn connection_ended(&mut self) {}

    #[inline(always)]
    pub(super) fn session_lost(&mut self) {}
}

impl Session {
    /// Whether the transport should read from the socket: always `true` without the cargo
    /// feature `manual-acks` (reading pauses only under manual acknowledgements).
    pub fn wants_read(&self) -> bool {
        true
    }

    /// Incoming messages handed over whose acknowledgement has not gone out yet: always 0
    /// without the cargo feature `manual-acks` (each goes out as its message is handed over).
    pub fn unacknowledged(&self) -> usize {
        0
    }

    #[inline(always)]
    pub(super) fn reading_paused(&self) -> bool {
        false
    }

    #[inline(always)]
    pub(super) fn check_unread_backlog(&mut self) {}
}
