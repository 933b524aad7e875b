//! [`PoisonTracker`]: counts how often the same publish was answered by an error DISCONNECT.

use mqtt_sansio_proto::{PacketId, ReasonCode};

/// The publish the broker rejected on the last connections, and on how many in a row.
///
/// The broker acknowledges in order, so when it sends an error DISCONNECT the oldest publish
/// sent on that connection and not acknowledged is the one it refused (the Session reports
/// it as `rejected_candidate`). A message that keeps being refused would otherwise be sent
/// again on every reconnect, forever, and block the messages behind it (issue 10, defect 4);
/// SPEC "Exactly once, bounded": it fails with the broker's reason after a bounded number of
/// attempts and is never resent forever.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoisonTracker {
    current: Option<(PacketId, ReasonCode, u32)>,
}

impl PoisonTracker {
    /// Records a connection end. `candidate` is the Session's rejected candidate (`None`:
    /// the connection ended for another cause, which breaks the run). Returns the message to
    /// give up, with the broker's reason and the attempt count, once it was refused
    /// `max_attempts` times in a row (`max_attempts` 0: never).
    pub fn connection_ended(
        &mut self,
        candidate: Option<(PacketId, ReasonCode)>,
        max_attempts: u32,
    ) -> Option<(PacketId, ReasonCode, u32)> {
        let Some((id, reason)) = candidate else {
            self.current = None;
            return None;
        };
        let attempts = match self.current {
            Some((prev, _, n)) if prev == id => n.saturating_add(1),
            _ => 1,
        };
        self.current = Some((id, reason, attempts));
        if max_attempts != 0 && attempts >= max_attempts {
            self.current = None;
            return Some((id, reason, attempts));
        }
        None
    }

    /// The broker answered `id`: it was not poison after all.
    pub fn acknowledged(&mut self, id: PacketId) {
        if self.current.is_some_and(|(c, _, _)| c == id) {
            self.current = None;
        }
    }

    /// Refusals in a row of the message currently suspected.
    pub fn attempts(&self) -> u32 {
        self.current.map_or(0, |(_, _, n)| n)
    }
}
