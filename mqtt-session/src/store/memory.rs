//! [`MemoryStore`]: the store that keeps its records in memory.

use alloc::string::{String, ToString};

use mqtt_sansio_proto::ProtocolVersion;

use super::{LiveRecords, OwnedRecord, Record, Store, StoreError};

/// A [`Store`] in memory: the session state outlives a `Session` value (rebuild one with
/// [`Session::with_store`](crate::Session::with_store) after
/// [`Session::take_store`](crate::Session::take_store)) but not the process. Deterministic
/// restart tests use it; a session without any store keeps the same state for free.
///
/// ```
/// use mqtt_sansio_session::store::MemoryStore;
/// use mqtt_sansio_session::{ConnectOptions, Instant, Session, SessionConfig};
/// use mqtt_sansio_session::mqtt_sansio_proto::{ProtocolVersion, QoS};
///
/// let config = SessionConfig::new("restartable", false, ProtocolVersion::V311);
/// let mut session = Session::with_store(config.clone(), Box::new(MemoryStore::new())).unwrap();
/// session.connect(Instant::ZERO, &ConnectOptions::new(0)).unwrap();
/// session.handle_read(Instant::ZERO, &[0x20, 0x02, 0x00, 0x00]); // CONNACK
/// let id = session.publish(Instant::ZERO, "t", b"kept", QoS::AtLeastOnce, false).unwrap();
///
/// // "Restart": a new Session over the same store has the message, under the same id.
/// let store = session.take_store().unwrap();
/// let restored = Session::with_store(config, store).unwrap();
/// assert_eq!(restored.inflight_len(), 1);
/// assert!(restored.is_packet_id_in_use(id.unwrap()));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    owner: Option<(String, ProtocolVersion)>,
    live: LiveRecords<OwnedRecord>,
    appended: u64,
}

impl MemoryStore {
    /// An empty store, bound to the first session that uses it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records appended so far (live or not).
    pub fn appended(&self) -> u64 {
        self.appended
    }

    /// Records still live.
    pub fn live(&self) -> usize {
        self.live.len()
    }
}

impl Store for MemoryStore {
    fn bind(&mut self, client_id: &str, version: ProtocolVersion) -> Result<(), StoreError> {
        match &self.owner {
            None => {
                self.owner = Some((client_id.to_string(), version));
                Ok(())
            }
            Some((id, v)) => super::check_owner((id, *v), client_id, version),
        }
    }

    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        for r in self.live.iter() {
            apply(r.as_record());
        }
        Ok(())
    }

    fn append(&mut self, record: &Record<'_>) -> Result<(), StoreError> {
        self.appended += 1;
        // Dead records are simply dropped.
        self.live
            .apply(record, OwnedRecord::from_record(record), drop);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}
