//! The session store's side of the Session: attaching a store, rebuilding the state from it,
//! and the write-through calls the flows make (see [`crate::store`]).

#[cfg(feature = "store")]
pub(super) use enabled::StoreSlot;

#[cfg(not(feature = "store"))]
mod disabled {
    use crate::store::Record;
    use mqtt_sansio_proto::PacketId;

    use super::super::Session;

    /// Without the `store` feature the flows' write-through calls are these, and compile to
    /// nothing.
    impl Session {
        #[inline(always)]
        pub(in crate::session) fn persist(&mut self, _record: &Record<'_>) -> bool {
            true
        }

        #[inline(always)]
        pub(in crate::session) fn persist_or_close(&mut self, _record: &Record<'_>) -> bool {
            true
        }

        #[inline(always)]
        pub(in crate::session) fn persist_completed(&mut self, _id: PacketId) {}

        #[inline(always)]
        pub(in crate::session) fn sync_before_output(&mut self) -> bool {
            true
        }

        #[inline(always)]
        pub(in crate::session) fn store_failed(&mut self) {}
    }
}

#[cfg(feature = "store")]
mod enabled {
    use alloc::boxed::Box;
    use core::fmt;

    use mqtt_sansio_proto::PacketId;

    use crate::error::DisconnectReason;
    use crate::outgoing::{Outgoing, OutgoingState};
    use crate::store::{Record, Store, StoreError};

    use super::super::*;

    /// The attached store, whether records wait for `sync`, and its last failure.
    pub(in crate::session) struct StoreSlot {
        store: Box<dyn Store + Send>,
        dirty: bool,
        error: Option<StoreError>,
    }

    impl fmt::Debug for StoreSlot {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("StoreSlot")
                .field("dirty", &self.dirty)
                .field("error", &self.error)
                .finish_non_exhaustive()
        }
    }

    impl Session {
        /// A disconnected session over `store`: the store is bound to this client id and
        /// protocol version (a store of another client or version is refused), and whatever it
        /// holds is restored. Unacknowledged outgoing messages keep their packet identifiers and
        /// are resent with DUP = 1 on the next connection (the PUBLISH may have gone out before
        /// the restart [MQTT-3.3.1-1]); PUBREC'd ones resend only their PUBREL; incoming QoS 2
        /// messages awaiting PUBREL are held again (or, once delivered, remembered as such), so
        /// the application gets each at most once across any number of restarts; confirmed
        /// subscriptions are known again (and restored on a session loss as configured).
        ///
        /// Reuse the same client id with a persistent session (`clean_session = false`), or the
        /// broker's state and the store's part ways.
        pub fn with_store(
            config: SessionConfig,
            store: Box<dyn Store + Send>,
        ) -> Result<Self, StoreError> {
            let mut session = Self::new(config);
            session.attach_store(store)?;
            Ok(session)
        }

        /// Attaches `store` to a session that holds nothing yet (no outgoing QoS 1/2 message,
        /// incoming QoS 2 state or subscription; otherwise [`StoreError::SessionInUse`]) and
        /// restores what the store holds, as [`with_store`](Self::with_store) does. On error
        /// the session is unchanged and has no store.
        pub fn attach_store(&mut self, mut store: Box<dyn Store + Send>) -> Result<(), StoreError> {
            if !self.outgoing.is_empty()
                || self.queued.iter().any(|m| m.packet_id.is_some())
                || !self.incoming_qos2.is_empty()
                || self.incoming_qos2_ids_only.is_some()
                || !self.subscriptions.is_empty()
                || self.state != SessionState::Disconnected
            {
                return Err(StoreError::SessionInUse);
            }
            store.bind(&self.config.client_id, self.config.version)?;
            let mut restored = Restorer::default();
            if let Err(e) = store.restore(&mut |r| restored.apply(self, &r)) {
                // Nothing of a half-read store stays: the session was empty before.
                self.forget_restored();
                return Err(e);
            }
            // Without the offline queue what is past the window stays in it, unsent: `pump`
            // sends no more than the window, so the bound holds all the same.
            #[cfg(feature = "offline-queue")]
            self.requeue_past_window();
            self.unsent = self.outgoing.len();
            if let Some(last) = restored.last_publish {
                self.ids.continue_after(last);
            }
            self.store = Some(Box::new(StoreSlot {
                store,
                dirty: false,
                error: None,
            }));
            Ok(())
        }

        /// The store holds every unacknowledged message, those that waited in the queue
        /// too, and the restore put them all in flight: the window bounds what is in flight
        /// after a restart as before, so what is past it waits in the queue again, in order
        /// and with its id, marked as possibly sent (DUP = 1 when it goes out
        /// [MQTT-3.3.1-1]). PUBREC'd messages stay: only their PUBREL may go out (§4.3.3).
        #[cfg(feature = "offline-queue")]
        fn requeue_past_window(&mut self) {
            let window = usize::from(self.config.max_inflight).max(1);
            let mut surplus = self.outgoing.len().saturating_sub(window);
            let mut requeue = Vec::new();
            let mut i = self.outgoing.len();
            while surplus > 0 && i > 0 {
                i -= 1;
                if !matches!(
                    self.outgoing.get(i).map(|o| &o.state),
                    Some(OutgoingState::AwaitingAck(_))
                ) {
                    continue;
                }
                if let Some(Outgoing {
                    state: OutgoingState::AwaitingAck(mut message),
                    ..
                }) = self.outgoing.remove(i)
                {
                    message.dup = true;
                    requeue.push(message);
                    surplus -= 1;
                }
            }
            let now = self.now;
            for message in requeue.into_iter().rev() {
                self.queued.push_back(message, now);
            }
        }

        /// Empties what a failed restore may have filled in (the session held none of it).
        fn forget_restored(&mut self) {
            self.ids = InFlightIds::new();
            self.outgoing.clear();
            self.unsent = 0;
            self.incoming_qos2 = VecMap::new();
            self.incoming_qos2_bytes = 0;
            self.incoming_qos2_ids_only = None;
            self.subscriptions = VecMap::new();
        }

        /// Detaches the store (syncing it first; a failure stays in
        /// [`store_error`](Self::store_error)). The session keeps its state in memory.
        pub fn take_store(&mut self) -> Option<Box<dyn Store + Send>> {
            let _ = self.sync_store();
            self.store.take().map(|slot| slot.store)
        }

        /// Whether a store is attached.
        pub fn has_store(&self) -> bool {
            self.store.is_some()
        }

        /// The last failure of the attached store, if any. A failed write ends the connection
        /// with [`DisconnectReason::StoreFailed`] (nothing that depends on it goes out), or
        /// refuses the publish with [`PublishError::StoreFailed`](crate::PublishError::StoreFailed).
        pub fn store_error(&self) -> Option<&StoreError> {
            self.store.as_ref().and_then(|s| s.error.as_ref())
        }

        /// Makes every record written so far durable now. The Session does this by itself
        /// before it hands out bytes or events that depend on them; call it to make, say, a
        /// publish made while disconnected durable before the next connection.
        pub fn sync_store(&mut self) -> Result<(), StoreError> {
            let Some(slot) = self.store.as_mut() else {
                return Ok(());
            };
            if !slot.dirty {
                return Ok(());
            }
            match slot.store.sync() {
                Ok(()) => {
                    slot.dirty = false;
                    Ok(())
                }
                Err(e) => {
                    slot.error = Some(e.clone());
                    Err(e)
                }
            }
        }

        /// Writes `record` through; false (the error kept for `store_error`) if the store
        /// failed. Without a store: true, and nothing happens.
        pub(in crate::session) fn persist(&mut self, record: &Record<'_>) -> bool {
            let Some(slot) = self.store.as_mut() else {
                return true;
            };
            match slot.store.append(record) {
                Ok(()) => {
                    slot.dirty = true;
                    true
                }
                Err(e) => {
                    slot.error = Some(e);
                    false
                }
            }
        }

        /// [`persist`](Self::persist), ending the connection when the store failed: what the
        /// record guards (a PUBREC, a PUBREL, a delivery) must not go out without it, and the
        /// broker sends again what it did not get an answer to.
        pub(in crate::session) fn persist_or_close(&mut self, record: &Record<'_>) -> bool {
            if self.persist(record) {
                return true;
            }
            self.store_failed();
            false
        }

        /// An outgoing flow ended: its identifier is free in the store too, or, when the
        /// Session keeps it out of use (`held_ids`), held there too, so that a restarted
        /// session does not hand it to a new message the broker would take for a duplicate.
        pub(in crate::session) fn persist_completed(&mut self, id: PacketId) {
            if self.store.is_none() {
                return;
            }
            let record = if self.held_ids.contains(&id) {
                Record::Held { id }
            } else {
                Record::Completed { id }
            };
            if !self.persist(&record) {
                self.store_failed();
            }
        }

        /// Syncs before output that may depend on unsynced records; false if that failed (the
        /// connection is then ended).
        pub(in crate::session) fn sync_before_output(&mut self) -> bool {
            if !self.store.as_ref().is_some_and(|s| s.dirty) {
                return true;
            }
            if self.sync_store().is_ok() {
                return true;
            }
            self.store_failed();
            false
        }

        pub(in crate::session) fn store_failed(&mut self) {
            if self.state != SessionState::Disconnected {
                self.tx.clear();
                self.connection_ended(DisconnectReason::StoreFailed);
            }
        }
    }

    /// Applies replayed records to a fresh Session.
    #[derive(Default)]
    struct Restorer {
        last_publish: Option<PacketId>,
    }

    impl Restorer {
        fn apply(&mut self, s: &mut Session, record: &Record<'_>) {
            match *record {
                Record::Publish { id, message } => {
                    let mut message = message.clone();
                    message.packet_id = Some(id);
                    s.ids.insert(id);
                    s.outgoing.push_back(Outgoing {
                        id,
                        state: OutgoingState::AwaitingAck(message),
                        // Unknown whether it went out before the restart: DUP says it may have.
                        published_before: true,
                        sent_on_connection: false,
                        ever_sent: true,
                    });
                    self.last_publish = Some(id);
                }
                Record::Released { id } => {
                    s.ids.insert(id);
                    s.outgoing.push_back(Outgoing {
                        id,
                        state: OutgoingState::AwaitingPubComp,
                        published_before: true,
                        sent_on_connection: false,
                        ever_sent: true,
                    });
                }
                Record::Held { id } => {
                    s.ids.insert(id);
                    s.held_ids.push(id);
                }
                Record::IncomingHeld { id, message } => {
                    s.incoming_qos2_bytes += message.stored_len();
                    s.incoming_qos2.insert(id, message.clone());
                }
                Record::IncomingDelivered { id } => {
                    s.incoming_qos2_ids_only
                        .get_or_insert_with(|| Box::new(PacketIdSet::new()))
                        .insert(id);
                }
                Record::Subscribed { filter, options } => {
                    s.subscriptions.insert(filter.into(), options);
                }
                // Not live state: a store replays none of these.
                Record::Completed { .. }
                | Record::IncomingReleased { .. }
                | Record::IncomingCleared
                | Record::Unsubscribed { .. }
                | Record::SubscriptionsCleared => {}
            }
        }
    }
}
