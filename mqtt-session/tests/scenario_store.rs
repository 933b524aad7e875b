//! Scenario tests of the session store (issue 12): a Session rebuilt from its store after a
//! "restart" (the old Session value dropped mid-flow, as a killed process would be) resends
//! what was unacknowledged with the original ids and DUP = 1, finishes PUBREL flows, and
//! never hands the application an incoming QoS 2 message twice; a store of another client
//! or version is refused; a failing store stops what depends on it.
// Helpers of the tests that need the offline queue are unused without it.
#![cfg_attr(not(feature = "offline-queue"), allow(dead_code, unused_imports))]
mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mqtt_sansio_proto::{
    Ack, ConnAck, Packet, PacketId, Properties, ProtocolVersion, Publish, QoS, QosPid, ReasonCode,
    Subscription, TopicName,
};
use mqtt_sansio_session::store::{MemoryStore, Record, Store, StoreError};
use mqtt_sansio_session::{DisconnectReason, Event, PublishError, Session, SessionConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{encode, pid, Direct, Pair};

const VERSIONS: [ProtocolVersion; 2] = [ProtocolVersion::V311, ProtocolVersion::V5];

fn config(v: ProtocolVersion) -> SessionConfig {
    SessionConfig::new("stored", false, v)
}

/// A Direct harness over a fresh MemoryStore.
fn direct(v: ProtocolVersion) -> Direct {
    let mut d = Direct::new(config(v));
    d.session = Session::with_store(config(v), Box::new(MemoryStore::new())).unwrap();
    d
}

/// The process "dies": the Session is dropped without any goodbye, and a new one is built
/// from what its store holds.
fn restart(d: &mut Direct) {
    d.take_sent();
    let store = d.session.take_store().expect("a store is attached");
    d.session = Session::with_store(d.session.config().clone(), store).unwrap();
}

fn connack(d: &mut Direct, session_present: bool) {
    d.feed_packet(Packet::ConnAck(ConnAck {
        session_present,
        reason: ReasonCode::Success,
        properties: Properties::EMPTY,
    }));
}

/// Reconnects a restarted session to a broker that kept its session; returns what the
/// client sent after CONNECT.
fn resume(d: &mut Direct) -> Vec<Vec<u8>> {
    d.start(0);
    connack(d, true);
    d.take_sent()
}

fn publish_packet(bytes: &[u8], v: ProtocolVersion) -> (u16, bool, Vec<u8>) {
    let Ok(Some((Packet::Publish(p), _))) =
        mqtt_sansio_proto::decode(bytes, v, &mqtt_sansio_proto::Limits::default())
    else {
        panic!("not a PUBLISH: {bytes:02x?}");
    };
    (
        p.qos.packet_id().map_or(0, PacketId::get),
        p.dup,
        p.payload.to_vec(),
    )
}

fn incoming(d: &mut Direct, id: u16, payload: &[u8], dup: bool) {
    let mut p = Publish::new(
        TopicName::new("in").unwrap(),
        payload,
        QosPid::ExactlyOnce(pid(id)),
    );
    p.dup = dup;
    d.feed_packet(Packet::Publish(p));
}

fn delivered(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(Event::message)
        .map(|m| m.payload().to_vec())
        .collect()
}

#[test]
fn qos1_unacknowledged_is_resent_after_a_restart_with_its_id_and_dup() {
    for v in VERSIONS {
        let mut d = direct(v);
        d.connect(0, false);
        let id = d.publish("t", b"one", QoS::AtLeastOnce).unwrap();
        let first = d.take_sent();
        assert_eq!(
            publish_packet(&first[0], v),
            (id.get(), false, b"one".to_vec())
        );

        restart(&mut d);
        assert_eq!(d.session.inflight_len(), 1);
        assert!(d.session.is_packet_id_in_use(id));
        let again = resume(&mut d);
        // The same id, DUP = 1 [MQTT-3.3.1-1], resent first on the resumed session
        // [MQTT-4.4.0-1].
        assert_eq!(again.len(), 1, "{again:02x?}");
        assert_eq!(
            publish_packet(&again[0], v),
            (id.get(), true, b"one".to_vec())
        );

        d.feed_packet(Packet::PubAck(Ack::new(id)));
        assert!(d
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::PubAck { id: i, .. } if *i == id)));
        restart(&mut d);
        assert_eq!(
            d.session.inflight_len(),
            0,
            "PUBACK completed the flow in the store"
        );
        assert!(resume(&mut d).is_empty());
    }
}

#[test]
fn qos2_after_pubrec_resends_only_pubrel_after_a_restart() {
    for v in VERSIONS {
        let mut d = direct(v);
        d.connect(0, false);
        let id = d.publish("t", b"two", QoS::ExactlyOnce).unwrap();
        d.take_sent();
        d.feed_packet(Packet::PubRec(Ack::new(id)));
        let rel = d.take_sent();
        assert_eq!(rel, vec![encode(Packet::PubRel(Ack::new(id)), v)]);

        restart(&mut d);
        // Never the PUBLISH again once PUBREL went out (§4.3.3): only the PUBREL
        // [MQTT-4.4.0-1].
        assert_eq!(
            resume(&mut d),
            vec![encode(Packet::PubRel(Ack::new(id)), v)]
        );
        d.feed_packet(Packet::PubComp(Ack::new(id)));
        assert!(d
            .take_events()
            .iter()
            .any(|e| matches!(e, Event::PubComp { id: i, .. } if *i == id)));
        restart(&mut d);
        assert_eq!(d.session.inflight_len(), 0);
        assert!(!d.session.is_packet_id_in_use(id));
    }
}

#[test]
fn qos2_before_pubrec_is_resent_as_a_duplicate_publish() {
    for v in VERSIONS {
        let mut d = direct(v);
        d.connect(0, false);
        let a = d.publish("t", b"a", QoS::ExactlyOnce).unwrap();
        let b = d.publish("t", b"b", QoS::AtLeastOnce).unwrap();
        d.take_sent();
        restart(&mut d);
        let again = resume(&mut d);
        // Original order [MQTT-4.6.0-1], ids and DUP.
        let seen: Vec<_> = again.iter().map(|p| publish_packet(p, v)).collect();
        assert_eq!(
            seen,
            vec![
                (a.get(), true, b"a".to_vec()),
                (b.get(), true, b"b".to_vec())
            ]
        );
    }
}

#[test]
fn new_publishes_after_a_restart_take_fresh_ids() {
    let mut d = direct(ProtocolVersion::V311);
    d.connect(0, false);
    let ids: Vec<_> = (0..3)
        .map(|_| d.publish("t", b"x", QoS::AtLeastOnce).unwrap())
        .collect();
    d.take_sent();
    d.feed_packet(Packet::PubAck(Ack::new(ids[0])));
    restart(&mut d);
    resume(&mut d);
    let next = d.publish("t", b"y", QoS::AtLeastOnce).unwrap();
    assert!(!ids.contains(&next), "{next:?} clashes with {ids:?}");
    assert_eq!(next.get(), 4, "allocation continues after the last id used");
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn a_queued_publish_survives_a_restart_while_disconnected() {
    let mut d = direct(ProtocolVersion::V5);
    let id = d.publish("t", b"offline", QoS::AtLeastOnce).unwrap();
    assert!(d.take_sent().is_empty());
    restart(&mut d);
    d.start(0);
    connack(&mut d, false);
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    let (got, _, payload) = publish_packet(&sent[0], ProtocolVersion::V5);
    assert_eq!((got, payload), (id.get(), b"offline".to_vec()));
}

#[test]
fn incoming_qos2_held_before_pubrel_is_delivered_once_across_restarts() {
    for v in VERSIONS {
        let mut d = direct(v);
        d.connect(0, false);
        incoming(&mut d, 9, b"held", false);
        assert_eq!(
            d.take_sent(),
            vec![encode(Packet::PubRec(Ack::new(pid(9))), v)]
        );
        assert!(
            delivered(&d.take_events()).is_empty(),
            "delivered at PUBREL"
        );

        restart(&mut d);
        assert_eq!(d.session.pending_incoming_qos2(), 1);
        resume(&mut d);
        // The broker may resend the PUBLISH (it did not see our PUBREC): still held once.
        incoming(&mut d, 9, b"held", true);
        assert!(delivered(&d.take_events()).is_empty());
        assert_eq!(
            d.take_sent(),
            vec![encode(Packet::PubRec(Ack::new(pid(9))), v)]
        );
        d.feed_packet(Packet::PubRel(Ack::new(pid(9))));
        assert_eq!(delivered(&d.take_events()), vec![b"held".to_vec()]);
        assert_eq!(
            d.take_sent(),
            vec![encode(Packet::PubComp(Ack::new(pid(9))), v)]
        );

        // Killed before the PUBCOMP reached the broker: it sends PUBREL again.
        restart(&mut d);
        assert_eq!(d.session.pending_incoming_qos2(), 0);
        resume(&mut d);
        d.feed_packet(Packet::PubRel(Ack::new(pid(9))));
        assert!(delivered(&d.take_events()).is_empty(), "never twice");
        let comp = d.take_sent();
        assert_eq!(comp.len(), 1);
        assert_eq!(comp[0][0], 0x70, "PUBCOMP all the same");
    }
}

#[test]
fn incoming_qos2_delivered_at_publish_is_not_delivered_again_after_a_restart() {
    // 3.1.1 past the held budget: delivered at PUBLISH, only the id kept until PUBREL.
    let mut c = config(ProtocolVersion::V311);
    c.max_incoming_qos2 = 0;
    let mut d = Direct::new(c.clone());
    d.session = Session::with_store(c, Box::new(MemoryStore::new())).unwrap();
    d.connect(0, false);
    incoming(&mut d, 4, b"early", false);
    assert_eq!(delivered(&d.take_events()), vec![b"early".to_vec()]);
    restart(&mut d);
    assert_eq!(d.session.incoming_qos2_ids_only(), 1);
    resume(&mut d);
    incoming(&mut d, 4, b"early", true);
    assert!(
        delivered(&d.take_events()).is_empty(),
        "a duplicate, not delivered"
    );
    d.feed_packet(Packet::PubRel(Ack::new(pid(4))));
    assert!(delivered(&d.take_events()).is_empty());
    restart(&mut d);
    assert_eq!(d.session.incoming_qos2_ids_only(), 0);
}

#[test]
fn subscriptions_are_restored() {
    let mut c = config(ProtocolVersion::V311);
    c.resubscribe_on_session_loss = true;
    let mut d = Direct::new(c.clone());
    d.session = Session::with_store(c, Box::new(MemoryStore::new())).unwrap();
    d.connect(0, false);
    let filter = mqtt_sansio_proto::TopicFilter::new("a/#").unwrap();
    let id = d
        .session
        .subscribe(d.now, &[Subscription::new(filter, QoS::ExactlyOnce)])
        .unwrap();
    d.take_sent();
    d.feed_packet(Packet::SubAck(mqtt_sansio_proto::SubAck {
        packet_id: id,
        properties: Properties::EMPTY,
        reason_codes: vec![ReasonCode::GrantedQoS2].into(),
    }));
    restart(&mut d);
    let subs: Vec<_> = d
        .session
        .subscriptions()
        .map(|(f, o)| (f.to_string(), o.qos))
        .collect();
    assert_eq!(subs, vec![("a/#".to_string(), QoS::ExactlyOnce)]);
    // A broker without our session: the restored subscriptions are made again.
    d.start(0);
    connack(&mut d, false);
    let sent = d.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0][0], 0x82, "SUBSCRIBE");
}

#[test]
fn a_store_of_another_client_or_version_is_refused() {
    let mut store = MemoryStore::new();
    store.bind("first", ProtocolVersion::V311).unwrap();
    let other = Session::with_store(
        SessionConfig::new("second", false, ProtocolVersion::V311),
        Box::new(store),
    );
    assert_eq!(
        other.err(),
        Some(StoreError::OtherClient {
            stored: "first".into(),
            configured: "second".into()
        })
    );
    let mut store = MemoryStore::new();
    store.bind("first", ProtocolVersion::V311).unwrap();
    let err = Session::with_store(
        SessionConfig::new("first", false, ProtocolVersion::V5),
        Box::new(store),
    )
    .err()
    .unwrap();
    assert!(matches!(err, StoreError::OtherVersion { .. }));
    assert!(err.to_string().contains("protocol version"), "{err}");
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn a_store_attaches_only_to_a_fresh_session() {
    let mut s = Session::new(config(ProtocolVersion::V311));
    s.publish(
        mqtt_sansio_session::Instant::ZERO,
        "t",
        b"x",
        QoS::AtLeastOnce,
        false,
    )
    .unwrap();
    assert_eq!(
        s.attach_store(Box::new(MemoryStore::new())),
        Err(StoreError::SessionInUse)
    );
    assert!(!s.has_store());
}

/// A store whose replay fails after its first record.
struct HalfRead(mqtt_sansio_session::Message);

impl Store for HalfRead {
    fn bind(&mut self, _: &str, _: ProtocolVersion) -> Result<(), StoreError> {
        Ok(())
    }
    fn restore(&mut self, apply: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        apply(Record::Publish {
            id: pid(7),
            message: &self.0,
        });
        Err(StoreError::Failed("read error (simulated)"))
    }
    fn append(&mut self, _: &Record<'_>) -> Result<(), StoreError> {
        Ok(())
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[cfg(feature = "offline-queue")] // a publish here waits in the offline queue
#[test]
fn a_restore_that_fails_halfway_leaves_the_session_empty_and_without_store() {
    let m = mqtt_sansio_session::Message::new("t", b"x", QoS::AtLeastOnce, false).unwrap();
    let mut s = Session::new(config(ProtocolVersion::V311));
    assert_eq!(
        s.attach_store(Box::new(HalfRead(m))),
        Err(StoreError::Failed("read error (simulated)"))
    );
    assert!(!s.has_store());
    assert_eq!(s.inflight_len(), 0);
    assert!(!s.is_packet_id_in_use(pid(7)));
    // Still usable, from id 1.
    let id = s
        .publish(
            mqtt_sansio_session::Instant::ZERO,
            "t",
            b"y",
            QoS::AtLeastOnce,
            false,
        )
        .unwrap();
    assert_eq!(id.map(PacketId::get), Some(1));
}

/// A store that fails every write once `fail` is set, recording what it accepted.
#[derive(Clone, Default)]
struct Flaky {
    fail: Arc<Mutex<bool>>,
    records: Arc<Mutex<usize>>,
}

impl Store for Flaky {
    fn bind(&mut self, _: &str, _: ProtocolVersion) -> Result<(), StoreError> {
        Ok(())
    }
    fn restore(&mut self, _: &mut dyn FnMut(Record<'_>)) -> Result<(), StoreError> {
        Ok(())
    }
    fn append(&mut self, _: &Record<'_>) -> Result<(), StoreError> {
        if *self.fail.lock().unwrap() {
            return Err(StoreError::Failed("disk full (simulated)"));
        }
        *self.records.lock().unwrap() += 1;
        Ok(())
    }
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[test]
fn a_failing_store_refuses_the_publish_and_sends_no_pubrec() {
    for v in VERSIONS {
        let flaky = Flaky::default();
        let mut d = Direct::new(config(v));
        d.session = Session::with_store(config(v), Box::new(flaky.clone())).unwrap();
        d.connect(0, false);
        *flaky.fail.lock().unwrap() = true;
        let err = d
            .session
            .publish(d.now, "t", b"x", QoS::AtLeastOnce, false)
            .unwrap_err();
        assert_eq!(err, PublishError::StoreFailed);
        assert_eq!(d.session.packet_ids_in_use(), 0, "nothing half-done");
        assert!(d.take_sent().is_empty());
        assert!(d.session.store_error().is_some());

        incoming(&mut d, 3, b"x", false);
        assert!(d.take_sent().is_empty(), "no PUBREC without the record");
        assert!(d.take_events().iter().any(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::StoreFailed,
                ..
            }
        )));
        assert_eq!(d.session.pending_incoming_qos2(), 0);
    }
}

#[test]
fn no_loss_and_no_duplicate_across_random_restarts_over_the_simulated_broker() {
    // Both directions at once: the client publishes QoS 1 and 2 while the broker delivers
    // QoS 2 to it; the client "dies" at random steps and comes back from its store.
    for v in VERSIONS {
        for seed in 0..20u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let c = config(v);
            let mut pair = Pair::new(c.clone());
            pair.client = Session::with_store(c.clone(), Box::new(MemoryStore::new())).unwrap();
            pair.connect(0);
            let filter = mqtt_sansio_proto::TopicFilter::new("in/#").unwrap();
            pair.client
                .subscribe(pair.now, &[Subscription::new(filter, QoS::ExactlyOnce)])
                .unwrap();
            pair.drive();
            let total = 60u32;
            let mut published = 0u32;
            let mut handed: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
            let mut restarts = 0;
            for _ in 0..2_000 {
                if published < total && rng.gen_bool(0.3) {
                    let qos = if published.is_multiple_of(2) {
                        QoS::AtLeastOnce
                    } else {
                        QoS::ExactlyOnce
                    };
                    let payload = published.to_be_bytes();
                    if pair
                        .client
                        .publish(pair.now, "out", &payload, qos, false)
                        .is_ok()
                    {
                        pair.broker.deliver("in/x", &payload, QoS::ExactlyOnce);
                        pair.flush_broker();
                        published += 1;
                    }
                }
                if rng.gen_ratio(1, 40) {
                    // Killed: bytes in flight are lost with the process.
                    pair.drop_connection();
                    count_handed(&mut pair, &mut handed);
                    let store = pair.client.take_store().unwrap();
                    pair.client = Session::with_store(c.clone(), store).unwrap();
                    restarts += 1;
                    pair.connect(0);
                } else if !pair.step() && published == total {
                    break;
                }
            }
            pair.drive();
            count_handed(&mut pair, &mut handed);
            assert!(restarts > 0);
            // Everything reached the broker: QoS 1 at least once, QoS 2 exactly once.
            let mut at_broker: BTreeMap<Vec<u8>, (QoS, usize)> = BTreeMap::new();
            for m in &pair.broker.accepted {
                at_broker.entry(m.payload.clone()).or_insert((m.qos, 0)).1 += 1;
            }
            assert_eq!(at_broker.len(), total as usize, "v {v:?} seed {seed}");
            for (payload, (qos, n)) in &at_broker {
                if *qos == QoS::ExactlyOnce {
                    assert_eq!(*n, 1, "QoS 2 {payload:?} twice (v {v:?} seed {seed})");
                }
            }
            // Every incoming QoS 2 message handed to the application exactly once.
            assert_eq!(handed.len(), total as usize, "v {v:?} seed {seed}");
            assert!(
                handed.values().all(|&n| n == 1),
                "duplicates {handed:?} (v {v:?} seed {seed})"
            );
        }
    }
}

/// Moves the messages the client delivered (since the last call) into `handed`.
fn count_handed(pair: &mut Pair, handed: &mut BTreeMap<Vec<u8>, usize>) {
    for (_, e) in pair.events.drain(..) {
        if let Some(m) = e.message() {
            *handed.entry(m.payload().to_vec()).or_default() += 1;
        }
    }
}

/// A failed QoS 2 publish whose PUBLISH went out on a broker session that still exists
/// keeps its id out of use (5.0 §4.3.3: the broker may hold it unreleased and would take a
/// new message under that id for a duplicate); the store keeps it held across a restart,
/// and frees it once the broker's session is gone.
#[test]
fn a_held_qos2_id_stays_out_of_use_across_a_restart_until_the_broker_session_ends() {
    let now = mqtt_sansio_session::Instant::from_millis(0);
    for v in VERSIONS {
        let mut d = direct(v);
        d.connect(0, false);
        let id = d.publish("t", b"refused", QoS::ExactlyOnce).unwrap();
        d.take_sent();
        assert!(d
            .session
            .abandon_publish(now, id, ReasonCode::ImplementationSpecificError));
        assert!(d.session.is_packet_id_in_use(id), "held before the restart");

        restart(&mut d);
        assert!(d.session.is_packet_id_in_use(id), "held after the restart");
        assert_eq!(d.session.inflight_len(), 0, "held, not resent");
        assert!(resume(&mut d).is_empty(), "nothing to resend");
        let next = d.publish("t", b"new", QoS::ExactlyOnce).unwrap();
        assert_ne!(next, id, "a new message never takes the held id");
        d.feed_packet(Packet::PubRec(Ack::new(next)));
        d.feed_packet(Packet::PubComp(Ack::new(next)));
        d.take_sent();

        // The broker's session is gone: so is its copy, and the id is free (in the store too).
        restart(&mut d);
        assert!(d.session.is_packet_id_in_use(id));
        d.start(0);
        connack(&mut d, false);
        assert!(!d.session.is_packet_id_in_use(id));
        restart(&mut d);
        assert!(!d.session.is_packet_id_in_use(id), "freed in the store too");
        assert_eq!(d.session.packet_ids_in_use(), 0);
    }
}
