//! The file session store (issue 12): what a restarted session gets back, and what happens
//! to a store file damaged at its end (cut in the middle of its last record, or a byte
//! flipped): detected, cut back to the last whole record, and resumed from there.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use mqtt_sansio_client::mqtt_sansio_proto::{
    Ack, ConnAck, Packet, PacketId, Properties, ProtocolVersion, QoS, ReasonCode,
};
use mqtt_sansio_client::mqtt_sansio_session::store::StoreError;
use mqtt_sansio_client::mqtt_sansio_session::{ConnectOptions, Instant, Session, SessionConfig};
use mqtt_sansio_client::{Damage, FileStore, Fsync};

/// The size of each record `publish_n` writes: frame (length, CRC-32) 8, tag 1, packet id 2,
/// QoS 1, retain 1, topic length 2, "t" 1, properties length 4, payload "m0".."m9" 2.
const RECORD: u64 = 22;

fn config(v: ProtocolVersion) -> SessionConfig {
    SessionConfig::new("file-store", false, v)
}

fn open(path: &Path, v: ProtocolVersion) -> Session {
    let store = FileStore::open(path, Fsync::PerWake).unwrap();
    Session::with_store(config(v), Box::new(store)).unwrap()
}

fn now() -> Instant {
    Instant::ZERO
}

fn feed(s: &mut Session, p: Packet<'_>, v: ProtocolVersion) {
    let mut bytes = Vec::new();
    p.encode(v, &mut bytes).unwrap();
    s.handle_read(now(), &bytes);
}

fn drain(s: &mut Session) {
    let mut out = Vec::new();
    while s.poll_transmit(now(), &mut out).is_some() {}
    while s.poll_event().is_some() {}
}

/// A connected session over the store at `path`.
fn connected(path: &Path, v: ProtocolVersion) -> Session {
    let mut s = open(path, v);
    s.connect(now(), &ConnectOptions::new(0)).unwrap();
    feed(
        &mut s,
        Packet::ConnAck(ConnAck {
            session_present: true,
            reason: ReasonCode::Success,
            properties: Properties::EMPTY,
        }),
        v,
    );
    drain(&mut s);
    s
}

/// Publishes `n` QoS 1 messages and syncs; returns their ids.
fn publish_n(path: &Path, n: usize) -> Vec<PacketId> {
    let mut s = connected(path, ProtocolVersion::V311);
    let ids = (0..n)
        .map(|i| {
            s.publish(
                now(),
                "t",
                format!("m{i}").as_bytes(),
                QoS::AtLeastOnce,
                false,
            )
            .unwrap()
            .unwrap()
        })
        .collect();
    drain(&mut s);
    ids
}

fn in_use(s: &Session, ids: &[PacketId]) -> Vec<bool> {
    ids.iter().map(|&id| s.is_packet_id_in_use(id)).collect()
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.store");
    (dir, path)
}

#[test]
fn a_restarted_session_gets_back_every_flow_stage() {
    for v in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let (_dir, path) = temp();
        let mut s = connected(&path, v);
        let q1 = s
            .publish(now(), "a", b"1", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        let q2 = s
            .publish(now(), "b", b"2", QoS::ExactlyOnce, false)
            .unwrap()
            .unwrap();
        let done = s
            .publish(now(), "c", b"3", QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        drain(&mut s);
        feed(&mut s, Packet::PubRec(Ack::new(q2)), v);
        feed(&mut s, Packet::PubAck(Ack::new(done)), v);
        drain(&mut s);
        drop(s);

        let store = FileStore::open(&path, Fsync::PerWake).unwrap();
        assert!(store.recovery().is_none());
        assert_eq!(store.publishes_recorded(), 3);
        assert_eq!(store.live_records(), 2, "the PUBACK'd one is dead");
        let s = Session::with_store(config(v), Box::new(store)).unwrap();
        assert_eq!(s.inflight_len(), 2);
        assert_eq!(in_use(&s, &[q1, q2, done]), [true, true, false]);
    }
}

#[test]
fn a_store_cut_in_the_middle_of_its_last_record_resumes_from_the_record_before() {
    let (_dir, path) = temp();
    let ids = publish_n(&path, 3);
    let full = fs::metadata(&path).unwrap().len();
    // Cut the last record (`PUBLISH m2`) in the middle.
    let cut = full - 10;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();

    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    let recovery = store.recovery().cloned().expect("damage detected");
    assert_eq!(recovery.damage, Damage::Torn);
    assert_eq!(recovery.kept_records, 2);
    assert_eq!(recovery.dropped_bytes, RECORD - 10);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        full - RECORD,
        "cut back"
    );
    // The third publish was never recorded whole: the application publishes it again.
    assert_eq!(store.publishes_recorded(), 2);
    let mut s = Session::with_store(config(ProtocolVersion::V311), Box::new(store)).unwrap();
    assert_eq!(in_use(&s, &ids), [true, true, false]);

    // The store goes on from there, and opens clean afterwards.
    s.publish(now(), "t", b"again", QoS::AtLeastOnce, false)
        .unwrap();
    s.sync_store().unwrap();
    drop(s);
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert!(store.recovery().is_none());
    assert_eq!(store.publishes_recorded(), 3);
    assert_eq!(store.live_records(), 3);
}

#[test]
fn a_flipped_byte_in_the_last_record_is_detected_by_its_checksum() {
    let (_dir, path) = temp();
    let ids = publish_n(&path, 3);
    let mut bytes = fs::read(&path).unwrap();
    let len = bytes.len();
    // A byte of the last record's payload ("m2").
    bytes[len - 1] ^= 0x20;
    fs::write(&path, &bytes).unwrap();

    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    let recovery = store.recovery().cloned().expect("damage detected");
    assert_eq!(recovery.damage, Damage::Checksum);
    assert_eq!(recovery.kept_records, 2);
    assert_eq!(recovery.dropped_bytes, RECORD);
    let s = Session::with_store(config(ProtocolVersion::V311), Box::new(store)).unwrap();
    assert_eq!(in_use(&s, &ids), [true, true, false]);
    assert_eq!(s.inflight_len(), 2);
}

#[test]
fn damage_inside_an_earlier_record_keeps_only_the_records_before_it() {
    let (_dir, path) = temp();
    let ids = publish_n(&path, 4);
    let mut bytes = fs::read(&path).unwrap();
    let len = bytes.len();
    // A byte of the third record's topic: records 3 and 4 can no longer be trusted (the
    // framing after a damaged record is not either).
    bytes[len - 2 * RECORD as usize + 15] ^= 0x01;
    fs::write(&path, &bytes).unwrap();
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    let recovery = store.recovery().cloned().unwrap();
    assert_eq!(recovery.damage, Damage::Checksum);
    assert_eq!(recovery.kept_records, 2);
    let s = Session::with_store(config(ProtocolVersion::V311), Box::new(store)).unwrap();
    assert_eq!(in_use(&s, &ids), [true, true, false, false]);
}

#[test]
fn every_cut_and_every_flipped_byte_of_the_last_record_is_detected() {
    let (_dir, path) = temp();
    publish_n(&path, 2);
    let good = fs::read(&path).unwrap();
    let last = good.len() - RECORD as usize;
    for cut in last + 1..good.len() {
        fs::write(&path, &good[..cut]).unwrap();
        let store = FileStore::open(&path, Fsync::Never).unwrap();
        let r = store
            .recovery()
            .cloned()
            .unwrap_or_else(|| panic!("cut at {cut}"));
        assert_eq!(
            (r.kept_records, r.damage),
            (1, Damage::Torn),
            "cut at {cut}"
        );
    }
    for at in last..good.len() {
        for bit in [0x01, 0x80] {
            let mut bytes = good.clone();
            bytes[at] ^= bit;
            fs::write(&path, &bytes).unwrap();
            let store = FileStore::open(&path, Fsync::Never).unwrap();
            let r = store
                .recovery()
                .cloned()
                .unwrap_or_else(|| panic!("flip at {at}"));
            assert_eq!(r.kept_records, 1, "flip {bit:#x} at {at}: {r:?}");
            assert_eq!(fs::metadata(&path).unwrap().len(), last as u64);
        }
    }
}

#[test]
fn a_store_of_another_client_or_version_or_no_store_at_all_is_refused() {
    let (_dir, path) = temp();
    publish_n(&path, 1);
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    let err = Session::with_store(
        SessionConfig::new("someone-else", false, ProtocolVersion::V311),
        Box::new(store),
    )
    .err()
    .unwrap();
    assert_eq!(
        err,
        StoreError::OtherClient {
            stored: "file-store".into(),
            configured: "someone-else".into()
        }
    );
    assert!(err.to_string().contains("someone-else"), "{err}");
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    let err = Session::with_store(config(ProtocolVersion::V5), Box::new(store))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::OtherVersion { .. }), "{err:?}");

    fs::write(&path, b"some other file, not a session store").unwrap();
    let err = FileStore::open(&path, Fsync::PerWake).unwrap_err();
    assert!(matches!(err, StoreError::Format(_)), "{err:?}");
    // Refused, not overwritten.
    assert_eq!(
        fs::read(&path).unwrap(),
        b"some other file, not a session store"
    );
}

#[test]
fn compaction_keeps_the_file_small_and_the_live_state_and_count_intact() {
    let (_dir, path) = temp();
    let v = ProtocolVersion::V311;
    let mut s = connected(&path, v);
    let payload = [7u8; 200];
    for _ in 0..2_000 {
        let id = s
            .publish(now(), "t", &payload, QoS::AtLeastOnce, false)
            .unwrap()
            .unwrap();
        drain(&mut s);
        feed(&mut s, Packet::PubAck(Ack::new(id)), v);
        drain(&mut s);
    }
    let kept = s
        .publish(now(), "t", b"live", QoS::ExactlyOnce, false)
        .unwrap()
        .unwrap();
    drain(&mut s);
    drop(s);
    let len = fs::metadata(&path).unwrap().len();
    // 2,000 x 250 bytes were written; compaction keeps the file near its 64 KiB threshold.
    assert!(len < 256 * 1024, "file is {len} bytes");
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert!(store.recovery().is_none());
    assert_eq!(store.publishes_recorded(), 2_001);
    assert_eq!(store.live_records(), 1);
    let s = Session::with_store(config(v), Box::new(store)).unwrap();
    assert!(s.is_packet_id_in_use(kept));
    assert_eq!(s.inflight_len(), 1);
}

#[test]
fn fsync_policies_count_their_fsyncs() {
    for (policy, per_record) in [
        (Fsync::EveryRecord, true),
        (Fsync::PerWake, false),
        (Fsync::Never, false),
    ] {
        let (_dir, path) = temp();
        let store = FileStore::open(&path, policy).unwrap();
        let mut s = Session::with_store(config(ProtocolVersion::V311), Box::new(store)).unwrap();
        for _ in 0..10 {
            s.publish(now(), "t", b"x", QoS::AtLeastOnce, false)
                .unwrap();
        }
        s.sync_store().unwrap();
        let store = s.take_store().unwrap();
        drop(store);
        // Reopen to read the counters of a fresh handle: what we can check from outside is
        // the file itself; the counters are checked through a store kept by hand below.
        let mut store = FileStore::open(&path, policy).unwrap();
        let before = store.stats().fsyncs;
        use mqtt_sansio_client::mqtt_sansio_session::store::{Record, Store};
        store.bind("file-store", ProtocolVersion::V311).unwrap();
        for _ in 0..10 {
            store
                .append(&Record::Completed {
                    id: PacketId::new(1).unwrap(),
                })
                .unwrap();
        }
        store.sync().unwrap();
        let fsyncs = store.stats().fsyncs - before;
        let expected = match (policy, per_record) {
            (_, true) => 10,
            (Fsync::PerWake, _) => 1,
            _ => 0,
        };
        assert_eq!(fsyncs, expected, "{policy:?}");
        assert_eq!(store.stats().records, 10);
    }
}

/// One writer per file: while a session's store holds the file, a second store on the same
/// path reads it as it is (a record its writer is still writing is skipped, not cut off)
/// and cannot be attached to a session; once the first is gone the file is writable again.
#[test]
fn a_second_store_on_a_file_in_use_only_reads_it() {
    let (_dir, path) = temp();
    let ids = publish_n(&path, 2);
    let mut writer = open(&path, ProtocolVersion::V311);
    assert_eq!(in_use(&writer, &ids), [true, true]);

    let reader = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.live_records(), 2, "it sees the records");
    let err = Session::with_store(config(ProtocolVersion::V311), Box::new(reader)).unwrap_err();
    let StoreError::Backend(e) = &err else {
        panic!("{err:?}");
    };
    let io = e.downcast_ref::<std::io::Error>().expect("an io::Error");
    assert_eq!(io.kind(), std::io::ErrorKind::ResourceBusy, "{io}");
    assert!(io.to_string().contains("in use"), "{io}");

    // A torn record at the end, as if the writer were in the middle of it: the reader
    // reports it and leaves the file alone.
    let full = fs::metadata(&path).unwrap().len();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(&[0, 0, 0, 40, 1, 2])
        .unwrap();
    let reader = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.recovery().map(|r| r.damage), Some(Damage::Torn));
    assert_eq!(fs::metadata(&path).unwrap().len(), full + 6, "not cut");
    drop(reader);

    // The writer goes on where its records end; gone, its file opens writable again.
    writer
        .publish(now(), "t", b"m2", QoS::AtLeastOnce, false)
        .unwrap();
    writer.sync_store().unwrap();
    drop(writer);
    let store = FileStore::open(&path, Fsync::PerWake).unwrap();
    assert!(!store.is_read_only());
    assert!(
        store.recovery().is_none(),
        "m2 was written over the torn bytes"
    );
    let s = Session::with_store(config(ProtocolVersion::V311), Box::new(store)).unwrap();
    assert_eq!(s.inflight_len(), 3);
}
