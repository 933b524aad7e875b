//! The session store an options value carries to the client it makes.

use std::boxed::Box;
use std::sync::{Arc, Mutex};

use mqtt_sansio_session::store::{Store, StoreError};

use super::shared::lock;

/// Options are cloned on their way into a client; the store is not (it owns a file): every
/// clone shares one slot, and the first client made from them takes the store. A store that
/// failed to attach leaves its error here for the client's connect call to report.
#[derive(Clone, Default)]
pub(crate) struct StoreSlot(Arc<Mutex<SlotState>>);

#[derive(Default)]
enum SlotState {
    Ready(Box<dyn Store + Send>),
    Failed(StoreError),
    #[default]
    Taken,
}

impl StoreSlot {
    pub(crate) fn new(store: Box<dyn Store + Send>) -> Self {
        Self(Arc::new(Mutex::new(SlotState::Ready(store))))
    }

    /// The store, if no client took it yet.
    pub(crate) fn take(&self) -> Option<Box<dyn Store + Send>> {
        let mut state = lock(&self.0);
        match std::mem::take(&mut *state) {
            SlotState::Ready(store) => Some(store),
            other => {
                *state = other;
                None
            }
        }
    }

    /// Records why attaching the store failed.
    pub(crate) fn failed(&self, e: StoreError) {
        *lock(&self.0) = SlotState::Failed(e);
    }

    /// Why attaching the store failed, if it did.
    pub(crate) fn failure(&self) -> Option<StoreError> {
        match &*lock(&self.0) {
            SlotState::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }
}
